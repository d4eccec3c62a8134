"""The console's dead letters, read, replayed and purged by `pizzeria dead-letters`' own
tool (`DeadLetters`): this module is the only one of the worker that imports it, so the
console has no way of its own to change the queue.

Passes over the queue take turns (one lock): a pass holds the letters it read until it
ends, and a second pass at the same time would not see them. Listings are shared by
every page: read again only when the queue's length changed (asked at most every
`max_age` seconds), after a replay or purge, or every `max_unchanged` seconds.
"""

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import TypeVar

from aio_pika.abc import AbstractConnection
from aio_pika.exceptions import AMQPError

from pizzeria_client.deadletters import (
    DeadLetter,
    DeadLetterQueueNotFoundError,
    DeadLetters,
    Filter,
    Report,
)

__all__ = ["Chosen", "DeadLetter", "Desk", "DeskUnavailableError", "Group", "Report", "Snapshot"]


class DeskUnavailableError(Exception):
    """The dead-letter queue could not be read: the broker is unreachable or the queue gone."""


Connect = Callable[[], Awaitable[AbstractConnection]]
T = TypeVar("T")
GroupKey = tuple[str | None, str | None]
"""(reason, message name): the name is the routing key it first arrived with."""


@dataclasses.dataclass(frozen=True)
class Chosen(Filter):
    """The letters an operator chose: whole groups and single letters by message id."""

    groups: frozenset[GroupKey] = frozenset()
    message_ids: frozenset[str] = frozenset()

    def matches(self, letter: DeadLetter) -> bool:
        return key_of(letter) in self.groups or (
            letter.message_id is not None and letter.message_id in self.message_ids
        )

    @property
    def is_empty(self) -> bool:
        return not self.groups and not self.message_ids


def key_of(letter: DeadLetter) -> GroupKey:
    return letter.reason, letter.original_routing_key


@dataclasses.dataclass(frozen=True)
class Group:
    reason: str | None
    name: str | None
    letters: list[DeadLetter]

    @property
    def count(self) -> int:
        return len(self.letters)

    @property
    def oldest(self) -> datetime | None:
        return min(self._times, default=None)

    @property
    def newest(self) -> datetime | None:
        return max(self._times, default=None)

    @property
    def _times(self) -> list[datetime]:
        return [at for letter in self.letters if (at := letter.dead_lettered_at) is not None]


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """The queue as one pass read it."""

    taken_at: datetime
    queued: int
    complete: bool
    letters: list[DeadLetter]

    def groups(self) -> list[Group]:
        """By reason, then message name; the largest first."""
        found: dict[GroupKey, list[DeadLetter]] = {}
        for letter in self.letters:
            found.setdefault(key_of(letter), []).append(letter)
        groups = [Group(reason, name, letters) for (reason, name), letters in found.items()]
        return sorted(groups, key=lambda g: (-g.count, g.reason or "", g.name or ""))

    def group(self, reason: str | None, name: str | None) -> Group:
        letters = [letter for letter in self.letters if key_of(letter) == (reason, name)]
        return Group(reason, name, letters)

    def letter(self, message_id: str) -> DeadLetter | None:
        return next((lt for lt in self.letters if lt.message_id == message_id), None)


class Desk:
    """The dead-letter queue as the console sees it, through one connection of its own."""

    def __init__(
        self,
        connect: Connect,
        user: str,
        *,
        max_age: float = 2.0,
        max_unchanged: float = 30.0,
        max_held: int = 5_000,
    ) -> None:
        self._connect = connect
        self._user = user
        self._max_age = max_age
        self._max_unchanged = max_unchanged
        self._max_held = max_held
        self._connection: AbstractConnection | None = None
        self._lock = asyncio.Lock()
        self._snapshot: Snapshot | None = None
        self._read_at = 0.0

    async def snapshot(self) -> Snapshot:
        """The queue as last read: read again when older than `max_age` and the queue's
        length changed (one round trip to know), or when older than `max_unchanged`."""
        async with self._lock:
            age = time.monotonic() - self._read_at
            kept = self._snapshot
            stale = kept is None or age > self._max_unchanged
            if kept is not None and not stale and age > self._max_age:
                stale = await self._run_counting() != kept.queued
            if stale:
                self._keep(await self._run(lambda tool: tool.list()))
            assert self._snapshot is not None
            return self._snapshot

    async def replay(self, chosen: Chosen, *, dry_run: bool) -> Report:
        return await self._change(lambda tool: tool.replay(chosen, dry_run=dry_run), dry_run)

    async def purge(self, chosen: Chosen, *, dry_run: bool) -> Report:
        return await self._change(lambda tool: tool.purge(chosen, dry_run=dry_run), dry_run)

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed:
            await connection.close()

    async def _change(
        self, act: Callable[[DeadLetters], Awaitable[Report]], dry_run: bool
    ) -> Report:
        async with self._lock:
            try:
                return await self._run(act)
            finally:
                if not dry_run:
                    self._snapshot = None  # the next page reads the queue again

    async def _run_counting(self) -> int:
        """How many letters the queue holds now, without reading them."""

        async def count(tool: DeadLetters) -> int:
            assert self._connection is not None
            channel = await self._connection.channel()
            try:
                queue = await channel.declare_queue(tool.queue, passive=True)
                return int(getattr(queue.declaration_result, "message_count", 0) or 0)
            finally:
                await channel.close()

        return await self._run(count)

    async def _run(self, act: Callable[[DeadLetters], Awaitable[T]]) -> T:
        try:
            return await act(await self._tool())
        except DeadLetterQueueNotFoundError as error:
            raise DeskUnavailableError(f"no queue {error} on this virtual host") from None
        except (AMQPError, ConnectionError, OSError) as error:
            with contextlib.suppress(Exception):  # it is gone either way
                await self.close()
            raise DeskUnavailableError(f"the broker did not answer: {error!r}") from None

    def _keep(self, report: Report) -> None:
        self._snapshot = Snapshot(
            datetime.now(UTC), report.queued, report.complete, list(report.matched)
        )
        self._read_at = time.monotonic()

    async def _tool(self) -> DeadLetters:
        if self._connection is None or self._connection.is_closed:
            self._connection = await self._connect()
        return DeadLetters(self._connection, max_held=self._max_held, user=self._user)


def message_ids(letters: Iterable[DeadLetter]) -> list[str]:
    return [letter.message_id for letter in letters if letter.message_id is not None]
