"""Commands that lose a race to another writer reload and try again."""

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from pizzeria_contracts import names
from tests.fakes import FakeCustomers, FakeOrders
from tests.unit.pizzeria import Pizzeria, order_body
from worker.application.errors import ConcurrencyError
from worker.application.ports import Publishing, Receipt
from worker.domain.customers import Customer
from worker.domain.orders import Order

NOW = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)


class LosesOneRace(FakeOrders):
    """Orders whose first update finds the order changed by somebody else."""

    def __init__(self, rival_cancels: bool = False) -> None:
        super().__init__()
        self.updates = 0
        self.rival_cancels = rival_cancels

    async def update(self, aggregate: Order, receipt: Receipt | None) -> Publishing:
        self.updates += 1
        if self.updates == 1:
            stored = await self.load(aggregate.id)
            if self.rival_cancels and stored and aggregate.updated_at:
                stored.aggregate.cancel("the rival won", aggregate.updated_at)
                await super().update(stored.aggregate, None)
            raise ConcurrencyError(aggregate.id)
        return await super().update(aggregate, receipt)


class AlwaysLoses(FakeOrders):
    async def update(self, aggregate: Order, receipt: Receipt | None) -> Publishing:
        raise ConcurrencyError(aggregate.id)


class RegisteredMeanwhile(FakeCustomers):
    """Another order registers the same phone just before this one does."""

    def __init__(self) -> None:
        super().__init__()
        self.rival_id = uuid4().hex

    async def create(self, aggregate: Customer, receipt: Receipt | None) -> Publishing | None:
        if not self.items:
            rival = Customer.register(self.rival_id, "Ann", aggregate.phone, None, None, NOW)
            await super().create(rival, None)
        return await super().create(aggregate, receipt)


class CustomerUpdateLosesOneRace(FakeCustomers):
    def __init__(self) -> None:
        super().__init__()
        self.updates = 0

    async def update(self, aggregate: Customer, receipt: Receipt | None) -> Publishing:
        self.updates += 1
        if self.updates == 1:
            raise ConcurrencyError(aggregate.id)
        return await super().update(aggregate, receipt)


async def test_a_version_conflict_is_retried_and_succeeds() -> None:
    orders = LosesOneRace()
    pizzeria = Pizzeria.open(orders=orders)
    order = await pizzeria.place()

    outcome = await pizzeria.command(names.START_COOKING, {"order_id": order["id"]})

    assert outcome.result.status == 200
    assert outcome.result.data["status"] == "cooking"
    assert orders.updates == 2
    assert [e.type for e in orders.events].count("orders.cooking-started") == 1


async def test_a_retried_command_is_checked_against_what_the_rival_did() -> None:
    orders = LosesOneRace(rival_cancels=True)
    pizzeria = Pizzeria.open(orders=orders)
    order = await pizzeria.place()

    outcome = await pizzeria.command(names.START_COOKING, {"order_id": order["id"]})

    assert outcome.result.status == 409
    assert "cancelled" in (outcome.result.detail or "")
    assert orders.items[order["id"]].status == "cancelled"


async def test_an_order_that_keeps_changing_gives_up_with_a_transient_error() -> None:
    pizzeria = Pizzeria.open(orders=AlwaysLoses())
    order = await pizzeria.place()

    with pytest.raises(ConcurrencyError):
        await pizzeria.command(names.START_COOKING, {"order_id": order["id"]})


async def test_a_phone_registered_meanwhile_is_used_not_registered_twice() -> None:
    customers = RegisteredMeanwhile()
    pizzeria = Pizzeria.open(customers=customers)

    order = await pizzeria.place()

    assert order["customer_id"] == customers.rival_id
    assert list(customers.items) == [customers.rival_id]
    assert [e.type for e in customers.events] == ["customers.registered"]


async def test_a_customer_update_that_loses_a_race_is_retried_not_lost() -> None:
    customers = CustomerUpdateLosesOneRace()
    pizzeria = Pizzeria.open(customers=customers)
    await pizzeria.place(customer_name="Ann")
    message_id = uuid4().hex
    body = order_body(customer_name="Ann Smith")

    try:
        outcome = await pizzeria.command(names.PLACE_ORDER, body, message_id)
    except ConcurrencyError:  # the broker delivers it again
        outcome = await pizzeria.command(names.PLACE_ORDER, body, message_id)

    assert outcome.result.status == 201
    assert [e.type for e in customers.events] == ["customers.registered", "customers.updated"]
    (customer,) = customers.items.values()
    assert customer.name == "Ann Smith"
