"""In-memory stand-ins for the ports, for unit tests of handlers and the pipeline."""

import asyncio
import copy
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar
from zoneinfo import ZoneInfo

from pizzeria_contracts import OperationResult
from worker.application.deadlines import Timeouts, next_deadline
from worker.application.errors import ConcurrencyError
from worker.application.ports import (
    Clock,
    LateOrderViews,
    Loaded,
    MenuSource,
    PizzaStore,
    Publishing,
    Receipt,
)
from worker.application.sales import daily_report, fold_days, sale_facts
from worker.application.wire import order_view
from worker.bootstrap import Adapters
from worker.domain.customers import Customer
from worker.domain.errors import InvalidCursorError
from worker.domain.events import DomainEvent
from worker.domain.menu import DEFAULT_MENU, Menu
from worker.domain.orders import Order, OrderStatus
from worker.domain.pizzas import Pizza


class _Aggregate(Protocol):
    id: str
    version: int
    pending_events: list[DomainEvent]


A = TypeVar("A", bound=_Aggregate)


class FakeStore(Generic[A]):
    """Keeps copies of aggregates, checks versions, and records every event stored."""

    def __init__(self) -> None:
        self.items: dict[str, A] = {}
        self.replies: dict[str, dict[str, OperationResult]] = {}
        self.events: list[DomainEvent] = []

    async def load(
        self, aggregate_id: str, message_id: str = "", *, fresh: bool = False
    ) -> Loaded[A] | None:
        stored = self.items.get(aggregate_id)
        if stored is None:
            return None
        return Loaded(copy.deepcopy(stored), dict(self.replies.get(aggregate_id, {})))

    async def create(self, aggregate: A, receipt: Receipt | None) -> Publishing | None:
        if aggregate.id in self.items or self._taken(aggregate):
            return None
        return self._store(aggregate, receipt)

    async def update(self, aggregate: A, receipt: Receipt | None) -> Publishing:
        stored = self.items.get(aggregate.id)
        expected = aggregate.version - len(aggregate.pending_events)
        if stored is None or stored.version != expected:
            raise ConcurrencyError(aggregate.id)
        return self._store(aggregate, receipt)

    def _taken(self, aggregate: A) -> bool:
        return False

    def _store(self, aggregate: A, receipt: Receipt | None) -> Publishing:
        """Stored, and its events "published" (kept in `events`) at once."""
        self.events.extend(aggregate.pending_events)
        aggregate.pending_events.clear()
        self.items[aggregate.id] = copy.deepcopy(aggregate)
        if receipt and receipt.result:
            self.replies.setdefault(aggregate.id, {})[receipt.message_id] = receipt.result
        published = asyncio.get_running_loop().create_future()
        published.set_result(None)
        return published


class FakeOrders(FakeStore[Order]):
    """Orders; also answers as the read model, straight from the stored orders. A page's
    cursor is the position of its next order, as text."""

    async def get(self, order_id: str) -> Mapping[str, Any] | None:
        order = self.items.get(order_id)
        return None if order is None else order_view(order)

    async def by_customer(self, phone: str, limit: int, cursor: str | None) -> Mapping[str, Any]:
        mine = [o for o in self.items.values() if o.customer.phone == phone]
        return _page(sorted(mine, key=_placed, reverse=True), limit, cursor)

    async def active(self, limit: int, cursor: str | None) -> Mapping[str, Any]:
        active = [o for o in self.items.values() if o.status in _ACTIVE]
        return _page(sorted(active, key=_placed), limit, cursor)


_ACTIVE = frozenset({OrderStatus.CONFIRMED, OrderStatus.COOKING, OrderStatus.READY})


def _placed(order: Order) -> tuple[datetime, str]:
    return (order.created_at or datetime.min.replace(tzinfo=UTC), order.id)


def _page(orders: list[Order], limit: int, cursor: str | None) -> Mapping[str, Any]:
    start = 0
    if cursor is not None:
        if not cursor.isdigit() or int(cursor) > len(orders):
            raise InvalidCursorError()
        start = int(cursor)
    end = start + limit
    items = [order_view(order) for order in orders[start:end]]
    return {"items": items, "next_cursor": str(end) if end < len(orders) else None}


UTC_ZONE = ZoneInfo("UTC")


class FakeSales:
    """The sales report, folded from the stored orders at every query."""

    def __init__(self, orders: FakeOrders, zone: ZoneInfo = UTC_ZONE) -> None:
        self._orders = orders
        self._zone = zone

    async def daily(self, first: date, last: date) -> Mapping[str, Any]:
        views = [order_view(order) for order in self._orders.items.values()]
        facts = [fact for view in views for fact in sale_facts(view, self._zone)]
        inside = [f.at for f in facts if first <= f.day <= last]
        return daily_report(first, last, self._zone, fold_days(facts), max(inside, default=None))


class FakeCustomers(FakeStore[Customer]):
    async def find_by_phone(self, phone: str, message_id: str = "") -> Loaded[Customer] | None:
        for customer in self.items.values():
            if customer.phone == phone:
                return await self.load(customer.id)
        return None

    def _taken(self, aggregate: Customer) -> bool:
        return any(c.phone == aggregate.phone for c in self.items.values())


class FakeMenu:
    def __init__(self, menu: Menu | None = None) -> None:
        self.menu = menu or Menu(DEFAULT_MENU)

    async def current(self) -> Menu:
        return self.menu

    def forget(self) -> None:
        self.forgotten = True


class FakeWakeups:
    """Deadlines' wake-ups as the relay keeps them, straight from the stored orders, plus
    the stale ones a test adds (`stale`); also the late orders, as `orders.list-late`."""

    def __init__(self, orders: FakeOrders, timeouts: Timeouts) -> None:
        self._orders = orders
        self._timeouts = timeouts
        self.stale: set[str] = set()
        self.kept: list[str] = []
        self.forgotten: list[str] = []

    async def due(self, now: datetime, limit: int) -> list[str]:
        due = sorted(
            (deadline.at, order.id)
            for order in self._orders.items.values()
            if (deadline := next_deadline(order, self._timeouts)) and deadline.at <= now
        )
        return [order_id for _, order_id in due][:limit] + sorted(self.stale)

    async def keep(self, order: Order) -> None:
        self.kept.append(order.id)
        self.stale.discard(order.id)

    async def forget(self, order_id: str) -> None:
        self.forgotten.append(order_id)
        self.stale.discard(order_id)

    async def late(self, limit: int) -> Mapping[str, Any]:
        late = [
            (order, notice)
            for order in self._orders.items.values()
            if (notice := order.late_now) is not None
        ]
        late.sort(key=lambda pair: pair[1].deadline)
        return {
            "items": [
                {
                    "order_id": order.id,
                    "version": order.version,
                    "status": order.status.value,
                    "kind": notice.kind.value,
                    "deadline": notice.deadline,
                    "since": notice.since,
                    "customer_name": order.customer.name,
                    "driver": order.driver,
                }
                for order, notice in late[:limit]
            ]
        }


class ManualClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


class FakeClock:
    """A clock that moves one second each time it is read."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 28, 18, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


TIMEOUTS = Timeouts(timedelta(minutes=15), timedelta(minutes=45), timedelta(minutes=30))
"""The deadlines' defaults."""


def fake_adapters(
    orders: FakeOrders | None = None,
    *,
    customers: FakeCustomers | None = None,
    pizzas: PizzaStore | None = None,
    menu: MenuSource | None = None,
    late: LateOrderViews | None = None,
    clock: Clock | None = None,
) -> Adapters:
    """The worker's adapters, all fakes: the orders answer as their read model too."""
    orders = orders or FakeOrders()
    return Adapters(
        orders=orders,
        customers=customers or FakeCustomers(),
        pizzas=pizzas or FakeStore[Pizza](),
        menu=menu or FakeMenu(),
        views=orders,
        sales=FakeSales(orders),
        late=late or FakeWakeups(orders, TIMEOUTS),
        clock=clock or FakeClock(),
    )
