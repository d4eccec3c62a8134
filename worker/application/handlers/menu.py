"""Command handlers of the menu: the operator adds, reprices and removes pizzas."""

from pizzeria_contracts import AddPizza, OperationResult, RemovePizza, UpdatePizza

from ...domain.errors import PizzaNotFoundError
from ...domain.menu import pizza_key
from ...domain.pizzas import Pizza
from ..context import MessageContext
from ..errors import ConcurrencyError
from ..mediator import Outcome
from ..ports import Clock, MenuSource, PizzaStore
from ..wire import menu_item_view
from .common import CONFLICT_ATTEMPTS, change, receipt


def pizza_view(pizza: Pizza) -> dict[str, object]:
    return menu_item_view(pizza.item)


async def add_pizza(
    command: AddPizza,
    context: MessageContext,
    *,
    pizzas: PizzaStore,
    menu: MenuSource,
    clock: Clock,
) -> Outcome:
    key = pizza_key(command.name)
    for _ in range(CONFLICT_ATTEMPTS):
        if await pizzas.load(key) is None:
            pizza = Pizza.add(command.name, command.base_price, command.description, clock())
            result = OperationResult.success(pizza_view(pizza), 201)
            if (publishing := await pizzas.create(pizza, receipt(context, result))) is not None:
                menu.forget()
                return Outcome(result, publishing=(publishing,))
            continue  # added by somebody else meanwhile: load it
        outcome = await change(
            pizzas,
            key,
            context,
            lambda p: p.put_back(command.name, command.base_price, command.description, clock()),
            pizza_view,
            lambda: PizzaNotFoundError(command.name),
            status=201,
        )
        menu.forget()
        return outcome
    raise ConcurrencyError(f"pizza {key} kept changing")


async def update_pizza(
    command: UpdatePizza,
    context: MessageContext,
    *,
    pizzas: PizzaStore,
    menu: MenuSource,
    clock: Clock,
) -> Outcome:
    outcome = await change(
        pizzas,
        pizza_key(command.name),
        context,
        lambda p: p.update(command.base_price, command.description, clock()),
        pizza_view,
        lambda: PizzaNotFoundError(command.name),
    )
    menu.forget()
    return outcome


async def remove_pizza(
    command: RemovePizza,
    context: MessageContext,
    *,
    pizzas: PizzaStore,
    menu: MenuSource,
    clock: Clock,
) -> Outcome:
    outcome = await change(
        pizzas,
        pizza_key(command.name),
        context,
        lambda p: p.remove(clock()),
        pizza_view,
        lambda: PizzaNotFoundError(command.name),
    )
    menu.forget()
    return outcome
