"""The MongoDB stores against a real MongoDB-protocol server, with a real outbox relay."""

import asyncio
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import WriteError

from pizzeria_contracts import OperationResult
from worker.adapters.mongo.batch import UpdateBatcher, VersionedUpdate
from worker.adapters.mongo.database import INDEXES, Document, create_indexes
from worker.adapters.mongo.documents import CustomerCodec, OrderCodec
from worker.adapters.mongo.store import MongoAggregateStore, MongoCustomerStore
from worker.adapters.mongo.views import HIDDEN as SERVED  # what a query returns
from worker.application.errors import ConcurrencyError
from worker.application.wire import event_body, order_view
from worker.domain.customers import Customer
from worker.domain.orders import OrderStatus

from .conftest import Stores, new_order, random_phone, receipt_for, stored, utc_now

pytestmark = pytest.mark.integration


def customer(phone: str) -> Customer:
    return Customer.register(
        uuid.uuid4().hex, "Maria Rossi", phone, "2 Via Po", "maria@example.com", utc_now()
    )


async def test_a_created_order_loads_back_with_every_field(stores: Stores) -> None:
    order = new_order()
    expected = dict(vars(order), pending_events=[])

    assert await stored(stores.orders.create(order, receipt_for(order, 201)))

    loaded = await stores.orders.load(order.id)
    assert loaded is not None
    assert vars(loaded.aggregate) == expected
    restored = loaded.aggregate
    assert isinstance(restored.total_amount, Decimal)
    assert restored.total_amount == Decimal("43.77")
    assert [item.unit_price for item in restored.items] == [Decimal("25.78"), Decimal("17.99")]
    assert restored.created_at is not None
    assert restored.created_at.utcoffset() is not None
    assert restored.updated_at == order.updated_at


async def test_loading_an_unknown_order_finds_nothing(stores: Stores) -> None:
    assert await stores.orders.load(uuid.uuid4().hex) is None


async def test_creating_an_order_whose_id_exists_returns_false(stores: Stores) -> None:
    order = new_order()
    await stored(stores.orders.create(order, receipt_for(order, 201)))
    twin = new_order()
    twin.id = order.id

    assert await stored(stores.orders.create(twin, receipt_for(twin, 201))) is False

    loaded = await stores.orders.load(order.id)
    assert loaded is not None
    assert loaded.aggregate.customer == order.customer


async def test_orders_created_at_once_each_learn_their_own_fate(stores: Stores) -> None:
    """Creates in flight together go as few `insert` commands (more than one batch
    here), and each caller learns whether its own document was stored."""
    orders = [new_order() for _ in range(120)]
    twins = [new_order() for _ in range(10)]
    for twin, order in zip(twins, orders, strict=False):
        twin.id = order.id
    receipts = [receipt_for(order, 201) for order in orders + twins]

    created = await asyncio.gather(
        *(stored(stores.orders.create(o, r)) for o, r in zip(orders + twins, receipts, strict=True))
    )

    assert created == [True] * len(orders) + [False] * len(twins)
    assert await stores.collections.orders.count_documents({}) == len(orders)
    for order in orders[:10]:
        assert (await stores.order_doc(order.id))["customer_id"] == order.customer.customer_id
    relayed = {entry["subject"] for entry in stores.published.entries}
    assert relayed == {order.id for order in orders}
    views = await stores.collections.order_views.count_documents({})
    assert views == len(orders)
    await stores.relay.drain()
    docs = await stores.collections.orders.find({}, {"outbox": 1}).to_list()
    assert [doc for doc in docs if doc["outbox"]] == []


async def test_orders_and_customers_read_at_once_each_get_their_own(stores: Stores) -> None:
    """Reads in flight together, sent as one `find` with `$in` (test_batch counts them)."""
    orders = [new_order() for _ in range(5)]
    for order in orders:
        await stored(stores.orders.create(order, receipt_for(order, 201)))
    customers = [customer(random_phone()) for _ in range(3)]
    for each in customers:
        await stored(stores.customers.create(each, None))
    ids = [order.id for order in orders]
    phones = [each.phone for each in customers]

    reader = MongoCustomerStore(stores.collections.customers, CustomerCodec(), stores.relay)
    loaded = await asyncio.gather(
        *(stores.orders.load(i, fresh=True) for i in [*ids, "unknown", ids[0]])
    )
    found = await asyncio.gather(*(reader.find_by_phone(p) for p in [*phones, "+1"]))

    assert [each.aggregate.id if each else None for each in loaded] == [*ids, None, ids[0]]
    assert [vars(each.aggregate) for each in loaded[:5] if each] == [
        dict(vars(order), pending_events=[]) for order in orders
    ]
    assert [each.aggregate.id if each else None for each in found] == [
        *(each.id for each in customers),
        None,
    ]


async def test_updating_from_a_stale_version_raises_and_stores_nothing(stores: Stores) -> None:
    order = new_order()
    await stored(stores.orders.create(order, receipt_for(order, 201)))
    first, second = await stores.orders.load(order.id), await stores.orders.load(order.id)
    assert first is not None
    assert second is not None
    first.aggregate.start_cooking(utc_now())
    await stored(stores.orders.update(first.aggregate, receipt_for(first.aggregate)))
    second.aggregate.cancel("changed my mind", utc_now())
    stale = receipt_for(second.aggregate)

    with pytest.raises(ConcurrencyError):
        await stored(stores.orders.update(second.aggregate, stale))

    doc = await stores.order_doc(order.id)
    assert (doc["status"], doc["version"], doc["cancel_reason"]) == ("cooking", 3, None)
    assert stale.message_id not in [entry["message_id"] for entry in doc["inbox"]]
    assert "orders.cancelled" not in [kind for kind, _ in stores.published.kinds(order.id)]
    assert stale.message_id not in await replies_of(stores, order.id)


async def replies_of(
    stores: Stores, order_id: str, message_id: str = ""
) -> Mapping[str, OperationResult]:
    """The replies stored with an order's changes, as a command with this id reads them."""
    loaded = await stores.orders.load(order_id, message_id, fresh=True)
    assert loaded is not None
    return loaded.replies


async def test_the_reply_stored_with_a_change_is_found_again(stores: Stores) -> None:
    order = new_order()
    placed = receipt_for(order, 201)
    await stored(stores.orders.create(order, placed))
    order.start_cooking(utc_now())
    cooking = receipt_for(order)
    await stored(stores.orders.update(order, cooking))

    replies = await replies_of(stores, order.id, placed.message_id)
    assert placed.result is not None
    assert replies[placed.message_id].model_dump(mode="json") == placed.result.model_dump(
        mode="json"
    )
    replies = await replies_of(stores, order.id, cooking.message_id)
    found = replies[cooking.message_id]
    assert (found.status, found.data["status"]) == (200, "cooking")
    assert uuid.uuid4().hex not in replies
    loaded = await stores.orders.load(order.id, fresh=True)
    assert loaded is not None
    assert not loaded.remembered
    assert set(loaded.replies) == {placed.message_id, cooking.message_id}
    assert loaded.replies[placed.message_id].status == 201
    repeated = await stores.orders.load(order.id, placed.message_id)
    assert repeated is not None
    assert not repeated.remembered, "its reply is read, not recalled"
    assert repeated.replies[placed.message_id].status == 201
    remembered = await stores.orders.load(order.id, uuid.uuid4().hex)
    assert remembered is not None
    assert remembered.remembered
    assert remembered.aggregate.version == order.version
    assert not remembered.replies


async def test_a_store_that_remembers_a_document_another_wrote_over_reads_it_again(
    stores: Stores,
) -> None:
    order = new_order()
    await stored(stores.orders.create(order, receipt_for(order, 201)))
    other = MongoAggregateStore(stores.collections.orders, OrderCodec(), stores.relay)
    theirs = await other.load(order.id)
    assert theirs is not None
    assert not theirs.remembered
    theirs.aggregate.start_cooking(utc_now())
    await stored(other.update(theirs.aggregate, receipt_for(theirs.aggregate)))

    mine = await stores.orders.load(order.id)
    assert mine is not None
    assert mine.remembered
    assert mine.aggregate.status == OrderStatus.CONFIRMED
    mine.aggregate.cancel("changed my mind", utc_now())
    with pytest.raises(ConcurrencyError):
        await stored(stores.orders.update(mine.aggregate, receipt_for(mine.aggregate)))
    again = await stores.orders.load(order.id)
    assert again is not None
    assert not again.remembered
    assert (again.aggregate.status, again.aggregate.version) == (OrderStatus.COOKING, 3)


async def test_events_are_relayed_in_version_order_then_leave_the_outbox(stores: Stores) -> None:
    order = new_order()
    raised = list(order.pending_events)
    placed = receipt_for(order, 201)
    await stored(stores.orders.create(order, placed))
    order.start_cooking(utc_now())
    raised += order.pending_events
    cooking = receipt_for(order)
    await stored(stores.orders.update(order, cooking))

    entries = stores.published.about(order.id)
    assert [(e["id"], e["type"], e["version"]) for e in entries] == [
        (event.event_id, event.type, event.version) for event in raised
    ]
    correlations = [placed.correlation_id] * 2 + [cooking.correlation_id]
    assert [entry["correlation_id"] for entry in entries] == correlations
    assert [entry["body"] for entry in entries] == [event_body(event) for event in raised]
    assert entries[0]["body"]["order_id"] == order.id
    assert entries[0]["body"]["total_amount"] == "43.77"
    assert (await stores.order_doc(order.id))["outbox"] == []


async def test_the_read_model_mirrors_the_order_after_each_change(stores: Stores) -> None:
    views = stores.collections.order_views
    order = new_order()
    await stored(stores.orders.create(order, receipt_for(order, 201)))
    assert await views.find_one({"_id": order.id}, SERVED) == order_view(order)

    order.start_cooking(utc_now())
    await stored(stores.orders.update(order, receipt_for(order)))

    assert await views.find_one({"_id": order.id}, SERVED) == order_view(order)


async def test_an_older_projection_never_overwrites_a_newer_one(stores: Stores) -> None:
    views = stores.collections.order_views
    order = new_order()
    await stored(stores.orders.create(order, receipt_for(order, 201)))
    created = await stores.order_doc(order.id)
    first_events = stores.published.about(order.id)
    order.start_cooking(utc_now())
    order.mark_ready(utc_now())
    await stored(stores.orders.update(order, receipt_for(order)))

    await stores.relay.relay(stores.collections.orders, dict(created, outbox=first_events))

    view = await views.find_one({"_id": order.id}, SERVED)
    assert view == order_view(order)
    assert (view["status"], view["version"]) == ("ready", 4)


async def test_a_phone_belongs_to_one_customer_only(stores: Stores) -> None:
    phone = random_phone()
    first, second = customer(phone), customer(phone)

    assert await stored(stores.customers.create(first, None)) is True
    assert await stored(stores.customers.create(second, None)) is False

    found = await stores.customers.find_by_phone(phone)
    assert found is not None
    kept = found.aggregate
    assert (kept.id, kept.name, kept.phone, kept.version) == (first.id, first.name, phone, 1)
    assert await stores.customers.find_by_phone(random_phone()) is None
    registered = stores.published.about(first.id)
    assert [entry["type"] for entry in registered] == ["customers.registered"]
    assert stores.published.about(second.id) == []


async def test_create_indexes_declares_every_index(database: AsyncDatabase[Document]) -> None:
    await create_indexes(database)
    await create_indexes(database)  # idempotent

    for name, models in INDEXES.items():
        listed = {index["name"]: index async for index in await database[name].list_indexes()}
        for model in models:
            wanted = model.document
            assert wanted["name"] in listed, f"{name}.{wanted['name']}"
            index = listed[wanted["name"]]
            assert dict(index["key"]) == dict(wanted["key"])
            assert bool(index.get("unique")) == bool(wanted.get("unique"))


def pushing(write: str, status: str) -> dict[str, Any]:
    """A change that sets the status and keeps a reply marked with `write`."""
    entry = {"message_id": uuid.uuid4().hex, "result": {"status": 200}, "write": write}
    return {"$set": {"status": status}, "$inc": {"version": 1}, "$push": {"inbox": entry}}


async def test_updates_in_flight_together_each_learn_whether_they_were_applied(
    stores: Stores,
) -> None:
    """One `update` command for them all; when fewer matched, their tokens tell which."""
    orders = stores.collections.orders
    await orders.insert_many([{"_id": i, "version": 3, "inbox": [], "n": "x"} for i in "abcd"])
    batcher = UpdateBatcher(orders)
    updates = [
        VersionedUpdate("a", 3, pushing("a1", "cooking"), "a1"),
        VersionedUpdate("b", 2, pushing("b1", "cooking"), "b1"),  # b is at 3 already
        VersionedUpdate("c", 3, pushing("c1", "cooking"), "c1"),
        VersionedUpdate("c", 3, pushing("c2", "cancelled"), "c2"),  # the same version again
        VersionedUpdate("d", 3, {**pushing("d1", "cooking"), "$inc": {"n": 1}}, "d1"),  # refused
    ]

    applied = await asyncio.gather(*(batcher.update(u) for u in updates), return_exceptions=True)

    assert applied[:2] == [True, False]
    assert sorted(applied[2:4], key=str) == [False, True], "one of two writes over one version"
    assert isinstance(applied[4], WriteError)
    docs = {doc["_id"]: doc for doc in await orders.find({}).to_list()}
    won = "c1" if applied[2] is True else "c2"
    assert {i: (d["version"], [e["write"] for e in d["inbox"]]) for i, d in docs.items()} == {
        "a": (4, ["a1"]),
        "b": (3, []),
        "c": (4, [won]),
        "d": (3, []),
    }


async def test_a_store_forgets_the_events_the_relay_cleared(stores: Stores) -> None:
    """The relay empties a published outbox later, without a new version: the store's
    memory of that version drops its events too, so the next write does not hand them
    to the relay again."""
    order = new_order()
    await stored(stores.orders.create(order, receipt_for(order, 201)))
    remembered = await stores.orders.load(order.id, uuid.uuid4().hex)
    assert remembered is not None
    assert remembered.remembered
    before = stores.orders._memory.at(order.id, order.version)
    assert before is not None
    assert before.doc["outbox"]

    await stores.relay.drain(clear=True)

    kept = stores.orders._memory.at(order.id, order.version)
    assert kept is not None
    assert kept.doc["outbox"] == []
    assert (await stores.order_doc(order.id))["outbox"] == []
