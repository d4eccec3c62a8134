"""One store for every aggregate: optimistic versions, outbox and inbox in one document."""

import dataclasses
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from pizzeria_contracts import OperationResult

from ...application.errors import ConcurrencyError
from ...application.ports import Loaded, Publishing, Receipt
from ...domain.customers import Customer, customer_id_for
from ...domain.events import DomainEvent
from .batch import FindBatcher, InsertBatcher, UpdateBatcher, VersionedUpdate
from .documents import inbox_entries, outbox_entry
from .errors import database_call
from .outbox import OutboxRelay

Document = dict[str, Any]
REMEMBERED = 1_000
"""Documents a store remembers, the most recently used: about the orders in flight."""


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
        self,
        collection: AsyncCollection[Document],
        codec: Codec[A],
        relay: OutboxRelay,
        remember: int = REMEMBERED,
        *,
        conversation: bool = False,
    ) -> None:
        """`conversation`: keep with each reply what the operator console shows of the
        command (an order's store: `documents.inbox_entries`)."""
        self.collection = collection
        self._codec = codec
        self._relay = relay
        self._keeps_conversation = conversation
        self._inserts = InsertBatcher(collection)
        self._finds = FindBatcher(collection, {})
        self._updates = UpdateBatcher(collection)
        self._memory = Memory(remember)
        relay.on_cleared(collection.name, self._memory.cleared)

    async def load(
        self, aggregate_id: str, message_id: str = "", *, fresh: bool = False
    ) -> Loaded[A] | None:
        loaded = await self._recall_or_read(aggregate_id, message_id, fresh)
        return None if loaded is None else self._with_its_publishing(loaded, aggregate_id)

    async def _recall_or_read(self, doc_id: str, message_id: str, fresh: bool) -> Loaded[A] | None:
        """From memory when this store remembers the document and the message is not in
        its inbox (it may be: read its reply), else read."""
        if not fresh and (doc := self._memory.recall(doc_id, message_id)) is not None:
            return Loaded(self._codec.decode(doc), {}, remembered=True)
        async with database_call("load"):
            doc = await self._finds.find(doc_id)
        if doc is None:
            self._memory.forget(doc_id)
            return None
        return self._took(doc, message_id)

    def _took(self, doc: Mapping[str, Any], message_id: str) -> Loaded[A]:
        """A document just read: decoded, then remembered (one that does not decode is
        read again), and its leftovers relayed if this message comes back after its
        change was stored."""
        loaded = self._loaded(doc)
        self._memory.read(doc)
        if message_id in loaded.replies:
            self._relay_leftovers(doc)
        return loaded

    def _relay_leftovers(self, doc: Mapping[str, Any]) -> None:
        """A message that comes back after its change was stored (its worker died, or
        its reply could not be sent) finds its events possibly unpublished: relay what
        waits in the outbox, unless this relay has it on its way (what went out already
        is skipped). Its answer waits for that (`_with_its_publishing`)."""
        if doc.get("outbox") and self._relay.on_its_way(self.collection.name, doc["_id"]) is None:
            self._relay.submit(self.collection, state_and_outbox(doc))

    def _with_its_publishing(self, loaded: Loaded[A], aggregate_id: str) -> Loaded[A]:
        """A command that read this document answers only once what this worker is still
        publishing of it is out: a re-sent command answered from the inbox must not
        answer before the command it repeats, whose events and view are on their way."""
        on_its_way = self._relay.on_its_way(self.collection.name, aggregate_id)
        if on_its_way is None:
            return loaded
        return dataclasses.replace(loaded, publishing=on_its_way)

    def _conversation(self, events: list[DomainEvent]) -> list[DomainEvent] | None:
        return events if self._keeps_conversation else None

    def _loaded(self, doc: Mapping[str, Any]) -> Loaded[A]:
        return Loaded(self._codec.decode(doc), StoredReplies(doc.get("inbox", ())))

    async def create(self, aggregate: A, receipt: Receipt | None) -> Publishing | None:
        doc = self._codec.encode(aggregate)
        doc["outbox"] = [outbox_entry(event, receipt) for event in aggregate.pending_events]
        inbox = inbox_entries(receipt, self._conversation(aggregate.pending_events))
        async with database_call("create"):
            if not await self._inserts.insert({**doc, "inbox": inbox}):
                return None
        aggregate.pending_events.clear()
        self._memory.wrote(doc, (), inbox)
        return self._relay.submit(self.collection, doc, inserted=True)

    async def update(self, aggregate: A, receipt: Receipt | None) -> Publishing:
        """Store the new state and events over the version the aggregate was loaded at.

        The new events join what waits in the outbox, unless the relay knows all of
        that went out: then they replace it, which also spares the relay clearing it.
        When the store knows what the outbox held (it replaces it, or remembers the
        document at that version), it writes without reading the document back."""
        events = aggregate.pending_events
        loaded = aggregate.version - len(events)
        state = self._codec.encode(aggregate)
        doc_id = state.pop("_id")
        entries = [outbox_entry(event, receipt) for event in events]
        inbox = inbox_entries(receipt, self._conversation(events))
        push: Document = {"inbox": {"$each": inbox}}
        name = self.collection.name
        replacing = self._relay.recorded_version(name, doc_id) == loaded
        if replacing:
            state["outbox"] = entries
        else:
            push["outbox"] = {"$each": entries}
        before = self._memory.at(doc_id, loaded)
        match = {"_id": doc_id, "version": loaded}
        change = {"$set": state, "$push": push}
        doc: Document | None = None
        try:
            async with database_call("update"):
                if before is None and not replacing:
                    doc = await self.collection.find_one_and_update(
                        match,
                        change,
                        {"inbox": 0},  # the relay needs the state and outbox only
                        return_document=ReturnDocument.AFTER,
                    )
                elif await self._write(match, change, inbox):
                    doc = {"_id": doc_id, **state}
                    if not replacing:
                        doc["outbox"] = (
                            [*before.doc.get("outbox", ()), *entries] if before else entries
                        )
        finally:
            if doc is None:  # moved on, or unknown after a failure
                self._memory.forget(doc_id)
        if doc is None:
            raise ConcurrencyError(f"{name} {aggregate.id} changed meanwhile")
        if replacing:
            self._relay.replaced(name, aggregate.id, loaded)
        events.clear()
        self._memory.wrote(doc, before.seen if before else None, inbox)
        return self._relay.submit(self.collection, doc)

    async def _write(self, match: Document, change: Document, inbox: list[Document]) -> bool:
        """Whether the versioned update matched. One that keeps a reply is gathered with
        the others in flight: its inbox entry carries the token that tells."""
        if len(inbox) != 1:
            return bool((await self.collection.update_one(match, change)).matched_count)
        inbox[0]["write"] = uuid.uuid4().hex
        update = VersionedUpdate(match["_id"], match["version"], change, inbox[0]["write"])
        return await self._updates.update(update)


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
    on `phone` (customers registered before ids were derived from phones).

    Read afresh each time: an order that changes nothing of its customer writes
    nothing, so no versioned write would find a remembered customer out of date."""

    def __init__(
        self,
        collection: AsyncCollection[Document],
        codec: Codec[Customer],
        relay: OutboxRelay,
        remember: int = 0,
    ) -> None:
        super().__init__(collection, codec, relay, remember)

    async def find_by_phone(self, phone: str, message_id: str = "") -> Loaded[Customer] | None:
        customer_id = customer_id_for(phone)
        loaded = await self._recall_or_read(customer_id, message_id, fresh=False)
        if loaded is not None:
            return self._with_its_publishing(loaded, customer_id)
        async with database_call("find_by_phone"):
            doc = await self.collection.find_one({"phone": phone})
        if doc is None:
            return None
        return self._with_its_publishing(self._took(doc, message_id), doc["_id"])


def state_and_outbox(doc: Mapping[str, Any]) -> Document:
    """A document as the relay takes it: without its inbox."""
    return {key: value for key, value in doc.items() if key != "inbox"}


class Kept(NamedTuple):
    doc: Document
    """State, version and outbox, without the inbox."""
    seen: frozenset[str]
    """The message ids of its inbox."""


class Memory:
    """A store's own last read or write of its most recently used documents, without
    their inbox but with its message ids: a command on one of them reads nothing. The
    versions the store writes over tell when another writer moved one on; the store
    then forgets it. Within a worker, lanes keep two commands off one document at
    once, so what it remembers is never overtaken by its own writes."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._docs: OrderedDict[Any, Kept] = OrderedDict()

    def recall(self, doc_id: Any, message_id: str) -> Document | None:
        """The document, unless its inbox holds this message (whose reply is not kept)."""
        kept = self._docs.get(doc_id)
        if kept is None or message_id in kept.seen:
            return None
        self._docs.move_to_end(doc_id)
        return kept.doc

    def at(self, doc_id: Any, version: int) -> "Kept | None":
        """The document and its inbox's message ids, if remembered at this version."""
        kept = self._docs.get(doc_id)
        return kept if kept is not None and kept.doc["version"] == version else None

    def read(self, doc: Mapping[str, Any]) -> None:
        """Remember a document as read, unless this store wrote a later version since."""
        kept = self._docs.get(doc["_id"])
        if kept is None or kept.doc["version"] <= doc["version"]:
            self._keep(
                state_and_outbox(doc),
                frozenset(entry["message_id"] for entry in doc.get("inbox", ())),
            )

    def wrote(self, doc: Document, seen: Iterable[str] | None, inbox: list[dict[str, Any]]) -> None:
        """Remember a document as just written with these inbox entries added to `seen`;
        `seen` None: the inbox before is not known, so neither is the document."""
        if seen is None:
            self.forget(doc["_id"])
            return
        self._keep(doc, frozenset(seen).union(entry["message_id"] for entry in inbox))

    def forget(self, doc_id: Any) -> None:
        self._docs.pop(doc_id, None)

    def cleared(self, doc_id: Any, version: int) -> None:
        """The relay emptied the document's outbox at this version."""
        kept = self.at(doc_id, version)
        if kept is not None and kept.doc.get("outbox"):
            self._docs[doc_id] = Kept({**kept.doc, "outbox": []}, kept.seen)

    def _keep(self, doc: Document, seen: frozenset[str]) -> None:
        if not self._size:
            return
        self._docs[doc["_id"]] = Kept(doc, seen)
        self._docs.move_to_end(doc["_id"])
        if len(self._docs) > self._size:
            self._docs.popitem(last=False)
