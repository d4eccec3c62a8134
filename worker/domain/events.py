"""Domain events: facts recorded on an aggregate, named in the past tense."""

import dataclasses
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar
from uuid import uuid4


def new_event_id() -> str:
    return uuid4().hex


@dataclasses.dataclass(frozen=True, kw_only=True)
class DomainEvent:
    """Base of every event; `version` is the aggregate's version after it."""

    type: ClassVar[str]
    aggregate_id: str
    version: int
    occurred_at: datetime
    event_id: str = dataclasses.field(default_factory=new_event_id)

    def data(self) -> dict[str, Any]:
        """The event's own facts, without the envelope fields."""
        envelope = {"aggregate_id", "occurred_at", "event_id"}
        return {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if field.name not in envelope
        }


@dataclasses.dataclass(frozen=True, kw_only=True)
class OrderPlaced(DomainEvent):
    type: ClassVar[str] = "orders.placed"
    customer_id: str
    customer_name: str
    customer_phone: str
    customer_address: str | None
    items: tuple[Any, ...]
    total_amount: Decimal
    payment_method: str
    notes: str | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class OrderConfirmed(DomainEvent):
    type: ClassVar[str] = "orders.confirmed"
    total_amount: Decimal


@dataclasses.dataclass(frozen=True, kw_only=True)
class CookingStarted(DomainEvent):
    type: ClassVar[str] = "orders.cooking-started"


@dataclasses.dataclass(frozen=True, kw_only=True)
class OrderReady(DomainEvent):
    type: ClassVar[str] = "orders.ready"


@dataclasses.dataclass(frozen=True, kw_only=True)
class DeliveryAssigned(DomainEvent):
    type: ClassVar[str] = "orders.delivery-assigned"
    driver: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class OutForDelivery(DomainEvent):
    type: ClassVar[str] = "orders.out-for-delivery"
    driver: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class OrderDelivered(DomainEvent):
    type: ClassVar[str] = "orders.delivered"


@dataclasses.dataclass(frozen=True, kw_only=True)
class OrderCancelled(DomainEvent):
    type: ClassVar[str] = "orders.cancelled"
    reason: str | None
    previous_status: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class OrderLate(DomainEvent):
    """An order stayed in its status past its deadline; raised once per deadline."""

    deadline: datetime
    """When the deadline fell due: the status's start plus the allowed time."""
    since: datetime
    """When the order entered the status it is late in."""
    waited_seconds: float
    """From `since` to when it was flagged: how long the order has waited."""
    overdue_seconds: float
    """From `deadline` to when it was flagged: how late the flag itself came."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class KitchenLate(OrderLate):
    type: ClassVar[str] = "orders.kitchen-late"


@dataclasses.dataclass(frozen=True, kw_only=True)
class DeliveryLate(OrderLate):
    type: ClassVar[str] = "orders.delivery-late"
    driver: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class CustomerEvent(DomainEvent):
    """A customer's details as they are after the event."""

    name: str
    phone: str
    address: str | None
    email: str | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class CustomerRegistered(CustomerEvent):
    type: ClassVar[str] = "customers.registered"


@dataclasses.dataclass(frozen=True, kw_only=True)
class CustomerUpdated(CustomerEvent):
    type: ClassVar[str] = "customers.updated"


@dataclasses.dataclass(frozen=True, kw_only=True)
class PizzaEvent(DomainEvent):
    """A pizza of the menu as it is after the event; its id is its key."""

    name: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class PizzaAdded(PizzaEvent):
    type: ClassVar[str] = "menu.pizza-added"
    base_price: Decimal
    description: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class PizzaUpdated(PizzaEvent):
    type: ClassVar[str] = "menu.pizza-updated"
    base_price: Decimal
    description: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class PizzaRemoved(PizzaEvent):
    type: ClassVar[str] = "menu.pizza-removed"
