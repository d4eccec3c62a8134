"""The third stage: empty the outboxes recorded as published, a second write of each
document, so it waits for a lull in publishing (or until `uncleared` documents wait).
Meanwhile the next command on a document replaces its recorded outbox, which spares that
write; those beyond `uncleared` stay until their document is relayed again or a worker
starts and sweeps. The record makes waiting safe: no sweep publishes a recorded outbox."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from pymongo import UpdateOne

from ..batch import STATEMENTS
from .handoff import Key, Recorded

log = logging.getLogger("worker.outbox")


class Clearer:
    """Owns what is recorded and not cleared, the latest version of each document: the
    store asks it what went out (`recorded_version`) and tells it what it replaced."""

    def __init__(
        self,
        uncleared: int,
        lull: float,
        projected: Collection[str],
        drop_records: Callable[[list[Recorded]], Awaitable[None]],
    ) -> None:
        self._uncleared = uncleared
        self._lull = lull
        self._projected = projected  # recorded by their read model, which stays
        self._drop_records = drop_records
        self._to_clear: dict[Key, Recorded] = {}
        self._hooks: dict[str, list[Callable[[Any, int], None]]] = {}
        self._busy = asyncio.Event()
        self._arrival = asyncio.Event()
        self._cleared = asyncio.Event()
        self._now = 0  # drains waiting for every outbox to be cleared

    def hand(self, recorded: Recorded) -> None:
        earlier = self._to_clear.get(recorded.key)
        if earlier is not None and earlier.version >= recorded.version:
            return
        if earlier is None and len(self._to_clear) >= self._uncleared:
            return  # recorded: the sweep finds it again and clears it later
        self._to_clear[recorded.key] = recorded
        self._arrival.set()

    def recorded_version(self, key: Key) -> int:
        recorded = self._to_clear.get(key)
        return 0 if recorded is None else recorded.version

    def known(self, collection: str) -> dict[Any, int]:
        """The documents of `collection` left to clear, and the version of each."""
        return {key[1]: r.version for key, r in self._to_clear.items() if key[0] == collection}

    def replaced(self, key: Key, version: int) -> None:
        recorded = self._to_clear.get(key)
        if recorded is not None and recorded.version <= version:
            del self._to_clear[key]

    def on_cleared(self, collection: str, hook: Callable[[Any, int], None]) -> None:
        self._hooks.setdefault(collection, []).append(hook)

    def busy(self) -> None:
        """Publishing goes on: no lull yet."""
        self._busy.set()

    async def clear_all(self) -> None:
        """Once every recorded outbox is cleared, lull or not."""
        self._now += 1
        self._arrival.set()
        self._busy.set()  # ends a wait for a lull
        try:
            while self._to_clear:
                self._cleared.clear()
                await self._cleared.wait()
        finally:
            self._now -= 1

    async def run(self) -> None:
        """One command's worth of documents at a time, so that a lull that ends stops
        the clearing. A store may write a document while its outbox is cleared: both
        match the version they read, so whichever comes second matches nothing (the
        clearing) or finds the outbox emptied (the store)."""
        while True:
            await self._arrival.wait()
            self._arrival.clear()
            while self._to_clear:
                await self._lull_or_full()
                clearing = list(self._to_clear.values())[:STATEMENTS]
                try:
                    await self.clear(clearing)
                except Exception as error:  # noqa: BLE001 - what stays, the sweep finds
                    log.warning(
                        "outboxes not cleared; a later relay or start-up sweep clears them: %r",
                        error,
                    )
                finally:
                    for recorded in clearing:
                        if self._to_clear.get(recorded.key) is recorded:
                            del self._to_clear[recorded.key]
                    self._cleared.set()
            self._cleared.set()

    async def _lull_or_full(self) -> None:
        while len(self._to_clear) < self._uncleared and not self._now:
            self._busy.clear()
            try:  # not wait_for: on 3.11 it can swallow a cancellation
                async with asyncio.timeout(self._lull):
                    await self._busy.wait()
            except TimeoutError:
                return

    async def clear(self, recorded: list[Recorded]) -> None:
        """Empty the outboxes of documents that have not moved on, then drop their records:
        a command per collection, a statement per document, each matching the version
        recorded (served by the `versioned` index)."""
        by_collection: dict[str, list[Recorded]] = {}
        for one in recorded:
            by_collection.setdefault(one.collection.name, []).append(one)
        for name, group in by_collection.items():
            await group[0].collection.bulk_write(
                [
                    UpdateOne({"_id": r.doc_id, "version": r.version}, {"$set": {"outbox": []}})
                    for r in group
                ],
                ordered=False,
            )
            for hook in self._hooks.get(name, ()):
                for r in group:
                    hook(r.doc_id, r.version)
            if name not in self._projected:
                await self._drop_records(group)
