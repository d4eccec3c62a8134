"""Commands in shards: with several workers, one order's commands run in the order sent."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from urllib.parse import urlsplit, urlunsplit

import pytest
from pymongo import AsyncMongoClient

from pizzeria_contracts import names
from tests.conftest import fresh_vhost, rabbitmqctl
from tests.e2e.amqp import RawClient, Reply
from tests.faults.proxy import Proxy
from worker.adapters.mongo.database import Document
from worker.bootstrap import Service

from .conftest import running_service

pytestmark = pytest.mark.integration

SHARDS = 3
WORKERS = 2
ORDERS = 20
LIFE = [  # each valid only after the one before it: out of order, one would be a 409
    (names.START_COOKING, {}),
    (names.MARK_READY, {}),
    (names.ASSIGN_DELIVERY, {"driver": "Dino"}),  # two events
    (names.DELIVER_ORDER, {}),
]


@pytest.fixture(scope="module")
def shard_url(amqp_url: str) -> Iterator[str]:
    with fresh_vhost(amqp_url, "pizzeria-shards") as url:
        yield url


@pytest.fixture(scope="module")
async def workers(
    shard_url: str, mongodb_url: str, mongo_client: AsyncMongoClient[Document]
) -> AsyncIterator[list[Service]]:
    """Two workers on one database and one set of queues."""
    database = f"test_shards_{uuid.uuid4().hex[:12]}"
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(
                running_service(
                    shard_url,
                    mongodb_url,
                    mongo_client,
                    command_shards=SHARDS,
                    mongodb_database=database,
                )
            )
            for _ in range(WORKERS)
        ]


@pytest.fixture
async def client(shard_url: str, workers: list[Service]) -> AsyncIterator[RawClient]:
    raw = await RawClient.connect(shard_url)
    yield raw
    await raw.close()


def body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


async def test_the_command_queue_and_every_shard_have_one_active_consumer(
    workers: list[Service], shard_url: str
) -> None:
    vhost = urlsplit(shard_url).path.lstrip("/")

    listed = rabbitmqctl("list_queues", "-p", vhost, "name", "arguments", "consumers")

    rows = {line.split("\t")[0]: line for line in listed.strip().splitlines()[1:]}
    one_at_a_time = [names.COMMANDS_QUEUE, *(f"{names.COMMANDS_QUEUE}.shard-{i}" for i in range(3))]
    for queue in one_at_a_time:
        assert "x-single-active-consumer" in rows[queue], rows[queue]
        assert rows[queue].endswith(f"\t{WORKERS}")  # one active, the other standing by
    assert "x-single-active-consumer" not in rows[f"{names.COMMANDS_QUEUE}.any"]


async def test_commands_sent_back_to_back_run_in_the_order_sent(client: RawClient) -> None:
    placed = await asyncio.gather(
        *(
            client.call(
                names.COMMANDS_EXCHANGE,
                names.PLACE_ORDER,
                body(
                    customer_name="Sam",
                    customer_phone=f"+1 555 01{index:02d}",
                    pizzas=[{"name": "margherita", "size": "small"}],
                ),
            )
            for index in range(ORDERS)
        )
    )
    order_ids = [reply.body["data"]["id"] for reply in placed]

    pending: dict[str, list[asyncio.Future[Reply]]] = {}
    for order_id in order_ids:  # each order's commands without waiting for a reply
        pending[order_id] = [
            await client.ask(names.COMMANDS_EXCHANGE, name, body(order_id=order_id, **extra))
            for name, extra in LIFE
        ]

    for order_id, futures in pending.items():
        replies = [await client.reply(future, timeout=30) for future in futures]
        answered = [(reply.status, reply.body["data"]["version"]) for reply in replies]
        assert answered == [(200, 3), (200, 4), (200, 6), (200, 7)], (order_id, replies)


async def test_a_command_with_no_order_and_a_bad_one_are_answered_from_any(
    client: RawClient,
) -> None:
    menu = await client.call(names.QUERIES_EXCHANGE, names.GET_MENU, b"{}")
    missing = await client.call(
        names.COMMANDS_EXCHANGE, names.START_COOKING, body(order_id=uuid.uuid4().hex)
    )
    broken = await client.call(names.COMMANDS_EXCHANGE, names.START_COOKING, b"{not json")

    assert menu.status == 200
    assert missing.status == 404
    assert broken.status == 400


async def test_a_worker_given_several_hosts_takes_the_first_that_answers(
    shard_url: str, mongodb_url: str, mongo_client: AsyncMongoClient[Document]
) -> None:
    parts = urlsplit(shard_url)
    user, _, host = parts.netloc.rpartition("@")
    nobody = "127.0.0.1:9"  # the discard port: refused
    several = urlunsplit(parts._replace(netloc=f"{user}@{nobody},{host}"))

    async with running_service(several, mongodb_url, mongo_client, command_shards=SHARDS):
        raw = await RawClient.connect(shard_url)
        try:
            menu = await raw.call(names.QUERIES_EXCHANGE, names.GET_MENU, b"{}")
        finally:
            await raw.close()

    assert menu.status == 200


async def test_a_worker_whose_node_goes_moves_on_to_the_next(
    shard_url: str, mongodb_url: str, mongo_client: AsyncMongoClient[Document]
) -> None:
    """The first node is a proxy that then goes away (its connections reset, new ones
    refused): the worker's next attempt goes to the second, and it answers again."""
    parts = urlsplit(shard_url)
    user, _, host = parts.netloc.rpartition("@")
    proxy = await Proxy(parts.port or 5672).start()
    several = urlunsplit(parts._replace(netloc=f"{user}@127.0.0.1:{proxy.port},{host}"))
    async with running_service(several, mongodb_url, mongo_client, command_shards=SHARDS) as one:
        await proxy.close()
        lost = await until(one, ready=False, within=10)
        back = await until(one, ready=True, within=30)

    assert lost is not None, "the worker never noticed its node was gone"
    assert back is not None, "the worker did not move on to the next node"


async def until(service: Service, *, ready: bool, within: float) -> float | None:
    """Seconds until the worker's broker connection is (or is not) up; None if never."""
    started = asyncio.get_running_loop().time()
    while (waited := asyncio.get_running_loop().time() - started) < within:
        if (await service.readiness())["rabbitmq"] is ready:
            return waited
        await asyncio.sleep(0.2)
    return None
