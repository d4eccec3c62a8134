"""What the deadline tests share: short timeouts, and orders driven over the wire."""

import json
from typing import Any

from aio_pika.abc import AbstractIncomingMessage

from tests.e2e.amqp import COMMANDS, QUERIES, RawClient, json_body

WARN, CANCEL, LATE = 2.0, 4.0, 2.0
SHORT_TIMEOUTS = {
    "PIZZERIA_KITCHEN_WARN_AFTER": str(WARN),
    "PIZZERIA_KITCHEN_CANCEL_AFTER": str(CANCEL),
    "PIZZERIA_DELIVERY_LATE_AFTER": str(LATE),
    "PIZZERIA_DEADLINE_POLL_SECONDS": "0.2",
}


async def send(client: RawClient, name: str, **fields: Any) -> dict[str, Any]:
    reply = await client.call(COMMANDS, name, json_body(**fields))
    assert reply.status in (200, 201), (name, reply.body)
    data: dict[str, Any] = reply.body["data"]
    return data


async def place(client: RawClient) -> str:
    placed = await send(
        client,
        "orders.place",
        customer_name="Ann",
        customer_phone="+39 333 000 0001",
        pizzas=[{"name": "margherita", "size": "small"}],
    )
    order_id: str = placed["id"]
    return order_id


async def ask(client: RawClient, name: str, **fields: Any) -> dict[str, Any]:
    reply = await client.call(QUERIES, name, json_body(**fields))
    assert reply.status == 200, (name, reply.body)
    data: dict[str, Any] = reply.body["data"]
    return data


def body(message: AbstractIncomingMessage) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(message.body)
    return parsed


def about(order_id: str, *names: str) -> Any:
    """Matches the events of this order, of these names."""
    return lambda m: body(m).get("order_id") == order_id and m.routing_key in names
