"""`orders.place` by hand: the smallest consumer with the worker's guarantees.

- messages persistent, publisher confirms on, ack only after the write and the
  publishes are confirmed (a crash in between redelivers the message);
- the order's id is the message id, so a unique index makes a repeated
  message place nothing new: it answers, and publishes again, what is stored
  (events keep their ids, so the redelivered copy is the outbox);
- the customer is found or registered by phone in one upsert on a unique index;
- the prices come from the menu, read once at start;
- the reply goes to `reply_to` with `mandatory=False`; the same prefetch.
"""

import json
import re
import uuid
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import aio_pika
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage
from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from .counting import Counts

EXCHANGE = "bench.baseline.commands"
QUEUE = "bench.baseline.commands"
EVENTS = "bench.baseline.events"
MENU = {
    "margherita": "12.99",
    "pepperoni": "14.99",
    "supreme": "17.99",
    "quattro formaggi": "15.99",
    "vegetariana": "14.49",
}
SIZES = {"small": Decimal("1.00"), "medium": Decimal("1.30"), "large": Decimal("1.60")}
TOPPING = Decimal("2.50")
CUSTOMERS = uuid.UUID("6f1e7c1a-3b52-4c1e-9a57-0d5b7a1f2e10")
Doc = dict[str, Any]


class BadRequestError(Exception):
    pass


class PlaceOrders:
    def __init__(self, database: AsyncDatabase[Doc], counts: Counts) -> None:
        self.orders = database["orders"]
        self.customers = database["customers"]
        self.menu_collection = database["menu"]
        self.counts = counts
        self.menu: dict[str, Decimal] = {}
        self.events: AbstractExchange | None = None
        self.replies: AbstractExchange | None = None

    async def start(self, channel: aio_pika.abc.AbstractChannel, prefetch: int) -> None:
        await self.customers.create_index([("phone", ASCENDING)], unique=True)
        if await self.menu_collection.find_one({}) is None:
            await self.menu_collection.insert_many(
                [{"_id": k, "price": v} for k, v in MENU.items()]
            )
        self.menu = {d["_id"]: Decimal(d["price"]) async for d in self.menu_collection.find()}
        await channel.set_qos(prefetch_count=prefetch)
        commands = await channel.declare_exchange(EXCHANGE, "direct", durable=True)
        self.events = await channel.declare_exchange(EVENTS, "topic", durable=True)
        self.replies = channel.default_exchange
        queue = await channel.declare_queue(QUEUE, durable=True)
        await queue.bind(commands, "orders.place")
        await queue.purge()
        await queue.consume(self.on_message)

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        try:
            status, order, events = await self.place(message)
        except BadRequestError as error:
            status, order, events = 400, {"detail": str(error)}, []
        except Exception:  # noqa: BLE001 - SQLITE_BUSY, a lost upsert race: try again later
            self.counts.failures += 1
            await message.nack(requeue=True)
            return
        for name, data in events:
            await self.publish_event(name, data, order, message.correlation_id)
        await self.reply(message, status, order)
        await message.ack()
        self.counts.messages += 1

    async def place(self, message: AbstractIncomingMessage) -> tuple[int, Doc, list[Any]]:
        body = json.loads(message.body)
        if not message.message_id or not body.get("pizzas"):
            raise BadRequestError("needs a message_id and pizzas")
        now = datetime.now(UTC)
        phone = "+" + re.sub(r"\D", "", body["customer_phone"])
        customer_id = uuid.uuid5(CUSTOMERS, phone).hex
        details = {k: body.get(f"customer_{k}") for k in ("name", "address", "email")}
        before = await self.customers.find_one_and_update(
            {"phone": phone},
            {"$set": details, "$setOnInsert": {"_id": customer_id, "by": message.message_id}},
            upsert=True,
            return_document=ReturnDocument.BEFORE,
        )
        items = [self.price(pizza) for pizza in body["pizzas"]]
        order: Doc = {
            "_id": message.message_id,
            "status": "confirmed",
            "customer_id": customer_id,
            "customer_name": details["name"],
            "customer_phone": phone,
            "customer_address": details["address"],
            "items": items,
            "total_amount": str(sum(Decimal(i["unit_price"]) for i in items)),
            "payment_method": body.get("payment_method", "cash"),
            "notes": body.get("notes"),
            "created_at": now.isoformat(),
            "version": 2,
        }
        try:
            await self.orders.insert_one(order)
        except DuplicateKeyError:  # seen before: the stored order, its events again
            order = await self.orders.find_one({"_id": message.message_id}) or order
        events: list[Any] = [("orders.placed", order), ("orders.confirmed", {})]
        if before is None or before.get("by") == message.message_id:
            events.append(("customers.registered", {**details, "phone": phone}))
        elif any(before.get(k) != v for k, v in details.items()):
            events.append(("customers.updated", details))
        return 201, order, events

    def price(self, pizza: Doc) -> Doc:
        base = self.menu.get(" ".join(pizza["name"].split()).casefold())
        factor = SIZES.get(pizza.get("size", "medium"))
        if base is None or factor is None:
            raise BadRequestError(f"not on the menu: {pizza}")
        toppings = pizza.get("toppings", [])
        price = (base * factor + TOPPING * len(toppings)).quantize(Decimal("0.01"), ROUND_HALF_UP)
        return {"line_item_id": uuid.uuid4().hex, **pizza, "unit_price": str(price)}

    async def publish_event(
        self, name: str, data: Doc, order: Doc, correlation_id: str | None
    ) -> None:
        assert self.events is not None
        event = aio_pika.Message(
            json.dumps(data, default=str).encode(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=f"{order['_id']}:{name}",
            correlation_id=correlation_id,
            type=name,
            timestamp=datetime.now(UTC),
        )
        self.counts.publishes["event"] += 1
        await self.events.publish(event, routing_key=name, mandatory=False)

    async def reply(self, message: AbstractIncomingMessage, status: int, body: Doc) -> None:
        assert self.replies is not None
        if not message.reply_to:
            return
        reply = aio_pika.Message(
            json.dumps({"status": status, "data": body}, default=str).encode(),
            content_type="application/json",
            correlation_id=message.correlation_id or message.message_id,
            headers={"status": status},
        )
        self.counts.publishes["reply"] += 1
        await self.replies.publish(reply, routing_key=message.reply_to, mandatory=False)
