"""One order's whole life over AMQP, and every refusal an order command can meet."""

import json
import random
from typing import Any

import pytest
from aio_pika.abc import AbstractIncomingMessage

from tests.e2e.amqp import COMMANDS, QUERIES, RawClient, Reply, Watch, header, json_body, new_id
from tests.e2e.conftest import WorkerProcess

pytestmark = pytest.mark.e2e

ORDER_COMMANDS = {
    "orders.start-cooking": {},
    "orders.mark-ready": {},
    "orders.assign-delivery": {"driver": "Luigi"},
    "orders.deliver": {},
    "orders.cancel": {"reason": "changed my mind"},
}
"""Every command about an existing order, with what else its body needs."""
PATH = ["orders.start-cooking", "orders.mark-ready", "orders.assign-delivery", "orders.deliver"]
ALLOWED = {
    "confirmed": ["start cooking", "cancel"],
    "cooking": ["mark ready", "cancel"],
    "ready": ["assign delivery", "cancel"],
    "delivering": ["deliver", "cancel"],
    "delivered": [],
    "cancelled": [],
}
"""What the contract lets each status do next."""
NEXT = {
    "orders.start-cooking": "start cooking",
    "orders.mark-ready": "mark ready",
    "orders.assign-delivery": "assign delivery",
    "orders.deliver": "deliver",
    "orders.cancel": "cancel",
}
ACTIVE = {"confirmed", "cooking", "ready"}


def new_phone() -> str:
    return f"+39 3{random.randrange(10**8, 10**9)}"


def digits(phone: str) -> str:
    return "+" + "".join(char for char in phone if char.isdigit())


def order_body(phone: str) -> bytes:
    return json_body(
        customer_name="Giulia Neri",
        customer_phone=phone,
        customer_address="Via Toledo 5, Napoli",
        pizzas=[
            {"name": "margherita", "size": "large", "toppings": ["basil", "olives"]},
            {"name": "Quattro Formaggi", "size": "medium"},
        ],
        payment_method="online",
        notes="third floor",
    )


def body_of(message: AbstractIncomingMessage) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(message.body)
    return body


class Pizzeria:
    """The worker as a client sees it: commands, queries, and everything it published."""

    def __init__(self, client: RawClient, events: Watch, dead_letters: Watch) -> None:
        self.client = client
        self.events = events
        self.dead_letters = dead_letters
        self.refused: list[str] = []
        """Correlation ids of the commands that were refused: they must cause no event."""

    async def send(self, name: str, correlation_id: str | None = None, /, **body: Any) -> Reply:
        reply = await self.client.call(
            COMMANDS, name, json_body(**body), correlation_id=correlation_id or new_id()
        )
        assert reply.status == reply.body["status"], reply
        if reply.status >= 400:
            self.refused.append(reply.correlation_id or "")
        return reply

    async def ask(self, name: str, /, **body: Any) -> Reply:
        reply = await self.client.call(QUERIES, name, json_body(**body))
        assert reply.status == reply.body["status"], reply
        return reply

    async def place(self, phone: str) -> dict[str, Any]:
        reply = await self.client.call(COMMANDS, "orders.place", order_body(phone))
        assert reply.status == 201, reply
        data: dict[str, Any] = reply.body["data"]
        return data

    async def move(self, order_id: str, steps: list[str]) -> None:
        for name in steps:
            reply = await self.send(name, order_id=order_id, **ORDER_COMMANDS[name])
            assert reply.status == 200, reply

    async def every(self, query: str, **body: Any) -> list[dict[str, Any]]:
        """Every order a paged list holds, following its cursor."""
        found: list[dict[str, Any]] = []
        cursor = None
        for _ in range(20):
            reply = await self.ask(query, limit=3, cursor=cursor, **body)
            assert reply.status == 200, reply
            found += reply.body["data"]["items"]
            cursor = reply.body["data"]["next_cursor"]
            if cursor is None:
                return found
        raise AssertionError(f"{query} never ended")

    async def events_of(self, correlation_id: str, count: int) -> list[AbstractIncomingMessage]:
        return await self.events.collect(lambda m: m.correlation_id == correlation_id, count)


@pytest.fixture(scope="module")
async def pizzeria(client: RawClient) -> Pizzeria:
    return Pizzeria(
        client, await client.watch_events("orders.#"), await client.watch_dead_letters()
    )


async def test_one_order_walked_through_its_whole_life(pizzeria: Pizzeria) -> None:
    phone = new_phone()
    place_id = new_id()
    steps: list[tuple[str, dict[str, str], int, str, list[str]]] = [
        ("orders.place", {}, 201, "confirmed", ["orders.placed", "orders.confirmed"]),
        ("orders.start-cooking", {}, 200, "cooking", ["orders.cooking-started"]),
        ("orders.mark-ready", {}, 200, "ready", ["orders.ready"]),
        (
            "orders.assign-delivery",
            {"driver": "Luigi"},
            200,
            "delivering",
            ["orders.delivery-assigned", "orders.out-for-delivery"],
        ),
        ("orders.deliver", {}, 200, "delivered", ["orders.delivered"]),
    ]
    order_id = ""
    version = 0
    first: dict[str, Any] = {}
    for name, extra, status, order_status, kinds in steps:
        correlation_id = new_id()
        if name == "orders.place":
            reply = await pizzeria.client.call(
                COMMANDS,
                name,
                order_body(phone),
                message_id=place_id,
                correlation_id=correlation_id,
            )
            order_id = reply.body["data"]["id"]
            first = reply.body["data"]
        else:
            reply = await pizzeria.send(name, correlation_id, order_id=order_id, **extra)
        order = reply.body["data"]
        versions = list(range(version + 1, version + 1 + len(kinds)))
        version = versions[-1]

        assert (reply.status, reply.correlation_id) == (status, correlation_id), reply
        assert (order["id"], order["status"], order["version"]) == (order_id, order_status, version)
        assert (order["items"], order["total_amount"]) == (first["items"], "46.57")
        assert order["driver"] == (None if version < 5 else "Luigi")
        assert order["customer_phone"] == digits(phone)
        events = await pizzeria.events_of(correlation_id, len(kinds))
        assert [(e.routing_key, e.type) for e in events] == [(kind, kind) for kind in kinds]
        assert [(body_of(e)["order_id"], body_of(e)["version"]) for e in events] == [
            (order_id, v) for v in versions
        ]
        assert {header(e, "cloudEvents:subject") for e in events} == {order_id}
        got = await pizzeria.ask("orders.get", order_id=order_id)
        assert (got.status, got.body["data"]) == (200, order)
        queue = {o["id"]: o for o in await pizzeria.every("orders.list-active")}
        assert queue.get(order_id) == (order if order_status in ACTIVE else None)
        mine = await pizzeria.every("orders.list-by-customer", customer_phone=digits(phone))
        assert mine == [order]

    assert version == 7
    life = [
        (e.routing_key, body_of(e)["version"])
        for e in pizzeria.events.received
        if header(e, "cloudEvents:subject") == order_id
    ]
    assert life == [(kind, v) for v, kind in enumerate((k for s in steps for k in s[4]), 1)]


async def test_items_are_priced_from_the_menu(pizzeria: Pizzeria) -> None:
    order = await pizzeria.place(new_phone())

    assert [(i["name"], i["size"], i["toppings"], i["unit_price"]) for i in order["items"]] == [
        ("margherita", "large", ["basil", "olives"], "25.78"),  # 12.99 x 1.60 + 2 x 2.50
        ("quattro formaggi", "medium", [], "20.79"),  # 15.99 x 1.30 = 20.787
    ]
    assert order["total_amount"] == "46.57"


REFUSED = [
    (status, name)
    for status, allowed in ALLOWED.items()
    for name, action in NEXT.items()
    if action not in allowed
]


@pytest.fixture(scope="module")
async def orders_in(pizzeria: Pizzeria) -> dict[str, dict[str, Any]]:
    """One order in each status, as it stands there."""
    found = {}
    for status in ALLOWED:
        order = await pizzeria.place(new_phone())
        steps = ["orders.cancel"] if status == "cancelled" else PATH[: list(ALLOWED).index(status)]
        await pizzeria.move(order["id"], steps)
        found[status] = (await pizzeria.ask("orders.get", order_id=order["id"])).body["data"]
        assert found[status]["status"] == status
    return found


@pytest.mark.parametrize(("status", "name"), REFUSED)
async def test_a_command_its_status_does_not_allow_is_a_409_that_says_why(
    pizzeria: Pizzeria, orders_in: dict[str, dict[str, Any]], status: str, name: str
) -> None:
    order = orders_in[status]

    reply = await pizzeria.send(name, order_id=order["id"], **ORDER_COMMANDS[name])

    assert reply.status == 409, reply
    assert reply.body["title"] == "Conflict"
    detail = reply.body["detail"]
    assert f"is {status}" in detail
    allowed = detail.partition(f"allowed from {status}:")[2]
    for action in ALLOWED[status] or ["nothing"]:
        assert action in allowed, detail
    assert [error["field"] for error in reply.body["errors"]] == ["order_id"]
    assert "data" not in reply.body
    unchanged = await pizzeria.ask("orders.get", order_id=order["id"])
    assert unchanged.body["data"] == order


@pytest.mark.parametrize("name", [*ORDER_COMMANDS, "orders.get"])
async def test_an_unknown_order_is_a_404_for_every_order_message(
    pizzeria: Pizzeria, name: str
) -> None:
    order_id = new_id()

    if name == "orders.get":
        reply = await pizzeria.ask(name, order_id=order_id)
    else:
        reply = await pizzeria.send(name, order_id=order_id, **ORDER_COMMANDS[name])

    assert reply.status == 404, reply
    assert reply.body["title"] == "Not Found"
    assert order_id in reply.body["detail"]
    assert [error["field"] for error in reply.body["errors"]] == ["order_id"]
    assert "data" not in reply.body


async def test_refusals_cause_no_event_and_no_dead_letter(
    pizzeria: Pizzeria, worker: WorkerProcess
) -> None:
    refused = set(pizzeria.refused)
    assert len(refused) == len(REFUSED) + len(ORDER_COMMANDS)

    await pizzeria.events.quiet(lambda _: True, 0.3)

    assert [e.routing_key for e in pizzeria.events.received if e.correlation_id in refused] == []
    assert [m for m in pizzeria.dead_letters.received if m.correlation_id in refused] == []
    assert pizzeria.client.unexpected == []
    assert "Traceback" not in worker.log, worker.log
