"""What the worker sends matches the published contract models."""

import json

from pizzeria_contracts import EVENTS, MenuView, OrderView, names
from tests.unit.pizzeria import Pizzeria
from worker.application.wire import event_body


async def run_a_whole_life(pizzeria: Pizzeria) -> str:
    order = await pizzeria.place(
        customer_address="1 Via Roma",
        notes="ring twice",
        pizzas=[{"name": "supreme", "size": "medium", "toppings": ["olives"]}],
    )
    await pizzeria.place(customer_name="Ann Smith")  # customers.updated
    for name, extra in [
        (names.START_COOKING, {}),
        (names.MARK_READY, {}),
        (names.ASSIGN_DELIVERY, {"driver": "Luigi"}),
        (names.CANCEL_ORDER, {"reason": "the scooter broke"}),
    ]:
        await pizzeria.command(name, {"order_id": order["id"], **extra})
    order_id: str = order["id"]
    return order_id


async def test_every_event_body_reads_as_its_contract_model(pizzeria: Pizzeria) -> None:
    await run_a_whole_life(pizzeria)
    events = pizzeria.customers.events + pizzeria.orders.events
    assert {event.type for event in events} >= {
        "customers.registered",
        "customers.updated",
        "orders.placed",
        "orders.confirmed",
        "orders.cooking-started",
        "orders.ready",
        "orders.delivery-assigned",
        "orders.out-for-delivery",
        "orders.cancelled",
    }

    for event in events:
        body = json.loads(json.dumps(event_body(event)))
        model = EVENTS[event.type].model_validate(body)
        assert model.model_dump()["version"] == event.version
        assert event.aggregate_id in body.values()


async def test_an_event_body_carries_money_as_strings(pizzeria: Pizzeria) -> None:
    await pizzeria.place()

    placed, confirmed = (event_body(event) for event in pizzeria.orders.events)

    assert placed["total_amount"] == confirmed["total_amount"] == "12.99"
    assert placed["items"][0]["unit_price"] == "12.99"


async def test_every_order_reply_reads_as_the_contracts_order_view(pizzeria: Pizzeria) -> None:
    order_id = await run_a_whole_life(pizzeria)

    outcome = await pizzeria.query(names.GET_ORDER, {"order_id": order_id})
    view = OrderView.model_validate_json(json.dumps(outcome.result.data, default=str))

    assert view.status == "cancelled"
    assert view.driver == "Luigi"
    assert view.cancel_reason == "the scooter broke"
    assert str(view.total_amount) == "25.89"  # 17.99 x 1.30 = 23.387 -> 23.39, + 2.50
    assert view.version == 7


async def test_the_menu_reply_reads_as_the_contracts_menu_view(pizzeria: Pizzeria) -> None:
    outcome = await pizzeria.query(names.GET_MENU, {})

    menu = MenuView.model_validate(outcome.result.data)

    assert {pizza.name for pizza in menu.pizzas} >= {"margherita", "pepperoni", "supreme"}
    assert str(menu.topping_price) == "2.50"
