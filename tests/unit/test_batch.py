"""Reads by `_id` (and inserts) of the messages in flight go to the database together."""

import asyncio
from typing import Any, cast

import pytest
from bson.errors import InvalidDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import AutoReconnect, NetworkTimeout

from worker.adapters.mongo.batch import STATEMENTS, FindBatcher, InsertBatcher

Document = dict[str, Any]
PROJECTION = {"outbox": 0}


class HeldCollection:
    """Documents in memory: each read answers with what was stored when it was sent
    (or fails with `failure` as it was then), says it was sent through `sent`, and
    is held while `open` is clear."""

    def __init__(self, *ids: str) -> None:
        self.docs = {i: {"_id": i, "status": "ready", "outbox": []} for i in ids}
        self.reads: list[list[str]] = []
        self.sent = asyncio.Event()
        self.open = asyncio.Event()
        self.open.set()
        self.failure: Exception | None = None

    def find(self, query: Document, projection: Document) -> "HeldCollection.Cursor":
        assert projection == PROJECTION
        match = query["_id"]
        ids = match["$in"] if isinstance(match, dict) else [match]
        assert len(ids) > 1 or not isinstance(match, dict), "one id is matched by equality"
        self.reads.append(ids)
        self.sent.set()
        found = (self.docs.get(i) for i in ids)
        answer = [{k: v for k, v in doc.items() if k != "outbox"} for doc in found if doc]
        return HeldCollection.Cursor(self, answer, self.failure)

    class Cursor:
        def __init__(
            self, collection: "HeldCollection", answer: list[Document], failure: Exception | None
        ) -> None:
            self.collection, self.answer, self.failure = collection, answer, failure

        async def to_list(self) -> list[Document]:
            await self.collection.open.wait()
            if self.failure is not None:
                raise self.failure
            return self.answer


async def held_on_its_way(
    batcher: FindBatcher, collection: HeldCollection, doc_id: str
) -> asyncio.Future[Document | None]:
    """A read of `doc_id`, sent and held until `collection.open` is set."""
    collection.open.clear()
    read = asyncio.ensure_future(batcher.find(doc_id))
    await on_its_way(collection)
    return read


def finds(collection: HeldCollection) -> FindBatcher:
    return FindBatcher(cast(AsyncCollection[Document], collection), PROJECTION)


def stored(doc_id: str, status: str = "ready") -> Document:
    return {"_id": doc_id, "status": status}


async def on_its_way(collection: HeldCollection) -> None:
    """Until the next read has been sent."""
    await asyncio.wait_for(collection.sent.wait(), 1)
    collection.sent.clear()


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
    collection = HeldCollection("a", "b")
    batcher = finds(collection)
    first = await held_on_its_way(batcher, collection, "a")
    collection.docs["a"]["status"] = "cooking"  # stored after the first read was sent
    later = [asyncio.ensure_future(batcher.find(i)) for i in "bab"]
    await asyncio.sleep(0)

    collection.open.set()
    found = await asyncio.gather(first, *later)

    assert found == [stored("a"), stored("b"), stored("a", "cooking"), stored("b")]
    assert [sorted(ids) for ids in collection.reads] == [["a"], ["a", "b"]]


async def test_more_reads_than_one_find_holds_go_in_several() -> None:
    ids = [f"doc-{n}" for n in range(STATEMENTS * 2 + 1)]
    collection = HeldCollection(*ids)
    batcher = finds(collection)

    found = await asyncio.gather(*(batcher.find(i) for i in ids))

    assert found == [stored(i) for i in ids]
    assert sorted(len(read) for read in collection.reads) == [1, STATEMENTS, STATEMENTS]


async def test_a_failed_find_fails_its_reads_and_the_next_find_goes_again() -> None:
    collection = HeldCollection("a", "b", "c")
    collection.failure = AutoReconnect("connection refused")
    collection.open.clear()
    batcher = finds(collection)
    failing = [asyncio.ensure_future(batcher.find(i)) for i in "ab"]
    await on_its_way(collection)
    collection.failure = None
    meanwhile = asyncio.ensure_future(batcher.find("c"))
    await asyncio.sleep(0)

    collection.open.set()
    failures = await asyncio.gather(*failing, return_exceptions=True)

    assert [type(f) for f in failures] == [AutoReconnect] * 2
    assert await meanwhile == stored("c")  # its own find, once the failed one ended
    assert await batcher.find("a") == stored("a")


async def test_a_find_that_timed_out_fails_the_reads_gathered_behind_it_too() -> None:
    """They would wait as long again on the same silent server: they go to wait for the
    database at once, and nothing more is sent meanwhile."""
    collection = HeldCollection("a", "b", "c")
    collection.failure = NetworkTimeout("127.0.0.1:27017: timed out")
    batcher = finds(collection)
    sent = await held_on_its_way(batcher, collection, "a")
    behind = [asyncio.ensure_future(batcher.find(i)) for i in "bc"]
    await asyncio.sleep(0)

    collection.open.set()
    failures = await asyncio.gather(sent, *behind, return_exceptions=True)

    assert [type(f) for f in failures] == [NetworkTimeout] * 3
    assert collection.reads == [["a"]]
    collection.failure = None
    assert await batcher.find("b") == stored("b")  # the next call reads again


async def test_a_cancelled_read_leaves_the_others_of_its_find_answered() -> None:
    collection = HeldCollection("a", "b")
    batcher = finds(collection)
    collection.open.clear()
    gone = asyncio.ensure_future(batcher.find("a"))
    kept = asyncio.ensure_future(batcher.find("b"))
    await on_its_way(collection)

    gone.cancel()
    collection.open.set()

    assert await kept == stored("b")
    with pytest.raises(asyncio.CancelledError):
        await gone


def draining(name: str) -> asyncio.Task[object]:
    (task,) = [t for t in asyncio.all_tasks() if t.get_name() == name]
    return task


async def test_reads_on_their_way_when_the_batcher_is_cancelled_are_cancelled_too() -> None:
    collection = HeldCollection("a", "b")
    batcher = finds(collection)
    sent = await held_on_its_way(batcher, collection, "a")
    waiting = asyncio.ensure_future(batcher.find("b"))
    await asyncio.sleep(0)

    draining("find-batcher").cancel()

    for read in (sent, waiting):
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(read, 1)
    collection.open.set()
    assert await batcher.find("b") == stored("b")  # a new drain begins


async def test_a_batcher_cancelled_before_it_began_reads_at_the_next_call() -> None:
    collection = HeldCollection("a", "b")
    batcher = finds(collection)
    early = asyncio.ensure_future(batcher.find("a"))
    await asyncio.sleep(0)  # it asked, and the drain is created but has not run

    draining("find-batcher").cancel()
    await asyncio.sleep(0)

    assert await asyncio.wait_for(batcher.find("b"), 1) == stored("b")
    assert await asyncio.wait_for(early, 1) == stored("a")


async def test_an_insert_failing_otherwise_than_pymongo_fails_its_callers() -> None:
    class Refusing:
        async def insert_many(self, docs: list[Document], ordered: bool) -> None:
            raise InvalidDocument("cannot encode object")

    inserts = InsertBatcher(cast(AsyncCollection[Document], Refusing()))

    failures = await asyncio.gather(
        inserts.insert({"_id": "a"}), inserts.insert({"_id": "b"}), return_exceptions=True
    )

    assert [type(f) for f in failures] == [InvalidDocument] * 2
