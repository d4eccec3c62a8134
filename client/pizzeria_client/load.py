"""`pizzeria load`: place orders with a fixed number in flight, and measure every call.

Each order is placed for a customer from a small pool, with pizzas, sizes and
toppings taken from the menu; with `lifecycle` it is then cooked, made ready,
handed to a driver and delivered, one call after another. A failed call ends
its order's walk. Progress goes to stderr, the summary to stdout.
"""

import asyncio
import collections
import dataclasses
import math
import random
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

from pizzeria_contracts import names
from pizzeria_contracts.results import OperationResult
from pizzeria_contracts.views import MenuView

from .client import ConnectionLostError, PizzeriaClient

TOPPINGS = ("basil", "olives", "mushrooms", "onions", "ham", "chili")
DRIVERS = ("Luigi", "Toad", "Yoshi")
FIRST_NAMES = ("Ann", "Bruno", "Chiara", "Dario", "Elena", "Franco", "Giulia", "Marco")
TIMED_OUT = "timeout"
NO_CONNECTION = "no connection"


@dataclasses.dataclass(frozen=True)
class Customer:
    name: str
    phone: str


def customers(count: int, rng: random.Random) -> list[Customer]:
    """A pool of customers with random phone numbers, new for every run."""
    return [
        Customer(FIRST_NAMES[i % len(FIRST_NAMES)], f"+39 3{rng.randrange(10**8, 10**9)}")
        for i in range(count)
    ]


def an_order(menu: MenuView, customer: Customer, rng: random.Random) -> dict[str, Any]:
    """An `orders.place` body of one to three pizzas that are on the menu."""
    sizes = sorted(menu.sizes)
    pizzas = [
        {
            "name": rng.choice(menu.pizzas).name,
            "size": rng.choice(sizes),
            "toppings": rng.sample(TOPPINGS, rng.randrange(3)),
        }
        for _ in range(rng.randint(1, 3))
    ]
    return {"customer_name": customer.name, "customer_phone": customer.phone, "pizzas": pizzas}


def percentile(ordered: Sequence[float], share: float) -> float:
    """The nearest-rank percentile of already sorted values (`share` in 0..1)."""
    if not ordered:
        return math.nan
    return ordered[max(math.ceil(share * len(ordered)), 1) - 1]


@dataclasses.dataclass
class Stats:
    """Every call's latency by message name, and failures by status (or `timeout`)."""

    latencies: dict[str, list[float]] = dataclasses.field(
        default_factory=lambda: collections.defaultdict(list)
    )
    errors: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    orders_done: int = 0
    orders_failed: int = 0
    seconds: float = 0.0
    ended: list[float] = dataclasses.field(default_factory=list)
    """When each order ended, in seconds from the start, in the order they ended."""
    window: int = 1_000
    """Orders per window when comparing the first window's throughput with the last's."""

    @property
    def calls(self) -> int:
        return sum(len(values) for values in self.latencies.values())

    @property
    def failed(self) -> bool:
        return bool(self.errors)

    def record(self, name: str, seconds: float, outcome: str | None) -> None:
        self.latencies[name].append(seconds)
        if outcome is not None:
            self.errors[outcome] += 1

    def summary(self) -> list[str]:
        """The report as lines of text."""
        elapsed = max(self.seconds, 1e-9)
        orders = self.orders_done + self.orders_failed
        lines = [
            f"orders   {orders} in {self.seconds:.2f} s ({orders / elapsed:.1f}/s), "
            f"{self.orders_done} completed, {self.orders_failed} failed",
            f"calls    {self.calls} ({self.calls / elapsed:.1f}/s)",
            f"latency  {'':24} {'count':>6} {'p50':>9} {'p95':>9} {'p99':>9} {'max':>9}",
        ]
        rows = [*self.latencies.items()]
        if len(rows) > 1:
            rows.append(("all", [s for values in self.latencies.values() for s in values]))
        for name, values in rows:
            ordered = sorted(values)
            ms = [percentile(ordered, q) * 1000 for q in (0.50, 0.95, 0.99, 1.0)]
            lines.append(
                f"         {name:24} {len(ordered):>6} " + " ".join(f"{v:>6.1f} ms" for v in ms)
            )
        if (flat := self.flatness()) is not None:
            first, last = flat
            lines.append(
                f"windows  first {self.window}: {first:.1f} orders/s, last {self.window}: "
                f"{last:.1f} orders/s ({last / first:.2f}x)"
            )
        failures = ", ".join(f"{outcome}: {n}" for outcome, n in sorted(self.errors.items()))
        lines.append(f"errors   {failures or 'none'}")
        return lines

    def flatness(self) -> tuple[float, float] | None:
        """Orders a second over the first `window` orders and over the last, or None when
        the run had fewer than two windows: whether the service slows down as data grows."""
        ended, size = self.ended, self.window
        if len(ended) < 2 * size:
            return None
        first = size / max(ended[size - 1], 1e-9)
        last = size / max(ended[-1] - ended[-size - 1], 1e-9)
        return first, last


class ProgressBar:
    """A one-line progress bar, redrawn in place on a terminal, at most ten times a second.

    Elsewhere (a pipe, a log file) only the final state is written.
    """

    def __init__(self, total: int, stream: TextIO | None = None, *, width: int = 30) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.width = width
        self.done = 0
        self.errors = 0
        self._started = time.monotonic()
        self._drawn = 0.0
        self._live = self.stream.isatty()

    def advance(self, *, failed: bool = False) -> None:
        self.done += 1
        self.errors += failed
        now = time.monotonic()
        if self._live and (now - self._drawn >= 0.1 or self.done == self.total):
            self._drawn = now
            self.stream.write("\r" + self.line())
            self.stream.flush()

    def finish(self) -> None:
        self.stream.write(("\r" if self._live else "") + self.line() + "\n")
        self.stream.flush()

    def line(self) -> str:
        share = self.done / self.total if self.total else 1.0
        filled = round(share * self.width)
        rate = self.done / max(time.monotonic() - self._started, 1e-9)
        return (
            f"[{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} "
            f"{share:4.0%}  {rate:.1f} orders/s  errors {self.errors}"
        )


@dataclasses.dataclass(frozen=True)
class Plan:
    """How much load: `orders` in all, `in_flight` at a time."""

    orders: int
    in_flight: int
    lifecycle: bool = False
    customers: int = 8
    seed: int | None = None
    window: int = 1_000


class Load:
    """Runs a plan against the worker through one client."""

    def __init__(self, client: PizzeriaClient, plan: Plan, progress: ProgressBar) -> None:
        self._client = client
        self._plan = plan
        self._progress = progress
        self._rng = random.Random(plan.seed)
        self._customers = customers(plan.customers, self._rng)
        self.stats = Stats(window=plan.window)
        self._started = time.perf_counter()

    async def run(self) -> Stats:
        menu = await self._client.get_menu()
        numbers = iter(range(self._plan.orders))
        self._started = time.perf_counter()
        lanes = min(self._plan.in_flight, self._plan.orders)
        await asyncio.gather(*(self._lane(menu, numbers) for _ in range(lanes)))
        self.stats.seconds = time.perf_counter() - self._started
        self._progress.finish()
        return self.stats

    async def _lane(self, menu: MenuView, numbers: Iterator[int]) -> None:
        for _ in numbers:
            ok = await self._order(menu)
            if ok:
                self.stats.orders_done += 1
            else:
                self.stats.orders_failed += 1
            self.stats.ended.append(time.perf_counter() - self._started)
            self._progress.advance(failed=not ok)

    async def _order(self, menu: MenuView) -> bool:
        body = an_order(menu, self._rng.choice(self._customers), self._rng)
        placed = await self._call(names.PLACE_ORDER, body)
        if placed is None or not self._plan.lifecycle:
            return placed is not None
        order_id = placed.data["id"]
        steps = [
            (names.START_COOKING, {"order_id": order_id}),
            (names.MARK_READY, {"order_id": order_id}),
            (names.ASSIGN_DELIVERY, {"order_id": order_id, "driver": self._rng.choice(DRIVERS)}),
            (names.DELIVER_ORDER, {"order_id": order_id}),
        ]
        for name, step in steps:
            if await self._call(name, step) is None:
                return False
        return True

    async def _call(self, name: str, body: dict[str, Any]) -> OperationResult | None:
        """The successful result, or None with the failure recorded."""
        started = time.perf_counter()
        result: OperationResult | None = None
        try:
            result = await self._client.send(name, body)
            outcome = None if result.ok else str(result.status)
        except TimeoutError:
            outcome = TIMED_OUT
        except ConnectionLostError:
            outcome = NO_CONNECTION
        self.stats.record(name, time.perf_counter() - started, outcome)
        return result if outcome is None else None


async def run_load(client: PizzeriaClient, plan: Plan, stream: TextIO | None = None) -> Stats:
    """Run the plan, drawing progress on `stream` (stderr); the caller prints the summary."""
    return await Load(client, plan, ProgressBar(plan.orders, stream)).run()
