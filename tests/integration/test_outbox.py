"""The outbox: what a failed publish leaves behind goes out later, with the same ids."""

import asyncio
from datetime import timedelta

import pytest

from worker.adapters.mongo.documents import OrderCodec
from worker.adapters.mongo.outbox import OutboxRelay
from worker.adapters.mongo.store import MongoAggregateStore
from worker.application.settling import afterwards
from worker.application.wire import order_view

from .conftest import Stores, new_order, receipt_for, utc_now

pytestmark = pytest.mark.integration

NO_GRACE = timedelta(0)


async def test_events_whose_publish_failed_stay_in_the_outbox(stores: Stores) -> None:
    order = new_order()
    ids = [event.event_id for event in order.pending_events]
    stores.published.failing = True

    assert await stores.orders.create(order, receipt_for(order, 201))

    doc = await stores.order_doc(order.id)
    assert [entry["id"] for entry in doc["outbox"]] == ids
    assert stores.published.entries == []
    assert await stores.collections.order_views.find_one({"_id": order.id}) is None


async def test_the_sweep_publishes_what_was_left_with_the_same_ids(stores: Stores) -> None:
    order = new_order()
    ids = [event.event_id for event in order.pending_events]
    stores.published.failing = True
    await stores.orders.create(order, receipt_for(order, 201))
    stores.published.failing = False

    found = await stores.relay.sweep(stores.collections.with_outbox, grace=NO_GRACE)

    assert found == 1
    assert [entry["id"] for entry in stores.published.about(order.id)] == ids
    assert stores.published.kinds(order.id) == [("orders.placed", 1), ("orders.confirmed", 2)]
    assert (await stores.order_doc(order.id))["outbox"] == []
    view = await stores.collections.order_views.find_one({"_id": order.id}, {"_id": 0})
    assert view == order_view(order)
    assert await stores.relay.sweep(stores.collections.with_outbox, grace=NO_GRACE) == 0


async def test_the_sweep_leaves_events_younger_than_the_grace(stores: Stores) -> None:
    old, young = new_order(utc_now(ago=timedelta(hours=1))), new_order()
    stores.published.failing = True
    await stores.orders.create(old, receipt_for(old, 201))
    await stores.orders.create(young, receipt_for(young, 201))
    stores.published.failing = False

    found = await stores.relay.sweep(stores.collections.with_outbox, grace=timedelta(minutes=10))

    assert found == 1
    assert [entry["subject"] for entry in stores.published.entries] == [old.id, old.id]
    assert (await stores.order_doc(old.id))["outbox"] == []
    assert len((await stores.order_doc(young.id))["outbox"]) == 2


async def test_a_sweep_while_publishing_still_fails_keeps_the_events(stores: Stores) -> None:
    order = new_order()
    stores.published.failing = True
    await stores.orders.create(order, receipt_for(order, 201))

    await stores.relay.sweep(stores.collections.with_outbox, grace=NO_GRACE)

    assert len((await stores.order_doc(order.id))["outbox"]) == 2
    stores.published.failing = False
    assert await stores.relay.sweep(stores.collections.with_outbox, grace=NO_GRACE) == 1
    assert len(stores.published.about(order.id)) == 2


async def test_an_order_updated_twice_relays_every_version_in_order(stores: Stores) -> None:
    order = new_order()
    await stores.orders.create(order, receipt_for(order, 201))
    order.start_cooking(utc_now())
    await stores.orders.update(order, receipt_for(order))
    order.mark_ready(utc_now())
    await stores.orders.update(order, receipt_for(order))

    assert stores.published.kinds(order.id) == [
        ("orders.placed", 1),
        ("orders.confirmed", 2),
        ("orders.cooking-started", 3),
        ("orders.ready", 4),
    ]
    assert (await stores.order_doc(order.id))["outbox"] == []


async def test_events_left_by_a_failed_update_go_out_before_the_next_ones(stores: Stores) -> None:
    order = new_order()
    await stores.orders.create(order, receipt_for(order, 201))
    order.start_cooking(utc_now())
    cooking_id = order.pending_events[0].event_id
    stores.published.failing = True
    await stores.orders.update(order, receipt_for(order))
    stores.published.failing = False
    order.mark_ready(utc_now())
    await stores.orders.update(order, receipt_for(order))

    entries = stores.published.about(order.id)
    assert [entry["version"] for entry in entries] == [1, 2, 3, 4]
    assert entries[2]["id"] == cooking_id
    assert (await stores.order_doc(order.id))["outbox"] == []
    view = await stores.collections.order_views.find_one({"_id": order.id}, {"_id": 0})
    assert view == order_view(order)


async def test_changes_stored_before_their_relay_publish_each_event_once_in_order(
    stores: Stores,
) -> None:
    """Lanes free before the relay: several versions of one order may wait together."""
    order = new_order()
    async with afterwards():
        await stores.orders.create(order, receipt_for(order, 201))
        order.start_cooking(utc_now())
        await stores.orders.update(order, receipt_for(order))
        order.mark_ready(utc_now())
        await stores.orders.update(order, receipt_for(order))

    assert [version for _, version in stores.published.kinds(order.id)] == [1, 2, 3, 4]
    assert (await stores.order_doc(order.id))["outbox"] == []
    view = await stores.collections.order_views.find_one({"_id": order.id}, {"_id": 0})
    assert view == order_view(order)


async def test_a_document_relayed_again_by_the_same_process_publishes_nothing_twice(
    stores: Stores,
) -> None:
    order = new_order()
    await stores.orders.create(order, receipt_for(order, 201))
    stale = {**await stores.order_doc(order.id)}
    stale["outbox"] = [entry for entry in stores.published.entries if entry["subject"] == order.id]

    await stores.relay.relay(stores.collections.orders, stale)

    assert stores.published.kinds(order.id) == [("orders.placed", 1), ("orders.confirmed", 2)]


async def test_the_sweep_leaves_alone_what_the_relay_is_publishing(stores: Stores) -> None:
    order = new_order()
    stores.published.held = asyncio.Event()
    creating = asyncio.create_task(stores.orders.create(order, receipt_for(order, 201)))
    await asyncio.wait_for(stores.published.reached.wait(), 10)

    found = await stores.relay.sweep(stores.collections.with_outbox, grace=NO_GRACE)
    stores.published.held.set()
    await creating

    assert found == 0
    assert stores.published.kinds(order.id) == [("orders.placed", 1), ("orders.confirmed", 2)]
    assert (await stores.order_doc(order.id))["outbox"] == []


async def test_a_full_backlog_of_outboxes_to_clear_is_cleared_without_a_lull(
    stores: Stores,
) -> None:
    """Clearing waits for a lull in publishing, but never past `uncleared` documents:
    then publishing waits for it instead."""
    relay = OutboxRelay(stores.published, {}, uncleared=3, lull=3600)
    running = asyncio.create_task(relay.run())
    orders = MongoAggregateStore(stores.collections.orders, OrderCodec(), relay)
    placed = [new_order() for _ in range(7)]
    try:
        async with asyncio.timeout(30):
            for order in placed:
                await orders.create(order, receipt_for(order, 201))
            found = await stores.collections.orders.find({}, {"outbox": 1}).to_list()
    finally:
        running.cancel()
    assert len({entry["subject"] for entry in stores.published.entries}) == 7
    assert sum(1 for doc in found if not doc["outbox"]) >= 3


async def test_clearing_outboxes_never_undoes_the_next_change(stores: Stores) -> None:
    """FerretDB rewrites a whole document per update: an outbox cleared while the next
    command writes the same order would bring back the state before that write."""
    relay = OutboxRelay(stores.published, {}, lull=0)
    running = asyncio.create_task(relay.run())
    orders = MongoAggregateStore(stores.collections.orders, OrderCodec(), relay)

    async def whole_life() -> str:
        order = new_order()
        await orders.create(order, receipt_for(order, 201))
        for step in (order.start_cooking, order.mark_ready):
            step(utc_now())
            await orders.update(order, receipt_for(order))
        return order.id

    try:
        ids = await asyncio.gather(*(whole_life() for _ in range(20)))
        await relay.drain()
    finally:
        running.cancel()
    found = await stores.collections.orders.find({"_id": {"$in": ids}}).to_list()
    assert {(doc["status"], doc["version"], len(doc["outbox"])) for doc in found} == {
        ("ready", 4, 0)
    }
