"""Exchange, queue, routing and header names of the wire contract, v1."""

from typing import Final

COMMANDS_EXCHANGE: Final = "pizzeria.commands"
"""Direct, durable: commands, routing key = command name."""
QUERIES_EXCHANGE: Final = "pizzeria.queries"
"""Direct, durable: queries, routing key = query name."""
EVENTS_EXCHANGE: Final = "pizzeria.events"
"""Topic, durable: domain events, routing key = event name."""
DEAD_LETTER_EXCHANGE: Final = "pizzeria.dead-letter"
"""Fanout, durable: messages that could not be processed."""
DEAD_LETTER_QUEUE: Final = "pizzeria.dead-letter"
"""Durable queue bound to the dead-letter exchange."""

COMMANDS_QUEUE: Final = "pizzeria.worker.commands"
"""The worker's durable queue for every command name."""
QUERIES_QUEUE: Final = "pizzeria.worker.queries"
"""The worker's durable queue for every query name."""

UNROUTED_EXCHANGE: Final = "pizzeria.unrouted"
"""Fanout: alternate exchange of the command and query exchanges."""

DIRECT_REPLY_TO: Final = "amq.rabbitmq.reply-to"

STATUS_HEADER: Final = "status"
ERROR_REASON_HEADER: Final = "x-error-reason"
ERROR_DETAIL_HEADER: Final = "x-error-detail"
ORIGINAL_EXCHANGE_HEADER: Final = "x-original-exchange"
ORIGINAL_ROUTING_KEY_HEADER: Final = "x-original-routing-key"
TRACEPARENT_HEADER: Final = "traceparent"
ORIGINAL_USER_ID_HEADER: Final = "x-original-user-id"
"""On a dead letter or retry: its user_id, which RabbitMQ accepts only from its own user.
The worker believes it, and the other `x-original-*` and retry headers, only on a copy
whose `user_id` is the worker's own broker user."""
MESSAGE_ID_ADDED_HEADER: Final = "x-message-id-added"
"""On a dead letter that arrived without message_id: the one it has was added."""
DEAD_LETTERED_AT_HEADER: Final = "x-dead-lettered-at"
"""On a dead letter: when the worker gave up on it (RFC 3339, UTC)."""
RETRY_ATTEMPT_HEADER: Final = "x-retry-attempt"
"""On a retried command: retries spent so far."""
LAST_ERROR_HEADER: Final = "x-last-error"
"""On a retried command: the kind of failure of its last try."""

DEAD_LETTER_REASONS: Final = {
    "invalid-json": "the body is not JSON",
    "invalid-message": "the body does not fit the message's schema",
    "unknown-message": "no handler for this routing key on this exchange",
    "missing-message-id": "a command without message_id",
    "message-too-large": "the body is larger than the worker accepts, checked before parsing",
    "processing-failed": "a query's handler failed unexpectedly (a 500 reply)",
    "retries-exhausted": "a command kept failing unexpectedly after its retries (a 500 reply)",
    "forged-retry": (
        "retry headers on a message that is not one of the worker's own retry copies, "
        "refused while authorization is on (a 401 or 403 reply)"
    ),
}
"""`x-error-reason` values of v1; an open set (readers treat unknown reasons alike)."""

EVENT_SOURCE: Final = "urn:pizzeria:order-service"
"""The CloudEvents `source` of every event the worker publishes."""

# Commands
PLACE_ORDER: Final = "orders.place"
START_COOKING: Final = "orders.start-cooking"
MARK_READY: Final = "orders.mark-ready"
ASSIGN_DELIVERY: Final = "orders.assign-delivery"
DELIVER_ORDER: Final = "orders.deliver"
CANCEL_ORDER: Final = "orders.cancel"
ADD_PIZZA: Final = "menu.add-pizza"
UPDATE_PIZZA: Final = "menu.update-pizza"
REMOVE_PIZZA: Final = "menu.remove-pizza"

# Queries
GET_ORDER: Final = "orders.get"
LIST_ORDERS_BY_CUSTOMER: Final = "orders.list-by-customer"
LIST_ACTIVE_ORDERS: Final = "orders.list-active"
GET_MENU: Final = "menu.get"
DAILY_SALES: Final = "sales.daily"
LIST_LATE_ORDERS: Final = "orders.list-late"

# Events
ORDER_PLACED: Final = "orders.placed"
ORDER_CONFIRMED: Final = "orders.confirmed"
COOKING_STARTED: Final = "orders.cooking-started"
ORDER_READY: Final = "orders.ready"
DELIVERY_ASSIGNED: Final = "orders.delivery-assigned"
OUT_FOR_DELIVERY: Final = "orders.out-for-delivery"
ORDER_DELIVERED: Final = "orders.delivered"
ORDER_CANCELLED: Final = "orders.cancelled"
KITCHEN_LATE: Final = "orders.kitchen-late"
DELIVERY_LATE: Final = "orders.delivery-late"
CUSTOMER_REGISTERED: Final = "customers.registered"
CUSTOMER_UPDATED: Final = "customers.updated"
PIZZA_ADDED: Final = "menu.pizza-added"
PIZZA_UPDATED: Final = "menu.pizza-updated"
PIZZA_REMOVED: Final = "menu.pizza-removed"
