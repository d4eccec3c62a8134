"""The second stage: record what was published and has no read model to say so, a small
document per version in `outbox_relayed`; every sweep reads these records before it
publishes anything again."""

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from ..batch import chunks, insert_new
from .handoff import Document, Key, Pending, Recorded, document
from .projection import RECORDS_PER_LOOKUP, Projection

log = logging.getLogger("worker.outbox")


class Recorder:
    """Everything waiting is recorded in one insert, as it comes; each is finished once
    recorded (then handed to clearing) or once it failed to be (a sweep may repeat it)."""

    def __init__(
        self, relayed: AsyncCollection[Document], projections: Mapping[str, Projection]
    ) -> None:
        self._relayed = relayed
        self._projections = projections
        self._unrecorded: list[Pending] = []
        self._arrival = asyncio.Event()

    def record(self, pending: Pending) -> None:
        self._unrecorded.append(pending)
        self._arrival.set()

    async def run(self, then: Callable[[Recorded], None]) -> None:
        """Record until cancelled, handing each record to `then`."""
        while True:
            await self._arrival.wait()
            self._arrival.clear()
            while self._unrecorded:
                batch, self._unrecorded = self._unrecorded, []
                try:
                    await insert_new(self._relayed, [_record(p.key, p.doc) for p in batch])
                except Exception as error:  # noqa: BLE001 - the sweep publishes them again
                    log.warning(
                        "published events not recorded, the sweep may repeat them: %r", error
                    )
                else:
                    for pending in batch:
                        then(Recorded.now(pending))
                finally:
                    for pending in batch:
                        pending.finish()

    async def recorded(self, collection: str, docs: Sequence[Mapping[str, Any]]) -> set[Any]:
        """Those of these documents whose outbox, as of their version, was recorded as
        published: by their read model, or else in `relayed`."""
        if not docs:
            return set()
        if (projection := self._projections.get(collection)) is not None:
            return await projection.published(docs)
        ids = {_record_id((collection, doc["_id"]), doc["version"]): doc["_id"] for doc in docs}
        found: set[Any] = set()
        for chunk in chunks(list(ids), RECORDS_PER_LOOKUP):
            records = self._relayed.find({"_id": {"$in": chunk}}, {"_id": 1})
            found.update(ids[record["_id"]] for record in await records.to_list())
        return found

    async def drop(self, cleared: list[Recorded]) -> None:
        """The records of these versions and older ones, cleared or moved on from: a newer
        version may have been stored and recorded meanwhile, and its stays."""
        await self._relayed.delete_many(
            {
                "$or": [
                    {"document": document(r.key), "version": {"$lte": r.version}} for r in cleared
                ]
            }
        )


def _record_id(key: Key, version: int) -> str:
    return f"{document(key)}/{version}"


def _record(key: Key, doc: Mapping[str, Any]) -> Document:
    """That this document's outbox, as of its version, was published and its read model
    projected."""
    return {
        "_id": _record_id(key, doc["version"]),
        "document": document(key),
        "version": doc["version"],
        "at": datetime.now(UTC),
    }
