"""The mediator: every message runs through one pipeline to its one handler.

A message enters as its name, raw body and transport context. Behaviours wrap
the handler like middleware (logging outermost, then validation, then lanes);
the validation behaviour turns the body into the typed request. Failures
that the domain names become operation results; failures worth retrying
(`TransientError`, or anything unexpected) propagate to the entrypoint.
"""

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from pizzeria_contracts import OperationResult, WireModel, names

from ..domain.customers import normalize_phone
from ..domain.menu import pizza_key
from .context import MessageContext
from .ports import Publishing

Handler = Callable[[Any, MessageContext], Awaitable["OperationResult | Outcome"]]
"""A query's handler returns its reply; a command's, its Outcome when it stored events."""

LANE_FIELDS: dict[str, Callable[[str], str]] = {
    "order_id": str,
    "customer_phone": normalize_phone,
    "name": pizza_key,
}
"""The field that says what a command is about, spelled one way."""
Next = Callable[["Message"], Awaitable["Outcome"]]


@dataclasses.dataclass(frozen=True, slots=True)
class Route:
    """How one message name is handled."""

    name: str
    request_type: type[WireModel]
    handler: Handler
    is_command: bool

    @property
    def exchange(self) -> str:
        return names.COMMANDS_EXCHANGE if self.is_command else names.QUERIES_EXCHANGE

    def lane_key(self, request: WireModel) -> str | None:
        """Commands about the same thing run one at a time, in arrival order."""
        if not self.is_command:
            return None
        for field, same in LANE_FIELDS.items():
            value = getattr(request, field, None)
            if isinstance(value, str):
                return f"{field}:{same(value)}"
        return None


@dataclasses.dataclass(slots=True)
class Message:
    """A message on its way through the pipeline."""

    name: str
    body: bytes
    context: MessageContext
    route: Route | None
    request: WireModel | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """A handled message: the reply, a dead-letter reason when it was unusable, and the
    publishing of the events its reply speaks for.

    A command holds its lane (its order, phone or pizza) only while it reads and
    writes; its events are published after, so the next command about the same thing
    does not wait for the broker's confirms of this one. `publishing` says what the
    reply must still wait for: the events this message stored, or those of an earlier
    change it answers for (a message seen before, a refusal of a state on its way)."""

    result: OperationResult
    dead_letter: str | None = None
    publishing: tuple[Publishing, ...] = dataclasses.field(default=(), compare=False)

    async def published(self) -> None:
        """Wait until the events this reply speaks for are published (each wait may be
        cancelled alone: the publishing goes on, for every other waiter)."""
        await asyncio.gather(*(asyncio.shield(each) for each in self.publishing))

    @property
    def kind(self) -> str:
        """How it ended, as logs and metrics name it: `ok`, `rejected`, or the
        dead-letter reason."""
        return self.dead_letter or ("ok" if self.result.ok else "rejected")


class Behaviour(Protocol):
    async def __call__(self, message: Message, next_: Next) -> Outcome: ...


class Mediator:
    """Routes each message by name through the behaviours to its handler."""

    def __init__(self, routes: Sequence[Route], behaviours: Sequence[Behaviour]) -> None:
        self._routes = {route.name: route for route in routes}
        if len(self._routes) != len(routes):
            raise ValueError("each message name needs exactly one handler")
        self._run = self._chain(list(behaviours))

    def route(self, name: str) -> Route | None:
        return self._routes.get(name)

    @property
    def names(self) -> list[str]:
        return list(self._routes)

    async def send(self, name: str, body: bytes, context: MessageContext) -> Outcome:
        return await self._run(Message(name, body, context, self._routes.get(name)))

    def _chain(self, behaviours: list[Behaviour]) -> Next:
        call: Next = _call_handler
        for behaviour in reversed(behaviours):
            call = _wrap(behaviour, call)
        return call


def _wrap(behaviour: Behaviour, next_: Next) -> Next:
    async def call(message: Message) -> Outcome:
        return await behaviour(message, next_)

    return call


async def _call_handler(message: Message) -> Outcome:
    if message.route is None or message.request is None:
        raise RuntimeError("the validation behaviour must run before the handler")
    handled = await message.route.handler(message.request, message.context)
    return handled if isinstance(handled, Outcome) else Outcome(handled)
