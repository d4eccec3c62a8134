"""Query handlers: read one view, never change anything."""

from pizzeria_contracts import GetMenu, GetOrder, OperationResult

from ...domain.errors import OrderNotFoundError
from ..context import MessageContext
from ..ports import MenuSource, OrderViews
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
