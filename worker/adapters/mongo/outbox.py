"""The outbox relay: publishes stored events, updates read models, then clears them.

Events wait in their aggregate's document (`outbox`), written in the same
single-document update as the change that raised them, so an event exists
only if its change was stored. The relay publishes them with publisher
confirms, in version order per aggregate, then projects the document into its
read model and clears the outbox only if the document has not moved on. What
fails stays in the outbox; the sweep finds it again (also after a crash), and
events keep their ids when published again.

Relays are batched: while one batch is on its way, new documents gather for
the next. A batch takes each aggregate's latest document only, inserts the
views of new aggregates with one `insert_many`, and clears every outbox with
one `update_many`. Events this process saw confirmed are not published again
when their outbox was left uncleared, and the sweep leaves alone what is on its
way already.
"""

import asyncio
import contextlib
import dataclasses
import logging
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from .batch import chunks, insert_new
from .documents import state_of

log = logging.getLogger("worker.outbox")
CLEARED_PER_COMMAND = 10
"""Outboxes cleared per command: FerretDB rewrites each matched document in turn, some
25-50 ms each over a few hundred orders, so a long command would keep doing so after
its worker died, and could undo the writes of the worker that took over."""
REMEMBERED = 10_000
"""Event ids this process saw confirmed, so an outbox left uncleared is not published again."""

Document = dict[str, Any]
Publish = Callable[[Mapping[str, Any]], Awaitable[None]]


@dataclasses.dataclass(frozen=True)
class Projection:
    """A read model that mirrors an aggregate's state, newest version wins."""

    views: AsyncCollection[Document]
    shape: Callable[[Mapping[str, Any]], Document] = state_of

    async def apply(self, docs: list[Mapping[str, Any]]) -> None:
        """Insert the views of new aggregates in one command; bring the others, and any
        new one whose view is there already (relayed before), up to their version."""
        fresh: list[Document] = []
        moved: list[Document] = []
        for doc in docs:
            created = any(entry["version"] == 1 for entry in doc["outbox"])
            (fresh if created else moved).append(self.shape(doc))
        moved += await insert_new(self.views, fresh)
        for chunk in chunks(moved):
            await self.views.bulk_write(
                [
                    UpdateOne(
                        {"_id": view["_id"], "version": {"$lt": view["version"]}},
                        {"$set": {key: value for key, value in view.items() if key != "_id"}},
                    )
                    for view in chunk
                ],
                ordered=False,
            )


@dataclasses.dataclass(slots=True)
class _Pending:
    collection: AsyncCollection[Document]
    doc: Mapping[str, Any]
    published: asyncio.Future[None]  # or left for the sweep
    settled: asyncio.Future[None]  # cleared, or left for the sweep

    @property
    def key(self) -> tuple[str, Any]:
        return (self.collection.name, self.doc["_id"])


class OutboxRelay:
    """Two stages: one publishes each batch and projects its read models, then answers
    the commands waiting for it; the other clears the outboxes of what was published.

    Clearing writes each document once more, which FerretDB pays for with a scan
    of its collection: so it waits for a lull of `lull` seconds in publishing, or
    until `uncleared` documents wait (then publishing waits for it instead).
    """

    def __init__(
        self,
        publish: Publish,
        projections: Mapping[str, Projection],
        batch_size: int = 256,
        uncleared: int = 2_000,
        lull: float = 0.25,
    ) -> None:
        self._publish = publish
        self._projections = projections
        self._batch_size = batch_size
        self._uncleared = uncleared
        self._lull = lull
        self._busy = asyncio.Event()
        self._writing: Counter[tuple[str, Any]] = Counter()  # documents a store is writing
        self._clearing_now: set[tuple[str, Any]] = set()
        self._round_over = asyncio.Event()
        self._pending: list[_Pending] = []
        self._to_clear: dict[tuple[str, Any], _Pending] = {}  # the latest of each document
        self._unsettled: set[asyncio.Future[None]] = set()
        self._relaying: Counter[tuple[str, Any]] = Counter()  # documents not yet settled
        self._published: OrderedDict[str, None] = OrderedDict()  # recent event ids, oldest first
        self._wakeup = asyncio.Event()
        self._clear_wakeup = asyncio.Event()
        self._cleared = asyncio.Event()

    async def relay(self, collection: AsyncCollection[Document], doc: Mapping[str, Any]) -> None:
        """Publish this document's outbox; returns when done or left for the sweep."""
        await self.submit(collection, doc)

    def submit(
        self, collection: AsyncCollection[Document], doc: Mapping[str, Any]
    ) -> asyncio.Future[None]:
        """Queue this document's outbox for the next batch; the future is done when its
        events are published (or left for the sweep)."""
        loop = asyncio.get_running_loop()
        pending = _Pending(collection, doc, loop.create_future(), loop.create_future())
        if not doc.get("outbox"):
            pending.published.set_result(None)
            return pending.published
        self._pending.append(pending)
        self._relaying[pending.key] += 1
        self._unsettled.add(pending.settled)
        pending.settled.add_done_callback(lambda settled: self._forget(pending.key, settled))
        self._wakeup.set()
        return pending.published

    def _forget(self, key: tuple[str, Any], settled: asyncio.Future[None]) -> None:
        self._unsettled.discard(settled)
        self._relaying[key] -= 1
        if not self._relaying[key]:
            del self._relaying[key]

    async def drain(self) -> None:
        """Wait until everything submitted is published and cleared (or left for the sweep)."""
        while self._unsettled:
            await asyncio.wait(set(self._unsettled))

    async def run(self) -> None:
        """Relay batches until cancelled."""
        clearing = asyncio.create_task(self._clear_forever(), name="outbox-clearing")
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                while self._pending:
                    while len(self._to_clear) >= self._uncleared:
                        self._cleared.clear()
                        await self._cleared.wait()
                    batch = self._pending[: self._batch_size]
                    del self._pending[: self._batch_size]
                    self._busy.set()
                    await self._relay_batch(batch)
        finally:
            clearing.cancel()
            await asyncio.gather(clearing, return_exceptions=True)

    async def _relay_batch(self, batch: list[_Pending]) -> None:
        try:
            for pending in await self._flush(newest(batch)):
                self._hand_to_clearing(pending)
        except Exception:
            log.exception("outbox relay failed; the sweep will retry")
        finally:
            for pending in batch:
                if not pending.published.done():
                    pending.published.set_result(None)
                if pending.key not in self._to_clear or self._to_clear[pending.key] is not pending:
                    _settle(pending)

    def _hand_to_clearing(self, pending: _Pending) -> None:
        earlier = self._to_clear.get(pending.key)
        if earlier is None or earlier.doc["version"] < pending.doc["version"]:
            self._to_clear[pending.key] = pending
            if earlier is not None:
                _settle(earlier)  # the later one clears what it left
        self._clear_wakeup.set()
        self._busy.set()  # no lull yet; and the clearing looks whether the backlog is full

    @contextlib.asynccontextmanager
    async def writing(self, collection: str, doc_id: Any) -> AsyncIterator[None]:
        """A store writes this document: its outbox is not cleared meanwhile. FerretDB
        rewrites a whole document per update, so a clear at the same moment could undo
        the write; on MongoDB this costs nothing."""
        key = (collection, doc_id)
        self._writing[key] += 1
        try:
            while key in self._clearing_now:
                await self._round_over.wait()
            yield
        finally:
            self._writing[key] -= 1
            if not self._writing[key]:
                del self._writing[key]
            self._clear_wakeup.set()

    def _clearable(self) -> list[_Pending]:
        return [p for p in self._to_clear.values() if p.key not in self._writing]

    async def _clear_forever(self) -> None:
        while True:
            await self._clear_wakeup.wait()
            self._clear_wakeup.clear()
            while self._clearable():
                await self._lull_or_full()
                clearing = self._clearable()
                self._clearing_now = {p.key for p in clearing}
                self._round_over.clear()
                try:
                    await self._clear(clearing)
                except Exception as error:  # noqa: BLE001 - what stays, the sweep finds
                    log.warning("outboxes not cleared, the sweep will retry: %r", error)
                finally:
                    self._clearing_now = set()
                    self._round_over.set()
                    for pending in clearing:
                        if self._to_clear.get(pending.key) is pending:
                            del self._to_clear[pending.key]
                        _settle(pending)
                    self._cleared.set()

    async def _lull_or_full(self) -> None:
        while len(self._to_clear) < self._uncleared:
            self._busy.clear()
            try:  # not wait_for: on 3.11 it can swallow a cancellation
                async with asyncio.timeout(self._lull):
                    await self._busy.wait()
            except TimeoutError:
                return

    async def sweep(self, collections: list[AsyncCollection[Document]], grace: timedelta) -> int:
        """Relay what waited longer than `grace` (left by a failure or a crash), except
        what is on its way already: a slow relay must not publish its events twice."""
        cutoff = datetime.now(UTC) - grace
        found = 0
        for collection in collections:
            cursor = collection.find({"outbox.at": {"$lt": cutoff}}, {"inbox": 0}).limit(
                self._batch_size
            )
            docs = [
                doc
                for doc in await cursor.to_list()
                if (collection.name, doc["_id"]) not in self._relaying
            ]
            found += len(docs)
            await asyncio.gather(*(self.relay(collection, doc) for doc in docs))
        return found

    async def backlog(
        self, collections: list[AsyncCollection[Document]]
    ) -> tuple[int, datetime | None]:
        """How many documents have events waiting to be published, and when the oldest was
        raised; those published and waiting only to be cleared do not count."""
        waiting = {"outbox.at": {"$lte": datetime.now(UTC) + timedelta(days=36500)}}
        count, oldest = 0, None
        for collection in collections:
            published = {key[1] for key in self._to_clear if key[0] == collection.name}
            count += max(0, await collection.count_documents(waiting) - len(published))
            first = [
                doc
                for doc in await collection.find(waiting, {"outbox.at": 1})
                .sort("outbox.at", 1)
                .limit(len(published) + 1)
                .to_list()
                if doc["_id"] not in published
            ]
            if first:
                at = min(entry["at"] for entry in first[0]["outbox"])
                oldest = at if oldest is None else min(oldest, at)
        return count, oldest

    async def _flush(self, batch: list[_Pending]) -> list[_Pending]:
        """Publish, then project; returns what was published and projected."""
        published = await asyncio.gather(*(self._publish_all(p.doc) for p in batch))
        by_collection: dict[str, list[_Pending]] = {}
        for pending, ok in zip(batch, published, strict=True):
            if ok:
                by_collection.setdefault(pending.collection.name, []).append(pending)
        done: list[_Pending] = []
        for name, group in by_collection.items():
            projection = self._projections.get(name)
            try:
                if projection is not None:
                    await projection.apply([p.doc for p in group])
            except PyMongoError as error:
                log.warning("read model of %s not updated, the sweep will retry: %r", name, error)
                continue
            done += group
        return done

    async def _publish_all(self, doc: Mapping[str, Any]) -> bool:
        try:
            for entry in doc["outbox"]:
                if entry["id"] not in self._published:  # else confirmed, but not cleared
                    await self._publish(entry)
                    self._published[entry["id"]] = None
                    if len(self._published) > REMEMBERED:
                        self._published.popitem(last=False)
        except Exception as error:  # noqa: BLE001 - any failure leaves the events for the sweep
            log.warning("events of %s not published, the sweep will retry: %r", doc["_id"], error)
            return False
        return True

    async def _clear(self, done: list[_Pending]) -> None:
        """Empty the outboxes of documents that have not moved on: one command per chunk."""
        by_collection: dict[str, list[_Pending]] = {}
        for pending in done:
            by_collection.setdefault(pending.collection.name, []).append(pending)
        for group in by_collection.values():
            for chunk in chunks(group, CLEARED_PER_COMMAND):
                await chunk[0].collection.update_many(
                    {"$or": [{"_id": p.doc["_id"], "version": p.doc["version"]} for p in chunk]},
                    {"$set": {"outbox": []}},
                )


def _settle(pending: _Pending) -> None:
    if not pending.settled.done():
        pending.settled.set_result(None)


def newest(batch: list[_Pending]) -> list[_Pending]:
    """One document per aggregate, its latest version: stored after the earlier ones were
    queued, its outbox holds every event they did not clear."""
    latest: dict[tuple[str, Any], _Pending] = {}
    for pending in batch:
        key = (pending.collection.name, pending.doc["_id"])
        if key not in latest or pending.doc["version"] > latest[key].doc["version"]:
            latest[key] = pending
    return list(latest.values())
