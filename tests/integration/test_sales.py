"""The sales report on the real database: kept by the relay, each fact once."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from pizzeria_contracts import SalesReport, names
from worker.adapters.mongo.database import Collections, Document
from worker.adapters.mongo.readmodels import Fixed
from worker.adapters.mongo.sales import (
    SalesProjection,
    _summarize,
    count,
    day_totals,
    newest,
    put,
    summarize,
)
from worker.application.sales import Totals, fold_days, sale_facts

from .conftest import random_phone
from .mongo_worker import MongoWorker, fresh_collections, order_body

pytestmark = pytest.mark.integration

UTC_ZONE = ZoneInfo("UTC")
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.fixture
async def collections(database: AsyncDatabase[Document]) -> Collections:
    return await fresh_collections(database)


@pytest.fixture
async def shop(collections: Collections) -> AsyncIterator[MongoWorker]:
    times = iter(NOW + timedelta(minutes=i) for i in range(10_000))
    worker = MongoWorker.start(collections, clock=lambda: next(times))
    try:
        yield worker
    finally:
        await worker.stop()


def delivered_order(order_id: str, minutes: int) -> dict[str, Any]:
    return {
        "id": order_id,
        "status": "delivered",
        "created_at": NOW,
        "updated_at": NOW + timedelta(minutes=minutes),
        "items": [{"name": "margherita", "size": "large", "unit_price": "20.78"}],
        "total_amount": "20.78",
        "outbox": [{"type": "orders.placed"}, {"type": "orders.delivered"}],
    }


async def stored_days(collections: Collections) -> dict[str, Totals]:
    summaries = await collections.sales_daily.find({"parts": {"$exists": True}}).to_list()
    return {summary["_id"]: day_totals(summary) for summary in summaries}


async def test_orders_driven_through_the_worker_are_in_sales_daily(shop: MongoWorker) -> None:
    phone = random_phone()
    delivered = await shop.ok(
        names.PLACE_ORDER, order_body(phone, {"name": "margherita", "size": "large"})
    )
    cancelled = await shop.ok(names.PLACE_ORDER, order_body(phone))
    for name, body in [
        (names.START_COOKING, {}),
        (names.MARK_READY, {}),
        (names.ASSIGN_DELIVERY, {"driver": "Luigi"}),
        (names.DELIVER_ORDER, {}),
    ]:
        await shop.ok(name, {"order_id": delivered["id"], **body})
    await shop.ok(names.CANCEL_ORDER, {"order_id": cancelled["id"]})

    data = await shop.ok(names.DAILY_SALES, {"from": "2026-12-06", "to": "2026-12-07"})

    before, today = SalesReport.model_validate(data).days
    assert (before.orders_placed, before.revenue) == (0, Decimal("0.00"))
    assert (today.orders_placed, today.orders_delivered, today.orders_cancelled) == (2, 1, 1)
    assert today.revenue == Decimal(delivered["total_amount"])
    assert [(p.name, p.size, p.quantity) for p in today.pizzas] == [("margherita", "large", 1)]
    assert today.average_delivery_seconds is not None
    assert today.average_delivery_seconds > 0


async def test_a_document_relayed_twice_or_by_two_relays_at_once_counts_once(
    collections: Collections,
) -> None:
    sales = SalesProjection(Fixed(collections.sales_daily), UTC_ZONE)
    orders = [delivered_order(f"order-{i}", 30 + i) for i in range(5)]

    await sales.apply(orders)
    await asyncio.gather(sales.apply(orders), sales.apply(list(reversed(orders))))

    expected = fold_days(fact for order in orders for fact in sale_facts(order, UTC_ZONE))
    assert await stored_days(collections) == expected
    assert (expected["2026-12-07"]["placed"], expected["2026-12-07"]["delivered"]) == (5, 5)


async def test_a_rebuild_and_relays_writing_at_once_count_each_fact_once(
    collections: Collections,
) -> None:
    """A rebuild puts facts without sums and sums its buckets at the end; relays put and
    sum at once, some facts the same as the rebuild's, in any order."""
    orders = [delivered_order(f"order-{i}", 30 + i) for i in range(300)]
    facts = [fact for order in orders for fact in sale_facts(order, UTC_ZONE)]
    sales = collections.sales_daily

    relays = asyncio.gather(*(count(sales, facts[i : i + 7]) for i in range(0, 600, 7)))
    rebuilt = await put(sales, facts[::2])
    await relays
    await summarize(sales, rebuilt, newest(facts))

    assert await stored_days(collections) == fold_days(facts)


async def test_a_summary_never_goes_back_to_an_older_sum(collections: Collections) -> None:
    """Two writers sum a bucket at different revisions; whichever arrives last, the
    summary keeps the newer sum."""
    first = delivered_order("order-0", 30)
    bucket = sale_facts(first, UTC_ZONE)[0].bucket
    second = next(
        order
        for order in (delivered_order(f"order-{i}", 30) for i in range(1, 10_000))
        if sale_facts(order, UTC_ZONE)[0].bucket == bucket
    )
    sales = collections.sales_daily
    await count(sales, sale_facts(first, UTC_ZONE))
    older = await sales.find({"entries": {"$exists": True}}).to_list()
    await count(sales, sale_facts(second, UTC_ZONE))

    await _summarize(sales, older, {})  # a slow writer's sum arrives late

    assert await stored_days(collections) == fold_days(
        [*sale_facts(first, UTC_ZONE), *sale_facts(second, UTC_ZONE)]
    )


async def test_days_follow_the_time_zone(collections: Collections) -> None:
    late = delivered_order("late", 30) | {
        "created_at": datetime(2026, 12, 7, 23, 50, tzinfo=UTC),
        "updated_at": datetime(2026, 12, 8, 0, 20, tzinfo=UTC),
    }
    await SalesProjection(Fixed(collections.sales_daily), ZoneInfo("Asia/Tokyo")).apply([late])

    assert set(await stored_days(collections)) == {date(2026, 12, 8).isoformat()}
