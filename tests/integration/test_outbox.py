"""The outbox: what a failed publish leaves behind goes out later, with the same ids."""

from datetime import timedelta

import pytest

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
