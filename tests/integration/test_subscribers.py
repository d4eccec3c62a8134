"""The whole service in-process, driven over AMQP by a plain aio-pika client."""

import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

import aio_pika
import pytest
from aio_pika.abc import AbstractRobustConnection
from pymongo import AsyncMongoClient

from pizzeria_contracts import names
from worker.adapters.mongo.database import Document
from worker.bootstrap import Service

from .conftest import random_phone, running_service
from .wire import Tap, Wire, place_order

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def service(
    amqp_url: str, mongodb_url: str, mongo_client: AsyncMongoClient[Document]
) -> AsyncIterator[Service]:
    async with running_service(amqp_url, mongodb_url, mongo_client) as service:
        yield service


@pytest.fixture(scope="module")
async def wire(service: Service, connection: AbstractRobustConnection) -> Wire:
    return await Wire.open(connection)


@pytest.fixture(scope="module")
async def events(service: Service, connection: AbstractRobustConnection) -> Tap:
    return await Tap.bind(connection, names.EVENTS_EXCHANGE, ["orders.#", "customers.#"])


@pytest.fixture(scope="module")
async def dead_letters(service: Service, connection: AbstractRobustConnection) -> Tap:
    return await Tap.bind(connection, names.DEAD_LETTER_EXCHANGE, [""])


async def test_placing_an_order_replies_201_with_the_order(wire: Wire) -> None:
    phone = random_phone()

    reply = await wire.call(names.PLACE_ORDER, place_order(phone), correlation_id="corr-1")

    assert reply.headers[names.STATUS_HEADER] == 201
    assert reply.correlation_id == "corr-1"
    assert reply.content_type == "application/json"
    body = json.loads(reply.body)
    assert set(body) == {"status", "data"}
    assert body["status"] == 201
    order = body["data"]
    assert (order["status"], order["version"], order["customer_phone"]) == ("confirmed", 2, phone)
    assert [item["unit_price"] for item in order["items"]] == ["23.28", "14.99"]
    assert [item["size"] for item in order["items"]] == ["large", "small"]
    assert order["total_amount"] == "38.27"
    assert order["created_at"].endswith("Z")


async def test_a_new_customers_order_publishes_three_events(wire: Wire, events: Tap) -> None:
    correlation_id = uuid.uuid4().hex

    reply = await wire.call(
        names.PLACE_ORDER, place_order(random_phone()), correlation_id=correlation_id
    )

    order = json.loads(reply.body)["data"]
    subjects = {order["id"]: "order_id", order["customer_id"]: "customer_id"}
    received = await events.wait(3, lambda m: m.headers.get("cloudEvents:subject") in subjects)
    assert [(m.type, m.headers["cloudEvents:subject"]) for m in received] == [
        (names.CUSTOMER_REGISTERED, order["customer_id"]),
        (names.ORDER_PLACED, order["id"]),
        (names.ORDER_CONFIRMED, order["id"]),
    ]
    for message, version in zip(received, [1, 1, 2], strict=True):
        headers = message.headers
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert message.routing_key == message.type == headers["cloudEvents:type"]
        assert message.message_id
        assert message.message_id == headers["cloudEvents:id"]
        assert headers["cloudEvents:specversion"] == "1.0"
        assert headers["cloudEvents:source"] == names.EVENT_SOURCE
        assert isinstance(headers["cloudEvents:time"], str)
        assert datetime.fromisoformat(headers["cloudEvents:time"]).utcoffset() is not None
        body = json.loads(message.body)
        subject = headers["cloudEvents:subject"]
        assert (body[subjects[subject]], body["version"]) == (subject, version)
    assert [m.correlation_id for m in received[1:]] == [correlation_id] * 2


async def test_a_customer_registered_event_carries_the_commands_correlation_id(
    wire: Wire, events: Tap
) -> None:
    correlation_id = uuid.uuid4().hex
    reply = await wire.call(
        names.PLACE_ORDER, place_order(random_phone()), correlation_id=correlation_id
    )

    customer_id = json.loads(reply.body)["data"]["customer_id"]
    [registered] = await events.wait(1, lambda m: m.headers["cloudEvents:subject"] == customer_id)
    assert registered.correlation_id == correlation_id


async def test_a_known_phone_registers_no_new_customer(wire: Wire, events: Tap) -> None:
    phone = random_phone()
    first = json.loads((await wire.call(names.PLACE_ORDER, place_order(phone))).body)["data"]

    second = json.loads((await wire.call(names.PLACE_ORDER, place_order(phone))).body)["data"]

    assert second["customer_id"] == first["customer_id"]
    assert second["id"] != first["id"]
    about = await events.wait(1, lambda m: m.headers["cloudEvents:subject"] == first["customer_id"])
    assert [m.type for m in about] == [names.CUSTOMER_REGISTERED]


async def test_a_resent_command_gets_the_original_reply(wire: Wire) -> None:
    message_id, body = uuid.uuid4().hex, place_order(random_phone())

    first = await wire.call(names.PLACE_ORDER, body, message_id=message_id)
    again = await wire.call(names.PLACE_ORDER, body, message_id=message_id)

    assert again.headers[names.STATUS_HEADER] == 201
    assert json.loads(again.body) == json.loads(first.body)


# aiormq gives every published message a message_id, so `missing-message-id` needs
# another client: it is left to the unit tests of the pipeline.
@pytest.mark.parametrize(
    ("routing_key", "body", "reason"),
    [
        (names.PLACE_ORDER, b'{"customer_name": "Anna", ', "invalid-json"),
        (names.PLACE_ORDER, b'{"customer_name": "Anna"}', "invalid-message"),
        ("orders.bake-faster", b"{}", "unknown-message"),
    ],
)
async def test_an_unusable_command_is_answered_400_and_dead_lettered(
    wire: Wire, dead_letters: Tap, routing_key: str, body: bytes, reason: str
) -> None:
    message_id, correlation_id = uuid.uuid4().hex, uuid.uuid4().hex

    reply = await wire.call(
        routing_key,
        body,
        message_id=message_id,
        correlation_id=correlation_id,
        headers={"x-sender": "integration"},
    )

    assert reply.headers[names.STATUS_HEADER] == 400
    assert reply.correlation_id == correlation_id
    assert json.loads(reply.body)["status"] == 400
    [dead] = await dead_letters.wait(1, lambda m: m.correlation_id == correlation_id)
    assert dead.body == body
    assert dead.message_id == message_id
    assert dead.headers[names.ERROR_REASON_HEADER] == reason
    assert dead.headers[names.ERROR_DETAIL_HEADER]
    assert dead.headers[names.ORIGINAL_EXCHANGE_HEADER] == names.COMMANDS_EXCHANGE
    assert dead.headers[names.ORIGINAL_ROUTING_KEY_HEADER] == routing_key
    assert dead.headers["x-sender"] == "integration"


async def test_a_message_without_reply_to_is_still_dead_lettered(
    wire: Wire, dead_letters: Tap
) -> None:
    message_id = uuid.uuid4().hex

    await wire.send(names.PLACE_ORDER, b"not json at all", message_id=message_id)

    [dead] = await dead_letters.wait(1, lambda m: m.message_id == message_id)
    assert dead.body == b"not json at all"
    assert dead.headers[names.ERROR_REASON_HEADER] == "invalid-json"


async def test_the_service_keeps_answering_after_bad_messages(
    wire: Wire, dead_letters: Tap
) -> None:
    placed = json.loads((await wire.call(names.PLACE_ORDER, place_order(random_phone()))).body)
    message_id = uuid.uuid4().hex
    await wire.send(names.PLACE_ORDER, b"\xff\xfe garbage", message_id=message_id)
    await dead_letters.wait(1, lambda m: m.message_id == message_id)

    reply = await wire.call(names.GET_ORDER, {"order_id": placed["data"]["id"]}, query=True)

    assert reply.headers[names.STATUS_HEADER] == 200
    assert json.loads(reply.body) == {"status": 200, "data": placed["data"]}


async def test_asking_for_an_unknown_order_is_a_404(wire: Wire) -> None:
    reply = await wire.call(names.GET_ORDER, {"order_id": uuid.uuid4().hex}, query=True)

    assert reply.headers[names.STATUS_HEADER] == 404
    assert json.loads(reply.body)["status"] == 404
