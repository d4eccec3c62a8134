"""Who may send what: an operator's policy, checked for every message.

Identity is the AMQP `user_id` property, which RabbitMQ validates against the
connection's user, so it cannot be forged. The policy lists, per RabbitMQ
user, the command and query names (shell-style patterns: `orders.*`, `*`)
that user may send. Without a policy everything is allowed.
"""

import dataclasses
import fnmatch
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pizzeria_contracts import FieldError, OperationResult

from .mediator import Message, Next, Outcome


class PolicyError(ValueError):
    """The policy file cannot be used; the message says where and why."""


@dataclasses.dataclass(frozen=True)
class Grant:
    commands: tuple[str, ...] = ()
    queries: tuple[str, ...] = ()

    def allows(self, name: str, is_command: bool) -> bool:
        patterns = self.commands if is_command else self.queries
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


@dataclasses.dataclass(frozen=True)
class Policy:
    """Per RabbitMQ user, the message names it may send."""

    users: Mapping[str, Grant]

    def allows(self, user_id: str, name: str, is_command: bool) -> bool:
        grant = self.users.get(user_id)
        return grant is not None and grant.allows(name, is_command)

    @classmethod
    def load(cls, path: Path, commands: Iterable[str], queries: Iterable[str]) -> "Policy":
        """Read a TOML policy; a pattern that matches no known message is an error."""
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise PolicyError(f"{path}: {error}") from None
        known = {"commands": list(commands), "queries": list(queries)}
        users = document.get("users")
        if not isinstance(users, dict) or not users:
            raise PolicyError(f"{path}: needs a [users.<name>] table for each RabbitMQ user")
        return cls({user: _grant(path, user, entry, known) for user, entry in users.items()})


def _grant(path: Path, user: str, entry: Any, known: dict[str, list[str]]) -> Grant:
    if not isinstance(entry, dict) or set(entry) - set(known):
        raise PolicyError(f"{path}: [users.{user}] may only have `commands` and `queries` lists")
    patterns: dict[str, tuple[str, ...]] = {}
    for kind, names in known.items():
        listed = entry.get(kind, [])
        if not isinstance(listed, list) or not all(isinstance(p, str) for p in listed):
            raise PolicyError(f"{path}: users.{user}.{kind} must be a list of names")
        for pattern in listed:
            if not fnmatch.filter(names, pattern):
                what = "command" if kind == "commands" else "query"
                raise PolicyError(f"{path}: users.{user}.{kind}: '{pattern}' matches no {what}")
        patterns[kind] = tuple(listed)
    return Grant(patterns["commands"], patterns["queries"])


class AuthorizationBehaviour:
    """401 without a `user_id`, 403 for a user the policy does not allow; before parsing.
    A forged retry copy is refused so too, and dead-lettered as `forged-retry`. The
    worker's own messages (`internal`, which no message from the broker can set) pass."""

    def __init__(self, policy: Policy) -> None:
        self._policy = policy

    async def __call__(self, message: Message, next_: Next) -> Outcome:
        user_id = message.context.user_id
        if message.context.internal:
            return await next_(message)
        if message.context.forged_retry:
            return refused(
                403 if user_id else 401,
                "Only the worker's own retry copies may carry retry headers into its queues",
                dead_letter="forged-retry",
            )
        if not user_id:
            return refused(401, "This service requires the user_id property on every message")
        route = message.route
        is_command = route.is_command if route else message.context.exchange.endswith("commands")
        if not self._policy.allows(user_id, message.name, is_command):
            return refused(403, f"User '{user_id}' may not send '{message.name}'")
        return await next_(message)


def refused(status: int, detail: str, dead_letter: str | None = None) -> Outcome:
    return Outcome(
        OperationResult.failure(status, detail, [FieldError(field="user_id", message=detail)]),
        dead_letter,
    )
