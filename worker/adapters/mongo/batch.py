"""The reads and inserts of concurrent messages, gathered into one round trip each."""

import abc
import asyncio
from collections.abc import Mapping
from typing import Any, Generic, NamedTuple, TypeVar

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, WriteError

from .errors import DUPLICATE_KEY, went_silent

Document = dict[str, Any]
T = TypeVar("T")
Item = TypeVar("Item")
Result = TypeVar("Result")
STATEMENTS = 50
"""Writes per command at most, and reads by `_id` per `$in`: a bound on what one
failed command makes the relay try again."""


def chunks(items: list[T], size: int = STATEMENTS) -> list[list[T]]:
    """Pieces of at most `size`, one write command each."""
    return [items[i : i + size] for i in range(0, len(items), size)]


async def insert_new(
    collection: AsyncCollection[Document], docs: list[Document], size: int = STATEMENTS
) -> list[Document]:
    """Insert in one command per chunk; returns the documents whose `_id` was taken."""
    taken: list[Document] = []
    for chunk in chunks(docs, size):
        try:
            await collection.insert_many(chunk, ordered=False)
        except BulkWriteError as error:
            taken += [chunk[index] for index in duplicate_indexes(error)]
    return taken


async def upsert_all(collection: AsyncCollection[Document], statements: list[UpdateOne]) -> None:
    """Upserts in one command per chunk. Two upserts of a new `_id` at once may both
    insert, and the loser fails with a duplicate key: it goes once more, and then finds
    the document to update."""
    for chunk in chunks(statements):
        try:
            await collection.bulk_write(chunk, ordered=False)
        except BulkWriteError as error:
            again = [chunk[index] for index in duplicate_indexes(error)]
            await collection.bulk_write(again, ordered=False)


def duplicate_indexes(error: BulkWriteError) -> list[int]:
    """The statements of a bulk write that failed for a duplicate `_id` alone; any
    other failure is raised again."""
    errors = error.details["writeErrors"]
    if any(e["code"] != DUPLICATE_KEY for e in errors):
        raise error
    return [e["index"] for e in errors]


class _Gathering(abc.ABC, Generic[Item, Result]):
    """One round trip for the calls of the messages in flight instead of one each.

    A call goes as soon as no round trip is on its way (with the calls made
    in the same turn of the event loop); those that arrive meanwhile gather
    and go together next, so nothing waits for a batch to fill, and no call
    joins a round trip sent before it arrived. Each caller learns the
    fate of its own item; a failure of the round trip is every caller's. One that
    found the database silent (`went_silent`: no answer within `timeoutMS`) is also the
    failure of the calls gathered behind it: their round trip would wait as long again,
    so they go to wait for the database with the others instead.
    """

    def __init__(self, collection: AsyncCollection[Document], name: str) -> None:
        self._collection = collection
        self._name = name
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._draining: asyncio.Task[None] | None = None

    async def _join(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._draining is None or self._draining.done():  # done: cancelled before it began
            self._draining = asyncio.create_task(self._drain(), name=self._name)
        return await future

    async def _drain(self) -> None:
        batch: list[tuple[Item, asyncio.Future[Result]]] = []
        try:
            while self._waiting:
                batch = self._waiting[:STATEMENTS]
                del self._waiting[:STATEMENTS]
                try:
                    await self._send(batch)
                except Exception as error:  # noqa: BLE001 - it is the callers' failure
                    if went_silent(error):
                        batch += self._waiting
                        self._waiting.clear()
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(error)
        finally:
            self._draining = None
            for _, future in batch + self._waiting:  # only when cancelled: nobody hangs
                future.cancel()
            self._waiting.clear()

    @abc.abstractmethod
    async def _send(self, batch: list[tuple[Item, "asyncio.Future[Result]"]]) -> None:
        """One round trip for the batch; resolve each future whose caller still waits."""


class InsertBatcher(_Gathering[Document, bool]):
    """The inserts of the messages in flight in one `insert_many`."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        super().__init__(collection, "insert-batcher")

    async def insert(self, doc: Document) -> bool:
        """Insert one document; False when its `_id` or another unique key is taken."""
        return await self._join(doc)

    async def _send(self, batch: list[tuple[Document, "asyncio.Future[bool]"]]) -> None:
        failed: dict[int, Any] = {}
        try:
            await self._collection.insert_many([doc for doc, _ in batch], ordered=False)
        except BulkWriteError as error:
            failed = {e["index"]: e for e in error.details["writeErrors"]}
        for index, (_, future) in enumerate(batch):
            if future.done():  # its caller gave up
                continue
            if (problem := failed.get(index)) is None:
                future.set_result(True)
            elif problem["code"] == DUPLICATE_KEY:
                future.set_result(False)
            else:
                future.set_exception(WriteError(problem["errmsg"], problem["code"], problem))


class FindBatcher(_Gathering[str, Document | None]):
    """The reads by `_id` of the messages in flight in one `find`.

    The documents are shared by the callers that asked for the same `_id`:
    read them, do not change them.
    """

    def __init__(
        self, collection: AsyncCollection[Document], projection: Mapping[str, int]
    ) -> None:
        super().__init__(collection, "find-batcher")
        self._projection = projection

    async def find(self, doc_id: str) -> Document | None:
        return await self._join(doc_id)

    async def _send(self, batch: list[tuple[str, "asyncio.Future[Document | None]"]]) -> None:
        ids = list(dict.fromkeys(doc_id for doc_id, _ in batch))
        # One id alone is matched by equality, the plainest filter for any server.
        match = {"_id": ids[0] if len(ids) == 1 else {"$in": ids}}
        docs = await self._collection.find(match, self._projection).to_list()
        found = {doc["_id"]: doc for doc in docs}
        for doc_id, future in batch:
            if not future.done():  # its caller gave up
                future.set_result(found.get(doc_id))


class VersionedUpdate(NamedTuple):
    """An update over the version a command read, which pushes one entry to the
    document's inbox marked with `write`, a token unique to this update."""

    doc_id: Any
    version: int
    change: Mapping[str, Any]
    write: str


class UpdateBatcher(_Gathering[VersionedUpdate, bool]):
    """The versioned updates of the messages in flight in one `update` command.

    The server answers how many matched, not which: when fewer than all did, the
    documents are read back (one `$in`), and an update was applied when its token is
    in its document's inbox. True when applied, False when not; a statement the server
    refused fails its caller alone, as an insert does in `InsertBatcher`."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        super().__init__(collection, "update-batcher")

    async def update(self, update: VersionedUpdate) -> bool:
        return await self._join(update)

    async def _send(self, batch: list[tuple[VersionedUpdate, "asyncio.Future[bool]"]]) -> None:
        failed: dict[int, Any] = {}
        try:
            result = await self._collection.bulk_write(
                [UpdateOne({"_id": u.doc_id, "version": u.version}, u.change) for u, _ in batch],
                ordered=False,
            )
            matched = result.matched_count
        except BulkWriteError as error:  # some statements failed: the others went through
            failed = {e["index"]: e for e in error.details["writeErrors"]}
            matched = error.details.get("nMatched", 0)
        writes: set[str] = set()
        if matched < len(batch) - len(failed):
            ids = list(dict.fromkeys(u.doc_id for u, _ in batch))
            found = self._collection.find({"_id": {"$in": ids}}, {"inbox.write": 1})
            writes = {
                write
                for doc in await found.to_list()
                for entry in doc.get("inbox", ())
                if (write := entry.get("write"))
            }
        for index, (update, future) in enumerate(batch):
            if future.done():  # its caller gave up
                continue
            if (problem := failed.get(index)) is not None:
                future.set_exception(WriteError(problem["errmsg"], problem["code"], problem))
            else:
                future.set_result(matched == len(batch) - len(failed) or update.write in writes)
