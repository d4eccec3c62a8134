"""Domain objects in the contract's shapes: JSON-ready dicts (money as strings)."""

from decimal import Decimal
from typing import Any

from pizzeria_contracts import FieldError, OperationResult
from pizzeria_contracts.base import money

from ..domain import events as ev
from ..domain.errors import ConflictError, DomainError, NotFoundError
from ..domain.menu import TOPPING_PRICE, Menu, MenuItem, Size
from ..domain.orders import LateNotice, Order, OrderItem


def item_view(item: OrderItem) -> dict[str, Any]:
    return {
        "line_item_id": item.line_item_id,
        "name": item.name,
        "size": item.size.value,
        "toppings": list(item.toppings),
        "unit_price": money(item.unit_price),
    }


def order_view(order: Order) -> dict[str, Any]:
    """The order as the contract returns it."""
    customer = order.customer
    return {
        "id": order.id,
        "status": order.status.value,
        "customer_id": customer.customer_id,
        "customer_name": customer.name,
        "customer_phone": customer.phone,
        "customer_address": customer.address,
        "items": [item_view(item) for item in order.items],
        "total_amount": money(order.total_amount),
        "payment_method": order.payment_method,
        "notes": order.notes,
        "driver": order.driver,
        "cancel_reason": order.cancel_reason,
        "late": late_view(order.late),
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "version": order.version,
    }


def late_view(late: LateNotice | None) -> dict[str, Any] | None:
    if late is None:
        return None
    return {
        "kind": late.kind.value,
        "deadline": late.deadline,
        "since": late.since,
        "raised_at": late.raised_at,
    }


def menu_item_view(item: MenuItem) -> dict[str, Any]:
    """A pizza with its price in every size, without toppings."""
    return {
        "name": item.name,
        "description": item.description,
        "base_price": money(item.base_price),
        "prices": {size.value: money(item.price(size, 0)) for size in Size},
    }


def menu_view(menu: Menu) -> dict[str, Any]:
    return {
        "pizzas": [menu_item_view(item) for item in menu],
        "sizes": {size.value: str(size.factor) for size in Size},
        "topping_price": money(TOPPING_PRICE),
    }


_SUBJECT_FIELD = {"orders": "order_id", "customers": "customer_id", "menu": "name"}


def event_body(event: ev.DomainEvent) -> dict[str, Any]:
    """The event's data as published: the aggregate's id, its version, the facts."""
    area = event.type.split(".", 1)[0]
    body: dict[str, Any] = {_SUBJECT_FIELD[area]: event.aggregate_id}
    for key, value in event.data().items():
        body[key] = _plain(value)
    return body


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return money(value)
    if isinstance(value, OrderItem):
        return item_view(value)
    if isinstance(value, tuple):
        return [_plain(part) for part in value]
    return value


def domain_failure(error: DomainError) -> OperationResult:
    """A refusal of the domain's as the reply says it: 404, 409 or 400 with what was wrong."""
    status = (
        404
        if isinstance(error, NotFoundError)
        else 409
        if isinstance(error, ConflictError)
        else 400
    )
    errors = [FieldError(field=error.field, message=error.message)] if error.field else None
    return OperationResult.failure(status, error.message, errors)
