"""Whatever arrives, the decoding path answers: random bodies, headers and properties,
taken through pamqp's wire encoding to aio-pika's delivery, then `context_of`, the
mediator (on fakes) and the subscriber with the real publisher. Nothing raises, nothing
hangs, and whatever the worker would publish can be encoded."""

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any, cast
from uuid import uuid4

import aio_pika
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage
from aiormq.abc import DeliveredMessage
from faststream.rabbit import RabbitMessage
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pamqp import commands as spec
from pamqp import frame
from pamqp.header import ContentHeader

from pizzeria_contracts import names
from tests import fuzzing
from tests.fakes import (
    fake_adapters,
)
from worker.adapters.rabbit.publishing import RabbitPublisher
from worker.adapters.rabbit.retry import RetryPolicy
from worker.application.authorization import Policy
from worker.application.context import MessageContext
from worker.application.mediator import Mediator, Outcome
from worker.bootstrap import COMMAND_NAMES, QUERY_NAMES, build_mediator
from worker.entrypoints.subscribers import Subscriber, context_of

REPO_ROOT = Path(__file__).resolve().parents[2]
DEAD_LETTER_REASONS = {
    "invalid-json",
    "invalid-message",
    "unknown-message",
    "missing-message-id",
    "message-too-large",
}
STATUSES = {200, 201, 400, 401, 403, 404, 409}
WORKER_USER = "worker"
"""The broker user the worker connects as: only its retry copies are believed."""
TIME_LIMIT = 2.0
"""Seconds one message may take before it counts as wedged."""

USERS = ["storefront", "kitchen", "delivery", "admin"]
user_ids = st.one_of(
    st.none(), st.just(""), st.sampled_from([*USERS, WORKER_USER]), fuzzing.short_text
)
POLICY = Policy.load(REPO_ROOT / "deploy" / "policy.toml", COMMAND_NAMES, QUERY_NAMES)


class FakeChannel:
    """The part of an aiormq channel that acknowledging a delivery touches."""

    is_closed = False

    def __init__(self) -> None:
        self.acks: list[int] = []

    async def basic_ack(self, delivery_tag: int, multiple: bool = False) -> None:
        self.acks.append(delivery_tag)


def over_the_wire(value: Any) -> Any:
    """A frame as the worker's connection would read it: marshalled, then unmarshalled."""
    _, _, decoded = frame.unmarshal(frame.marshal(value, 1))
    return decoded


@dataclasses.dataclass(frozen=True)
class Arrival:
    exchange: str
    routing_key: str
    body: bytes
    properties: dict[str, Any]
    redelivered: bool

    def delivery(self, channel: FakeChannel) -> AbstractIncomingMessage:
        deliver = spec.Basic.Deliver(
            consumer_tag="ctag-1",
            delivery_tag=1,
            redelivered=self.redelivered,
            exchange=self.exchange,
            routing_key=self.routing_key,
        )
        header = ContentHeader(0, len(self.body), spec.Basic.Properties(**self.properties))
        delivered = DeliveredMessage(
            over_the_wire(deliver),
            over_the_wire(header),
            self.body,
            cast(Any, channel),
        )
        return aio_pika.IncomingMessage(delivered, no_ack=False)


arrivals = st.builds(
    Arrival,
    exchange=fuzzing.exchanges,
    routing_key=fuzzing.routing_keys,
    body=fuzzing.bodies,
    properties=fuzzing.properties(user_ids),
    redelivered=st.booleans(),
)


def pizzeria(with_policy: bool) -> Mediator:
    return build_mediator(
        fake_adapters(),
        policy=POLICY if with_policy else None,
    )


FUZZ = settings(
    max_examples=200,
    deadline=None,  # the first examples pay for pydantic's warm-up; TIME_LIMIT bounds each
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(arrival=arrivals, with_policy=st.booleans())
async def test_any_delivery_gets_an_outcome_with_a_status(
    arrival: Arrival, with_policy: bool
) -> None:
    raw = arrival.delivery(FakeChannel())
    mediator = pizzeria(with_policy)

    context = context_of(raw, WORKER_USER)
    outcome = await asyncio.wait_for(mediator.send(context.name, raw.body, context), TIME_LIMIT)

    assert isinstance(outcome, Outcome)
    status = outcome.result.status
    assert status in STATUSES, outcome.result
    assert outcome.result.ok == (outcome.dead_letter is None and status < 400)
    if outcome.dead_letter == "forged-retry":
        assert with_policy
        assert context.forged_retry
        assert status == (403 if context.user_id else 401)
    elif outcome.dead_letter is not None:
        assert status == 400
        assert outcome.dead_letter in DEAD_LETTER_REASONS
        assert outcome.result.detail
    if status in (401, 403):
        assert with_policy
        assert outcome.dead_letter in (None, "forged-retry")
    if not outcome.result.ok:
        assert outcome.result.title
        assert outcome.result.data is None


@settings(FUZZ, max_examples=100)
@given(arrival=arrivals, with_policy=st.booleans())
async def test_the_context_says_only_what_the_delivery_says(
    arrival: Arrival, with_policy: bool
) -> None:
    raw = arrival.delivery(FakeChannel())

    context = context_of(raw, WORKER_USER)

    assert isinstance(context, MessageContext)
    for text in (context.name, context.exchange):
        assert isinstance(text, str)
    for optional in (context.user_id, context.traceparent, context.message_id):
        assert optional is None or isinstance(optional, str)
    if arrival.exchange:  # straight from a client: the headers do not speak for it
        assert (context.exchange, context.name) == (arrival.exchange, arrival.routing_key)
        assert context.user_id == raw.user_id
    if raw.user_id != WORKER_USER:  # not the worker's own copy: nothing taken from headers
        assert (context.exchange, context.name) == (arrival.exchange, arrival.routing_key)
        assert (context.user_id, context.attempt) == (raw.user_id, 0)


# The subscriber with the real publisher, over exchanges that encode what they are given


@dataclasses.dataclass
class Published:
    exchange: str
    routing_key: str
    message: aio_pika.Message


class EncodingExchange:
    """Stands in for an aio-pika exchange; encodes each message as aiormq would."""

    def __init__(self, name: str, log: list[Published]) -> None:
        self.name = name
        self._log = log

    async def publish(self, message: aio_pika.Message, routing_key: str, **_: Any) -> None:
        frame.marshal(spec.Basic.Publish(exchange=self.name, routing_key=routing_key), 1)
        frame.marshal(ContentHeader(0, len(message.body), message.properties), 1)
        self._log.append(Published(self.name, routing_key, message))


class OpenGate:
    async def wait_until_up(self) -> None:
        raise AssertionError("the fakes never report the database down")


class FailingMediator:
    """A mediator whose every handler fails for a passing reason: retries and 500s."""

    async def send(self, name: str, body: bytes, context: MessageContext) -> Outcome:
        raise ConnectionError("the database went away")


def subscriber(mediator: Any, log: list[Published]) -> Subscriber:
    publisher = RabbitPublisher(
        cast(AbstractExchange, EncodingExchange(names.EVENTS_EXCHANGE, log)),
        cast(AbstractExchange, EncodingExchange("", log)),
        cast(AbstractExchange, EncodingExchange(names.DEAD_LETTER_EXCHANGE, log)),
        WORKER_USER,
    )
    retry = RetryPolicy(attempts=2, base_delay=0.1, max_delay=1.0, jitter=0.0)
    return Subscriber(cast(Mediator, mediator), publisher, OpenGate(), retry, WORKER_USER)


@dataclasses.dataclass
class Delivered:
    raw_message: AbstractIncomingMessage


@settings(FUZZ, max_examples=150)
@given(arrival=arrivals, with_policy=st.booleans(), failing=st.booleans())
async def test_the_subscriber_acknowledges_everything_and_answers_once(
    arrival: Arrival, with_policy: bool, failing: bool
) -> None:
    channel, log = FakeChannel(), list[Published]()
    mediator = FailingMediator() if failing else pizzeria(with_policy)
    raw = arrival.delivery(channel)

    await asyncio.wait_for(
        subscriber(mediator, log)(cast(RabbitMessage, Delivered(raw))), TIME_LIMIT
    )

    assert channel.acks == [1]
    reply_to = raw.reply_to
    replies = [p for p in log if p.exchange == "" and p.routing_key == reply_to]
    retries = [p for p in log if p.exchange == "" and p.routing_key != reply_to]
    dead_letters = [p for p in log if p.exchange == names.DEAD_LETTER_EXCHANGE]
    assert len(replies) == (1 if reply_to and not retries else 0)
    assert len(dead_letters) <= 1
    for reply in replies:
        body = json.loads(reply.message.body)
        # With tracing off, a `traceparent` that came with the message goes back unchanged.
        sent = (raw.headers or {}).get(names.TRACEPARENT_HEADER)
        if isinstance(sent, bytes):
            sent = sent.decode("utf-8", "replace")
        passed_on = {names.TRACEPARENT_HEADER: sent} if isinstance(sent, str) and sent else {}
        assert reply.message.headers == {names.STATUS_HEADER: body["status"], **passed_on}
        assert body["status"] in STATUSES | {500}
    for dead_letter in dead_letters:
        assert dead_letter.message.body == raw.body
        assert dead_letter.message.user_id is None  # RabbitMQ would refuse another's
        headers = dead_letter.message.headers
        assert headers[names.ERROR_REASON_HEADER] in DEAD_LETTER_REASONS | {
            "processing-failed",
            "retries-exhausted",
            "forged-retry",
        }
    for retry in retries:  # RabbitMQ checks it: the copy is known as the worker's own
        assert retry.message.user_id == WORKER_USER


# Headers the worker cannot pass on yet


def delivery_with(headers: dict[str, Any], body: bytes = b"not json") -> AbstractIncomingMessage:
    """A delivery as aio-pika hands it over, headers as they were decoded."""
    deliver = spec.Basic.Deliver("ctag-1", 1, False, names.COMMANDS_EXCHANGE, names.PLACE_ORDER)
    properties = spec.Basic.Properties(
        message_id=uuid4().hex, reply_to=names.DIRECT_REPLY_TO, headers=headers
    )
    header = ContentHeader(0, len(body), properties)
    return aio_pika.IncomingMessage(
        DeliveredMessage(deliver, header, body, cast(Any, FakeChannel())), no_ack=False
    )


async def test_a_senders_own_original_headers_do_not_steer_the_dead_letter() -> None:
    """A sender's x-original-* headers are overwritten, so they can neither name another
    user nor give a routing key too long to publish."""
    forged = {
        "x-original-routing-key": "k" * 300,
        "x-original-exchange": "elsewhere",
        "x-original-user-id": "admin",
    }
    raw = delivery_with(forged)
    channel = cast(FakeChannel, raw.channel)
    log: list[Published] = []

    await subscriber(pizzeria(False), log)(cast(RabbitMessage, Delivered(raw)))

    assert channel.acks == [1]
    assert [p.exchange for p in log] == [names.DEAD_LETTER_EXCHANGE, ""]
    dead_letter = log[0]
    assert dead_letter.routing_key == names.PLACE_ORDER
    headers = dead_letter.message.headers
    assert headers["x-original-routing-key"] == names.PLACE_ORDER
    assert headers["x-original-exchange"] == names.COMMANDS_EXCHANGE
    assert "x-original-user-id" not in headers


async def test_a_header_that_is_not_utf8_is_still_dead_lettered() -> None:
    raw = delivery_with({"x-client": b"\xff\xfe", "nested": {"list": [b"\x80"]}})
    channel = cast(FakeChannel, raw.channel)
    log: list[Published] = []

    await subscriber(pizzeria(False), log)(cast(RabbitMessage, Delivered(raw)))

    assert channel.acks == [1]
    assert [p.exchange for p in log] == [names.DEAD_LETTER_EXCHANGE, ""]
