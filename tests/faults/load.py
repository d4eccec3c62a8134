"""A client that keeps its word: every command is answered in the end, or we know it was not.

Publishes are persistent and confirmed; replies come on `amq.rabbitmq.reply-to`
consumed on the publishing channel. A command not answered within
`resend_after` seconds is sent again with the same `message_id` (the contract
promises the original result). When the connection drops, the client connects
again and re-sends at once everything unanswered: replies addressed to the old
channel are gone for good.
"""

import asyncio
import contextlib
import dataclasses
import json
import time

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractIncomingMessage,
)

from tests.e2e.amqp import COMMANDS, DIRECT_REPLY_TO, Reply, header

EXPIRATION = 600.0
"""Seconds a command may wait in a queue: far longer than any test waits for it, and
short enough that a test that died does not leave its load to the next one."""


@dataclasses.dataclass(eq=False)
class Command:
    message_id: str
    routing_key: str
    body: bytes
    sends: int = 0
    last_sent: float = 0.0
    link: int = -1
    """The connection it was last sent on; -1: send it (again) as soon as one is up."""
    replies: list[Reply] = dataclasses.field(default_factory=list)
    answered: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    confirmed: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    """RabbitMQ confirmed a copy: it is in a durable queue."""


@dataclasses.dataclass(frozen=True)
class _Link:
    number: int
    connection: AbstractConnection
    channel: AbstractChannel
    exchange: AbstractExchange

    @property
    def alive(self) -> bool:
        return self.connection.connected.is_set() and not self.channel.is_closed


class LoadClient:
    def __init__(
        self, url: str, *, resend_after: float = 20.0, reply_queue: str | None = None
    ) -> None:
        self._url = url
        self._resend_after = resend_after
        self._reply_queue = reply_queue
        self._link: _Link | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.commands: dict[str, Command] = {}
        self._unanswered: dict[str, Command] = {}
        self.resends = 0
        self.reconnects = 0

    async def start(self) -> "LoadClient":
        self._link = await self._connect(1)
        self._tasks = [
            asyncio.create_task(self._keep_connected(), name="load-connection"),
            asyncio.create_task(self._resend_forever(), name="load-resend"),
        ]
        return self

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._link is not None:
            with contextlib.suppress(Exception):
                await self._link.connection.close()

    @property
    def answered(self) -> int:
        return len(self.commands) - len(self._unanswered)

    async def call(self, routing_key: str, body: bytes, message_id: str) -> Reply:
        """Send until answered; the first reply."""
        command = self.send(routing_key, body, message_id)
        await command.answered.wait()
        return command.replies[0]

    def send(self, routing_key: str, body: bytes, message_id: str) -> Command:
        """Queue a command for sending (and re-sending); await `answered` for its reply."""
        if message_id in self.commands:
            raise ValueError(f"{message_id} was sent already")
        command = Command(message_id, routing_key, body)
        self.commands[message_id] = command
        self._unanswered[message_id] = command
        if self._link is not None and self._link.alive:
            # On its way: the resend loop must not send it too before the task starts.
            command.link, command.last_sent = self._link.number, time.monotonic()
            task = asyncio.create_task(self._publish(command, self._link))
            self._tasks.append(task)
            task.add_done_callback(self._forget)
        return command

    def _forget(self, task: asyncio.Task[None]) -> None:
        with contextlib.suppress(ValueError):
            self._tasks.remove(task)

    async def _connect(self, number: int) -> _Link:
        connection = await aio_pika.connect(self._url, timeout=10)
        channel = await connection.channel(publisher_confirms=True)
        replies = await channel.get_queue(self._reply_queue or DIRECT_REPLY_TO, ensure=False)
        await replies.consume(self._on_reply, no_ack=self._reply_queue is None)
        exchange = await channel.get_exchange(COMMANDS, ensure=False)
        return _Link(number, connection, channel, exchange)

    async def _keep_connected(self) -> None:
        while True:
            await asyncio.sleep(0.2)
            link = self._link
            if link is not None and link.alive:
                continue
            if link is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(link.connection.close(), 5)
            self._link = None
            number = (link.number if link else 0) + 1
            while self._link is None:
                try:
                    self._link = await self._connect(number)
                except Exception:  # noqa: BLE001 - the broker is not back yet
                    await asyncio.sleep(1)
            self.reconnects += 1

    async def _resend_forever(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            link = self._link
            if link is None or not link.alive:
                continue
            now = time.monotonic()
            due = [
                command
                for command in list(self._unanswered.values())
                if not (self._reply_queue and command.confirmed.is_set())
                and (command.link != link.number or now - command.last_sent > self._resend_after)
            ]
            for start in range(0, len(due), 100):
                await asyncio.gather(*(self._publish(c, link) for c in due[start : start + 100]))

    async def _publish(self, command: Command, link: _Link) -> None:
        if command.answered.is_set():
            return
        if command.sends:
            self.resends += 1
        command.sends += 1
        command.link, command.last_sent = link.number, time.monotonic()
        message = aio_pika.Message(
            command.body,
            message_id=command.message_id,
            correlation_id=command.message_id,
            reply_to=self._reply_queue or DIRECT_REPLY_TO,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            expiration=EXPIRATION,
        )
        try:
            await link.exchange.publish(message, command.routing_key, timeout=15)
        except Exception:  # noqa: BLE001 - not confirmed: send it again on a live connection
            command.link = -1
        else:
            command.confirmed.set()

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        if self._reply_queue is not None:
            with contextlib.suppress(Exception):  # its connection is gone: it comes again
                await message.ack()
        command = self.commands.get(message.correlation_id or "")
        if command is None or (message.redelivered and command.replies):
            return  # a reply we saw, whose acknowledgement was lost with its connection
        command.replies.append(
            Reply(
                header(message, "status"),
                message.correlation_id,
                message.content_type,
                json.loads(message.body),
            )
        )
        self._unanswered.pop(command.message_id, None)
        command.answered.set()
