"""The outbox: what a failed publish leaves behind goes out later, with the same ids."""

import asyncio
from datetime import timedelta
from typing import Any, cast

import pytest
from pymongo.asynchronous.collection import AsyncCollection

from pizzeria_contracts import OperationResult
from worker.adapters.mongo.database import Document
from worker.adapters.mongo.documents import OrderCodec
from worker.adapters.mongo.outbox import OutboxRelay, Projection
from worker.adapters.mongo.outbox.handoff import Recorded
from worker.adapters.mongo.readmodels import Fixed
from worker.adapters.mongo.store import MongoAggregateStore
from worker.adapters.mongo.views import HIDDEN as SERVED  # what a query returns
from worker.application.wire import order_view
from worker.domain.orders import Order

from .conftest import CountedFinds, Stores, new_order, receipt_for, stored, utc_now

pytestmark = pytest.mark.integration

NO_GRACE = timedelta(0)


async def test_events_whose_publish_failed_stay_in_the_outbox(stores: Stores) -> None:
    order = new_order()
    ids = [event.event_id for event in order.pending_events]
    stores.published.failing = True

    assert await stored(stores.orders.create(order, receipt_for(order, 201)))

    doc = await stores.order_doc(order.id)
    assert [entry["id"] for entry in doc["outbox"]] == ids
    assert stores.published.entries == []
    assert await stores.collections.order_views.find_one({"_id": order.id}) is None


async def test_the_sweep_publishes_what_was_left_with_the_same_ids(stores: Stores) -> None:
    order = new_order()
    ids = [event.event_id for event in order.pending_events]
    stores.published.failing = True
    await stored(stores.orders.create(order, receipt_for(order, 201)))
    stores.published.failing = False

    found = await stores.relay.sweep(stores.collections.with_outbox, grace=NO_GRACE)

    assert found == 1
    assert [entry["id"] for entry in stores.published.about(order.id)] == ids
    assert stores.published.kinds(order.id) == [("orders.placed", 1), ("orders.confirmed", 2)]
    assert (await stores.order_doc(order.id))["outbox"] == []
    view = await stores.collections.order_views.find_one({"_id": order.id}, SERVED)
    assert view == order_view(order)
    assert await stores.relay.sweep(stores.collections.with_outbox, grace=NO_GRACE) == 0


async def test_the_sweep_leaves_events_younger_than_the_grace(stores: Stores) -> None:
    old, young = new_order(utc_now(ago=timedelta(hours=1))), new_order()
    stores.published.failing = True
    await stored(stores.orders.create(old, receipt_for(old, 201)))
    await stored(stores.orders.create(young, receipt_for(young, 201)))
    stores.published.failing = False

    found = await stores.relay.sweep(stores.collections.with_outbox, grace=timedelta(minutes=10))

    assert found == 1
    assert [entry["subject"] for entry in stores.published.entries] == [old.id, old.id]
    assert (await stores.order_doc(old.id))["outbox"] == []
    assert len((await stores.order_doc(young.id))["outbox"]) == 2


async def test_a_sweep_while_publishing_still_fails_keeps_the_events(stores: Stores) -> None:
    order = new_order()
    stores.published.failing = True
    await stored(stores.orders.create(order, receipt_for(order, 201)))

    await stores.relay.sweep(stores.collections.with_outbox, grace=NO_GRACE)

    assert len((await stores.order_doc(order.id))["outbox"]) == 2
    stores.published.failing = False
    assert await stores.relay.sweep(stores.collections.with_outbox, grace=NO_GRACE) == 1
    assert len(stores.published.about(order.id)) == 2


async def test_an_order_updated_twice_relays_every_version_in_order(stores: Stores) -> None:
    order = new_order()
    await stored(stores.orders.create(order, receipt_for(order, 201)))
    order.start_cooking(utc_now())
    await stored(stores.orders.update(order, receipt_for(order)))
    order.mark_ready(utc_now())
    await stored(stores.orders.update(order, receipt_for(order)))

    assert stores.published.kinds(order.id) == [
        ("orders.placed", 1),
        ("orders.confirmed", 2),
        ("orders.cooking-started", 3),
        ("orders.ready", 4),
    ]
    assert (await stores.order_doc(order.id))["outbox"] == []


async def test_events_left_by_a_failed_update_go_out_before_the_next_ones(stores: Stores) -> None:
    order = new_order()
    await stored(stores.orders.create(order, receipt_for(order, 201)))
    order.start_cooking(utc_now())
    cooking_id = order.pending_events[0].event_id
    stores.published.failing = True
    await stored(stores.orders.update(order, receipt_for(order)))
    stores.published.failing = False
    order.mark_ready(utc_now())
    await stored(stores.orders.update(order, receipt_for(order)))

    entries = stores.published.about(order.id)
    assert [entry["version"] for entry in entries] == [1, 2, 3, 4]
    assert entries[2]["id"] == cooking_id
    assert (await stores.order_doc(order.id))["outbox"] == []
    view = await stores.collections.order_views.find_one({"_id": order.id}, SERVED)
    assert view == order_view(order)


async def test_changes_stored_before_their_relay_publish_each_event_once_in_order(
    stores: Stores,
) -> None:
    """Lanes free before the relay: several versions of one order may wait together."""
    order = new_order()
    placed = await stores.orders.create(order, receipt_for(order, 201))
    assert placed is not None
    order.start_cooking(utc_now())
    cooking = await stores.orders.update(order, receipt_for(order))
    order.mark_ready(utc_now())
    ready = await stores.orders.update(order, receipt_for(order))
    await asyncio.gather(placed, cooking, ready)

    assert [version for _, version in stores.published.kinds(order.id)] == [1, 2, 3, 4]
    assert (await stores.order_doc(order.id))["outbox"] == []
    view = await stores.collections.order_views.find_one({"_id": order.id}, SERVED)
    assert view == order_view(order)


async def test_a_document_relayed_again_by_the_same_process_publishes_nothing_twice(
    stores: Stores,
) -> None:
    order = new_order()
    await stored(stores.orders.create(order, receipt_for(order, 201)))
    stale = {**await stores.order_doc(order.id)}
    stale["outbox"] = [entry for entry in stores.published.entries if entry["subject"] == order.id]

    await stores.relay.relay(stores.collections.orders, stale)

    assert stores.published.kinds(order.id) == [("orders.placed", 1), ("orders.confirmed", 2)]


async def test_the_sweep_leaves_alone_what_the_relay_is_publishing(stores: Stores) -> None:
    order = new_order()
    stores.published.held = asyncio.Event()
    creating = asyncio.create_task(stored(stores.orders.create(order, receipt_for(order, 201))))
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
    """Clearing waits for a lull in publishing, but not once `uncleared` documents wait."""
    relay = relay_for(stores, uncleared=3, lull=3600)
    running = asyncio.create_task(relay.run())
    orders = MongoAggregateStore(stores.collections.orders, OrderCodec(), relay)
    placed = [new_order() for _ in range(7)]
    try:
        async with asyncio.timeout(30):
            for order in placed:
                await stored(orders.create(order, receipt_for(order, 201)))
            await relay.drain()
            cleared: dict[str, object] = {"outbox": []}
            while await stores.collections.orders.count_documents(cleared) < 3:  # noqa: ASYNC110 - polls the database
                await asyncio.sleep(0.05)
    finally:
        running.cancel()
    assert len({entry["subject"] for entry in stores.published.entries}) == 7


def relay_for(stores: Stores, with_view: bool = False, **options: Any) -> OutboxRelay:
    """A relay of its own (another worker's) on the test's collections."""
    return OutboxRelay(
        stores.published,
        projections(stores, with_view),
        stores.collections.outbox_relayed,
        stores.collections.outbox_waiting,
        **options,
    )


def projections(stores: Stores, with_view: bool) -> dict[str, Projection]:
    views = Projection(Fixed(stores.collections.order_views))
    return {stores.collections.orders.name: views} if with_view else {}


async def placed_and_left_uncleared(stores: Stores, with_view: bool = False) -> Order:
    """An order placed through a relay of its own that published and recorded its events,
    then stopped before a lull came to clear them."""
    relay = relay_for(stores, with_view, lull=3600)
    running = asyncio.create_task(relay.run())
    order = new_order()
    try:
        await stored(
            MongoAggregateStore(stores.collections.orders, OrderCodec(), relay).create(
                order, receipt_for(order, 201)
            )
        )
        await relay.drain()
    finally:
        running.cancel()
    return order


@pytest.mark.parametrize("with_view", [False, True], ids=["recorded", "projected"])
async def test_a_recorded_outbox_is_never_published_again_only_cleared(
    stores: Stores, with_view: bool
) -> None:
    """What one relay published and recorded but did not clear (it waited for a lull,
    then its worker stopped), another relay's sweep clears without publishing it. An
    aggregate with a read model is recorded by its view, which the relay writes only
    after publishing; others by a document in `outbox_relayed`."""
    relayed = stores.collections.outbox_relayed
    order = await placed_and_left_uncleared(stores, with_view)
    assert len((await stores.collections.orders.find_one({"_id": order.id}) or {})["outbox"]) == 2
    assert await relayed.count_documents({}) == (0 if with_view else 1)
    published = list(stores.published.entries)

    second = relay_for(stores, with_view, lull=3600)
    running = asyncio.create_task(second.run())
    try:
        found = await second.sweep([stores.collections.orders], grace=NO_GRACE)
        backlog = second.backlog
        await second.drain(clear=True)
    finally:
        running.cancel()

    assert found == 0
    assert backlog.waiting == 0
    assert stores.published.entries == published
    assert (await stores.collections.orders.find_one({"_id": order.id}) or {})["outbox"] == []
    assert await relayed.count_documents({}) == 0


async def test_the_next_change_replaces_an_outbox_known_published(stores: Stores) -> None:
    """Clearing waits for a lull; a command that writes the document before then drops
    what the relay recorded as published instead, so the outbox holds only the new
    events, nothing is published twice, and no clear is needed."""
    relay = relay_for(stores, lull=3600)
    running = asyncio.create_task(relay.run())
    orders = MongoAggregateStore(stores.collections.orders, OrderCodec(), relay)
    order = new_order()
    try:
        await stored(orders.create(order, receipt_for(order, 201)))
        await relay.drain()
        order.start_cooking(utc_now())
        await stored(orders.update(order, receipt_for(order)))
        written = await stores.collections.orders.find_one({"_id": order.id})
        await relay.drain()
    finally:
        running.cancel()
    assert written is not None
    assert [entry["type"] for entry in written["outbox"]] == ["orders.cooking-started"]
    assert stores.published.kinds(order.id) == [
        ("orders.placed", 1),
        ("orders.confirmed", 2),
        ("orders.cooking-started", 3),
    ]


async def test_events_recorded_as_published_go_out_once_after_a_restart(stores: Stores) -> None:
    """A worker that starts learns from the records, in its first sweep, what went out
    (of what is older than the grace): a change stored on top of an uncleared outbox
    publishes only its own events."""
    order = await placed_and_left_uncleared(stores)

    second = relay_for(stores, lull=3600)
    running = asyncio.create_task(second.run())
    try:
        await second.sweep([stores.collections.orders], grace=NO_GRACE)
        order.start_cooking(utc_now())
        await stored(
            MongoAggregateStore(stores.collections.orders, OrderCodec(), second).update(
                order, receipt_for(order)
            )
        )
        await second.drain()
    finally:
        running.cancel()
    assert stores.published.kinds(order.id) == [
        ("orders.placed", 1),
        ("orders.confirmed", 2),
        ("orders.cooking-started", 3),
    ]


async def test_the_backlog_counts_what_waits_to_be_published(stores: Stores) -> None:
    waiting, published = new_order(utc_now(ago=timedelta(minutes=5))), new_order()
    await stored(stores.orders.create(published, receipt_for(published, 201)))
    await stores.relay.drain()
    stores.published.failing = True
    raised = min(event.occurred_at for event in waiting.pending_events)
    await stored(stores.orders.create(waiting, receipt_for(waiting, 201)))

    await stores.relay.sweep([stores.collections.orders], grace=timedelta(hours=1))

    assert stores.relay.backlog.waiting == 1
    oldest = stores.relay.backlog.oldest
    assert oldest is not None
    assert abs(oldest - raised) < timedelta(milliseconds=1)


async def test_clearing_outboxes_never_undoes_the_next_change(stores: Stores) -> None:
    """An outbox cleared while the next command writes the same order must not bring
    back the state before that write (a server that rewrites whole documents would)."""
    relay = relay_for(stores, lull=0)
    running = asyncio.create_task(relay.run())
    orders = MongoAggregateStore(stores.collections.orders, OrderCodec(), relay)

    async def whole_life() -> str:
        order = new_order()
        await stored(orders.create(order, receipt_for(order, 201)))
        for step in (order.start_cooking, order.mark_ready):
            step(utc_now())
            await stored(orders.update(order, receipt_for(order)))
        return order.id

    try:
        ids = await asyncio.gather(*(whole_life() for _ in range(20)))
        await relay.drain(clear=True)
    finally:
        running.cancel()
    found = await stores.collections.orders.find({"_id": {"$in": ids}}).to_list()
    assert {(doc["status"], doc["version"], len(doc["outbox"])) for doc in found} == {
        ("ready", 4, 0)
    }


async def test_a_resent_command_is_answered_only_after_the_relay_of_the_one_it_repeats(
    stores: Stores,
) -> None:
    """The first command's change is stored and its events are on their way; the same
    message again finds its reply in the inbox, and answers only once those events are
    published and the view written, so its sender reads what it was told."""
    order = new_order()
    kept = receipt_for(order, 201)
    stores.published.held = asyncio.Event()
    first = asyncio.ensure_future(stored(stores.orders.create(order, kept)))
    await stores.published.reached.wait()

    async def resent() -> OperationResult | None:
        loaded = await stores.orders.load(order.id, kept.message_id, fresh=True)
        assert loaded is not None
        assert loaded.publishing is not None  # the store says what its reply waits for
        await loaded.publishing
        return loaded.replies.get(kept.message_id)

    again = asyncio.ensure_future(resent())
    await asyncio.sleep(0.3)
    answered_early = again.done()
    stores.published.held.set()
    reply = await again
    await first

    assert not answered_early
    assert reply is not None
    assert (reply.status, (reply.data or {}).get("id")) == (201, order.id)
    assert await stores.collections.order_views.find_one({"_id": order.id}) is not None


def _doc_at(order_id: str, version: int) -> dict[str, object]:
    return {"_id": order_id, "version": version, "outbox": [{"version": version}]}


class MovedMeanwhile:
    """The views' collection, where another worker's relay moves the view to `to`
    between this one's read of its version and its write."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection
        self.to: int | None = None

    def find(self, match: dict[str, Any], *args: Any) -> Any:
        cursor = self.collection.find(match, *args)
        to, self.to = self.to, None
        if to is None:
            return cursor
        collection = self.collection

        class ThenMoved:
            async def to_list(self) -> list[Document]:
                held = await cursor.to_list()
                await collection.update_one({"_id": held[0]["_id"]}, {"$set": {"version": to}})
                return held

        return ThenMoved()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.collection, name)


@pytest.mark.parametrize(("meanwhile", "final"), [(2, 5), (9, 9)])
async def test_a_view_moved_meanwhile_ends_at_the_newest_version(
    stores: Stores, meanwhile: int, final: int
) -> None:
    """Relays of several workers may project one order at once: a move matches the
    version it read, so it never undoes a newer one, and reads again when it missed."""
    moving = MovedMeanwhile(stores.collections.order_views)
    views = Projection(Fixed(cast(AsyncCollection[Document], moving)), shape=lambda doc: dict(doc))
    order_id = new_order().id
    await views.apply([_doc_at(order_id, 1)])

    moving.to = meanwhile
    await views.apply([_doc_at(order_id, 5)])

    view = await stores.collections.order_views.find_one({"_id": order_id})
    assert view is not None
    assert view["version"] == final


async def test_events_another_relay_published_are_not_published_again(stores: Stores) -> None:
    """Another worker placed the order and published its events, and has not cleared
    them yet: a relay here that stores the next change publishes only the new event,
    since the order's view says which versions went out."""
    order = await placed_and_left_uncleared(stores, with_view=True)
    before = list(stores.published.entries)
    relay = relay_for(stores, True)
    running = asyncio.create_task(relay.run())
    try:
        orders = MongoAggregateStore(stores.collections.orders, OrderCodec(), relay)
        loaded = await orders.load(order.id)
        assert loaded is not None
        loaded.aggregate.start_cooking(utc_now())
        await stored(orders.update(loaded.aggregate, receipt_for(loaded.aggregate)))
        await relay.drain()
    finally:
        running.cancel()

    assert stores.published.entries[: len(before)] == before
    assert [(e["type"], e["version"]) for e in stores.published.entries[len(before) :]] == [
        ("orders.cooking-started", 3)
    ]
    view = await stores.collections.order_views.find_one({"_id": order.id})
    assert view is not None
    assert (view["status"], view["version"]) == ("cooking", 3)


async def test_clearing_an_outbox_keeps_the_record_of_a_version_recorded_meanwhile(
    stores: Stores,
) -> None:
    """Another worker may store and record a newer version between this relay's clearing
    of an outbox and its dropping of the records: the newer record stays, so no sweep
    publishes that version's events again."""
    relayed = stores.collections.outbox_relayed
    relay = relay_for(stores, lull=3600)
    running = asyncio.create_task(relay.run())
    order = new_order()
    name = stores.collections.orders.name
    try:
        orders = MongoAggregateStore(stores.collections.orders, OrderCodec(), relay)
        await stored(orders.create(order, receipt_for(order, 201)))
        await relay.drain()
        newer = {"_id": f"{name}/{order.id}/3", "document": f"{name}/{order.id}", "version": 3}
        await relayed.insert_one({**newer, "at": utc_now()})

        await relay._clearer.clear([Recorded(stores.collections.orders, order.id, 2)])
    finally:
        running.cancel()

    assert [record["_id"] for record in await relayed.find({}).to_list()] == [newer["_id"]]
    assert (await stores.collections.orders.find_one({"_id": order.id}) or {})["outbox"] == []


async def test_a_new_order_is_relayed_without_reading_views_and_a_change_with_one(
    stores: Stores,
) -> None:
    """An order this worker has just inserted has no view yet, and no other relay has
    published its events: the relay reads no view for it. The next change reads its
    view once, before publishing, and the projection reuses that read."""
    views = CountedFinds(stores.collections.order_views)
    relay = OutboxRelay(
        stores.published,
        {stores.collections.orders.name: Projection(Fixed(cast(AsyncCollection[Document], views)))},
        stores.collections.outbox_relayed,
        stores.collections.outbox_waiting,
    )
    running = asyncio.create_task(relay.run())
    order = new_order()
    try:
        orders = MongoAggregateStore(stores.collections.orders, OrderCodec(), relay)
        await stored(orders.create(order, receipt_for(order, 201)))
        await relay.drain()
        placed = views.finds
        order.start_cooking(utc_now())
        await stored(orders.update(order, receipt_for(order)))
        await relay.drain()
    finally:
        running.cancel()

    assert (placed, views.finds) == (0, 1)
    assert stores.published.kinds(order.id)[-1] == ("orders.cooking-started", 3)


async def test_what_failed_is_marked_and_relayed_again_by_the_retry_pass(stores: Stores) -> None:
    """A failure is marked in `outbox_waiting`; the periodic pass relays what is marked,
    with the same ids, and drops the mark; it reads nothing else."""
    order, other = new_order(), new_order()
    ids = [event.event_id for event in order.pending_events]
    stores.published.failing = True
    await stored(stores.orders.create(order, receipt_for(order, 201)))
    await stores.relay.drain()
    stores.published.failing = False
    await stored(stores.orders.create(other, receipt_for(other, 201)))

    assert await stores.relay.retry_failed(stores.collections.with_outbox, timedelta(hours=1)) == 0
    (mark,) = await stores.collections.outbox_waiting.find({}).to_list()
    assert (mark["collection"], mark["doc_id"]) == (stores.collections.orders.name, order.id)
    assert stores.relay.backlog.waiting == 1
    assert stores.relay.backlog.oldest is not None

    found = await stores.relay.retry_failed(stores.collections.with_outbox, NO_GRACE)

    assert found == 1
    assert [entry["id"] for entry in stores.published.about(order.id)] == ids
    assert await stores.collections.outbox_waiting.count_documents({}) == 0
    assert stores.relay.backlog.waiting == 0
    assert (await stores.order_doc(order.id))["outbox"] == []


async def test_a_mark_left_by_a_relay_that_died_is_taken_by_another(stores: Stores) -> None:
    """The relay that failed is gone (its worker died); a relay of another worker finds
    its mark and publishes the events, once."""
    waiting = stores.collections.outbox_waiting
    first = relay_for(stores, True)
    running = asyncio.create_task(first.run())
    order = new_order()
    try:
        stores.published.failing = True
        orders = MongoAggregateStore(stores.collections.orders, OrderCodec(), first)
        await stored(orders.create(order, receipt_for(order, 201)))
        await first.drain()
        await first.retry_failed([stores.collections.orders], timedelta(hours=1))  # marks only
    finally:
        running.cancel()
    stores.published.failing = False

    found = await stores.relay.retry_failed(stores.collections.with_outbox, NO_GRACE)

    assert found == 1
    assert stores.published.kinds(order.id) == [("orders.placed", 1), ("orders.confirmed", 2)]
    assert await waiting.count_documents({}) == 0
    assert await stores.relay.retry_failed(stores.collections.with_outbox, NO_GRACE) == 0
    assert len(stores.published.about(order.id)) == 2


async def test_a_command_that_comes_back_after_its_change_relays_what_was_left(
    stores: Stores,
) -> None:
    """A worker stored a change, failed to publish its events and died before it could
    mark them (its outbox still holds them); the command comes back to another worker,
    which finds its reply in the inbox and publishes the events before it answers."""
    order = new_order()
    await stored(stores.orders.create(order, receipt_for(order, 201)))
    died = relay_for(stores, True)
    running = asyncio.create_task(died.run())
    try:
        theirs = MongoAggregateStore(stores.collections.orders, OrderCodec(), died)
        loaded = await theirs.load(order.id)
        assert loaded is not None
        loaded.aggregate.start_cooking(utc_now())
        cooking = receipt_for(loaded.aggregate)
        stores.published.failing = True
        await stored(theirs.update(loaded.aggregate, cooking))
    finally:
        running.cancel()
        stores.published.failing = False
    assert stores.published.kinds(order.id) == [("orders.placed", 1), ("orders.confirmed", 2)]

    mine = MongoAggregateStore(stores.collections.orders, OrderCodec(), stores.relay)
    again = await mine.load(order.id, cooking.message_id)
    assert again is not None
    assert again.publishing is not None  # its reply waits for the leftovers
    await again.publishing

    assert cooking.message_id in again.replies
    assert stores.published.kinds(order.id)[-1] == ("orders.cooking-started", 3)
    view = await stores.collections.order_views.find_one({"_id": order.id})
    assert view is not None
    assert (view["status"], view["version"]) == ("cooking", 3)
