"""What queries and successful commands return in a reply's `data`."""

from datetime import date, datetime
from typing import Literal

from pydantic import ConfigDict, Field

from .base import Money, WireModel

OrderStatus = Literal["confirmed", "cooking", "ready", "delivering", "delivered", "cancelled"]


class OrderItemView(WireModel):
    """One priced pizza of an order."""

    line_item_id: str
    name: str
    size: str
    toppings: list[str]
    unit_price: Money


LateKind = Literal["kitchen", "delivery"]


class LateNotice(WireModel):
    """The last time an order was flagged late (`orders.kitchen-late`,
    `orders.delivery-late`); it stays after the order moves on."""

    kind: LateKind
    deadline: datetime
    since: datetime
    """When the order entered the status it was late in."""
    raised_at: datetime


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
    late: LateNotice | None = None
    """Null until a deadline passes (see `orders.kitchen-late`, `orders.delivery-late`)."""
    created_at: datetime
    updated_at: datetime
    version: int


class OrderPage(WireModel):
    """A page of orders; pass `next_cursor` back as `cursor` for the next one."""

    items: list[OrderView]
    next_cursor: str | None


class LateOrder(WireModel):
    """An order late now: still confirmed after its kitchen deadline (`kitchen`), or
    still out for delivery after its delivery deadline (`delivery`)."""

    order_id: str
    version: int
    status: OrderStatus
    kind: LateKind
    deadline: datetime
    since: datetime
    customer_name: str
    driver: str | None


class LateOrders(WireModel):
    """The orders late now, the longest overdue first (by `deadline`)."""

    items: list[LateOrder]


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


class PizzaSales(WireModel):
    """One pizza in one size: how many were delivered that day, for how much."""

    name: str
    size: str
    quantity: int
    revenue: Money


class SalesDay(WireModel):
    """One day of the sales report. Orders count on the day they were placed, and on
    the day they were delivered or cancelled; pizzas, revenue and the time from
    confirmed to delivered count for delivered orders only, on their delivery day."""

    day: date
    orders_placed: int
    orders_delivered: int
    orders_cancelled: int
    revenue: Money
    average_delivery_seconds: float | None
    """From confirmed to delivered, over the orders delivered that day; null if none."""
    pizzas: list[PizzaSales]


class SalesReport(WireModel):
    """Every day of the range asked, oldest first; a day without orders is all zeros."""

    model_config = ConfigDict(populate_by_name=True)

    time_zone: str
    from_: date = Field(alias="from")
    to: date
    counted_through: datetime | None = None
    """When the newest order fact counted in these days happened (placed, delivered or
    cancelled): how far the report has got. Null when none was counted."""
    days: list[SalesDay]
