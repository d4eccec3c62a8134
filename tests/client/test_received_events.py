"""Events as the client hands them out: the envelope, the raw body, and the body typed."""

import json
import logging
import uuid

import pytest

from pizzeria_client.client import ReceivedEvent
from pizzeria_contracts import EVENTS, CustomerRegistered, OrderCancelled, names

CANCELLED = {
    "order_id": "o-1",
    "version": 3,
    "reason": "changed my mind",
    "previous_status": "confirmed",
    "a_field_added_later": True,
}


def test_a_known_event_is_parsed_with_its_catalogue_model() -> None:
    message_id = uuid.uuid4().hex
    received = ReceivedEvent.decode(
        names.ORDER_CANCELLED,
        json.dumps(CANCELLED).encode(),
        message_id=message_id,
        correlation_id="c-1",
        headers={"cloudEvents:subject": "o-1"},
    )

    assert received.event == OrderCancelled(
        order_id="o-1", version=3, reason="changed my mind", previous_status="confirmed"
    )
    assert (received.name, received.message_id, received.correlation_id) == (
        names.ORDER_CANCELLED,
        message_id,
        "c-1",
    )
    assert received.headers == {"cloudEvents:subject": "o-1"}
    assert received.data == CANCELLED  # the raw body, unknown fields included


def test_every_event_of_the_catalogue_has_a_model() -> None:
    body = {
        "customer_id": "c-1",
        "version": 1,
        "name": "Ann",
        "phone": "+39 333 1234567",
        "address": None,
        "email": None,
    }

    received = ReceivedEvent.decode(names.CUSTOMER_REGISTERED, json.dumps(body).encode())

    assert isinstance(received.event, CustomerRegistered)
    assert set(EVENTS) >= {names.ORDER_PLACED, names.ORDER_DELIVERED, names.PIZZA_REMOVED}


def test_an_event_this_version_does_not_know_is_passed_through_untyped() -> None:
    received = ReceivedEvent.decode("orders.rated", b'{"order_id": "o-1", "stars": 5}')

    assert received.event is None
    assert received.data == {"order_id": "o-1", "stars": 5}


@pytest.mark.parametrize(
    ("name", "body"),
    [
        (names.ORDER_CANCELLED, b'{"order_id": "o-1"}'),
        (names.ORDER_CANCELLED, b"not json"),
        (names.ORDER_CANCELLED, b"[1, 2]"),
    ],
    ids=["missing-fields", "not-json", "not-an-object"],
)
def test_a_body_that_does_not_fit_leaves_the_event_untyped_and_is_logged(
    name: str, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="pizzeria_client.client"):
        received = ReceivedEvent.decode(name, body, message_id="m-1")

    assert received.event is None
    assert isinstance(received.data, dict)
    assert name in caplog.text


def test_events_can_still_be_built_without_a_typed_body() -> None:
    received = ReceivedEvent("orders.placed", None, None, {}, {"order_id": "o-1"})

    assert received.event is None
