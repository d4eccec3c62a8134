"""A burst the relay clears in one batch of 100 or more documents must not hang the worker.

The relay clears the outboxes of up to 256 documents at once, and once did so with one
`bulk_write` of a statement each; now it writes at most 50 statements per command
(worker/adapters/mongo/batch.py). FerretDB 1.24, the project's database before, kept
every statement's query open until the whole `update` command ended, each holding one
of its 100 SQLite connections: an update of 100 statements or more waited forever.
Here publishing is blocked for a moment (a memory
alarm, as RabbitMQ raises under pressure) while 150 new customers are stored, so the
next batch holds 149 of them.
"""

import asyncio
import contextlib
import json
import uuid

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from worker.adapters.mongo.database import Document

from .harness import Reporter, StartWorker, eventually
from .load import LoadClient
from .services import RabbitMQ

pytestmark = pytest.mark.faults

BURST = 150
ANSWER_WITHIN = 60.0


@pytest.mark.timeout(ANSWER_WITHIN + 180)
async def test_a_burst_relayed_in_one_batch_is_answered(
    amqp_url: str,
    database: AsyncDatabase[Document],
    start_worker: StartWorker,
    report: Reporter,
    rabbitmq: RabbitMQ,
) -> None:
    worker = await start_worker({"PIZZERIA_PREFETCH": str(BURST + 50)})
    client = await LoadClient(amqp_url, resend_after=ANSWER_WITHIN * 2).start()
    try:
        worker.current.pause()
        commands = [
            client.send(
                "orders.place",
                json.dumps(
                    {
                        "customer_name": f"Burst {index}",
                        "customer_phone": f"+39 02 {10_000_000 + index}",
                        "pizzas": [{"name": "margherita", "size": "small"}],
                    }
                ).encode(),
                uuid.uuid4().hex,
            )
            for index in range(BURST)
        ]
        await asyncio.wait_for(asyncio.gather(*(c.confirmed.wait() for c in commands)), 30)
        async with rabbitmq.publishing_blocked():
            worker.current.resume()

            async def all_customers_stored() -> bool:
                stored = await asyncio.wait_for(database.customers.count_documents({}), 10)
                return stored >= BURST

            await eventually(all_customers_stored, 60, f"{BURST} customers stored")
            customers = await database.customers.find({}, {"outbox": 1}).to_list()
            waiting = sum(bool(customer.get("outbox")) for customer in customers)
            if waiting < 100:
                raise RuntimeError(f"only {waiting} customers wait for the relay: not blocked")
            report.say(f"\n[burst] {BURST} customers stored, {waiting} wait for the relay")

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(c.answered.wait() for c in commands)), ANSWER_WITHIN
            )
        answered = sum(c.answered.is_set() for c in commands)
        report.say(f"[burst] {answered} of {BURST} answered within {ANSWER_WITHIN:.0f} s")
        assert answered == BURST, (
            f"{answered} of {BURST} orders answered within {ANSWER_WITHIN:.0f} s: "
            "the relay's bulk write hangs the database"
        )
    finally:
        await client.close()
