"""The relay in memory: what fails to go out is marked, and the periodic pass relays it."""

from datetime import timedelta

from pymongo.errors import AutoReconnect

from .outbox import NO_GRACE, World, outbox_doc, running


async def test_a_failed_publish_is_marked_before_its_future_is_done_and_nothing_recorded() -> None:
    world = World()
    doc = world.stored(world.customers, outbox_doc(range(1, 3)))
    world.publisher.failing = True
    relay = world.relay(lull=0.01)

    async with running(relay):
        await relay.submit(world.customers.as_collection(), doc)
        (mark,) = world.waiting.docs.values()
        await relay.drain(clear=True)

    assert (mark["collection"], mark["doc_id"]) == (world.customers.name, doc["_id"])
    assert world.relayed.docs == {}
    assert world.outbox(world.customers, doc) == [1, 2]


async def test_the_periodic_pass_relays_what_failed_with_its_ids_and_drops_the_mark() -> None:
    world = World()
    doc = world.stored(world.orders, outbox_doc(range(1, 3)))
    ids = [entry["id"] for entry in doc["outbox"]]
    world.publisher.failing = True
    relay = world.relay(lull=0.01)

    async with running(relay):
        await world.relayed_by(relay, world.orders, doc)
        assert await relay.retry_failed([world.orders.as_collection()], timedelta(hours=1)) == 0
        assert relay.backlog.waiting == 1
        world.publisher.failing = False

        assert await relay.retry_failed([world.orders.as_collection()], NO_GRACE) == 1
        await relay.drain(clear=True)

    assert [entry["id"] for entry in world.publisher.published] == ids
    assert world.waiting.docs == {}
    assert relay.backlog.waiting == 0
    assert world.outbox(world.orders, doc) == []


async def test_a_failure_that_cannot_be_marked_is_kept_and_marked_at_the_next_pass() -> None:
    world = World()
    doc = world.stored(world.customers, outbox_doc(range(1, 2)))
    world.publisher.failing = True
    world.waiting.failure = AutoReconnect("database away")
    relay = world.relay()

    async with running(relay):
        await relay.submit(world.customers.as_collection(), doc)
        assert world.waiting.docs == {}
        world.waiting.failure = None
        await relay.retry_failed([world.customers.as_collection()], grace=timedelta(hours=1))

    (mark,) = world.waiting.docs.values()
    assert mark["doc_id"] == doc["_id"]
    assert relay.backlog.waiting == 1


async def test_a_mark_given_a_new_token_by_a_failure_since_is_kept() -> None:
    world = World()
    doc = world.stored(world.customers, outbox_doc(range(1, 2)))
    world.publisher.failing = True
    relay = world.relay()

    async with running(relay):
        await world.relayed_by(relay, world.customers, doc)
        assert await relay.retry_failed([world.customers.as_collection()], NO_GRACE) == 1

    assert len(world.waiting.docs) == 1
    assert world.publisher.published == []
