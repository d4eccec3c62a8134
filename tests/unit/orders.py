"""Building orders for the domain tests: priced pizzas, a customer, a moving clock."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from worker.domain.menu import DEFAULT_MENU, Menu, Size
from worker.domain.orders import CustomerDetails, Order, OrderItem, OrderStatus

MENU = Menu(DEFAULT_MENU)
START = datetime(2026, 11, 28, 18, 0, tzinfo=UTC)


def tick(seconds: int) -> datetime:
    return START + timedelta(seconds=seconds)


PATH_TO: dict[OrderStatus, list[str]] = {
    OrderStatus.CONFIRMED: [],
    OrderStatus.COOKING: ["start_cooking"],
    OrderStatus.READY: ["start_cooking", "mark_ready"],
    OrderStatus.DELIVERING: ["start_cooking", "mark_ready", "assign_delivery"],
    OrderStatus.DELIVERED: ["start_cooking", "mark_ready", "assign_delivery", "deliver"],
    OrderStatus.CANCELLED: ["cancel"],
}
"""The actions that take a freshly placed order to each status."""


def margherita(size: Size = Size.SMALL, toppings: tuple[str, ...] = ()) -> OrderItem:
    return OrderItem.priced(uuid4().hex, MENU.item("margherita"), size, toppings)


def customer() -> CustomerDetails:
    return CustomerDetails(uuid4().hex, "Ann", "+15550100", "1 Via Roma")


def place(*items: OrderItem, at: datetime = START) -> Order:
    return Order.place(
        uuid4().hex, customer(), list(items) or [margherita()], "card", "ring twice", at
    )


def snapshot(order: Order) -> dict[str, Any]:
    """Every field of an order but its pending events, to compare two orders."""
    return {
        "id": order.id,
        "status": order.status,
        "version": order.version,
        "customer": order.customer,
        "items": order.items,
        "total_amount": order.total_amount,
        "payment_method": order.payment_method,
        "notes": order.notes,
        "driver": order.driver,
        "cancel_reason": order.cancel_reason,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
    }


Action = Callable[[Order, datetime], None]

ACTIONS: dict[str, Action] = {
    "start_cooking": lambda order, now: order.start_cooking(now),
    "mark_ready": lambda order, now: order.mark_ready(now),
    "assign_delivery": lambda order, now: order.assign_delivery("Luigi", now),
    "deliver": lambda order, now: order.deliver(now),
    "cancel": lambda order, now: order.cancel("changed my mind", now),
}


def order_in(status: OrderStatus) -> Order:
    """A placed order moved to `status`, with its pending events cleared."""
    order = place()
    for seconds, action in enumerate(PATH_TO[status], start=1):
        ACTIONS[action](order, tick(seconds))
    order.pending_events.clear()
    return order
