"""A plain aio-pika client for driving the service: calls over direct reply-to, and taps."""

import asyncio
import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractRobustConnection,
)

from pizzeria_contracts import names

TIMEOUT = 15.0


def place_order(phone: str) -> dict[str, Any]:
    """An `orders.place` body: margherita large with basil (23.28), pepperoni small (14.99)."""
    pizzas = [
        {"name": "Margherita", "size": "LARGE", "toppings": ["basil"]},
        {"name": "pepperoni", "size": "small"},
    ]
    return {"customer_name": "Anna Bianchi", "customer_phone": phone, "pizzas": pizzas}


class Wire:
    """Publishes commands and queries on one channel that consumes `amq.rabbitmq.reply-to`."""

    def __init__(self, channel: AbstractChannel) -> None:
        self._channel = channel
        self._waiting: dict[str, asyncio.Future[AbstractIncomingMessage]] = {}

    @classmethod
    async def open(cls, connection: AbstractRobustConnection) -> "Wire":
        wire = cls(await connection.channel())
        replies = await wire._channel.get_queue(names.DIRECT_REPLY_TO, ensure=False)
        await replies.consume(wire._on_reply, no_ack=True)
        return wire

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        future = self._waiting.pop(message.correlation_id or "", None)
        if future is not None and not future.done():
            future.set_result(message)

    async def send(
        self,
        routing_key: str,
        body: bytes | Mapping[str, Any],
        *,
        message_id: str | None = None,
        correlation_id: str | None = None,
        headers: dict[str, Any] | None = None,
        query: bool = False,
        reply: bool = False,
    ) -> None:
        message = aio_pika.Message(
            body if isinstance(body, bytes) else json.dumps(body).encode(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message_id or uuid.uuid4().hex,
            correlation_id=correlation_id,
            reply_to=names.DIRECT_REPLY_TO if reply else None,
            headers=headers or {},
        )
        exchange = names.QUERIES_EXCHANGE if query else names.COMMANDS_EXCHANGE
        target = await self._channel.get_exchange(exchange, ensure=False)
        await target.publish(message, routing_key=routing_key)

    async def call(
        self,
        routing_key: str,
        body: bytes | Mapping[str, Any],
        *,
        message_id: str | None = None,
        correlation_id: str | None = None,
        headers: dict[str, Any] | None = None,
        query: bool = False,
    ) -> AbstractIncomingMessage:
        """Publish with `reply_to` and wait for the reply."""
        message_id = message_id or uuid.uuid4().hex
        key = correlation_id or message_id
        future = asyncio.get_running_loop().create_future()
        self._waiting[key] = future
        await self.send(
            routing_key,
            body,
            message_id=message_id,
            correlation_id=correlation_id,
            headers=headers,
            query=query,
            reply=True,
        )
        try:
            return await asyncio.wait_for(future, TIMEOUT)
        finally:
            self._waiting.pop(key, None)


class Tap:
    """An exclusive queue bound to an exchange: sees a copy of what passes through it."""

    def __init__(self) -> None:
        self.messages: list[AbstractIncomingMessage] = []
        self._arrived = asyncio.Event()

    @classmethod
    async def bind(
        cls, connection: AbstractRobustConnection, exchange: str, routing_keys: list[str]
    ) -> "Tap":
        tap = cls()
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for routing_key in routing_keys:
            await queue.bind(exchange, routing_key=routing_key)
        await queue.consume(tap._on_message, no_ack=True)
        return tap

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        self.messages.append(message)
        self._arrived.set()

    async def wait(
        self, count: int, wanted: Callable[[AbstractIncomingMessage], bool]
    ) -> list[AbstractIncomingMessage]:
        """The wanted messages, once at least `count` arrived (and a moment for any more)."""
        async with asyncio.timeout(TIMEOUT):
            while len([m for m in self.messages if wanted(m)]) < count:
                self._arrived.clear()
                await self._arrived.wait()
        await asyncio.sleep(0.2)  # so that an unexpected extra message is seen too
        return [m for m in self.messages if wanted(m)]
