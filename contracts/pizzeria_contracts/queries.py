"""Queries: read-only requests answered from read models."""

from typing import Annotated

from pydantic import Field, StringConstraints

from .base import WireModel
from .commands import OrderId, Phone

MAX_PAGE_SIZE = 100
Limit = Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)]
Cursor = Annotated[str, StringConstraints(max_length=200)]


class GetOrder(WireModel):
    """`orders.get`: one order by id; 404 when there is none."""

    order_id: OrderId


class ListOrdersByCustomer(WireModel):
    """`orders.list-by-customer`: a customer's orders, newest first, paged."""

    customer_phone: Phone
    limit: Limit = 20
    cursor: Cursor | None = None


class ListActiveOrders(WireModel):
    """`orders.list-active`: the kitchen's queue, oldest first, paged."""

    limit: Limit = 20
    cursor: Cursor | None = None


class GetMenu(WireModel):
    """`menu.get`: the menu with the price of every pizza in every size."""
