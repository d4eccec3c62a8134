"""PizzeriaClient across a RabbitMQ restart (`rabbitmqctl stop_app` / `start_app`).

Run it holding the broker lock, as the fault tests are:
`flock /tmp/pizzeria-broker.lock .venv/bin/pytest tests/client -q`.
"""

import asyncio
import time
import uuid

import pytest

from pizzeria_client.client import ConnectionLostError, PizzeriaClient
from pizzeria_contracts import OrderPlaced, OrderView, names
from tests.e2e.conftest import WorkerProcess
from tests.faults.services import RABBITMQ_PORT, RabbitMQ, is_loopback, rabbitmqctl

from .conftest import an_order, new_phone
from .test_calls import Heard

pytestmark = pytest.mark.e2e


@pytest.fixture
def rabbitmq(amqp_url: str) -> RabbitMQ:
    ctl = rabbitmqctl()
    if ctl is None or not is_loopback(amqp_url, RABBITMQ_PORT):
        pytest.skip("needs the local RabbitMQ and rabbitmqctl")
    return RabbitMQ(ctl)


async def test_calls_fail_fast_while_rabbitmq_restarts_and_work_again_afterwards(
    pizzeria: PizzeriaClient, rabbitmq: RabbitMQ, worker: WorkerProcess
) -> None:
    phone = new_phone()
    before = await pizzeria.place_order(an_order())
    events = Heard(pizzeria.events(names.ORDER_PLACED))
    message_id = uuid.uuid4().hex
    try:
        worker.pause()  # so the next call is still waiting when RabbitMQ stops
        in_flight = asyncio.ensure_future(
            pizzeria.send(names.PLACE_ORDER, an_order(phone), message_id=message_id, timeout=60)
        )
        await asyncio.sleep(0.5)
        async with rabbitmq.stopped():
            stopped = time.monotonic()
            with pytest.raises(ConnectionLostError, match="lost"):
                await asyncio.wait_for(in_flight, 10)
            assert time.monotonic() - stopped < 5, "an in-flight call should fail at once"

            with pytest.raises(ConnectionLostError, match="within 1 s"):
                await pizzeria.get_order(before.id, timeout=1)
        worker.resume()

        # the same message_id: the command that was in flight runs once, whoever answers
        retried = await pizzeria.send(
            names.PLACE_ORDER, an_order(phone), message_id=message_id, timeout=10, retries=6
        )
        after = await pizzeria.place_order(an_order())
        (heard,) = await events.about("order_id", after.id, 1)
    finally:
        worker.resume()
        await events.stop()

    order = OrderView.model_validate(retried.data)
    assert retried.status == 201
    assert [o.id for o in (await pizzeria.list_orders_by_customer(phone)).items] == [order.id]
    assert (await pizzeria.get_order(before.id)).id == before.id
    assert isinstance(heard.event, OrderPlaced)  # the event subscription was restored too
