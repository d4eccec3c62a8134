"""The dead-letter tool against a real broker, on a dead-letter queue of each test's own.

Each letter is made the way the worker makes it: the original is published to a
temporary exchange (so that is where it "first arrived"), taken from a queue
bound there, and dead-lettered by the worker's own publisher into the test's
queue. Replays come back to that same bound queue, where the test catches them.
"""

import asyncio
import dataclasses
import json
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from pizzeria_client.deadletters import DeadLetters, Filter
from pizzeria_contracts import names
from worker.adapters.rabbit.publishing import RabbitPublisher
from worker.entrypoints.subscribers import context_of

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
JSON = "application/json"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@dataclasses.dataclass
class Harness:
    channel: AbstractChannel
    queue: str
    """The tool's dead-letter queue, this test's own."""
    origin: AbstractExchange
    """Where the originals first arrived; replays go back there."""
    arrivals: AbstractQueue
    """Bound to `origin` for every routing key."""
    worker: RabbitPublisher
    tool: DeadLetters

    async def dead_letter(
        self,
        routing_key: str,
        reason: str,
        *,
        body: bytes = b'{"order_id": "o-1"}',
        user_id: str | None = None,
        headers: dict[str, Any] | None = None,
    ) -> str:
        """Send a message to `origin` and have the worker dead-letter it; its message_id."""
        message_id = uuid.uuid4().hex
        original = aio_pika.Message(
            body,
            content_type=JSON,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message_id,
            correlation_id=f"corr-{message_id}",
            reply_to="replies.somewhere",
            user_id=user_id,
            headers={names.TRACEPARENT_HEADER: TRACEPARENT, **(headers or {})},
        )
        await self.origin.publish(original, routing_key=routing_key)
        request = await self.arrivals.get(timeout=5)
        await self.worker.dead_letter(
            request, context_of(request, "guest"), reason, f"{reason} on {routing_key}"
        )
        await request.ack()
        return message_id

    async def letter(self, headers: dict[str, Any]) -> str:
        """A dead letter put straight into the queue with these headers; its message_id."""
        message_id = uuid.uuid4().hex
        message = aio_pika.Message(b"{}", content_type=JSON, message_id=message_id, headers=headers)
        await self.channel.default_exchange.publish(message, routing_key=self.queue)
        return message_id

    async def ids(self) -> list[str | None]:
        """The message_ids in the queue, in order (read by the tool, so left in place)."""
        return [letter.message_id for letter in (await self.tool.list()).matched]

    async def replays(self) -> list[AbstractIncomingMessage]:
        await asyncio.sleep(0.2)  # confirmed means enqueued; a moment more for good measure
        arrived = []
        while (message := await self.arrivals.get(no_ack=True, fail=False)) is not None:
            arrived.append(message)
        return arrived


@pytest.fixture
async def harness(connection: AbstractRobustConnection) -> AsyncIterator[Harness]:
    suffix = uuid.uuid4().hex[:12]
    channel = await connection.channel()
    queue = await channel.declare_queue(
        f"test.dead-letter.{suffix}", durable=True, arguments={"x-expires": 600_000}
    )
    dead_letters = await channel.declare_exchange(
        f"test.dead-letter.{suffix}", aio_pika.ExchangeType.FANOUT, auto_delete=True
    )
    await queue.bind(dead_letters)
    origin = await channel.declare_exchange(
        f"test.origin.{suffix}", aio_pika.ExchangeType.TOPIC, auto_delete=True
    )
    arrivals = await channel.declare_queue(exclusive=True)
    await arrivals.bind(origin, routing_key="#")
    worker = RabbitPublisher(origin, origin, dead_letters, "guest")
    yield Harness(
        channel, queue.name, origin, arrivals, worker, DeadLetters(connection, queue.name)
    )
    await queue.delete(if_unused=False, if_empty=False)
    await channel.close()


async def test_listing_shows_the_dead_letters_in_order_and_leaves_them(harness: Harness) -> None:
    first = await harness.dead_letter("orders.place", "invalid-json", body=b"{not json")
    second = await harness.dead_letter("orders.cancel", "retries-exhausted")

    listing = await harness.tool.list()

    assert [letter.message_id for letter in listing.matched] == [first, second]
    one, two = listing.matched
    assert (one.reason, one.original_exchange, one.original_routing_key) == (
        "invalid-json",
        harness.origin.name,
        "orders.place",
    )
    assert one.detail == "invalid-json on orders.place"
    assert one.size == len(b"{not json")
    assert two.reason == "retries-exhausted"
    assert (listing.queued, listing.scanned, listing.complete) == (2, 2, True)
    assert await harness.ids() == [first, second]


async def test_filters_pick_by_reason_routing_key_and_id(harness: Harness) -> None:
    a = await harness.dead_letter("orders.place", "invalid-message")
    b = await harness.dead_letter("orders.cancel", "invalid-message")
    c = await harness.dead_letter("orders.place", "retries-exhausted")

    async def ids(where: Filter) -> list[str | None]:
        return [letter.message_id for letter in (await harness.tool.list(where)).matched]

    assert await ids(Filter(reason="invalid-message")) == [a, b]
    assert await ids(Filter(routing_key="orders.place")) == [a, c]
    assert await ids(Filter(message_id=b)) == [b]
    assert await ids(Filter(reason="invalid-message", routing_key="orders.place")) == [a]
    assert await ids(Filter(reason="no-such-reason")) == []
    assert await harness.ids() == [a, b, c]


async def test_limit_stops_after_that_many_matches(harness: Harness) -> None:
    ids = [await harness.dead_letter("orders.place", "invalid-message") for _ in range(3)]

    listing = await harness.tool.list(limit=2)

    assert [letter.message_id for letter in listing.matched] == ids[:2]
    assert await harness.ids() == ids


async def test_a_dry_run_replay_changes_nothing(harness: Harness) -> None:
    ids = [await harness.dead_letter("orders.place", "retries-exhausted") for _ in range(2)]

    report = await harness.tool.replay(Filter(reason="retries-exhausted"), dry_run=True)

    assert [letter.message_id for letter in report.done] == ids
    assert report.kept == 2
    assert await harness.replays() == []
    assert await harness.ids() == ids


async def test_replay_sends_letters_back_where_they_arrived_and_removes_only_those(
    harness: Harness,
) -> None:
    kept = await harness.dead_letter("orders.place", "invalid-json")
    retried = {"x-retry-attempt": 5, "x-last-error": "RuntimeError"}
    first = await harness.dead_letter(
        "orders.cancel", "retries-exhausted", user_id="guest", headers=retried
    )
    second = await harness.dead_letter("orders.deliver", "retries-exhausted")

    report = await harness.tool.replay(Filter(reason="retries-exhausted"))

    assert [letter.message_id for letter in report.done] == [first, second]
    assert (report.kept, report.failed, report.skipped, report.warnings) == (1, [], [], [])
    one, two = await harness.replays()
    assert (one.exchange, one.routing_key) == (harness.origin.name, "orders.cancel")
    assert (two.exchange, two.routing_key) == (harness.origin.name, "orders.deliver")
    assert (one.message_id, one.correlation_id, one.reply_to) == (
        first,
        f"corr-{first}",
        "replies.somewhere",
    )
    assert (one.body, one.content_type, one.user_id) == (b'{"order_id": "o-1"}', JSON, "guest")
    assert one.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert one.headers == {names.TRACEPARENT_HEADER: TRACEPARENT}
    assert await harness.ids() == [kept]


async def test_replaying_twice_is_harmless(harness: Harness) -> None:
    message_id = await harness.dead_letter("orders.cancel", "retries-exhausted")

    first = await harness.tool.replay(Filter(message_id=message_id))
    again = await harness.tool.replay(Filter(message_id=message_id))

    assert [letter.message_id for letter in first.done] == [message_id]
    assert (again.matched, again.done) == ([], [])
    assert [message.message_id for message in await harness.replays()] == [message_id]


async def test_a_sender_cannot_plant_an_identity_in_its_dead_letter(harness: Harness) -> None:
    message_id = await harness.dead_letter(
        "orders.cancel", "retries-exhausted", headers={"x-original-user-id": "mallory"}
    )

    (letter,) = (await harness.tool.list(Filter(message_id=message_id))).matched

    assert "x-original-user-id" not in letter.headers


async def test_a_user_id_of_another_user_is_dropped_with_a_warning(harness: Harness) -> None:
    message_id = await harness.letter(
        {
            names.ERROR_REASON_HEADER: "retries-exhausted",
            names.ORIGINAL_EXCHANGE_HEADER: harness.origin.name,
            names.ORIGINAL_ROUTING_KEY_HEADER: "orders.cancel",
            "x-original-user-id": "mallory",
        }
    )

    report = await harness.tool.replay(Filter(message_id=message_id))

    (replayed,) = await harness.replays()
    assert replayed.user_id is None
    assert "mallory" not in json.dumps(dict(replayed.headers))
    assert len(report.warnings) == 1
    assert "mallory" in report.warnings[0]


async def test_a_letter_that_cannot_be_republished_stays(harness: Harness) -> None:
    unbound = await harness.channel.declare_exchange(
        f"test.unbound.{uuid.uuid4().hex[:12]}", aio_pika.ExchangeType.DIRECT, auto_delete=True
    )
    nowhere = await harness.letter(
        {
            names.ERROR_REASON_HEADER: "retries-exhausted",
            names.ORIGINAL_EXCHANGE_HEADER: f"test.missing.{uuid.uuid4().hex}",
            names.ORIGINAL_ROUTING_KEY_HEADER: "orders.cancel",
        }
    )
    unroutable = await harness.letter(
        {
            names.ERROR_REASON_HEADER: "retries-exhausted",
            names.ORIGINAL_EXCHANGE_HEADER: unbound.name,
            names.ORIGINAL_ROUTING_KEY_HEADER: "orders.cancel",
        }
    )
    unknown = await harness.letter({names.ERROR_REASON_HEADER: "retries-exhausted"})
    fine = await harness.dead_letter("orders.cancel", "retries-exhausted")

    report = await harness.tool.replay(Filter(reason="retries-exhausted"))

    assert [letter.message_id for letter, _ in report.failed] == [nowhere, unroutable]
    assert [letter.message_id for letter, _ in report.skipped] == [unknown]
    assert [letter.message_id for letter in report.done] == [fine]
    assert [message.message_id for message in await harness.replays()] == [fine]
    assert await harness.ids() == [nowhere, unroutable, unknown]


async def test_purge_removes_only_the_matching_letters(harness: Harness) -> None:
    a = await harness.dead_letter("orders.place", "invalid-json")
    b = await harness.dead_letter("orders.place", "invalid-message")
    c = await harness.dead_letter("orders.cancel", "invalid-json")

    dry = await harness.tool.purge(Filter(reason="invalid-json"), dry_run=True)
    assert await harness.ids() == [a, b, c]
    report = await harness.tool.purge(Filter(reason="invalid-json"))

    assert [letter.message_id for letter in dry.done] == [a, c]
    assert [letter.message_id for letter in report.done] == [a, c]
    assert report.kept == 1
    assert await harness.ids() == [b]
    assert await harness.replays() == []


async def test_nothing_is_lost_when_no_letter_matches(harness: Harness) -> None:
    ids = [await harness.dead_letter("orders.place", "invalid-json") for _ in range(3)]
    nothing = Filter(reason="invalid-json", routing_key="orders.cancel")

    replayed = await harness.tool.replay(nothing)
    purged = await harness.tool.purge(nothing)

    assert (replayed.done, purged.done, replayed.kept, purged.kept) == ([], [], 3, 3)
    assert await harness.ids() == ids
    assert await harness.replays() == []


async def test_a_pass_holds_no_more_than_its_bound(
    harness: Harness, connection: AbstractRobustConnection
) -> None:
    ids = [await harness.dead_letter("orders.place", "invalid-json") for _ in range(3)]
    last = await harness.dead_letter("orders.cancel", "retries-exhausted")
    narrow = DeadLetters(connection, harness.queue, max_held=2)

    listing = await narrow.list()
    missed = await narrow.purge(Filter(reason="retries-exhausted"))
    purged = await narrow.purge(Filter(reason="invalid-json"))  # removed ones are not held

    assert [letter.message_id for letter in listing.matched] == ids[:2]
    assert (listing.complete, missed.complete, missed.done) == (False, False, [])
    assert ([letter.message_id for letter in purged.done], purged.complete) == (ids, True)
    assert await harness.ids() == [last]


async def cli(*args: str) -> tuple[int, str, str]:
    """Run `python -m pizzeria_client.cli ARGS`: exit code, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pizzeria_client.cli",
        *args,
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_command_line_lists_shows_replays_and_purges(
    harness: Harness, amqp_url: str
) -> None:
    broken = await harness.dead_letter("orders.place", "invalid-json", body=b"\xff\xfe{")
    failed = await harness.dead_letter("orders.cancel", "retries-exhausted")
    tool = ("--url", amqp_url, "dead-letters", "--queue", harness.queue)

    code, out, _ = await cli(*tool, "list", "--json")
    assert code == 0
    assert [json.loads(line)["message_id"] for line in out.splitlines()] == [broken, failed]
    code, out, _ = await cli(*tool, "list", "--reason", "retries-exhausted")
    assert (code, len(out.splitlines())) == (0, 1)
    assert failed in out
    assert "orders.cancel" in out

    code, out, _ = await cli(*tool, "show", failed)
    assert code == 0
    assert "x-error-reason: retries-exhausted" in out
    assert '{"order_id": "o-1"}' in out
    code, out, _ = await cli(*tool, "show", broken, "--json")
    assert json.loads(out)["body_base64"] == "//57"
    code, _, _ = await cli(*tool, "show", "no-such-id")
    assert code == 4

    code, _, err = await cli(*tool, "replay")
    assert code == 2
    assert "--all" in err
    code, out, _ = await cli(*tool, "replay", "--reason", "retries-exhausted", "--dry-run")
    assert (code, "would replay 1") == (0, out.splitlines()[-1][:14])
    code, out, _ = await cli(*tool, "replay", "--reason", "retries-exhausted")
    assert code == 0
    assert "replayed 1, skipped 0, failed 0; 1 kept" in out
    assert [message.message_id for message in await harness.replays()] == [failed]
    code, out, _ = await cli(*tool, "purge", "--all")
    assert (code, "purged 1; 0 kept" in out) == (0, True)
    assert await harness.ids() == []


async def test_the_command_line_exits_8_without_a_broker() -> None:
    code, _, err = await cli(
        "--url", "amqp://guest:guest@127.0.0.1:1/", "--timeout", "3", "dead-letters", "list"
    )

    assert code == 8
    assert "cannot reach RabbitMQ" in err
