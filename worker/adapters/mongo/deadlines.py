"""The deadlines' wake-ups: one document per order that waits for one, or is late now.

`deadlines` holds a document for each confirmed or delivering order: when its
process manager must look at it next (`due`, null once it waits for nothing) and,
when it is late now, the deadline it passed (`late`), with what `orders.list-late`
shows. The relay keeps it as it relays the orders (a follower), newest version wins,
and removes an order's document when the order moves on: the collection holds the
orders waiting in the kitchen or on the road, not every order stored, so the
due-time read of every worker stays small on a server without secondary indexes.
"""

import enum
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DeleteOne, InsertOne, ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from pizzeria_contracts import names

from ...application.deadlines import Timeouts, next_deadline
from ...domain.orders import LATE_IN, Order
from .batch import duplicate_indexes
from .documents import OrderCodec
from .errors import database_call
from .outbox import versions
from .readmodels import Place

Document = dict[str, Any]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TOUCHING = frozenset(
    {
        names.ORDER_CONFIRMED,
        names.COOKING_STARTED,
        names.OUT_FOR_DELIVERY,
        names.ORDER_DELIVERED,
        names.ORDER_CANCELLED,
        names.KITCHEN_LATE,
        names.DELIVERY_LATE,
    }
)
"""The events after which an order's wake-up changes; the others leave it as it is."""
WAKING = frozenset(status.value for status in LATE_IN.values())
"""The statuses an order has a wake-up in: those it can be late in."""


class Unknown(enum.Enum):
    UNKNOWN = enum.auto()


UNKNOWN = Unknown.UNKNOWN
Likely = int | Unknown | None
"""A wake-up's likely version: a number, UNKNOWN, or None when there is likely none."""


def wakeup_document(order: Order, timeouts: Timeouts) -> Document | None:
    """The order's wake-up, or None when it waits for nothing and is not late now."""
    since = order.status_since
    if since is None:
        return None
    late = order.late_now
    deadline = next_deadline(order, timeouts)
    return {
        "_id": order.id,
        "version": order.version,
        "due": deadline.at if deadline else None,
        "status": order.status.value,
        "since": since,
        "customer_name": order.customer.name,
        "driver": order.driver,
        "late": None if late is None else {"kind": late.kind.value, "deadline": late.deadline},
    }


def likely_version(doc: Mapping[str, Any]) -> Likely:
    """The version the order's wake-up most likely shows before this relay writes it,
    judged by the order's last event: None when there is likely none (a new order, one
    that was ready); UNKNOWN when the events do not tell. Only a guess: a write on it is
    a compare-and-set, and one that misses reads the wake-up instead."""
    last = max(doc.get("outbox", ()), key=lambda entry: entry["version"], default=None)
    if last is None or last["type"] not in TOUCHING:
        return UNKNOWN
    match last["type"]:
        case names.ORDER_CONFIRMED | names.OUT_FOR_DELIVERY:
            return None
        case names.ORDER_CANCELLED if last["body"].get("previous_status") not in WAKING:
            return None
    return int(last["version"]) - 1


Versions = Callable[[list[Any]], Awaitable[dict[Any, int]]]
"""The stored version of each of these orders."""


async def keep_all(
    collection: AsyncCollection[Document],
    orders: list[Order],
    timeouts: Timeouts,
    likely: Mapping[str, Likely] | None = None,
    *,
    again: bool = False,
    stored: Versions | None = None,
) -> None:
    """Insert, replace or delete each order's wake-up at the version it shows (the
    `versioned` index serves the match everywhere); one that moved meanwhile is read
    again, until it shows its order's version or a later one. The first write goes on
    the `likely` version of each order that has one, without a read; a miss reads.

    A wake-up removed when its order moved on leaves no version behind, so a relay of
    an older version, late, would find none and put it back. Before inserting what a
    read found missing, the orders' `stored` versions are read: an order stored beyond
    the version at hand gets nothing from this write (the relay of its newer version
    writes its wake-up). `again`: also replace a wake-up at the order's own version (one
    written under other timeouts, or due while its order is not)."""
    wanted = {order.id: (order.version, wakeup_document(order, timeouts)) for order in orders}
    guessed = {i: v for i, v in (likely or {}).items() if i in wanted and v is not UNKNOWN}
    pending = list(wanted)
    while pending:
        beyond: dict[Any, int] = {}
        if len(guessed) == len(pending):
            held: Mapping[Any, int | None] = guessed
        else:
            held = await versions(collection, pending)
            absent = [i for i in pending if i not in held and wanted[i][1] is not None]
            if stored is not None and absent:
                beyond = await stored(absent)
        guessed = {}
        statements: list[InsertOne[Document] | ReplaceOne[Document] | DeleteOne] = []
        for order_id in pending:
            version, doc = wanted[order_id]
            shown = held.get(order_id)
            if shown is None:
                if doc is not None and beyond.get(order_id, version) <= version:
                    statements.append(InsertOne(doc))
            elif shown < version or (again and shown == version):
                match = {"_id": order_id, "version": shown}
                statements.append(ReplaceOne(match, doc) if doc else DeleteOne(match))
        if not statements:
            return
        try:
            result = await collection.bulk_write(statements, ordered=False)
            done = result.inserted_count + result.matched_count + result.deleted_count
        except BulkWriteError as error:
            duplicate_indexes(error)  # any other failure is raised
            done = len(statements) - len(error.details["writeErrors"])
        if done == len(statements):
            return


class MongoDeadlines:
    """The wake-ups: kept from the relayed orders, read for what is due and what is late.
    A read model like the others (`python -m worker rebuild deadlines` builds it anew
    from the stored orders, for orders stored before this release, say)."""

    def __init__(self, place: Place, timeouts: Timeouts, orders: AsyncCollection[Document]) -> None:
        self._place = place
        self._timeouts = timeouts
        self._orders = orders
        self._codec = OrderCodec()

    async def apply(self, docs: Sequence[Mapping[str, Any]]) -> None:
        """As the relay relays orders: those whose events change their wake-up."""
        touched = [
            doc for doc in docs if any(entry["type"] in TOUCHING for entry in doc.get("outbox", ()))
        ]
        if touched:
            likely = {doc["_id"]: likely_version(doc) for doc in touched}
            await self._keep([self._codec.decode(doc) for doc in touched], likely)

    async def keep(self, order: Order) -> None:
        """The process manager found this wake-up due and the order not: write it anew,
        also at the same version."""
        await self._keep([order], {}, again=True)

    async def forget(self, order_id: str) -> None:
        for collection in await self._place.writing():
            await collection.delete_one({"_id": order_id})

    async def _keep(
        self, orders: list[Order], likely: Mapping[str, Likely], *, again: bool = False
    ) -> None:
        # No `database_call` here: the relay tells a failure of the database by its
        # PyMongoError, and relays the document again.
        for collection in await self._place.writing():
            await keep_all(
                collection, orders, self._timeouts, likely, again=again, stored=self._stored
            )

    async def _stored(self, ids: list[Any]) -> dict[Any, int]:
        return await versions(self._orders, ids)

    async def due(self, now: datetime, limit: int) -> list[str]:
        async with database_call("read the deadlines due"):
            found = (
                await self._place.reading.find({"due": {"$lte": now}}, {"_id": 1})
                .sort("due", ASCENDING)
                .limit(limit)
                .to_list()
            )
        return [doc["_id"] for doc in found]

    async def late(self, limit: int) -> Mapping[str, Any]:
        """The orders late now, in the `orders.list-late` shape."""
        async with database_call("read the late orders"):
            found = (
                await self._place.reading.find({"late.deadline": {"$gte": EPOCH}})
                .sort("late.deadline", ASCENDING)
                .limit(limit)
                .to_list()
            )
        return {
            "items": [
                {
                    "order_id": doc["_id"],
                    "version": doc["version"],
                    "status": doc["status"],
                    "kind": doc["late"]["kind"],
                    "deadline": doc["late"]["deadline"],
                    "since": doc["since"],
                    "customer_name": doc["customer_name"],
                    "driver": doc["driver"],
                }
                for doc in found
            ]
        }
