"""Every message name of the contract with its body model and reply model."""

from typing import Final

from . import commands as c
from . import events as e
from . import names as n
from . import queries as q
from . import views as v
from .base import WireModel

COMMANDS: Final[dict[str, type[WireModel]]] = {
    n.PLACE_ORDER: c.PlaceOrder,
    n.START_COOKING: c.StartCooking,
    n.MARK_READY: c.MarkReady,
    n.ASSIGN_DELIVERY: c.AssignDelivery,
    n.DELIVER_ORDER: c.DeliverOrder,
    n.CANCEL_ORDER: c.CancelOrder,
    n.ADD_PIZZA: c.AddPizza,
    n.UPDATE_PIZZA: c.UpdatePizza,
    n.REMOVE_PIZZA: c.RemovePizza,
}

QUERIES: Final[dict[str, type[WireModel]]] = {
    n.GET_ORDER: q.GetOrder,
    n.LIST_ORDERS_BY_CUSTOMER: q.ListOrdersByCustomer,
    n.LIST_ACTIVE_ORDERS: q.ListActiveOrders,
    n.GET_MENU: q.GetMenu,
    n.DAILY_SALES: q.DailySales,
    n.LIST_LATE_ORDERS: q.ListLateOrders,
}

REPLIES: Final[dict[str, type[WireModel]]] = {
    **{name: v.OrderView for name in COMMANDS if name.startswith("orders.")},
    **{name: v.MenuPizzaView for name in COMMANDS if name.startswith("menu.")},
    n.GET_ORDER: v.OrderView,
    n.LIST_ORDERS_BY_CUSTOMER: v.OrderPage,
    n.LIST_ACTIVE_ORDERS: v.OrderPage,
    n.GET_MENU: v.MenuView,
    n.DAILY_SALES: v.SalesReport,
    n.LIST_LATE_ORDERS: v.LateOrders,
}
"""The model of a successful reply's `data`, by request name."""

EVENTS: Final[dict[str, type[WireModel]]] = {
    n.ORDER_PLACED: e.OrderPlaced,
    n.ORDER_CONFIRMED: e.OrderConfirmed,
    n.COOKING_STARTED: e.CookingStarted,
    n.ORDER_READY: e.OrderReady,
    n.DELIVERY_ASSIGNED: e.DeliveryAssigned,
    n.OUT_FOR_DELIVERY: e.OutForDelivery,
    n.ORDER_DELIVERED: e.OrderDelivered,
    n.ORDER_CANCELLED: e.OrderCancelled,
    n.KITCHEN_LATE: e.KitchenLate,
    n.DELIVERY_LATE: e.DeliveryLate,
    n.CUSTOMER_REGISTERED: e.CustomerRegistered,
    n.CUSTOMER_UPDATED: e.CustomerUpdated,
    n.PIZZA_ADDED: e.PizzaAdded,
    n.PIZZA_UPDATED: e.PizzaUpdated,
    n.PIZZA_REMOVED: e.PizzaRemoved,
}
