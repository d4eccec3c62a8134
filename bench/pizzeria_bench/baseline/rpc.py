"""`orders.get` by hand: a direct reply-to server that reads one document by `_id`.

Without the database it answers every call with one document read at start:
the ceiling the transport sets.
"""

import json
from datetime import datetime
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractIncomingMessage
from pymongo.asynchronous.collection import AsyncCollection

from .counting import Counts

QUEUE = "bench.baseline.queries"
HIDDEN = {"_id": 0, "active": 0}
Doc = dict[str, Any]


def _default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(type(value).__name__)


class GetOrders:
    def __init__(self, views: AsyncCollection[Doc], counts: Counts, *, read: bool) -> None:
        self.views = views
        self.counts = counts
        self.read = read
        self.canned: Doc | None = None
        self.replies: AbstractExchange | None = None

    async def start(self, channel: AbstractChannel, prefetch: int) -> None:
        if not self.read:
            self.canned = await self.views.find_one({}, HIDDEN)
        await channel.set_qos(prefetch_count=prefetch)
        self.replies = channel.default_exchange
        queue = await channel.declare_queue(QUEUE, durable=True)
        await queue.purge()
        await queue.consume(self.on_message)

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        assert self.replies is not None
        order_id = json.loads(message.body)["order_id"]
        view = await self.views.find_one({"_id": order_id}, HIDDEN) if self.read else self.canned
        status = 200 if view else 404
        body = {"status": status, "data": view} if view else {"status": status}
        reply = aio_pika.Message(
            json.dumps(body, default=_default).encode(),
            content_type="application/json",
            correlation_id=message.correlation_id or message.message_id,
            headers={"status": status},
        )
        if message.reply_to:
            self.counts.publishes["reply"] += 1
            await self.replies.publish(reply, routing_key=message.reply_to, mandatory=False)
        await message.ack()
        self.counts.messages += 1
