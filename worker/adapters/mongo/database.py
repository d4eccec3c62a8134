"""The database: its collections and the indexes every query relies on."""

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

import pymongo
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

log = logging.getLogger("worker.mongo")

Document = dict[str, Any]

VERSIONED = IndexModel([("_id", ASCENDING), ("version", ASCENDING)], name="versioned", unique=True)
"""For the writes that match a document's `_id` and `version` (every change of an
aggregate, every clearing of an outbox, every move of a view). MongoDB serves them by
`_id` alone and pays for this index with one more key per write; mongo-java-server
builds only unique indexes and answers any filter beyond `_id` with a scan of the
collection unless a unique index has exactly its fields (docs/performance.md)."""

INDEXES: dict[str, list[IndexModel]] = {
    "orders": [VERSIONED, IndexModel([("outbox.at", ASCENDING)], name="outbox_at")],
    "customers": [
        VERSIONED,
        IndexModel([("phone", ASCENDING)], name="phone_unique", unique=True),
        IndexModel([("outbox.at", ASCENDING)], name="outbox_at"),
    ],
    "order_views": [
        VERSIONED,
        IndexModel(
            [("customer_phone", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
            name="by_customer",
        ),
        IndexModel(
            [("active", ASCENDING), ("created_at", ASCENDING), ("_id", ASCENDING)],
            name="kitchen_queue",
        ),
    ],
    "menu": [
        VERSIONED,
        IndexModel([("removed", ASCENDING)], name="on_offer"),
        IndexModel([("outbox.at", ASCENDING)], name="outbox_at"),
    ],
    "outbox_relayed": [
        IndexModel([("document", ASCENDING), ("version", ASCENDING)], name="by_document")
    ],
    "outbox_waiting": [],  # read whole: it holds only what a relay failed to publish
    "sales_daily": [],  # read by `_id` only: one document a day
    "read_models": [],  # read whole: one document a read model
    "deadlines": [
        VERSIONED,
        IndexModel([("due", ASCENDING)], name="due"),
        IndexModel([("late.deadline", ASCENDING)], name="late"),
    ],
}
"""Every filter and sort the worker sends is served by one of these."""


def connect(url: str, **options: Any) -> AsyncMongoClient[Document]:
    """A client; it connects lazily, so building it does no I/O."""
    return AsyncMongoClient(url, tz_aware=True, appname="pizzeria-worker", **options)


@dataclasses.dataclass(frozen=True)
class Collections:
    orders: AsyncCollection[Document]
    customers: AsyncCollection[Document]
    order_views: AsyncCollection[Document]
    menu: AsyncCollection[Document]
    outbox_relayed: AsyncCollection[Document]
    outbox_waiting: AsyncCollection[Document]
    sales_daily: AsyncCollection[Document]
    read_models: AsyncCollection[Document]
    deadlines: AsyncCollection[Document]

    @classmethod
    def of(cls, database: AsyncDatabase[Document]) -> "Collections":
        return cls(*(database[field.name] for field in dataclasses.fields(cls)))

    @property
    def with_outbox(self) -> list[AsyncCollection[Document]]:
        return [self.orders, self.customers, self.menu]


_CHANGED_INDEX = {85, 86}  # IndexOptionsConflict, IndexKeySpecsConflict


INDEX_BUILD_SECONDS = 3600.0
"""How long start-up waits for the indexes, in place of the client's `timeoutMS`: the
first start after an upgrade builds a new index over every document stored, and a
limit meant for one message would make every start fail the same way."""


async def create_indexes(
    database: AsyncDatabase[Document], placed: Mapping[str, str] | None = None
) -> None:
    """Idempotent: an index that exists already is left as it is, and one whose
    definition changed under the same name is built again. `placed`: the collection a
    rebuilt read model lives in now, by its default name; its indexes are built there."""
    with pymongo.timeout(INDEX_BUILD_SECONDS):
        for name, indexes in INDEXES.items():
            for index in indexes:
                await _create(database[(placed or {}).get(name, name)], index)


async def _create(collection: AsyncCollection[Document], index: IndexModel) -> None:
    # One index a call, so that one whose definition changed is rebuilt alone.
    try:
        await collection.create_indexes([index])
    except OperationFailure as error:
        if error.code not in _CHANGED_INDEX:
            raise
        name = index.document["name"]
        log.warning("index %s.%s changed: building it again", collection.name, name)
        await collection.drop_index(name)
        await collection.create_indexes([index])
