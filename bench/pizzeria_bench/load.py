"""The load: calls over direct reply-to, a fixed number of them in flight."""

import asyncio
import dataclasses
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractIncomingMessage
from aio_pika.abc import AbstractRobustConnection as Connection

DIRECT_REPLY_TO = "amq.rabbitmq.reply-to"
Call = Callable[[int], Awaitable[bool]]
"""One call by its index; True when the answer was the expected one."""


@dataclasses.dataclass(frozen=True)
class Timing:
    seconds: float
    latencies: list[float]
    failures: int

    @property
    def calls(self) -> int:
        return len(self.latencies)

    @property
    def throughput(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0

    def percentile_ms(self, fraction: float) -> float:
        return percentile_ms(self.latencies, fraction)


def percentile_ms(latencies: list[float], fraction: float) -> float:
    """That fraction's latency, in ms, of these in seconds; 0 for none."""
    ordered = sorted(latencies)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


async def drive(call: Call, count: int, in_flight: int, tick: Callable[[], None]) -> Timing:
    """`count` calls, `in_flight` at a time, each timed from send to answer."""
    indexes = iter(range(count))
    latencies: list[float] = []
    failures = 0

    async def lane() -> None:
        nonlocal failures
        for index in indexes:  # one iterator shared by all lanes: each index once
            started = time.perf_counter()
            try:
                ok = await call(index)
            except Exception:  # noqa: BLE001 - a timeout or a lost connection is a failed call
                ok = False
            latencies.append(time.perf_counter() - started)
            failures += not ok
            tick()

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(max(1, min(in_flight, count)))))
    return Timing(time.perf_counter() - started, latencies, failures)


class RawClient:
    """What PizzeriaClient does, by hand: persistent messages, publisher confirms,
    replies on direct reply-to matched by correlation id."""

    def __init__(self, connection: Connection, channel: AbstractChannel) -> None:
        self.connection = connection
        self.channel = channel
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._exchanges: dict[str, AbstractExchange] = {}

    @classmethod
    async def connect(cls, url: str) -> "RawClient":
        connection = await aio_pika.connect_robust(url)
        channel = await connection.channel(publisher_confirms=True)
        client = cls(connection, channel)
        replies = await channel.get_queue(DIRECT_REPLY_TO, ensure=False)
        await replies.consume(client._on_reply, no_ack=True)
        return client

    async def close(self) -> None:
        await self.connection.close()

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        future = self._waiting.pop(message.correlation_id or "", None)
        if future is not None and not future.done():
            future.set_result(json.loads(message.body))

    async def _exchange(self, name: str) -> AbstractExchange:
        if name not in self._exchanges:
            self._exchanges[name] = (
                await self.channel.get_exchange(name, ensure=False)
                if name
                else self.channel.default_exchange
            )
        return self._exchanges[name]

    async def call(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        *,
        message_id: str | None = None,
        expires: bool = False,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        """Publish and wait for the reply's body."""
        correlation_id = uuid.uuid4().hex
        future = asyncio.get_running_loop().create_future()
        self._waiting[correlation_id] = future
        message = aio_pika.Message(
            body,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message_id or uuid.uuid4().hex,
            correlation_id=correlation_id,
            reply_to=DIRECT_REPLY_TO,
            expiration=timeout if expires else None,
        )
        try:
            target = await self._exchange(exchange)
            await target.publish(message, routing_key=routing_key, mandatory=False)
            return await asyncio.wait_for(future, timeout)
        finally:
            self._waiting.pop(correlation_id, None)
