"""An evening at the pizzeria over AMQP, checked against a model the test keeps itself.

About sixty orders from ten customers arrive in waves; after each wave half
the open orders, chosen at random, move on (or are cancelled, or meet a
command their status refuses); halfway the operator changes the menu. Every reply is checked as it
comes, then every query is compared with the model, and again after the
worker is restarted on the same database. The seed is in every assertion's
message; `EVENING_SEED=<seed>` plays the same choices again.
"""

import asyncio
import dataclasses
import json
import os
import random
from collections.abc import Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from aio_pika.abc import AbstractIncomingMessage

from tests.e2e.amqp import (
    ALLOWED_FROM,
    COMMANDS,
    QUERIES,
    RawClient,
    Reply,
    Watch,
    header,
    json_body,
)
from tests.e2e.conftest import WorkerProcess
from tests.e2e.relaunch import Relaunched, stop

pytestmark = pytest.mark.e2e

WAVES = 6
ORDERS_PER_WAVE = 10
CUSTOMERS = 10
PAGE = 7
MOVING = 50
"""The share of open orders (in percent) that move on in each wave."""
SEED = int(os.environ.get("EVENING_SEED") or random.randrange(10**6))
NOTE = f"(evening seed {SEED})"

FACTORS = {"small": Decimal("1.00"), "medium": Decimal("1.30"), "large": Decimal("1.60")}
TOPPINGS = ["basil", "olives", "mushrooms", "ham", "chili"]
ACTIVE = ("confirmed", "cooking", "ready")
NEXT_STEP = {
    "confirmed": "orders.start-cooking",
    "cooking": "orders.mark-ready",
    "ready": "orders.assign-delivery",
    "delivering": "orders.deliver",
}
OUTCOME = {
    "orders.start-cooking": ("cooking", ["orders.cooking-started"]),
    "orders.mark-ready": ("ready", ["orders.ready"]),
    "orders.assign-delivery": (
        "delivering",
        ["orders.delivery-assigned", "orders.out-for-delivery"],
    ),
    "orders.deliver": ("delivered", ["orders.delivered"]),
    "orders.cancel": ("cancelled", ["orders.cancelled"]),
}
"""A command's status after, and the events it raises: the contract's order life."""


def price(base: Decimal, size: str, toppings: int) -> str:
    unit = base * FACTORS[size] + Decimal("2.50") * toppings
    return str(unit.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


@dataclasses.dataclass
class Customer:
    name: str
    phone: str
    """As the worker keeps it: digits, with the leading `+`."""
    spellings: list[str]
    customer_id: str | None = None


@dataclasses.dataclass
class Order:
    """What the model says an order is."""

    id: str
    customer: Customer
    items: list[tuple[str, str, list[str], str]]
    total: str
    created_at: datetime
    status: str = "confirmed"
    version: int = 2
    driver: str | None = None
    cancel_reason: str | None = None
    events: list[str] = dataclasses.field(
        default_factory=lambda: ["orders.placed", "orders.confirmed"]
    )

    @property
    def key(self) -> tuple[datetime, str]:
        return self.created_at, self.id

    def matches(self, view: Mapping[str, Any]) -> None:
        """Assert that a view of this order tells what the model knows."""
        items = [(i["name"], i["size"], i["toppings"], i["unit_price"]) for i in view["items"]]
        assert {
            "id": view["id"],
            "status": view["status"],
            "version": view["version"],
            "customer_id": view["customer_id"],
            "customer_phone": view["customer_phone"],
            "items": items,
            "total_amount": view["total_amount"],
            "driver": view["driver"],
            "cancel_reason": view.get("cancel_reason"),
            "created_at": datetime.fromisoformat(view["created_at"]),
        } == {
            "id": self.id,
            "status": self.status,
            "version": self.version,
            "customer_id": self.customer.customer_id,
            "customer_phone": self.customer.phone,
            "items": self.items,
            "total_amount": self.total,
            "driver": self.driver,
            "cancel_reason": self.cancel_reason,
            "created_at": self.created_at,
        }, NOTE


@dataclasses.dataclass
class Evening:
    """The model: the menu, the customers and their orders, and what was published."""

    client: RawClient
    rng: random.Random
    menu: dict[str, Decimal]
    customers: list[Customer]
    events: Watch
    customer_events: Watch
    menu_events: Watch
    orders: dict[str, Order] = dataclasses.field(default_factory=dict)
    menu_changes: set[str] = dataclasses.field(default_factory=set)
    refused_orders: int = 0
    conflicts: int = 0

    async def send(self, name: str, /, **body: Any) -> Reply:
        reply = await self.client.call(COMMANDS, name, json_body(**body))
        assert reply.status == reply.body["status"], (reply, NOTE)
        return reply

    async def ask(self, name: str, /, **body: Any) -> Reply:
        reply = await self.client.call(QUERIES, name, json_body(**body))
        assert reply.status == 200, (name, body, reply, NOTE)
        return reply

    def pizza(self) -> tuple[dict[str, Any], tuple[str, str, list[str], str] | None]:
        """A pizza to order, and how the model prices it (None: not on the menu)."""
        if self.rng.random() < 0.06:
            name = self.rng.choice(["hawaii", "pepperoni"])
        else:
            name = self.rng.choice(sorted(self.menu))
        size = self.rng.choice(sorted(FACTORS))
        toppings = self.rng.sample(TOPPINGS, self.rng.randrange(3))
        spelled = {"name": self.rng.choice([name, name.upper(), name.title()]), "size": size}
        if name not in self.menu:
            return spelled | {"toppings": toppings}, None
        priced = (name, size, toppings, price(self.menu[name], size, len(toppings)))
        return spelled | {"toppings": toppings}, priced

    async def place(self) -> None:
        customer = self.rng.choice(self.customers)
        wanted = [self.pizza() for _ in range(self.rng.randrange(1, 4))]
        reply = await self.send(
            "orders.place",
            customer_name=customer.name,
            customer_phone=self.rng.choice(customer.spellings),
            pizzas=[body for body, _ in wanted],
            payment_method=self.rng.choice(["cash", "card", "online"]),
        )
        missing = [index for index, (_, priced) in enumerate(wanted) if priced is None]
        if missing:
            assert reply.status == 400, (reply, NOTE)
            assert reply.body["errors"][0]["field"] == f"pizzas.{missing[0]}.name", NOTE
            for name in self.menu:
                assert name in reply.body["detail"], NOTE
            self.refused_orders += 1
            return
        assert reply.status == 201, (reply, NOTE)
        data = reply.body["data"]
        customer.customer_id = customer.customer_id or data["customer_id"]
        items = [priced for _, priced in wanted if priced is not None]
        total = sum((Decimal(unit) for *_, unit in items), Decimal("0.00"))
        order = Order(
            data["id"], customer, items, str(total), datetime.fromisoformat(data["created_at"])
        )
        order.matches(data)
        self.orders[order.id] = order

    async def move(self, order: Order) -> None:
        """One random step for an open order: on, cancelled, or refused."""
        roll = self.rng.random()
        if roll < 0.7 and order.status in NEXT_STEP:
            await self.command(order, NEXT_STEP[order.status])
        elif roll < 0.82:
            await self.command(order, "orders.cancel")
        else:
            await self.command(order, self.rng.choice(sorted(ALLOWED_FROM)))

    async def command(self, order: Order, command: str) -> None:
        """Send a command about an order; check the reply, and the model follows."""
        extra = {"driver": f"driver-{self.rng.randrange(5)}"} if "assign" in command else {}
        if command == "orders.cancel":
            extra = {"reason": f"reason-{self.rng.randrange(100)}"}
        reply = await self.send(command, order_id=order.id, **extra)
        if order.status not in ALLOWED_FROM[command]:
            assert reply.status == 409, (command, order.status, reply, NOTE)
            assert f"is {order.status}" in reply.body["detail"], NOTE
            self.conflicts += 1
            return
        assert reply.status == 200, (command, order.status, reply, NOTE)
        order.status, kinds = OUTCOME[command]
        order.events += kinds
        order.version += len(kinds)
        order.driver = extra.get("driver", order.driver)
        order.cancel_reason = extra.get("reason", order.cancel_reason)
        order.matches(reply.body["data"])

    async def closing_time(self) -> None:
        """The oldest open order is delivered, the newest cancelled; a late cancel is refused."""
        still_open = sorted(
            (o for o in self.orders.values() if o.status in NEXT_STEP), key=lambda o: o.key
        )
        oldest, newest = still_open[0], still_open[-1]
        while oldest.status in NEXT_STEP:
            await self.command(oldest, NEXT_STEP[oldest.status])
        await self.command(newest, "orders.cancel")
        await self.command(oldest, "orders.cancel")

    async def change_menu(self) -> None:
        changes = [
            ("menu.update-pizza", {"name": "Margherita", "base_price": "13.49"}, 200),
            ("menu.remove-pizza", {"name": "pepperoni"}, 200),
            ("menu.add-pizza", {"name": "diavola", "base_price": "15.50"}, 201),
            ("menu.update-pizza", {"name": "vegetariana", "description": "Garden"}, 200),
            ("menu.update-pizza", {"name": "SUPREME", "base_price": "17.99"}, 200),
            ("menu.add-pizza", {"name": "Supreme", "base_price": "1.00"}, 409),
            ("menu.remove-pizza", {"name": "pepperoni"}, 404),
        ]
        for name, body, status in changes:
            reply = await self.send(name, **body)
            assert reply.status == status, (name, body, reply, NOTE)
            self.menu_changes.add(reply.correlation_id or "")
        self.menu["margherita"] = Decimal("13.49")
        del self.menu["pepperoni"]
        self.menu["diavola"] = Decimal("15.50")

    def expected_events(self) -> int:
        return sum(len(order.events) for order in self.orders.values())


def new_customers(rng: random.Random) -> list[Customer]:
    customers = []
    for index in range(CUSTOMERS):
        number = f"3{rng.randrange(10**8, 10**9)}"
        spellings = [
            f"+39 {number}",
            f"+39{number}",
            f"+39-{number[:3]}-{number[3:6]}-{number[6:]}",
            f"+39 ({number[:3]}) {number[3:]}",
        ]
        customers.append(Customer(f"Guest {index}", f"+39{number}", spellings))
    return customers


@pytest.fixture(scope="module")
async def evening(client: RawClient) -> Evening:
    """The evening, played: every reply was checked against the model on its way."""
    rng = random.Random(SEED)
    model = Evening(
        client,
        rng,
        {
            "margherita": Decimal("12.99"),
            "pepperoni": Decimal("14.99"),
            "supreme": Decimal("17.99"),
            "quattro formaggi": Decimal("15.99"),
            "vegetariana": Decimal("14.49"),
        },
        new_customers(rng),
        await client.watch_events("orders.#"),
        await client.watch_events("customers.#"),
        await client.watch_events("menu.#"),
    )
    for wave in range(WAVES):
        if wave == WAVES // 2:
            await check_queries(model)
            await model.change_menu()
        await asyncio.gather(*(model.place() for _ in range(ORDERS_PER_WAVE)))
        open_orders = [o for o in model.orders.values() if o.status in NEXT_STEP]
        moving = rng.sample(open_orders, len(open_orders) * MOVING // 100)
        await asyncio.gather(*(model.move(order) for order in moving))
    await model.closing_time()
    assert len(model.orders) > WAVES * ORDERS_PER_WAVE * 3 // 4, NOTE
    return model


async def every(model: Evening, query: str, **body: Any) -> list[dict[str, Any]]:
    """Every order of a paged list, each page no longer than asked."""
    found: list[dict[str, Any]] = []
    cursor = None
    for _ in range(50):
        page = (await model.ask(query, limit=PAGE, cursor=cursor, **body)).body["data"]
        assert len(page["items"]) <= PAGE, NOTE
        found += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return found
    raise AssertionError(f"{query} never ended {NOTE}")


async def check_queries(model: Evening) -> None:
    """Every query against the model: each order, the kitchen's queue, each customer's list."""
    got = await asyncio.gather(
        *(model.ask("orders.get", order_id=order_id) for order_id in model.orders)
    )
    for reply in got:
        model.orders[reply.body["data"]["id"]].matches(reply.body["data"])

    # Commands a previous run left in the shared queue may have placed orders here too.
    queue = await every(model, "orders.list-active")
    expected = sorted((o for o in model.orders.values() if o.status in ACTIVE), key=lambda o: o.key)
    ours = [view for view in queue if view["id"] in model.orders]
    assert [v["id"] for v in ours] == [o.id for o in expected], NOTE
    for view in ours:
        model.orders[view["id"]].matches(view)

    for customer in model.customers:
        spelling = model.rng.choice(customer.spellings)
        listed = await every(model, "orders.list-by-customer", customer_phone=spelling)
        theirs = [o for o in model.orders.values() if o.customer is customer]
        newest_first = sorted(theirs, key=lambda o: o.key, reverse=True)
        assert [v["id"] for v in listed] == [o.id for o in newest_first], (customer, NOTE)
        for view in listed:
            model.orders[view["id"]].matches(view)


async def test_every_query_tells_what_the_model_knows(evening: Evening) -> None:
    assert evening.conflicts > 0, NOTE
    assert any(o.status == "cancelled" for o in evening.orders.values()), NOTE
    assert any(o.status == "delivered" for o in evening.orders.values()), NOTE

    await check_queries(evening)


def body_of(message: AbstractIncomingMessage) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(message.body)
    return body


async def test_each_order_published_its_events_once_in_version_order(evening: Evening) -> None:
    await evening.events.collect(
        lambda m: header(m, "cloudEvents:subject") in evening.orders, evening.expected_events()
    )
    seen: dict[str, list[AbstractIncomingMessage]] = {order_id: [] for order_id in evening.orders}
    ids: set[str] = set()
    for message in evening.events.received:
        subject = header(message, "cloudEvents:subject")
        if subject in seen and message.message_id not in ids:
            ids.add(message.message_id or "")
            seen[subject].append(message)

    for order_id, order in evening.orders.items():
        published = [(m.routing_key, body_of(m)["version"]) for m in seen[order_id]]
        assert published == [(kind, v) for v, kind in enumerate(order.events, 1)], NOTE


async def test_each_customer_was_registered_once(evening: Evening) -> None:
    known = {c.customer_id: c for c in evening.customers if c.customer_id}

    registered = [
        body_of(m)
        for m in evening.customer_events.received
        if m.routing_key == "customers.registered" and body_of(m)["customer_id"] in known
    ]

    assert sorted(body["customer_id"] for body in registered) == sorted(known), NOTE
    for body in registered:
        assert body["phone"] == known[body["customer_id"]].phone, NOTE


async def test_the_menu_is_the_operators_and_its_changes_were_published(
    evening: Evening,
) -> None:
    menu = (await evening.ask("menu.get")).body["data"]

    assert {p["name"].lower(): p["base_price"] for p in menu["pizzas"]} == {
        name: str(base) for name, base in evening.menu.items()
    }, NOTE
    for pizza in menu["pizzas"]:
        base = evening.menu[pizza["name"].lower()]
        assert pizza["prices"] == {size: price(base, size, 0) for size in FACTORS}, NOTE
    published = await evening.menu_events.collect(
        lambda m: m.correlation_id in evening.menu_changes, 4
    )
    changes = [
        (m.routing_key, body_of(m)["name"].lower(), body_of(m)["version"]) for m in published
    ]
    assert changes == [
        ("menu.pizza-updated", "margherita", 2),
        ("menu.pizza-removed", "pepperoni", 2),
        ("menu.pizza-added", "diavola", 1),
        ("menu.pizza-updated", "vegetariana", 2),
    ], NOTE


async def test_the_next_morning_the_worker_starts_on_the_same_evening(
    evening: Evening, worker: WorkerProcess, amqp_url: str, mongodb_url: str
) -> None:
    assert await stop(worker) == 0, worker.log
    morning = await Relaunched.on(worker.database, amqp_url, mongodb_url)
    try:
        menu = (await evening.ask("menu.get")).body["data"]
        await check_queries(evening)
        await evening.place()
    finally:
        code = await morning.stop()

    assert {p["name"].lower() for p in menu["pizzas"]} == set(evening.menu), NOTE
    assert "seeded the default menu" in worker.log
    assert "seeded the default menu" not in morning.worker.log
    assert code == 0, morning.worker.log
    for log in (worker.log, morning.worker.log):
        assert "Traceback" not in log, log
    assert evening.client.unexpected == []
