"""(b) The node that leads the command queues killed with kill -9 under load, and started
again: the quorum queues elect new leaders on the two nodes left, the workers and the
client move to another node or ride out the election (their refused publishes tried
again), and every order's ten commands are still applied once each, in the order sent,
and answered."""

import asyncio
import itertools
import time

import pytest

from tests.faults.harness import Reporter
from tests.faults.scenario import Underway

from .cluster import NODES, cluster
from .ledger import assert_applied_once_in_order
from .orders import answered_again_across
from .scenario import ENTRY, LOAD_TIMEOUT, ClusterScenario

pytestmark = pytest.mark.cluster

KILLED_AT = 0.3
"""The share of the load answered when the node is killed."""
DOWN_FOR = 5.0
"""Seconds the node stays down before it is started again."""
RESUMED_WITHIN = 30.0
"""The load must be answered again this soon after the kill: the election takes a few
seconds, a worker's reconnection to another node a few more."""
REFUSED = "refused by pizzeria.worker.commands"
"""The worker's log line when a quorum queue refused a forward, which it then retries."""
CONNECTION_LOST = "broker connection lost; next attempt on"


@pytest.mark.timeout(LOAD_TIMEOUT + 360)
async def test_the_command_queues_leader_killed_and_restarted_loses_and_repeats_nothing(
    scenario: ClusterScenario, report: Reporter
) -> None:
    plans = scenario.load("leader killed")
    await scenario.start_workers()
    leaders = await scenario.vhost.leaders()
    victim = leaders[ENTRY]
    led = sorted(queue for queue, node in leaders.items() if node == victim)
    others = [node for node in NODES if node != victim]
    seen: dict[str, object] = {}

    async def kill_the_leader(run: Underway) -> None:
        await run.until_answered(KILLED_AT)
        seen["answered"] = run.client.answered
        seen["at"] = time.monotonic()
        await cluster("kill9", str(victim))
        report.say(f"[leader killed] kill -9 of node {victim} at {run.client.answered} answered")
        await asyncio.sleep(DOWN_FOR)
        began = time.monotonic()
        await cluster("start", str(victim))
        seen["restart"] = round(time.monotonic() - began, 1)
        report.say(f"[leader killed] node {victim} back in the cluster after {seen['restart']} s")
        seen["leaders"] = await scenario.vhost.leaders()

    # The client starts on the node to be killed: it loses its connection, moves to
    # the next node and sends again what was not confirmed, or not answered.
    ledger, client = await scenario.run(
        "leader killed",
        plans,
        kill_the_leader,
        client_nodes=[victim, *others],
        capture_node=others[-1],
        timeout=LOAD_TIMEOUT,
    )
    at = seen.get("at")
    assert isinstance(at, float), "the load ended before the node was killed"
    replies = sorted(t for times in client.answered_at.values() for t in times)
    resumed = next((t - at for t in replies if t > at), None)
    again, unexplained = answered_again_across(client, at)
    logs = [worker.log for worker in scenario.workers]
    ledger.details.update(
        {
            "killed node (leader of the entry queue)": victim,
            "queues it led": led,
            "leaders after its restart": seen.get("leaders"),
            "its restart took (s)": seen.get("restart"),
            "replies resumed after the kill (s)": resumed and round(resumed, 2),
            "longest gap between replies (s)": round(
                max(b - a for a, b in itertools.pairwise(replies)), 2
            ),
            "commands answered before the kill and again after (redelivered)": again,
            "forwards refused by a shard queue and retried (workers' logs)": sum(
                log.count(REFUSED) for log in logs
            ),
            "workers' broker connections lost (workers' logs)": sum(
                log.count(CONNECTION_LOST) for log in logs
            ),
        }
    )
    report.ledger(ledger)
    summary = "\n".join(ledger.lines())
    assert ledger.details["load ended in time"], summary
    assert resumed is not None, summary
    assert resumed < RESUMED_WITHIN, summary
    assert client.reconnects >= 1, "the client's node was killed: it must have moved\n" + summary
    assert not unexplained, f"answered twice, not across the kill: {unexplained}\n{summary}"
    assert ledger.details["exit code on SIGTERM at the end"] == 0, summary
    assert_applied_once_in_order(ledger)
