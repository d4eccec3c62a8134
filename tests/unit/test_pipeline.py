"""The mediator's pipeline: what becomes a reply, what becomes a dead letter."""

import json
from uuid import uuid4

import pytest

from pizzeria_contracts import names
from tests.unit.pizzeria import Pizzeria, encode, order_body
from worker.application.context import MessageContext


async def test_a_body_that_is_not_json_is_dead_lettered_as_invalid_json(
    pizzeria: Pizzeria,
) -> None:
    outcome = await pizzeria.command(names.PLACE_ORDER, b'{"customer_name": "Ann",')

    assert outcome.result.status == 400
    assert outcome.result.title == "Bad Request"
    assert outcome.dead_letter == "invalid-json"


async def test_a_body_that_is_not_utf8_is_dead_lettered_as_invalid_json(
    pizzeria: Pizzeria,
) -> None:
    outcome = await pizzeria.command(names.START_COOKING, b"\xff\xfe\x00")

    assert (outcome.result.status, outcome.dead_letter) == (400, "invalid-json")


async def test_a_body_failing_validation_names_every_bad_field(pizzeria: Pizzeria) -> None:
    body = order_body(customer_phone="abc")
    del body["pizzas"]

    outcome = await pizzeria.command(names.PLACE_ORDER, body)

    assert outcome.result.status == 400
    assert outcome.dead_letter == "invalid-message"
    errors = outcome.result.errors or []
    assert {error.field for error in errors} == {"customer_phone", "pizzas"}
    assert outcome.result.detail is not None
    assert "customer_phone" in outcome.result.detail
    assert "pizzas" in outcome.result.detail
    assert pizzeria.event_types() == []


async def test_a_nested_bad_field_is_named_by_its_path(pizzeria: Pizzeria) -> None:
    body = order_body(pizzas=[{"name": "margherita", "size": "small"}, {"name": "margherita"}])

    outcome = await pizzeria.command(names.PLACE_ORDER, body)

    assert outcome.dead_letter == "invalid-message"
    assert [error.field for error in outcome.result.errors or []] == ["pizzas.1.size"]


async def test_a_json_array_is_an_invalid_message_about_the_body(pizzeria: Pizzeria) -> None:
    outcome = await pizzeria.command(names.START_COOKING, b"[1, 2]")

    assert outcome.dead_letter == "invalid-message"
    assert [error.field for error in outcome.result.errors or []] == ["body"]


async def test_an_unknown_message_name_is_dead_lettered(pizzeria: Pizzeria) -> None:
    outcome = await pizzeria.command("orders.teleport", {"order_id": uuid4().hex})

    assert outcome.result.status == 400
    assert outcome.dead_letter == "unknown-message"
    assert "orders.teleport" in (outcome.result.detail or "")


async def test_a_command_arriving_on_the_queries_exchange_is_unknown(pizzeria: Pizzeria) -> None:
    outcome = await pizzeria.mediator.send(
        names.PLACE_ORDER,
        encode(order_body()),
        MessageContext(
            name=names.PLACE_ORDER, exchange=names.QUERIES_EXCHANGE, message_id=uuid4().hex
        ),
    )

    assert outcome.dead_letter == "unknown-message"
    assert pizzeria.orders.items == {}


async def test_a_query_arriving_on_the_commands_exchange_is_unknown(pizzeria: Pizzeria) -> None:
    outcome = await pizzeria.command(names.GET_ORDER, {"order_id": uuid4().hex})

    assert outcome.dead_letter == "unknown-message"


async def test_a_command_without_a_message_id_is_dead_lettered(pizzeria: Pizzeria) -> None:
    context = MessageContext(name=names.PLACE_ORDER, exchange=names.COMMANDS_EXCHANGE)

    outcome = await pizzeria.mediator.send(names.PLACE_ORDER, encode(order_body()), context)

    assert outcome.result.status == 400
    assert outcome.dead_letter == "missing-message-id"
    assert pizzeria.event_types() == []


async def test_a_query_needs_no_message_id(pizzeria: Pizzeria) -> None:
    outcome = await pizzeria.query(names.GET_MENU, {})

    assert outcome.result.status == 200
    assert outcome.dead_letter is None


@pytest.mark.parametrize(("extra", "too_large"), [(0, False), (1, True)])
async def test_a_body_larger_than_the_limit_is_dead_lettered(extra: int, too_large: bool) -> None:
    pizzeria = Pizzeria.open(max_body_bytes=1024)
    body = encode(order_body())
    padded = body + b" " * (1024 - len(body) + extra)  # blanks after JSON are still JSON

    outcome = await pizzeria.command(names.PLACE_ORDER, padded)

    if too_large:
        assert outcome.result.status == 400
        assert outcome.dead_letter == "message-too-large"
        assert "1024" in (outcome.result.detail or "")
    else:
        assert outcome.result.status == 201
        assert outcome.dead_letter is None


async def test_a_missing_order_is_a_404_reply_not_a_dead_letter(pizzeria: Pizzeria) -> None:
    order_id = uuid4().hex

    outcome = await pizzeria.command(names.START_COOKING, {"order_id": order_id})

    assert outcome.result.status == 404
    assert outcome.result.title == "Not Found"
    assert order_id in (outcome.result.detail or "")
    assert outcome.dead_letter is None


async def test_a_forbidden_transition_is_a_409_reply_not_a_dead_letter(
    pizzeria: Pizzeria,
) -> None:
    order = await pizzeria.place()

    outcome = await pizzeria.command(names.DELIVER_ORDER, {"order_id": order["id"]})

    assert outcome.result.status == 409
    assert outcome.result.title == "Conflict"
    assert [error.field for error in outcome.result.errors or []] == ["order_id"]
    assert outcome.dead_letter is None


async def test_a_reply_is_json_with_its_status(pizzeria: Pizzeria) -> None:
    outcome = await pizzeria.command(names.PLACE_ORDER, order_body())

    reply = json.loads(outcome.result.model_dump_json())

    assert reply["status"] == 201
    assert set(reply) == {"status", "data"}
    assert reply["data"]["total_amount"] == "12.99"
