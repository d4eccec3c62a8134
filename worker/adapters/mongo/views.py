"""Read models of orders."""

from collections.abc import Mapping
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from .errors import database_call


class MongoOrderViews:
    """`order_views`: each order as the contract returns it, kept by the relay."""

    def __init__(self, views: AsyncCollection[dict[str, Any]]) -> None:
        self._views = views

    async def get(self, order_id: str) -> Mapping[str, Any] | None:
        async with database_call("get order view"):
            return await self._views.find_one({"_id": order_id}, {"_id": 0})
