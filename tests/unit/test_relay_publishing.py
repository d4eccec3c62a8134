"""The relay's first stages, in memory: what is queued, and what gets published and
projected."""

import asyncio
from typing import Any

from pymongo.errors import AutoReconnect

from worker.adapters.mongo.outbox.handoff import Pending
from worker.adapters.mongo.outbox.publishing import Publisher
from worker.adapters.mongo.outbox.submissions import Submissions, newest

from .memory_collections import Document, MemoryCollection
from .outbox import World, outbox_doc


async def queued(*docs: tuple[MemoryCollection, Document]) -> list[Pending]:
    submissions = Submissions()
    for collection, doc in docs:
        submissions.submit(collection.as_collection(), doc, inserted=False)
    return await submissions.next_batch(len(docs))


def publisher(world: World, recorded: int = 0) -> Publisher:
    return Publisher(world.publisher, world.projections(), lambda key: recorded)


async def test_a_batch_is_published_in_version_order_then_projected() -> None:
    world = World()
    order, customer = outbox_doc(range(1, 3)), outbox_doc(range(1, 4))

    done = await publisher(world).flush(
        await queued((world.orders, order), (world.customers, customer))
    )

    assert len(done) == 2
    assert world.publisher.versions(order["_id"]) == [1, 2]
    assert world.publisher.versions(customer["_id"]) == [1, 2, 3]
    assert world.views.docs[order["_id"]]["version"] == 2
    assert customer["_id"] not in world.views.docs


async def test_what_is_recorded_or_shown_by_a_view_is_not_published_again() -> None:
    world = World()
    order, customer = outbox_doc(range(1, 5)), outbox_doc(range(1, 4))
    world.views.docs[order["_id"]] = {"_id": order["_id"], "version": 3}

    await publisher(world, recorded=2).flush(
        await queued((world.orders, order), (world.customers, customer))
    )

    assert world.publisher.versions(order["_id"]) == [4]
    assert world.publisher.versions(customer["_id"]) == [3]
    assert world.views.docs[order["_id"]]["version"] == 4


async def test_events_seen_confirmed_are_not_published_twice() -> None:
    world = World()
    stages = publisher(world)
    doc = outbox_doc(range(1, 3))

    await stages.flush(await queued((world.customers, doc)))
    await stages.flush(await queued((world.customers, doc)))

    assert world.publisher.versions(doc["_id"]) == [1, 2]


async def test_a_failed_publish_is_left_out_of_what_was_done_and_not_projected() -> None:
    world = World()
    world.publisher.failing = True

    done = await publisher(world).flush(await queued((world.orders, outbox_doc(range(1, 3)))))

    assert done == []
    assert world.views.docs == {}


async def test_a_read_model_not_written_leaves_its_documents_to_be_relayed_again() -> None:
    world = World()
    world.views.failure = AutoReconnect("views away")
    order, customer = outbox_doc(range(1, 2)), outbox_doc(range(1, 2))

    done = await publisher(world).flush(
        await queued((world.orders, order), (world.customers, customer))
    )

    assert [pending.doc["_id"] for pending in done] == [customer["_id"]]
    assert world.publisher.versions(order["_id"]) == [1]  # views unread: all that waits


async def test_a_batch_takes_the_latest_version_of_each_document() -> None:
    world = World()
    first = outbox_doc(range(1, 3))
    second: dict[str, Any] = {**first, "version": 3, "outbox": [*first["outbox"], {"version": 3}]}
    other = outbox_doc(range(1, 2))

    latest = newest(
        await queued((world.orders, second), (world.orders, first), (world.orders, other))
    )

    assert [pending.doc["version"] for pending in latest] == [3, 1]


async def test_a_submitted_document_is_on_its_way_until_published_and_relaying_until_finished() -> (
    None
):
    world = World()
    submissions = Submissions()
    doc = outbox_doc(range(1, 2))
    key = (world.orders.name, doc["_id"])

    published = submissions.submit(world.orders.as_collection(), doc, inserted=False)
    (pending,) = await submissions.next_batch(10)
    assert submissions.on_its_way(key) is published
    pending.arrived()
    await asyncio.sleep(0)  # done callbacks run in the next turn

    assert submissions.on_its_way(key) is None
    assert submissions.relaying(key)
    pending.finish()
    await submissions.finished()
    assert not submissions.relaying(key)


async def test_a_document_without_events_is_done_at_once_and_never_queued() -> None:
    world = World()
    submissions = Submissions()

    done = submissions.submit(
        world.orders.as_collection(), {"_id": "x", "outbox": []}, inserted=False
    )

    assert done.done()
    assert not submissions.relaying((world.orders.name, "x"))
    await submissions.finished()
