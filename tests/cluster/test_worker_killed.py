"""(a) Three workers on the cluster, one SIGKILLed mid-run: a standby takes over its
shards within seconds, and every order's ten commands are still applied once each, in
the order sent."""

import time

import pytest

from tests.faults.harness import Reporter
from tests.faults.scenario import Underway

from .ledger import assert_applied_once_in_order
from .orders import answered_again_across, takeover_seconds
from .scenario import ENTRY, LOAD_TIMEOUT, SHARD_QUEUES, WORKERS, ClusterScenario

pytestmark = pytest.mark.cluster

KILLED_AT = 0.4
"""The share of the load answered when the worker is killed."""
FAILOVER_LIMIT = 5.0


@pytest.mark.timeout(LOAD_TIMEOUT + 300)
async def test_a_killed_workers_shards_go_to_a_standby_and_every_order_stays_in_order(
    scenario: ClusterScenario, report: Reporter
) -> None:
    plans = scenario.load("worker killed")
    await scenario.start_workers()
    killed: dict[str, object] = {}
    # Read before the load: it takes seconds, and without a fault it does not change.
    active = await scenario.active_on()

    async def kill_the_busiest(run: Underway) -> None:
        """SIGKILL the worker that is the active consumer of the most shards (the entry
        queue's counts as one more), once KILLED_AT of the load is answered."""
        held = [
            sum(active.get(queue) == number for queue in [ENTRY, *SHARD_QUEUES])
            for number in range(WORKERS)
        ]
        number = max(range(WORKERS), key=held.__getitem__)
        shards = {s for s, queue in enumerate(SHARD_QUEUES) if active.get(queue) == number}
        await run.until_answered(KILLED_AT)
        killed.update(number=number, shards=shards, entry=active.get(ENTRY) == number)
        killed["at"] = time.monotonic()
        await run.workers[number].kill()
        report.say(
            f"[worker killed] SIGKILL worker {number + 1} at {run.client.answered} answered: "
            f"active on shards {sorted(shards)}"
            + (" and the entry queue" if killed["entry"] else "")
        )
        killed["after"] = await scenario.active_on()

    ledger, client = await scenario.run(
        "worker killed",
        plans,
        kill_the_busiest,
        client_nodes=[2, 3, 1],
        capture_node=3,
        timeout=LOAD_TIMEOUT,
    )
    shards = killed.get("shards")
    assert isinstance(shards, set), "the load ended before a worker was killed"
    at = killed["at"]
    assert isinstance(at, float)
    failover = takeover_seconds(client, plans, shards, at)
    again, unexplained = answered_again_across(client, at)
    ledger.details.update(
        {
            "killed worker (not restarted)": f"{killed['number']!s} (0-based)",
            "shards it was the active consumer of": sorted(shards),
            "it was the entry queue's active consumer": killed["entry"],
            "active consumers after the kill (queue: worker, 0-based)": killed["after"],
            "failover: its shards served again after (s)": failover and round(failover, 2),
            "commands answered before the kill and again after (redelivered)": again,
        }
    )
    report.ledger(ledger)
    summary = "\n".join(ledger.lines())
    assert shards, "the killed worker was active on no shard: nothing to fail over\n" + summary
    assert failover is not None, "a shard of the killed worker never answered again\n" + summary
    assert failover < FAILOVER_LIMIT, summary
    after = killed["after"]
    assert isinstance(after, dict)
    assert all(after.get(queue) not in (None, killed["number"]) for queue in SHARD_QUEUES), summary
    assert ledger.details["load ended in time"], summary
    assert ledger.details["exit code on SIGTERM at the end"] == 0, summary
    assert not unexplained, f"answered twice, not across the kill: {unexplained}\n{summary}"
    assert_applied_once_in_order(ledger)
