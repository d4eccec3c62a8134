"""Deadlines under SIGKILLs, with two workers on the same orders: every timeout's action
is stored and published exactly once, and the ledger counts each."""

import asyncio
import random
import time

import pytest

from .harness import Reporter
from .plans import plan_orders
from .scenario import Scenarios, Underway, assert_nothing_lost_nor_done_twice, scaled

pytestmark = pytest.mark.faults

LEFT_ALONE = scaled(60)
"""Orders placed and never cooked: each warned, then cancelled."""
OUT_TOO_LONG = scaled(30)
"""Orders sent out and never delivered: each flagged late."""
PHONES = 20
WARN, CANCEL, LATE = 3.0, 12.0, 3.0
"""The cancellation comes well after the warning, so that a delivery order whose cooking
a SIGKILL held up is at most warned (and counted so), never cancelled."""
SETTINGS = {
    "PIZZERIA_KITCHEN_WARN_AFTER": str(WARN),
    "PIZZERIA_KITCHEN_CANCEL_AFTER": str(CANCEL),
    "PIZZERIA_DELIVERY_LATE_AFTER": str(LATE),
    "PIZZERIA_DEADLINE_POLL_SECONDS": "0.2",
}
ALL_DONE_WITHIN = CANCEL + 60.0
"""After the load: time for every action, the kills' restarts included."""


@pytest.mark.timeout(600)
async def test_every_timeout_takes_effect_once_through_kills_and_two_workers(
    scenarios: Scenarios, report: Reporter
) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    plans = plan_orders(LEFT_ALONE, PHONES, rng, steps_taken=0)
    plans += plan_orders(OUT_TOO_LONG, PHONES, rng, steps_taken=3)  # assigned, out
    rng.shuffle(plans)
    report.say(
        f"\n[deadlines] seed {seed}: {LEFT_ALONE} orders left alone, {OUT_TOO_LONG} out "
        "for delivery and left there, two workers, SIGKILLs while timeouts are due"
    )

    async def kill_while_due(run: Underway) -> None:
        """A SIGKILL under the load, then two more once the load is over: while the
        warnings fall due and while the cancellations do. Over when every action is in."""
        await run.until_answered(0.4)
        await run.workers[0].restart()
        await asyncio.wait([run.load])
        ended = time.monotonic()
        for at, worker in ((WARN + 0.3, 1), (CANCEL + 0.3, 0)):
            await asyncio.sleep(max(0.0, ended + at - time.monotonic()))
            await run.workers[worker].restart()
            report.say(f"[deadlines] SIGKILL of worker {worker} {at:.1f} s after the load")
        deadline = time.monotonic() + ALL_DONE_WITHIN
        while time.monotonic() < deadline:
            orders = await scenarios.database.orders.find({}, {"status": 1, "late": 1}).to_list()
            cancelled = sum(order["status"] == "cancelled" for order in orders)
            late = sum((order.get("late") or {}).get("kind") == "delivery" for order in orders)
            if (cancelled, late) == (LEFT_ALONE, OUT_TOO_LONG):
                return
            await asyncio.sleep(0.5)
        report.say(f"[deadlines] still waiting: {cancelled} cancelled, {late} late on the road")

    ledger, workers = await scenarios.run_several(
        "deadlines",
        plans,
        workers=2,
        in_flight=20,
        fault=kill_while_due,
        timeout=300.0,
        worker_settings=SETTINGS,
    )
    ledger.details["SIGKILLs"] = sum(worker.kills for worker in workers)
    report.ledger(ledger)

    summary = "\n".join(ledger.lines())
    assert_nothing_lost_nor_done_twice(ledger, workers[0].log)
    assert ledger.timeouts["kitchen-timeout"] == LEFT_ALONE, summary
    assert ledger.timeouts["delivery-late"] == OUT_TOO_LONG, summary
    # Every order left alone is warned; one sent out may have been, if a kill held it up.
    assert LEFT_ALONE <= ledger.timeouts["kitchen-late"] <= LEFT_ALONE + OUT_TOO_LONG, summary
    assert ledger.details["orders whose events did not arrive as 1..version (first copies)"] == 0
    assert ledger.details["orders whose events do not replay to their stored state"] == 0, summary
