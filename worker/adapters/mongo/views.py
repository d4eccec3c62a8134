"""Read models of orders: one view document per order, one index per query.

`order_views` holds each order as the contract returns it, plus `active`
(confirmed, cooking or ready), kept by the outbox relay from the order's
document (newest version wins). Pages are sorted by `created_at` then `_id`,
and the cursor is that pair of the last order on the page, opaque to callers.
"""

import asyncio
import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from ...domain.errors import InvalidCursorError
from ...domain.orders import OrderStatus
from .documents import state_of
from .errors import database_call

Document = dict[str, Any]
ACTIVE = frozenset({OrderStatus.CONFIRMED, OrderStatus.COOKING, OrderStatus.READY})
HIDDEN = {"_id": 0, "active": 0}
BATCH = 100
"""Order ids in one read, when queries for single orders arrive together."""
READS = 2
"""Reads of single orders on their way at once; the next batch gathers meanwhile."""


def order_view_document(order: Mapping[str, Any]) -> Document:
    """What the read model keeps of an order's document."""
    view = state_of(order)
    view["active"] = view["status"] in ACTIVE
    return view


def encode_cursor(view: Mapping[str, Any]) -> str:
    millis = int(view["created_at"].timestamp() * 1000)
    return base64.urlsafe_b64encode(f"{millis}:{view['id']}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        millis, _, order_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        return datetime.fromtimestamp(int(millis) / 1000, UTC), order_id
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError, OSError):
        raise InvalidCursorError() from None


class _Batch:
    """Queries for single orders waiting for the same read, by order id."""

    def __init__(self) -> None:
        self.waiting: dict[str, list[asyncio.Future[Document | None]]] = {}

    def settle(self, found: Mapping[str, Document] | Exception | None) -> None:
        """Answer every query still waiting; None cancels them."""
        for order_id, futures in self.waiting.items():
            for future in futures:
                if future.done():  # its query was cancelled
                    continue
                if found is None:
                    future.cancel()
                elif isinstance(found, Exception):
                    future.set_exception(found)
                else:
                    future.set_result(found.get(order_id))


class MongoOrderViews:
    """The read models, one query each; a single order is read in batches.

    Queries for single orders that arrive while earlier reads are on their way
    wait for the next read, and that read fetches them all with one `$in` on
    `_id`: one round trip for the messages in flight, not one each. A query
    that arrives when nothing is waiting is read at once, in the next turn of
    the event loop, so one call at a time waits for nothing.
    """

    def __init__(self, views: AsyncCollection[Document]) -> None:
        self._views = views
        self._gathering: _Batch | None = None
        self._reads = asyncio.Semaphore(READS)
        self._on_their_way: set[asyncio.Task[None]] = set()

    async def get(self, order_id: str) -> Mapping[str, Any] | None:
        batch = self._gathering
        if batch is None or (order_id not in batch.waiting and len(batch.waiting) >= BATCH):
            batch = self._gathering = _Batch()
            task = asyncio.create_task(self._read(batch))
            self._on_their_way.add(task)
            task.add_done_callback(self._on_their_way.discard)
        future: asyncio.Future[Document | None] = asyncio.get_running_loop().create_future()
        batch.waiting.setdefault(order_id, []).append(future)
        return await future

    async def _read(self, batch: _Batch) -> None:
        async with self._reads:
            if self._gathering is batch:
                self._gathering = None
            try:
                ids = list(batch.waiting)
                # One id alone is matched by equality: FerretDB finds that through
                # SQLite's key, while it scans the collection for any `$in`.
                match = {"_id": ids[0] if len(ids) == 1 else {"$in": ids}}
                async with database_call("get order view"):
                    docs = await self._views.find(match, {"active": 0}).to_list()
            except Exception as error:  # noqa: BLE001 - it is the waiting queries' failure
                batch.settle(error)
            except asyncio.CancelledError:
                batch.settle(None)
                raise
            else:
                batch.settle({doc.pop("_id"): doc for doc in docs})

    async def by_customer(self, phone: str, limit: int, cursor: str | None) -> Mapping[str, Any]:
        return await self._page({"customer_phone": phone}, -1, limit, cursor)

    async def active(self, limit: int, cursor: str | None) -> Mapping[str, Any]:
        return await self._page({"active": True}, 1, limit, cursor)

    async def _page(
        self, match: Document, direction: int, limit: int, cursor: str | None
    ) -> Mapping[str, Any]:
        if cursor is not None:
            created_at, order_id = decode_cursor(cursor)
            beyond = "$gt" if direction > 0 else "$lt"
            match = {
                **match,
                "$or": [
                    {"created_at": {beyond: created_at}},
                    {"created_at": created_at, "_id": {beyond: order_id}},
                ],
            }
        async with database_call("list order views"):
            found = (
                await self._views.find(match, HIDDEN)
                .sort([("created_at", direction), ("_id", direction)])
                .limit(limit + 1)
                .to_list()
            )
        items = found[:limit]
        more = len(found) > limit
        return {"items": items, "next_cursor": encode_cursor(items[-1]) if more else None}
