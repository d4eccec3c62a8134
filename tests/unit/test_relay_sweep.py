"""The relay in memory: what the start-up sweep finds after a crash."""

import asyncio
from datetime import timedelta

import pytest

from .memory_collections import MemoryCollection
from .outbox import NO_GRACE, World, outbox_doc, running


@pytest.mark.parametrize("projected", [False, True], ids=["recorded", "projected"])
async def test_a_recorded_outbox_left_uncleared_is_cleared_not_published_again(
    projected: bool,
) -> None:
    world = World()
    collection = world.orders if projected else world.customers
    doc = world.stored(collection, outbox_doc(range(1, 3), ago=timedelta(hours=1)))
    if projected:
        world.views.docs[doc["_id"]] = {"_id": doc["_id"], "version": 2}
    else:
        key = f"{collection.name}/{doc['_id']}"
        world.relayed.docs[f"{key}/2"] = {"_id": f"{key}/2", "document": key, "version": 2}
    relay = world.relay(lull=3600)

    async with running(relay):
        found = await relay.sweep([collection.as_collection()], NO_GRACE)
        assert relay.recorded_version(collection.name, doc["_id"]) == 2
        await relay.drain(clear=True)

    assert found == 0
    assert relay.backlog.waiting == 0
    assert world.publisher.published == []
    assert world.outbox(collection, doc) == []
    assert world.relayed.docs == {}


async def test_a_late_unpublished_outbox_is_published_and_a_young_one_counted() -> None:
    world = World()
    late = world.stored(world.orders, outbox_doc(range(1, 3), ago=timedelta(hours=1)))
    young = world.stored(world.orders, outbox_doc(range(1, 2)))
    relay = world.relay(lull=0.01)

    async with running(relay):
        found = await relay.sweep([world.orders.as_collection()], timedelta(minutes=10))
        await relay.drain(clear=True)

    assert found == 1
    assert world.publisher.versions(late["_id"]) == [1, 2]
    assert world.publisher.versions(young["_id"]) == []
    assert relay.backlog.waiting == 2
    assert relay.backlog.oldest == late["outbox"][0]["at"]
    assert world.outbox(world.orders, late) == []


async def test_an_outbox_recorded_at_an_older_version_is_published_from_the_start() -> None:
    """A newer version was stored over a recorded one: nothing of it says what went
    out, so all that waits goes (consumers drop what they saw by its id)."""
    world = World()
    doc = world.stored(world.customers, outbox_doc(range(1, 4), ago=timedelta(hours=1)))
    key = f"c/{doc['_id']}"
    world.relayed.docs[f"{key}/2"] = {"_id": f"{key}/2", "document": key, "version": 2}
    relay = world.relay(lull=0.01)

    async with running(relay):
        assert await relay.sweep([world.customers.as_collection()], NO_GRACE) == 1
        await relay.drain()

    assert world.publisher.versions(doc["_id"]) == [1, 2, 3]


async def test_the_sweep_leaves_alone_what_the_relay_is_publishing() -> None:
    world = World()
    doc = world.stored(world.customers, outbox_doc(range(1, 3)))
    world.publisher.held.clear()
    relay = world.relay(lull=0.01)

    async with running(relay):
        published = relay.submit(world.customers.as_collection(), doc)
        await asyncio.sleep(0.01)
        found = await relay.sweep([world.customers.as_collection()], NO_GRACE)
        world.publisher.held.set()
        await published

    assert found == 0
    assert world.publisher.versions(doc["_id"]) == [1, 2]


async def test_the_sweep_reads_no_record_for_what_is_not_late(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World()
    world.stored(world.customers, outbox_doc(range(1, 2)))
    looked_up: list[object] = []
    original = MemoryCollection.find

    def find(self: MemoryCollection, query: dict[str, object], projection: object = None) -> object:
        if self is world.relayed:
            looked_up.append(query)
        return original(self, query, projection)

    monkeypatch.setattr(MemoryCollection, "find", find)
    relay = world.relay()

    async with running(relay):
        assert await relay.sweep([world.customers.as_collection()], timedelta(hours=1)) == 0

    assert looked_up == []
    assert relay.backlog.waiting == 1
