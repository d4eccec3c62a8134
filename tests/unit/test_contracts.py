"""The published language: tolerant reading, money as strings, replies, limits."""

import json
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from pydantic import ValidationError

from pizzeria_contracts import (
    FieldError,
    OperationResult,
    OrderConfirmed,
    OrderItemView,
    PlaceOrder,
    StartCooking,
)
from pizzeria_contracts.base import money

RECORDED_V1_PLACE_ORDER = """
{"customer_name":"Ann","customer_phone":"+1 555 0100",
 "pizzas":[{"name":"margherita","size":"large","toppings":["basil"]}],
 "payment_method":"card","extra_field":1}
"""
"""An `orders.place` body as a v1 client sends it; it must keep parsing."""


def place_order(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer_name": "Ann",
        "customer_phone": "+1 555 0100",
        "pizzas": [{"name": "margherita", "size": "small"}],
    }
    return body | changes


def failing_fields(body: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        PlaceOrder.model_validate_json(json.dumps(body))
    return [".".join(str(part) for part in error["loc"]) for error in caught.value.errors()]


def test_a_recorded_v1_place_order_still_parses() -> None:
    command = PlaceOrder.model_validate_json(RECORDED_V1_PLACE_ORDER)

    assert command.customer_name == "Ann"
    assert command.customer_phone == "+1 555 0100"
    assert command.payment_method == "card"
    (pizza,) = command.pizzas
    assert (pizza.name, pizza.size, pizza.toppings) == ("margherita", "large", ["basil"])
    assert command.customer_address is None
    assert command.notes is None


def test_a_command_ignores_fields_it_does_not_know() -> None:
    order_id = uuid4().hex

    command = StartCooking.model_validate_json(
        json.dumps({"order_id": order_id, "chef": "Mario", "priority": {"level": 1}})
    )

    assert command == StartCooking(order_id=order_id)
    assert "chef" not in command.model_dump()


def test_an_event_ignores_fields_it_does_not_know() -> None:
    order_id = uuid4().hex

    event = OrderConfirmed.model_validate(
        {"order_id": order_id, "version": 2, "total_amount": "12.99", "added_in_v2": True}
    )

    assert event.order_id == order_id
    assert event.total_amount == Decimal("12.99")
    assert "added_in_v2" not in event.model_dump()


def test_the_payment_method_defaults_to_cash() -> None:
    assert PlaceOrder.model_validate(place_order()).payment_method == "cash"


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal("12.99"), "12.99"),
        (Decimal("3.5"), "3.50"),
        (Decimal("7"), "7.00"),
        (Decimal("16.887"), "16.89"),
        (Decimal("0.005"), "0.01"),
    ],
)
def test_money_is_a_two_place_decimal_string(amount: Decimal, text: str) -> None:
    assert money(amount) == text


def test_money_in_a_model_serializes_as_a_string_never_a_float() -> None:
    event = OrderConfirmed(order_id="o-1", version=2, total_amount=Decimal("3.5"))

    assert json.loads(event.model_dump_json())["total_amount"] == "3.50"
    assert event.model_dump()["total_amount"] == "3.50"


def test_money_in_a_nested_model_serializes_as_a_string() -> None:
    item = OrderItemView(
        line_item_id="l-1", name="margherita", size="small", toppings=[], unit_price=Decimal("13")
    )

    assert json.loads(item.model_dump_json())["unit_price"] == "13.00"


def test_a_success_drops_the_failure_members() -> None:
    result = OperationResult.success({"id": "o-1", "status": "confirmed", "notes": None}, 201)

    assert json.loads(result.model_dump_json()) == {
        "status": 201,
        "data": {"id": "o-1", "status": "confirmed", "notes": None},
    }
    assert result.ok


def test_a_failure_has_a_title_a_detail_and_field_errors_but_no_data() -> None:
    result = OperationResult.failure(
        400, "Order must contain at least one pizza", [FieldError(field="pizzas", message="empty")]
    )

    assert json.loads(result.model_dump_json()) == {
        "status": 400,
        "title": "Bad Request",
        "detail": "Order must contain at least one pizza",
        "errors": [{"field": "pizzas", "message": "empty"}],
    }
    assert not result.ok


def test_a_failure_without_field_errors_has_no_errors_member() -> None:
    body = json.loads(OperationResult.failure(404, "Order 'x' does not exist").model_dump_json())

    assert body == {"status": 404, "title": "Not Found", "detail": "Order 'x' does not exist"}
    empty = json.loads(OperationResult.failure(400, "no", []).model_dump_json())
    assert "errors" not in empty


def test_a_success_keeps_empty_data() -> None:
    assert json.loads(OperationResult.success([]).model_dump_json()) == {"status": 200, "data": []}


def test_a_reply_reads_back_as_it_was_sent() -> None:
    sent = OperationResult.failure(409, "no", [FieldError(field="order_id", message="no")])

    assert OperationResult.model_validate_json(sent.model_dump_json()) == sent


def test_an_order_without_pizzas_is_valid_at_the_schema_level() -> None:
    command = PlaceOrder.model_validate(place_order(pizzas=[]))

    assert command.pizzas == []


def test_an_order_of_twenty_pizzas_is_accepted() -> None:
    pizzas = [{"name": "margherita", "size": "small"}] * 20

    assert len(PlaceOrder.model_validate(place_order(pizzas=pizzas)).pizzas) == 20


def test_more_than_twenty_pizzas_are_refused() -> None:
    pizzas = [{"name": "margherita", "size": "small"}] * 21

    assert failing_fields(place_order(pizzas=pizzas)) == ["pizzas"]


def test_more_than_ten_toppings_are_refused() -> None:
    pizza = {"name": "margherita", "size": "small", "toppings": [f"t{n}" for n in range(11)]}

    assert failing_fields(place_order(pizzas=[pizza])) == ["pizzas.0.toppings"]


@pytest.mark.parametrize("phone", ["abc", "", "+", "12", "+1 555 0100 ext. 7"])
def test_a_phone_that_is_not_a_phone_number_is_refused(phone: str) -> None:
    assert failing_fields(place_order(customer_phone=phone)) == ["customer_phone"]


def test_a_name_of_more_than_a_hundred_characters_is_refused() -> None:
    assert failing_fields(place_order(customer_name="A" * 101)) == ["customer_name"]
    assert PlaceOrder.model_validate(place_order(customer_name="A" * 100))


def test_an_unknown_payment_method_is_refused() -> None:
    assert failing_fields(place_order(payment_method="bitcoin")) == ["payment_method"]


def test_a_missing_order_id_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        StartCooking.model_validate_json(b"{}")

    assert [error["loc"] for error in caught.value.errors()] == [("order_id",)]
