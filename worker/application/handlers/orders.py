"""Command handlers of the order's life."""

from collections.abc import Callable
from datetime import datetime
from uuid import uuid4

from pizzeria_contracts import (
    AssignDelivery,
    CancelOrder,
    DeliverOrder,
    MarkReady,
    OperationResult,
    PizzaRequest,
    PlaceOrder,
    StartCooking,
)

from ...domain.customers import Customer, normalize_phone
from ...domain.errors import OrderNotFoundError
from ...domain.menu import Menu, parse_size
from ...domain.orders import CustomerDetails, Order, OrderItem
from ..context import MessageContext, id_for
from ..errors import ConcurrencyError
from ..ports import Clock, CustomerStore, MenuSource, OrderStore
from ..wire import order_view
from .common import CONFLICT_ATTEMPTS, change, receipt


def price(menu: Menu, pizzas: list[PizzaRequest]) -> list[OrderItem]:
    return [
        OrderItem.priced(
            uuid4().hex,
            menu.item(pizza.name, f"pizzas.{index}.name"),
            parse_size(pizza.size, f"pizzas.{index}.size"),
            pizza.toppings,
        )
        for index, pizza in enumerate(pizzas)
    ]


async def place_order(
    command: PlaceOrder,
    context: MessageContext,
    *,
    orders: OrderStore,
    customers: CustomerStore,
    menu: MenuSource,
    clock: Clock,
) -> OperationResult:
    """Price, find or register the customer, store the order; a re-sent message
    finds its order (the id comes from the message id) and gets the same reply."""
    now = clock()
    items = price(await menu.current(), command.pizzas)
    phone = normalize_phone(command.customer_phone)
    for _ in range(CONFLICT_ATTEMPTS):
        customer = await customers.find_by_phone(phone)
        details = CustomerDetails(
            customer.id if customer else uuid4().hex,
            command.customer_name,
            phone,
            command.customer_address or (customer.address if customer else None),
        )
        order = Order.place(
            id_for("order", context.message_id or ""),
            details,
            items,
            command.payment_method,
            command.notes,
            now,
        )
        if customer is None:
            new = Customer.register(
                details.customer_id,
                details.name,
                phone,
                details.address,
                command.customer_email,
                now,
            )
            if not await customers.create(new, receipt(context)):
                continue  # somebody registered this phone first: use theirs
        result = OperationResult.success(order_view(order), 201)
        if not await orders.create(order, receipt(context, result)):
            return await orders.reply_for(order.id, context.message_id or "") or already_placed(
                order
            )
        if customer is not None:
            await update_customer(customers, phone, command, context, now)
        return result
    raise ConcurrencyError(f"customer {phone} kept changing")


async def update_customer(
    customers: CustomerStore,
    phone: str,
    command: PlaceOrder,
    context: MessageContext,
    now: datetime,
) -> None:
    """A returning customer's new name, address or e-mail; a lost race reads again."""
    for _ in range(CONFLICT_ATTEMPTS):
        customer = await customers.find_by_phone(phone)
        if customer is None:
            return
        customer.update_details(
            command.customer_name, command.customer_address, command.customer_email, now
        )
        if not customer.pending_events:
            return
        try:
            await customers.update(customer, receipt(context))
        except ConcurrencyError:
            continue
        return
    raise ConcurrencyError(f"customer {phone} kept changing")


def already_placed(order: Order) -> OperationResult:
    return OperationResult.failure(409, f"Order '{order.id}' was placed by this message already")


async def change_order(
    orders: OrderStore, order_id: str, context: MessageContext, apply: Callable[[Order], None]
) -> OperationResult:
    return await change(
        orders, order_id, context, apply, order_view, lambda: OrderNotFoundError(order_id)
    )


async def start_cooking(
    command: StartCooking, context: MessageContext, *, orders: OrderStore, clock: Clock
) -> OperationResult:
    return await change_order(orders, command.order_id, context, lambda o: o.start_cooking(clock()))


async def mark_ready(
    command: MarkReady, context: MessageContext, *, orders: OrderStore, clock: Clock
) -> OperationResult:
    return await change_order(orders, command.order_id, context, lambda o: o.mark_ready(clock()))


async def assign_delivery(
    command: AssignDelivery, context: MessageContext, *, orders: OrderStore, clock: Clock
) -> OperationResult:
    return await change_order(
        orders, command.order_id, context, lambda o: o.assign_delivery(command.driver, clock())
    )


async def deliver(
    command: DeliverOrder, context: MessageContext, *, orders: OrderStore, clock: Clock
) -> OperationResult:
    return await change_order(orders, command.order_id, context, lambda o: o.deliver(clock()))


async def cancel(
    command: CancelOrder, context: MessageContext, *, orders: OrderStore, clock: Clock
) -> OperationResult:
    return await change_order(
        orders, command.order_id, context, lambda o: o.cancel(command.reason, clock())
    )
