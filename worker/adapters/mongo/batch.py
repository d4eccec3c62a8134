"""The inserts of concurrent commands, gathered into one `insert_many`."""

import asyncio
from typing import Any, TypeVar

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, PyMongoError, WriteError

from .errors import DUPLICATE_KEY

Document = dict[str, Any]
T = TypeVar("T")
STATEMENTS = 50
"""Writes per command at most.

FerretDB 1.24 holds one SQLite connection (of 100) per statement until an
`update` command ends, so 100 statements in one command wait forever.
"""
_Waiting = tuple[Document, "asyncio.Future[bool]"]


def chunks(items: list[T], size: int = STATEMENTS) -> list[list[T]]:
    """Pieces of at most `size`, one write command each."""
    return [items[i : i + size] for i in range(0, len(items), size)]


async def insert_new(collection: AsyncCollection[Document], docs: list[Document]) -> list[Document]:
    """Insert in one command per chunk; returns the documents whose `_id` was taken."""
    taken: list[Document] = []
    for chunk in chunks(docs):
        try:
            await collection.insert_many(chunk, ordered=False)
        except BulkWriteError as error:
            errors = error.details["writeErrors"]
            if any(e["code"] != DUPLICATE_KEY for e in errors):
                raise
            taken += [chunk[e["index"]] for e in errors]
    return taken


class InsertBatcher:
    """One round trip for the inserts of the messages in flight instead of one each.

    The first insert goes at once; those that arrive while it is on its way
    gather and go together next, so nothing waits for a batch to fill. Each
    caller learns the fate of its own document.
    """

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._collection = collection
        self._waiting: list[_Waiting] = []
        self._draining: asyncio.Task[None] | None = None

    async def insert(self, doc: Document) -> bool:
        """Insert one document; False when its `_id` or another unique key is taken."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((doc, future))
        if self._draining is None:
            self._draining = asyncio.create_task(self._drain(), name="insert-batcher")
        return await future

    async def _drain(self) -> None:
        batch: list[_Waiting] = []
        try:
            while self._waiting:
                batch = self._waiting[:STATEMENTS]
                del self._waiting[:STATEMENTS]
                await self._insert(batch)
        finally:
            self._draining = None
            for _, future in batch + self._waiting:  # only when cancelled: nobody hangs
                future.cancel()
            self._waiting.clear()

    async def _insert(self, batch: list[_Waiting]) -> None:
        failed: dict[int, Any] = {}
        try:
            await self._collection.insert_many([doc for doc, _ in batch], ordered=False)
        except BulkWriteError as error:
            failed = {e["index"]: e for e in error.details["writeErrors"]}
        except PyMongoError as error:
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        for index, (_, future) in enumerate(batch):
            if future.done():  # its caller gave up
                continue
            if (problem := failed.get(index)) is None:
                future.set_result(True)
            elif problem["code"] == DUPLICATE_KEY:
                future.set_result(False)
            else:
                future.set_exception(WriteError(problem["errmsg"], problem["code"], problem))
