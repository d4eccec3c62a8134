"""With shards: the command queue's one active consumer forwards each command, in the
order it arrived, to the shard queue of the order it names.

Each shard queue has one active consumer too, so the commands of one order run on
one worker at a time, in the order they were sent, whichever worker that is; the
other workers stand by and take over a shard when its worker goes. A command that
names no order (`orders.place`, the menu's) goes to a queue every worker takes
from. The shard of an order is `crc32(order_id) mod N`, N the number of shards.
"""

import asyncio
import contextlib
import itertools
import logging
import zlib

import orjson
from aio_pika.abc import AbstractIncomingMessage
from aio_pika.exceptions import DeliveryError
from faststream.rabbit import RabbitMessage

from ..adapters.rabbit.publishing import RabbitPublisher
from ..adapters.rabbit.topology import ANY_SHARD_QUEUE, shard_queue
from ..application.context import MessageContext
from .subscribers import Subscriber, context_of

log = logging.getLogger("worker.router")
REFUSED_PAUSES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
"""Pauses before forwarding again a command the broker refused, the last repeated."""


def shard_of(body: bytes, shards: int) -> int | None:
    """The shard of the order a command names in `order_id`; None when it names none
    (or is no JSON object: the worker that takes it from `any` dead-letters it)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    order_id = data.get("order_id") if isinstance(data, dict) else None
    if not isinstance(order_id, str):
        return None
    return zlib.crc32(order_id.encode()) % shards


class Router:
    """The handler of the command queue when there are shards. Its channel has a
    prefetch of 1: RabbitMQ delivers the next command only once this one is
    forwarded and acknowledged, so the order holds whatever the scheduling."""

    def __init__(
        self,
        publisher: RabbitPublisher,
        subscriber: Subscriber,
        shards: int,
        worker_user: str,
        max_body_bytes: int,
    ) -> None:
        self._publisher = publisher
        self._subscriber = subscriber
        self._shards = shards
        self._worker_user = worker_user
        self._max_body_bytes = max_body_bytes

    async def __call__(self, message: RabbitMessage) -> None:
        raw = message.raw_message
        context = context_of(raw, self._worker_user)
        if context.forged_retry:  # answered here: a copy would vouch for its claims
            await self._subscriber(message)
            return
        shard = None if len(raw.body) > self._max_body_bytes else shard_of(raw.body, self._shards)
        queue = ANY_SHARD_QUEUE if shard is None else shard_queue(shard)  # too big: refused there
        try:
            await self._forward(raw, context, queue)
        except Exception:
            log.exception(
                "%s not forwarded to %s; back in its queue, first in line",
                context.name,
                queue,
                extra={"message_name": context.name, "message_id": context.message_id},
            )
            # Nothing after it was delivered yet (prefetch 1): put back, it comes first.
            with contextlib.suppress(Exception):  # a closed channel puts it back itself
                await raw.nack(requeue=True)
            raise
        await raw.ack()

    async def _forward(
        self, raw: AbstractIncomingMessage, context: MessageContext, queue: str
    ) -> None:
        """Forward until the broker takes it: a quorum queue electing a new leader
        refuses publishes (a nack) for a few seconds, and the next command must not
        overtake this one meanwhile, so a refusal is tried again for as long as it
        lasts."""
        for attempt in itertools.count():
            try:
                await self._publisher.forward(raw, context, queue)
            except DeliveryError as error:
                pause = REFUSED_PAUSES[min(attempt, len(REFUSED_PAUSES) - 1)]
                log.warning(
                    "%s refused by %s (%r); again in %.1fs", context.name, queue, error, pause
                )
                await asyncio.sleep(pause)
            else:
                return
