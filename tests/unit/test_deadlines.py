"""The order's process manager, on the in-memory fakes with a clock that stands still:
every transition against every timeout, the races, several workers, a late start."""

import asyncio
import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from pizzeria_contracts import names
from tests.fakes import TIMEOUTS, FakeOrders, FakeWakeups, ManualClock, fake_adapters
from tests.unit.pizzeria import encode
from worker.adapters.mongo.deadlines import UNKNOWN, Likely, likely_version
from worker.application.authorization import Grant, Policy
from worker.application.context import MessageContext
from worker.application.deadlines import (
    KITCHEN_TIMEOUT,
    MESSAGE_PREFIX,
    Action,
    Deadline,
    OrderDeadlines,
    Timeouts,
    next_deadline,
)
from worker.application.ports import Publishing, Receipt
from worker.bootstrap import build_mediator
from worker.domain import events as ev
from worker.domain.errors import NotLateError
from worker.domain.menu import Size
from worker.domain.orders import CustomerDetails, Lateness, Order, OrderItem, OrderStatus

START = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
WARN, CANCEL, LATE = TIMEOUTS.kitchen_warn, TIMEOUTS.kitchen_cancel, TIMEOUTS.delivery_late
SECOND = timedelta(seconds=1)


def an_order(order_id: str, at: datetime) -> Order:
    """A confirmed order of one small Margherita, placed `at`."""
    customer = CustomerDetails("c1", "Ann", "+15550100", None)
    pizza = OrderItem("l1", "margherita", Size.SMALL, (), Decimal("9.00"))
    return Order.place(order_id, customer, [pizza], "cash", None, at)


class Shop:
    """The mediator and a process manager (or several: `workers`) over the same fakes."""

    def __init__(self, orders: FakeOrders | None = None, policy: Policy | None = None) -> None:
        self.clock = ManualClock(START)
        self.orders = orders or FakeOrders()
        self.wakeups = FakeWakeups(self.orders, TIMEOUTS)
        self.mediator = build_mediator(
            fake_adapters(self.orders, late=self.wakeups, clock=self.clock),
            policy=policy,
        )
        self.deadlines = self.worker()

    def worker(self) -> OrderDeadlines:
        return OrderDeadlines(self.orders, self.wakeups, self.mediator.send, TIMEOUTS, self.clock)

    async def command(self, name: str, body: dict[str, Any]) -> int:
        context = MessageContext(
            name=name, exchange=names.COMMANDS_EXCHANGE, message_id=uuid4().hex, user_id="till"
        )
        return (await self.mediator.send(name, encode(body), context)).result.status

    async def place(self) -> str:
        order = an_order(uuid4().hex, self.clock())
        await self.orders.create(order, None)
        return order.id

    async def move(self, order_id: str, *names_: str) -> None:
        for name in names_:
            body: dict[str, Any] = {"order_id": order_id}
            if name == names.ASSIGN_DELIVERY:
                body["driver"] = "Luigi"
            assert await self.command(name, body) == 200, name

    async def at(self, moment: timedelta) -> list[Action]:
        """Move the clock to START + moment and run one pass."""
        self.clock.now = START + moment
        return await self.deadlines.run_due()

    def order(self, order_id: str) -> Order:
        return self.orders.items[order_id]

    def events(self, order_id: str) -> list[str]:
        return [e.type for e in self.orders.events if e.aggregate_id == order_id]


async def out_for_delivery(shop: Shop) -> str:
    order_id = await shop.place()
    await shop.move(order_id, names.START_COOKING, names.MARK_READY, names.ASSIGN_DELIVERY)
    return order_id


# The rule itself: what is due for an order in each state.


def test_what_is_due_follows_the_status_and_the_flags() -> None:
    order = an_order("o1", START)
    assert next_deadline(order, TIMEOUTS) == _due(Action.WARN_KITCHEN, WARN)
    order.flag_late(Lateness.KITCHEN, START + WARN, START + WARN)
    assert next_deadline(order, TIMEOUTS) == _due(Action.CANCEL, CANCEL)
    order.start_cooking(START + WARN + SECOND)
    assert next_deadline(order, TIMEOUTS) is None
    order.mark_ready(START + WARN + 2 * SECOND)
    assert next_deadline(order, TIMEOUTS) is None
    left = START + WARN + 3 * SECOND
    order.assign_delivery("Luigi", left)
    assert next_deadline(order, TIMEOUTS) == _due(Action.WARN_DELIVERY, WARN + 3 * SECOND + LATE)
    order.flag_late(Lateness.DELIVERY, left + LATE, left + LATE + SECOND)
    assert next_deadline(order, TIMEOUTS) is None
    assert order.late is not None
    assert order.late.since == left
    order.deliver(left + LATE + 2 * SECOND)
    assert next_deadline(order, TIMEOUTS) is None


def _due(action: Action, after: timedelta) -> Deadline:
    return Deadline(action, START + after)


def test_an_order_is_flagged_late_only_in_its_status_after_its_deadline_and_once() -> None:
    order = an_order("o1", START)
    with pytest.raises(NotLateError):
        order.flag_late(Lateness.KITCHEN, START + WARN, START + WARN - SECOND)  # too early
    with pytest.raises(NotLateError):
        order.flag_late(Lateness.DELIVERY, START + WARN, START + WARN)  # not delivering
    order.flag_late(Lateness.KITCHEN, START + WARN, START + WARN + SECOND)
    with pytest.raises(NotLateError):
        order.flag_late(Lateness.KITCHEN, START + WARN, START + WARN + 2 * SECOND)  # twice
    late = order.pending_events[-1]
    assert isinstance(late, ev.KitchenLate)
    assert (late.deadline, late.since) == (START + WARN, START)
    assert (late.waited_seconds, late.overdue_seconds) == (WARN.total_seconds() + 1, 1.0)


@pytest.mark.parametrize(
    ("warn", "cancel", "late"),
    [(0, 60, 60), (-1, 60, 60), (60, 60, 60), (61, 60, 60), (30, 60, 0)],
)
def test_timeouts_that_cannot_work_are_refused(warn: int, cancel: int, late: int) -> None:
    with pytest.raises(ValueError, match=r"zero|before"):
        Timeouts(timedelta(seconds=warn), timedelta(seconds=cancel), timedelta(seconds=late))


# The kitchen deadline against every move.


async def test_an_order_left_alone_is_warned_then_cancelled_each_once() -> None:
    shop = Shop()
    order_id = await shop.place()
    assert await shop.at(WARN - SECOND) == []
    assert await shop.at(WARN) == [Action.WARN_KITCHEN]
    assert await shop.at(WARN + SECOND) == []
    assert shop.order(order_id).is_late(Lateness.KITCHEN)
    assert await shop.at(CANCEL - SECOND) == []
    assert await shop.at(CANCEL) == [Action.CANCEL]
    assert await shop.at(CANCEL + LATE * 3) == []
    order = shop.order(order_id)
    assert order.status is OrderStatus.CANCELLED
    assert order.cancel_reason == KITCHEN_TIMEOUT
    assert shop.events(order_id) == [
        names.ORDER_PLACED,
        names.ORDER_CONFIRMED,
        names.KITCHEN_LATE,
        names.ORDER_CANCELLED,
    ]
    cancelled = shop.orders.events[-1]
    assert isinstance(cancelled, ev.OrderCancelled)
    assert cancelled.previous_status == "confirmed"


async def test_cooking_started_in_time_raises_nothing() -> None:
    shop = Shop()
    order_id = await shop.place()
    shop.clock.now = START + WARN - SECOND
    await shop.move(order_id, names.START_COOKING)
    for moment in (WARN, CANCEL, CANCEL + LATE):
        assert await shop.at(moment) == []
    assert shop.events(order_id)[-1] == names.COOKING_STARTED


async def test_cooking_started_after_the_warning_is_never_cancelled() -> None:
    shop = Shop()
    order_id = await shop.place()
    assert await shop.at(WARN) == [Action.WARN_KITCHEN]
    await shop.move(order_id, names.START_COOKING)
    assert await shop.at(CANCEL) == []
    assert shop.order(order_id).status is OrderStatus.COOKING
    assert not shop.order(order_id).is_late(Lateness.KITCHEN)  # late no more


async def test_an_order_cancelled_by_the_customer_is_left_alone() -> None:
    shop = Shop()
    order_id = await shop.place()
    await shop.move(order_id, names.CANCEL_ORDER)
    assert await shop.at(CANCEL) == []
    assert shop.events(order_id)[-1] == names.ORDER_CANCELLED


async def test_a_worker_that_was_down_past_both_deadlines_warns_then_cancels() -> None:
    shop = Shop()
    order_id = await shop.place()
    assert await shop.at(CANCEL + timedelta(hours=2)) == [Action.WARN_KITCHEN]
    assert await shop.at(CANCEL + timedelta(hours=2, seconds=1)) == [Action.CANCEL]
    late = next(e for e in shop.orders.events if isinstance(e, ev.KitchenLate))
    assert late.overdue_seconds == (CANCEL - WARN + timedelta(hours=2)).total_seconds()
    assert shop.order(order_id).status is OrderStatus.CANCELLED


# The delivery deadline.


async def test_an_order_out_too_long_is_flagged_once_with_its_driver() -> None:
    shop = Shop()
    order_id = await out_for_delivery(shop)
    assert await shop.at(LATE - SECOND) == []
    assert await shop.at(LATE) == [Action.WARN_DELIVERY]
    assert await shop.at(LATE * 5) == []
    late = shop.orders.events[-1]
    assert isinstance(late, ev.DeliveryLate)
    assert late.driver == "Luigi"
    assert shop.order(order_id).status is OrderStatus.DELIVERING
    page = await shop.wakeups.late(10)
    assert [(i["order_id"], i["kind"], i["driver"]) for i in page["items"]] == [
        (order_id, "delivery", "Luigi")
    ]
    await shop.move(order_id, names.DELIVER_ORDER)
    assert (await shop.wakeups.late(10))["items"] == []


async def test_an_order_delivered_in_time_raises_nothing() -> None:
    shop = Shop()
    order_id = await out_for_delivery(shop)
    shop.clock.now = START + LATE - SECOND
    await shop.move(order_id, names.DELIVER_ORDER)
    assert await shop.at(LATE * 2) == []
    assert names.DELIVERY_LATE not in shop.events(order_id)


# Races, repeats and several workers.


class MovesOnMeanwhile(FakeOrders):
    """Between the deadline's read and its first write, the kitchen starts cooking (or
    the driver delivers): the timeout's write loses, as it would against another worker."""

    def __init__(self, move: str) -> None:
        super().__init__()
        self.move = move
        self.clock: ManualClock | None = None
        self.moved = False

    async def update(self, aggregate: Order, receipt: Receipt | None) -> Publishing:
        ours = receipt is not None and receipt.message_id.startswith(MESSAGE_PREFIX)
        if ours and self.clock and not self.moved:
            self.moved = True
            rival = copy.deepcopy(self.items[aggregate.id])
            getattr(rival, self.move)(self.clock())
            await FakeOrders.update(self, rival, None)
        return await super().update(aggregate, receipt)


@pytest.mark.parametrize(
    ("moment", "move", "then"),
    [
        (WARN, "start_cooking", OrderStatus.COOKING),
        (CANCEL, "start_cooking", OrderStatus.COOKING),
        (LATE, "deliver", OrderStatus.DELIVERED),
    ],
)
async def test_a_move_that_races_the_timeout_wins_and_nothing_fires(
    moment: timedelta, move: str, then: OrderStatus
) -> None:
    orders = MovesOnMeanwhile(move)
    shop = Shop(orders)
    if move == "deliver":
        order_id = await out_for_delivery(shop)
    else:
        order_id = await shop.place()
        if moment == CANCEL:
            assert await shop.at(WARN) == [Action.WARN_KITCHEN]
    orders.clock = shop.clock
    assert await shop.at(moment) == []
    assert orders.moved
    assert shop.order(order_id).status is then
    assert names.ORDER_CANCELLED not in shop.events(order_id)
    assert shop.events(order_id).count(names.KITCHEN_LATE) <= 1
    assert names.DELIVERY_LATE not in shop.events(order_id)


async def test_three_workers_on_the_same_due_orders_act_once_each() -> None:
    shop = Shop()
    order_ids = [await shop.place() for _ in range(5)]
    workers = [shop.worker() for _ in range(3)]
    for moment in (WARN, CANCEL):
        shop.clock.now = START + moment
        await asyncio.gather(*(worker.run_due() for worker in workers))
    for order_id in order_ids:
        assert shop.events(order_id).count(names.KITCHEN_LATE) == 1
        assert shop.events(order_id).count(names.ORDER_CANCELLED) == 1


class Interleaves(FakeOrders):
    """Every read yields to the other workers first, so that their reads and writes
    of the same order interleave."""

    async def load(self, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0)
        return await super().load(*args, **kwargs)

    async def update(self, aggregate: Order, receipt: Receipt | None) -> Publishing:
        await asyncio.sleep(0)
        return await super().update(aggregate, receipt)


async def test_interleaved_workers_store_one_effect_each() -> None:
    shop = Shop(Interleaves())
    order_id = await shop.place()
    workers = [shop.worker() for _ in range(3)]
    shop.clock.now = START + WARN
    done = await asyncio.gather(*(worker.run_due() for worker in workers))
    assert sum(len(actions) for actions in done) == 1  # the losers found it stored
    assert shop.events(order_id).count(names.KITCHEN_LATE) == 1


async def test_a_stale_wakeup_does_nothing_and_is_put_right() -> None:
    shop = Shop()
    order_id = await shop.place()
    await shop.move(order_id, names.START_COOKING)
    shop.wakeups.stale = {order_id, "no-such-order"}
    assert await shop.at(CANCEL) == []
    assert shop.wakeups.kept == [order_id]
    assert shop.wakeups.forgotten == ["no-such-order"]
    assert await shop.at(CANCEL + SECOND) == []
    assert shop.wakeups.stale == set()  # neither is read again
    assert shop.events(order_id)[-1] == names.COOKING_STARTED


async def test_the_timeouts_act_under_a_policy_that_grants_nothing() -> None:
    shop = Shop(policy=Policy({"till": Grant()}))
    order_id = await shop.place()
    assert await shop.at(WARN) == [Action.WARN_KITCHEN]
    assert await shop.at(CANCEL) == [Action.CANCEL]
    assert shop.order(order_id).status is OrderStatus.CANCELLED
    refused = await shop.command(names.CANCEL_ORDER, {"order_id": order_id})
    assert refused == 403  # the worker's own messages pass; the till's do not


async def test_list_late_shows_the_kitchens_late_orders_oldest_first() -> None:
    shop = Shop()
    first = await shop.place()
    shop.clock.advance(SECOND)
    second = await shop.place()
    third = await shop.place()
    await shop.at(WARN + 2 * SECOND)
    await shop.move(third, names.START_COOKING)
    context = MessageContext(name=names.LIST_LATE_ORDERS, exchange=names.QUERIES_EXCHANGE)
    outcome = await shop.mediator.send(names.LIST_LATE_ORDERS, b"{}", context)
    assert outcome.result.status == 200
    items = outcome.result.data["items"]
    assert [(i["order_id"], i["kind"], i["status"]) for i in items] == [
        (first, "kitchen", "confirmed"),
        (second, "kitchen", "confirmed"),
    ]


@pytest.mark.parametrize(
    ("outbox", "likely"),
    [
        ([("orders.placed", 1, {}), ("orders.confirmed", 2, {})], None),
        ([("orders.cooking-started", 3, {})], 2),
        ([("orders.cooking-started", 3, {}), ("orders.ready", 4, {})], UNKNOWN),
        ([("orders.delivery-assigned", 5, {}), ("orders.out-for-delivery", 6, {})], None),
        ([("orders.delivery-late", 7, {})], 6),
        ([("orders.delivered", 8, {})], 7),
        ([("orders.cancelled", 3, {"previous_status": "confirmed"})], 2),
        ([("orders.cancelled", 5, {"previous_status": "ready"})], None),
        ([], UNKNOWN),
    ],
)
def test_the_relay_guesses_the_version_a_wakeup_shows_from_the_last_event(
    outbox: list[tuple[str, int, dict[str, str]]], likely: Likely
) -> None:
    doc = {"outbox": [{"type": t, "version": v, "body": body} for t, v, body in outbox]}
    assert likely_version(doc) == likely
