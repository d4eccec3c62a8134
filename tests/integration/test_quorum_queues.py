"""The worker on quorum queues, the queue type for a RabbitMQ cluster."""

from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit

import pytest
from pymongo import AsyncMongoClient

from pizzeria_client.client import PizzeriaClient
from pizzeria_contracts import PizzaRequest, PlaceOrder
from tests.conftest import fresh_vhost, rabbitmqctl
from worker.adapters.mongo.database import Document
from worker.bootstrap import Service

from .conftest import running_service

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def quorum_url(amqp_url: str) -> Iterator[str]:
    with fresh_vhost(amqp_url, "pizzeria-quorum") as url:
        yield url


@pytest.fixture(scope="module")
async def service(
    quorum_url: str, mongodb_url: str, mongo_client: AsyncMongoClient[Document]
) -> AsyncIterator[Service]:
    async with running_service(
        quorum_url, mongodb_url, mongo_client, queue_type="quorum", retry_attempts=2
    ) as service:
        yield service


async def test_every_queue_of_the_worker_is_a_quorum_queue(
    service: Service, quorum_url: str
) -> None:
    vhost = urlsplit(quorum_url).path.lstrip("/")

    listed = rabbitmqctl("list_queues", "-p", vhost, "name", "type")

    types = dict(line.split("\t") for line in listed.strip().splitlines()[1:])
    assert types == {
        "pizzeria.worker.commands": "quorum",
        "pizzeria.worker.queries": "quorum",
        "pizzeria.dead-letter": "quorum",
        "pizzeria.worker.commands.retry.1": "quorum",
        "pizzeria.worker.commands.retry.2": "quorum",
    }


async def test_an_order_is_placed_and_read_back_over_quorum_queues(
    service: Service, quorum_url: str
) -> None:
    async with PizzeriaClient(quorum_url, timeout=10) as client:
        order = await client.place_order(
            PlaceOrder(
                customer_name="Quinn",
                customer_phone="+1 555 0177",
                pizzas=[PizzaRequest(name="margherita", size="small")],
            )
        )
        again = await client.get_order(order.id)

    assert again == order
