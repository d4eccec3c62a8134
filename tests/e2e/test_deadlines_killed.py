"""A worker SIGKILLed while a timeout is due: after the restart, with a second worker
beside it on the same orders, each deadline's action is stored and published once."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from pymongo import AsyncMongoClient

from tests.e2e.amqp import RawClient
from tests.e2e.deadlines import CANCEL, SHORT_TIMEOUTS, about, body, place
from tests.e2e.relaunch import Relaunched
from worker.adapters.mongo.database import Document

pytestmark = pytest.mark.e2e

DOWN_FOR = CANCEL + 1.0
"""Longer than both kitchen deadlines: they all fall due while no worker runs."""
SOON_AFTER = 5.0
"""How late, after the restart, the actions may come: the sweep, one poll, a relay."""


@pytest.fixture
async def database(mongo_client: AsyncMongoClient[Document]) -> AsyncIterator[str]:
    name = f"e2e_{uuid.uuid4().hex[:12]}"
    yield name
    await mongo_client.drop_database(name)


async def test_a_timeout_due_while_the_worker_was_killed_fires_once_after_the_restart(
    amqp_url: str, mongodb_url: str, mongo_client: AsyncMongoClient[Document], database: str
) -> None:
    first = await Relaunched.on(database, amqp_url, mongodb_url, SHORT_TIMEOUTS)
    client = await RawClient.connect(amqp_url)
    restarted: list[Relaunched] = []
    try:
        events = await client.watch_events("orders.#")
        orders = [await place(client) for _ in range(3)]
        first.worker.process.kill()  # SIGKILL: no shutdown, no flush
        await first.stop()
        await asyncio.sleep(DOWN_FOR)
        back = time.monotonic()
        restarted = list(
            await asyncio.gather(
                *(Relaunched.on(database, amqp_url, mongodb_url, SHORT_TIMEOUTS) for _ in range(2))
            )
        )
        for order_id in orders:
            await events.collect(about(order_id, "orders.cancelled"), 1, timeout=SOON_AFTER + 5)
        took = time.monotonic() - back
        quiet = await events.quiet(lambda m: True, 2.0)
    finally:
        codes = [await worker.stop() for worker in restarted]
        await client.close()

    assert took < SOON_AFTER + 5, f"the actions came {took:.1f} s after the restart"
    for order_id in orders:
        effects = [
            (m.routing_key, body(m)["version"])
            for m in quiet
            if about(order_id, "orders.kitchen-late", "orders.cancelled")(m)
        ]
        assert set(effects) == {("orders.kitchen-late", 3), ("orders.cancelled", 4)}, effects
        stored = await mongo_client[database].orders.find_one({"_id": order_id})
        assert stored is not None
        assert (stored["version"], stored["status"]) == (4, "cancelled")
        inbox = [entry["message_id"] for entry in stored.get("inbox", ())]
        assert sorted(m for m in inbox if m.startswith("deadline:")) == [
            f"deadline:{order_id}:kitchen-late",
            f"deadline:{order_id}:kitchen-timeout",
        ]
    assert codes == [0, 0], [worker.worker.log for worker in restarted]
