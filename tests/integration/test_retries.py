"""A command that fails for no reason the domain names goes round the delay queues.

The failure is a real one: an order document the worker cannot read (as a bug
or a half-migrated database would leave it). Mended in time, the retry
succeeds; left broken, the retries run out and the sender hears 500.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from pymongo import AsyncMongoClient

from pizzeria_contracts import names
from worker.adapters.mongo.database import Document
from worker.adapters.mongo.documents import OrderCodec
from worker.bootstrap import Service

from .conftest import new_order, running_service
from .wire import Tap, Wire

pytestmark = pytest.mark.integration

BASE_DELAY = 0.3


@pytest.fixture(scope="module")
async def service(
    amqp_url: str, mongodb_url: str, mongo_client: AsyncMongoClient[Document]
) -> AsyncIterator[Service]:
    async with running_service(
        amqp_url,
        mongodb_url,
        mongo_client,
        retry_attempts=2,
        retry_base_delay=BASE_DELAY,
        retry_jitter=0,
    ) as service:
        yield service


@pytest.fixture(scope="module")
async def wire(service: Service, connection: AbstractRobustConnection) -> Wire:
    return await Wire.open(connection)


@pytest.fixture(scope="module")
async def dead_letters(service: Service, connection: AbstractRobustConnection) -> Tap:
    return await Tap.bind(connection, names.DEAD_LETTER_EXCHANGE, [""])


async def unreadable_order(service: Service) -> str:
    order_id = uuid.uuid4().hex
    await service.collections.orders.insert_one({"_id": order_id, "version": 2})
    return order_id


def header(message: AbstractIncomingMessage, name: str) -> object:
    return (message.headers or {}).get(name)


async def test_a_command_that_keeps_failing_is_retried_then_dead_lettered_with_a_500(
    service: Service, wire: Wire, dead_letters: Tap
) -> None:
    order_id = await unreadable_order(service)
    message_id = uuid.uuid4().hex
    started = asyncio.get_running_loop().time()

    reply = await wire.call(names.START_COOKING, {"order_id": order_id}, message_id=message_id)

    waited = asyncio.get_running_loop().time() - started
    assert (reply.headers or {})[names.STATUS_HEADER] == 500
    assert waited >= BASE_DELAY + 2 * BASE_DELAY  # two retries, the second waiting twice as long
    (letter,) = await dead_letters.wait(1, lambda m: m.message_id == message_id)
    assert header(letter, names.ERROR_REASON_HEADER) == "retries-exhausted"
    assert header(letter, names.RETRY_ATTEMPT_HEADER) == 2
    assert header(letter, names.ORIGINAL_EXCHANGE_HEADER) == names.COMMANDS_EXCHANGE
    assert header(letter, names.ORIGINAL_ROUTING_KEY_HEADER) == names.START_COOKING
    assert header(letter, "x-death"), "it went through the delay queues"


async def test_a_command_whose_failure_passes_succeeds_on_a_retry_with_one_reply(
    service: Service, wire: Wire, dead_letters: Tap
) -> None:
    order_id = await unreadable_order(service)
    message_id = uuid.uuid4().hex
    replies = asyncio.create_task(
        wire.call(names.START_COOKING, {"order_id": order_id}, message_id=message_id)
    )
    await asyncio.sleep(BASE_DELAY / 2)  # the first try has failed; the retry waits

    order = new_order()
    order.id = order_id
    await service.collections.orders.replace_one(
        {"_id": order_id}, {**OrderCodec().encode(order), "outbox": [], "inbox": []}
    )
    reply = await replies

    assert (reply.headers or {})[names.STATUS_HEADER] == 200
    assert b'"status":"cooking"' in reply.body
    await asyncio.sleep(BASE_DELAY)
    assert not [m for m in dead_letters.messages if m.message_id == message_id]
