"""Reads by `_id` of the messages in flight go to the database together."""

import asyncio
from typing import Any, cast

import pytest
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import AutoReconnect

from worker.adapters.mongo.batch import STATEMENTS, FindBatcher

Document = dict[str, Any]
PROJECTION = {"outbox": 0}


class HeldCollection:
    """Documents in memory; records each read and holds it while `open` is clear."""

    def __init__(self, *ids: str) -> None:
        self.docs = {i: {"_id": i, "status": "ready", "outbox": []} for i in ids}
        self.reads: list[list[str]] = []
        self.open = asyncio.Event()
        self.open.set()
        self.failure: Exception | None = None

    def find(self, query: Document, projection: Document) -> "HeldCollection.Cursor":
        assert projection == PROJECTION
        match = query["_id"]
        ids = match["$in"] if isinstance(match, dict) else [match]
        assert len(ids) > 1 or not isinstance(match, dict), "one id is matched by equality"
        self.reads.append(ids)
        return HeldCollection.Cursor(self, ids)

    class Cursor:
        def __init__(self, collection: "HeldCollection", ids: list[str]) -> None:
            self.collection, self.ids = collection, ids

        async def to_list(self) -> list[Document]:
            await self.collection.open.wait()
            if self.collection.failure is not None:
                raise self.collection.failure
            found = (self.collection.docs.get(i) for i in self.ids)
            return [{k: v for k, v in doc.items() if k != "outbox"} for doc in found if doc]


def finds(collection: HeldCollection) -> FindBatcher:
    return FindBatcher(cast(AsyncCollection[Document], collection), PROJECTION)


def stored(doc_id: str) -> Document:
    return {"_id": doc_id, "status": "ready"}


async def turns(count: int) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


async def test_reads_of_one_moment_share_one_find_and_each_gets_its_own_document() -> None:
    collection = HeldCollection("a", "b")
    batcher = finds(collection)

    found = await asyncio.gather(*(batcher.find(i) for i in ["a", "b", "a", "nope"]))

    assert found == [stored("a"), stored("b"), stored("a"), None]
    assert [sorted(ids) for ids in collection.reads] == [["a", "b", "nope"]]


async def test_one_read_at_a_time_goes_at_once_by_equality() -> None:
    collection = HeldCollection("a")
    batcher = finds(collection)

    assert await batcher.find("a") == stored("a")
    assert await batcher.find("a") == stored("a")
    assert collection.reads == [["a"], ["a"]]


async def test_reads_arriving_while_one_is_on_its_way_go_together_in_the_next() -> None:
    collection = HeldCollection("a", "b", "c")
    batcher = finds(collection)
    collection.open.clear()
    first = asyncio.ensure_future(batcher.find("a"))
    await turns(3)
    later = [asyncio.ensure_future(batcher.find(i)) for i in "bcb"]
    await turns(3)

    collection.open.set()
    assert await asyncio.gather(first, *later) == [stored(i) for i in "abcb"]
    assert [sorted(ids) for ids in collection.reads] == [["a"], ["b", "c"]]


async def test_more_reads_than_one_find_holds_go_in_several() -> None:
    ids = [f"doc-{n}" for n in range(STATEMENTS * 2 + 1)]
    collection = HeldCollection(*ids)
    batcher = finds(collection)

    found = await asyncio.gather(*(batcher.find(i) for i in ids))

    assert found == [stored(i) for i in ids]
    assert sorted(len(read) for read in collection.reads) == [1, STATEMENTS, STATEMENTS]


async def test_a_failed_find_fails_every_read_waiting_for_it() -> None:
    collection = HeldCollection("a", "b")
    collection.failure = AutoReconnect("connection refused")
    batcher = finds(collection)

    failures = await asyncio.gather(batcher.find("a"), batcher.find("b"), return_exceptions=True)

    assert [type(f) for f in failures] == [AutoReconnect] * 2
    collection.failure = None
    assert await batcher.find("a") == stored("a")  # the next read goes again


async def test_a_cancelled_read_leaves_the_others_of_its_find_answered() -> None:
    collection = HeldCollection("a", "b")
    batcher = finds(collection)
    collection.open.clear()
    gone = asyncio.ensure_future(batcher.find("a"))
    kept = asyncio.ensure_future(batcher.find("b"))
    await turns(3)

    gone.cancel()
    collection.open.set()

    assert await kept == stored("b")
    with pytest.raises(asyncio.CancelledError):
        await gone
