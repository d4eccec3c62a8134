"""Black-hole the path to the database for 15 s under load (the server alive, every byte
dropped, no reset): no call hangs the worker, commands wait for the database and run
once it answers, nothing is lost or dead-lettered, and /health/ready says the database
is down while it lasts and ready after."""

import asyncio
import dataclasses
import json
import random
import time

import aiohttp
import pytest

from tests.e2e.amqp import DEAD_LETTER, header
from tests.e2e.test_operations import endpoint, get
from worker.settings import with_option

from .blackhole import (
    HOLE_AFTER,
    HOLE_FOR,
    LOAD_TIMEOUT,
    ORDERS,
    dead_of,
    hole_details,
    load_options,
    plans,
)
from .harness import MakeCapture, Reporter, eventually
from .proxy import proxy_to, through
from .scenario import (
    During,
    Scenarios,
    Underway,
    assert_nothing_lost_nor_done_twice,
    logged_after,
    outage,
)
from .services import DATABASE_PORT

pytestmark = pytest.mark.faults

OPERATION_TIMEOUT = 10.0
"""The worker's default `PIZZERIA_MONGODB_OPERATION_TIMEOUT_SECONDS`."""
READY_AGAIN_WITHIN = 15.0
PROBE_SLACK = 2.5
"""A probe waits up to 1 s for the broker and 1 s for the database: one asked this close
to either end of the hole may be answered across its edge (before it takes hold, or
after the path is back); every probe asked within the hole otherwise must fail."""
NOTICED = "database unavailable: holding messages"


@dataclasses.dataclass(frozen=True)
class Readiness:
    asked: float
    """time.time() when asked."""
    status: int
    mongodb: bool


async def watch_readiness(url: str, seen: list[Readiness], every: float = 0.5) -> None:
    while True:
        asked = time.time()
        try:
            status, body = await asyncio.wait_for(get(url), 10)
            seen.append(Readiness(asked, status, json.loads(body)["checks"]["mongodb"]))
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError, KeyError):
            pass  # a sample lost, not a finding: the others say it
        await asyncio.sleep(every)


@pytest.mark.timeout(LOAD_TIMEOUT + 120)
async def test_a_black_holed_database_holds_commands_until_it_answers_and_loses_nothing(
    scenarios: Scenarios, capture: MakeCapture, report: Reporter, mongodb_url: str
) -> None:
    seed = random.randrange(2**32)
    report.say(f"\n[database black-hole] seed {seed}: {ORDERS} orders x 5 commands")
    dead_letters = await capture(DEAD_LETTER, "")
    during, readiness = During(), list[Readiness]()

    async with proxy_to(mongodb_url, DATABASE_PORT) as proxy:
        hole = outage(
            "database black-holed",
            report,
            proxy.blackhole,
            after=HOLE_AFTER,
            down_for=HOLE_FOR,
            during=during,
        )

        async def fault(run: Underway) -> None:
            ready = endpoint(run.worker.current) + "health/ready"
            watching = asyncio.create_task(watch_readiness(ready, readiness))
            try:
                await hole(run)

                async def ready_again() -> bool:
                    return any(r.status == 200 and r.asked > during.ended for r in readiness)

                await eventually(ready_again, READY_AGAIN_WITHIN, "ready again after the hole")
            finally:
                watching.cancel()

        url = with_option(through(mongodb_url, proxy), "directConnection", "true")
        ledger, worker = await scenarios.run(
            "database black-hole",
            plans(seed),
            **load_options(),
            fault=fault,
            worker_settings={"MONGODB_URL": url},
        )
        dropped = proxy.holes[0].dropped_bytes

    dead = dead_of(ledger, await dead_letters.drain())
    in_hole = [
        r for r in readiness if during.started + PROBE_SLACK <= r.asked < during.ended - PROBE_SLACK
    ]
    noticed = logged_after(worker.log, NOTICED, during.started)
    ready = [r.asked for r in readiness if r.status == 200 and r.asked > during.ended]
    ready_after = min(ready, default=float("nan"))
    ledger.details.update(
        {
            **hole_details(ledger, during, dropped, noticed),
            "readiness samples during the hole (mongodb down)": (
                f"{len(in_hole)} ({sum(not r.mongodb and r.status == 503 for r in in_hole)})"
            ),
            "ready again after the hole (s)": round(ready_after - during.ended, 1),
            "dead-lettered": len(dead),
        }
    )
    for message in dead[:10]:
        ledger.problem(
            f"dead-lettered {message.routing_key} {message.message_id}: "
            f"{header(message, 'x-error-reason')} {header(message, 'x-error-detail')}"
        )
    report.ledger(ledger)

    summary = "\n".join(ledger.lines())
    assert ledger.details["worker runs (pids)"] == 1, "the worker had to be started again"
    assert not dead, summary
    assert during.sent > 0, "no command was sent during the hole: " + summary
    assert noticed is not None, summary
    assert noticed - during.started < OPERATION_TIMEOUT + 2, summary
    assert in_hole, summary
    assert all(r.status == 503 and not r.mongodb for r in in_hole), in_hole
    assert not ledger.answered_twice, summary
    assert_nothing_lost_nor_done_twice(ledger, worker.log)
