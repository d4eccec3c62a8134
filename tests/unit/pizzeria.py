"""The worker's mediator on the in-memory fakes, driven with raw bodies as they arrive."""

import dataclasses
import json
from typing import Any
from uuid import uuid4

from pizzeria_contracts import names
from tests.fakes import (
    FakeCustomers,
    FakeOrders,
    fake_adapters,
)
from worker.application.context import MessageContext
from worker.application.mediator import Mediator, Outcome
from worker.bootstrap import build_mediator

Body = dict[str, Any] | bytes


def encode(body: Body) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def order_body(**changes: Any) -> dict[str, Any]:
    """An `orders.place` body: one small Margherita for Ann, unless told otherwise."""
    body: dict[str, Any] = {
        "customer_name": "Ann",
        "customer_phone": "+1 555 0100",
        "pizzas": [{"name": "margherita", "size": "small"}],
    }
    return body | changes


@dataclasses.dataclass
class Pizzeria:
    orders: FakeOrders
    customers: FakeCustomers
    mediator: Mediator

    @classmethod
    def open(
        cls,
        orders: FakeOrders | None = None,
        customers: FakeCustomers | None = None,
        max_body_bytes: int = 64 * 1024,
    ) -> "Pizzeria":
        orders = orders or FakeOrders()
        customers = customers or FakeCustomers()
        mediator = build_mediator(
            fake_adapters(orders, customers=customers),
            max_body_bytes=max_body_bytes,
        )
        return cls(orders, customers, mediator)

    async def command(self, name: str, body: Body, message_id: str | None = None) -> Outcome:
        context = MessageContext(
            name=name,
            exchange=names.COMMANDS_EXCHANGE,
            message_id=message_id or uuid4().hex,
        )
        return await self.mediator.send(name, encode(body), context)

    async def query(self, name: str, body: Body) -> Outcome:
        context = MessageContext(name=name, exchange=names.QUERIES_EXCHANGE)
        return await self.mediator.send(name, encode(body), context)

    async def place(self, **changes: Any) -> dict[str, Any]:
        """Place an order and return it as the reply's data."""
        outcome = await self.command(names.PLACE_ORDER, order_body(**changes))
        assert outcome.result.status == 201, outcome.result
        data: dict[str, Any] = outcome.result.data
        return data

    def event_types(self) -> list[str]:
        return [event.type for event in self.customers.events + self.orders.events]
