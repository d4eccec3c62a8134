"""The tutorial over AMQP: place a Margherita, an empty order, and ask for an unknown order."""

import dataclasses
import json
import random
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pytest
from aio_pika.abc import AbstractIncomingMessage

from tests.e2e.amqp import COMMANDS, QUERIES, RawClient, Reply, Watch, header, json_body, new_id
from tests.e2e.conftest import WorkerProcess

pytestmark = pytest.mark.e2e

SOURCE = "urn:pizzeria:order-service"


def new_phone() -> str:
    return f"+39{random.randrange(10**9, 10**10)}"


def order_command(phone: str, *pizzas: Mapping[str, object]) -> bytes:
    return json_body(
        customer_name="Luigi Verdi",
        customer_phone=phone,
        customer_address="Via Roma 1, Napoli",
        pizzas=list(pizzas),
        payment_method="card",
    )


MARGHERITA = {"name": "Margherita", "size": "small"}


@dataclasses.dataclass(frozen=True)
class PlacedOrder:
    """An order placed by the tutorial, with what the worker sent back and published."""

    correlation_id: str
    phone: str
    reply: Reply
    order_events: list[AbstractIncomingMessage]
    customer_events: list[AbstractIncomingMessage]

    @property
    def order(self) -> dict[str, Any]:
        data = self.reply.body["data"]
        assert isinstance(data, dict)
        return data


@pytest.fixture(scope="module")
async def order_events(client: RawClient) -> Watch:
    return await client.watch_events("orders.#")


@pytest.fixture(scope="module")
async def customer_events(client: RawClient) -> Watch:
    return await client.watch_events("customers.#")


@pytest.fixture(scope="module")
async def dead_letters(client: RawClient) -> Watch:
    return await client.watch_dead_letters()


@pytest.fixture(scope="module")
async def placed(client: RawClient, order_events: Watch, customer_events: Watch) -> PlacedOrder:
    correlation_id, phone = new_id(), new_phone()
    reply = await client.call(
        COMMANDS, "orders.place", order_command(phone, MARGHERITA), correlation_id=correlation_id
    )
    assert reply.status == 201, reply
    order_id = reply.body["data"]["id"]

    def about_the_order(message: AbstractIncomingMessage) -> bool:
        return bool(header(message, "cloudEvents:subject") == order_id)

    def with_the_phone(message: AbstractIncomingMessage) -> bool:
        return bytes(phone, "utf-8") in message.body

    return PlacedOrder(
        correlation_id,
        phone,
        reply,
        await order_events.collect(about_the_order, 2),
        await customer_events.collect(with_the_phone, 1),
    )


async def test_placing_a_margherita_confirms_a_priced_order(placed: PlacedOrder) -> None:
    reply, order = placed.reply, placed.order
    assert reply.status == 201
    assert reply.correlation_id == placed.correlation_id
    assert reply.content_type == "application/json"
    assert reply.body["status"] == 201
    assert order["status"] == "confirmed"
    assert order["version"] == 2
    assert order["total_amount"] == "12.99"
    assert order["customer_phone"] == placed.phone
    assert order["customer_name"] == "Luigi Verdi"
    assert order["payment_method"] == "card"
    assert order["driver"] is None
    assert isinstance(order["id"], str)
    assert isinstance(order["customer_id"], str)
    for moment in ("created_at", "updated_at"):
        assert isinstance(order[moment], str)
        assert datetime.fromisoformat(str(order[moment])).utcoffset() is not None
    [item] = order["items"]
    assert item["name"].lower() == "margherita"
    assert item["size"] == "small"
    assert item["toppings"] == []
    assert item["unit_price"] == "12.99"
    assert isinstance(item["line_item_id"], str)
    assert item["line_item_id"]


async def test_reading_the_order_back_returns_the_order_of_the_reply(
    client: RawClient, placed: PlacedOrder
) -> None:
    reply = await client.call(QUERIES, "orders.get", json_body(order_id=placed.order["id"]))

    assert reply.status == 200
    assert reply.body["data"] == placed.order


async def test_the_order_is_placed_then_confirmed_in_events(placed: PlacedOrder) -> None:
    placed_event, confirmed_event = placed.order_events

    assert [placed_event.routing_key, confirmed_event.routing_key] == [
        "orders.placed",
        "orders.confirmed",
    ]
    assert [event.type for event in placed.order_events] == ["orders.placed", "orders.confirmed"]
    for version, event in enumerate(placed.order_events, start=1):
        body = json_loads(event)
        assert body["order_id"] == placed.order["id"]
        assert body["version"] == version
    assert json_loads(placed_event)["total_amount"] == "12.99"


async def test_events_carry_the_command_correlation_and_cloud_events_headers(
    placed: PlacedOrder,
) -> None:
    for event in placed.order_events:
        assert event.delivery_mode == 2
        assert event.content_type == "application/json"
        assert event.message_id
        assert event.correlation_id == placed.correlation_id
        assert header(event, "cloudEvents:specversion") == "1.0"
        assert header(event, "cloudEvents:id") == event.message_id
        assert header(event, "cloudEvents:source") == SOURCE
        assert header(event, "cloudEvents:type") == event.type
        assert header(event, "cloudEvents:subject") == placed.order["id"]
        sent_at = datetime.fromisoformat(header(event, "cloudEvents:time"))
        assert sent_at.utcoffset() is not None
        assert sent_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert len({event.message_id for event in placed.order_events}) == 2


async def test_a_first_order_registers_the_customer(placed: PlacedOrder) -> None:
    [registered] = placed.customer_events

    assert registered.routing_key == "customers.registered"
    assert registered.type == "customers.registered"
    assert registered.delivery_mode == 2
    assert registered.message_id
    assert header(registered, "cloudEvents:id") == registered.message_id
    assert header(registered, "cloudEvents:subject") == placed.order["customer_id"]
    body = json_loads(registered)
    assert body["customer_id"] == placed.order["customer_id"]
    assert body["phone"] == placed.phone
    assert body["version"] == 1


async def test_the_registration_carries_the_command_correlation(placed: PlacedOrder) -> None:
    [registered] = placed.customer_events

    assert registered.correlation_id == placed.correlation_id


async def test_a_second_order_with_the_same_phone_registers_nobody(
    client: RawClient, placed: PlacedOrder, order_events: Watch, customer_events: Watch
) -> None:
    correlation_id = new_id()
    reply = await client.call(
        COMMANDS,
        "orders.place",
        order_command(placed.phone, MARGHERITA, {"name": "pepperoni", "size": "LARGE"}),
        correlation_id=correlation_id,
    )
    assert reply.status == 201, reply
    assert reply.body["data"]["customer_id"] == placed.order["customer_id"]
    assert reply.body["data"]["id"] != placed.order["id"]

    def caused_by_it(message: AbstractIncomingMessage) -> bool:
        return message.correlation_id == correlation_id

    # The order's events come after the customer's would: once they are in, none can follow.
    await order_events.collect(caused_by_it, 2)
    assert [
        event
        for event in await customer_events.quiet(lambda _: True, 0.3)
        if bytes(placed.phone, "utf-8") in event.body
    ] == placed.customer_events


async def test_an_order_without_pizzas_is_a_bad_request_and_not_a_dead_letter(
    client: RawClient, dead_letters: Watch
) -> None:
    message_id = new_id()
    reply = await client.call(
        COMMANDS, "orders.place", order_command(new_phone()), message_id=message_id
    )

    assert reply.status == 400
    assert reply.correlation_id == message_id  # no correlation_id: the message_id stands in
    assert reply.body["status"] == 400
    assert "must contain at least one pizza" in reply.body["detail"]
    assert [error["field"] for error in reply.body["errors"]] == ["pizzas"]
    assert await dead_letters.quiet(lambda m: m.message_id == message_id, 0.3) == []


async def test_an_unknown_order_is_not_found(client: RawClient) -> None:
    reply = await client.call(QUERIES, "orders.get", json_body(order_id=new_id()))

    assert reply.status == 404
    assert reply.body["status"] == 404
    assert "data" not in reply.body


async def test_the_tutorial_logs_no_traceback(worker: WorkerProcess, client: RawClient) -> None:
    assert worker.running
    assert "Traceback" not in worker.log, worker.log
    assert client.unexpected == []


def json_loads(message: AbstractIncomingMessage) -> dict[str, object]:
    body = json.loads(message.body)
    assert isinstance(body, dict)
    return body
