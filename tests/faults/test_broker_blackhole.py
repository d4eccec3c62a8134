"""Black-hole the worker's connection to RabbitMQ for 15 s under load (the broker alive,
every byte dropped, no RST, no FIN): the worker notices within its heartbeat, connects
again once the path is back, and loses nothing. Publishes whose confirm was outstanding
are done again (events by the outbox sweep, with their ids; a reply with its command,
which was never acknowledged). A command whose reply was confirmed is not answered
twice, even when its acknowledgement was lost; only one whose reply may or may not have
arrived (sent, its confirm lost) can be, and the worker says which."""

import random
import re

import pytest

from tests.e2e.amqp import DEAD_LETTER

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
from .harness import MakeCapture, Reporter
from .proxy import proxy_to, through
from .scenario import (
    During,
    Scenarios,
    assert_nothing_lost_nor_done_twice,
    logged_after,
    outage,
)
from .services import RABBITMQ_PORT

pytestmark = pytest.mark.faults

NOTICE_WITHIN = 12.0
"""aiormq gives up after (heartbeat + 1) x 3 s of silence, 9 s at the worker's 2 s
heartbeat (the README says so); the rest is slack for a busy machine."""
NOTICED = "was stuck"
"""aiormq's warning when a connection brought nothing for its heartbeat's grace."""
UNCONFIRMED_EVENTS = "not published, the sweep will retry"
UNCONFIRMED_REPLY = re.compile(r"reply not confirmed.* message_id=(\S+)")
"""The worker's warning for a reply that may have arrived: its command is answered again."""
SETTLED_BEFORE = "delivered again once settled"


@pytest.mark.timeout(LOAD_TIMEOUT + 120)
async def test_a_black_holed_broker_connection_is_noticed_and_nothing_is_lost_or_repeated(
    scenarios: Scenarios, capture: MakeCapture, report: Reporter, amqp_url: str
) -> None:
    seed = random.randrange(2**32)
    report.say(f"\n[broker black-hole] seed {seed}: {ORDERS} orders x 5 commands")
    dead_letters = await capture(DEAD_LETTER, "")
    during = During()

    async with proxy_to(amqp_url, RABBITMQ_PORT) as proxy:
        ledger, worker = await scenarios.run(
            "broker black-hole",
            plans(seed),
            **load_options(),
            fault=outage(
                "broker black-holed",
                report,
                proxy.blackhole,
                after=HOLE_AFTER,
                down_for=HOLE_FOR,
                during=during,
            ),
            worker_settings={"AMQP_URL": through(amqp_url, proxy)},
        )
        dropped = proxy.holes[0].dropped_bytes

    dead = dead_of(ledger, await dead_letters.drain())
    noticed = logged_after(worker.log, NOTICED, during.started)
    unconfirmed = set(UNCONFIRMED_REPLY.findall(worker.log))
    ledger.details.update(
        {
            **hole_details(ledger, during, dropped, noticed),
            "event publishes left to the sweep": worker.log.count(UNCONFIRMED_EVENTS),
            "replies unconfirmed when the connection went (may arrive twice)": len(unconfirmed),
            "deliveries again of messages settled (acknowledged only)": worker.log.count(
                SETTLED_BEFORE
            ),
            "dead-lettered": len(dead),
        }
    )
    report.ledger(ledger)

    summary = "\n".join(ledger.lines())
    assert ledger.details["worker runs (pids)"] == 1, "the worker had to be started again"
    assert not dead, summary
    assert during.sent > 0, "no command was sent during the hole: " + summary
    assert noticed is not None, summary
    assert noticed - during.started < NOTICE_WITHIN, summary
    assert ledger.answered_twice <= unconfirmed, summary
    assert_nothing_lost_nor_done_twice(ledger, worker.log)
