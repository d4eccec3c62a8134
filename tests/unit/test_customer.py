"""The customer: one spelling per phone number, details kept up to date."""

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from worker.domain import events as ev
from worker.domain.customers import Customer, customer_id_for, normalize_phone

NOW = datetime(2026, 11, 28, 18, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 28, 19, 0, tzinfo=UTC)


def registered(address: str | None = "1 Via Roma", email: str | None = "ann@x.it") -> Customer:
    customer = Customer.register(uuid4().hex, "Ann", "+1 555 0100", address, email, NOW)
    customer.pending_events.clear()
    return customer


@pytest.mark.parametrize(
    ("spelled", "normal"),
    [
        ("+39 555-0101", "+395550101"),
        ("+1 (555) 010.0100", "+15550100100"),
        (" +15550100 ", "+15550100"),
        ("555 0100", "5550100"),
    ],
)
def test_a_phone_number_is_normalized_to_digits_with_its_plus(spelled: str, normal: str) -> None:
    assert normalize_phone(spelled) == normal


def test_two_spellings_of_one_number_are_the_same_number() -> None:
    assert normalize_phone("+1 555 0100") == normalize_phone("+15550100")


def test_registering_records_customers_registered_with_the_details() -> None:
    customer_id = uuid4().hex

    customer = Customer.register(customer_id, "Ann", "+1 555 0100", None, "ann@x.it", NOW)

    (event,) = customer.pending_events
    assert isinstance(event, ev.CustomerRegistered)
    assert event.type == "customers.registered"
    assert event.aggregate_id == customer_id
    assert event.version == customer.version == 1
    assert (event.name, event.phone, event.address, event.email) == (
        "Ann",
        "+15550100",
        None,
        "ann@x.it",
    )
    assert customer.phone == "+15550100"


@pytest.mark.parametrize(
    ("name", "address", "email"),
    [
        ("Ann Smith", None, None),
        ("Ann", "2 Via Po", None),
        ("Ann", None, "ann@y.it"),
    ],
)
def test_changed_details_record_customers_updated(
    name: str, address: str | None, email: str | None
) -> None:
    customer = registered()

    customer.update_details(name, address, email, LATER)

    (event,) = customer.pending_events
    assert isinstance(event, ev.CustomerUpdated)
    assert event.type == "customers.updated"
    assert event.version == customer.version == 2
    assert event.occurred_at == LATER
    assert event.name == name
    assert event.address == (address or "1 Via Roma")
    assert event.email == (email or "ann@x.it")


@pytest.mark.parametrize(
    ("address", "email"),
    [(None, None), ("1 Via Roma", None), (None, "ann@x.it"), ("1 Via Roma", "ann@x.it")],
)
def test_the_same_details_record_nothing(address: str | None, email: str | None) -> None:
    customer = registered()

    customer.update_details("Ann", address, email, LATER)

    assert customer.pending_events == []
    assert customer.version == 1


def test_leaving_out_the_address_and_email_keeps_them() -> None:
    customer = registered()

    customer.update_details("Annie", None, None, LATER)

    assert customer.name == "Annie"
    assert customer.address == "1 Via Roma"
    assert customer.email == "ann@x.it"


def test_a_customer_without_an_address_gets_the_one_given_later() -> None:
    customer = registered(address=None, email=None)

    customer.update_details("Ann", "3 Via Po", None, LATER)

    assert customer.address == "3 Via Po"
    assert customer.email is None
    assert len(customer.pending_events) == 1


def test_a_phone_gives_one_id_and_two_phones_two() -> None:
    assert customer_id_for("+15550100") == customer_id_for(normalize_phone("+1 555-0100"))
    assert customer_id_for("+15550100") != customer_id_for("+15550101")
    assert len(customer_id_for("+15550100")) == 32
