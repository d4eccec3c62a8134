"""Commands: requests to change the pizzeria's state, one handler each.

Bounds on sizes and lengths are part of the contract: a message beyond them
is invalid (400, dead-lettered as `invalid-message`). Business rules that need
the pizzeria's state (the menu, an order's status) are checked by the worker
and answered with a 400, 404 or 409 reply instead.
"""

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from .base import MoneyText, WireModel

PHONE_PATTERN = r"^\+?[0-9][0-9 ().-]{5,24}$"
EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]{1,189}$"
MAX_PIZZAS_PER_ORDER = 20
MAX_TOPPINGS_PER_PIZZA = 10

Name = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Phone = Annotated[str, StringConstraints(pattern=PHONE_PATTERN)]
Email = Annotated[str, StringConstraints(pattern=EMAIL_PATTERN)]
Text = Annotated[str, StringConstraints(max_length=500)]
OrderId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
PizzaName = Annotated[str, StringConstraints(min_length=1, max_length=50)]
Topping = Annotated[str, StringConstraints(min_length=1, max_length=30)]
PaymentMethod = Literal["cash", "card", "online"]
Price = Annotated[MoneyText, Field(gt=0, le=1000)]


class PizzaRequest(WireModel):
    """One pizza of an order; name and size match the menu case-insensitively."""

    name: PizzaName
    size: Annotated[str, StringConstraints(min_length=1, max_length=20)]
    toppings: Annotated[list[Topping], Field(max_length=MAX_TOPPINGS_PER_PIZZA)] = Field(
        default_factory=list
    )


class PlaceOrder(WireModel):
    """`orders.place`: create an order, price it from the menu and confirm it."""

    customer_name: Name
    customer_phone: Phone
    customer_address: Annotated[str, StringConstraints(max_length=200)] | None = None
    customer_email: Email | None = None
    pizzas: Annotated[list[PizzaRequest], Field(max_length=MAX_PIZZAS_PER_ORDER)]
    payment_method: PaymentMethod = "cash"
    notes: Text | None = None


class OrderCommand(WireModel):
    """A command about one existing order."""

    order_id: OrderId


class StartCooking(OrderCommand):
    """`orders.start-cooking`: the kitchen starts a confirmed order."""


class MarkReady(OrderCommand):
    """`orders.mark-ready`: the kitchen has finished cooking."""


class AssignDelivery(OrderCommand):
    """`orders.assign-delivery`: a driver takes a ready order out."""

    driver: Name


class DeliverOrder(OrderCommand):
    """`orders.deliver`: the driver handed the order over."""


class CancelOrder(OrderCommand):
    """`orders.cancel`: cancel an order that is not delivered yet."""

    reason: Text | None = None


class AddPizza(WireModel):
    """`menu.add-pizza`: a new pizza; `base_price` is the small size's price."""

    name: PizzaName
    base_price: Price
    description: Text = ""


class UpdatePizza(WireModel):
    """`menu.update-pizza`: change a pizza's price or description."""

    name: PizzaName
    base_price: Price | None = None
    description: Text | None = None


class RemovePizza(WireModel):
    """`menu.remove-pizza`: take a pizza off the menu."""

    name: PizzaName
