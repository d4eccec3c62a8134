"""(c) One worker's broker connection black-holed (no reset, no close: the bytes gone)
while it is the active consumer of the shards: RabbitMQ gives its connection up after
missed heartbeats and hands its shards, and what it held unacknowledged, to a standby;
nothing is applied twice and every order's commands stay in the order sent."""

import asyncio
import time

import pytest

from tests.faults.harness import Reporter
from tests.faults.proxy import Proxy
from tests.faults.scenario import Underway

from .cluster import missed_heartbeats_since, port
from .ledger import assert_applied_once_in_order
from .orders import answered_again_across, takeover_seconds
from .scenario import ENTRY, HEARTBEAT, LOAD_TIMEOUT, SHARD_QUEUES, ClusterScenario

pytestmark = pytest.mark.cluster

HOLE_AT = 0.3
"""The share of the load answered when the hole opens."""
HOLE_FOR = 20.0
"""Longer than RabbitMQ waits for missed heartbeats (about 3 x HEARTBEAT) and than the
worker waits before it gives its own end up ((HEARTBEAT + 1) x 3)."""
FAILOVER_LIMIT = 5 * HEARTBEAT
"""RabbitMQ gives a silent connection up after about three heartbeats without a byte
(it looks once a heartbeat, so up to four: 7.6 s measured at 2 s), then the standby
answers its first command within a second."""


@pytest.mark.timeout(LOAD_TIMEOUT + 300)
async def test_a_black_holed_workers_shards_move_to_a_standby_within_the_heartbeat(
    scenario: ClusterScenario, report: Reporter
) -> None:
    plans = scenario.load("black hole")
    proxy = await Proxy(port(1)).start()
    try:
        # The first to subscribe is the active consumer of every shard: the one behind
        # the proxy. It knows only the proxy's address, so it stays cut off until the
        # hole ends, then comes back as a standby.
        scenario.proxied = 0
        await scenario.start_worker(scenario.vhost.url_of(1, through=proxy.port))
        await scenario.start_workers(first=2)
        active = await scenario.active_on()
        shards = {s for s, queue in enumerate(SHARD_QUEUES) if active.get(queue) == 0}
        seen: dict[str, object] = {}

        async def black_hole(run: Underway) -> None:
            await run.until_answered(HOLE_AT)
            seen["at"], seen["wall"] = time.monotonic(), time.time()
            report.say(f"[black hole] opened at {run.client.answered} answered")
            async with proxy.blackhole() as hole:
                await asyncio.sleep(HOLE_FOR)
                seen["after"] = await scenario.active_on()
            seen["dropped"] = hole.dropped_bytes
            report.say(f"[black hole] closed after {HOLE_FOR:.0f} s")

        ledger, client = await scenario.run(
            "black hole",
            plans,
            black_hole,
            client_nodes=[2, 3],
            capture_node=3,
            timeout=LOAD_TIMEOUT,
        )
    finally:
        await proxy.close()
    at = seen.get("at")
    assert isinstance(at, float), "the load ended before the hole opened"
    failover = takeover_seconds(client, plans, shards, at)
    again, unexplained = answered_again_across(client, at)
    wall = seen["wall"]
    assert isinstance(wall, float)
    noticed = missed_heartbeats_since(wall)
    after = seen.get("after")
    assert isinstance(after, dict)
    ledger.details.update(
        {
            "shards of the worker behind the proxy": sorted(shards),
            "it was the entry queue's active consumer": active.get(ENTRY) == 0,
            "active consumers during the hole (queue: worker, 0-based)": after,
            "bytes dropped": seen.get("dropped"),
            "RabbitMQ gave its connection up (missed heartbeats) after (s)": (
                round(noticed[0] - wall, 2) if noticed else None
            ),
            "failover: its shards served again after (s)": failover and round(failover, 2),
            "commands answered before the hole and again after (redelivered)": again,
        }
    )
    report.ledger(ledger)
    summary = "\n".join(ledger.lines())
    assert shards, "the worker behind the proxy was active on no shard\n" + summary
    assert failover is not None, "its shards never answered again\n" + summary
    assert failover < FAILOVER_LIMIT, summary
    assert all(after.get(queue) in (1, 2) for queue in SHARD_QUEUES), summary
    assert ledger.details["load ended in time"], summary
    assert not unexplained, f"answered twice, not across the hole: {unexplained}\n{summary}"
    assert ledger.details["exit code on SIGTERM at the end"] == 0, summary
    assert_applied_once_in_order(ledger)
