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

DIRECT_REPLY_TO: Final = "amq.rabbitmq.reply-to"

STATUS_HEADER: Final = "status"
ERROR_REASON_HEADER: Final = "x-error-reason"
ERROR_DETAIL_HEADER: Final = "x-error-detail"
ORIGINAL_EXCHANGE_HEADER: Final = "x-original-exchange"
ORIGINAL_ROUTING_KEY_HEADER: Final = "x-original-routing-key"
TRACEPARENT_HEADER: Final = "traceparent"

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

# Events
ORDER_PLACED: Final = "orders.placed"
ORDER_CONFIRMED: Final = "orders.confirmed"
COOKING_STARTED: Final = "orders.cooking-started"
ORDER_READY: Final = "orders.ready"
DELIVERY_ASSIGNED: Final = "orders.delivery-assigned"
OUT_FOR_DELIVERY: Final = "orders.out-for-delivery"
ORDER_DELIVERED: Final = "orders.delivered"
ORDER_CANCELLED: Final = "orders.cancelled"
CUSTOMER_REGISTERED: Final = "customers.registered"
CUSTOMER_UPDATED: Final = "customers.updated"
PIZZA_ADDED: Final = "menu.pizza-added"
PIZZA_UPDATED: Final = "menu.pizza-updated"
PIZZA_REMOVED: Final = "menu.pizza-removed"
