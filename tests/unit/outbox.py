"""The relay on collections in memory: its publish function, and documents whose outbox
holds the events of some versions."""

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from worker.adapters.mongo.outbox import OutboxRelay, Projection
from worker.adapters.mongo.readmodels import Fixed

from .memory_collections import Document, MemoryCollection

NO_GRACE = timedelta(0)


class Publisher:
    """Records what it publishes; fails while `failing`, and waits while `held` is clear."""

    def __init__(self) -> None:
        self.published: list[Mapping[str, Any]] = []
        self.failing = False
        self.held = asyncio.Event()
        self.held.set()

    async def __call__(self, entry: Mapping[str, Any]) -> None:
        await self.held.wait()
        if self.failing:
            raise ConnectionError("broker away")
        self.published.append(entry)

    def versions(self, subject: str) -> list[int]:
        return [entry["version"] for entry in self.published if entry["subject"] == subject]


def outbox_doc(versions: range, ago: timedelta = NO_GRACE) -> Document:
    """A document at the last of `versions`, its outbox holding an event for each."""
    doc_id = uuid.uuid4().hex
    at = datetime.now(UTC) - ago
    outbox = [{"id": uuid.uuid4().hex, "subject": doc_id, "version": v, "at": at} for v in versions]
    return {"_id": doc_id, "version": versions[-1], "status": "placed", "outbox": outbox}


@dataclasses.dataclass
class World:
    """Orders have a read model (`views`), customers none: their records are in `relayed`."""

    publisher: Publisher = dataclasses.field(default_factory=Publisher)
    orders: MemoryCollection = dataclasses.field(default_factory=lambda: MemoryCollection("o"))
    customers: MemoryCollection = dataclasses.field(default_factory=lambda: MemoryCollection("c"))
    views: MemoryCollection = dataclasses.field(default_factory=lambda: MemoryCollection("v"))
    relayed: MemoryCollection = dataclasses.field(default_factory=lambda: MemoryCollection("r"))
    waiting: MemoryCollection = dataclasses.field(default_factory=lambda: MemoryCollection("w"))

    def projections(self) -> dict[str, Projection]:
        return {self.orders.name: Projection(Fixed(self.views.as_collection()))}

    def relay(self, **options: Any) -> OutboxRelay:
        return OutboxRelay(
            self.publisher,
            self.projections(),
            self.relayed.as_collection(),
            self.waiting.as_collection(),
            **options,
        )

    def stored(self, collection: MemoryCollection, doc: Document) -> Document:
        collection.docs[doc["_id"]] = {**doc, "outbox": list(doc["outbox"])}
        return doc

    async def relayed_by(
        self, relay: OutboxRelay, collection: MemoryCollection, doc: Document
    ) -> None:
        """Submitted, then published and recorded (or failed and marked)."""
        await relay.submit(collection.as_collection(), doc)
        await relay.drain()

    def outbox(self, collection: MemoryCollection, doc: Document) -> list[int]:
        return [entry["version"] for entry in collection.docs[doc["_id"]]["outbox"]]


@contextlib.asynccontextmanager
async def running(relay: OutboxRelay) -> AsyncIterator[OutboxRelay]:
    task = asyncio.create_task(relay.run())
    try:
        async with asyncio.timeout(10):
            yield relay
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
