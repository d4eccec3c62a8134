"""Which shard a command goes to."""

import json
import zlib
from collections import Counter
from types import SimpleNamespace
from typing import Any, cast

from aio_pika import Message

from pizzeria_contracts import names
from worker.adapters.rabbit.publishing import RabbitPublisher
from worker.application.context import MessageContext
from worker.entrypoints.router import shard_of
from worker.entrypoints.subscribers import context_of


def test_a_command_goes_to_the_shard_of_its_order_always_the_same() -> None:
    body = json.dumps({"order_id": "7f3a", "driver": "Dino"}).encode()

    assert shard_of(body, 4) == zlib.crc32(b"7f3a") % 4
    assert {shard_of(body, 4) for _ in range(10)} == {shard_of(body, 4)}


def test_orders_spread_over_the_shards() -> None:
    spread = Counter(shard_of(json.dumps({"order_id": f"o{i}"}).encode(), 4) for i in range(1000))

    assert set(spread) == {0, 1, 2, 3}
    assert min(spread.values()) > 150


def test_a_command_that_names_no_order_has_no_shard() -> None:
    assert shard_of(b'{"customer_name": "Sam"}', 4) is None
    assert shard_of(b'{"order_id": 42}', 4) is None
    assert shard_of(b"[1, 2]", 4) is None
    assert shard_of(b"{not json", 4) is None


class Captured:
    """An exchange that keeps what is published to it, confirmed at once."""

    def __init__(self) -> None:
        self.published: list[tuple[Message, str]] = []

    async def publish(self, message: Message, routing_key: str, **_: Any) -> None:
        self.published.append((message, routing_key))


def incoming(headers: dict[str, Any], message_id: str | None = "m-1") -> Any:
    return SimpleNamespace(
        body=b'{"order_id": "o-1"}',
        headers=headers,
        message_id=message_id,
        content_type="application/json",
        content_encoding=None,
        priority=None,
        correlation_id="c-1",
        reply_to="amq.rabbitmq.reply-to",
        timestamp=None,
        type=None,
        app_id=None,
        exchange=names.COMMANDS_EXCHANGE,
        routing_key=names.START_COOKING,
        user_id="kitchen",
        redelivered=False,
    )


async def forwarded(raw: Any) -> tuple[Message, MessageContext]:
    exchange = Captured()
    publisher = RabbitPublisher(cast(Any, None), cast(Any, exchange), cast(Any, None), "worker")
    context = context_of(raw, "worker")
    await publisher.forward(raw, context, "pizzeria.worker.commands.shard-1")
    [(message, queue)] = exchange.published
    assert queue == "pizzeria.worker.commands.shard-1"
    return message, context


async def test_a_forwarded_command_reads_as_it_was_sent_on_its_shard() -> None:
    message, _ = await forwarded(incoming({}))

    arrived = SimpleNamespace(**{**vars(incoming({})), "headers": message.headers})
    arrived.exchange, arrived.routing_key, arrived.user_id = "", "shard-1", "worker"
    again = context_of(cast(Any, arrived), "worker")

    assert message.user_id == "worker"  # RabbitMQ lets only the worker's user say so
    assert (again.exchange, again.name, again.user_id) == (
        names.COMMANDS_EXCHANGE,
        names.START_COOKING,
        "kitchen",
    )
    assert (again.message_id, again.correlation_id, again.attempt) == ("m-1", "c-1", 0)


async def test_a_senders_own_retry_headers_are_not_forwarded_as_the_workers() -> None:
    message, context = await forwarded(
        incoming({names.RETRY_ATTEMPT_HEADER: 99, names.LAST_ERROR_HEADER: "Boom"})
    )

    assert context.attempt == 0
    assert names.RETRY_ATTEMPT_HEADER not in message.headers
    assert names.LAST_ERROR_HEADER not in message.headers


async def test_a_command_sent_without_a_message_id_still_has_none_on_its_shard() -> None:
    message, _ = await forwarded(incoming({}, message_id=None))
    arrived = SimpleNamespace(**{**vars(incoming({})), "headers": message.headers})
    arrived.exchange, arrived.user_id, arrived.message_id = "", "worker", "given-by-aiormq"

    assert context_of(cast(Any, arrived), "worker").message_id is None
