"""A query whose `expiration` passed while it waited is dropped unanswered.

To make the wait deterministic the worker takes one query at a time
(prefetch 1) and is paused (SIGSTOP): the first query fills its one slot, the
next ones wait in its queue until it is resumed (SIGCONT).
"""

import asyncio
import subprocess
import time
import urllib.parse

import pytest

from tests.e2e.amqp import QUERIES, RawClient, json_body, new_id
from tests.e2e.conftest import WorkerProcess
from tests.faults.services import rabbitmqctl

pytestmark = pytest.mark.e2e

QUERIES_QUEUE = "pizzeria.worker.queries"


@pytest.fixture(scope="module")
def worker_env() -> dict[str, str]:
    return {"PIZZERIA_PREFETCH": "1"}


def unknown_order() -> bytes:
    return json_body(order_id=new_id())


async def ready(client: RawClient, queue: str) -> tuple[int, int]:
    """Messages waiting in `queue` now, and its consumers."""
    # robust=False: a robust channel answers a repeated passive declare from its cache,
    # with the counts of the first one.
    declared = await client.channel.declare_queue(queue, passive=True, robust=False)
    result = declared.declaration_result
    return result.message_count or 0, result.consumer_count or 0


async def ready_in(
    client: RawClient, queue: str, expected: tuple[int, int], within: float
) -> tuple[int, int]:
    """`ready`, once it is `expected` or `within` seconds pass."""
    deadline = time.monotonic() + within
    while True:
        found = await ready(client, queue)
        if found == expected or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.05)


def broker_view(amqp_url: str) -> str:
    """What RabbitMQ itself says about the vhost's queues and consumers, for a failure."""
    ctl = rabbitmqctl()
    if ctl is None:
        return "(no rabbitmqctl to ask)"
    vhost = urllib.parse.unquote(urllib.parse.urlsplit(amqp_url).path.lstrip("/")) or "/"
    said = []
    for listing in (
        ["list_queues", "name", "messages_ready", "messages_unacknowledged", "consumers"],
        ["list_consumers", "queue_name", "channel_pid", "prefetch_count", "ack_required"],
        ["list_channels", "pid", "connection", "prefetch_count", "messages_unacknowledged"],
    ):
        done = subprocess.run(
            [ctl, "-q", *listing[:1], "-p", vhost, *listing[1:]],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        said.append(f"$ rabbitmqctl {' '.join(listing)}\n{done.stdout}{done.stderr}")
    return "\n".join(said)


async def test_a_paused_worker_holds_no_more_queries_than_its_prefetch(
    client: RawClient, worker: WorkerProcess, amqp_url: str
) -> None:
    worker.pause()
    try:
        pending = [await client.ask(QUERIES, "orders.get", unknown_order()) for _ in range(3)]
        # The client's publishes are not confirmed, so the broker may count them a
        # moment later; once it shows two waiting for its one consumer, they must stay.
        await ready_in(client, QUERIES_QUEUE, expected=(2, 1), within=10.0)
        await asyncio.sleep(0.5)
        waiting = await ready(client, QUERIES_QUEUE)
        seen = "" if waiting == (2, 1) else broker_view(amqp_url)
    finally:
        worker.resume()

    for reply in pending:
        assert (await client.reply(reply)).status == 404
    assert waiting == (2, 1), f"(waiting, consumers) on {QUERIES_QUEUE}\n{seen}\n{worker.log}"


async def test_a_query_that_expired_while_waiting_is_not_answered(
    client: RawClient, worker: WorkerProcess
) -> None:
    worker.pause()
    try:
        in_hand = await client.ask(QUERIES, "orders.get", unknown_order())
        expiring = await client.ask(QUERIES, "orders.get", unknown_order(), expiration_ms=200)
        patient = await client.ask(QUERIES, "orders.get", unknown_order(), expiration_ms=60_000)
        await asyncio.sleep(0.6)
    finally:
        worker.resume()

    assert (await client.reply(in_hand)).status == 404
    assert (await client.reply(patient)).status == 404  # it queued behind the expired one
    await asyncio.sleep(0.2)
    answered = expiring.done()
    expiring.cancel()
    assert not answered


async def test_the_paused_and_resumed_worker_logs_no_traceback(
    client: RawClient, worker: WorkerProcess
) -> None:
    reply = await client.call(QUERIES, "orders.get", unknown_order())

    assert reply.status == 404
    assert worker.running
    assert "Traceback" not in worker.log, worker.log
    assert client.unexpected == []
