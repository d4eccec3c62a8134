"""Rebuilding a read model from the stored orders while the workers run.

`python -m worker rebuild sales|orders|deadlines` announces a fresh copy in `read_models`
(every relay then writes it too), waits until every worker knows, reads every
stored order, a batch at a time and at most `PACE` a second, and writes what it
folds into the copy; then it switches the queries to the copy, waits again, and
drops the collection before. What a relay writes during the rebuild is in the copy exactly
once: sales facts are counted once whoever counts them first, and an order's
view is newest-version-wins. A batch's orders are read again after their views
are written, and those that moved meanwhile are written again, so a change a
relay could not write to the copy yet (its view was not there) is not lost.
"""

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ...application.deadlines import Timeouts
from ...application.sales import sale_facts
from ...progress import Tick
from .database import INDEXES
from .deadlines import keep_all
from .documents import OrderCodec
from .outbox import put_views
from .readmodels import announce, switch
from .sales import newest, put, summarize
from .views import order_view_document

log = logging.getLogger("worker.rebuild")

Document = dict[str, Any]
BATCH = 500
"""Orders read, folded and written at a time."""
NOT_READ = {"inbox": 0}
PACE = 2_500.0
"""Orders a second at most, by default: on a small machine an unbridled rebuild takes
the CPU the workers answer with (docs/performance.md)."""


@dataclasses.dataclass(frozen=True)
class Rebuilt:
    name: str
    collection: str
    orders: int
    seconds: float
    """From the announcement to the old copy dropped, the waits included."""
    building_seconds: float
    """From the first order read to the copy complete."""


class Fold(Protocol):
    """Writes what a read model makes of a batch of stored orders into its copy, and
    finishes the copy once every batch is in."""

    async def __call__(self, copy: AsyncCollection[Document], orders: list[Document]) -> None: ...

    async def finish(self, copy: AsyncCollection[Document]) -> None: ...


class SalesFold:
    """Each batch's facts go into their buckets with no sum; the buckets written are
    summed into their days once, at the end (a relay sums those it writes itself)."""

    def __init__(self, zone: ZoneInfo) -> None:
        self._zone = zone
        self._buckets: set[str] = set()
        self._through: dict[str, datetime] = {}

    async def __call__(self, copy: AsyncCollection[Document], orders: list[Document]) -> None:
        facts = [fact for order in orders for fact in sale_facts(order, self._zone)]
        self._buckets |= await put(copy, facts)
        for day, at in newest(facts).items():
            self._through[day] = max(at, self._through.get(day, at))

    async def finish(self, copy: AsyncCollection[Document]) -> None:
        await summarize(copy, self._buckets, self._through)


@dataclasses.dataclass(frozen=True)
class OrderViewsFold:
    """An order's view is its stored state, unless events of it wait in its outbox
    unpublished: then its view before (the record that they have not gone out), which
    the relay moves on when it publishes them. Views copied from before are read again
    after they are written, and copied again if a relay moved them meanwhile: it writes
    the view before first, and could not move a view the copy did not have yet."""

    before: AsyncCollection[Document]

    async def __call__(self, copy: AsyncCollection[Document], orders: list[Document]) -> None:
        copied: dict[Any, int] = {}
        views: list[Document] = []
        held = await self._views([o["_id"] for o in orders if o.get("outbox")])
        for order in orders:
            before = held.get(order["_id"])
            if not order.get("outbox") or (before and before["version"] >= order["version"]):
                views.append(order_view_document(order))
            elif before is not None:
                views.append(before)
                copied[order["_id"]] = before["version"]
        while views:
            await put_views(copy, views, [], {}, size=BATCH)
            held = await self._views(list(copied))
            views = [view for i, view in held.items() if view["version"] > copied[i]]
            copied = {view["_id"]: view["version"] for view in views}

    async def _views(self, ids: list[Any]) -> dict[Any, Document]:
        if not ids:
            return {}
        found = await self.before.find({"_id": {"$in": ids}}).to_list()
        return {view["_id"]: view for view in found}

    async def finish(self, copy: AsyncCollection[Document]) -> None:
        return None


@dataclasses.dataclass(frozen=True)
class DeadlinesFold:
    """Each order's wake-up, from its stored state; newest version wins against the
    relays writing the copy too (and a wake-up is only a hint: the order decides)."""

    timeouts: Timeouts
    codec: OrderCodec = dataclasses.field(default_factory=OrderCodec)

    async def __call__(self, copy: AsyncCollection[Document], orders: list[Document]) -> None:
        await keep_all(copy, [self.codec.decode(order) for order in orders], self.timeouts)

    async def finish(self, copy: AsyncCollection[Document]) -> None:
        return None


@dataclasses.dataclass(frozen=True)
class ReadModel:
    name: str
    default: str
    fold: Callable[[AsyncCollection[Document]], Fold]
    """Given the collection the queries read before the rebuild."""
    reads: Mapping[str, int]
    """What it reads of a stored order (a projection)."""


SALES_READS = dict.fromkeys(
    ["id", "status", "created_at", "updated_at", "items", "total_amount", "version"], 1
)


def rebuildable(zone: ZoneInfo, timeouts: Timeouts) -> dict[str, ReadModel]:
    return {
        "sales": ReadModel("sales", "sales_daily", lambda _: SalesFold(zone), SALES_READS),
        "orders": ReadModel("orders", "order_views", OrderViewsFold, NOT_READ),
        "deadlines": ReadModel(
            "deadlines", "deadlines", lambda _: DeadlinesFold(timeouts), NOT_READ
        ),
    }


async def rebuild(
    database: AsyncDatabase[Document],
    model: ReadModel,
    *,
    known_after_seconds: float,
    stage: Callable[[str, int], Tick],
    force: bool = False,
    pace: float = PACE,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Rebuilt:
    """`pace`: orders a second at most (0: as fast as it goes)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    copy_name = f"{model.default}_{uuid.uuid4().hex[:8]}"
    before = await announce(database, model.name, model.default, copy_name, force=force)
    copy = database[copy_name]
    for index in INDEXES.get(model.default, []):
        await copy.create_indexes([index])
    log.info(
        "rebuilding %s into %s; waiting %.1f s for every worker to know",
        model.name,
        copy_name,
        known_after_seconds,
    )
    await sleep(known_after_seconds)
    building = loop.time()
    folding = model.fold(database[before.collection])
    orders = database["orders"]
    total = await orders.estimated_document_count()
    tick = stage(f"rebuild {model.name}", total)
    done = 0
    batch: list[Document] = []
    async for order in orders.find({}, model.reads).batch_size(BATCH):
        batch.append(order)
        if len(batch) == BATCH:
            done += await _write_batch(orders, folding, copy, batch, model.reads, tick)
            batch = []
            if pace and (ahead := building + done / pace - loop.time()) > 0:
                await sleep(ahead)
    if batch:
        done += await _write_batch(orders, folding, copy, batch, model.reads, tick)
    await folding.finish(copy)
    built = loop.time() - building
    await switch(database, model.name, copy_name)
    log.info(
        "queries of %s read %s; waiting %.1f s to drop %s",
        model.name,
        copy_name,
        known_after_seconds,
        before.collection,
    )
    await sleep(known_after_seconds)
    await database.drop_collection(before.collection)
    return Rebuilt(model.name, copy_name, done, loop.time() - started, built)


async def _write_batch(
    orders: AsyncCollection[Document],
    folding: Fold,
    copy: AsyncCollection[Document],
    batch: list[Document],
    reads: Mapping[str, int],
    tick: Tick,
) -> int:
    """Write a batch, then read its orders' versions again and write those that moved
    meanwhile, until none has."""
    current = batch
    while current:
        await folding(copy, current)
        versions = {order["_id"]: order["version"] for order in current}
        found = orders.find({"_id": {"$in": list(versions)}}, {"version": 1})
        moved = [o["_id"] for o in await found.to_list() if o["version"] != versions[o["_id"]]]
        current = await orders.find({"_id": {"$in": moved}}, reads).to_list() if moved else []
    for _ in batch:
        tick()
    return len(batch)


def describe(result: Rebuilt) -> str:
    rate = result.orders / result.building_seconds if result.building_seconds else 0.0
    return (
        f"rebuilt {result.name} from {result.orders} orders in {result.seconds:.2f} s, "
        f"{result.building_seconds:.2f} s of them building ({rate:,.0f} orders/s): "
        f"queries read {result.collection}"
    )
