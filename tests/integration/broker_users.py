"""RabbitMQ users made with `rabbitmqctl` for a test, and a client that connects as one.

Permissions are read from deploy/rabbitmq-definitions.json, so the tests prove
exactly what the deployment grants: no more, no less.
"""

import asyncio
import dataclasses
import json
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection

from pizzeria_contracts import names

DEFINITIONS = Path(__file__).resolve().parents[2] / "deploy" / "rabbitmq-definitions.json"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
TIMEOUT = 10.0


def vhost_of(url: str) -> str:
    """The virtual host an AMQP URL names, as aio-pika reads it."""
    return unquote(urlsplit(url).path[1:]) or "/"


def is_local(url: str) -> bool:
    return urlsplit(url).hostname in LOCAL_HOSTS


def permissions(role: str) -> tuple[str, str, str]:
    """configure, write and read of a deployed user, as the definitions give them."""
    document = json.loads(DEFINITIONS.read_text(encoding="utf-8"))
    for entry in document["permissions"]:
        if entry["user"] == role:
            return entry["configure"], entry["write"], entry["read"]
    raise LookupError(f"{DEFINITIONS} has no permissions for {role!r}")


@dataclasses.dataclass(frozen=True)
class BrokerUser:
    role: str
    """The deployed user this one stands for: `storefront`, `worker`, ..."""
    name: str
    password: str
    url: str


async def rabbitmqctl(*arguments: str) -> str:
    process = await asyncio.create_subprocess_exec(
        "rabbitmqctl",
        "--quiet",
        *arguments,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {arguments[0]} failed: {err.decode(errors='replace')}")
    return out.decode(errors="replace")


async def create_user(
    role: str, base_url: str, granted: tuple[str, str, str] | None = None
) -> BrokerUser:
    """A user named `<role>-<random>` with a random password and the role's permissions,
    or the configure, write and read patterns `granted`."""
    name, password = f"{role}-{secrets.token_hex(4)}", secrets.token_hex(16)
    vhost = vhost_of(base_url)
    await rabbitmqctl("add_user", name, password)
    await rabbitmqctl("set_permissions", "-p", vhost, name, *(granted or permissions(role)))
    parts = urlsplit(base_url)
    netloc = f"{quote(name, safe='')}:{password}@{parts.hostname}:{parts.port or 5672}"
    return BrokerUser(role, name, password, urlunsplit(parts._replace(netloc=netloc)))


async def delete_user(user: BrokerUser) -> None:
    await rabbitmqctl("delete_user", user.name)


@dataclasses.dataclass(frozen=True)
class Reply:
    status: Any
    body: dict[str, Any]
    message: AbstractIncomingMessage


OWN: Any = object()
"""As `user_id`: the connection's own user name (the default)."""


class Client:
    """Another service, connected with its own credentials: calls over direct reply-to,
    on a channel with publisher confirms, so a refused publish raises."""

    def __init__(self, user: BrokerUser, connection: AbstractRobustConnection) -> None:
        self.user = user
        self.connection = connection
        self.replies: list[AbstractIncomingMessage] = []
        self._waiting: dict[str, asyncio.Future[Reply]] = {}
        self._channel: AbstractChannel | None = None

    @classmethod
    async def connect(cls, user: BrokerUser) -> "Client":
        client = cls(user, await aio_pika.connect_robust(user.url))
        client._channel = await client.connection.channel(publisher_confirms=True)
        queue = await client._channel.get_queue(names.DIRECT_REPLY_TO, ensure=False)
        await queue.consume(client._on_reply, no_ack=True)
        return client

    @property
    def channel(self) -> AbstractChannel:
        assert self._channel is not None
        return self._channel

    async def close(self) -> None:
        await self.connection.close()

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        self.replies.append(message)
        waiting = self._waiting.pop(message.correlation_id or "", None)
        if waiting is not None and not waiting.done():
            status = (message.headers or {}).get(names.STATUS_HEADER)
            waiting.set_result(Reply(status, json.loads(message.body), message))

    def message(
        self,
        body: bytes | dict[str, Any],
        *,
        user_id: Any = OWN,
        message_id: str | None = None,
        headers: dict[str, Any] | None = None,
        reply: bool = True,
    ) -> aio_pika.Message:
        return aio_pika.Message(
            body if isinstance(body, bytes) else json.dumps(body).encode(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message_id or secrets.token_hex(16),
            reply_to=names.DIRECT_REPLY_TO if reply else None,
            user_id=self.user.name if user_id is OWN else user_id,
            headers=headers or {},
        )

    async def call(
        self,
        routing_key: str,
        body: bytes | dict[str, Any],
        *,
        query: bool = False,
        user_id: Any = OWN,
        message_id: str | None = None,
        headers: dict[str, Any] | None = None,
        timeout: float = TIMEOUT,
        straight_to_queue: bool = False,
    ) -> Reply:
        """Publish to the commands (or queries) exchange, or with `straight_to_queue` to
        the default exchange, where the routing key is a queue's name; await the reply."""
        message = self.message(body, user_id=user_id, message_id=message_id, headers=headers)
        assert message.message_id is not None
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiting[message.message_id] = future
        if straight_to_queue:
            target = self.channel.default_exchange
        else:
            exchange = names.QUERIES_EXCHANGE if query else names.COMMANDS_EXCHANGE
            target = await self.channel.get_exchange(exchange, ensure=False)
        await target.publish(message, routing_key=routing_key)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise AssertionError(f"no reply to {routing_key} within {timeout} s") from None
