"""Copies of what the worker publishes, kept in durable queues of our own.

Durable, so they survive a broker restart (tests/e2e's exclusive watches would not);
`x-expires`, so a crashed test leaves nothing behind for long. Nothing consumes them
during the load: they are drained on a connection of their own.
"""

import asyncio
import time
import uuid

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

EXPIRES_MS = 60 * 60 * 1000


class Capture:
    def __init__(self, url: str, exchange: str, binding_key: str) -> None:
        self._url = url
        self._exchange = exchange
        self._binding_key = binding_key
        self.queue = f"faults.{exchange}.{uuid.uuid4().hex[:12]}"

    async def declare(self) -> "Capture":
        async with await aio_pika.connect(self._url, timeout=10) as connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(
                self.queue, durable=True, arguments={"x-expires": EXPIRES_MS}
            )
            await queue.bind(self._exchange, routing_key=self._binding_key)
        return self

    async def drain(
        self, quiet: float = 1.0, timeout: float = 60.0
    ) -> list[AbstractIncomingMessage]:
        """Everything in the queue, in arrival order, once `quiet` seconds pass without a
        new one; the queue is left empty."""
        received: list[AbstractIncomingMessage] = []
        async with await aio_pika.connect(self._url, timeout=10) as connection:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=1000)
            queue = await channel.declare_queue(self.queue, passive=True)
            expected = queue.declaration_result.message_count or 0
            last = time.monotonic()

            async def on_message(message: AbstractIncomingMessage) -> None:
                nonlocal last
                received.append(message)
                last = time.monotonic()
                await message.ack()

            await queue.consume(on_message)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                if len(received) >= expected and time.monotonic() - last >= quiet:
                    break
        return received

    async def delete(self) -> None:
        async with await aio_pika.connect(self._url, timeout=10) as connection:
            channel = await connection.channel()
            await channel.queue_delete(self.queue)
