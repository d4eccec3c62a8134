"""`python -m pizzeria_bench.rebuild`: how fast a read model is rebuilt, and what the
queries feel meanwhile.

On a database of its own, it stores `--orders` orders of the last ten days (in
every state), starts the worker as a process, and asks `sales.daily` (the last
30 days) and `orders.get` in turn, `--rate` a second on a fixed schedule: first
with no rebuild (the baseline), then while `python -m worker rebuild sales` runs, then
while `rebuild orders` runs. It prints the rebuilds' rates and the queries'
latencies in each phase, with the targets: a rebuild reads at least 2,000
orders/s, and the queries' p99 stays under 20 ms. Progress goes to stderr.
"""

import argparse
import asyncio
import itertools
import json
import os
import random
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psutil

from pizzeria_contracts import names
from worker.adapters.mongo.batch import chunks
from worker.adapters.mongo.database import Document, connect
from worker.adapters.mongo.documents import OrderCodec
from worker.adapters.mongo.sales import newest, put, summarize
from worker.adapters.mongo.views import order_view_document
from worker.application.sales import SaleFact, sale_facts
from worker.domain.menu import Size
from worker.domain.orders import CustomerDetails, Order, OrderItem
from worker.progress import Progress, progress

from .load import RawClient, percentile_ms
from .processes import WorkerProcess

UTC_ZONE = ZoneInfo("UTC")
TARGET_ORDERS_PER_SECOND = 2_000
TARGET_P99_MS = 20.0
_REBUILT = re.compile(r"rebuilt (\w+) from (\d+) orders in ([\d.]+) s, ([\d.]+) s of them building")


def stored_orders(count: int, seed: int = 21) -> Iterator[Document]:
    """Orders of the last ten days, a fifth each delivered twice over, cancelled,
    confirmed and cooking, as the worker stores them (outbox cleared)."""
    rng = random.Random(seed)
    codec = OrderCodec()
    for number in range(count):
        placed = datetime.now(UTC) - timedelta(days=rng.uniform(0.1, 10))
        placed = placed.replace(microsecond=placed.microsecond // 1000 * 1000)
        pizzas = [rng.choice(("margherita", "pepperoni")) for _ in range(rng.randint(1, 3))]
        price = Decimal("9.09")
        items = [
            OrderItem(f"line-{i}", name, Size.SMALL, (), price) for i, name in enumerate(pizzas)
        ]
        customer = CustomerDetails(f"customer-{number % 50}", "Ann", "+15550100", None)
        order = Order.place(f"seeded-{number:06}", customer, items, "cash", None, placed)
        later = placed + timedelta(minutes=rng.randint(5, 90))
        match number % 5:
            case 0 | 4:
                order.start_cooking(later)
                order.mark_ready(later)
                order.assign_delivery("Luigi", later)
                order.deliver(later)
            case 1:
                order.cancel("changed their mind", later)
            case 3:
                order.start_cooking(later)
        order.pending_events.clear()
        yield {**codec.encode(order), "outbox": [], "inbox": []}


class Queries:
    """`sales.daily` and `orders.get` in turn, `rate` a second on a fixed schedule
    (whether or not the answers are back), until stopped."""

    def __init__(self, client: RawClient, orders: int, rate: float) -> None:
        self._client = client
        self._orders = orders
        self._rate = rate
        self.latencies: list[float] = []
        self.failures = 0

    async def run_until(self, done: asyncio.Future[Any]) -> None:
        today = datetime.now(UTC).date()
        sales = json.dumps(
            {"from": (today - timedelta(days=29)).isoformat(), "to": today.isoformat()}
        ).encode()
        rng = random.Random(7)
        loop = asyncio.get_running_loop()
        calls: set[asyncio.Task[None]] = set()
        start = loop.time()
        for turn in itertools.count():
            if done.done():
                break
            if turn % 2:
                name, body = names.DAILY_SALES, sales
            else:
                order_id = f"seeded-{rng.randrange(self._orders):06}"
                name, body = names.GET_ORDER, json.dumps({"order_id": order_id}).encode()
            call = asyncio.create_task(self._ask(name, body))
            calls.add(call)
            call.add_done_callback(calls.discard)
            await asyncio.wait(
                [done], timeout=max(0.0, start + (turn + 1) / self._rate - loop.time())
            )
        await asyncio.gather(*calls)

    async def _ask(self, name: str, body: bytes) -> None:
        started = time.perf_counter()
        try:
            reply = await self._client.call(names.QUERIES_EXCHANGE, name, body, timeout=30)
            self.failures += reply.get("status") != 200
        except Exception:  # noqa: BLE001 - a timeout or a lost connection is a failed call
            self.failures += 1
        self.latencies.append(time.perf_counter() - started)

    def percentile_ms(self, fraction: float) -> float:
        return percentile_ms(self.latencies, fraction)


async def _seed(url: str, database: str, count: int, bars: Progress) -> None:
    """The orders, their views and the sales report, as the relay would have left them."""
    client = connect(url)
    stored = client[database]
    facts: list[SaleFact] = []
    try:
        tick = bars.stage(f"storing {count:,} orders", count)
        for batch in chunks(list(stored_orders(count)), 1_000):
            await stored.orders.insert_many(batch)
            await stored.order_views.insert_many([order_view_document(order) for order in batch])
            facts += [fact for order in batch for fact in sale_facts(order, UTC_ZONE)]
            for _ in batch:
                tick()
        await summarize(stored.sales_daily, await put(stored.sales_daily, facts), newest(facts))
    finally:
        await client.close()


async def _rebuild(model: str, env: dict[str, str], workdir: Path) -> tuple[str, float]:
    """Runs `python -m worker rebuild`; its last line and its CPU seconds."""
    log = workdir / f"rebuild-{model}.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "worker", "rebuild", model,
            env=env, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        watched = psutil.Process(process.pid)
        cpu = 0.0
        while process.returncode is None:
            try:
                times = watched.cpu_times()
                cpu = times.user + times.system
            except psutil.Error:
                pass
            try:
                await asyncio.wait_for(process.wait(), 0.2)
            except TimeoutError:
                continue
    text = log.read_text("utf-8", "replace")
    if process.returncode != 0 or not (found := _REBUILT.search(text)):
        raise RuntimeError(f"rebuild {model} failed ({process.returncode}):\n{text[-2000:]}")
    return found.group(0), cpu


async def _phase(
    client: RawClient, orders: int, rate: float, until: asyncio.Future[Any]
) -> Queries:
    queries = Queries(client, orders, rate)
    await queries.run_until(until)
    return queries


async def run(args: argparse.Namespace) -> int:
    database = f"bench_rebuild_{uuid.uuid4().hex[:10]}"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PIZZERIA_") and key not in ("MONGODB_URL", "MONGODB_DATABASE")
    }
    env.update(AMQP_URL=args.url, MONGODB_URL=args.mongodb_url, MONGODB_DATABASE=database)
    rows: list[tuple[str, Queries]] = []
    rebuilds: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="pizzeria-rebuild-") as tmp, progress() as bars:
        workdir = Path(tmp)
        await _seed(args.mongodb_url, database, args.orders, bars)
        worker = await WorkerProcess.start(workdir, env, database, "INFO")
        client = await RawClient.connect(args.url)
        try:
            bars.note(f"baseline: queries for {args.baseline_seconds:g} s, no rebuild")
            loop = asyncio.get_running_loop()
            timer: asyncio.Future[None] = loop.create_future()
            loop.call_later(args.baseline_seconds, timer.set_result, None)
            rows.append(
                ("no rebuild (baseline)", await _phase(client, args.orders, args.rate, timer))
            )
            for model in ("sales", "orders"):
                bars.note(f"rebuild {model} while the queries run")
                rebuilding = asyncio.ensure_future(_rebuild(model, env, workdir))
                rows.append(
                    (
                        f"during rebuild {model}",
                        await _phase(client, args.orders, args.rate, rebuilding),
                    )
                )
                rebuilds.append(rebuilding.result())
        finally:
            await client.close()
            await worker.stop()
            mongo = connect(args.mongodb_url)
            await mongo.drop_database(database)
            await mongo.close()
    print(_report(args, rows, rebuilds))
    return 0


REBUILD_COLUMNS = ["rebuild", "orders", "building s", "orders/s building",
                   "total s (waits included)", "CPU ms/order"]  # fmt: skip
QUERY_COLUMNS = ["queries (sales.daily, orders.get in turn)", "calls", "failed",
                 "p50 ms", "p99 ms", "p99 / baseline"]  # fmt: skip


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|---" + "|--:" * (len(header) - 1) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def _report(
    args: argparse.Namespace, rows: list[tuple[str, Queries]], rebuilds: list[tuple[str, float]]
) -> str:
    rebuilt: list[list[str]] = []
    rates: list[float] = []
    for line, cpu in rebuilds:
        found = _REBUILT.search(line)
        assert found is not None
        count, total, building = int(found[2]), float(found[3]), float(found[4])
        rates.append(count / building)
        rebuilt.append(
            [found[1], f"{count:,}", f"{building:.2f}", f"{count / building:,.0f}",
             f"{total:.2f}", f"{cpu * 1000 / count:.3f}"]
        )  # fmt: skip
    baseline = rows[0][1].percentile_ms(0.99)
    asked: list[list[str]] = []
    for label, queries in rows:
        p99 = queries.percentile_ms(0.99)
        asked.append(
            [label, f"{len(queries.latencies):,}", str(queries.failures),
             f"{queries.percentile_ms(0.5):.2f}", f"{p99:.2f}", f"{p99 / baseline:.2f}"]
        )  # fmt: skip
    worst = max(queries.percentile_ms(0.99) for _, queries in rows[1:])
    return "\n".join(
        [
            f"`python -m pizzeria_bench.rebuild --orders {args.orders} --rate {args.rate:g}`",
            "",
            *_table(
                [
                    "rebuild",
                    "orders",
                    "building s",
                    "orders/s building",
                    "total s (waits included)",
                    "CPU ms/order",
                ],
                rebuilt,
            ),
            "",
            *_table(
                [
                    "queries (sales.daily, orders.get in turn)",
                    "calls",
                    "failed",
                    "p50 ms",
                    "p99 ms",
                    "p99 / baseline",
                ],
                asked,
            ),
            "",
            f"- rebuild: slowest {min(rates):,.0f} orders/s building, target "
            f"{TARGET_ORDERS_PER_SECOND:,}: {_verdict(min(rates) >= TARGET_ORDERS_PER_SECOND)}",
            f"- queries during the rebuilds: worst p99 {worst:.2f} ms, target under "
            f"{TARGET_P99_MS:g} ms: {_verdict(worst < TARGET_P99_MS)}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pizzeria_bench.rebuild", description=__doc__)
    parser.add_argument(
        "--url", default=os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    )
    parser.add_argument(
        "--mongodb-url", default=os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/")
    )
    parser.add_argument("--orders", type=int, default=20_000, help="orders stored before")
    parser.add_argument("--rate", type=float, default=100.0, help="queries a second")
    parser.add_argument("--baseline-seconds", type=float, default=10.0)
    return asyncio.run(run(parser.parse_args(argv)))  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
