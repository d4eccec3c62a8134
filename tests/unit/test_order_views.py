"""Single orders are read in batches: the queries in flight share one `$in`."""

import asyncio
from typing import Any, cast

import pytest
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import AutoReconnect

from worker.adapters.mongo.views import BATCH, READS, MongoOrderViews
from worker.application.errors import DatabaseUnavailableError

Document = dict[str, Any]


class HeldViews:
    """A views collection in memory that records each read and holds it while `open` is clear."""

    def __init__(self, *ids: str) -> None:
        self.docs = {i: {"_id": i, "id": i, "status": "ready", "active": True} for i in ids}
        self.reads: list[list[str]] = []
        self.open = asyncio.Event()
        self.open.set()
        self.failure: Exception | None = None

    def find(self, query: Document, projection: Document) -> "HeldViews.Cursor":
        assert projection == {"active": 0}
        match = query["_id"]
        ids = match["$in"] if isinstance(match, dict) else [match]
        assert len(ids) > 1 or not isinstance(match, dict), "one id is matched by equality"
        self.reads.append(ids)
        return HeldViews.Cursor(self, ids)

    class Cursor:
        def __init__(self, views: "HeldViews", ids: list[str]) -> None:
            self.views, self.ids = views, ids

        async def to_list(self) -> list[Document]:
            await self.views.open.wait()
            if self.views.failure is not None:
                raise self.views.failure
            found = (self.views.docs.get(i) for i in self.ids)
            return [{k: v for k, v in doc.items() if k != "active"} for doc in found if doc]


def views_of(collection: HeldViews) -> MongoOrderViews:
    return MongoOrderViews(cast(AsyncCollection[Document], collection))


async def turns(count: int) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


def shown(order_id: str) -> Document:
    return {"id": order_id, "status": "ready"}


async def test_queries_of_one_moment_share_one_read_and_each_gets_its_own_order() -> None:
    collection = HeldViews("a", "b")
    views = views_of(collection)

    found = await asyncio.gather(*(views.get(i) for i in ["a", "b", "a", "nope"]))

    assert found == [shown("a"), shown("b"), shown("a"), None]
    assert [sorted(ids) for ids in collection.reads] == [["a", "b", "nope"]]


async def test_one_query_at_a_time_is_read_at_once() -> None:
    collection = HeldViews("a")
    views = views_of(collection)

    assert await views.get("a") == shown("a")
    assert await views.get("a") == shown("a")
    assert collection.reads == [["a"], ["a"]]


async def test_queries_arriving_while_reads_are_on_their_way_go_together_in_the_next() -> None:
    busy = [f"busy-{n}" for n in range(READS)]
    collection = HeldViews(*busy, "c", "d")
    views = views_of(collection)
    collection.open.clear()
    first = []
    for order_id in busy:  # each takes a read of its own, on its way
        first.append(asyncio.ensure_future(views.get(order_id)))
        await turns(3)
    later = [asyncio.ensure_future(views.get(i)) for i in "cdc"]
    await turns(3)

    collection.open.set()
    assert await asyncio.gather(*first, *later) == [shown(i) for i in [*busy, "c", "d", "c"]]
    assert [sorted(ids) for ids in collection.reads] == [*([i] for i in busy), ["c", "d"]]


async def test_more_orders_than_a_read_holds_are_read_in_several() -> None:
    ids = [f"order-{n}" for n in range(BATCH * 2 + 1)]
    collection = HeldViews(*ids)
    views = views_of(collection)

    found = await asyncio.gather(*(views.get(i) for i in ids))

    assert found == [shown(i) for i in ids]
    assert sorted(len(read) for read in collection.reads) == [1, BATCH, BATCH]


async def test_a_failed_read_fails_every_query_waiting_for_it() -> None:
    collection = HeldViews("a", "b")
    collection.failure = AutoReconnect("connection refused")
    views = views_of(collection)

    failures = await asyncio.gather(views.get("a"), views.get("b"), return_exceptions=True)

    assert [type(f) for f in failures] == [DatabaseUnavailableError] * 2
    collection.failure = None
    assert await views.get("a") == shown("a")  # the next query reads again


async def test_a_cancelled_query_leaves_the_others_of_its_read_answered() -> None:
    collection = HeldViews("a", "b")
    views = views_of(collection)
    collection.open.clear()
    gone = asyncio.ensure_future(views.get("a"))
    kept = asyncio.ensure_future(views.get("b"))
    await turns(3)

    gone.cancel()
    collection.open.set()

    assert await kept == shown("b")
    with pytest.raises(asyncio.CancelledError):
        await gone
