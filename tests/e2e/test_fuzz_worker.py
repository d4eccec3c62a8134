"""Random bytes, headers and properties, published raw to the worker as a process: it
neither crashes nor wedges, and answers a good order afterwards."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import aio_pika
import pytest
from aiormq.abc import ChannelFrame
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pamqp import commands as spec
from pamqp import frame
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from tests import fuzzing
from tests.conftest import AMQP_URL
from tests.e2e.amqp import COMMANDS, QUERIES, RawClient, json_body, new_id
from tests.e2e.conftest import WorkerProcess

pytestmark = pytest.mark.e2e

PREFETCH = 4
"""Low, so a few messages left unacknowledged would stop the worker taking new ones."""
CHUNK = 4096
"""Body frames this large fit any frame size a broker negotiates."""
WORKER_QUEUES = ("pizzeria.worker.commands", "pizzeria.worker.queries")
GOOD_ORDER = {
    "customer_name": "Anna Bianchi",
    "customer_phone": "+39 081 555 0199",
    "pizzas": [{"name": "margherita", "size": "small"}],
}
USER = urlsplit(AMQP_URL).username or "guest"
"""RabbitMQ refuses any other user_id on this connection (see test_authorization)."""


MARKER = "x-test-fuzz-worker"
"""A header on the messages that may be left in the worker's queue when a wedge shows."""


@pytest.fixture(scope="module")
async def worker_env(amqp_url: str) -> AsyncIterator[dict[str, str]]:
    """A low prefetch; and afterwards (the worker is stopped by then) what this module
    left unprocessed in the worker's queue is taken out, so no later worker chokes on it."""
    yield {"PIZZERIA_PREFETCH": str(PREFETCH)}
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(WORKER_QUEUES[0], passive=True)
        while (message := await queue.get(no_ack=False, fail=False)) is not None:
            if MARKER not in (message.headers or {}):
                await message.nack(requeue=True)
                break
            await message.ack()


def frames(exchange: str, routing_key: str, body: bytes, properties: dict[str, Any]) -> bytes:
    """One message as the bytes of its method, header and body frames (on channel 1)."""
    parts = [
        frame.marshal(spec.Basic.Publish(exchange=exchange, routing_key=routing_key), 1),
        frame.marshal(ContentHeader(0, len(body), spec.Basic.Properties(**properties)), 1),
    ]
    parts += [
        frame.marshal(ContentBody(body[start : start + CHUNK]), 1)
        for start in range(0, len(body), CHUNK)
    ]
    return b"".join(parts)


def on_channel(payload: bytes, number: int) -> bytes:
    """The frames moved to another channel: each frame's header names its channel."""
    out, at = bytearray(), 0
    while at < len(payload):
        size = int.from_bytes(payload[at + 3 : at + 7], "big")
        piece = bytearray(payload[at : at + 8 + size])
        piece[1:3] = number.to_bytes(2, "big")
        out += piece
        at += 8 + size
    return bytes(out)


async def publish_raw(client: RawClient, payload: bytes) -> None:
    """Write frames straight onto the client's channel (no confirms, as it is), so
    properties go out exactly as given, a missing message_id included."""
    channel = await client.channel.get_underlay_channel()
    assert not channel.is_closed, "RabbitMQ closed the channel: a publish was refused"
    assert channel.number is not None
    await channel.write_queue.put(  # type: ignore[attr-defined]  # aiormq's, not in its ABC
        ChannelFrame(payload=on_channel(payload, channel.number), should_close=False)
    )


published: list[str] = []


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(
    exchange=st.sampled_from([COMMANDS, QUERIES]),
    routing_key=fuzzing.routing_keys,
    body=fuzzing.bodies,
    properties=fuzzing.properties(st.sampled_from([None, USER])),
)
async def test_random_messages_go_to_the_worker(
    client: RawClient,
    worker: WorkerProcess,
    exchange: str,
    routing_key: str,
    body: bytes,
    properties: dict[str, Any],
) -> None:
    await publish_raw(client, frames(exchange, routing_key, body, properties))
    published.append(routing_key)


async def queues_drained(client: RawClient, worker: WorkerProcess, timeout: float) -> None:
    """Wait until the worker's queues hold no message ready for it."""
    channel = await client.connection.channel()
    waiting: list[int | None] = []
    try:
        async with asyncio.timeout(timeout):
            while True:
                queues = [  # not robust: a robust channel would answer from its cache
                    await channel.declare_queue(name, passive=True, robust=False)
                    for name in WORKER_QUEUES
                ]
                waiting = [q.declaration_result.message_count for q in queues]
                if not any(waiting):
                    return
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise AssertionError(
            f"still ready in {WORKER_QUEUES} after {timeout} s: {waiting}\n{worker.log[-8000:]}"
        ) from None
    finally:
        await channel.close()


async def test_afterwards_the_worker_lives_on_and_takes_orders(
    client: RawClient, worker: WorkerProcess
) -> None:
    pid = worker.process.pid
    assert len(published) >= 100, "the fuzz test ran first"
    await queues_drained(client, worker, timeout=30)
    # Another round beyond the prefetch: a wedge (messages never acknowledged) shows now.
    replies = await asyncio.gather(
        *(
            client.call(COMMANDS, "orders.place", json_body(**GOOD_ORDER), timeout=5)
            for _ in range(PREFETCH + 2)
        )
    )

    assert [reply.status for reply in replies] == [201] * (PREFETCH + 2)
    assert worker.running
    assert worker.process.pid == pid
    assert not client.channel.is_closed
    assert "Traceback" not in worker.log, worker.log[-5000:]


def with_long_string_header(payload: bytes, key: str) -> bytes:
    """Re-tag a header's byte array (`x`) as a long string (`S`): what a client that
    sends binary as a long string (the Java client's LongString) puts on the wire.
    pamqp reads such a value, when it is not UTF-8, as `bytes`."""
    tag = len(key).to_bytes(1, "big") + key.encode() + b"x"
    assert payload.count(tag) == 1
    return payload.replace(tag, tag[:-1] + b"S")


async def test_headers_that_are_not_utf8_neither_crash_nor_wedge_the_worker(
    client: RawClient, worker: WorkerProcess
) -> None:
    for _ in range(PREFETCH + 1):
        properties = {
            "message_id": new_id(),
            "headers": {"x-binary": bytearray(b"\xff\xfe\x00\x80"), MARKER: True},
            "content_type": "application/json",
        }
        payload = frames(COMMANDS, "orders.place", b"not json", properties)
        await publish_raw(client, with_long_string_header(payload, "x-binary"))

    reply = await client.call(
        COMMANDS, "orders.place", json_body(**GOOD_ORDER), headers={MARKER: True}, timeout=5
    )

    assert reply.status == 201
    assert "Traceback" not in worker.log
