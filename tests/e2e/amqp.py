"""A raw AMQP client on aio-pika (and its aiormq/pamqp layers): it knows the wire contract,
not the project's code.

Replies come back on `amq.rabbitmq.reply-to`, matched to their request by
`correlation_id`. Events and dead letters are watched through exclusive queues
of our own, so the shared `pizzeria.dead-letter` queue is never consumed. The
channel has no publisher confirms, so a message without `message_id` (which
aiormq would invent) can be written as raw frames on it; bodies stay small.
"""

import asyncio
import dataclasses
import enum
import json
import uuid
from collections.abc import Callable
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
)
from aiormq.abc import ChannelFrame
from pamqp import commands as spec
from pamqp.base import Frame
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

COMMANDS = "pizzeria.commands"
QUERIES = "pizzeria.queries"
EVENTS = "pizzeria.events"
DEAD_LETTER = "pizzeria.dead-letter"
DIRECT_REPLY_TO = "amq.rabbitmq.reply-to"
ALLOWED_FROM = {
    "orders.start-cooking": {"confirmed"},
    "orders.mark-ready": {"cooking"},
    "orders.assign-delivery": {"ready"},
    "orders.deliver": {"delivering"},
    "orders.cancel": {"confirmed", "cooking", "ready", "delivering"},
}
"""The statuses each order command may change an order from, as the contract says."""
STATUS_AFTER = {
    "orders.confirmed": "confirmed",
    "orders.cooking-started": "cooking",
    "orders.ready": "ready",
    "orders.out-for-delivery": "delivering",
    "orders.delivered": "delivered",
    "orders.cancelled": "cancelled",
}
"""The status an event leaves its order in (the others leave it as it was)."""


class _Auto(enum.Enum):
    NEW = enum.auto()


NEW_ID = _Auto.NEW
"""A fresh random `message_id` (the default)."""


def json_body(**fields: Any) -> bytes:
    """A body as another service would send it."""
    return json.dumps(fields).encode()


def new_id() -> str:
    return uuid.uuid4().hex


def header(message: AbstractIncomingMessage, name: str) -> Any:
    """A header's value, with AMQP byte strings read as text."""
    value = (message.headers or {}).get(name)
    return value.decode() if isinstance(value, bytes) else value


@dataclasses.dataclass(frozen=True)
class Reply:
    """A reply as it arrived: the `status` header, its correlation and the parsed body."""

    status: Any
    correlation_id: str | None
    content_type: str | None
    body: dict[str, Any]


class Watch:
    """Messages arriving on an exclusive queue of ours."""

    def __init__(self, queue: AbstractQueue) -> None:
        self.queue = queue
        self.received: list[AbstractIncomingMessage] = []
        self._arrived = asyncio.Condition()

    async def start(self) -> "Watch":
        await self.queue.consume(self._on_message, no_ack=True)
        return self

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        async with self._arrived:
            self.received.append(message)
            self._arrived.notify_all()

    async def collect(
        self,
        matching: Callable[[AbstractIncomingMessage], bool],
        count: int,
        timeout: float = 10.0,
    ) -> list[AbstractIncomingMessage]:
        """Wait for `count` matching messages; fail with what arrived after `timeout`."""

        def found() -> list[AbstractIncomingMessage]:
            return [message for message in self.received if matching(message)]

        try:
            async with asyncio.timeout(timeout), self._arrived:
                await self._arrived.wait_for(lambda: len(found()) >= count)
        except TimeoutError:
            raise AssertionError(
                f"{len(found())} of {count} messages within {timeout} s; arrived: "
                + repr([(m.routing_key, m.correlation_id) for m in self.received])
            ) from None
        return found()

    async def quiet(
        self, matching: Callable[[AbstractIncomingMessage], bool], seconds: float
    ) -> list[AbstractIncomingMessage]:
        """Everything matching that arrived by `seconds` from now."""
        await asyncio.sleep(seconds)
        return [message for message in self.received if matching(message)]


class RawClient:
    def __init__(
        self, connection: AbstractRobustConnection, channel: AbstractRobustChannel
    ) -> None:
        self.connection = connection
        self.channel = channel
        self._waiting: dict[str, asyncio.Future[Reply]] = {}
        self.unexpected: list[AbstractIncomingMessage] = []
        """Replies nobody waits for (any late or duplicate reply lands here)."""

    @classmethod
    async def connect(cls, url: str) -> "RawClient":
        connection = await aio_pika.connect_robust(url)
        channel = await connection.channel(publisher_confirms=False)
        client = cls(connection, channel)
        replies = await channel.get_queue(DIRECT_REPLY_TO, ensure=False)
        await replies.consume(client._on_reply, no_ack=True)
        return client

    async def close(self) -> None:
        await self.connection.close()

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        waiting = self._waiting.pop(message.correlation_id or "", None)
        if waiting is None or waiting.done():
            self.unexpected.append(message)
            return
        waiting.set_result(
            Reply(
                header(message, "status"),
                message.correlation_id,
                message.content_type,
                json.loads(message.body),
            )
        )

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        *,
        message_id: str | _Auto | None = NEW_ID,
        correlation_id: str | None = None,
        reply_to: str | None = None,
        content_type: str | None = "application/json",
        expiration_ms: int | None = None,
        headers: dict[str, Any] | None = None,
    ) -> aio_pika.Message:
        """Publish a message, persistent, with exactly the properties given."""
        message = aio_pika.Message(
            body,
            message_id=new_id() if message_id is NEW_ID else message_id,
            correlation_id=correlation_id,
            reply_to=reply_to,
            content_type=content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            headers=headers or {},
            # aio-pika takes seconds; the wire carries them as milliseconds.
            expiration=None if expiration_ms is None else expiration_ms / 1000,
        )
        if message.message_id is None:
            await self._publish_without_message_id(exchange, routing_key, message)
        else:
            target = await self.channel.get_exchange(exchange, ensure=False)
            await target.publish(message, routing_key, mandatory=False)
        return message

    async def _publish_without_message_id(
        self, exchange: str, routing_key: str, message: aio_pika.Message
    ) -> None:
        """aiormq gives every message a random `message_id`; the contract lets a sender
        leave it out. So these frames go straight onto the channel: it has no publisher
        confirms to keep count of, and it is the one that consumes direct replies."""
        channel = await self.channel.get_underlay_channel()
        frames: list[Frame | ContentHeader | ContentBody] = [
            spec.Basic.Publish(exchange=exchange, routing_key=routing_key),
            ContentHeader(properties=message.properties, body_size=len(message.body)),
            ContentBody(message.body),
        ]
        await channel.write_queue.put(  # type: ignore[attr-defined]  # aiormq's, not in its ABC
            ChannelFrame.marshall(frames=frames, channel_number=channel.number)
        )

    async def call(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        *,
        message_id: str | _Auto | None = NEW_ID,
        correlation_id: str | None = None,
        expiration_ms: int | None = None,
        headers: dict[str, Any] | None = None,
        timeout: float = 10.0,
    ) -> Reply:
        """Send with `reply_to` and wait for the reply to this `correlation_id`
        (or `message_id` when there is none)."""
        pending = await self.ask(
            exchange,
            routing_key,
            body,
            message_id=message_id,
            correlation_id=correlation_id,
            expiration_ms=expiration_ms,
            headers=headers,
        )
        return await self.reply(pending, timeout)

    async def ask(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        *,
        message_id: str | _Auto | None = NEW_ID,
        correlation_id: str | None = None,
        expiration_ms: int | None = None,
        headers: dict[str, Any] | None = None,
        content_type: str | None = "application/json",
    ) -> asyncio.Future[Reply]:
        """Send with `reply_to`; the reply's future, to await later."""
        message_id = new_id() if message_id is NEW_ID else message_id
        key = correlation_id or message_id
        if key is None:
            raise ValueError("a call needs a correlation_id or a message_id to match its reply")
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiting[key] = future
        await self.publish(
            exchange,
            routing_key,
            body,
            message_id=message_id,
            correlation_id=correlation_id,
            reply_to=DIRECT_REPLY_TO,
            content_type=content_type,
            expiration_ms=expiration_ms,
            headers=headers,
        )
        return future

    @staticmethod
    async def reply(pending: asyncio.Future[Reply], timeout: float = 10.0) -> Reply:
        try:
            return await asyncio.wait_for(asyncio.shield(pending), timeout)
        except TimeoutError:
            raise AssertionError(f"no reply within {timeout} s") from None

    async def watch_events(self, pattern: str) -> Watch:
        """An exclusive queue bound to `pizzeria.events` with a topic pattern."""
        queue = await self.channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(EVENTS, routing_key=pattern)
        return await Watch(queue).start()

    async def watch_dead_letters(self) -> Watch:
        """A copy of every dead letter, from the fanout exchange `pizzeria.dead-letter`."""
        queue = await self.channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(DEAD_LETTER, routing_key="")
        return await Watch(queue).start()
