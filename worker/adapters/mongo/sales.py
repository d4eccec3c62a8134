"""The sales report in MongoDB: one document per day, its totals beside what it counted.

A day's document holds its totals (`placed`, `delivered`, `cancelled`,
`revenue_cents`, `delivery_ms`, `pizzas.<key>.{name,size,quantity,revenue_cents}`)
and, under `counted.<order key>`, the facts of each order counted in them. A fact
is added by one single-document update that matches only while the order's
entry lacks it (`$ne`) and adds it with `$addToSet` while it `$inc`s the totals:
atomic on every back end, so a fact sent twice, by two workers, or by a relay and a
rebuild at once, counts once. `rev` counts the writes of a day, for the rebuild's
compare-and-set. `sales.daily` reads the days of its range with one `$in` on `_id`.
"""

import dataclasses
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from ...application.sales import SaleFact, daily_report, days_between, increments, labels, new_facts
from .batch import chunks
from .errors import DUPLICATE_KEY, database_call
from .readmodels import Place

Document = dict[str, Any]
NOT_TOTALS = {"counted": 0, "rev": 0}


def _statement(fact: SaleFact, upsert: bool) -> UpdateOne:
    path = f"counted.{fact.order_key}"
    update: Document = {
        "$inc": {**increments(fact), "rev": 1},
        "$addToSet": {path: fact.fact},
    }
    if named := labels(fact):
        update["$set"] = named
    return UpdateOne({"_id": fact.day.isoformat(), path: {"$ne": fact.fact}}, update, upsert=upsert)


async def count(collection: AsyncCollection[Document], facts: Sequence[SaleFact]) -> None:
    """Add each fact to its day unless it is there already. A day's first fact inserts
    the day (upsert); a fact counted already makes that upsert collide with the day's
    `_id`, and a collision is tried once more without upsert, which then adds the fact
    only if a concurrent first insert took the day without it."""
    for chunk in chunks(list(facts)):
        try:
            await collection.bulk_write([_statement(f, True) for f in chunk], ordered=False)
        except BulkWriteError as error:
            errors = error.details["writeErrors"]
            if any(e["code"] != DUPLICATE_KEY for e in errors):
                raise
            again = [_statement(chunk[e["index"]], False) for e in errors]
            await collection.bulk_write(again, ordered=False)


@dataclasses.dataclass
class DayFold:
    """A day's facts gathered in memory by a rebuild."""

    counted: dict[str, set[str]] = dataclasses.field(default_factory=dict)
    facts: list[SaleFact] = dataclasses.field(default_factory=list)

    def add(self, fact: SaleFact) -> None:
        if fact.fact not in self.counted.setdefault(fact.order_key, set()):
            self.counted[fact.order_key].add(fact.fact)
            self.facts.append(fact)


def fold(facts: Iterable[SaleFact]) -> dict[date, DayFold]:
    days: dict[date, DayFold] = {}
    for fact in facts:
        days.setdefault(fact.day, DayFold()).add(fact)
    return days


async def merge(collection: AsyncCollection[Document], day: date, folded: DayFold) -> None:
    """Add a rebuild's facts of one day in one write, leaving out those a relay counted
    meanwhile; the write is a compare-and-set on `rev`, read again when a relay wrote."""
    key = day.isoformat()
    while True:
        held = await collection.find_one({"_id": key}, {"counted": 1, "rev": 1})
        counted: Mapping[str, list[str]] = held.get("counted", {}) if held else {}
        missing = [f for f in folded.facts if f.fact not in counted.get(f.order_key, ())]
        if not missing:
            return
        added: Counter[str] = Counter()
        named: dict[str, str] = {}
        by_order: dict[str, list[str]] = {}
        for fact in missing:
            added.update(increments(fact))
            named.update(labels(fact))
            by_order.setdefault(f"counted.{fact.order_key}", []).append(fact.fact)
        update: Document = {
            "$inc": {**added, "rev": 1},
            "$addToSet": {path: {"$each": facts} for path, facts in by_order.items()},
        }
        if named:
            update["$set"] = named
        if held is None:  # every write sets `rev`: only a day not there yet matches
            try:
                await collection.update_one({"_id": key, "rev": None}, update, upsert=True)
                return
            except DuplicateKeyError:
                continue  # a relay inserted the day first: read it again
        result = await collection.update_one({"_id": key, "rev": held["rev"]}, update)
        if result.matched_count:
            return


class SalesProjection:
    """Keeps the sales report as the relay publishes orders' events."""

    def __init__(self, place: Place, zone: ZoneInfo) -> None:
        self._place = place
        self._zone = zone

    async def apply(self, docs: Sequence[Mapping[str, Any]]) -> None:
        facts = [fact for doc in docs for fact in new_facts(doc, self._zone)]
        if not facts:
            return
        for collection in await self._place.writing():
            await count(collection, facts)


class MongoSalesReport:
    def __init__(self, place: Place, zone: ZoneInfo) -> None:
        self._place = place
        self.zone = zone

    async def daily(self, first: date, last: date) -> Mapping[str, Any]:
        days = [day.isoformat() for day in days_between(first, last)]
        async with database_call("read the sales report"):
            found = await self._place.reading.find({"_id": {"$in": days}}, NOT_TOTALS).to_list()
        return daily_report(first, last, self.zone, found)
