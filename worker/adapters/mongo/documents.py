"""How aggregates look as MongoDB documents (the codecs) and their outbox entries."""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ...application.ports import Receipt
from ...application.wire import event_body, order_view
from ...domain.customers import Customer
from ...domain.events import DomainEvent
from ...domain.menu import MenuItem, Size
from ...domain.orders import (
    CustomerDetails,
    Lateness,
    LateNotice,
    Order,
    OrderItem,
    OrderStatus,
)
from ...domain.pizzas import Pizza

NOT_STATE = ("outbox", "inbox")


class OrderCodec:
    """An order is stored in the shape the contract returns it, plus outbox and inbox."""

    def encode(self, order: Order) -> dict[str, Any]:
        return {"_id": order.id, **order_view(order)}

    def decode(self, doc: Mapping[str, Any]) -> Order:
        order = Order(doc["_id"])
        order.version = doc["version"]
        order.status = OrderStatus(doc["status"])
        order.customer = CustomerDetails(
            doc["customer_id"], doc["customer_name"], doc["customer_phone"], doc["customer_address"]
        )
        order.items = tuple(
            OrderItem(
                item["line_item_id"],
                item["name"],
                Size(item["size"]),
                tuple(item["toppings"]),
                Decimal(item["unit_price"]),
            )
            for item in doc["items"]
        )
        order.total_amount = Decimal(doc["total_amount"])
        order.payment_method = doc["payment_method"]
        order.notes = doc["notes"]
        order.driver = doc["driver"]
        order.cancel_reason = doc.get("cancel_reason")
        if late := doc.get("late"):
            order.late = LateNotice(
                Lateness(late["kind"]), late["deadline"], late["since"], late["raised_at"]
            )
        order.created_at = doc["created_at"]
        order.updated_at = doc["updated_at"]
        return order


class CustomerCodec:
    def encode(self, customer: Customer) -> dict[str, Any]:
        return {
            "_id": customer.id,
            "name": customer.name,
            "phone": customer.phone,
            "address": customer.address,
            "email": customer.email,
            "version": customer.version,
        }

    def decode(self, doc: Mapping[str, Any]) -> Customer:
        return Customer(
            doc["_id"], doc["name"], doc["phone"], doc["address"], doc["email"], doc["version"]
        )


def menu_item_document(item: MenuItem, key: str) -> dict[str, Any]:
    return {
        "_id": key,
        "name": item.name,
        "base_price": str(item.base_price),
        "description": item.description,
        "removed": False,
        "version": 1,
    }


def menu_item(doc: Mapping[str, Any]) -> MenuItem:
    return MenuItem(doc["name"], Decimal(doc["base_price"]), doc["description"])


def outbox_entry(event: DomainEvent, receipt: Receipt | None) -> dict[str, Any]:
    """An event waiting to be published, with what its envelope needs."""
    return {
        "id": event.event_id,
        "type": event.type,
        "subject": event.aggregate_id,
        "version": event.version,
        "at": event.occurred_at,
        "correlation_id": receipt.correlation_id if receipt else None,
        "traceparent": receipt.traceparent if receipt else None,
        "body": event_body(event),
    }


def inbox_entries(
    receipt: Receipt | None, events: Sequence[DomainEvent] | None = None
) -> list[dict[str, Any]]:
    """The reply to keep for this message, if it earned one. With `events` (an order's
    store), also what the operator console shows of the conversation: the command's
    name, correlation id, when, and the events it raised (ids and types, not bodies).
    One entry per command that changed the document, so an order's inbox is bounded by
    its life (a handful of steps); a customer's grows with its orders, so it keeps the
    reply alone."""
    if receipt is None or receipt.result is None:
        return []
    entry: dict[str, Any] = {
        "message_id": receipt.message_id,
        "result": receipt.result.model_dump(mode="json"),
    }
    if events is not None:
        at = events[0].occurred_at if events else datetime.now(UTC)
        entry |= {
            "name": receipt.name,
            "correlation_id": receipt.correlation_id,
            "at": at.replace(microsecond=at.microsecond // 1000 * 1000),
            "events": [{"id": e.event_id, "type": e.type, "version": e.version} for e in events],
        }
    return [entry]


def state_of(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The document without its outbox and inbox: what a read model shows."""
    return {key: value for key, value in doc.items() if key not in NOT_STATE}


class PizzaCodec:
    """A pizza of the menu; the same document the menu is read from."""

    def encode(self, pizza: Pizza) -> dict[str, Any]:
        return {
            "_id": pizza.id,
            "name": pizza.name,
            "base_price": str(pizza.base_price),
            "description": pizza.description,
            "removed": pizza.removed,
            "version": pizza.version,
        }

    def decode(self, doc: Mapping[str, Any]) -> Pizza:
        return Pizza(
            doc["name"],
            Decimal(doc["base_price"]),
            doc["description"],
            doc["removed"],
            doc["version"],
        )
