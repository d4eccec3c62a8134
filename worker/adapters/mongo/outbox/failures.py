"""What the relay failed to publish: marked in `outbox_waiting` before its command is
answered, then relayed again by a periodic pass of any worker (`retry`)."""

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from .handoff import Document, Key, Pending, document

log = logging.getLogger("worker.outbox")


@dataclasses.dataclass(frozen=True, slots=True)
class Backlog:
    """What waits to be published again after a failure, as of the last pass (or, at
    start, what the sweep saw waiting): how many documents, and when the oldest of
    their events was raised. Those published and waiting only to be cleared do not
    count."""

    waiting: int = 0
    oldest: datetime | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Failure:
    """A document whose outbox this relay failed to publish, and when the oldest of its
    events was raised."""

    key: Key
    at: datetime

    @classmethod
    def of(cls, pending: Pending) -> "Failure":
        return cls(pending.key, min(entry["at"] for entry in pending.doc["outbox"]))

    def marker(self) -> UpdateOne:
        """Its document in `waiting`, kept with its first time if it is there already,
        with a new token: a pass drops a mark only as it read it."""
        fields = {"collection": self.key[0], "doc_id": self.key[1], "at": self.at}
        change = {"$setOnInsert": fields, "$set": {"token": uuid.uuid4().hex}}
        return UpdateOne({"_id": document(self.key)}, change, upsert=True)


Relay = Callable[[AsyncCollection[Document], Mapping[str, Any]], Awaitable[None]]


class Failures:
    """Owns the failures not marked yet; `waiting` holds the marks of every worker."""

    def __init__(self, waiting: AsyncCollection[Document]) -> None:
        self._waiting = waiting
        self._unmarked: dict[Key, Failure] = {}

    def note(self, batch: Sequence[Pending], relayed: set[Key]) -> bool:
        """Take note of what of this batch failed, forget what went out; whether any failed."""
        for pending in batch:
            if pending.key in relayed:
                self._unmarked.pop(pending.key, None)
            else:
                self._unmarked[pending.key] = Failure.of(pending)
        return len(relayed) < len(batch)

    async def mark(self) -> None:
        """Mark in `waiting` what failed here; what cannot be marked now (the database is
        away too) stays in memory for the next try."""
        failures = list(self._unmarked.values())
        if not failures:
            return
        try:
            await self._waiting.bulk_write([f.marker() for f in failures], ordered=False)
        except Exception as error:  # noqa: BLE001 - kept, and marked at the next pass
            log.warning("failed events not marked, marking them later: %r", error)
            return
        for failure in failures:
            if self._unmarked.get(failure.key) is failure:
                del self._unmarked[failure.key]

    async def retry(
        self,
        collections: Sequence[AsyncCollection[Document]],
        grace: timedelta,
        relay: Relay,
        relaying: Callable[[Key], bool],
        most: int,
    ) -> tuple[int, Backlog]:
        """Relay again the `most` oldest documents marked longer than `grace` ago and not
        on their way, then drop their marks; returns how many were found, and the backlog.
        It reads `waiting`, which holds only failures, and those documents by `_id`."""
        await self.mark()
        marks = await self._waiting.find({}).to_list()
        by_name = {collection.name: collection for collection in collections}
        cutoff = datetime.now(UTC) - grace
        late = sorted(
            (
                mark
                for mark in marks
                if mark["at"] < cutoff
                and mark["collection"] in by_name
                and not relaying((mark["collection"], mark["doc_id"]))
            ),
            key=lambda mark: mark["at"],
        )[:most]
        found = 0
        for name, collection in by_name.items():
            if ids := [mark["doc_id"] for mark in late if mark["collection"] == name]:
                found += await relay_again(collection, ids, relay, relaying)
        relayed = [m for m in late if (m["collection"], m["doc_id"]) not in self._unmarked]
        if relayed:  # each as read: a relay that failed since has given it a new token
            await self._waiting.delete_many(
                {"$or": [{"_id": mark["_id"], "token": mark.get("token")} for mark in relayed]}
            )
        dropped = {mark["_id"] for mark in relayed}
        left = {mark["_id"]: mark["at"] for mark in marks if mark["_id"] not in dropped}
        left.update({document(f.key): f.at for f in self._unmarked.values()})
        return found, Backlog(len(left), min(left.values(), default=None))


async def relay_again(
    collection: AsyncCollection[Document],
    ids: list[Any],
    relay: Relay,
    relaying: Callable[[Key], bool],
) -> int:
    """Read these documents (without their inbox) and relay those not on their way
    meanwhile; how many were relayed. The periodic pass and the start-up sweep both
    end here."""
    docs = await collection.find({"_id": {"$in": ids}}, {"inbox": 0}).to_list()
    docs = [doc for doc in docs if not relaying((collection.name, doc["_id"]))]
    await asyncio.gather(*(relay(collection, doc) for doc in docs))
    return len(docs)
