"""A flood of malformed messages of many kinds among valid traffic: every valid message is
processed, every malformed one is dead-lettered with its reason, the worker never restarts."""

import asyncio
import collections
import random
import time

import pytest
from aio_pika.abc import AbstractIncomingMessage

from tests.e2e.amqp import DEAD_LETTER, RawClient, Reply, header, new_id

from .capture import Capture
from .harness import MakeCapture, Reporter
from .malformed import Bad, malformed
from .plans import plan_orders
from .scenario import Scenarios, Underway, assert_nothing_lost_nor_done_twice, scaled

pytestmark = pytest.mark.faults

ORDERS = scaled(40)  # x 5 commands = 200 valid
MALFORMED = scaled(1050)
PER_SECOND = 60
LOAD_TIMEOUT = 300.0
DEAD_LETTERS_WITHIN = 60.0
FAULT_ID = "x-fault-id"
"""A header of ours on every malformed message: its dead letter keeps it."""


class Flood:
    """Sends malformed messages, a `reply_to` on about every other one, and collects
    their dead letters and replies."""

    def __init__(self, url: str, rng: random.Random) -> None:
        self._url = url
        self._rng = rng
        self.sent: dict[str, Bad] = {}
        self.asked: dict[str, asyncio.Future[Reply]] = {}
        self.dead_letters: dict[str, list[AbstractIncomingMessage]] = collections.defaultdict(list)
        self.extra_replies = 0

    async def run(self, messages: list[Bad], dead_letters: Capture) -> None:
        """Send them all, PER_SECOND a second; then wait for every dead letter and reply."""
        raw = await RawClient.connect(self._url)
        try:
            batch = PER_SECOND // 4
            for start in range(0, len(messages), batch):
                await asyncio.gather(
                    *(self._send(raw, bad) for bad in messages[start : start + batch])
                )
                await asyncio.sleep(0.25)
            deadline = time.monotonic() + DEAD_LETTERS_WITHIN
            while time.monotonic() < deadline and not self._all_back():
                for message in await dead_letters.drain(quiet=0.5):
                    self.dead_letters[str(header(message, FAULT_ID))].append(message)
                await asyncio.sleep(1)
            self.extra_replies = len(raw.unexpected)
        finally:
            await raw.close()

    def _all_back(self) -> bool:
        return set(self.sent) <= set(self.dead_letters) and all(
            future.done() for future in self.asked.values()
        )

    async def _send(self, raw: RawClient, bad: Bad) -> None:
        fault_id = new_id()
        self.sent[fault_id] = bad
        message_id = new_id() if bad.with_message_id else None
        headers = {**bad.headers, FAULT_ID: fault_id}
        asking = self._rng.random() < 0.5  # half name a reply queue
        sent = await (raw.ask if asking else raw.publish)(
            bad.exchange,
            bad.routing_key,
            bad.body,
            message_id=message_id,
            correlation_id=fault_id,
            headers=headers,
            content_type=bad.content_type,
        )
        if asking:
            assert isinstance(sent, asyncio.Future)
            self.asked[fault_id] = sent


@pytest.mark.timeout(LOAD_TIMEOUT + 240)
async def test_malformed_messages_are_dead_lettered_and_valid_ones_processed(
    scenarios: Scenarios, capture: MakeCapture, report: Reporter
) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    bad = malformed(MALFORMED, rng)
    kinds = collections.Counter(b.kind for b in bad)
    report.say(
        f"\n[malformed] seed {seed}: {ORDERS * 5} valid commands, {len(bad)} malformed "
        f"of {len(kinds)} kinds"
    )
    dead_letters = await capture(DEAD_LETTER, "")
    flood = Flood(scenarios.amqp_url, rng)
    pids: list[int] = []
    running_after_the_flood: list[bool] = []

    async def flood_alongside(run: Underway) -> None:
        pids.append(run.worker.pid)
        started = time.monotonic()
        await flood.run(bad, dead_letters)
        report.say(f"[malformed] {len(flood.sent)} sent in {time.monotonic() - started:.1f} s")
        running_after_the_flood.append(run.worker.current.running)

    ledger, worker = await scenarios.run(
        "malformed",
        plan_orders(ORDERS, 10, rng),
        in_flight=20,
        fault=flood_alongside,
        timeout=LOAD_TIMEOUT,
    )
    seen = flood.dead_letters
    wrong = [
        (bad.kind, bad.reason, header(seen[fid][0], "x-error-reason"))
        for fid, bad in flood.sent.items()
        if seen.get(fid) and header(seen[fid][0], "x-error-reason") != bad.reason
    ]
    missing = [bad.kind for fid, bad in flood.sent.items() if not seen.get(fid)]
    twice = [bad.kind for fid, bad in flood.sent.items() if len(seen.get(fid, ())) > 1]
    unanswered = [flood.sent[fid].kind for fid, reply in flood.asked.items() if not reply.done()]
    statuses = collections.Counter(
        reply.result().status for reply in flood.asked.values() if reply.done()
    )
    valid_dead = [m for ms in seen.values() for m in ms if m.message_id in ledger.message_ids]
    ledger.details.update(
        {
            "malformed sent (kinds)": f"{len(flood.sent)} ({len(kinds)})",
            "malformed dead-lettered with the expected reason": len(flood.sent)
            - len(missing)
            - len(wrong),
            "malformed dead-lettered with another reason": len(wrong),
            "malformed not dead-lettered (lost)": len(missing),
            "malformed dead-lettered more than once": len(twice),
            "malformed with reply_to / answered": f"{len(flood.asked)} / "
            f"{len(flood.asked) - len(unanswered)}",
            "statuses of those answers": dict(statuses),
            "extra replies to malformed messages": flood.extra_replies,
            "valid messages dead-lettered": len(valid_dead),
            "worker pid unchanged": worker.pids == pids,
        }
    )
    ledger.lost += len(missing)
    ledger.duplicate_effects += len(twice)
    for kind, expected, got in wrong[:10]:
        ledger.problem(f"{kind}: dead-lettered as {got}, not {expected}")
    for kind in sorted(set(missing))[:10]:
        ledger.problem(f"{kind}: not dead-lettered")
    for kind in sorted(set(unanswered))[:10]:
        ledger.problem(f"{kind}: had a reply_to but no answer")
    report.ledger(ledger)

    summary = "\n".join(ledger.lines())
    assert worker.pids == pids, "the worker restarted:\n" + summary
    assert running_after_the_flood == [True], "the worker died:\n" + summary
    assert ledger.details["tracebacks in the worker's log"] == 0, worker.log[-5000:]
    assert not missing, summary
    assert not wrong, summary
    assert not twice, summary
    assert not unanswered, summary
    assert set(statuses) == {400}, summary
    assert flood.extra_replies == 0, summary
    assert not valid_dead, summary
    assert_nothing_lost_nor_done_twice(ledger, worker.log)
