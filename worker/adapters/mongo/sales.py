"""The sales report in MongoDB: buckets of facts, and one summary document a day.

A bucket (`_id` `<day>/<nn>`) keeps the facts of its orders under
`entries.<order key><fact>`: writing a fact is a `$set`, the same however often
it is written, matched by `_id` alone (every back end serves that from its
index), and each write adds one to the bucket's `rev`. The writer gets the
bucket back from the same command (`find_one_and_update`), sums its entries and
puts the sum in the day's summary (`_id` `<day>`) under `parts.<nn>` as
`"<rev, 12 digits>|<JSON>"` with `$max`: a string that starts with the bucket's
revision, so the newest sum of a bucket wins whatever order the writers
arrive in, in one atomic update with no read. A writer that dies between the
two writes leaves the summary behind its bucket until the bucket is written
again; the relay writes it again, since it feeds the report before it moves
the order's view. `sales.daily` reads the summaries of its range with one
`$in` on `_id` and adds up their parts.
"""

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from ...application.sales import (
    SaleFact,
    Totals,
    add,
    daily_report,
    days_between,
    new_facts,
    totals,
)
from .batch import chunks, upsert_all
from .errors import database_call
from .readmodels import Place

Document = dict[str, Any]
REV_DIGITS = 12
FEW = 2
"""Buckets written one command each (and returned by it); beyond, one write and one read."""


def part(rev: int, counted: Totals) -> str:
    return f"{rev:0{REV_DIGITS}d}|{orjson.dumps(counted).decode()}"


def day_totals(summary: Mapping[str, Any]) -> Totals:
    """A day's totals: the sum of its buckets' parts."""
    parts = summary.get("parts", {}).values()
    return add(orjson.loads(text[REV_DIGITS + 1 :]) for text in parts)


def _bucket_change(entries: Mapping[str, Any]) -> Document:
    """Set the entries, count the write."""
    return {"$set": dict(entries), "$inc": {"rev": 1}}


def _by_bucket(facts: Iterable[SaleFact]) -> dict[str, dict[str, Any]]:
    buckets: dict[str, dict[str, Any]] = {}
    for fact in facts:
        buckets.setdefault(fact.bucket, {})[f"entries.{fact.key}"] = fact.entry
    return buckets


def _summary(bucket: Mapping[str, Any], through: Mapping[str, datetime]) -> UpdateOne:
    day, _, number = bucket["_id"].partition("/")
    update: Document = {"parts." + number: part(bucket["rev"], totals(bucket.get("entries", {})))}
    if day in through:
        update["through"] = through[day]
    return UpdateOne({"_id": day}, {"$max": update}, upsert=True)


def newest(facts: Iterable[SaleFact]) -> dict[str, datetime]:
    """When the newest of these facts happened, by day: how far the day has got."""
    through: dict[str, datetime] = {}
    for fact in facts:
        day = fact.day.isoformat()
        if day not in through or fact.at > through[day]:
            through[day] = fact.at
    return through


async def _summarize(
    collection: AsyncCollection[Document],
    buckets: list[Document],
    through: Mapping[str, datetime],
) -> None:
    """Put the buckets' sums in their days' summaries, and how far the days have got."""
    await upsert_all(collection, [_summary(bucket, through) for bucket in buckets])


async def _write_bucket(
    collection: AsyncCollection[Document], bucket: str, entries: Mapping[str, Any]
) -> Document:
    update = _bucket_change(entries)
    for attempt in range(2):
        try:
            found = await collection.find_one_and_update(
                {"_id": bucket},
                update,
                {"entries": 1, "rev": 1},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
            assert found is not None  # an upsert returns what it wrote
            return found
        except DuplicateKeyError:  # two first writes of one bucket: the loser goes again
            if attempt:
                raise
    raise AssertionError("unreachable")


async def count(collection: AsyncCollection[Document], facts: Sequence[SaleFact]) -> None:
    """Write the facts into their buckets, and the buckets' sums into their days: a
    bucket or two each with the command that returns it, more with one write for all
    and one read of them back (what is read back may be newer still: its sum wins)."""
    buckets = _by_bucket(facts)
    if len(buckets) <= FEW:
        written = list(
            await asyncio.gather(
                *(_write_bucket(collection, bucket, entries) for bucket, entries in buckets.items())
            )
        )
    else:
        await put(collection, facts)
        found = collection.find({"_id": {"$in": list(buckets)}}, {"entries": 1, "rev": 1})
        written = await found.to_list()
    await _summarize(collection, written, newest(facts))


async def put(collection: AsyncCollection[Document], facts: Sequence[SaleFact]) -> set[str]:
    """Write the facts into their buckets, and no sum: a rebuild's many orders at a time
    (`summarize` follows). Returns the buckets written."""
    buckets = _by_bucket(facts)
    statements = [
        UpdateOne({"_id": bucket}, _bucket_change(entries), upsert=True)
        for bucket, entries in buckets.items()
    ]
    await upsert_all(collection, statements)
    return set(buckets)


async def summarize(
    collection: AsyncCollection[Document], buckets: Iterable[str], through: Mapping[str, datetime]
) -> None:
    """Read these buckets and put their sums in their days' summaries."""
    for chunk in chunks(sorted(buckets), 500):
        found = collection.find({"_id": {"$in": chunk}}, {"entries": 1, "rev": 1})
        await _summarize(collection, await found.to_list(), through)


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
            found = await self._place.reading.find(
                {"_id": {"$in": days}}, {"parts": 1, "through": 1}
            ).to_list()
        through = max((doc["through"] for doc in found if "through" in doc), default=None)
        sums = {doc["_id"]: day_totals(doc) for doc in found}
        return daily_report(first, last, self.zone, sums, through)
