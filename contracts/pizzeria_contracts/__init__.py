"""The wire contract of Mario's Pizzeria order service, v1.

Import the models from here; the RPC client lives in
`pizzeria_contracts.client` and needs the `client` extra (aio-pika).
"""

from . import names
from .base import Money, WireModel
from .catalogue import COMMANDS, EVENTS, QUERIES, REPLIES
from .commands import (
    AddPizza,
    AssignDelivery,
    CancelOrder,
    DeliverOrder,
    MarkReady,
    PizzaRequest,
    PlaceOrder,
    RemovePizza,
    StartCooking,
    UpdatePizza,
)
from .events import (
    CookingStarted,
    CustomerRegistered,
    CustomerUpdated,
    DeliveryAssigned,
    OrderCancelled,
    OrderConfirmed,
    OrderDelivered,
    OrderPlaced,
    OrderReady,
    OutForDelivery,
    PizzaAdded,
    PizzaRemoved,
    PizzaUpdated,
)
from .queries import DailySales, GetMenu, GetOrder, ListActiveOrders, ListOrdersByCustomer
from .results import FieldError, OperationResult
from .views import (
    MenuPizzaView,
    MenuView,
    OrderItemView,
    OrderPage,
    OrderView,
    PizzaSales,
    SalesDay,
    SalesReport,
)

__all__ = [
    "COMMANDS",
    "EVENTS",
    "QUERIES",
    "REPLIES",
    "AddPizza",
    "AssignDelivery",
    "CancelOrder",
    "CookingStarted",
    "CustomerRegistered",
    "CustomerUpdated",
    "DailySales",
    "DeliverOrder",
    "DeliveryAssigned",
    "FieldError",
    "GetMenu",
    "GetOrder",
    "ListActiveOrders",
    "ListOrdersByCustomer",
    "MarkReady",
    "MenuPizzaView",
    "MenuView",
    "Money",
    "OperationResult",
    "OrderCancelled",
    "OrderConfirmed",
    "OrderDelivered",
    "OrderItemView",
    "OrderPage",
    "OrderPlaced",
    "OrderReady",
    "OrderView",
    "OutForDelivery",
    "PizzaAdded",
    "PizzaRemoved",
    "PizzaRequest",
    "PizzaSales",
    "PizzaUpdated",
    "PlaceOrder",
    "RemovePizza",
    "SalesDay",
    "SalesReport",
    "StartCooking",
    "UpdatePizza",
    "WireModel",
    "names",
]
