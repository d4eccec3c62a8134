"""What the application needs from the outside world, as protocols."""

import dataclasses
from collections.abc import Awaitable, Mapping
from datetime import date, datetime
from typing import Any, Generic, Protocol, TypeVar

from pizzeria_contracts import OperationResult

from ..domain.customers import Customer
from ..domain.menu import Menu
from ..domain.orders import Order
from ..domain.pizzas import Pizza

T = TypeVar("T")

Publishing = Awaitable[None]
"""Done once the events a write stored are published (or, failing that, marked for the
relay's periodic pass): what a reply that speaks for them waits for."""


@dataclasses.dataclass(frozen=True, slots=True)
class Receipt:
    """The message that caused a change, stored with it.

    Its correlation and trace context go onto the events; its `result`, when
    given, is kept so that the same message gets the same reply again.
    """

    message_id: str
    correlation_id: str
    traceparent: str | None
    result: OperationResult | None = None
    name: str = ""
    """The message's name (`orders.place`), kept with the reply for the operator console's
    conversation of an order."""


@dataclasses.dataclass(frozen=True, slots=True)
class Loaded(Generic[T]):
    """An aggregate as stored, with the replies of the commands already applied to it."""

    aggregate: T
    replies: Mapping[str, OperationResult]
    remembered: bool = False
    """Answered from the store's memory of its own last read or write of it, not read
    now: another writer may have moved it since. Storing over it then fails with
    ConcurrencyError; a refusal is confirmed on a fresh load first."""
    publishing: Publishing | None = None
    """The publishing of events this worker stored for it and has not published yet: a
    reply given from `replies`, or a refusal of the state loaded, waits for it."""


class AggregateStore(Protocol[T]):
    """Loads and stores one kind of aggregate with optimistic concurrency.

    A write stores the aggregate's pending events in its outbox and the
    receipt in its inbox in the same single-document update, and returns their
    publishing: the caller's reply waits for it, the aggregate's lane need not.
    """

    async def load(
        self, aggregate_id: str, message_id: str = "", *, fresh: bool = False
    ) -> Loaded[T] | None:
        """The aggregate, and in `replies` this message's reply if it was applied. Unless
        `fresh`, it may come from the store's memory (`Loaded.remembered`)."""
        ...

    async def create(self, aggregate: T, receipt: Receipt | None) -> Publishing | None:
        """Insert a new aggregate; None when its id (or a unique key) is taken."""
        ...

    async def update(self, aggregate: T, receipt: Receipt | None) -> Publishing:
        """Store the aggregate's changes; ConcurrencyError when its version moved."""
        ...


class OrderStore(AggregateStore[Order], Protocol):
    """The orders."""


class CustomerStore(AggregateStore[Customer], Protocol):
    """The customers; a phone number finds at most one, through a unique index."""

    async def find_by_phone(self, phone: str, message_id: str = "") -> Loaded[Customer] | None:
        """The customer with this phone, and in `replies` this message's reply if it
        changed them; possibly from the store's memory, as `load`."""
        ...


class PizzaStore(AggregateStore[Pizza], Protocol):
    """The pizzas of the menu, by key (the lower-cased name)."""


class MenuSource(Protocol):
    """The menu as it is now (possibly cached for a moment)."""

    async def current(self) -> Menu: ...

    def forget(self) -> None:
        """Read the menu afresh next time: it just changed."""


class OrderViews(Protocol):
    """The read model of orders, shaped as the contract returns them.

    Pages are `{"items": [...], "next_cursor": str | None}`; a cursor is opaque
    to callers and InvalidCursorError when it was not given out by a page.
    """

    async def get(self, order_id: str) -> Mapping[str, Any] | None: ...

    async def by_customer(self, phone: str, limit: int, cursor: str | None) -> Mapping[str, Any]:
        """A customer's orders, newest first."""
        ...

    async def active(self, limit: int, cursor: str | None) -> Mapping[str, Any]:
        """Confirmed, cooking and ready orders: the kitchen's queue, oldest first."""
        ...


class LateOrderViews(Protocol):
    """The orders late now (`orders.list-late`), kept with the deadlines."""

    async def late(self, limit: int) -> Mapping[str, Any]:
        """`{"items": [...]}`, the longest overdue first."""
        ...


class Clock(Protocol):
    def __call__(self) -> datetime: ...


class SalesReports(Protocol):
    """The sales report's read model (`application/sales.py` says what it counts)."""

    async def daily(self, first: date, last: date) -> Mapping[str, Any]:
        """Every day from `first` to `last`, both included, in the `sales.daily` shape."""
        ...


class OrderConversations(Protocol):
    """What the worker kept of the messages that changed an order, for its operators."""

    async def conversation(self, order_id: str) -> Mapping[str, Any] | None:
        """The order's commands in the order they changed it, each with its reply's
        status, correlation id, time and the events it raised, and the events not yet
        published; None when there is no such order."""
        ...
