"""The order aggregate: its pizzas, its life from the kitchen to the door."""

import dataclasses
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from . import events as ev
from .errors import EmptyOrderError, InvalidTransitionError, NotLateError
from .menu import MenuItem, Size


class OrderStatus(StrEnum):
    PLACED = "placed"
    CONFIRMED = "confirmed"
    COOKING = "cooking"
    READY = "ready"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class Lateness(StrEnum):
    """Where an order can be late: still not cooking, or still on its way."""

    KITCHEN = "kitchen"
    DELIVERY = "delivery"


LATE_IN: dict[Lateness, OrderStatus] = {
    Lateness.KITCHEN: OrderStatus.CONFIRMED,
    Lateness.DELIVERY: OrderStatus.DELIVERING,
}
"""The status an order is late in."""

ALLOWED_FROM: dict[str, frozenset[OrderStatus]] = {
    "start cooking": frozenset({OrderStatus.CONFIRMED}),
    "mark ready": frozenset({OrderStatus.COOKING}),
    "assign delivery": frozenset({OrderStatus.READY}),
    "deliver": frozenset({OrderStatus.DELIVERING}),
    "cancel": frozenset(
        {OrderStatus.CONFIRMED, OrderStatus.COOKING, OrderStatus.READY, OrderStatus.DELIVERING}
    ),
}


def allowed_actions(status: OrderStatus) -> list[str]:
    return [action for action, sources in ALLOWED_FROM.items() if status in sources]


@dataclasses.dataclass(frozen=True)
class OrderItem:
    """One priced pizza; the price is fixed when the order is placed."""

    line_item_id: str
    name: str
    size: Size
    toppings: tuple[str, ...]
    unit_price: Decimal

    @classmethod
    def priced(
        cls, line_item_id: str, item: MenuItem, size: Size, toppings: Iterable[str]
    ) -> "OrderItem":
        chosen = tuple(toppings)
        return cls(line_item_id, item.name, size, chosen, item.price(size, len(chosen)))


@dataclasses.dataclass(frozen=True)
class CustomerDetails:
    """Who the order is for, as known when it was placed."""

    customer_id: str
    name: str
    phone: str
    address: str | None


@dataclasses.dataclass(frozen=True)
class LateNotice:
    """The last time the order was flagged late: where, its deadline, since when it had
    been in that status, and when it was flagged."""

    kind: Lateness
    deadline: datetime
    since: datetime
    raised_at: datetime


class Order:
    """An order; every change is recorded as a domain event in `pending_events`."""

    def __init__(self, order_id: str) -> None:
        self.id = order_id
        self.version = 0
        self.status = OrderStatus.PLACED
        self.customer = CustomerDetails("", "", "", None)
        self.items: tuple[OrderItem, ...] = ()
        self.total_amount = Decimal("0.00")
        self.payment_method = "cash"
        self.notes: str | None = None
        self.driver: str | None = None
        self.cancel_reason: str | None = None
        self.late: LateNotice | None = None
        self.created_at: datetime | None = None
        self.updated_at: datetime | None = None
        self.pending_events: list[ev.DomainEvent] = []

    @classmethod
    def place(
        cls,
        order_id: str,
        customer: CustomerDetails,
        items: list[OrderItem],
        payment_method: str,
        notes: str | None,
        now: datetime,
    ) -> "Order":
        if not items:
            raise EmptyOrderError()
        order = cls(order_id)
        order._raise(
            ev.OrderPlaced,
            now,
            customer_id=customer.customer_id,
            customer_name=customer.name,
            customer_phone=customer.phone,
            customer_address=customer.address,
            items=tuple(items),
            total_amount=sum((item.unit_price for item in items), Decimal("0.00")),
            payment_method=payment_method,
            notes=notes,
        )
        order._raise(ev.OrderConfirmed, now, total_amount=order.total_amount)
        return order

    @classmethod
    def from_events(cls, order_id: str, history: Iterable[ev.DomainEvent]) -> "Order":
        order = cls(order_id)
        for event in history:
            order._apply(event)
        return order

    def start_cooking(self, now: datetime) -> None:
        self._check("start cooking")
        self._raise(ev.CookingStarted, now)

    def mark_ready(self, now: datetime) -> None:
        self._check("mark ready")
        self._raise(ev.OrderReady, now)

    def assign_delivery(self, driver: str, now: datetime) -> None:
        self._check("assign delivery")
        self._raise(ev.DeliveryAssigned, now, driver=driver)
        self._raise(ev.OutForDelivery, now, driver=driver)

    def deliver(self, now: datetime) -> None:
        self._check("deliver")
        self._raise(ev.OrderDelivered, now)

    def cancel(self, reason: str | None, now: datetime) -> None:
        self._check("cancel")
        self._raise(ev.OrderCancelled, now, reason=reason, previous_status=self.status.value)

    @property
    def status_since(self) -> datetime | None:
        """When the order entered its status, for the statuses it can be late in.

        Confirmed: when it was placed (it is confirmed at once). Delivering: when it
        went out, which is its last change until it is flagged late, and the flag
        keeps it (`late.since`).
        """
        if self.status is OrderStatus.CONFIRMED:
            return self.created_at
        if self.status is OrderStatus.DELIVERING:
            return late.since if (late := self.late_now) else self.updated_at
        return None

    @property
    def late_now(self) -> LateNotice | None:
        """Its last flag, while it is still in the status it was flagged late in."""
        late = self.late
        return late if late is not None and self.status is LATE_IN[late.kind] else None

    def is_late(self, kind: Lateness) -> bool:
        """Flagged late in the status it is in now."""
        late = self.late_now
        return late is not None and late.kind is kind

    def flag_late(self, kind: Lateness, deadline: datetime, now: datetime) -> None:
        """Record that the order is still in `kind`'s status at its deadline; once."""
        since = self.status_since
        if (
            self.status is not LATE_IN[kind]
            or self.is_late(kind)
            or since is None
            or now < deadline
        ):
            raise NotLateError(self.id, self.status.value, kind.value)
        facts = {
            "deadline": deadline,
            "since": since,
            "waited_seconds": round((now - since).total_seconds(), 3),
            "overdue_seconds": round((now - deadline).total_seconds(), 3),
        }
        if kind is Lateness.KITCHEN:
            self._raise(ev.KitchenLate, now, **facts)
        else:
            self._raise(ev.DeliveryLate, now, driver=self.driver or "", **facts)

    def _check(self, action: str) -> None:
        if self.status not in ALLOWED_FROM[action]:
            raise InvalidTransitionError(
                self.id, self.status.value, action, allowed_actions(self.status)
            )

    def _raise(self, kind: type[ev.DomainEvent], now: datetime, **facts: Any) -> None:
        event = kind(aggregate_id=self.id, version=self.version + 1, occurred_at=now, **facts)
        self._apply(event)
        self.pending_events.append(event)

    def _apply(self, event: ev.DomainEvent) -> None:
        match event:
            case ev.OrderPlaced():
                self.customer = CustomerDetails(
                    event.customer_id,
                    event.customer_name,
                    event.customer_phone,
                    event.customer_address,
                )
                self.items = event.items
                self.total_amount = event.total_amount
                self.payment_method = event.payment_method
                self.notes = event.notes
                self.created_at = event.occurred_at
            case ev.OrderConfirmed():
                self.status = OrderStatus.CONFIRMED
            case ev.CookingStarted():
                self.status = OrderStatus.COOKING
            case ev.OrderReady():
                self.status = OrderStatus.READY
            case ev.DeliveryAssigned():
                self.driver = event.driver
            case ev.OutForDelivery():
                self.status = OrderStatus.DELIVERING
            case ev.OrderDelivered():
                self.status = OrderStatus.DELIVERED
            case ev.OrderCancelled():
                self.status = OrderStatus.CANCELLED
                self.cancel_reason = event.reason
            case ev.KitchenLate() | ev.DeliveryLate():
                kind = Lateness.KITCHEN if isinstance(event, ev.KitchenLate) else Lateness.DELIVERY
                self.late = LateNotice(kind, event.deadline, event.since, event.occurred_at)
        self.version = event.version
        self.updated_at = event.occurred_at
