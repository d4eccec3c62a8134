"""Domain events as published on `pizzeria.events`.

Each body carries the aggregate's id and its version after the event; the
order of versions is the order of events for that aggregate.
"""

from datetime import datetime

from .base import Money, WireModel
from .views import OrderItemView


class OrderEvent(WireModel):
    """Something that happened to one order."""

    order_id: str
    version: int


class OrderPlaced(OrderEvent):
    """`orders.placed`: the order exists, with its priced pizzas."""

    customer_id: str
    customer_name: str
    customer_phone: str
    customer_address: str | None
    items: list[OrderItemView]
    total_amount: Money
    payment_method: str
    notes: str | None


class OrderConfirmed(OrderEvent):
    """`orders.confirmed`: the kitchen may start it."""

    total_amount: Money


class CookingStarted(OrderEvent):
    """`orders.cooking-started`."""


class OrderReady(OrderEvent):
    """`orders.ready`: cooked, waiting for a driver."""


class DeliveryAssigned(OrderEvent):
    """`orders.delivery-assigned`: a driver took the order."""

    driver: str


class OutForDelivery(OrderEvent):
    """`orders.out-for-delivery`: the order left the shop."""

    driver: str


class OrderDelivered(OrderEvent):
    """`orders.delivered`."""


class OrderCancelled(OrderEvent):
    """`orders.cancelled`, with the status it was cancelled in."""

    reason: str | None
    previous_status: str


class OrderLate(OrderEvent):
    """An order still in the same status at its deadline; raised once per deadline."""

    deadline: datetime
    """When the deadline fell due: `since` plus the time the worker allows."""
    since: datetime
    """When the order entered the status it is late in."""
    waited_seconds: float
    """From `since` to the event: how long the order has waited."""
    overdue_seconds: float
    """From `deadline` to the event: how late the warning itself came (a worker that was
    down when the deadline fell due raises it when it is back)."""


class KitchenLate(OrderLate):
    """`orders.kitchen-late`: confirmed and still not cooking `PIZZERIA_KITCHEN_WARN_AFTER`
    after it was confirmed. If cooking has not started `PIZZERIA_KITCHEN_CANCEL_AFTER`
    after it, the worker cancels the order (`orders.cancelled`, reason `kitchen-timeout`)."""


class DeliveryLate(OrderLate):
    """`orders.delivery-late`: out for delivery for longer than
    `PIZZERIA_DELIVERY_LATE_AFTER`, and not delivered."""

    driver: str


class CustomerEvent(WireModel):
    """A customer's details as they are after the event."""

    customer_id: str
    version: int
    name: str
    phone: str
    address: str | None
    email: str | None


class CustomerRegistered(CustomerEvent):
    """`customers.registered`: a phone number ordered for the first time."""


class CustomerUpdated(CustomerEvent):
    """`customers.updated`: a returning customer changed name, address or e-mail."""


class PizzaEvent(WireModel):
    """Something that happened to one pizza of the menu (its id is its name)."""

    name: str
    version: int


class PizzaAdded(PizzaEvent):
    """`menu.pizza-added`."""

    base_price: Money
    description: str


class PizzaUpdated(PizzaEvent):
    """`menu.pizza-updated`: the pizza as it is now."""

    base_price: Money
    description: str


class PizzaRemoved(PizzaEvent):
    """`menu.pizza-removed`."""
