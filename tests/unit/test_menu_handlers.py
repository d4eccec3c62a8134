"""The operator's menu through the mediator: add, update, remove, and what orders pay."""

import dataclasses
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from pizzeria_contracts import names
from tests.fakes import (
    FakeCustomers,
    FakeOrders,
    FakeStore,
    fake_adapters,
)
from tests.unit.pizzeria import Pizzeria
from worker.application.mediator import Outcome
from worker.application.wire import event_body
from worker.bootstrap import build_mediator
from worker.domain.menu import DEFAULT_MENU, Menu, pizza_key
from worker.domain.pizzas import Pizza

SIZES = {"small", "medium", "large"}


class StoredMenu:
    """The menu as the pizza store holds it right now (the worker's menu, without a cache)."""

    def __init__(self, pizzas: FakeStore[Pizza]) -> None:
        self.pizzas = pizzas
        self.forgotten = 0

    async def current(self) -> Menu:
        return Menu([pizza.item for pizza in self.pizzas.items.values() if not pizza.removed])

    def forget(self) -> None:
        self.forgotten += 1


def seeded() -> FakeStore[Pizza]:
    """The default menu as the worker seeds it: version 1, no events."""
    pizzas = FakeStore[Pizza]()
    for item in DEFAULT_MENU:
        pizza = Pizza(item.name, item.base_price, item.description, False, 1)
        pizzas.items[pizza.id] = pizza
    return pizzas


@dataclasses.dataclass
class Shop:
    """A pizzeria whose orders are priced from the pizzas its operator keeps."""

    pizzeria: Pizzeria
    pizzas: FakeStore[Pizza]
    menu: StoredMenu

    async def send(self, command: str, message_id: str | None = None, /, **body: Any) -> Outcome:
        return await self.pizzeria.command(command, body, message_id)

    async def menu_prices(self) -> dict[str, dict[str, str]]:
        outcome = await self.pizzeria.query(names.GET_MENU, {})
        assert outcome.result.status == 200
        return {pizza["name"]: pizza["prices"] for pizza in outcome.result.data["pizzas"]}

    def events(self) -> list[dict[str, Any]]:
        """The menu's events as they are published: type, then the body."""
        return [{"type": event.type, **event_body(event)} for event in self.pizzas.events]


@pytest.fixture
def shop() -> Shop:
    orders, customers, pizzas = FakeOrders(), FakeCustomers(), seeded()
    menu = StoredMenu(pizzas)
    mediator = build_mediator(
        fake_adapters(orders, customers=customers, pizzas=pizzas, menu=menu),
    )
    return Shop(Pizzeria(orders, customers, mediator), pizzas, menu)


async def test_adding_a_pizza_answers_201_with_its_price_in_every_size(shop: Shop) -> None:
    outcome = await shop.send(
        names.ADD_PIZZA, name="Diavola", base_price="13.50", description="Spicy salami"
    )

    assert outcome.result.status == 201
    assert outcome.dead_letter is None
    assert outcome.result.data == {
        "name": "Diavola",
        "description": "Spicy salami",
        "base_price": "13.50",
        "prices": {"small": "13.50", "medium": "17.55", "large": "21.60"},
    }
    assert shop.events() == [
        {
            "type": "menu.pizza-added",
            "name": "Diavola",
            "version": 1,
            "base_price": "13.50",
            "description": "Spicy salami",
        }
    ]
    assert shop.pizzas.items["diavola"].version == 1


async def test_an_added_pizza_is_on_the_menu_and_can_be_ordered(shop: Shop) -> None:
    await shop.send(names.ADD_PIZZA, name="Diavola", base_price="13.50")

    assert (await shop.menu_prices())["Diavola"] == {
        "small": "13.50",
        "medium": "17.55",
        "large": "21.60",
    }
    order = await shop.pizzeria.place(pizzas=[{"name": "DIAVOLA", "size": "large"}])
    assert order["total_amount"] == "21.60"


async def test_blanks_inside_a_new_name_are_tidied(shop: Shop) -> None:
    outcome = await shop.send(names.ADD_PIZZA, name="  Quattro   Stagioni ", base_price="16.00")

    assert outcome.result.status == 201
    assert outcome.result.data["name"] == "Quattro Stagioni"
    assert list(shop.pizzas.items)[-1] == "quattro stagioni"


@pytest.mark.parametrize(
    "name", ["margherita", "MARGHERITA", "  Margherita ", "Quattro  FORMAGGI", "vegetariana"]
)
async def test_adding_a_name_already_on_the_menu_in_any_spelling_is_a_conflict(
    shop: Shop, name: str
) -> None:
    before = shop.pizzas.items[pizza_key(name)].version

    outcome = await shop.send(names.ADD_PIZZA, name=name, base_price="9.99")

    assert outcome.result.status == 409
    assert outcome.dead_letter is None
    assert "already on the menu" in (outcome.result.detail or "")
    assert [error.field for error in outcome.result.errors or []] == ["name"]
    assert shop.pizzas.items[pizza_key(name)].version == before
    assert shop.pizzas.events == []
    assert "9.99" not in str(await shop.menu_prices())


async def test_adding_a_new_pizza_again_in_other_capitals_is_a_conflict(shop: Shop) -> None:
    await shop.send(names.ADD_PIZZA, name="Diavola", base_price="13.50")

    outcome = await shop.send(names.ADD_PIZZA, name="DIAVOLA", base_price="1.00")

    assert outcome.result.status == 409
    assert [event["type"] for event in shop.events()] == ["menu.pizza-added"]
    assert (await shop.menu_prices())["Diavola"]["small"] == "13.50"


async def test_adding_back_a_removed_pizza_is_201_with_the_next_version(shop: Shop) -> None:
    await shop.send(names.REMOVE_PIZZA, name="margherita")

    outcome = await shop.send(
        names.ADD_PIZZA, name="Margherita", base_price="11.00", description="Back again"
    )

    assert outcome.result.status == 201
    assert outcome.result.data["prices"] == {"small": "11.00", "medium": "14.30", "large": "17.60"}
    assert [(e["type"], e["name"], e["version"]) for e in shop.events()] == [
        ("menu.pizza-removed", "margherita", 2),
        ("menu.pizza-added", "Margherita", 3),
    ]
    assert shop.pizzas.items["margherita"].version == 3
    assert (await shop.menu_prices())["Margherita"]["small"] == "11.00"


async def test_the_same_add_message_twice_gets_the_same_reply_and_one_event(shop: Shop) -> None:
    message_id = uuid4().hex

    first = await shop.send(names.ADD_PIZZA, message_id, name="Diavola", base_price="13.50")
    again = await shop.send(names.ADD_PIZZA, message_id, name="Diavola", base_price="13.50")

    assert first.result.status == 201
    assert again == first
    assert len(shop.pizzas.events) == 1


async def test_updating_a_price_answers_200_and_reprices_the_menu(shop: Shop) -> None:
    outcome = await shop.send(names.UPDATE_PIZZA, name="Pepperoni", base_price="15.49")

    assert outcome.result.status == 200
    assert outcome.result.data == {
        "name": "pepperoni",
        "description": "Tomato, mozzarella, pepperoni",
        "base_price": "15.49",
        "prices": {"small": "15.49", "medium": "20.14", "large": "24.78"},
    }
    assert shop.events() == [
        {
            "type": "menu.pizza-updated",
            "name": "pepperoni",
            "version": 2,
            "base_price": "15.49",
            "description": "Tomato, mozzarella, pepperoni",
        }
    ]
    assert (await shop.menu_prices())["pepperoni"]["large"] == "24.78"


async def test_updating_only_the_description_keeps_the_price(shop: Shop) -> None:
    outcome = await shop.send(names.UPDATE_PIZZA, name="supreme", description="Everything")

    assert outcome.result.status == 200
    assert (outcome.result.data["base_price"], outcome.result.data["description"]) == (
        "17.99",
        "Everything",
    )
    assert [(e["type"], e["version"], e["description"]) for e in shop.events()] == [
        ("menu.pizza-updated", 2, "Everything")
    ]


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"base_price": "12.99"},
        {"base_price": "12.99", "description": "Tomato, mozzarella, basil"},
        {"description": "Tomato, mozzarella, basil"},
    ],
)
async def test_an_update_that_changes_nothing_is_200_without_an_event(
    shop: Shop, change: dict[str, str]
) -> None:
    outcome = await shop.send(names.UPDATE_PIZZA, name="Margherita", **change)

    assert outcome.result.status == 200
    assert outcome.result.data["base_price"] == "12.99"
    assert shop.pizzas.events == []
    assert shop.pizzas.items["margherita"].version == 1


async def test_updating_a_pizza_not_on_the_menu_is_a_404(shop: Shop) -> None:
    outcome = await shop.send(names.UPDATE_PIZZA, name="Hawaii", base_price="9.00")

    assert outcome.result.status == 404
    assert outcome.dead_letter is None
    assert outcome.result.detail == "'Hawaii' is not on the menu"
    assert [error.field for error in outcome.result.errors or []] == ["name"]
    assert "hawaii" not in shop.pizzas.items


async def test_updating_a_removed_pizza_is_a_404(shop: Shop) -> None:
    await shop.send(names.REMOVE_PIZZA, name="supreme")

    outcome = await shop.send(names.UPDATE_PIZZA, name="supreme", base_price="9.00")

    assert outcome.result.status == 404
    assert [event["type"] for event in shop.events()] == ["menu.pizza-removed"]
    assert "supreme" not in await shop.menu_prices()


async def test_removing_a_pizza_answers_200_and_it_can_no_longer_be_ordered(shop: Shop) -> None:
    outcome = await shop.send(names.REMOVE_PIZZA, name="Supreme")

    assert outcome.result.status == 200
    assert outcome.result.data["name"] == "supreme"
    assert shop.events() == [{"type": "menu.pizza-removed", "name": "supreme", "version": 2}]
    assert "supreme" not in await shop.menu_prices()
    refused = await shop.pizzeria.command(
        names.PLACE_ORDER,
        {
            "customer_name": "Ann",
            "customer_phone": "+1 555 0100",
            "pizzas": [{"name": "supreme", "size": "small"}],
        },
    )
    assert refused.result.status == 400
    on_offer = (refused.result.detail or "").partition("on offer:")[2]
    assert "margherita" in on_offer
    assert "supreme" not in on_offer


@pytest.mark.parametrize("removals", [0, 1])
async def test_removing_a_pizza_that_is_not_on_the_menu_is_a_404(shop: Shop, removals: int) -> None:
    name = "Diavola"
    await shop.send(names.ADD_PIZZA, name=name, base_price="13.50")
    for _ in range(removals):
        await shop.send(names.REMOVE_PIZZA, name=name)
    events = len(shop.pizzas.events)

    outcome = await shop.send(names.REMOVE_PIZZA, name="hawaii" if removals == 0 else name)

    assert outcome.result.status == 404
    assert outcome.dead_letter is None
    assert [error.field for error in outcome.result.errors or []] == ["name"]
    assert len(shop.pizzas.events) == events


async def test_a_re_sent_remove_gets_its_200_again_not_a_404(shop: Shop) -> None:
    message_id = uuid4().hex

    first = await shop.send(names.REMOVE_PIZZA, message_id, name="pepperoni")
    again = await shop.send(names.REMOVE_PIZZA, message_id, name="pepperoni")

    assert (first.result.status, again) == (200, first)
    assert len(shop.pizzas.events) == 1


async def test_every_change_drops_the_cached_menu(shop: Shop) -> None:
    await shop.send(names.ADD_PIZZA, name="Diavola", base_price="13.50")
    await shop.send(names.UPDATE_PIZZA, name="Diavola", base_price="14.00")
    await shop.send(names.REMOVE_PIZZA, name="Diavola")

    assert shop.menu.forgotten == 3


async def test_the_menu_shows_every_pizza_with_a_price_for_every_size(shop: Shop) -> None:
    await shop.send(names.ADD_PIZZA, name="Diavola", base_price="13.50")

    outcome = await shop.pizzeria.query(names.GET_MENU, {})

    assert outcome.result.status == 200
    menu = outcome.result.data
    assert {pizza["name"] for pizza in menu["pizzas"]} == {
        *(item.name for item in DEFAULT_MENU),
        "Diavola",
    }
    for pizza in menu["pizzas"]:
        assert set(pizza["prices"]) == SIZES
        base = Decimal(pizza["base_price"])
        for size, factor in (("small", "1.00"), ("medium", "1.30"), ("large", "1.60")):
            expected = (base * Decimal(factor)).quantize(Decimal("0.01"), "ROUND_HALF_UP")
            assert pizza["prices"][size] == str(expected), (pizza["name"], size)
    assert menu["sizes"] == {"small": "1.00", "medium": "1.30", "large": "1.60"}
    assert menu["topping_price"] == "2.50"


async def test_an_order_keeps_the_prices_of_the_moment_it_was_placed(shop: Shop) -> None:
    pizzas = [{"name": "margherita", "size": "large"}, {"name": "pepperoni", "size": "small"}]
    before = await shop.pizzeria.place(pizzas=pizzas)

    await shop.send(names.UPDATE_PIZZA, name="margherita", base_price="14.00")
    await shop.send(names.REMOVE_PIZZA, name="pepperoni")
    after = await shop.pizzeria.place(pizzas=pizzas[:1])

    assert before["total_amount"] == "35.77"  # 20.78 + 14.99
    assert after["total_amount"] == "22.40"  # 14.00 x 1.60
    stored = await shop.pizzeria.query(names.GET_ORDER, {"order_id": before["id"]})
    assert stored.result.data == before
    cooking = await shop.pizzeria.command(names.START_COOKING, {"order_id": before["id"]})
    assert cooking.result.status == 200
    assert [item["unit_price"] for item in cooking.result.data["items"]] == ["20.78", "14.99"]
    assert cooking.result.data["total_amount"] == "35.77"


@pytest.mark.parametrize("price", ["0", "-1.00", "1000.01", "12.999", "cheap", None])
async def test_a_price_out_of_bounds_is_an_invalid_message(shop: Shop, price: str | None) -> None:
    outcome = await shop.send(names.ADD_PIZZA, name="Diavola", base_price=price)

    assert outcome.result.status == 400
    assert outcome.dead_letter == "invalid-message"
    assert [error.field for error in outcome.result.errors or []] == ["base_price"]
    assert "diavola" not in shop.pizzas.items
