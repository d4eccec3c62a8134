"""The documents submitted to the relay and not finished yet: queued for the next batch,
then on their way, each with the futures that tell its store when it went out."""

import asyncio
from collections import Counter
from collections.abc import Mapping
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from .handoff import Document, Key, Pending


class Submissions:
    """What waits for a batch, and what is not finished yet: which documents are on
    their way (a sweep leaves them alone), the latest of each (a command waits for
    it), and every future a drain waits for."""

    def __init__(self) -> None:
        self._queued: list[Pending] = []
        self._arrival = asyncio.Event()
        self._unfinished: set[asyncio.Future[None]] = set()
        self._relaying: Counter[Key] = Counter()
        self._on_its_way: dict[Key, asyncio.Future[None]] = {}  # the latest of each

    def submit(
        self, collection: AsyncCollection[Document], doc: Mapping[str, Any], inserted: bool
    ) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        futures = (loop.create_future(), loop.create_future())
        pending = Pending(collection, doc, *futures, inserted=inserted)
        if not doc.get("outbox"):
            pending.published.set_result(None)
            return pending.published
        key = pending.key
        self._queued.append(pending)
        self._relaying[key] += 1
        self._on_its_way[key] = pending.published
        pending.published.add_done_callback(lambda done: self._arrived(key, done))
        self._unfinished.add(pending.finished)
        pending.finished.add_done_callback(lambda finished: self._forget(key, finished))
        self._arrival.set()
        return pending.published

    def on_its_way(self, key: Key) -> asyncio.Future[None] | None:
        return self._on_its_way.get(key)

    def relaying(self, key: Key) -> bool:
        """Whether this document is submitted and not finished yet."""
        return key in self._relaying

    async def next_batch(self, size: int) -> list[Pending]:
        """The oldest `size` documents queued, once there is any."""
        while not self._queued:
            await self._arrival.wait()
            self._arrival.clear()
        batch = self._queued[:size]
        del self._queued[:size]
        return batch

    async def finished(self) -> None:
        """Once everything submitted is finished."""
        while self._unfinished:
            await asyncio.wait(set(self._unfinished))

    def _arrived(self, key: Key, published: asyncio.Future[None]) -> None:
        if self._on_its_way.get(key) is published:
            del self._on_its_way[key]

    def _forget(self, key: Key, finished: asyncio.Future[None]) -> None:
        self._unfinished.discard(finished)
        self._relaying[key] -= 1
        if not self._relaying[key]:
            del self._relaying[key]


def newest(batch: list[Pending]) -> list[Pending]:
    """One document per aggregate, its latest version: stored after the earlier ones were
    queued, its outbox holds every event they did not clear."""
    latest: dict[Key, Pending] = {}
    for pending in batch:
        if pending.key not in latest or pending.doc["version"] > latest[pending.key].doc["version"]:
            latest[pending.key] = pending
    return list(latest.values())
