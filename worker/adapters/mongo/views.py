"""Read models of orders: one view document per order, one index per query.

`order_views` holds each order as the contract returns it, plus `active`
(confirmed, cooking or ready), kept by the outbox relay from the order's
document (newest version wins). Pages are sorted by `created_at` then `_id`,
and the cursor is that pair of the last order on the page, opaque to callers.
"""

import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ...domain.errors import InvalidCursorError
from ...domain.orders import OrderStatus
from .batch import FindBatcher
from .documents import state_of
from .errors import database_call
from .readmodels import Place

Document = dict[str, Any]
ACTIVE = frozenset({OrderStatus.CONFIRMED, OrderStatus.COOKING, OrderStatus.READY})
HIDDEN = {"_id": 0, "active": 0}


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


class MongoOrderViews:
    """The read models, one query each; single orders are read in batches.

    Queries for single orders that arrive while a read is on its way are read
    together next, with one `$in` on `_id` (FindBatcher): one round trip for
    the messages in flight, not one each.
    """

    def __init__(self, place: Place) -> None:
        self._place = place
        self._finds: dict[str, FindBatcher] = {}

    async def get(self, order_id: str) -> Mapping[str, Any] | None:
        views = self._place.reading
        finds = self._finds.get(views.name)
        if finds is None:  # the first read, or a rebuild moved the views
            finds = FindBatcher(views, {"active": 0})
            self._finds = {views.name: finds}
        async with database_call("get order view"):
            view = await finds.find(order_id)
        return None if view is None else {k: v for k, v in view.items() if k != "_id"}

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
                await self._place.reading.find(match, HIDDEN)
                .sort([("created_at", direction), ("_id", direction)])
                .limit(limit + 1)
                .to_list()
            )
        items = found[:limit]
        more = len(found) > limit
        return {"items": items, "next_cursor": encode_cursor(items[-1]) if more else None}
