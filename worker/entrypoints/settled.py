"""The deliveries this worker settled, for when RabbitMQ delivers one of them again."""

from aio_pika.abc import AbstractIncomingMessage

from ..application.context import MessageContext
from ..recent import Recent

REMEMBERED = 10_000
"""Deliveries remembered, the latest ones: RabbitMQ delivers a message again once the
connection it went out on is gone, so only the last moments of a connection matter."""

Key = tuple[str, str | None, str, int]


class Settled:
    """Deliveries whose outcome went out (the reply, dead letter or retry copy confirmed)
    before they were acknowledged.

    Nothing confirms an acknowledgement: a connection that dies as one leaves, or goes
    silent before it arrives, loses it, and RabbitMQ delivers the message again, flagged
    `redelivered`. Running it again would answer its sender a second time; one settled
    here needs only the acknowledgement. (A reply whose confirm the dead connection never
    brought is not known to have gone: it goes again, and its sender may get it twice.)
    """

    def __init__(self, size: int = REMEMBERED) -> None:
        self._keys: Recent[Key] = Recent(size)

    def add(self, raw: AbstractIncomingMessage, context: MessageContext) -> None:
        key = _key(raw, context)
        if key is not None:
            self._keys.add(key)

    def again(self, raw: AbstractIncomingMessage, context: MessageContext) -> bool:
        """Whether this is RabbitMQ's second delivery of one settled here."""
        if not raw.redelivered:
            return False
        key = _key(raw, context)
        return key is not None and key in self._keys


def _key(raw: AbstractIncomingMessage, context: MessageContext) -> Key | None:
    """The same message, to the same reply queue, at the same attempt: a copy that a
    client sent again to a new reply queue is answered there."""
    if not context.message_id:
        return None
    return (context.message_id, raw.reply_to, context.name, context.attempt)
