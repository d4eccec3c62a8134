"""The sales report's read model: what each order adds to the day it happened on.

An order counts on up to two days, in the report's time zone: the day it was
placed (`placed`) and the day it ended, delivered (`delivered`: its pizzas,
its revenue, the time from confirmed to delivered) or cancelled
(`cancelled`). Each of these is a fact, counted once per order whatever order
or how often it arrives: the fact is read from the order's state, not added up
from events, so a late or repeated event can only bring a fact that is counted
already. The worker confirms an order when it places it, so confirmed is
`created_at`, and an ended order's `updated_at` is when it ended.
"""

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

MAX_DAYS = 92
"""The longest range `sales.daily` answers, both ends included."""

PLACED, DELIVERED, CANCELLED = "placed", "delivered", "cancelled"
FACT_OF_EVENT = {
    "orders.placed": PLACED,
    "orders.delivered": DELIVERED,
    "orders.cancelled": CANCELLED,
}
"""The events that change the report; the others leave it as it is."""


@dataclasses.dataclass(frozen=True, slots=True)
class PizzaLine:
    name: str
    size: str
    quantity: int
    cents: int


@dataclasses.dataclass(frozen=True, slots=True)
class SaleFact:
    """One order's part of one day: counted once, under `order_key`."""

    day: date
    fact: str
    order_key: str
    cents: int = 0
    delivery_ms: int = 0
    pizzas: tuple[PizzaLine, ...] = ()


def order_key(order_id: str) -> str:
    """A name for the order fit to be a field name (ids may hold dots or dollars)."""
    return hashlib.blake2b(order_id.encode(), digest_size=10).hexdigest()


def pizza_key(name: str, size: str) -> str:
    return hashlib.blake2b(f"{name}\0{size}".encode(), digest_size=8).hexdigest()


def cents(amount: Any) -> int:
    return int(Decimal(str(amount)).scaleb(2).to_integral_value())


def day_of(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def sale_facts(order: Mapping[str, Any], zone: ZoneInfo) -> list[SaleFact]:
    """Every fact of this order (a document in the shape of the contract's order view)."""
    key = order_key(order["id"])
    placed_at, ended_at = order["created_at"], order["updated_at"]
    facts = [SaleFact(day_of(placed_at, zone), PLACED, key)]
    if order["status"] == CANCELLED:
        facts.append(SaleFact(day_of(ended_at, zone), CANCELLED, key))
    elif order["status"] == DELIVERED:
        lines: dict[tuple[str, str], list[int]] = {}
        for item in order["items"]:
            line = lines.setdefault((item["name"], item["size"]), [0, 0])
            line[0] += 1
            line[1] += cents(item["unit_price"])
        facts.append(
            SaleFact(
                day_of(ended_at, zone),
                DELIVERED,
                key,
                cents=cents(order["total_amount"]),
                delivery_ms=int((ended_at - placed_at) / timedelta(milliseconds=1)),
                pizzas=tuple(PizzaLine(n, s, q, c) for (n, s), (q, c) in lines.items()),
            )
        )
    return facts


def new_facts(order: Mapping[str, Any], zone: ZoneInfo) -> list[SaleFact]:
    """The facts brought by the events in this document's outbox: what the relay adds."""
    brought = {FACT_OF_EVENT.get(entry["type"]) for entry in order.get("outbox", ())}
    return [fact for fact in sale_facts(order, zone) if fact.fact in brought]


def increments(fact: SaleFact) -> dict[str, int]:
    """What the fact adds to its day's totals, by field."""
    added = {fact.fact: 1}
    if fact.fact == DELIVERED:
        added["revenue_cents"] = fact.cents
        added["delivery_ms"] = fact.delivery_ms
        for line in fact.pizzas:
            key = pizza_key(line.name, line.size)
            added[f"pizzas.{key}.quantity"] = line.quantity
            added[f"pizzas.{key}.revenue_cents"] = line.cents
    return added


def labels(fact: SaleFact) -> dict[str, str]:
    """The names of the pizzas the fact counts, kept beside their totals."""
    named: dict[str, str] = {}
    for line in fact.pizzas:
        key = pizza_key(line.name, line.size)
        named[f"pizzas.{key}.name"] = line.name
        named[f"pizzas.{key}.size"] = line.size
    return named


def fold_days(facts: Iterable[SaleFact]) -> dict[str, dict[str, Any]]:
    """The days' documents these facts make, each fact once, in the stored shape less
    what it counted: the report from scratch, to compare with the kept one."""
    days: dict[str, dict[str, Any]] = {}
    seen: set[tuple[date, str, str]] = set()
    for fact in facts:
        if (fact.day, fact.fact, fact.order_key) in seen:
            continue
        seen.add((fact.day, fact.fact, fact.order_key))
        doc = days.setdefault(fact.day.isoformat(), {"_id": fact.day.isoformat()})
        for path, value in (increments(fact) | labels(fact)).items():
            *parents, leaf = path.split(".")
            target = doc
            for parent in parents:
                target = target.setdefault(parent, {})
            target[leaf] = target.get(leaf, 0) + value if isinstance(value, int) else value
    return days


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def money(cents_: int) -> str:
    return str(Decimal(cents_).scaleb(-2).quantize(Decimal("0.01")))


def daily_report(
    first: date, last: date, zone: ZoneInfo, days: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """The reply of `sales.daily`: every day of the range, those without sales at zero."""
    by_day = {doc["_id"]: doc for doc in days}
    return {
        "time_zone": zone.key,
        "from": first.isoformat(),
        "to": last.isoformat(),
        "days": [_day(day, by_day.get(day.isoformat(), {})) for day in days_between(first, last)],
    }


def _day(day: date, doc: Mapping[str, Any]) -> dict[str, Any]:
    delivered = doc.get(DELIVERED, 0)
    pizzas = sorted(
        doc.get("pizzas", {}).values(), key=lambda line: (line["name"].casefold(), line["size"])
    )
    return {
        "day": day.isoformat(),
        "orders_placed": doc.get(PLACED, 0),
        "orders_delivered": delivered,
        "orders_cancelled": doc.get(CANCELLED, 0),
        "revenue": money(doc.get("revenue_cents", 0)),
        "average_delivery_seconds": (
            round(doc.get("delivery_ms", 0) / delivered / 1000, 3) if delivered else None
        ),
        "pizzas": [
            {
                "name": line["name"],
                "size": line["size"],
                "quantity": line.get("quantity", 0),
                "revenue": money(line.get("revenue_cents", 0)),
            }
            for line in pizzas
        ],
    }
