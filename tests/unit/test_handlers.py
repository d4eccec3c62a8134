"""Placing and reading orders through the mediator, on the in-memory fakes."""

from uuid import uuid4

import pytest

from pizzeria_contracts import names
from tests.fakes import FakeCustomers, FakeOrders
from tests.unit.pizzeria import Pizzeria, order_body
from worker.application.errors import DatabaseUnavailableError
from worker.application.ports import Publishing, Receipt
from worker.domain.customers import Customer, customer_id_for
from worker.domain.orders import Order


async def test_an_order_with_a_margherita_is_created_priced_from_the_menu(
    pizzeria: Pizzeria,
) -> None:
    outcome = await pizzeria.command(names.PLACE_ORDER, order_body())

    assert outcome.result.status == 201
    assert outcome.dead_letter is None
    order = outcome.result.data
    assert order["status"] == "confirmed"
    assert order["total_amount"] == "12.99"
    assert [(i["name"], i["size"], i["unit_price"]) for i in order["items"]] == [
        ("margherita", "small", "12.99")
    ]
    assert order["customer_name"] == "Ann"
    assert order["customer_phone"] == "+15550100"
    assert order["version"] == 2
    assert list(pizzeria.orders.items) == [order["id"]]


async def test_an_order_with_no_pizzas_is_refused_and_nothing_is_stored(
    pizzeria: Pizzeria,
) -> None:
    outcome = await pizzeria.command(names.PLACE_ORDER, order_body(pizzas=[]))

    assert outcome.result.status == 400
    assert outcome.result.detail == "Order must contain at least one pizza"
    assert [error.field for error in outcome.result.errors or []] == ["pizzas"]
    assert outcome.dead_letter is None
    assert pizzeria.customers.items == {}
    assert pizzeria.orders.items == {}
    assert pizzeria.event_types() == []


async def test_asking_for_an_unknown_order_is_a_404(pizzeria: Pizzeria) -> None:
    order_id = uuid4().hex

    outcome = await pizzeria.query(names.GET_ORDER, {"order_id": order_id})

    assert outcome.result.status == 404
    assert outcome.result.detail == f"Order '{order_id}' does not exist"
    assert outcome.dead_letter is None


async def test_asking_for_a_placed_order_returns_it_as_placed(pizzeria: Pizzeria) -> None:
    placed = await pizzeria.place()

    outcome = await pizzeria.query(names.GET_ORDER, {"order_id": placed["id"]})

    assert outcome.result.status == 200
    assert outcome.result.data == placed


async def test_names_and_sizes_match_the_menu_whatever_their_case(pizzeria: Pizzeria) -> None:
    pizzas = [{"name": "MARGHERITA", "size": " Large ", "toppings": ["basil"]}]

    order = await pizzeria.place(pizzas=pizzas)

    assert [(i["name"], i["size"], i["unit_price"]) for i in order["items"]] == [
        ("margherita", "large", "23.28")  # 12.99 x 1.60 + 2.50 = 23.284
    ]
    assert order["total_amount"] == "23.28"


async def test_prices_in_the_message_are_ignored(pizzeria: Pizzeria) -> None:
    pizzas = [{"name": "supreme", "size": "small", "unit_price": "0.01"}]

    order = await pizzeria.place(pizzas=pizzas, total_amount="0.01")

    assert order["total_amount"] == "17.99"


async def test_the_first_order_from_a_phone_registers_the_customer(pizzeria: Pizzeria) -> None:
    order = await pizzeria.place(customer_email="ann@example.com")

    (customer,) = pizzeria.customers.items.values()
    assert customer.id == order["customer_id"] == customer_id_for("+15550100")
    assert customer.phone == "+15550100"
    assert customer.email == "ann@example.com"
    assert [event.type for event in pizzeria.customers.events] == ["customers.registered"]


async def test_a_second_order_from_the_same_phone_reuses_the_customer(
    pizzeria: Pizzeria,
) -> None:
    first = await pizzeria.place(customer_phone="+1 555 0100")

    second = await pizzeria.place(customer_phone="+15550100")

    assert second["customer_id"] == first["customer_id"]
    assert second["id"] != first["id"]
    assert len(pizzeria.customers.items) == 1
    assert [event.type for event in pizzeria.customers.events] == ["customers.registered"]


async def test_a_returning_customer_with_a_new_name_is_updated(pizzeria: Pizzeria) -> None:
    first = await pizzeria.place(customer_name="Ann")

    second = await pizzeria.place(customer_name="Ann Smith", customer_phone="+1 (555) 0100")

    assert second["customer_id"] == first["customer_id"]
    assert second["customer_name"] == "Ann Smith"
    assert [event.type for event in pizzeria.customers.events] == [
        "customers.registered",
        "customers.updated",
    ]
    assert pizzeria.customers.items[first["customer_id"]].name == "Ann Smith"


async def test_a_returning_customer_keeps_the_address_given_before(pizzeria: Pizzeria) -> None:
    await pizzeria.place(customer_address="1 Via Roma")

    second = await pizzeria.place()

    assert second["customer_address"] == "1 Via Roma"


async def test_placing_the_same_message_twice_stores_one_order(pizzeria: Pizzeria) -> None:
    message_id = uuid4().hex

    first = await pizzeria.command(names.PLACE_ORDER, order_body(), message_id)
    again = await pizzeria.command(names.PLACE_ORDER, order_body(), message_id)

    assert again == first
    assert first.result.status == 201
    assert len(pizzeria.orders.items) == 1
    assert pizzeria.event_types() == [
        "customers.registered",
        "orders.placed",
        "orders.confirmed",
    ]


class Dying:
    """A store whose process dies once, right after its next write is stored."""

    armed = False

    def after_write(self) -> None:
        if self.armed:
            self.armed = False
            raise DatabaseUnavailableError("the worker died here")


class DyingOrders(Dying, FakeOrders):
    async def create(self, aggregate: Order, receipt: Receipt | None) -> Publishing | None:
        created = await super().create(aggregate, receipt)
        self.after_write()
        return created


class DyingCustomers(Dying, FakeCustomers):
    async def create(self, aggregate: Customer, receipt: Receipt | None) -> Publishing | None:
        created = await super().create(aggregate, receipt)
        self.after_write()
        return created

    async def update(self, aggregate: Customer, receipt: Receipt | None) -> Publishing:
        published = await super().update(aggregate, receipt)
        self.after_write()
        return published


@pytest.mark.parametrize("dies", ["after the customer", "after the order"])
@pytest.mark.parametrize("returning", [False, True], ids=["new customer", "new address"])
async def test_a_message_back_after_the_worker_died_midway_completes_it_once(
    dies: str, returning: bool
) -> None:
    orders, customers = DyingOrders(), DyingCustomers()
    pizzeria = Pizzeria.open(orders=orders, customers=customers)
    if returning:
        await pizzeria.place(customer_address="1 Via Roma")
    message_id = uuid4().hex
    body = order_body(customer_address="2 Via Milano")
    (customers if dies == "after the customer" else orders).armed = True

    with pytest.raises(DatabaseUnavailableError):
        await pizzeria.command(names.PLACE_ORDER, body, message_id)
    again = await pizzeria.command(names.PLACE_ORDER, body, message_id)

    assert again.result.status == 201
    assert again.result.data["customer_address"] == "2 Via Milano"
    (customer,) = customers.items.values()
    assert customer.address == "2 Via Milano"
    kinds = [event.type for event in customers.events]
    assert kinds == ["customers.registered"] + ["customers.updated"] * returning
    assert len(orders.items) == 1 + returning


async def test_an_unknown_pizza_is_a_400_naming_the_field_and_the_menu(
    pizzeria: Pizzeria,
) -> None:
    pizzas = [{"name": "hawaii", "size": "small"}]

    outcome = await pizzeria.command(names.PLACE_ORDER, order_body(pizzas=pizzas))

    assert outcome.result.status == 400
    assert outcome.dead_letter is None
    (error,) = outcome.result.errors or []
    assert error.field == "pizzas.0.name"
    assert "hawaii" in error.message
    for pizza in ("margherita", "pepperoni", "supreme"):
        assert pizza in error.message
    assert pizzeria.event_types() == []


async def test_an_unknown_size_is_a_400_naming_the_sizes_on_offer(pizzeria: Pizzeria) -> None:
    pizzas = [{"name": "margherita", "size": "small"}, {"name": "supreme", "size": "huge"}]

    outcome = await pizzeria.command(names.PLACE_ORDER, order_body(pizzas=pizzas))

    assert outcome.result.status == 400
    (error,) = outcome.result.errors or []
    assert error.field == "pizzas.1.size"
    assert all(size in error.message for size in ("small", "medium", "large"))
    assert pizzeria.orders.items == {}


async def test_the_menu_lists_the_price_of_every_size(pizzeria: Pizzeria) -> None:
    outcome = await pizzeria.query(names.GET_MENU, {})

    assert outcome.result.status == 200
    pizzas = {pizza["name"]: pizza for pizza in outcome.result.data["pizzas"]}
    assert pizzas["margherita"]["prices"] == {
        "small": "12.99",
        "medium": "16.89",
        "large": "20.78",
    }


async def test_the_kitchens_queue_and_a_customers_orders_page_through_the_unit_harness(
    pizzeria: Pizzeria,
) -> None:
    placed = [(await pizzeria.place(customer_phone="+1 555 0142"))["id"] for _ in range(3)]
    await pizzeria.command(names.START_COOKING, {"order_id": placed[1]})

    first = (await pizzeria.query(names.LIST_ACTIVE_ORDERS, {"limit": 2})).result.data
    rest = await pizzeria.query(
        names.LIST_ACTIVE_ORDERS, {"limit": 2, "cursor": first["next_cursor"]}
    )
    mine = await pizzeria.query(names.LIST_ORDERS_BY_CUSTOMER, {"customer_phone": "+15550142"})
    forged = await pizzeria.query(names.LIST_ACTIVE_ORDERS, {"cursor": "not-ours"})

    queue = [order["id"] for order in first["items"] + rest.result.data["items"]]
    assert queue == placed  # oldest first; cooking is in the kitchen's queue too
    assert rest.result.data["next_cursor"] is None
    assert [order["id"] for order in mine.result.data["items"]] == placed[::-1]
    assert forged.result.status == 400
