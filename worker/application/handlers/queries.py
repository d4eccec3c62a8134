"""Query handlers: read one view, never change anything."""

from pizzeria_contracts import (
    DailySales,
    GetMenu,
    GetOrder,
    ListActiveOrders,
    ListLateOrders,
    ListOrdersByCustomer,
    OperationResult,
)

from ...domain.customers import normalize_phone
from ...domain.errors import OrderNotFoundError
from ..context import MessageContext
from ..ports import LateOrderViews, MenuSource, OrderViews, SalesReports
from ..wire import menu_view


async def get_order(
    query: GetOrder, context: MessageContext, *, views: OrderViews
) -> OperationResult:
    view = await views.get(query.order_id)
    if view is None:
        raise OrderNotFoundError(query.order_id)
    return OperationResult.success(view)


async def get_menu(query: GetMenu, context: MessageContext, *, menu: MenuSource) -> OperationResult:
    return OperationResult.success(menu_view(await menu.current()))


async def list_orders_by_customer(
    query: ListOrdersByCustomer, context: MessageContext, *, views: OrderViews
) -> OperationResult:
    phone = normalize_phone(query.customer_phone)
    return OperationResult.success(await views.by_customer(phone, query.limit, query.cursor))


async def list_active_orders(
    query: ListActiveOrders, context: MessageContext, *, views: OrderViews
) -> OperationResult:
    return OperationResult.success(await views.active(query.limit, query.cursor))


async def list_late_orders(
    query: ListLateOrders, context: MessageContext, *, late: LateOrderViews
) -> OperationResult:
    return OperationResult.success(await late.late(query.limit))


async def daily_sales(
    query: DailySales, context: MessageContext, *, sales: SalesReports
) -> OperationResult:
    return OperationResult.success(await sales.daily(query.from_, query.to))
