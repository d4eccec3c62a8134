"""Subscribers: decode the transport, ask the mediator, answer, acknowledge.

Every message is acknowledged only after its outcome is safe: the change and
its events stored, the dead letter confirmed, the reply sent. Whatever goes
wrong, the sender with a `reply_to` hears back.
"""

import logging
from typing import Any

from aio_pika.abc import AbstractIncomingMessage
from faststream.rabbit import RabbitMessage

from pizzeria_contracts import OperationResult, names

from ..adapters.rabbit.publishing import RabbitPublisher
from ..application.context import MessageContext
from ..application.mediator import Mediator, Outcome

log = logging.getLogger("worker.subscribers")

FAILED = Outcome(
    OperationResult.failure(500, "The message could not be processed"),
    dead_letter="processing-failed",
)


def context_of(raw: AbstractIncomingMessage) -> MessageContext:
    headers = raw.headers or {}
    return MessageContext(
        name=raw.routing_key or "",
        exchange=raw.exchange or "",
        message_id=raw.message_id,
        correlation_id=raw.correlation_id,
        user_id=raw.user_id,
        traceparent=_text(headers.get(names.TRACEPARENT_HEADER)),
    )


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


class Subscriber:
    """The handler FastStream calls for each message of a worker queue."""

    def __init__(self, mediator: Mediator, publisher: RabbitPublisher) -> None:
        self._mediator = mediator
        self._publisher = publisher

    async def __call__(self, message: RabbitMessage) -> None:
        raw = message.raw_message
        context = context_of(raw)
        try:
            outcome = await self._mediator.send(context.name, raw.body, context)
        except Exception:
            log.exception("%s failed", context.name, extra={"message_id": context.message_id})
            outcome = FAILED
        if outcome.dead_letter:
            await self._publisher.dead_letter(raw, outcome.dead_letter, outcome.result.detail or "")
        await self._publisher.reply(raw, outcome.result)
        await raw.ack()
