"""The deadlines' wake-ups on the real database: kept by the relay, newest version wins,
read for what is due; and the process manager acting on them, once with three workers."""

import asyncio
import copy
from datetime import datetime, timedelta

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from pizzeria_contracts import LateOrders, names
from tests.fakes import ManualClock
from worker.adapters.mongo.database import Collections, Document
from worker.adapters.mongo.deadlines import MongoDeadlines, keep_all
from worker.adapters.mongo.documents import OrderCodec
from worker.adapters.mongo.readmodels import Fixed
from worker.application.deadlines import Action, OrderDeadlines, Timeouts
from worker.domain.orders import Lateness, Order
from worker.settings import Settings

from .conftest import new_order, random_phone, utc_now
from .mongo_worker import MongoWorker, fresh_collections, order_body

pytestmark = pytest.mark.integration

TIMEOUTS = Settings().timeouts
WARN, CANCEL, LATE = TIMEOUTS.kitchen_warn, TIMEOUTS.kitchen_cancel, TIMEOUTS.delivery_late


@pytest.fixture
async def collections(database: AsyncDatabase[Document]) -> Collections:
    return await fresh_collections(database)


@pytest.fixture
def wakeups(collections: Collections) -> MongoDeadlines:
    return MongoDeadlines(Fixed(collections.deadlines), TIMEOUTS, collections.orders)


async def stored(collections: Collections, order_id: str) -> Document | None:
    return await collections.deadlines.find_one({"_id": order_id})


async def test_newest_version_wins_and_a_move_on_removes_the_wakeup(
    collections: Collections, wakeups: MongoDeadlines
) -> None:
    order = new_order()
    placed = _copy(order)
    await wakeups.keep(placed)
    doc = await stored(collections, order.id)
    assert doc is not None
    assert (doc["version"], doc["due"], doc["late"]) == (2, _at(order, WARN), None)

    order.flag_late(Lateness.KITCHEN, _at(order, WARN), _at(order, WARN))
    await wakeups.keep(order)
    await wakeups.keep(placed)  # an older version, relayed late: changes nothing
    doc = await stored(collections, order.id)
    assert doc is not None
    assert (doc["version"], doc["due"]) == (3, _at(order, CANCEL))
    assert doc["late"] == {"kind": "kitchen", "deadline": _at(order, WARN)}

    order.start_cooking(_at(order, WARN + timedelta(seconds=1)))
    await asyncio.gather(wakeups.keep(order), wakeups.keep(_copy(order)))  # two relays at once
    assert await stored(collections, order.id) is None


async def test_due_reads_only_wakeups_at_or_before_now_earliest_first(
    collections: Collections, wakeups: MongoDeadlines
) -> None:
    now = utc_now()
    early, later, waiting = new_order(now - WARN * 3), new_order(now - WARN * 2), new_order(now)
    delivering = new_order(now - WARN * 4)
    delivering.start_cooking(now - WARN * 4)
    delivering.mark_ready(now - WARN * 4)
    delivering.assign_delivery("Luigi", now - LATE * 2)
    delivering.flag_late(Lateness.DELIVERY, now - LATE, now - LATE)  # late: due is null
    for order in (later, waiting, early, delivering):
        await wakeups.keep(order)
    assert await wakeups.due(now, 10) == [early.id, later.id]
    assert await wakeups.due(now, 1) == [early.id]
    late = LateOrders.model_validate(await wakeups.late(10))
    assert [(item.order_id, item.kind, item.driver) for item in late.items] == [
        (delivering.id, "delivery", "Luigi")
    ]


async def test_the_relay_keeps_the_wakeups_as_orders_move(collections: Collections) -> None:
    worker = MongoWorker.start(collections)
    try:
        placed = await worker.ok(names.PLACE_ORDER, order_body(random_phone()))
        order_id = placed["id"]
        doc = await stored(collections, order_id)
        assert doc is not None
        assert doc["status"] == "confirmed"
        await worker.ok(names.START_COOKING, {"order_id": order_id})
        assert await stored(collections, order_id) is None
        await worker.ok(names.MARK_READY, {"order_id": order_id})
        await worker.ok(names.ASSIGN_DELIVERY, {"order_id": order_id, "driver": "Mario"})
        doc = await stored(collections, order_id)
        assert doc is not None
        assert (doc["status"], doc["driver"]) == ("delivering", "Mario")
        await worker.ok(names.DELIVER_ORDER, {"order_id": order_id})
        assert await stored(collections, order_id) is None
    finally:
        await worker.stop()


async def test_three_workers_act_once_on_each_due_order(collections: Collections) -> None:
    worker = MongoWorker.start(collections)
    try:
        placed = [await worker.ok(names.PLACE_ORDER, order_body(random_phone())) for _ in range(6)]
        created = max(datetime.fromisoformat(str(p["created_at"])) for p in placed)
        clock = ManualClock(created + WARN)

        managers = [
            OrderDeadlines(
                worker.orders,
                MongoDeadlines(Fixed(collections.deadlines), TIMEOUTS, collections.orders),
                worker.mediator.send,
                TIMEOUTS,
                clock,
            )
            for _ in range(3)
        ]
        warned = await asyncio.gather(*(manager.run_due() for manager in managers))
        clock.now = created + CANCEL
        cancelled = await asyncio.gather(*(manager.run_due() for manager in managers))
        assert sum(len(done) for done in warned) == len(placed)  # each counted by one
        assert all(action is Action.CANCEL for done in cancelled for action in done)
        for order in placed:
            kinds = [kind for kind, _ in worker.published.kinds(order["id"])]
            assert kinds.count(names.KITCHEN_LATE) == 1, kinds
            assert kinds.count(names.ORDER_CANCELLED) == 1, kinds
            view = await worker.ok(names.GET_ORDER, {"order_id": order["id"]})
            assert (view["status"], view["cancel_reason"]) == ("cancelled", "kitchen-timeout")
            assert view["late"]["kind"] == "kitchen"
            assert await stored(collections, order["id"]) is None
    finally:
        await worker.stop()


def _copy(order: Order) -> Order:
    return copy.deepcopy(order)


def _at(order: Order, after: timedelta) -> datetime:
    assert order.created_at is not None
    return order.created_at + after


async def test_a_wrong_guess_of_the_wakeups_version_is_read_and_put_right(
    collections: Collections,
) -> None:
    order = new_order()
    await keep_all(collections.deadlines, [order], TIMEOUTS)
    order.flag_late(Lateness.KITCHEN, _at(order, WARN), _at(order, WARN))
    await keep_all(collections.deadlines, [order], TIMEOUTS, {order.id: None})  # "none yet"
    doc = await stored(collections, order.id)
    assert doc is not None
    assert doc["version"] == 3
    order.start_cooking(_at(order, WARN))
    await keep_all(
        collections.deadlines, [order], TIMEOUTS, {order.id: 1}
    )  # a version it never had
    assert await stored(collections, order.id) is None


async def test_a_wakeup_due_too_soon_is_written_anew_when_found_due(
    collections: Collections, wakeups: MongoDeadlines
) -> None:
    order = new_order(utc_now())
    shorter = Timeouts(WARN / 2, CANCEL / 2, LATE / 2)  # as written before a change
    await keep_all(collections.deadlines, [order], shorter)
    assert await wakeups.due(_at(order, WARN / 2), 10) == [order.id]
    await wakeups.keep(order)  # what the process manager does: the order is not due
    doc = await stored(collections, order.id)
    assert doc is not None
    assert (doc["version"], doc["due"]) == (order.version, _at(order, WARN))
    assert await wakeups.due(_at(order, WARN / 2), 10) == []


async def test_the_wakeup_of_an_order_that_is_gone_is_removed(collections: Collections) -> None:
    worker = MongoWorker.start(collections)
    try:
        await collections.deadlines.insert_one(
            {"_id": "removed-by-hand", "version": 2, "due": utc_now(), "late": None}
        )
        manager = OrderDeadlines(
            worker.orders,
            MongoDeadlines(Fixed(collections.deadlines), TIMEOUTS, collections.orders),
            lambda *_: pytest.fail("nothing to send"),
            TIMEOUTS,
            utc_now,
        )
        assert await manager.run_due() == []
        assert await stored(collections, "removed-by-hand") is None
    finally:
        await worker.stop()


async def test_a_late_relay_of_an_older_version_does_not_bring_a_removed_wakeup_back(
    collections: Collections, wakeups: MongoDeadlines
) -> None:
    order = new_order(utc_now(LATE * 3))
    order.start_cooking(_at(order, timedelta(minutes=1)))
    order.mark_ready(_at(order, timedelta(minutes=2)))
    order.assign_delivery("Luigi", _at(order, timedelta(minutes=3)))
    order.flag_late(Lateness.DELIVERY, _at(order, timedelta(minutes=3) + LATE), utc_now())
    flagged = _copy(order)  # v7: late on the road, nothing more due
    order.deliver(utc_now())  # v8, stored and relayed first by another worker
    await collections.orders.insert_one({**OrderCodec().encode(order), "outbox": []})
    await wakeups.keep(order)
    await wakeups.keep(flagged)  # the relay of v7, late: the wake-up is gone, v8 is stored
    assert await stored(collections, order.id) is None
    assert (await wakeups.late(10))["items"] == []
