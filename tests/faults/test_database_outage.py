"""Stop the database for about ten seconds under load: commands wait for it, nothing is lost,
nothing is dead-lettered."""

import random

import pytest

from tests.e2e.amqp import DEAD_LETTER, header

from .harness import MakeCapture, Reporter
from .plans import plan_orders
from .scenario import Scenarios, assert_nothing_lost_nor_done_twice, outage, scaled
from .services import LocalDatabase

pytestmark = pytest.mark.faults

ORDERS = scaled(60)  # x 5 commands
PHONES = 20
IN_FLIGHT = 50
STOP_AFTER = 0.2
"""The share of the load answered when the fault strikes."""
DOWN_FOR = 10.0
LOAD_TIMEOUT = 300.0


@pytest.mark.timeout(LOAD_TIMEOUT + 240)
async def test_stopping_the_database_under_load_loses_nothing_and_dead_letters_nothing(
    scenarios: Scenarios, capture: MakeCapture, report: Reporter, local_database: LocalDatabase
) -> None:
    seed = random.randrange(2**32)
    report.say(f"\n[database] seed {seed}: {ORDERS} orders x 5 commands, the database stopped")
    dead_letters = await capture(DEAD_LETTER, "")

    ledger, worker = await scenarios.run(
        "database",
        plan_orders(ORDERS, PHONES, random.Random(seed)),
        in_flight=IN_FLIGHT,
        fault=outage(
            "database", report, local_database.stopped, after=STOP_AFTER, down_for=DOWN_FOR
        ),
        timeout=LOAD_TIMEOUT,
    )
    dead = [m for m in await dead_letters.drain() if m.message_id in ledger.message_ids]
    ledger.details["dead-lettered"] = len(dead)
    for message in dead[:10]:
        ledger.problem(
            f"dead-lettered {message.routing_key} {message.message_id}: "
            f"{header(message, 'x-error-reason')} {header(message, 'x-error-detail')}"
        )
    report.ledger(ledger)

    assert ledger.details["worker runs (pids)"] == 1, "the worker had to be started again"
    assert not dead, "\n".join(ledger.lines())
    assert_nothing_lost_nor_done_twice(ledger, worker.log)
