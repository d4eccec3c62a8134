"""Integration fixtures: MongoDB stores wired to a real relay that records what it publishes."""

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aio_pika
import pytest
from aio_pika.abc import AbstractRobustConnection
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from pizzeria_contracts import OperationResult
from worker.adapters.mongo.database import INDEXES, Collections, Document
from worker.adapters.mongo.outbox import OutboxRelay
from worker.adapters.mongo.readmodels import Fixed, Place
from worker.adapters.mongo.store import MongoAggregateStore, MongoCustomerStore
from worker.application.ports import Publishing, Receipt
from worker.application.wire import order_view
from worker.bootstrap import Service, on_mongodb
from worker.domain.menu import DEFAULT_MENU, Size
from worker.domain.orders import CustomerDetails, Order, OrderItem
from worker.settings import Settings


def utc_now(ago: timedelta = timedelta(0)) -> datetime:
    """Now (minus `ago`) to the millisecond, as MongoDB stores it."""
    now = datetime.now(UTC) - ago
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def random_phone() -> str:
    return "+39" + str(uuid.uuid4().int)[:10]


def new_order(now: datetime | None = None) -> Order:
    """A confirmed order (version 2) of two pizzas, one with toppings."""
    margherita, _, supreme, *_ = DEFAULT_MENU
    items = [
        OrderItem.priced(uuid.uuid4().hex, margherita, Size.LARGE, ("basil", "olives")),
        OrderItem.priced(uuid.uuid4().hex, supreme, Size.SMALL, ()),
    ]
    customer = CustomerDetails(uuid.uuid4().hex, "Luigi Verdi", random_phone(), "1 Via Roma")
    return Order.place(uuid.uuid4().hex, customer, items, "card", "ring twice", now or utc_now())


def receipt_for(order: Order, status: int = 200) -> Receipt:
    """What a command leaves with its change: its ids and the reply it earned."""
    result = OperationResult.success(order_view(order), status)
    return Receipt(uuid.uuid4().hex, uuid.uuid4().hex, None, result)


async def stored(write: Awaitable[Publishing | None]) -> bool:
    """A store's write, then the publishing of its events, as a reply waits for it;
    False when a create found its id taken."""
    publishing = await write
    if publishing is None:
        return False
    await publishing
    return True


class CountedFinds:
    """A collection that counts the reads sent to it."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection
        self.finds = 0

    def find(self, *args: Any, **kwargs: Any) -> Any:
        self.finds += 1
        return self.collection.find(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:  # every other call goes through uncounted
        return getattr(self.collection, name)


class RecordingPublisher:
    """The relay's publish function: records entries, fails while `failing` is set, and
    waits (saying so through `reached`) while `held` is an event not yet set."""

    def __init__(self) -> None:
        self.entries: list[Mapping[str, Any]] = []
        self.failing = False
        self.held: asyncio.Event | None = None
        self.reached = asyncio.Event()

    async def __call__(self, entry: Mapping[str, Any]) -> None:
        if self.held is not None:
            self.reached.set()
            await self.held.wait()
        if self.failing:
            raise ConnectionError("the broker is away")
        self.entries.append(entry)

    def about(self, subject: str) -> list[Mapping[str, Any]]:
        return [entry for entry in self.entries if entry["subject"] == subject]

    def kinds(self, subject: str) -> list[tuple[str, int]]:
        return [(entry["type"], entry["version"]) for entry in self.about(subject)]


def fixed_places(collections: Collections) -> dict[str, Place]:
    """Each rebuildable read model in its collection of `collections`, never moved."""
    return {
        "orders": Fixed(collections.order_views),
        "sales": Fixed(collections.sales_daily),
        "deadlines": Fixed(collections.deadlines),
    }


@dataclasses.dataclass
class Stores:
    collections: Collections
    published: RecordingPublisher
    relay: OutboxRelay
    orders: MongoAggregateStore[Order]
    customers: MongoCustomerStore

    async def order_doc(self, order_id: str) -> Document:
        """The order's document once the relay has cleared what it published."""
        await self.relay.drain(clear=True)
        doc = await self.collections.orders.find_one({"_id": order_id})
        assert doc is not None
        return doc


@pytest.fixture
async def stores(database: AsyncDatabase[Document]) -> AsyncIterator[Stores]:
    """Collections of this test's own (so sweeps see only its documents) and a running relay."""
    suffix = uuid.uuid4().hex[:8]
    collections = Collections(
        *(database[f"{field.name}_{suffix}"] for field in dataclasses.fields(Collections))
    )
    for field in dataclasses.fields(Collections):
        if INDEXES[field.name]:
            await getattr(collections, field.name).create_indexes(INDEXES[field.name])
    published = RecordingPublisher()
    wired = on_mongodb(
        collections,
        fixed_places(collections).__getitem__,
        published,
        Settings(sales_time_zone=ZoneInfo("UTC"), menu_cache_seconds=60.0),
    )
    task = asyncio.create_task(wired.relay.run())
    yield Stores(collections, published, wired.relay, wired.orders, wired.customers)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@pytest.fixture(scope="module")
async def connection(amqp_url: str) -> AsyncIterator[AbstractRobustConnection]:
    """A plain aio-pika connection, as another service would use."""
    connection = await aio_pika.connect_robust(amqp_url)
    yield connection
    await connection.close()


@contextlib.asynccontextmanager
async def running_service(
    amqp_url: str, mongodb_url: str, mongo_client: AsyncMongoClient[Document], **settings: Any
) -> AsyncIterator[Service]:
    """The whole worker in this process, on a database of its own that is dropped after."""
    name = settings.pop("mongodb_database", None) or f"test_service_{uuid.uuid4().hex[:12]}"
    service = Service(
        Settings(
            amqp_url=amqp_url,
            mongodb_url=mongodb_url,
            mongodb_database=name,
            **{"http_port": 0, **settings},
        )
    )
    await service.start()
    try:
        yield service
    finally:
        await service.stop()
        await mongo_client.drop_database(name)
