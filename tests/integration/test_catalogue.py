"""The catalogue on MongoDB: the operator's menu, the paged order lists, and read models
that stay right when projections come twice or out of order."""

import asyncio
import base64
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any, cast
from uuid import uuid4

import pytest
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from pizzeria_contracts import names
from tests.fakes import FakeClock
from worker.adapters.mongo.database import Collections, Document
from worker.adapters.mongo.documents import OrderCodec, outbox_entry
from worker.adapters.mongo.menu import MongoMenu, seed_menu
from worker.adapters.mongo.outbox import Projection
from worker.adapters.mongo.readmodels import Fixed
from worker.adapters.mongo.views import MongoOrderViews, order_view_document
from worker.application.wire import order_view
from worker.domain.events import DomainEvent
from worker.domain.menu import DEFAULT_MENU, Size
from worker.domain.orders import CustomerDetails, Order, OrderItem

from .conftest import CountedFinds, random_phone
from .mongo_worker import MongoWorker, fresh_collections, order_body

pytestmark = pytest.mark.integration

STEPS: dict[str, list[tuple[str, dict[str, str]]]] = {
    "confirmed": [],
    "cooking": [(names.START_COOKING, {})],
    "ready": [(names.START_COOKING, {}), (names.MARK_READY, {})],
    "delivering": [
        (names.START_COOKING, {}),
        (names.MARK_READY, {}),
        (names.ASSIGN_DELIVERY, {"driver": "Luigi"}),
    ],
    "delivered": [
        (names.START_COOKING, {}),
        (names.MARK_READY, {}),
        (names.ASSIGN_DELIVERY, {"driver": "Luigi"}),
        (names.DELIVER_ORDER, {}),
    ],
    "cancelled": [(names.CANCEL_ORDER, {"reason": "changed my mind"})],
}
"""The commands that take a new order to each status."""


@pytest.fixture
async def collections(database: AsyncDatabase[Document]) -> Collections:
    return await fresh_collections(database)


@pytest.fixture
async def shop(collections: Collections) -> AsyncIterator[MongoWorker]:
    """A worker whose clock moves one second a reading, so orders sort as placed."""
    worker = MongoWorker.start(collections, clock=FakeClock())
    yield worker
    await worker.stop()


async def place(shop: MongoWorker, phone: str, *pizzas: dict[str, Any]) -> dict[str, Any]:
    return await shop.ok(names.PLACE_ORDER, order_body(phone, *pizzas))


async def move(shop: MongoWorker, order_id: str, status: str) -> None:
    for command, extra in STEPS[status]:
        await shop.ok(command, {"order_id": order_id, **extra})


async def pages(
    shop: MongoWorker, query: str, body: dict[str, Any], limit: int
) -> list[list[dict[str, Any]]]:
    """Every page of a list, following `next_cursor` to the end."""
    found: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while len(found) < 50:
        page = await shop.ok(query, {**body, "limit": limit, "cursor": cursor})
        found.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return found
    raise AssertionError(f"no end after {len(found)} pages")


def ids(page: list[dict[str, Any]]) -> list[str]:
    return [order["id"] for order in page]


# The menu


async def test_menu_commands_change_the_stored_menu_and_publish_events(
    shop: MongoWorker, collections: Collections
) -> None:
    steps = [
        (names.ADD_PIZZA, {"name": "Diavola", "base_price": "13.50"}, 201),
        (names.ADD_PIZZA, {"name": "DIAVOLA", "base_price": "1.00"}, 409),
        (names.UPDATE_PIZZA, {"name": "diavola", "base_price": "14.00"}, 200),
        (names.UPDATE_PIZZA, {"name": "Diavola", "base_price": "14.00"}, 200),
        (names.REMOVE_PIZZA, {"name": "Diavola"}, 200),
        (names.REMOVE_PIZZA, {"name": "Diavola"}, 404),
        (names.UPDATE_PIZZA, {"name": "Diavola", "base_price": "2.00"}, 404),
        (names.ADD_PIZZA, {"name": "Diavola", "base_price": "15.00", "description": "Hot"}, 201),
    ]

    statuses = [(await shop.command(name, body)).result.status for name, body, _ in steps]

    assert statuses == [status for *_, status in steps]
    events = shop.published.about("diavola")
    assert [(e["type"], e["version"]) for e in events] == [
        ("menu.pizza-added", 1),
        ("menu.pizza-updated", 2),
        ("menu.pizza-removed", 3),
        ("menu.pizza-added", 4),
    ]
    assert [(e["body"]["name"], e["body"]["version"]) for e in events] == [
        ("Diavola", 1),
        ("Diavola", 2),
        ("Diavola", 3),
        ("Diavola", 4),
    ]
    await shop.relay.drain(clear=True)
    doc = await collections.menu.find_one({"_id": "diavola"})
    assert doc is not None
    assert (doc["version"], doc["removed"], doc["base_price"], doc["outbox"]) == (
        4,
        False,
        "15.00",
        [],
    )
    menu = await shop.ok(names.GET_MENU, {})
    [diavola] = [pizza for pizza in menu["pizzas"] if pizza["name"] == "Diavola"]
    assert diavola == {
        "name": "Diavola",
        "description": "Hot",
        "base_price": "15.00",
        "prices": {"small": "15.00", "medium": "19.50", "large": "24.00"},
    }


async def test_the_operators_menu_survives_a_restart_of_the_worker(
    shop: MongoWorker, collections: Collections
) -> None:
    await shop.ok(names.REMOVE_PIZZA, {"name": "supreme"})
    await shop.ok(names.UPDATE_PIZZA, {"name": "margherita", "base_price": "13.49"})
    await shop.stop()

    assert await seed_menu(collections.menu) is False  # what the next start does
    again = MongoWorker.start(collections)
    try:
        menu = await again.ok(names.GET_MENU, {})
        refused = await again.command(
            names.PLACE_ORDER, order_body(random_phone(), {"name": "supreme", "size": "small"})
        )
        back = await again.command(names.ADD_PIZZA, {"name": "Supreme", "base_price": "18.99"})
    finally:
        await again.stop()

    prices = {pizza["name"]: pizza["base_price"] for pizza in menu["pizzas"]}
    assert "supreme" not in prices
    assert prices["margherita"] == "13.49"
    assert set(prices) == {item.name for item in DEFAULT_MENU} - {"supreme"}
    assert refused.result.status == 400
    assert (back.result.status, back.result.data["base_price"]) == (201, "18.99")
    assert (await collections.menu.count_documents({})) == len(DEFAULT_MENU)


class SlowReads:
    """The menu collection, whose next read answers only when released (having read already)."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection
        self.read = asyncio.Event()
        self.release = asyncio.Event()

    def find(self, *args: Any, **kwargs: Any) -> "SlowReads":
        self._cursor = self.collection.find(*args, **kwargs)
        return self

    async def to_list(self) -> list[Document]:
        docs = await self._cursor.to_list()
        self.read.set()
        await self.release.wait()
        return docs


async def test_a_menu_read_begun_before_a_change_is_not_cached_after_it(
    collections: Collections,
) -> None:
    slow = SlowReads(collections.menu)
    menu = MongoMenu(cast(AsyncCollection[Document], slow), ttl=60)
    pricing = asyncio.create_task(menu.current())  # an order being priced
    await slow.read.wait()

    await collections.menu.update_one({"_id": "margherita"}, {"$set": {"base_price": "20.00"}})
    menu.forget()  # what menu.update-pizza does once the change is stored
    slow.release.set()
    await pricing

    assert (await menu.current()).item("margherita").base_price == Decimal("20.00")


async def test_an_order_keeps_its_prices_whatever_the_menu_becomes(shop: MongoWorker) -> None:
    phone = random_phone()
    before = await place(shop, phone, {"name": "pepperoni", "size": "medium", "toppings": ["x"]})

    await shop.ok(names.UPDATE_PIZZA, {"name": "pepperoni", "base_price": "20.00"})
    after = await place(shop, phone, {"name": "pepperoni", "size": "medium", "toppings": ["x"]})
    await shop.ok(names.REMOVE_PIZZA, {"name": "pepperoni"})
    await move(shop, before["id"], "ready")

    assert before["total_amount"] == "21.99"  # 14.99 x 1.30 = 19.487 -> 19.49, + 2.50
    assert after["total_amount"] == "28.50"  # 20.00 x 1.30 + 2.50: the cache was dropped
    stored = await shop.ok(names.GET_ORDER, {"order_id": before["id"]})
    assert (stored["status"], stored["total_amount"], stored["items"]) == (
        "ready",
        "21.99",
        before["items"],
    )
    listed = await shop.ok(names.LIST_ORDERS_BY_CUSTOMER, {"customer_phone": phone})
    assert [o["total_amount"] for o in listed["items"]] == ["28.50", "21.99"]


# Orders of one customer


async def test_pages_of_two_over_five_orders_give_every_order_once_newest_first(
    shop: MongoWorker,
) -> None:
    phone, other = "+39 333 555 0101", random_phone()
    placed = []
    for _ in range(5):
        placed.append(await place(shop, phone))
        await place(shop, other)
    spellings = iter(["+39 333 555 0101", "+393335550101", "+39 (333) 555-01.01"])

    found: list[list[str]] = []
    cursor = None
    for spelling in spellings:
        body = {"customer_phone": spelling, "limit": 2, "cursor": cursor}
        page = await shop.ok(names.LIST_ORDERS_BY_CUSTOMER, body)
        found.append(ids(page["items"]))
        cursor = page["next_cursor"]
        if cursor is None:
            break

    newest_first = ids(placed)[::-1]
    assert found == [newest_first[0:2], newest_first[2:4], newest_first[4:5]]
    assert cursor is None


async def test_orders_asked_for_at_once_are_read_together_each_as_placed(
    shop: MongoWorker, collections: Collections
) -> None:
    placed = [await place(shop, random_phone()) for _ in range(3)]
    counted = CountedFinds(collections.order_views)
    views = MongoOrderViews(Fixed(cast(AsyncCollection[Document], counted)))
    asked = [*ids(placed), "no-such-order", *ids(placed)]

    found = await asyncio.gather(*(views.get(order_id) for order_id in asked))

    assert found == [*placed, None, *placed]
    assert counted.finds == 1


@pytest.mark.parametrize(
    "spelling", ["+39 347 000 1234", "+393470001234", "+39-347-000-1234", " +39 (347) 000.1234 "]
)
async def test_the_phone_matches_however_it_is_spelled(shop: MongoWorker, spelling: str) -> None:
    mine = await place(shop, "+39 347 000 1234")
    await place(shop, "+39 347 000 1235")

    page = await shop.ok(names.LIST_ORDERS_BY_CUSTOMER, {"customer_phone": spelling})

    assert page == {"items": [mine], "next_cursor": None}


async def test_another_customers_orders_never_appear(shop: MongoWorker) -> None:
    ann, bob, nobody = random_phone(), random_phone(), random_phone()
    anns = [await place(shop, ann) for _ in range(3)]
    bobs = [await place(shop, bob) for _ in range(2)]

    found = await pages(shop, names.LIST_ORDERS_BY_CUSTOMER, {"customer_phone": ann}, 2)
    assert [ids(page) for page in found] == [ids(anns)[:0:-1], ids(anns)[:1]]
    found = await pages(shop, names.LIST_ORDERS_BY_CUSTOMER, {"customer_phone": bob}, 5)
    assert found == [bobs[::-1]]
    assert await pages(shop, names.LIST_ORDERS_BY_CUSTOMER, {"customer_phone": nobody}, 5) == [[]]


async def test_an_order_placed_between_pages_neither_repeats_nor_hides_others(
    shop: MongoWorker,
) -> None:
    phone = random_phone()
    placed = [await place(shop, phone) for _ in range(4)]
    first = await shop.ok(names.LIST_ORDERS_BY_CUSTOMER, {"customer_phone": phone, "limit": 2})

    await place(shop, phone)
    body = {"customer_phone": phone, "limit": 2, "cursor": first["next_cursor"]}
    second = await shop.ok(names.LIST_ORDERS_BY_CUSTOMER, body)

    assert ids(first["items"]) + ids(second["items"]) == ids(placed)[::-1]
    assert second["next_cursor"] is None


# The kitchen's queue


async def test_the_kitchens_queue_holds_confirmed_cooking_and_ready_orders_oldest_first(
    shop: MongoWorker,
) -> None:
    statuses = ["cooking", "delivered", "ready", "cancelled", "delivering", "confirmed"]
    placed = [await place(shop, random_phone()) for _ in statuses]
    for order, status in zip(placed, statuses, strict=True):
        await move(shop, order["id"], status)

    for limit in (1, 2, 100):
        found = await pages(shop, names.LIST_ACTIVE_ORDERS, {}, limit)
        queue = [order for page in found for order in page]
        assert [(o["id"], o["status"]) for o in queue] == [
            (placed[0]["id"], "cooking"),
            (placed[2]["id"], "ready"),
            (placed[5]["id"], "confirmed"),
        ]
        assert all(len(page) <= limit for page in found)
    for order in queue:
        assert order == await shop.ok(names.GET_ORDER, {"order_id": order["id"]})


async def test_delivered_and_cancelled_orders_leave_the_queue(shop: MongoWorker) -> None:
    first, second, third = [await place(shop, random_phone()) for _ in range(3)]

    await move(shop, first["id"], "delivered")
    await shop.ok(names.CANCEL_ORDER, {"order_id": third["id"]})

    page = await shop.ok(names.LIST_ACTIVE_ORDERS, {})
    assert ids(page["items"]) == [second["id"]]


async def test_orders_leaving_the_queue_between_pages_hide_nobody(shop: MongoWorker) -> None:
    placed = [await place(shop, random_phone()) for _ in range(5)]
    first = await shop.ok(names.LIST_ACTIVE_ORDERS, {"limit": 2})

    await shop.ok(names.CANCEL_ORDER, {"order_id": placed[0]["id"]})
    await move(shop, placed[1]["id"], "delivered")
    late = await place(shop, random_phone())
    rest = await shop.ok(names.LIST_ACTIVE_ORDERS, {"limit": 10, "cursor": first["next_cursor"]})

    assert ids(first["items"]) == ids(placed[:2])
    assert ids(rest["items"]) == [*ids(placed[2:]), late["id"]]


# What a list refuses


def encoded(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


GARBAGE_CURSORS = [
    "garbage",
    "",
    "!!!",
    "é",
    encoded("no separator"),
    encoded("twelve:x"),
    encoded("1e3:x"),
    encoded("-99999999999999:x"),
    pytest.param(encoded("99999999999999999999:x"), id="far-future"),  # OSError, not ValueError
]


@pytest.mark.parametrize("cursor", GARBAGE_CURSORS)
@pytest.mark.parametrize(
    "query", [names.LIST_ORDERS_BY_CUSTOMER, names.LIST_ACTIVE_ORDERS], ids=["mine", "active"]
)
async def test_a_garbage_cursor_is_a_400_naming_the_cursor(
    shop: MongoWorker, query: str, cursor: str
) -> None:
    outcome = await shop.query(query, {"customer_phone": random_phone(), "cursor": cursor})

    assert outcome.result.status == 400
    assert [error.field for error in outcome.result.errors or []] == ["cursor"]
    assert outcome.dead_letter is None


@pytest.mark.parametrize(("limit", "status"), [(0, 400), (1, 200), (100, 200), (101, 400)])
@pytest.mark.parametrize(
    "query", [names.LIST_ORDERS_BY_CUSTOMER, names.LIST_ACTIVE_ORDERS], ids=["mine", "active"]
)
async def test_a_page_holds_one_to_a_hundred_orders(
    shop: MongoWorker, query: str, limit: int, status: int
) -> None:
    outcome = await shop.query(query, {"customer_phone": random_phone(), "limit": limit})

    assert outcome.result.status == status
    if status == 400:
        assert [error.field for error in outcome.result.errors or []] == ["limit"]
        assert outcome.dead_letter == "invalid-message"


# Read models under repeated and reordered projections


class History:
    """An order and the documents its store held after each change, outbox and all."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        margherita = DEFAULT_MENU[0]
        customer = CustomerDetails(uuid4().hex, "Anna Bianchi", random_phone(), None)
        item = OrderItem.priced(uuid4().hex, margherita, Size.SMALL, ())
        self.order = Order.place(uuid4().hex, customer, [item], "cash", None, self.clock())
        self.events: list[DomainEvent] = []
        self.docs = [self._snapshot()]

    def then(self, *actions: str) -> "History":
        for action in actions:
            now = self.clock()
            match action:
                case "cook":
                    self.order.start_cooking(now)
                case "ready":
                    self.order.mark_ready(now)
                case "deliver":
                    self.order.assign_delivery("Luigi", now)
                    self.docs.append(self._snapshot())
                    self.order.deliver(now)
                case "cancel":
                    self.order.cancel("too late", now)
            self.docs.append(self._snapshot())
        return self

    def _snapshot(self) -> Document:
        """The stored document: the outbox keeps every event not yet cleared (here: all)."""
        self.events += self.order.pending_events
        self.order.pending_events.clear()
        doc = OrderCodec().encode(self.order)
        doc["outbox"] = [outbox_entry(event, None) for event in self.events]
        doc["inbox"] = []
        doc["view"] = order_view(self.order)
        return doc

    def at(self, version: int) -> Document:
        [doc] = [doc for doc in self.docs if doc["version"] == version]
        return {key: value for key, value in doc.items() if key != "view"}

    def view(self, version: int) -> dict[str, Any]:
        [doc] = [doc for doc in self.docs if doc["version"] == version]
        view: dict[str, Any] = doc["view"]
        return view

    def cleared(self, version: int) -> Document:
        """The document at `version` after earlier relays cleared all but its own event."""
        doc = self.at(version)
        return {**doc, "outbox": [e for e in doc["outbox"] if e["version"] == version]}


async def project(views: AsyncCollection[Document], *docs: Document) -> None:
    """Apply the projections of `docs` in one batch, as the relay does."""
    await Projection(Fixed(views), order_view_document).apply(list(docs))


async def shown(collections: Collections, history: History) -> dict[str, Any]:
    """What every query shows of the order: by id, in its customer's list, in the queue."""
    views = MongoOrderViews(Fixed(collections.order_views))
    phone = history.order.customer.phone
    return {
        "get": await views.get(history.order.id),
        "mine": (await views.by_customer(phone, 10, None))["items"],
        "active": [v["id"] for v in (await views.active(10, None))["items"]],
    }


def as_shown(history: History, version: int) -> dict[str, Any]:
    view = history.view(version)
    active = view["status"] in ("confirmed", "cooking", "ready")
    return {"get": view, "mine": [view], "active": [view["id"]] if active else []}


@pytest.mark.parametrize("version", [2, 3, 4])
async def test_a_projection_applied_twice_leaves_one_view_at_its_version(
    collections: Collections, version: int
) -> None:
    history = History().then("cook", "ready")

    await project(collections.order_views, history.at(version))
    await project(collections.order_views, history.at(version))
    await project(collections.order_views, history.at(version), history.at(version))

    assert await shown(collections, history) == as_shown(history, version)
    assert await collections.order_views.count_documents({"_id": history.order.id}) == 1


@pytest.mark.parametrize(
    ("actions", "older", "newer"),
    [
        (["cook"], 2, 3),
        (["cancel"], 2, 3),
        (["cook", "ready"], 3, 4),
        (["cook", "ready", "deliver"], 4, 7),
        (["cook", "ready", "deliver"], 2, 6),
    ],
)
async def test_an_older_projection_after_a_newer_one_changes_nothing(
    collections: Collections, actions: list[str], older: int, newer: int
) -> None:
    history = History().then(*actions)
    await project(collections.order_views, history.at(2))
    await project(collections.order_views, history.cleared(newer))

    await project(collections.order_views, history.at(older))
    await project(collections.order_views, history.cleared(older))

    assert await shown(collections, history) == as_shown(history, newer)


@pytest.mark.parametrize("reverse", [False, True], ids=["in-order", "reversed"])
async def test_one_batch_with_several_versions_keeps_the_newest(
    collections: Collections, reverse: bool
) -> None:
    history = History().then("cook", "ready", "cancel")
    docs = [history.at(version) for version in (2, 3, 4, 5)]

    await project(collections.order_views, *(docs[::-1] if reverse else docs))

    assert await shown(collections, history) == as_shown(history, 5)


async def test_a_newer_document_still_holding_the_creation_makes_the_view(
    collections: Collections,
) -> None:
    history = History().then("cook", "ready")

    await project(collections.order_views, history.at(4))
    await project(collections.order_views, history.at(2))

    assert await shown(collections, history) == as_shown(history, 4)
