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

from ...domain.customers import Customer, customer_id_for, normalize_phone
from ...domain.errors import OrderNotFoundError
from ...domain.menu import Menu, parse_size
from ...domain.orders import CustomerDetails, Order, OrderItem
from ..context import MessageContext, id_for
from ..errors import ConcurrencyError
from ..mediator import Outcome
from ..ports import Clock, CustomerStore, MenuSource, OrderStore, Publishing, Receipt
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
) -> Outcome:
    """Price, register or update the customer, then store the order.

    The customer comes first and keeps this message's id (with the order's id, not
    the whole reply: nobody asks a customer for it), so a message that comes back
    after dying between the two (a crash, a retry) finds its customer done and
    still stores its order. A re-sent message whose order is
    stored finds it (the id comes from the message id) and gets the same reply.
    """
    now = clock()
    items = price(await menu.current(), command.pizzas)
    phone = normalize_phone(command.customer_phone)
    message_id = context.message_id or ""
    for _ in range(CONFLICT_ATTEMPTS):
        found = await customers.find_by_phone(phone, message_id)
        customer = found.aggregate if found else None
        publishing = [found.publishing] if found and found.publishing else []
        details = CustomerDetails(
            customer.id if customer else customer_id_for(phone),
            command.customer_name,
            phone,
            command.customer_address or (customer.address if customer else None),
        )
        order = Order.place(
            id_for("order", message_id), details, items, command.payment_method, command.notes, now
        )
        result = OperationResult.success(order_view(order), 201)
        if found is None or message_id not in found.replies:
            try:
                kept = receipt(context, OperationResult.success({"order_id": order.id}, 201))
                customer_kept = await keep_customer(
                    customers, customer, command, details, now, kept
                )
            except ConcurrencyError:
                continue  # somebody changed this customer meanwhile: read again
            if customer_kept is None:
                continue  # somebody registered this phone first: use theirs
            publishing += customer_kept
        if (placed := await orders.create(order, receipt(context, result))) is not None:
            return Outcome(result, publishing=(*publishing, placed))
        stored = await orders.load(order.id, message_id, fresh=True)  # sent before: its reply
        if stored is not None and stored.publishing is not None:
            publishing.append(stored.publishing)
        prior = stored.replies.get(message_id) if stored else None
        return Outcome(prior or already_placed(order), publishing=tuple(publishing))
    raise ConcurrencyError(f"customer {phone} kept changing")


async def keep_customer(
    customers: CustomerStore,
    customer: Customer | None,
    command: PlaceOrder,
    details: CustomerDetails,
    now: datetime,
    kept: Receipt,
) -> list[Publishing] | None:
    """Register a new customer or store a returning one's new name, address or e-mail,
    and return the publishing of what changed; None when the phone was registered
    meanwhile."""
    if customer is None:
        registered = await customers.create(
            Customer.register(
                details.customer_id,
                details.name,
                details.phone,
                details.address,
                command.customer_email,
                now,
            ),
            kept,
        )
        return None if registered is None else [registered]
    customer.update_details(
        command.customer_name, command.customer_address, command.customer_email, now
    )
    if customer.pending_events:
        return [await customers.update(customer, kept)]
    return []


def already_placed(order: Order) -> OperationResult:
    return OperationResult.failure(409, f"Order '{order.id}' was placed by this message already")


async def change_order(
    orders: OrderStore,
    order_id: str,
    context: MessageContext,
    apply: Callable[[Order], None],
    *,
    stored: Callable[[int], None] | None = None,
) -> Outcome:
    return await change(
        orders,
        order_id,
        context,
        apply,
        order_view,
        lambda: OrderNotFoundError(order_id),
        stored=stored,
    )


async def start_cooking(
    command: StartCooking, context: MessageContext, *, orders: OrderStore, clock: Clock
) -> Outcome:
    return await change_order(orders, command.order_id, context, lambda o: o.start_cooking(clock()))


async def mark_ready(
    command: MarkReady, context: MessageContext, *, orders: OrderStore, clock: Clock
) -> Outcome:
    return await change_order(orders, command.order_id, context, lambda o: o.mark_ready(clock()))


async def assign_delivery(
    command: AssignDelivery, context: MessageContext, *, orders: OrderStore, clock: Clock
) -> Outcome:
    return await change_order(
        orders, command.order_id, context, lambda o: o.assign_delivery(command.driver, clock())
    )


async def deliver(
    command: DeliverOrder, context: MessageContext, *, orders: OrderStore, clock: Clock
) -> Outcome:
    return await change_order(orders, command.order_id, context, lambda o: o.deliver(clock()))


async def cancel(
    command: CancelOrder, context: MessageContext, *, orders: OrderStore, clock: Clock
) -> Outcome:
    return await change_order(
        orders, command.order_id, context, lambda o: o.cancel(command.reason, clock())
    )
