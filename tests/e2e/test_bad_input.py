"""Bad input is answered with a 400 and dead-lettered as it arrived; the worker carries on."""

import dataclasses
import json
import random

import pytest
from aio_pika.abc import AbstractIncomingMessage

from tests.e2e.amqp import (
    COMMANDS,
    NEW_ID,
    QUERIES,
    RawClient,
    Watch,
    header,
    json_body,
    new_id,
)
from tests.e2e.conftest import WorkerProcess

pytestmark = pytest.mark.e2e

GOOD_ORDER = {
    "customer_name": "Anna Bianchi",
    "customer_phone": "+39 081 555 0101",
    "pizzas": [{"name": "margherita", "size": "small"}],
}


@dataclasses.dataclass(frozen=True)
class BadInput:
    exchange: str
    routing_key: str
    body: bytes
    reason: str
    with_message_id: bool = True
    content_type: str | None = "application/json"


BAD_INPUTS = {
    "invalid-json": BadInput(
        COMMANDS, "orders.place", b'{"customer_name": "Anna", ', "invalid-json"
    ),
    "wrong-types": BadInput(
        COMMANDS,
        "orders.place",
        json_body(customer_name=42, customer_phone="+39 081 555 0101", pizzas="margherita"),
        "invalid-message",
    ),
    "query-without-its-field": BadInput(QUERIES, "orders.get", b"{}", "invalid-message"),
    "command-without-message-id": BadInput(
        COMMANDS, "orders.place", json.dumps(GOOD_ORDER).encode(), "missing-message-id", False
    ),
    "unknown-command": BadInput(COMMANDS, "orders.bake", b"{}", "unknown-message"),
    "unknown-query": BadInput(QUERIES, "orders.find-all", b"{}", "unknown-message"),
    "binary-garbage": BadInput(
        COMMANDS,
        "orders.place",
        bytes(random.Random(7).randrange(256) for _ in range(512)),
        "invalid-json",
        content_type="application/octet-stream",
    ),
}

FIELDS_NAMED = {"wrong-types": {"customer_name", "pizzas"}, "query-without-its-field": {"order_id"}}


@pytest.fixture(scope="module")
async def dead_letters(client: RawClient) -> Watch:
    return await client.watch_dead_letters()


@pytest.fixture(scope="module")
async def order_events(client: RawClient) -> Watch:
    return await client.watch_events("orders.#")


async def dead_letter_of(dead_letters: Watch, correlation_id: str) -> AbstractIncomingMessage:
    def of_it(message: AbstractIncomingMessage) -> bool:
        return message.correlation_id == correlation_id

    [dead_letter] = await dead_letters.collect(of_it, 1, timeout=5)
    return dead_letter


def assert_kept_as_it_arrived(
    dead_letter: AbstractIncomingMessage, bad: BadInput, message_id: str | None
) -> None:
    assert dead_letter.body == bad.body
    if message_id is not None:  # an absent one: see test_a_dead_letter_keeps_no_message_id
        assert dead_letter.message_id == message_id
    assert dead_letter.content_type == bad.content_type
    assert header(dead_letter, "x-error-reason") == bad.reason
    assert header(dead_letter, "x-error-detail")
    assert header(dead_letter, "x-original-exchange") == bad.exchange
    assert header(dead_letter, "x-original-routing-key") == bad.routing_key
    assert header(dead_letter, "x-test-marker") == "kept"


@pytest.mark.parametrize("kind", BAD_INPUTS)
async def test_bad_input_is_answered_with_a_bad_request_and_dead_lettered(
    client: RawClient, dead_letters: Watch, kind: str
) -> None:
    bad, correlation_id = BAD_INPUTS[kind], new_id()
    message_id = new_id() if bad.with_message_id else None

    pending = await client.ask(
        bad.exchange,
        bad.routing_key,
        bad.body,
        message_id=message_id,
        correlation_id=correlation_id,
        headers={"x-test-marker": "kept"},
        content_type=bad.content_type,
    )
    reply = await client.reply(pending, timeout=5)

    assert reply.status == 400
    assert reply.correlation_id == correlation_id
    assert reply.body["status"] == 400
    assert reply.body["detail"]
    if kind in FIELDS_NAMED:
        named = {error["field"].split(".")[0] for error in reply.body["errors"]}
        assert named == FIELDS_NAMED[kind]
    dead_letter = await dead_letter_of(dead_letters, correlation_id)
    assert_kept_as_it_arrived(dead_letter, bad, message_id)
    assert (dead_letter.reply_to or "").startswith("amq.rabbitmq.reply-to")


@pytest.mark.parametrize("kind", BAD_INPUTS)
async def test_bad_input_without_reply_to_is_still_dead_lettered(
    client: RawClient, dead_letters: Watch, kind: str
) -> None:
    bad, correlation_id = BAD_INPUTS[kind], new_id()
    message_id = new_id() if bad.with_message_id else None

    await client.publish(
        bad.exchange,
        bad.routing_key,
        bad.body,
        message_id=message_id,
        correlation_id=correlation_id,
        headers={"x-test-marker": "kept"},
        content_type=bad.content_type,
    )

    assert_kept_as_it_arrived(await dead_letter_of(dead_letters, correlation_id), bad, message_id)


async def test_a_dead_letter_that_arrived_without_message_id_says_its_id_was_added(
    client: RawClient, dead_letters: Watch
) -> None:
    correlation_id = new_id()

    await client.publish(
        COMMANDS,
        "orders.place",
        json.dumps(GOOD_ORDER).encode(),
        message_id=None,
        correlation_id=correlation_id,
    )

    dead_letter = await dead_letter_of(dead_letters, correlation_id)
    assert header(dead_letter, "x-error-reason") == "missing-message-id"
    assert header(dead_letter, "x-message-id-added") is True


async def test_a_command_sent_twice_is_placed_once_and_answered_alike(
    client: RawClient, order_events: Watch
) -> None:
    message_id = new_id()
    body = json_body(**GOOD_ORDER | {"customer_phone": f"+39{random.randrange(10**9, 10**10)}"})

    first = await client.call(COMMANDS, "orders.place", body, message_id=message_id)
    again = await client.call(COMMANDS, "orders.place", body, message_id=message_id)

    assert first.status == 201, first
    assert again.status == first.status
    assert again.body == first.body
    order_id = first.body["data"]["id"]
    placed = await order_events.quiet(
        lambda e: e.routing_key == "orders.placed" and e.correlation_id == message_id, 0.5
    )
    assert [header(event, "cloudEvents:subject") for event in placed] == [order_id]


async def test_after_all_the_bad_input_the_worker_still_places_orders(
    client: RawClient, worker: WorkerProcess
) -> None:
    reply = await client.call(
        COMMANDS,
        "orders.place",
        json_body(**GOOD_ORDER),
        message_id=NEW_ID,
    )

    assert reply.status == 201, reply
    assert reply.body["data"]["total_amount"] == "12.99"
    assert worker.running
    assert "Traceback" not in worker.log, worker.log
    assert client.unexpected == []
