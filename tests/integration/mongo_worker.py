"""The worker's mediator on MongoDB without RabbitMQ: a relay records what it would publish.

Each `MongoWorker` is what one worker process holds: its own stores, relay,
menu cache and lanes. Two of them on the same collections are two workers.
"""

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

from pymongo.asynchronous.database import AsyncDatabase

from pizzeria_contracts import names
from worker.adapters.mongo.database import INDEXES, Collections, Document
from worker.adapters.mongo.menu import MongoMenu, seed_menu
from worker.adapters.mongo.outbox import OutboxRelay
from worker.adapters.mongo.store import MongoAggregateStore, MongoCustomerStore
from worker.application.context import MessageContext
from worker.application.errors import TransientError
from worker.application.mediator import Mediator, Outcome
from worker.bootstrap import build_mediator, on_mongodb, utc_now
from worker.domain.orders import Order
from worker.settings import Settings

from .conftest import RecordingPublisher, fixed_places

DELIVERIES = 6
"""How often a command that failed for a passing reason is delivered again."""


async def fresh_collections(database: AsyncDatabase[Document]) -> Collections:
    """Collections of their own (so lists and sweeps see only their orders), menu seeded."""
    suffix = uuid4().hex[:8]
    collections = Collections(
        *(database[f"{field.name}_{suffix}"] for field in dataclasses.fields(Collections))
    )
    for field in dataclasses.fields(Collections):
        for index in INDEXES[field.name]:  # one at a time, as the worker does
            await getattr(collections, field.name).create_indexes([index])
    await seed_menu(collections.menu)
    return collections


@dataclasses.dataclass
class MongoWorker:
    collections: Collections
    published: RecordingPublisher
    relay: OutboxRelay
    orders: MongoAggregateStore[Order]
    customers: MongoCustomerStore
    menu: MongoMenu
    mediator: Mediator
    _task: asyncio.Task[None]

    @classmethod
    def start(
        cls,
        collections: Collections,
        *,
        clock: Callable[[], datetime] = utc_now,
        menu_ttl: float = 60.0,
        orders: type[MongoAggregateStore[Order]] = MongoAggregateStore,
        customers: type[MongoCustomerStore] = MongoCustomerStore,
    ) -> "MongoWorker":
        published = RecordingPublisher()
        wired = on_mongodb(
            collections,
            fixed_places(collections).__getitem__,
            published,
            Settings(sales_time_zone=ZoneInfo("UTC"), menu_cache_seconds=menu_ttl),
            clock=clock,
            order_store=orders,
            customer_store=customers,
        )
        mediator = build_mediator(wired.adapters)
        task = asyncio.create_task(wired.relay.run())
        return cls(
            collections,
            published,
            wired.relay,
            wired.orders,
            wired.customers,
            wired.menu,
            mediator,
            task,
        )

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def command(
        self, name: str, body: dict[str, Any], message_id: str | None = None
    ) -> Outcome:
        """Deliver a command until it gets a reply, as the broker's retries would."""
        context = MessageContext(
            name=name, exchange=names.COMMANDS_EXCHANGE, message_id=message_id or uuid4().hex
        )
        for attempt in range(DELIVERIES):
            try:
                outcome = await self.mediator.send(name, json.dumps(body).encode(), context)
            except TransientError:
                if attempt == DELIVERIES - 1:
                    raise
                await asyncio.sleep(0.05 * 2**attempt)
            else:
                await outcome.published()  # as the subscriber answers
                return outcome
        raise AssertionError("unreachable")

    async def query(self, name: str, body: dict[str, Any]) -> Outcome:
        context = MessageContext(name=name, exchange=names.QUERIES_EXCHANGE)
        return await self.mediator.send(name, json.dumps(body).encode(), context)

    async def ok(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """A command or query that must succeed; its reply's data."""
        is_command = name in COMMANDS
        outcome = await (self.command(name, body) if is_command else self.query(name, body))
        assert outcome.result.ok, (name, body, outcome.result)
        data: dict[str, Any] = outcome.result.data
        return data


COMMANDS = frozenset(
    {
        names.PLACE_ORDER,
        names.START_COOKING,
        names.MARK_READY,
        names.ASSIGN_DELIVERY,
        names.DELIVER_ORDER,
        names.CANCEL_ORDER,
        names.ADD_PIZZA,
        names.UPDATE_PIZZA,
        names.REMOVE_PIZZA,
    }
)


def order_body(phone: str, *pizzas: dict[str, Any], name: str = "Anna Bianchi") -> dict[str, Any]:
    """An `orders.place` body; one small margherita unless told otherwise."""
    return {
        "customer_name": name,
        "customer_phone": phone,
        "pizzas": list(pizzas) or [{"name": "margherita", "size": "small"}],
    }
