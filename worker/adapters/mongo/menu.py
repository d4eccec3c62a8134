"""The menu in MongoDB, seeded once and read through a short-lived cache."""

import asyncio
import time
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from ...domain.menu import DEFAULT_MENU, Menu, pizza_key
from .documents import menu_item, menu_item_document
from .errors import DUPLICATE_KEY, database_call


async def seed_menu(collection: AsyncCollection[dict[str, Any]]) -> bool:
    """Write the default menu into an empty collection; never over an operator's menu.

    Removed pizzas stay as documents (`removed: true`), so a collection that was
    ever seeded is never empty again.
    """
    if await collection.find_one({}, {"_id": 1}) is not None:
        return False
    try:
        await collection.insert_many(
            [menu_item_document(item, pizza_key(item.name)) for item in DEFAULT_MENU],
            ordered=False,
        )
    except BulkWriteError as error:  # another worker seeded it at the same moment
        if any(e["code"] != DUPLICATE_KEY for e in error.details["writeErrors"]):
            raise
    return True


class MongoMenu:
    """The pizzas on offer, cached for `ttl` seconds to spare a read per order.

    When the cache runs out, the orders that need the menu meanwhile share one
    read instead of each sending their own.
    """

    def __init__(self, collection: AsyncCollection[dict[str, Any]], ttl: float) -> None:
        self._collection = collection
        self._ttl = ttl
        self._cached: Menu | None = None
        self._expires = 0.0
        self._changes = 0
        self._reading: asyncio.Future[Menu] | None = None

    async def current(self) -> Menu:
        if self._cached is not None and time.monotonic() < self._expires:
            return self._cached
        if self._reading is None or self._reading.done():
            self._reading = asyncio.ensure_future(self._read())
        return await asyncio.shield(self._reading)

    async def _read(self) -> Menu:
        changes = self._changes
        async with database_call("menu"):
            docs = await self._collection.find({"removed": False}).to_list()
        menu = Menu([menu_item(doc) for doc in docs])
        if changes == self._changes:  # a read that began before a change is not kept
            self._cached, self._expires = menu, time.monotonic() + self._ttl
        return menu

    def forget(self) -> None:
        """Drop the cache after the menu changed; a read begun before is not shared on."""
        self._cached = None
        self._reading = None
        self._changes += 1
