"""One store for every aggregate: optimistic versions, outbox and inbox in one document."""

import asyncio
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Generic, Protocol, TypeVar

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from pizzeria_contracts import OperationResult

from ...application.errors import ConcurrencyError
from ...application.ports import Loaded, Receipt
from ...application.settling import finish
from ...domain.customers import Customer, customer_id_for
from ...domain.events import DomainEvent
from .batch import FindBatcher, InsertBatcher
from .documents import inbox_entries, outbox_entry
from .errors import database_call
from .outbox import OutboxRelay

Document = dict[str, Any]


class Aggregate(Protocol):
    id: str
    version: int
    pending_events: list[DomainEvent]


A = TypeVar("A", bound=Aggregate)


class Codec(Protocol[A]):
    def encode(self, aggregate: A) -> Document: ...

    def decode(self, doc: Mapping[str, Any]) -> A: ...


class MongoAggregateStore(Generic[A]):
    """Writes an aggregate's state, its new events and the command's receipt atomically,
    then hands the stored events to the relay."""

    def __init__(
        self, collection: AsyncCollection[Document], codec: Codec[A], relay: OutboxRelay
    ) -> None:
        self.collection = collection
        self._codec = codec
        self._relay = relay
        self._inserts = InsertBatcher(collection)
        self._finds = FindBatcher(collection, {"outbox": 0})

    async def load(self, aggregate_id: str) -> Loaded[A] | None:
        async with database_call("load"):
            doc = await self._finds.find(aggregate_id)
        if doc is None:
            return None
        await self._after_its_relay(aggregate_id)
        return self._loaded(doc)

    async def _after_its_relay(self, aggregate_id: str) -> None:
        """A command that read this document answers only once what this worker is still
        publishing of it is out: a re-sent command answered from the inbox must not
        answer before the command it repeats, whose events and view are on their way.
        Deferred past the lane, like the command's own relay (`finish`)."""
        on_its_way = self._relay.on_its_way(self.collection.name, aggregate_id)
        if on_its_way is not None:
            await finish(asyncio.shield(on_its_way))

    def _loaded(self, doc: Mapping[str, Any]) -> Loaded[A]:
        return Loaded(self._codec.decode(doc), StoredReplies(doc.get("inbox", ())))

    async def create(self, aggregate: A, receipt: Receipt | None) -> bool:
        doc = self._codec.encode(aggregate)
        doc["outbox"] = [outbox_entry(event, receipt) for event in aggregate.pending_events]
        doc["inbox"] = inbox_entries(receipt)
        async with database_call("create"):
            if not await self._inserts.insert(doc):
                return False
        aggregate.pending_events.clear()
        await finish(self._relay.submit(self.collection, doc, inserted=True))
        return True

    async def update(self, aggregate: A, receipt: Receipt | None) -> None:
        """Store the new state and events over the version the aggregate was loaded at.

        The new events join what waits in the outbox, unless the relay knows all of
        that went out: then they replace it, which also spares the relay clearing it."""
        events = aggregate.pending_events
        loaded = aggregate.version - len(events)
        state = self._codec.encode(aggregate)
        del state["_id"]
        entries = [outbox_entry(event, receipt) for event in events]
        push: Document = {"inbox": {"$each": inbox_entries(receipt)}}
        name = self.collection.name
        replacing = self._relay.recorded_version(name, aggregate.id) == loaded
        if replacing:
            state["outbox"] = entries
        else:
            push["outbox"] = {"$each": entries}
        async with database_call("update"):
            doc = await self.collection.find_one_and_update(
                {"_id": aggregate.id, "version": loaded},
                {"$set": state, "$push": push},
                {"inbox": 0},  # the relay needs the state and outbox; a reply is never read back
                return_document=ReturnDocument.AFTER,
            )
        if doc is None:
            raise ConcurrencyError(f"{name} {aggregate.id} changed meanwhile")
        if replacing:
            self._relay.replaced(name, aggregate.id, loaded)
        events.clear()
        await finish(self._relay.submit(self.collection, doc))

    async def reply_for(self, aggregate_id: str, message_id: str) -> OperationResult | None:
        async with database_call("reply_for"):
            doc = await self.collection.find_one({"_id": aggregate_id}, {"inbox": 1})
        if doc is not None:
            await self._after_its_relay(aggregate_id)
        return StoredReplies(doc.get("inbox", ()) if doc else ()).get(message_id)


class StoredReplies(Mapping[str, OperationResult]):
    """The inbox by message id; a reply is validated only when asked for, since a
    command looks up its own message id and nothing else (a returning customer's
    inbox holds a reply for every order that changed them)."""

    def __init__(self, inbox: Iterable[Mapping[str, Any]]) -> None:
        self._results = {entry["message_id"]: entry["result"] for entry in inbox}

    def __getitem__(self, message_id: str) -> OperationResult:
        return OperationResult.model_validate(self._results[message_id])

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._results

    def __iter__(self) -> Iterator[str]:
        return iter(self._results)

    def __len__(self) -> int:
        return len(self._results)


class MongoCustomerStore(MongoAggregateStore[Customer]):
    """Customers, found by the id their phone gives them, else through the unique index
    on `phone` (customers registered before ids were derived from phones)."""

    async def find_by_phone(self, phone: str) -> Loaded[Customer] | None:
        async with database_call("find_by_phone"):
            doc = await self._finds.find(customer_id_for(phone))
            if doc is None:
                doc = await self.collection.find_one({"phone": phone}, {"outbox": 0})
        return None if doc is None else self._loaded(doc)
