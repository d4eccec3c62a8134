"""A returning customer's new details must be stored even when the first attempt at the
order died between its two writes: the order and the customer update.

Once, `place_order` stored the order, then updated the customer: when the message came
back (the worker crashed, the database went away, a transient error sent it to the
retry queue), it found the order stored and returned its reply at once, so the customer
was never updated. Now the customer comes first and keeps the message's id. Here the
worker is held after its first write (publishing is blocked by a memory alarm, so the
relay of that write's events waits), then killed; when the worker no longer publishes
between its writes, it is killed after both, before its reply. Either way, the message
that comes back must end as one order and one customer update.
"""

import asyncio
import json
import uuid

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from worker.adapters.mongo.database import Document
from worker.application.context import id_for

from .harness import Reporter, StartWorker, eventually
from .ledger import wait_for_outboxes
from .load import LoadClient
from .services import RabbitMQ

pytestmark = pytest.mark.faults

PHONE = "+39 055 1234567"


def order(address: str) -> bytes:
    return json.dumps(
        {
            "customer_name": "Giulia Verdi",
            "customer_phone": PHONE,
            "customer_address": address,
            "pizzas": [{"name": "pepperoni", "size": "large"}],
        }
    ).encode()


@pytest.mark.timeout(180)
async def test_an_order_redelivered_after_a_crash_still_updates_its_customer(
    amqp_url: str,
    database: AsyncDatabase[Document],
    start_worker: StartWorker,
    report: Reporter,
    rabbitmq: RabbitMQ,
) -> None:
    worker = await start_worker({})
    client = await LoadClient(amqp_url, resend_after=300).start()
    try:
        first = await client.call("orders.place", order("Via Roma 1"), uuid.uuid4().hex)
        if first.status != 201:
            raise RuntimeError(f"the first order was refused: {first}")
        await wait_for_outboxes(database, 30)

        worker.current.pause()
        second_id = uuid.uuid4().hex
        second = client.send("orders.place", order("Via Milano 2"), second_id)
        await asyncio.wait_for(second.confirmed.wait(), 10)
        async with rabbitmq.publishing_blocked():
            worker.current.resume()

            async def writes_done() -> tuple[bool, bool]:
                stored = await database.orders.find_one({"_id": id_for("order", second_id)})
                customer = await database.customers.find_one({})
                return stored is not None, customer is not None and customer["version"] > 1

            async def one_write_done() -> bool:
                return any(await writes_done())

            await eventually(one_write_done, 30, "the order stored or its customer updated")
            await asyncio.sleep(1)  # it would have made the other write by now, if it could
            order_stored, customer_updated = await writes_done()
            if second.answered.is_set():
                raise RuntimeError("the worker answered: it was not held before its reply")
            await worker.kill()
            held = {
                (True, False): "the order stored, the customer not updated",
                (False, True): "the customer updated, the order not stored",
                (True, True): "both written (no publish between them to hold it at)",
            }[order_stored, customer_updated]
            report.say(f"\n[customer] killed before its reply: {held}")
        await worker.start()

        await asyncio.wait_for(second.answered.wait(), 60)
        reply = second.replies[0]
        await wait_for_outboxes(database, 30)
        customer = await database.customers.find_one({})
        assert customer is not None
        report.say(
            f"[customer] reply {reply.status}; customer version {customer['version']}, "
            f"address {customer['address']!r}"
        )
        assert reply.status == 201
        assert (customer["version"], customer["address"]) == (2, "Via Milano 2")
    finally:
        await client.close()
