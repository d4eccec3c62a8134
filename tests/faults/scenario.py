"""Running an order load while something fails, then counting what came of it."""

import asyncio
import contextlib
import dataclasses
import os
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from tests.e2e.amqp import EVENTS
from worker.adapters.mongo.database import Document

from .harness import MakeCapture, Reporter, StartWorker
from .ledger import Ledger, plan_ledger, wait_for_outboxes
from .load import LoadClient
from .plans import Plan, plan_job
from .worker import WorkerSupervisor

SCALE = float(os.environ.get("FAULTS_SCALE", "1"))
"""Multiplies every load (for a quick local look: FAULTS_SCALE=0.2); CI runs the full size."""
STALL = 90.0
"""Seconds without a single reply after which a load counts as hung."""
FAULT_TIMEOUT = 180.0
"""How long a fault may still take once the load is over (a service coming back)."""
OUTBOX_TIMEOUT = 90.0
"""How long the relay and its sweep may take to publish what is left after the load."""
RESEND_AFTER = 60.0
"""Seconds after which the load sends an unanswered command again (same message_id)."""
PROGRESS_EVERY = 5.0


def scaled(count: int) -> int:
    return max(1, round(count * SCALE))


@dataclasses.dataclass(frozen=True)
class Underway:
    """What a fault may act on while the load runs."""

    workers: list[WorkerSupervisor]
    client: LoadClient
    load: "asyncio.Task[None]"
    total: int
    """Commands in the whole load."""

    @property
    def worker(self) -> WorkerSupervisor:
        """The first (with one worker: the) worker."""
        return self.workers[0]

    async def until_answered(self, share: float) -> None:
        """Until this share of the load is answered; AssertionError if it ended first,
        since a fault that strikes after the load proves nothing."""
        while self.client.answered < share * self.total and not self.load.done():
            await asyncio.wait([self.load], timeout=0.05)
        if self.load.done():
            raise AssertionError(f"the load ended before {share:.0%} of it was answered")


Fault = Callable[[Underway], Coroutine[Any, Any, None]]
"""What goes wrong while the load runs; the scenario waits for it to end."""


@dataclasses.dataclass(frozen=True)
class Scenarios:
    """Runs plans against a worker of the test's own while a fault strikes; the ledger."""

    amqp_url: str
    database: AsyncDatabase[Document]
    start_worker: StartWorker
    capture: MakeCapture
    report: Reporter

    async def run(
        self,
        name: str,
        plans: list[Plan],
        *,
        in_flight: int,
        fault: Fault,
        timeout: float,
        worker_settings: dict[str, str] | None = None,
        spacing: float = 0.0,
        burst: int = 0,
    ) -> tuple[Ledger, WorkerSupervisor]:
        """Every plan's commands, `in_flight` plans at a time, while `fault` strikes; with
        `spacing`, the plans after the first `burst` start one every so many seconds, so
        new commands keep coming at that pace whatever the worker answers."""
        ledger, workers = await self.run_several(
            name,
            plans,
            workers=1,
            in_flight=in_flight,
            fault=fault,
            timeout=timeout,
            worker_settings=worker_settings,
            spacing=spacing,
            burst=burst,
        )
        return ledger, workers[0]

    async def run_several(
        self,
        name: str,
        plans: list[Plan],
        *,
        workers: int,
        in_flight: int,
        fault: Fault,
        timeout: float,
        worker_settings: dict[str, str] | None = None,
        spacing: float = 0.0,
        burst: int = 0,
    ) -> tuple[Ledger, list[WorkerSupervisor]]:
        """As `run`, with this many workers competing for the same queues and database.
        A worker the fault SIGKILLed and did not start again is left down."""
        events = await self.capture(EVENTS, "#")
        started = await asyncio.gather(
            *(self.start_worker(worker_settings or {}) for _ in range(workers))
        )
        client = await LoadClient(self.amqp_url, resend_after=RESEND_AFTER).start()
        try:
            began = time.monotonic()
            jobs = [plan_job(client, p) for p in plans]
            load = asyncio.create_task(_bounded(in_flight, jobs, spacing, burst))
            total = sum(len(plan.steps) for plan in plans)
            striking = asyncio.create_task(fault(Underway(started, client, load, total)))

            def progress() -> str:
                runs = sum(len(worker.pids) for worker in started)
                return (
                    f"[{name}] sent {len(client.commands)}/{total}, answered {client.answered}, "
                    f"re-sent {client.resends}, reconnects {client.reconnects}, "
                    f"worker runs {runs}, {time.monotonic() - began:.0f} s"
                )

            try:
                finished = await self._until_done(client, load, striking, timeout, progress)
                # Whatever happened, let the fault bring its service back (or fail loudly).
                await asyncio.wait_for(striking, FAULT_TIMEOUT)
            finally:
                for task in (load, striking):
                    task.cancel()
                await asyncio.gather(load, striking, return_exceptions=True)
            self.report.say(progress() + (" (done)" if finished else " (stalled or too slow)"))
            wall = time.monotonic() - began
            waiting = await wait_for_outboxes(self.database, OUTBOX_TIMEOUT)
            up = [worker for worker in started if not worker.down]
            exit_codes = await asyncio.gather(*(worker.stop() for worker in up))
            published = await events.drain()
            ledger = await plan_ledger(name, self.database, plans, client, published, wall)
        finally:
            await client.close()
        ledger.details["load ended in time"] = finished
        ledger.details[f"documents whose outbox did not empty within {OUTBOX_TIMEOUT:.0f} s"] = (
            waiting
        )
        ledger.details["worker runs (pids)"] = sum(len(worker.pids) for worker in started)
        ledger.details["exit code on SIGTERM at the end"] = next(
            (code for code in exit_codes if code != 0), 0
        )
        ledger.details["tracebacks in the worker's log"] = sum(
            worker.log.count("Traceback") for worker in started
        )
        return ledger, started

    async def _until_done(
        self,
        client: LoadClient,
        load: "asyncio.Task[None]",
        striking: "asyncio.Task[None]",
        timeout: float,
        progress: Callable[[], str],
    ) -> bool:
        """Whether the load ended; False after `timeout`, after STALL seconds without a
        reply, or when the fault itself failed."""
        deadline = time.monotonic() + timeout
        answered, last_reply = client.answered, time.monotonic()
        next_progress = time.monotonic() + PROGRESS_EVERY
        while not load.done():
            now = time.monotonic()
            if now > deadline or now - last_reply > STALL:
                return False
            if striking.done() and striking.exception() is not None:
                return False
            if now > next_progress:
                self.report.say(progress())
                next_progress = now + PROGRESS_EVERY
            watched = [load] if striking.done() else [load, striking]
            await asyncio.wait(watched, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
            if client.answered != answered:
                answered, last_reply = client.answered, time.monotonic()
        load.result()
        return True


@dataclasses.dataclass
class During:
    """What the load did while an outage lasted."""

    sent: int = 0
    answered: int = 0
    started: float = 0.0
    """When it began (time.time(), to set beside the worker's log)."""
    ended: float = 0.0


def outage(
    name: str,
    report: Reporter,
    stopped: Callable[[], contextlib.AbstractAsyncContextManager[object]],
    *,
    after: float,
    down_for: float,
    during: During | None = None,
) -> Fault:
    """Once the share `after` of the load is answered, a service stopped for `down_for`
    seconds: placed by progress, not by time, so that it strikes under load however
    fast the servers are. `during` learns what the load did meanwhile."""
    during = During() if during is None else during

    async def fault(run: Underway) -> None:
        await run.until_answered(after)
        started = time.monotonic()
        report.say(f"[{name}] stopping it")
        sent, answered = len(run.client.commands), run.client.answered
        during.started = time.time()
        async with stopped():
            await asyncio.sleep(down_for)
            during.ended = time.time()
            during.sent = len(run.client.commands) - sent
            during.answered = run.client.answered - answered
            report.say(f"[{name}] starting it again")
        report.say(f"[{name}] back after {time.monotonic() - started:.1f} s")

    return fault


def logged_after(log: str, marker: str, since: float) -> float | None:
    """When (time.time()) the worker first logged a line holding `marker`, at `since` or
    later; None if it did not."""
    for line in log.splitlines():
        if marker not in line:
            continue
        try:
            at = datetime.fromisoformat(line.split(" ", 1)[0]).timestamp()
        except ValueError:
            continue  # a traceback's line
        if at >= since:
            return at
    return None


def assert_nothing_lost_nor_done_twice(ledger: Ledger, log: str) -> None:
    summary = "\n".join(ledger.lines())
    assert ledger.details["load ended in time"], summary
    assert ledger.lost == 0, summary
    assert ledger.duplicate_effects == 0, summary
    assert ledger.replies == ledger.sent, summary
    assert ledger.details["unexpected statuses"] == 0, summary
    assert ledger.details["commands answered with different statuses"] == 0, summary
    assert ledger.events == ledger.events_expected, summary
    assert ledger.details["order views behind"] == 0, summary
    assert ledger.details["exit code on SIGTERM at the end"] == 0, summary + "\n" + log[-5000:]


async def _bounded(
    limit: int, jobs: list[Callable[[], Awaitable[None]]], spacing: float = 0.0, burst: int = 0
) -> None:
    """Run the jobs, at most `limit` at a time, in the order given; those after the first
    `burst` start no sooner than `spacing` seconds after the one before."""
    semaphore = asyncio.Semaphore(limit)

    async def one(index: int, job: Callable[[], Awaitable[None]]) -> None:
        await asyncio.sleep(max(0, index - burst) * spacing)
        async with semaphore:
            await job()

    await asyncio.gather(*(one(index, job) for index, job in enumerate(jobs)))
