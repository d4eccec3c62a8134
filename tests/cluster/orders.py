"""The load of the cluster tests: orders whose ten commands must be applied in the order
sent, sent back to back, by a client that moves to another node when its node fails.

Each order is placed, then sent nine commands at once, in this order:

    start-cooking      200  cooking      (v3)
    start-cooking      409  it is cooking already
    mark-ready         200  ready        (v4)
    deliver            409  it is ready, not out for delivery
    assign-delivery    200  delivering   (v5, v6)
    mark-ready         409  it is out for delivery
    deliver            200  delivered    (v7)
    cancel             409  it is delivered
    assign-delivery    409  it is delivered

Any two applied the other way round answer otherwise: a refused command applied one
step earlier or later succeeds (a 200 in place of a 409, an extra event), a command
that succeeds applied too early is refused (a 409 in place of a 200, an event
missing). So the replies and each order's events, versions 1 to 7 caused by commands
2, 4, 6 and 8 in turn, say whether the order's commands were applied in the order sent.

The place is answered before the nine are sent: it carries no order id (the worker
names the order), so it goes to the queue of competing consumers, not to its order's
shard. The nine are sent one after another on one channel, each once the broker
confirmed the one before (confirmed, not answered): a publish that RabbitMQ refuses
(a nack during a leader election) or that a dead node never confirmed is sent again
before the next one, with the same message id, so the queue holds them in the order
sent whatever fails.
"""

import asyncio
import dataclasses
import json
import random
import time
import uuid
import zlib
from collections import defaultdict

from aio_pika.abc import AbstractIncomingMessage

from tests.faults.load import LoadClient, _Link
from tests.faults.plans import CONFLICT, PLACE, Plan, Step, plan_orders
from tests.faults.scenario import scaled

ORDERS = scaled(300)
"""FAULTS_SCALE=0.2 for a quick look; CI runs the full size."""
COMMANDS_PER_ORDER = 10
PHONES = 100
SHARDS = 6
CONFIRM_TIMEOUT = 120.0


def plan_sequences(count: int, rng: random.Random) -> list[Plan]:
    """`count` orders, each with the ten commands above."""
    plans = plan_orders(count, PHONES, rng)
    for plan in plans:
        place, cook, ready, assign, deliver = plan.steps
        plan.steps = [
            place,
            cook,
            _refused(cook),
            ready,
            _refused(deliver),
            assign,
            _refused(ready),
            deliver,
            Step(_new_id(), "orders.cancel", {"reason": "too late"}, 0, CONFLICT),
            _refused(assign),
        ]
    return plans


def _refused(step: Step) -> Step:
    return dataclasses.replace(step, message_id=_new_id(), versions=0, expected_status=CONFLICT)


def _new_id() -> str:
    return uuid.uuid4().hex


def shard_of(order_id: str, shards: int = SHARDS) -> int:
    """The shard the worker routes an order's commands to (PIZZERIA_COMMAND_SHARDS)."""
    return zlib.crc32(order_id.encode()) % shards


class ClusterClient(LoadClient):
    """The fault suite's client, on several nodes: when its connection fails it connects
    to the next node of `urls`, and it notes when each reply arrived. Its replies come
    to `reply_queue`, a quorum queue that outlives the client's node, so that it never
    sends again a command RabbitMQ confirmed (see tests/faults/load.py)."""

    def __init__(self, urls: list[str], *, resend_after: float, reply_queue: str) -> None:
        super().__init__(urls[0], resend_after=resend_after, reply_queue=reply_queue)
        self._urls = urls
        self._attempts = 0
        self.answered_at: dict[str, list[float]] = defaultdict(list)
        """time.monotonic() of each command's replies."""

    async def _connect(self, number: int) -> _Link:
        self._url = self._urls[self._attempts % len(self._urls)]
        self._attempts += 1
        return await super()._connect(number)

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        command = self.commands.get(message.correlation_id or "")
        before = len(command.replies) if command else 0
        await super()._on_reply(message)
        if command is not None and len(command.replies) > before:
            self.answered_at[command.message_id].append(time.monotonic())

    async def run(self, plan: Plan) -> None:
        """The place, answered; then the nine, each sent once the one before it is
        confirmed; then until all nine are answered."""
        place, *rest = plan.steps
        reply = await self.call(PLACE, json.dumps(place.body).encode(), place.message_id)
        if reply.status != place.expected_status:
            plan.refused = f"{PLACE}: {reply.status} {reply.body}"
            return
        order_id = str(reply.body["data"]["id"])
        sent = []
        for step in rest:
            body = json.dumps({**step.body, "order_id": order_id}).encode()
            command = self.send(step.command, body, step.message_id)
            sent.append(command)
            try:
                await asyncio.wait_for(command.confirmed.wait(), CONFIRM_TIMEOUT)
            except TimeoutError:
                plan.refused = f"{step.command} {step.message_id} never confirmed"
                return
        await asyncio.gather(*(command.answered.wait() for command in sent))


def takeover_seconds(
    client: ClusterClient, plans: list[Plan], shards: set[int], since: float
) -> float | None:
    """How long after `since` the last of these shards to be served again answered its
    first command among those waiting at `since` (sent before, answered after); a shard
    with nothing waiting is not waited for. None if none of them had anything waiting."""
    firsts: dict[int, float] = {}
    for plan in plans:
        shard = shard_of(plan.aggregate_id)
        if shard not in shards:
            continue
        for step in plan.steps[1:]:
            command = client.commands.get(step.message_id)
            at = client.answered_at.get(step.message_id, [since - 1])[0]
            if command is not None and command.last_sent < since <= at:
                firsts[shard] = min(firsts.get(shard, at), at)
    return max(firsts.values()) - since if firsts else None


def answered_again_across(client: ClusterClient, since: float) -> tuple[int, list[str]]:
    """How many commands sent once were answered twice, and those of them that a fault
    at `since` does not explain: sent after it, or answered twice before it. (One in the
    system at the fault may be delivered twice, as one a dead worker answered or forwarded
    but did not acknowledge; both copies may be answered after the fault.)"""
    again = [
        command
        for command in client.commands.values()
        if command.sends == 1 and len(client.answered_at.get(command.message_id, ())) > 1
    ]
    unexplained = [
        command.message_id
        for command in again
        if not command.last_sent < since <= client.answered_at[command.message_id][1]
    ]
    return len(again), unexplained


async def run_orders(client: ClusterClient, plans: list[Plan], in_flight: int) -> None:
    """Every plan, `in_flight` orders at a time."""
    semaphore = asyncio.Semaphore(in_flight)

    async def one(plan: Plan) -> None:
        async with semaphore:
            await client.run(plan)

    await asyncio.gather(*(one(plan) for plan in plans))
