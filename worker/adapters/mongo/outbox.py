"""The outbox relay: publishes stored events, updates read models, then clears them.

Events wait in their aggregate's document (`outbox`), written in the same
single-document update as the change that raised them, so an event exists
only if its change was stored. The relay publishes them with publisher
confirms, in version order per aggregate, then projects the document into its
read model and clears the outbox only if the document has not moved on. What
fails stays in the outbox; the sweep finds it again (also after a crash), and
events keep their ids when published again.

Relays are batched: while one batch is on its way, new documents gather, and
the next batch clears them with one `bulk_write` per collection.
"""

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import InsertOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, PyMongoError

from .documents import state_of
from .errors import DUPLICATE_KEY

log = logging.getLogger("worker.outbox")

Document = dict[str, Any]
Publish = Callable[[Mapping[str, Any]], Awaitable[None]]


@dataclasses.dataclass(frozen=True)
class Projection:
    """A read model that mirrors an aggregate's state, newest version wins."""

    views: AsyncCollection[Document]
    shape: Callable[[Mapping[str, Any]], Document] = state_of

    def operations(self, doc: Mapping[str, Any]) -> list[InsertOne[Document] | UpdateOne]:
        view = self.shape(doc)
        operations: list[InsertOne[Document] | UpdateOne] = []
        if any(entry["version"] == 1 for entry in doc["outbox"]):
            operations.append(InsertOne(view))
        rest = {key: value for key, value in view.items() if key != "_id"}
        operations.append(
            UpdateOne({"_id": view["_id"], "version": {"$lt": view["version"]}}, {"$set": rest})
        )
        return operations


@dataclasses.dataclass(slots=True)
class _Pending:
    collection: AsyncCollection[Document]
    doc: Mapping[str, Any]
    done: asyncio.Future[None]


class OutboxRelay:
    def __init__(
        self,
        publish: Publish,
        projections: Mapping[str, Projection],
        batch_size: int = 256,
    ) -> None:
        self._publish = publish
        self._projections = projections
        self._batch_size = batch_size
        self._pending: list[_Pending] = []
        self._wakeup = asyncio.Event()

    async def relay(self, collection: AsyncCollection[Document], doc: Mapping[str, Any]) -> None:
        """Publish and clear this document's outbox; returns when done or left for the sweep."""
        if not doc.get("outbox"):
            return
        done = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(collection, doc, done))
        self._wakeup.set()
        await done

    async def run(self) -> None:
        """Relay batches until cancelled."""
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                batch = self._pending[: self._batch_size]
                del self._pending[: self._batch_size]
                try:
                    await self._flush(batch)
                except Exception:
                    log.exception("outbox relay failed; the sweep will retry")
                finally:
                    for pending in batch:
                        if not pending.done.done():
                            pending.done.set_result(None)

    async def sweep(self, collections: list[AsyncCollection[Document]], grace: timedelta) -> int:
        """Relay what waited longer than `grace` (left by a failure or a crash)."""
        cutoff = datetime.now(UTC) - grace
        found = 0
        for collection in collections:
            cursor = collection.find({"outbox.at": {"$lt": cutoff}}, {"inbox": 0}).limit(
                self._batch_size
            )
            docs = await cursor.to_list()
            found += len(docs)
            await asyncio.gather(*(self.relay(collection, doc) for doc in docs))
        return found

    async def backlog(
        self, collections: list[AsyncCollection[Document]]
    ) -> tuple[int, datetime | None]:
        """How many documents have events waiting, and when the oldest was raised."""
        waiting = {"outbox.at": {"$lte": datetime.now(UTC) + timedelta(days=36500)}}
        count, oldest = 0, None
        for collection in collections:
            count += await collection.count_documents(waiting)
            first = await collection.find_one(waiting, {"outbox.at": 1}, sort=[("outbox.at", 1)])
            if first is not None:
                at = min(entry["at"] for entry in first["outbox"])
                oldest = at if oldest is None else min(oldest, at)
        return count, oldest

    async def _flush(self, batch: list[_Pending]) -> None:
        published = await asyncio.gather(*(self._publish_all(p.doc) for p in batch))
        by_collection: dict[str, list[_Pending]] = {}
        for pending, ok in zip(batch, published, strict=True):
            if ok:
                by_collection.setdefault(pending.collection.name, []).append(pending)
        for name, done in by_collection.items():
            try:
                await self._settle(name, done)
            except PyMongoError as error:
                log.warning("outbox of %s not cleared, the sweep will retry: %r", name, error)

    async def _publish_all(self, doc: Mapping[str, Any]) -> bool:
        try:
            for entry in doc["outbox"]:
                await self._publish(entry)
        except Exception as error:  # noqa: BLE001 - any failure leaves the events for the sweep
            log.warning("events of %s not published, the sweep will retry: %r", doc["_id"], error)
            return False
        return True

    async def _settle(self, name: str, done: list[_Pending]) -> None:
        projection = self._projections.get(name)
        if projection is not None:
            operations = [op for p in done for op in projection.operations(p.doc)]
            await _bulk_ignoring_duplicates(projection.views, operations)
        await done[0].collection.bulk_write(
            [
                UpdateOne(
                    {"_id": p.doc["_id"], "version": p.doc["version"]}, {"$set": {"outbox": []}}
                )
                for p in done
            ],
            ordered=False,
        )


async def _bulk_ignoring_duplicates(
    collection: AsyncCollection[Document], operations: list[InsertOne[Document] | UpdateOne]
) -> None:
    try:
        await collection.bulk_write(operations, ordered=False)
    except BulkWriteError as error:
        if any(e["code"] != DUPLICATE_KEY for e in error.details["writeErrors"]):
            raise
