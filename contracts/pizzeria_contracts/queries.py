"""Queries: read-only requests answered from read models."""

from datetime import date
from typing import Annotated, Self

from pydantic import ConfigDict, Field, StringConstraints, model_validator

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


class ListLateOrders(WireModel):
    """`orders.list-late`: the kitchen's and the drivers' late orders, oldest deadline
    first, at most `limit`."""

    limit: Limit = 20


class GetMenu(WireModel):
    """`menu.get`: the menu with the price of every pizza in every size."""


MAX_SALES_DAYS = 92
"""The longest range of `sales.daily`, both ends included."""


class DailySales(WireModel):
    """`sales.daily`: the sales of every day from `from` to `to`, both included, at most
    92 days, in the report's time zone; a longer or reversed range is a 400."""

    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date

    @model_validator(mode="after")
    def _range(self) -> Self:
        days = (self.to - self.from_).days + 1
        if days < 1:
            raise ValueError("`to` must not be before `from`")
        if days > MAX_SALES_DAYS:
            raise ValueError(
                f"the range spans {days} days; sales.daily answers at most {MAX_SALES_DAYS}"
            )
        return self
