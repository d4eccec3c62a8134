"""Everything the worker sends: events, replies and dead letters."""

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from aio_pika import DeliveryMode, Message
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage

from pizzeria_contracts import OperationResult, names

from ...application.context import MessageContext
from ...observability import tracing
from .retry import delay_queue

JSON = "application/json"
_JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def encode(value: Any) -> bytes:
    return orjson.dumps(value, option=_JSON_OPTIONS)


def cloud_event_headers(entry: Mapping[str, Any]) -> dict[str, Any]:
    """CloudEvents 1.0 attributes in binary mode."""
    headers: dict[str, Any] = {
        "cloudEvents:specversion": "1.0",
        "cloudEvents:id": entry["id"],
        "cloudEvents:source": names.EVENT_SOURCE,
        "cloudEvents:type": entry["type"],
        "cloudEvents:subject": entry["subject"],
        "cloudEvents:time": entry["at"].isoformat().replace("+00:00", "Z"),
        "cloudEvents:datacontenttype": JSON,
    }
    return headers


class UnconfirmedError(Exception):
    """The connection closed before the broker confirmed a publish: it may have arrived."""


async def confirmed(publish: Awaitable[object]) -> None:
    """Await a publish until the broker confirms it.

    A connection given up for silence (no heartbeat) cancels the confirms it still
    waits for, and the publisher meets a bare CancelledError, which would pass for its
    own task's cancellation and end a relay or a subscriber that only handles errors.
    It becomes UnconfirmedError; a cancellation of this task stays what it is."""
    try:
        await publish
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is None or task.cancelling():
            raise
        raise UnconfirmedError("the connection closed before the broker confirmed") from None


class RabbitPublisher:
    """Publishes on the broker's confirmed channel; replies never ask to be returned.

    `worker_user` is the broker user the worker connects as: its retry copies carry
    it as `user_id`, which RabbitMQ lets no other connection set, so a copy that
    comes back with it is known to be the worker's own.
    """

    def __init__(
        self,
        events: AbstractExchange,
        replies: AbstractExchange,
        dead_letters: AbstractExchange,
        worker_user: str,
        counted: Callable[[str], None] = lambda kind: None,
    ) -> None:
        self._events = events
        self._worker_user = worker_user
        self._replies = replies
        self._dead_letters = dead_letters
        self._counted = counted

    async def publish_event(self, entry: Mapping[str, Any]) -> None:
        """Publish one outbox entry; raises unless the broker confirmed it."""
        headers = cloud_event_headers(entry)
        with tracing.publishing(
            entry["type"], entry.get("traceparent"), **{"messaging.message.id": entry["id"]}
        ) as traceparent:
            if traceparent:
                headers[names.TRACEPARENT_HEADER] = traceparent
            message = Message(
                encode(entry["body"]),
                content_type=JSON,
                delivery_mode=DeliveryMode.PERSISTENT,
                message_id=entry["id"],
                correlation_id=entry.get("correlation_id"),
                type=entry["type"],
                timestamp=entry["at"],
                headers=headers,
            )
            self._counted("event")
            await confirmed(
                self._events.publish(message, routing_key=entry["type"], mandatory=False)
            )

    async def reply(
        self,
        request: AbstractIncomingMessage,
        result: OperationResult,
        traceparent: str | None = None,
    ) -> None:
        if not request.reply_to:
            return
        headers: dict[str, Any] = {names.STATUS_HEADER: result.status}
        if traceparent:
            headers[names.TRACEPARENT_HEADER] = traceparent
        message = Message(
            result.model_dump_json().encode(),
            content_type=JSON,
            correlation_id=request.correlation_id or request.message_id,
            headers=headers,
        )
        self._counted("reply")
        await confirmed(
            self._replies.publish(message, routing_key=request.reply_to, mandatory=False)
        )

    async def dead_letter(
        self, request: AbstractIncomingMessage, context: MessageContext, reason: str, detail: str
    ) -> None:
        """Keep the message as it arrived, with why it could not be processed."""
        extra = {
            names.ERROR_REASON_HEADER: reason,
            names.ERROR_DETAIL_HEADER: detail[:1000],
            names.DEAD_LETTERED_AT_HEADER: datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
        message = _copy(request, context, extra)
        routing_key = str(message.headers[names.ORIGINAL_ROUTING_KEY_HEADER])
        self._counted("dead-letter")
        await confirmed(
            self._dead_letters.publish(message, routing_key=routing_key, mandatory=False)
        )

    async def forward(
        self, request: AbstractIncomingMessage, context: MessageContext, queue: str
    ) -> None:
        """Hand a command on to the queue that runs it (its shard): the same body and
        properties, with where it first arrived and who sent it kept aside, as in a
        retry copy, so the worker that runs it reads the command as it was sent."""
        message = _copy(request, context, {})
        message.user_id = self._worker_user
        if not context.attempt:  # a sender's own retry headers are not believed
            for header in (names.RETRY_ATTEMPT_HEADER, names.LAST_ERROR_HEADER):
                message.headers.pop(header, None)
        self._counted("forward")
        await confirmed(self._replies.publish(message, routing_key=queue, mandatory=False))

    async def retry(
        self,
        request: AbstractIncomingMessage,
        context: MessageContext,
        attempt: int,
        delay: float,
        error: str,
    ) -> None:
        """Park a copy in the delay queue of this attempt; it comes back after `delay` s."""
        extra = {names.RETRY_ATTEMPT_HEADER: attempt, names.LAST_ERROR_HEADER: error}
        message = _copy(request, context, extra, expiration=max(0.001, delay))
        message.user_id = self._worker_user
        queue = delay_queue(names.COMMANDS_QUEUE, attempt)
        self._counted("retry")
        await confirmed(self._replies.publish(message, routing_key=queue, mandatory=False))


def _copy(
    request: AbstractIncomingMessage,
    context: MessageContext,
    extra: dict[str, Any],
    expiration: float | None = None,
) -> Message:
    """The request's body and properties, persistent, with where it first arrived.

    The `x-original-*` headers are the worker's own reading of the message
    (`context`), written over anything a sender put there: a sender must not
    choose the identity or the name its command is retried under.
    """
    headers = {key: _encodable(value) for key, value in (request.headers or {}).items()}
    headers[names.ORIGINAL_EXCHANGE_HEADER] = context.exchange
    headers[names.ORIGINAL_ROUTING_KEY_HEADER] = context.name
    headers.pop(names.ORIGINAL_USER_ID_HEADER, None)
    if context.user_id:  # RabbitMQ checks user_id against the publisher: keep it aside
        headers[names.ORIGINAL_USER_ID_HEADER] = context.user_id
    headers.pop(names.MESSAGE_ID_ADDED_HEADER, None)
    if not request.message_id:  # aiormq gives every published message an id
        headers[names.MESSAGE_ID_ADDED_HEADER] = True
    headers.update(extra)
    return Message(
        request.body,
        headers=headers,
        content_type=request.content_type,
        content_encoding=request.content_encoding,
        delivery_mode=DeliveryMode.PERSISTENT,
        priority=request.priority,
        correlation_id=request.correlation_id,
        reply_to=request.reply_to,
        message_id=request.message_id,
        timestamp=request.timestamp,
        type=request.type,
        app_id=request.app_id,
        expiration=expiration,
    )


def _encodable(value: Any) -> Any:
    """A header value as it can be sent again: pamqp hands over a long string that is
    not UTF-8 as bytes, but sends only bytearray back (as a byte array)."""
    if isinstance(value, bytes):
        return bytearray(value)
    if isinstance(value, dict):
        return {key: _encodable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_encodable(item) for item in value]
    return value
