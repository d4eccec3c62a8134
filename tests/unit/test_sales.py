"""The sales report: what an order counts on which day, and the `sales.daily` query."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from pizzeria_contracts import DailySales, SalesReport, names
from worker.application.sales import (
    CANCELLED,
    DELIVERED,
    PLACED,
    add,
    daily_report,
    fold_days,
    new_facts,
    sale_facts,
    totals,
)

from .pizzeria import Pizzeria

UTC_ZONE = ZoneInfo("UTC")
PLACED_AT = datetime(2026, 12, 6, 23, 30, tzinfo=UTC)


def order(
    status: str = "confirmed", ended: timedelta = timedelta(0), **changes: Any
) -> dict[str, Any]:
    """An order as its document has it (the contract's view)."""
    return {
        "id": "order-1",
        "status": status,
        "created_at": PLACED_AT,
        "updated_at": PLACED_AT + ended,
        "items": [
            {"name": "Margherita", "size": "large", "unit_price": "15.59"},
            {"name": "Margherita", "size": "large", "unit_price": "16.59"},
            {"name": "Pepperoni", "size": "small", "unit_price": "11.99"},
        ],
        "total_amount": "44.17",
    } | changes


def test_a_confirmed_order_counts_as_placed_on_the_day_it_was_placed() -> None:
    (fact,) = sale_facts(order(), UTC_ZONE)

    assert (fact.day, fact.fact, fact.cents, fact.pizzas) == (date(2026, 12, 6), PLACED, 0, ())


def test_a_delivered_order_counts_its_pizzas_revenue_and_time_on_its_delivery_day() -> None:
    placed, delivered = sale_facts(order("delivered", timedelta(minutes=42)), UTC_ZONE)

    assert (placed.day, placed.fact) == (date(2026, 12, 6), PLACED)
    assert (delivered.day, delivered.fact) == (date(2026, 12, 7), DELIVERED)
    assert delivered.cents == 4417
    assert delivered.delivery_ms == 42 * 60 * 1000
    assert delivered.pizzas == (("Margherita", "large", 2, 3218), ("Pepperoni", "small", 1, 1199))


def test_a_cancelled_order_counts_no_revenue() -> None:
    _placed, cancelled = sale_facts(order("cancelled", timedelta(minutes=5)), UTC_ZONE)

    assert (cancelled.fact, cancelled.cents, cancelled.pizzas) == (CANCELLED, 0, ())


def test_days_are_those_of_the_report_time_zone() -> None:
    placed, delivered = sale_facts(
        order("delivered", timedelta(minutes=20)), ZoneInfo("America/New_York")
    )

    assert (placed.day, delivered.day) == (date(2026, 12, 6), date(2026, 12, 6))


def test_the_relay_brings_only_the_facts_of_the_events_it_publishes() -> None:
    cooking = order("cooking", outbox=[{"type": "orders.cooking-started"}])
    delivered = order("delivered", timedelta(minutes=9), outbox=[{"type": "orders.delivered"}])

    assert new_facts(cooking, UTC_ZONE) == []
    assert [fact.fact for fact in new_facts(delivered, UTC_ZONE)] == [DELIVERED]


def test_a_fact_folded_twice_counts_once() -> None:
    facts = sale_facts(order("delivered", timedelta(minutes=45)), UTC_ZONE)

    days = fold_days([*facts, *reversed(facts)])

    assert (days["2026-12-06"][PLACED], days["2026-12-06"][DELIVERED]) == (1, 0)
    assert days["2026-12-06"]["revenue_cents"] == 0
    assert (days["2026-12-07"][DELIVERED], days["2026-12-07"]["revenue_cents"]) == (1, 4417)


def test_the_report_has_every_day_of_the_range_and_the_contract_reads_it() -> None:
    orders = [
        order("delivered", timedelta(minutes=30), id="a"),
        order("delivered", timedelta(minutes=60), id="b"),
        order("cancelled", timedelta(hours=1), id="c"),
    ]
    days = fold_days(fact for o in orders for fact in sale_facts(o, UTC_ZONE))

    report = daily_report(date(2026, 12, 5), date(2026, 12, 7), UTC_ZONE, days)
    parsed = SalesReport.model_validate(report)

    assert [day.day for day in parsed.days] == [date(2026, 12, d) for d in (5, 6, 7)]
    empty, placed, ended = parsed.days
    assert (empty.orders_placed, empty.revenue, empty.average_delivery_seconds) == (
        0,
        Decimal("0.00"),
        None,
    )
    assert (placed.orders_placed, placed.orders_delivered) == (3, 0)
    assert (ended.orders_delivered, ended.orders_cancelled) == (2, 1)
    assert ended.revenue == Decimal("88.34")
    assert ended.average_delivery_seconds == 45 * 60
    assert [(p.name, p.size, p.quantity, p.revenue) for p in ended.pizzas] == [
        ("Margherita", "large", 4, Decimal("64.36")),
        ("Pepperoni", "small", 2, Decimal("23.98")),
    ]
    assert (parsed.from_, parsed.to, parsed.time_zone) == (
        date(2026, 12, 5),
        date(2026, 12, 7),
        "UTC",
    )


def test_a_buckets_sum_is_its_entries_and_days_add_their_buckets() -> None:
    orders = [order("delivered", timedelta(minutes=45), id=f"o{i}") for i in range(200)]
    facts = [fact for o in orders for fact in sale_facts(o, UTC_ZONE)]
    buckets: dict[str, dict[str, Any]] = {}
    for fact in facts:
        buckets.setdefault(fact.bucket, {})[fact.key] = fact.entry

    by_day: dict[str, list[Any]] = {}
    for bucket, entries in buckets.items():
        by_day.setdefault(bucket.partition("/")[0], []).append(totals(entries))

    assert len(buckets) > 2 * 10  # 200 orders spread over many buckets of each day
    assert {day: add(parts) for day, parts in by_day.items()} == fold_days(facts)


def test_a_range_of_92_days_is_asked_and_93_is_refused_naming_the_limit() -> None:
    DailySales.model_validate({"from": "2026-01-01", "to": "2026-04-02"})

    with pytest.raises(ValidationError, match="at most 92"):
        DailySales.model_validate({"from": "2026-01-01", "to": "2026-04-03"})
    with pytest.raises(ValidationError, match="must not be before"):
        DailySales.model_validate({"from": "2026-01-02", "to": "2026-01-01"})


async def test_sales_daily_counts_what_the_handlers_did() -> None:
    pizzeria = Pizzeria.open()
    delivered = (await pizzeria.place())["id"]
    cancelled = (await pizzeria.place())["id"]
    for name in (names.START_COOKING, names.MARK_READY):
        assert (await pizzeria.command(name, {"order_id": delivered})).result.status == 200
    body = {"order_id": delivered, "driver": "Luigi"}
    assert (await pizzeria.command(names.ASSIGN_DELIVERY, body)).result.status == 200
    assert (
        await pizzeria.command(names.DELIVER_ORDER, {"order_id": delivered})
    ).result.status == 200
    assert (
        await pizzeria.command(names.CANCEL_ORDER, {"order_id": cancelled})
    ).result.status == 200

    outcome = await pizzeria.query(names.DAILY_SALES, {"from": "2026-11-28", "to": "2026-11-28"})

    assert outcome.result.status == 200, outcome.result
    report = SalesReport.model_validate(outcome.result.data)
    assert report.counted_through is not None
    (day,) = report.days
    assert (day.orders_placed, day.orders_delivered, day.orders_cancelled) == (2, 1, 1)
    assert [(p.name, p.quantity) for p in day.pizzas] == [("margherita", 1)]


async def test_a_bad_range_is_a_400_that_names_the_limit() -> None:
    pizzeria = Pizzeria.open()

    outcome = await pizzeria.query(names.DAILY_SALES, {"from": "2026-01-01", "to": "2026-12-31"})

    assert outcome.result.status == 400
    assert "at most 92" in str(outcome.result.model_dump())
