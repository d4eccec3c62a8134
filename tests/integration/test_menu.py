"""The menu in MongoDB: seeded once, never over an operator's changes, read through a cache."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import cast

import pytest
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from worker.adapters.mongo.database import Document
from worker.adapters.mongo.menu import MongoMenu, seed_menu
from worker.domain.menu import DEFAULT_MENU, Size, pizza_key

from .conftest import CountedFinds

pytestmark = pytest.mark.integration


@pytest.fixture
async def menu(database: AsyncDatabase[Document]) -> AsyncIterator[AsyncCollection[Document]]:
    collection = database[f"menu_{uuid.uuid4().hex[:8]}"]
    yield collection
    await collection.drop()


async def all_docs(collection: AsyncCollection[Document]) -> list[Document]:
    return await collection.find().sort("_id").to_list()


async def test_seeding_an_empty_menu_writes_the_default_menu(
    menu: AsyncCollection[Document],
) -> None:
    assert await seed_menu(menu) is True

    docs = {doc["_id"]: doc for doc in await all_docs(menu)}
    assert set(docs) == {pizza_key(item.name) for item in DEFAULT_MENU}
    margherita = docs["margherita"]
    assert (margherita["base_price"], margherita["removed"]) == ("12.99", False)


async def test_seeding_twice_changes_nothing(menu: AsyncCollection[Document]) -> None:
    await seed_menu(menu)
    before = await all_docs(menu)

    assert await seed_menu(menu) is False

    assert await all_docs(menu) == before


async def test_seeding_never_brings_back_a_removed_pizza(menu: AsyncCollection[Document]) -> None:
    await seed_menu(menu)
    await menu.update_one({"_id": "supreme"}, {"$set": {"removed": True}, "$inc": {"version": 1}})

    assert await seed_menu(menu) is False

    supreme = await menu.find_one({"_id": "supreme"})
    assert supreme is not None
    assert supreme["removed"] is True
    on_offer = (await MongoMenu(menu, ttl=0).current()).on_offer()
    assert "supreme" not in on_offer
    assert "margherita" in on_offer


async def test_the_menu_is_priced_from_the_stored_documents(
    menu: AsyncCollection[Document],
) -> None:
    await seed_menu(menu)
    await menu.update_one({"_id": "pepperoni"}, {"$set": {"base_price": "10.00"}})

    current = await MongoMenu(menu, ttl=60).current()

    assert current.item("Pepperoni").price(Size.LARGE, 1) == Decimal("18.50")
    assert current.item("margherita").price(Size.MEDIUM, 1) == Decimal("19.39")


async def test_the_cached_menu_holds_until_forgotten(menu: AsyncCollection[Document]) -> None:
    await seed_menu(menu)
    source = MongoMenu(menu, ttl=60)
    assert (await source.current()).item("margherita").base_price == Decimal("12.99")
    await menu.update_one({"_id": "margherita"}, {"$set": {"base_price": "13.49"}})

    assert (await source.current()).item("margherita").base_price == Decimal("12.99")
    source.forget()
    assert (await source.current()).item("margherita").base_price == Decimal("13.49")


async def test_the_cached_menu_expires_after_its_ttl(menu: AsyncCollection[Document]) -> None:
    await seed_menu(menu)
    source = MongoMenu(menu, ttl=1.0)
    await source.current()
    await menu.update_one({"_id": "margherita"}, {"$set": {"base_price": "11.00"}})

    assert (await source.current()).item("margherita").base_price == Decimal("12.99")
    await asyncio.sleep(1.1)
    assert (await source.current()).item("margherita").base_price == Decimal("11.00")


@pytest.fixture
async def counted(menu: AsyncCollection[Document]) -> CountedFinds:
    """The seeded menu's collection, counting reads."""
    await seed_menu(menu)
    return CountedFinds(menu)


def cached(counted: CountedFinds) -> MongoMenu:
    return MongoMenu(cast(AsyncCollection[Document], counted), ttl=60)


async def test_orders_that_need_the_menu_at_once_share_one_read(counted: CountedFinds) -> None:
    source = cached(counted)

    menus = await asyncio.gather(*(source.current() for _ in range(20)))

    assert counted.finds == 1
    assert {m.item("margherita").base_price for m in menus} == {Decimal("12.99")}


async def test_a_change_during_a_shared_read_sends_later_orders_to_a_new_one(
    menu: AsyncCollection[Document], counted: CountedFinds
) -> None:
    source = cached(counted)
    before = asyncio.ensure_future(source.current())
    await asyncio.sleep(0)  # the read is on its way
    await menu.update_one({"_id": "margherita"}, {"$set": {"base_price": "14.00"}})
    source.forget()

    after = await source.current()

    await before
    assert counted.finds == 2
    assert after.item("margherita").base_price == Decimal("14.00")
    assert (await source.current()).item("margherita").base_price == Decimal("14.00")
