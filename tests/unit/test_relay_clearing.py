"""The relay in memory: what gets recorded, and what gets cleared when."""

import asyncio
from typing import Any

from pymongo.errors import AutoReconnect

from worker.adapters.mongo.outbox.clearing import Clearer
from worker.adapters.mongo.outbox.handoff import Recorded

from .memory_collections import MemoryCollection
from .outbox import World, outbox_doc, running


async def test_an_aggregate_without_read_model_is_recorded_then_cleared_at_a_lull() -> None:
    world = World()
    doc = world.stored(world.customers, outbox_doc(range(1, 3)))
    cleared: list[tuple[Any, int]] = []
    relay = world.relay(lull=0.01)
    relay.on_cleared(
        world.customers.name, lambda doc_id, version: cleared.append((doc_id, version))
    )

    async with running(relay):
        await world.relayed_by(relay, world.customers, doc)
        recorded = [(r["document"], r["version"]) for r in world.relayed.docs.values()]
        await relay.drain(clear=True)

    assert recorded == [(f"c/{doc['_id']}", 2)]
    assert world.outbox(world.customers, doc) == []
    assert world.relayed.docs == {}
    assert cleared == [(doc["_id"], 2)]


async def test_an_aggregate_with_a_read_model_is_recorded_by_its_view_alone() -> None:
    world = World()
    doc = world.stored(world.orders, outbox_doc(range(1, 3)))
    relay = world.relay(lull=0.01)

    async with running(relay):
        await relay.submit(world.orders.as_collection(), doc)
        await relay.drain(clear=True)

    assert world.relayed.docs == {}
    assert world.views.docs[doc["_id"]]["version"] == 2
    assert world.outbox(world.orders, doc) == []


async def test_clearing_waits_for_a_lull_and_says_what_went_out_meanwhile() -> None:
    world = World()
    doc = world.stored(world.customers, outbox_doc(range(1, 3)))
    relay = world.relay(lull=3600)

    async with running(relay):
        await world.relayed_by(relay, world.customers, doc)
        await asyncio.sleep(0.05)

        assert world.outbox(world.customers, doc) == [1, 2]
        assert relay.recorded_version(world.customers.name, doc["_id"]) == 2
        await relay.drain(clear=True)  # lull or not
        assert relay.recorded_version(world.customers.name, doc["_id"]) == 0


async def test_a_full_backlog_of_outboxes_to_clear_is_cleared_without_a_lull() -> None:
    world = World()
    docs = [world.stored(world.customers, outbox_doc(range(1, 2))) for _ in range(5)]
    relay = world.relay(lull=3600, uncleared=3)

    async with running(relay):
        for doc in docs:
            await world.relayed_by(relay, world.customers, doc)
        while sum(not world.outbox(world.customers, doc) for doc in docs) < 3:  # noqa: ASYNC110 - the clearing runs beside
            await asyncio.sleep(0.01)


def clearer(world: World, uncleared: int = 10) -> Clearer:
    async def drop(cleared: list[Recorded]) -> None:
        world.relayed.docs.clear()

    return Clearer(uncleared, 3600, {world.orders.name}, drop)


def recorded(collection: MemoryCollection, doc_id: str, version: int) -> Recorded:
    return Recorded(collection.as_collection(), doc_id, version)


async def test_beyond_uncleared_a_recorded_outbox_is_left_for_the_sweep() -> None:
    world = World()
    stage = clearer(world, uncleared=1)

    stage.hand(recorded(world.orders, "a", 2))
    stage.hand(recorded(world.orders, "b", 2))
    stage.hand(recorded(world.orders, "a", 3))

    assert stage.recorded_version(("o", "a")) == 3
    assert stage.recorded_version(("o", "b")) == 0


async def test_an_outbox_replaced_by_the_next_change_is_no_longer_to_clear() -> None:
    world = World()
    stage = clearer(world)
    stage.hand(recorded(world.orders, "a", 2))

    stage.replaced(("o", "a"), 1)
    assert stage.recorded_version(("o", "a")) == 2
    stage.replaced(("o", "a"), 2)
    assert stage.recorded_version(("o", "a")) == 0
    assert stage.known("o") == {}


async def test_clearing_empties_only_an_outbox_still_at_the_version_recorded() -> None:
    world = World()
    moved = world.stored(world.orders, outbox_doc(range(1, 4)))
    still = world.stored(world.orders, outbox_doc(range(1, 3)))

    await clearer(world).clear(
        [recorded(world.orders, moved["_id"], 2), recorded(world.orders, still["_id"], 2)]
    )

    assert world.outbox(world.orders, moved) == [1, 2, 3]
    assert world.outbox(world.orders, still) == []


async def test_records_are_dropped_only_for_aggregates_without_a_read_model() -> None:
    world = World()
    world.relayed.docs["kept"] = {"_id": "kept"}
    order = world.stored(world.orders, outbox_doc(range(1, 2)))
    stage = clearer(world)

    await stage.clear([recorded(world.orders, order["_id"], 1)])
    assert world.relayed.docs != {}
    customer = world.stored(world.customers, outbox_doc(range(1, 2)))
    await stage.clear([recorded(world.customers, customer["_id"], 1)])
    assert world.relayed.docs == {}


async def test_a_failed_clearing_leaves_the_outbox_for_the_sweep_and_ends_the_drain() -> None:
    world = World()
    doc = world.stored(world.customers, outbox_doc(range(1, 2)))
    relay = world.relay(lull=0.01)

    async with running(relay):
        await world.relayed_by(relay, world.customers, doc)
        world.customers.failure = AutoReconnect("database away")
        await relay.drain(clear=True)
    world.customers.failure = None

    assert world.outbox(world.customers, doc) == [1]
    assert len(world.relayed.docs) == 1
