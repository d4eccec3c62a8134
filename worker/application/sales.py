"""The sales report's read model: what each order adds to the day it happened on.

An order counts on up to two days, in the report's time zone: the day it was
placed (`placed`) and the day it ended, delivered (`delivered`: its pizzas,
its revenue, the time from confirmed to delivered) or cancelled
(`cancelled`). Each of these is a fact, kept under a key of its own (the
order's and the fact's), so a fact that arrives twice is the same entry
written twice and counts once. A fact is read from the order's state, not
added up from events, so a late or repeated event can only bring a fact that
is known already. The worker confirms an order when it places it, so
confirmed is `created_at`, and an ended order's `updated_at` is when it ended.

The facts of a day are spread over `BUCKETS` buckets by order, so that no
stored document grows with a day's orders more than 1/`BUCKETS` of them; a
bucket's totals are summed from its entries whenever it changes.
"""

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

BUCKETS = 32
PLACED, DELIVERED, CANCELLED = "placed", "delivered", "cancelled"
FACT_OF_EVENT = {
    "orders.placed": PLACED,
    "orders.delivered": DELIVERED,
    "orders.cancelled": CANCELLED,
}
"""The events that change the report; the others leave it as it is."""

Totals = dict[str, Any]
"""`placed`, `delivered`, `cancelled`, `revenue_cents`, `delivery_ms`, and `pizzas`:
[name, size, quantity, cents] sorted by name and size."""


@dataclasses.dataclass(frozen=True, slots=True)
class SaleFact:
    """One order's part of one day."""

    day: date
    fact: str
    order_key: str
    at: datetime
    """When it happened."""
    cents: int = 0
    delivery_ms: int = 0
    pizzas: tuple[tuple[str, str, int, int], ...] = ()
    """(name, size, quantity, cents) per pizza and size."""

    @property
    def key(self) -> str:
        """The entry's name: the same for the same fact of the same order."""
        return f"{self.order_key}{self.fact[0]}"

    @property
    def bucket(self) -> str:
        return f"{self.day.isoformat()}/{int(self.order_key[:4], 16) % BUCKETS:02d}"

    @property
    def entry(self) -> Any:
        """What the bucket keeps of it: 1, or for a delivery its revenue, time and pizzas."""
        if self.fact != DELIVERED:
            return 1
        return [self.cents, self.delivery_ms, [list(line) for line in self.pizzas]]


def order_key(order_id: str) -> str:
    """A name for the order fit to be a field name (ids may hold dots or dollars)."""
    return hashlib.blake2b(order_id.encode(), digest_size=10).hexdigest()


def cents(amount: Any) -> int:
    return int(Decimal(str(amount)).scaleb(2).to_integral_value())


def day_of(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def sale_facts(order: Mapping[str, Any], zone: ZoneInfo) -> list[SaleFact]:
    """Every fact of this order (a document in the shape of the contract's order view)."""
    key = order_key(order["id"])
    placed_at, ended_at = order["created_at"], order["updated_at"]
    facts = [SaleFact(day_of(placed_at, zone), PLACED, key, placed_at)]
    if order["status"] == CANCELLED:
        facts.append(SaleFact(day_of(ended_at, zone), CANCELLED, key, ended_at))
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
                ended_at,
                cents=cents(order["total_amount"]),
                delivery_ms=int((ended_at - placed_at) / timedelta(milliseconds=1)),
                pizzas=tuple((n, s, q, c) for (n, s), (q, c) in sorted(lines.items())),
            )
        )
    return facts


def new_facts(order: Mapping[str, Any], zone: ZoneInfo) -> list[SaleFact]:
    """The facts brought by the events in this document's outbox: what the relay adds."""
    brought = {
        FACT_OF_EVENT[t] for e in order.get("outbox", ()) if (t := e["type"]) in FACT_OF_EVENT
    }
    if not brought:  # most events change no sales: nothing to compute
        return []
    return [fact for fact in sale_facts(order, zone) if fact.fact in brought]


def empty() -> Totals:
    return {
        PLACED: 0,
        DELIVERED: 0,
        CANCELLED: 0,
        "revenue_cents": 0,
        "delivery_ms": 0,
        "pizzas": [],
    }


def totals(entries: Mapping[str, Any]) -> Totals:
    """The totals of a bucket's entries."""
    counted = empty()
    pizzas: dict[tuple[str, str], list[int]] = {}
    for key, entry in entries.items():
        fact = {"p": PLACED, "d": DELIVERED, "c": CANCELLED}[key[-1]]
        counted[fact] += 1
        if fact == DELIVERED:
            revenue, delivery_ms, lines = entry
            counted["revenue_cents"] += revenue
            counted["delivery_ms"] += delivery_ms
            for name, size, quantity, amount in lines:
                line = pizzas.setdefault((name, size), [0, 0])
                line[0] += quantity
                line[1] += amount
    counted["pizzas"] = [[n, s, q, c] for (n, s), (q, c) in sorted(pizzas.items())]
    return counted


def add(parts: Iterable[Totals]) -> Totals:
    """The sum of several buckets' totals."""
    placed = delivered = cancelled = revenue = delivery_ms = 0
    pizzas: dict[tuple[str, str], list[int]] = {}
    for part in parts:
        placed += part[PLACED]
        delivered += part[DELIVERED]
        cancelled += part[CANCELLED]
        revenue += part["revenue_cents"]
        delivery_ms += part["delivery_ms"]
        for name, size, quantity, amount in part["pizzas"]:
            line = pizzas.get((name, size))
            if line is None:
                pizzas[name, size] = [quantity, amount]
            else:
                line[0] += quantity
                line[1] += amount
    return {
        PLACED: placed,
        DELIVERED: delivered,
        CANCELLED: cancelled,
        "revenue_cents": revenue,
        "delivery_ms": delivery_ms,
        "pizzas": [[n, s, q, c] for (n, s), (q, c) in sorted(pizzas.items())],
    }


def fold_days(facts: Iterable[SaleFact]) -> dict[str, Totals]:
    """Each day's totals from these facts, each fact once: the report from scratch."""
    entries: dict[str, dict[str, Any]] = {}
    for fact in facts:
        entries.setdefault(fact.day.isoformat(), {})[fact.key] = fact.entry
    return {day: totals(kept) for day, kept in entries.items()}


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def money(amount: int) -> str:
    return str(Decimal(amount).scaleb(-2).quantize(Decimal("0.01")))


def daily_report(
    first: date,
    last: date,
    zone: ZoneInfo,
    days: Mapping[str, Totals],
    through: datetime | None = None,
) -> dict[str, Any]:
    """The reply of `sales.daily`: every day of the range, those without sales at zero;
    `through`: when the newest fact counted in these days happened."""
    return {
        "time_zone": zone.key,
        "from": first.isoformat(),
        "to": last.isoformat(),
        "counted_through": None if through is None else through.isoformat(),
        "days": [
            _day(day, days.get(day.isoformat(), empty())) for day in days_between(first, last)
        ],
    }


def _day(day: date, counted: Totals) -> dict[str, Any]:
    delivered = counted[DELIVERED]
    return {
        "day": day.isoformat(),
        "orders_placed": counted[PLACED],
        "orders_delivered": delivered,
        "orders_cancelled": counted[CANCELLED],
        "revenue": money(counted["revenue_cents"]),
        "average_delivery_seconds": (
            round(counted["delivery_ms"] / delivered / 1000, 3) if delivered else None
        ),
        "pizzas": [
            {"name": name, "size": size, "quantity": quantity, "revenue": money(amount)}
            for name, size, quantity, amount in sorted(
                counted["pizzas"], key=lambda line: (line[0].casefold(), line[1])
            )
        ],
    }
