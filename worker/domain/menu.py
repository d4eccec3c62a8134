"""The menu and how a pizza is priced."""

import dataclasses
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from .errors import UnknownPizzaError, UnknownSizeError

CENT = Decimal("0.01")
TOPPING_PRICE = Decimal("2.50")


class Size(StrEnum):
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"

    @property
    def factor(self) -> Decimal:
        return SIZE_FACTORS[self]


SIZE_FACTORS = {
    Size.SMALL: Decimal("1.00"),
    Size.MEDIUM: Decimal("1.30"),
    Size.LARGE: Decimal("1.60"),
}


def round_to_cent(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def pizza_key(name: str) -> str:
    """Pizza names match case-insensitively and ignore surrounding blanks."""
    return " ".join(name.split()).casefold()


@dataclasses.dataclass(frozen=True)
class MenuItem:
    """A pizza on offer; `base_price` is the small size's price."""

    name: str
    base_price: Decimal
    description: str = ""

    def price(self, size: Size, toppings: int) -> Decimal:
        return round_to_cent(self.base_price * size.factor + TOPPING_PRICE * toppings)


DEFAULT_MENU = (
    MenuItem("margherita", Decimal("12.99"), "Tomato, mozzarella, basil"),
    MenuItem("pepperoni", Decimal("14.99"), "Tomato, mozzarella, pepperoni"),
    MenuItem("supreme", Decimal("17.99"), "Pepperoni, sausage, peppers, onions, olives"),
    MenuItem("quattro formaggi", Decimal("15.99"), "Mozzarella, gorgonzola, parmesan, fontina"),
    MenuItem("vegetariana", Decimal("14.49"), "Peppers, mushrooms, onions, olives"),
)


class Menu:
    """The pizzas on offer at one moment, looked up case-insensitively."""

    def __init__(self, items: list[MenuItem] | tuple[MenuItem, ...]) -> None:
        self._items = {pizza_key(item.name): item for item in items}

    def __iter__(self) -> Iterator[MenuItem]:
        return iter(self._items.values())

    def on_offer(self) -> list[str]:
        return sorted(item.name for item in self._items.values())

    def item(self, name: str, field: str = "pizzas") -> MenuItem:
        found = self._items.get(pizza_key(name))
        if found is None:
            raise UnknownPizzaError(name, self.on_offer(), field)
        return found


def parse_size(size: str, field: str = "pizzas") -> Size:
    try:
        return Size(size.strip().casefold())
    except ValueError:
        raise UnknownSizeError(size, [s.value for s in Size], field) from None
