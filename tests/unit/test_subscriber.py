"""How the subscriber treats failures: retry, hold for the database, or answer."""

import dataclasses
from collections.abc import Callable
from typing import Any, cast
from uuid import uuid4

import pytest
from aio_pika.abc import AbstractIncomingMessage
from faststream.rabbit import RabbitMessage

from pizzeria_contracts import GetOrder, OperationResult, StartCooking, names
from worker.adapters.rabbit.publishing import RabbitPublisher, UnconfirmedError
from worker.adapters.rabbit.retry import RetryPolicy
from worker.application.authorization import AuthorizationBehaviour, Grant, Policy
from worker.application.behaviours import ValidationBehaviour
from worker.application.context import MessageContext
from worker.application.errors import DatabaseUnavailableError
from worker.application.mediator import Mediator, Route
from worker.entrypoints.subscribers import Subscriber, context_of

WORKER = "pizzeria-worker"
"""The broker user the worker connects as."""


@dataclasses.dataclass
class FakeDelivery:
    """Just what the subscriber reads of an aio-pika delivery."""

    routing_key: str
    exchange: str = names.COMMANDS_EXCHANGE
    body: bytes = b'{"order_id": "o-1"}'
    headers: dict[str, Any] = dataclasses.field(default_factory=dict)
    message_id: str | None = dataclasses.field(default_factory=lambda: uuid4().hex)
    correlation_id: str | None = None
    user_id: str | None = None
    reply_to: str | None = "amq.rabbitmq.reply-to"
    redelivered: bool = False
    acked: bool = False

    async def ack(self) -> None:
        self.acked = True


class RecordingPublisher:
    def __init__(self) -> None:
        self.replies: list[OperationResult] = []
        self.dead_letters: list[str] = []
        self.retries: list[tuple[int, float]] = []
        self.confirming = True
        """False: the connection closes before any reply is confirmed."""

    async def reply(
        self, request: object, result: OperationResult, traceparent: str | None = None
    ) -> None:
        if not self.confirming:
            raise UnconfirmedError("the connection closed before the broker confirmed")
        self.replies.append(result)

    async def dead_letter(
        self, request: object, context: MessageContext, reason: str, detail: str
    ) -> None:
        self.dead_letters.append(reason)

    async def retry(
        self, request: object, context: MessageContext, attempt: int, delay: float, error: str
    ) -> None:
        self.retries.append((attempt, delay))


class OpenGate:
    def __init__(self) -> None:
        self.waits = 0

    async def wait_until_up(self) -> None:
        self.waits += 1


def subscriber_for(
    handler: Callable[..., Any], attempts: int = 3, policy: Policy | None = None
) -> tuple[Subscriber, RecordingPublisher, OpenGate]:
    routes = [
        Route(names.START_COOKING, StartCooking, handler, is_command=True),
        Route(names.GET_ORDER, GetOrder, handler, is_command=False),
    ]
    authorization = [AuthorizationBehaviour(policy)] if policy else []
    mediator = Mediator(routes, [*authorization, ValidationBehaviour(64 * 1024)])
    publisher, gate = RecordingPublisher(), OpenGate()
    retry = RetryPolicy(attempts=attempts, base_delay=1.0, max_delay=8.0, jitter=0.0)
    subscriber = Subscriber(mediator, cast(RabbitPublisher, publisher), gate, retry, WORKER)
    return subscriber, publisher, gate


async def deliver(subscriber: Subscriber, delivery: FakeDelivery) -> None:
    await subscriber(
        cast(RabbitMessage, dataclasses.make_dataclass("M", ["raw_message"])(delivery))
    )


async def broken(request: object, context: MessageContext) -> OperationResult:
    raise RuntimeError("boom")


async def test_a_failed_command_is_parked_for_a_retry_and_acknowledged_unanswered() -> None:
    subscriber, publisher, _ = subscriber_for(broken)
    delivery = FakeDelivery(names.START_COOKING)

    await deliver(subscriber, delivery)

    assert publisher.retries == [(1, 1.0)]
    assert publisher.replies == []
    assert delivery.acked


async def test_each_retry_waits_twice_as_long_up_to_the_maximum() -> None:
    policy = RetryPolicy(attempts=6, base_delay=1.0, max_delay=8.0, jitter=0.0)

    assert [policy.delay(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_jitter_only_ever_stretches_a_delay() -> None:
    policy = RetryPolicy(attempts=3, base_delay=2.0, max_delay=60.0, jitter=0.25)

    delays = [policy.delay(2) for _ in range(200)]

    assert all(4.0 <= d <= 5.0 for d in delays)
    assert len(set(delays)) > 1


async def test_a_command_whose_retries_are_spent_is_dead_lettered_with_a_500() -> None:
    subscriber, publisher, _ = subscriber_for(broken, attempts=3)
    delivery = FakeDelivery(
        "", exchange="", headers=retried(names.START_COOKING, attempt=3), user_id=WORKER
    )

    await deliver(subscriber, delivery)

    assert publisher.retries == []
    assert publisher.dead_letters == ["retries-exhausted"]
    assert [r.status for r in publisher.replies] == [500]
    assert publisher.replies[0].detail == "The message could not be processed"
    assert delivery.acked


async def test_a_failed_query_is_answered_500_at_once_and_not_retried() -> None:
    subscriber, publisher, _ = subscriber_for(broken)
    delivery = FakeDelivery(names.GET_ORDER, exchange=names.QUERIES_EXCHANGE)

    await deliver(subscriber, delivery)

    assert publisher.retries == []
    assert publisher.dead_letters == ["processing-failed"]
    assert [r.status for r in publisher.replies] == [500]


async def test_a_database_outage_holds_the_message_and_then_handles_it() -> None:
    calls = 0

    async def flaky(request: object, context: MessageContext) -> OperationResult:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise DatabaseUnavailableError("ping")
        return OperationResult.success({"ok": True})

    subscriber, publisher, gate = subscriber_for(flaky)
    delivery = FakeDelivery(names.START_COOKING)

    await deliver(subscriber, delivery)

    assert gate.waits == 1
    assert publisher.retries == []
    assert [r.status for r in publisher.replies] == [200]
    assert delivery.acked


def retried(name: str, attempt: int, user_id: str | None = None) -> dict[str, Any]:
    headers: dict[str, Any] = {
        "x-retry-attempt": attempt,
        names.ORIGINAL_EXCHANGE_HEADER: names.COMMANDS_EXCHANGE,
        names.ORIGINAL_ROUTING_KEY_HEADER: name,
    }
    if user_id:
        headers["x-original-user-id"] = user_id
    return headers


def test_a_retried_command_is_known_by_where_it_first_arrived() -> None:
    delivery = FakeDelivery(
        names.COMMANDS_QUEUE,
        exchange="",
        headers=retried(names.MARK_READY, 2, "kitchen"),
        user_id=WORKER,
    )

    context = context_of(cast(AbstractIncomingMessage, delivery), WORKER)

    assert (context.exchange, context.name, context.user_id, context.attempt) == (
        names.COMMANDS_EXCHANGE,
        names.MARK_READY,
        "kitchen",
        2,
    )
    assert not context.forged_retry


@pytest.mark.parametrize("user_id", [None, "mallory", "pizzeria-worker-2"])
def test_a_retry_copy_from_another_user_is_what_it_is_and_forged(user_id: str | None) -> None:
    delivery = FakeDelivery(
        names.COMMANDS_QUEUE,
        exchange="",
        headers=retried(names.UPDATE_PIZZA, 1, WORKER),
        user_id=user_id,
    )

    context = context_of(cast(AbstractIncomingMessage, delivery), WORKER)

    assert (context.exchange, context.name, context.user_id, context.attempt) == (
        "",
        names.COMMANDS_QUEUE,
        user_id,
        0,
    )
    assert context.forged_retry


def test_a_message_straight_into_the_queue_without_retry_headers_is_not_forged() -> None:
    delivery = FakeDelivery(names.COMMANDS_QUEUE, exchange="", user_id="mallory")

    context = context_of(cast(AbstractIncomingMessage, delivery), WORKER)

    assert (context.name, context.user_id, context.forged_retry) == (
        names.COMMANDS_QUEUE,
        "mallory",
        False,
    )


async def test_with_authorization_a_forged_retry_is_refused_and_dead_lettered() -> None:
    handled: list[object] = []

    async def handler(request: object, context: MessageContext) -> OperationResult:
        handled.append(request)
        return OperationResult.success({})

    everything = Policy({"mallory": Grant(commands=("*",), queries=("*",))})
    subscriber, publisher, _ = subscriber_for(handler, policy=everything)
    delivery = FakeDelivery(
        names.COMMANDS_QUEUE,
        exchange="",
        headers=retried(names.START_COOKING, 1, WORKER),
        user_id="mallory",
    )

    await deliver(subscriber, delivery)

    assert handled == []
    assert publisher.dead_letters == ["forged-retry"]
    assert [r.status for r in publisher.replies] == [403]
    assert delivery.acked


async def test_without_authorization_a_forged_retry_is_an_unknown_message() -> None:
    """Handled as what it is, a message published straight into the worker's queue,
    never as the command its headers name."""
    handled: list[object] = []

    async def handler(request: object, context: MessageContext) -> OperationResult:
        handled.append(request)
        return OperationResult.success({})

    subscriber, publisher, _ = subscriber_for(handler)
    delivery = FakeDelivery(
        names.COMMANDS_QUEUE,
        exchange="",
        headers=retried(names.START_COOKING, 1, "admin"),
        user_id="mallory",
    )

    await deliver(subscriber, delivery)

    assert handled == []
    assert publisher.dead_letters == ["unknown-message"]
    assert [r.status for r in publisher.replies] == [400]


async def test_a_retry_count_on_a_first_delivery_counts_for_nothing() -> None:
    subscriber, publisher, _ = subscriber_for(broken, attempts=3)
    delivery = FakeDelivery(names.START_COOKING, headers={names.RETRY_ATTEMPT_HEADER: 3})

    await deliver(subscriber, delivery)

    assert publisher.retries == [(1, 1.0)]
    assert publisher.dead_letters == []


@pytest.mark.parametrize("exchange", [names.COMMANDS_EXCHANGE, names.QUERIES_EXCHANGE])
def test_original_headers_on_a_first_delivery_are_not_believed(exchange: str) -> None:
    headers = {names.ORIGINAL_ROUTING_KEY_HEADER: names.CANCEL_ORDER}
    delivery = FakeDelivery(names.GET_ORDER, exchange=exchange, headers=headers)

    context = context_of(cast(AbstractIncomingMessage, delivery), WORKER)

    assert (context.exchange, context.name) == (exchange, names.GET_ORDER)


# Delivered again


def answering(calls: list[str]) -> Callable[..., Any]:
    async def handler(request: object, context: MessageContext) -> OperationResult:
        calls.append(context.message_id or "")
        return OperationResult.success({"ok": True})

    return handler


async def test_a_message_delivered_again_after_it_was_answered_is_only_acknowledged() -> None:
    """Its acknowledgement was lost with the connection: its sender has the reply."""
    calls: list[str] = []
    subscriber, publisher, _ = subscriber_for(answering(calls))
    first = FakeDelivery(names.START_COOKING)
    await deliver(subscriber, first)

    again = dataclasses.replace(first, redelivered=True, acked=False)
    await deliver(subscriber, again)

    assert calls == [first.message_id]
    assert [r.status for r in publisher.replies] == [200]
    assert again.acked


async def test_a_message_delivered_again_whose_reply_was_not_confirmed_is_answered() -> None:
    calls: list[str] = []
    subscriber, publisher, _ = subscriber_for(answering(calls))
    first = FakeDelivery(names.START_COOKING)
    publisher.confirming = False
    with pytest.raises(UnconfirmedError):
        await deliver(subscriber, first)
    publisher.confirming = True

    again = dataclasses.replace(first, redelivered=True)
    await deliver(subscriber, again)

    assert calls == [first.message_id] * 2
    assert [r.status for r in publisher.replies] == [200]
    assert not first.acked
    assert again.acked


@pytest.mark.parametrize("reply_to", ["amq.rabbitmq.reply-to", "amq.rabbitmq.reply-to.new"])
async def test_a_command_its_client_sent_again_is_answered_again(reply_to: str) -> None:
    """The contract: re-sending a command returns the original reply."""
    calls: list[str] = []
    subscriber, publisher, _ = subscriber_for(answering(calls))
    first = FakeDelivery(names.START_COOKING)
    await deliver(subscriber, first)

    await deliver(subscriber, dataclasses.replace(first, reply_to=reply_to, acked=False))

    assert [r.status for r in publisher.replies] == [200, 200]
