"""Subscribers: decode the transport, ask the mediator, answer, acknowledge.

Every message is acknowledged only after its outcome is safe: the change and
its events stored, the dead letter or the retry copy confirmed, the reply
sent. Whatever goes wrong, the sender with a `reply_to` hears back, once: a
message delivered again because its acknowledgement was lost with the
connection is only acknowledged (`Settled`).

Failures by kind: an unusable message is dead-lettered at once; a business
refusal is a reply; a database that does not answer holds the message until
it does; any other failure of a command is retried through the delay queues
and dead-lettered as `retries-exhausted` when they are spent.
"""

import logging
from typing import Any, Protocol

from aio_pika.abc import AbstractIncomingMessage
from faststream.rabbit import RabbitMessage

from pizzeria_contracts import OperationResult, names

from ..adapters.rabbit.publishing import RabbitPublisher
from ..adapters.rabbit.retry import RetryPolicy, attempts_so_far, claims_to_be_a_retry
from ..application.context import MessageContext
from ..application.errors import DatabaseUnavailableError
from ..application.mediator import Mediator, Outcome
from ..observability import tracing
from ..observability.metrics import Metrics
from .settled import Settled

log = logging.getLogger("worker.subscribers")

FAILURE = OperationResult.failure(500, "The message could not be processed")
RETRIES_EXHAUSTED = Outcome(FAILURE, dead_letter="retries-exhausted")
QUERY_FAILED = Outcome(FAILURE, dead_letter="processing-failed")
REPLY_UNCONFIRMED = (
    "%s: reply not confirmed, the message stays unacknowledged and is answered again "
    "when it comes back (its sender may get the reply twice)"
)


class Gate(Protocol):
    async def wait_until_up(self) -> None: ...


def context_of(raw: AbstractIncomingMessage, worker_user: str) -> MessageContext:
    """What the message says about itself.

    Only a retry copy whose `user_id` is the worker's own broker user (RabbitMQ
    refuses any other `user_id` than the publishing connection's) speaks for where
    the command first arrived and who sent it. Anything else is what it is: its own
    exchange, routing key and `user_id`; one that claims to be a retry copy is forged.
    """
    headers = raw.headers or {}
    exchange, name, user_id = raw.exchange or "", raw.routing_key or "", raw.user_id
    message_id = raw.message_id
    attempt, forged = 0, False
    if claims_to_be_a_retry(raw):
        if user_id == worker_user:  # back from a delay queue, or forwarded to a shard
            exchange = _text(headers.get(names.ORIGINAL_EXCHANGE_HEADER)) or ""
            name = _text(headers.get(names.ORIGINAL_ROUTING_KEY_HEADER)) or ""
            user_id = _text(headers.get(names.ORIGINAL_USER_ID_HEADER))
            attempt = attempts_so_far(raw)
            if headers.get(names.MESSAGE_ID_ADDED_HEADER):  # the sender gave none
                message_id = None
        else:
            forged = True
    return MessageContext(
        name=name,
        exchange=exchange,
        message_id=message_id,
        correlation_id=raw.correlation_id,
        user_id=user_id,
        traceparent=_text(headers.get(names.TRACEPARENT_HEADER)),
        attempt=attempt,
        forged_retry=forged,
    )


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


class Subscriber:
    """The handler FastStream calls for each message of a worker queue."""

    def __init__(
        self,
        mediator: Mediator,
        publisher: RabbitPublisher,
        database: Gate,
        retry: RetryPolicy,
        worker_user: str,
        metrics: Metrics | None = None,
    ) -> None:
        self._mediator = mediator
        self._worker_user = worker_user
        self._publisher = publisher
        self._database = database
        self._retry = retry
        self._metrics = metrics
        self._settled = Settled()

    async def __call__(self, message: RabbitMessage) -> None:
        raw = message.raw_message
        with tracing.consuming(
            context_of(raw, self._worker_user), raw.routing_key or ""
        ) as context:
            try:
                await self._settle(raw, context)
            except Exception:
                # Not acknowledged: RabbitMQ delivers it again once this channel is gone.
                # Say so, since FastStream's own logging is off.
                log.exception(
                    "%s could not be settled; it stays unacknowledged",
                    context.name,
                    extra={"message_name": context.name, "message_id": context.message_id},
                )
                raise

    async def _settle(self, raw: AbstractIncomingMessage, context: MessageContext) -> None:
        extra = {"message_name": context.name, "message_id": context.message_id}
        if self._settled.again(raw, context):
            log.info(
                "%s delivered again once settled: acknowledged only", context.name, extra=extra
            )
            await raw.ack()
            return
        outcome = await self._handle(raw, context)
        if outcome is not None:
            if outcome.dead_letter:
                detail = outcome.result.detail or ""
                await self._publisher.dead_letter(raw, context, outcome.dead_letter, detail)
                if self._metrics:
                    self._metrics.dead_letters.labels(outcome.dead_letter).inc()
            try:
                await self._publisher.reply(raw, outcome.result, context.traceparent)
            except BaseException:  # a cancellation too: the reply may have gone out
                log.warning(REPLY_UNCONFIRMED, context.name, extra=extra)
                raise
        self._settled.add(raw, context)
        await raw.ack()

    async def _handle(
        self, raw: AbstractIncomingMessage, context: MessageContext
    ) -> Outcome | None:
        """The outcome to answer with, or None when the message will be tried again."""
        while True:
            try:
                outcome = await self._mediator.send(context.name, raw.body, context)
                await outcome.published()  # its lane is free; its events go out first
                return outcome
            except DatabaseUnavailableError:
                await self._database.wait_until_up()
            except Exception as error:  # noqa: BLE001 - every failure is retried or answered
                return await self._failed(raw, context, error)

    async def _failed(
        self, raw: AbstractIncomingMessage, context: MessageContext, error: Exception
    ) -> Outcome | None:
        extra = {"message_name": context.name, "message_id": context.message_id}
        if context.exchange != names.COMMANDS_EXCHANGE:
            log.error("%s failed", context.name, exc_info=error, extra=extra)
            return QUERY_FAILED
        attempt = context.attempt + 1
        if attempt > self._retry.attempts:
            log.error("%s failed; retries spent", context.name, exc_info=error, extra=extra)
            return RETRIES_EXHAUSTED
        delay = self._retry.delay(attempt)
        log.warning(
            "%s failed (%s); retry %d in %.1fs",
            context.name,
            type(error).__name__,
            attempt,
            delay,
            extra=extra,
        )
        await self._publisher.retry(raw, context, attempt, delay, type(error).__name__)
        if self._metrics:
            self._metrics.retries.labels(context.name).inc()
        return None
