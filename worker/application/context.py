"""What the worker knows about a message besides its body."""

import dataclasses
from uuid import NAMESPACE_URL, uuid5


@dataclasses.dataclass(frozen=True, slots=True)
class MessageContext:
    """Transport facts of one message, carried through the pipeline."""

    name: str
    exchange: str = ""
    message_id: str | None = None
    correlation_id: str | None = None
    user_id: str | None = None
    traceparent: str | None = None
    attempt: int = 0
    """Retries spent so far: read only from the worker's own retry copies."""
    forged_retry: bool = False
    """It claims to be one of the worker's retry copies, but another user sent it."""
    internal: bool = False
    """Sent by the worker to itself (a deadline's action), never read from a message: it
    needs no user's grant."""
    expected_version: int | None = None
    """Apply only to this version of the aggregate (409 if it moved on); the worker's own
    messages only."""

    @property
    def causation(self) -> str:
        """The id that ties effects to this message: correlation, else message id."""
        return self.correlation_id or self.message_id or ""


_ID_NAMESPACE = uuid5(NAMESPACE_URL, "urn:pizzeria:order-service")


def id_for(kind: str, message_id: str) -> str:
    """A stable id for what a message creates, so a re-sent message finds it again."""
    return uuid5(_ID_NAMESPACE, f"{kind}:{message_id}").hex
