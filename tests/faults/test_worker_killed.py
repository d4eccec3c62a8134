"""SIGKILL the worker again and again under load: every command takes effect exactly once
and is answered, every event is published at least once."""

import random

import pytest

from .harness import Reporter
from .ledger import LOST_CUSTOMER_UPDATES
from .plans import plan_orders, plan_pizzas
from .scenario import SCALE, Scenarios, Underway, assert_nothing_lost_nor_done_twice, scaled

pytestmark = pytest.mark.faults

ORDERS = scaled(160)  # x 5 commands = 800
PHONES = 50
PIZZAS = scaled(12)  # x (1 + 99) commands = 1,200
UPDATES = 99
"""Orders and pizzas both: menu commands go through the same store, inbox and outbox as
order commands, on a collection of a dozen documents, so many commands meet one."""
IN_FLIGHT = 40  # aggregates at once
KILLS = 6
LOAD_TIMEOUT = 900.0


@pytest.mark.timeout(LOAD_TIMEOUT + 300)
async def test_killing_the_worker_under_load_loses_nothing_and_does_nothing_twice(
    scenarios: Scenarios, report: Reporter
) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    plans = plan_orders(ORDERS, PHONES, rng) + plan_pizzas(PIZZAS, UPDATES, rng)
    rng.shuffle(plans)
    total = sum(len(plan.steps) for plan in plans)
    report.say(
        f"\n[killed] seed {seed}: {ORDERS} orders x 5 and {PIZZAS} pizzas x {UPDATES + 1} "
        f"= {total} commands, {KILLS} SIGKILLs"
    )

    async def kill_now_and_then(run: Underway) -> None:
        """A SIGKILL at a random point of each seventh of the load: placed by commands
        answered, not by time, so the load cannot end before the kills however fast the
        database is."""
        for kill in range(1, KILLS + 1):
            await run.until_answered((kill + rng.uniform(0, 0.5)) / (KILLS + 1))
            before = run.worker.pid
            await run.worker.restart()
            report.say(
                f"[killed] SIGKILL #{run.worker.kills} at {run.client.answered} answered: "
                f"pid {before}, now {run.worker.pid}"
            )

    ledger, worker = await scenarios.run(
        "killed", plans, in_flight=IN_FLIGHT, fault=kill_now_and_then, timeout=LOAD_TIMEOUT
    )
    ledger.details["SIGKILLs"] = worker.kills
    report.ledger(ledger)

    assert total >= 2000 or SCALE < 1, "the issue asks for at least 2,000 commands"
    assert worker.kills >= 5, "the load ended before the worker was killed five times"
    assert_nothing_lost_nor_done_twice(ledger, worker.log)
    assert ledger.details[LOST_CUSTOMER_UPDATES] == 0, "\n".join(ledger.lines())
