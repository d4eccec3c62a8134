"""What command handlers share: receipts and the load-change-store loop."""

from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from pizzeria_contracts import OperationResult

from ...domain.errors import DomainError, VersionMovedError
from ...domain.events import DomainEvent
from ..context import MessageContext
from ..errors import ConcurrencyError
from ..mediator import Outcome
from ..ports import AggregateStore, Receipt
from ..wire import domain_failure

CONFLICT_ATTEMPTS = 5
"""How often a command reloads and applies again after losing a race."""


class _Aggregate(Protocol):
    version: int
    pending_events: list[DomainEvent]


A = TypeVar("A", bound=_Aggregate)


def receipt(context: MessageContext, result: OperationResult | None = None) -> Receipt:
    return Receipt(
        context.message_id or "", context.causation, context.traceparent, result, context.name
    )


async def change(
    store: AggregateStore[A],
    aggregate_id: str,
    context: MessageContext,
    apply: Callable[[A], None],
    view: Callable[[A], Mapping[str, Any]],
    missing: Callable[[], DomainError],
    status: int = 200,
    *,
    stored: Callable[[int], None] | None = None,
) -> Outcome:
    """Load, change and store an aggregate; a lost race reloads and applies again.

    A command seen before (same `message_id`) gets its stored reply and changes
    nothing. A domain error from `apply` is the reply (nothing was stored), and so is
    VersionMovedError when the context expects another version than the stored one.
    Either kind of reply waits for what the store still publishes of the aggregate:
    it speaks of that state. `stored` learns the version this call stored (not called
    for a stored reply). A refusal of what the store remembered is confirmed on the
    stored aggregate first: another worker may have moved it on.
    """
    message_id = context.message_id or ""
    fresh = False
    for _ in range(CONFLICT_ATTEMPTS):
        loaded = await store.load(aggregate_id, message_id, fresh=fresh)
        if loaded is None:
            raise missing()
        before = () if loaded.publishing is None else (loaded.publishing,)
        if (prior := loaded.replies.get(message_id)) is not None:
            return Outcome(prior, publishing=before)
        aggregate = loaded.aggregate
        try:
            expected = context.expected_version
            if expected is not None and aggregate.version != expected:
                raise VersionMovedError(aggregate_id, expected, aggregate.version)
            apply(aggregate)
        except DomainError as error:
            if not loaded.remembered:
                return Outcome(domain_failure(error), publishing=before)
            fresh = True
            continue
        result = OperationResult.success(view(aggregate), status)
        try:
            publishing = await store.update(aggregate, receipt(context, result))
        except ConcurrencyError:
            continue
        if stored is not None:
            stored(aggregate.version)
        return Outcome(result, publishing=(*before, publishing))
    raise ConcurrencyError(f"{aggregate_id} kept changing")
