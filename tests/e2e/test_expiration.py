"""A query whose `expiration` passed while it waited is dropped unanswered.

To make the wait deterministic the worker takes one query at a time
(prefetch 1) and is paused (SIGSTOP): the first query fills its one slot, the
next ones wait in its queue until it is resumed (SIGCONT).
"""

import asyncio
import time

import pytest

from tests.e2e.amqp import QUERIES, RawClient, json_body, new_id
from tests.e2e.conftest import WorkerProcess

pytestmark = pytest.mark.e2e

QUERIES_QUEUE = "pizzeria.worker.queries"


@pytest.fixture(scope="module")
def worker_env() -> dict[str, str]:
    return {"PIZZERIA_PREFETCH": "1"}


def unknown_order() -> bytes:
    return json_body(order_id=new_id())


async def ready(client: RawClient, queue: str) -> int:
    """Messages waiting in `queue` now."""
    declared = await client.channel.declare_queue(queue, passive=True)
    return declared.declaration_result.message_count or 0


async def ready_in(client: RawClient, queue: str, expected: int, within: float) -> int:
    """Messages waiting in `queue`, once they reach `expected` or `within` seconds pass."""
    deadline = time.monotonic() + within
    while True:
        count = await ready(client, queue)
        if count == expected or time.monotonic() > deadline:
            return count
        await asyncio.sleep(0.05)


async def test_a_paused_worker_holds_no_more_queries_than_its_prefetch(
    client: RawClient, worker: WorkerProcess
) -> None:
    worker.pause()
    try:
        pending = [await client.ask(QUERIES, "orders.get", unknown_order()) for _ in range(3)]
        # A busy broker can take a while to count what it was sent; once it shows
        # two waiting, they must stay: nothing more goes to the paused worker.
        await ready_in(client, QUERIES_QUEUE, expected=2, within=10.0)
        await asyncio.sleep(0.5)
        waiting = await ready(client, QUERIES_QUEUE)
    finally:
        worker.resume()

    for reply in pending:
        assert (await client.reply(reply)).status == 404
    assert waiting == 2


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
