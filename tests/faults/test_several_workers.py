"""Three workers competing for the same queues on the same database: what only several
workers can break.

RabbitMQ hands consecutive commands of one order to whichever worker is free, so an
order's life is spread over the three (the workers' logs show that it was). Every
command must take effect once, every order end in the state and version its commands
explain, every event reach a subscriber in version order with no gap, whichever worker
stored it; a 409 only where two commands raced on purpose, explained by the order's
history. Killing one of the three halfway (hung first, so that it dies holding a pile of
messages) changes none of that: what it held unacknowledged, the other two finish.
"""

import asyncio
import dataclasses
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from worker.adapters.mongo.database import Document

from .harness import Reporter
from .histories import (
    CONFLICTS_OUTSIDE_RACES,
    CONFLICTS_UNEXPLAINED,
    NOT_REPLAYING,
    OUT_OF_ORDER,
)
from .ledger import LOST_CUSTOMER_UPDATES, Ledger
from .load import Command
from .plans import Plan, plan_orders, plan_races
from .scenario import (
    SCALE,
    Fault,
    Scenarios,
    Underway,
    assert_nothing_lost_nor_done_twice,
    scaled,
)
from .spread import Spread
from .worker import WorkerSupervisor

pytestmark = pytest.mark.faults

WORKERS = 3
ORDERS = scaled(300)  # x 5 commands, each after the previous one's reply
RACING = scaled(60)  # x 3 or 6 commands, the last two at once (plans.RACES)
PHONES = 100
IN_FLIGHT = 60
LOAD_TIMEOUT = 150.0
KILLED_BETWEEN = (0.35, 0.65)
"""The share of the load answered when one worker is killed, drawn from this range."""
HUNG_FOR = 2.0
"""Seconds the worker to be killed hangs first (SIGSTOP), holding what it was handed."""
SPREAD_OVER_SEVERAL = 0.8
"""At least this share of the orders had their commands handled by more than one worker
(all on one of three by chance: 3 x 3^-5, about 1 %)."""


@pytest.fixture
async def database(
    mongo_client: AsyncMongoClient[Document],
) -> AsyncIterator[AsyncDatabase[Document]]:
    """A database for each test, not each module: the ledger counts every order in it,
    so one test must not count the other's."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield mongo_client[name]
    await mongo_client.drop_database(name)


def the_load(seed: int) -> list[Plan]:
    rng = random.Random(seed)
    plans = plan_orders(ORDERS, PHONES, rng) + plan_races(RACING, PHONES // 4, rng)
    rng.shuffle(plans)
    return plans


async def no_fault(run: Underway) -> None:
    """Nothing fails: several workers are the fault."""


@dataclasses.dataclass(frozen=True)
class Killed:
    number: int
    waiting: list[Command]
    """Unanswered at the SIGKILL: after HUNG_FOR seconds, nearly all held by the hung
    worker (the others answer in a fraction of that)."""

    def details(self) -> dict[str, Any]:
        answered = sum(bool(command.replies) for command in self.waiting)
        return {
            "killed worker (not restarted)": self.number + 1,
            "commands unanswered at its SIGKILL, answered by the others since": (
                f"{answered}/{len(self.waiting)}"
            ),
        }


async def _on_three_workers(
    scenarios: Scenarios, name: str, plans: list[Plan], fault: Fault
) -> tuple[Ledger, list[WorkerSupervisor], Spread]:
    """The load on three workers while `fault` strikes; the ledger says how it spread."""
    ledger, workers = await scenarios.run_several(
        name, plans, workers=WORKERS, in_flight=IN_FLIGHT, fault=fault, timeout=LOAD_TIMEOUT
    )
    spread = Spread.of(workers, plans)
    ledger.details.update(spread.details())
    return ledger, workers, spread


@pytest.mark.timeout(LOAD_TIMEOUT + 150)
async def test_three_workers_apply_every_command_once_in_order(
    scenarios: Scenarios, report: Reporter
) -> None:
    seed = random.randrange(2**32)
    plans = the_load(seed)
    report.say(f"\n[three workers] seed {seed}: {_described(plans)}")

    ledger, workers, spread = await _on_three_workers(scenarios, "three workers", plans, no_fault)
    report.ledger(ledger)

    summary = "\n".join(ledger.lines())
    assert min(spread.per_worker) >= ledger.sent / WORKERS / 2, summary
    _assert_orders_spread(spread, len(plans), summary)
    assert spread.handled_twice == 0, summary
    _assert_every_command_once_in_order(ledger, workers)


@pytest.mark.timeout(LOAD_TIMEOUT + 150)
async def test_two_workers_finish_what_a_killed_third_held_and_still_apply_all_once_in_order(
    scenarios: Scenarios, report: Reporter
) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    plans = the_load(seed)
    report.say(f"\n[one of three killed] seed {seed}: {_described(plans)}, one SIGKILLed")
    killed: list[Killed] = []

    async def kill_one(run: Underway) -> None:
        """Halfway or so, one worker hangs (SIGSTOP), then is SIGKILLed, as a supervisor
        kills a worker that stopped answering. Hung, it acknowledges nothing while
        RabbitMQ hands it its share until its prefetch is full: so it dies holding a
        pile of messages, not the one or two a worker this quick has at any moment."""
        await run.until_answered(rng.uniform(*KILLED_BETWEEN))
        number = rng.randrange(WORKERS)
        doomed = run.workers[number]
        doomed.current.pause()
        await asyncio.sleep(HUNG_FOR)
        waiting = [c for c in run.client.commands.values() if not c.answered.is_set()]
        await doomed.kill()
        killed.append(Killed(number, waiting))
        report.say(
            f"[one of three killed] SIGKILL at {run.client.answered} answered, after "
            f"{HUNG_FOR:.0f} s hung: worker {number + 1} (pid {doomed.pid}), "
            f"{len(waiting)} commands unanswered; not restarted"
        )

    ledger, workers, spread = await _on_three_workers(
        scenarios, "one of three killed", plans, kill_one
    )
    for one in killed:
        ledger.details.update(one.details())
    report.ledger(ledger)

    summary = "\n".join(ledger.lines())
    assert killed, "the load ended before a worker was killed"
    number, waiting = killed[0].number, killed[0].waiting
    assert len(waiting) >= IN_FLIGHT / 2, "it did not die holding a pile\n" + summary
    assert all(command.replies for command in waiting), summary
    assert [worker.down for worker in workers] == [i == number for i in range(WORKERS)], summary
    survivors = [n for i, n in enumerate(spread.per_worker) if i != number]
    assert min(survivors) >= ledger.sent / WORKERS / 2, summary
    assert spread.per_worker[number] > 0, summary
    _assert_orders_spread(spread, len(plans), summary)
    _assert_every_command_once_in_order(ledger, workers)


def _described(plans: list[Plan]) -> str:
    commands = sum(len(plan.steps) for plan in plans)
    return (
        f"{ORDERS} orders x 5 commands and {RACING} ending in a race = {commands} commands "
        f"on {WORKERS} workers"
    )


def _assert_orders_spread(spread: Spread, orders: int, summary: str) -> None:
    """The test cannot pass with one worker doing everything: most orders had their
    commands handled by several, and some races were fought across two."""
    several = sum(count for workers, count in spread.orders_by_workers.items() if workers > 1)
    assert several >= SPREAD_OVER_SEVERAL * orders, summary
    assert spread.races_across_workers > 0 or SCALE < 1, summary


def _assert_every_command_once_in_order(ledger: Ledger, workers: list[WorkerSupervisor]) -> None:
    logs = "\n".join(worker.log[-2000:] for worker in workers)
    summary = "\n".join(ledger.lines())
    assert_nothing_lost_nor_done_twice(ledger, logs)
    assert ledger.details[LOST_CUSTOMER_UPDATES] == 0, summary
    assert ledger.details[NOT_REPLAYING] == 0, summary
    assert ledger.details[OUT_OF_ORDER] == 0, summary
    assert ledger.details["aggregates first published out of version order"] == 0, summary
    assert ledger.details[CONFLICTS_OUTSIDE_RACES] == 0, summary
    assert ledger.details[CONFLICTS_UNEXPLAINED] == 0, summary
    assert not ledger.problems, summary
