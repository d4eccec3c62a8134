"""What queries and successful commands return in a reply's `data`."""

from datetime import datetime
from typing import Literal

from .base import Money, WireModel

OrderStatus = Literal["confirmed", "cooking", "ready", "delivering", "delivered", "cancelled"]


class OrderItemView(WireModel):
    """One priced pizza of an order."""

    line_item_id: str
    name: str
    size: str
    toppings: list[str]
    unit_price: Money


class OrderView(WireModel):
    """An order as the contract returns it."""

    id: str
    status: OrderStatus
    customer_id: str
    customer_name: str
    customer_phone: str
    customer_address: str | None
    items: list[OrderItemView]
    total_amount: Money
    payment_method: str
    notes: str | None
    driver: str | None
    cancel_reason: str | None = None
    created_at: datetime
    updated_at: datetime
    version: int


class OrderPage(WireModel):
    """A page of orders; pass `next_cursor` back as `cursor` for the next one."""

    items: list[OrderView]
    next_cursor: str | None


class MenuPizzaView(WireModel):
    """A pizza on the menu with its price for every size."""

    name: str
    description: str
    base_price: Money
    prices: dict[str, Money]


class MenuView(WireModel):
    """The whole menu."""

    pizzas: list[MenuPizzaView]
    sizes: dict[str, str]
    topping_price: Money
