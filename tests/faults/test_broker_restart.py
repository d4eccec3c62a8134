"""Restart RabbitMQ under load: the worker and its clients reconnect, nothing is lost."""

import random

import pytest

from .harness import Reporter
from .plans import plan_orders
from .scenario import Scenarios, assert_nothing_lost_nor_done_twice, outage, scaled
from .services import RabbitMQ

pytestmark = pytest.mark.faults

ORDERS = scaled(60)  # x 5 commands
PHONES = 20
IN_FLIGHT = 50
RESTART_AFTER = 0.2
"""The share of the load answered when the fault strikes."""
DOWN_FOR = 5.0
LOAD_TIMEOUT = 300.0


@pytest.mark.timeout(LOAD_TIMEOUT + 240)
async def test_restarting_rabbitmq_under_load_loses_nothing(
    scenarios: Scenarios, report: Reporter, rabbitmq: RabbitMQ
) -> None:
    seed = random.randrange(2**32)
    report.say(f"\n[broker] seed {seed}: {ORDERS} orders x 5 commands, RabbitMQ restarted")

    ledger, worker = await scenarios.run(
        "broker",
        plan_orders(ORDERS, PHONES, random.Random(seed)),
        in_flight=IN_FLIGHT,
        fault=outage("broker", report, rabbitmq.stopped, after=RESTART_AFTER, down_for=DOWN_FOR),
        timeout=LOAD_TIMEOUT,
    )
    report.ledger(ledger)

    assert ledger.details["worker runs (pids)"] == 1, "the worker had to be started again"
    assert_nothing_lost_nor_done_twice(ledger, worker.log)
