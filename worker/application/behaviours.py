"""The pipeline around every handler: logging, validation, domain errors, lanes."""

import asyncio
import dataclasses
import functools
import logging
import time
from collections.abc import Callable

from pydantic import ValidationError

from pizzeria_contracts import FieldError, OperationResult

from ..domain.errors import DomainError
from .mediator import Message, Next, Outcome
from .wire import domain_failure

log = logging.getLogger("worker.messages")


@dataclasses.dataclass(slots=True)
class Ending:
    """How a message ended, as the logging and metrics behaviours report it: its
    outcome's kind and status, `error` and 500 when the handler raised, `cancelled`
    and no status when it was cancelled before its outcome (its channel closed under
    it, so RabbitMQ delivers it again)."""

    kind: str = "error"
    status: int | None = 500
    seconds: float = 0.0


async def observed(message: Message, next_: Next, report: Callable[[Ending], None]) -> Outcome:
    """Run the rest of the pipeline, then `report` how it ended, however it did."""
    started = time.perf_counter()
    ending = Ending()
    try:
        outcome = await next_(message)
        ending.kind, ending.status = outcome.kind, outcome.result.status
        return outcome
    except asyncio.CancelledError:
        ending.kind, ending.status = "cancelled", None
        raise
    finally:
        ending.seconds = time.perf_counter() - started
        report(ending)


class LoggingBehaviour:
    """One line per message: name, ids, status, outcome and duration; a message
    cancelled before its outcome is a warning that says RabbitMQ delivers it again."""

    async def __call__(self, message: Message, next_: Next) -> Outcome:
        return await observed(message, next_, functools.partial(_log_line, message))


def _log_line(message: Message, ending: Ending) -> None:
    level = logging.INFO if ending.status is not None else logging.WARNING
    if not log.isEnabledFor(level):
        return
    args: tuple[object, ...] = (message.name, ending.kind)
    if ending.status is None:
        text = "%s %s before its outcome; RabbitMQ delivers it again"
    else:
        text, args = "%s %s status=%s", (*args, ending.status)
    context = message.context
    log.log(
        level,
        text,
        *args,
        extra={
            "message_name": message.name,
            "message_id": context.message_id,
            "correlation_id": context.correlation_id,
            "outcome": ending.kind,
            "status": ending.status,
            "duration_ms": round(ending.seconds * 1000, 3),
        },
    )


class ValidationBehaviour:
    """Turns the raw body into the typed request, or answers 400 and dead-letters."""

    def __init__(self, max_body_bytes: int) -> None:
        self._max_body_bytes = max_body_bytes

    async def __call__(self, message: Message, next_: Next) -> Outcome:
        route = message.route
        exchange = message.context.exchange
        if route is None or (exchange and exchange != route.exchange):
            return invalid(
                "unknown-message", f"'{message.name}' is not a known message on '{exchange}'"
            )
        size, limit = len(message.body), self._max_body_bytes
        if size > limit:
            return invalid(
                "message-too-large", f"The body has {size} bytes; at most {limit} are accepted"
            )
        if route.is_command and not message.context.message_id:
            return invalid("missing-message-id", "A command needs a message_id property")
        try:
            message.request = route.request_type.model_validate_json(message.body)
        except ValidationError as error:
            return from_validation_error(error)
        return await next_(message)


class DomainErrorBehaviour:
    """The domain's refusals become replies: 400, 404 or 409 with what was wrong."""

    async def __call__(self, message: Message, next_: Next) -> Outcome:
        try:
            return await next_(message)
        except DomainError as error:
            return Outcome(domain_failure(error))


@dataclasses.dataclass(slots=True)
class _Lane:
    lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)
    users: int = 0


class LaneBehaviour:
    """Commands that share a lane key (an order, a phone, a pizza) run one at a time."""

    def __init__(self) -> None:
        self._lanes: dict[str, _Lane] = {}

    async def __call__(self, message: Message, next_: Next) -> Outcome:
        key = message.route.lane_key(message.request) if message.route and message.request else None
        if key is None:
            return await next_(message)
        lane = self._lanes.get(key) or self._lanes.setdefault(key, _Lane())
        lane.users += 1
        try:
            async with lane.lock:
                return await next_(message)
        finally:
            lane.users -= 1
            if not lane.users:
                del self._lanes[key]


def invalid(reason: str, detail: str, errors: list[FieldError] | None = None) -> Outcome:
    return Outcome(OperationResult.failure(400, detail, errors), dead_letter=reason)


def from_validation_error(error: ValidationError) -> Outcome:
    problems = error.errors(include_url=False, include_input=False)
    if any(problem["type"] == "json_invalid" for problem in problems):
        return invalid("invalid-json", "The body is not valid JSON")
    fields = [
        FieldError(
            field=".".join(str(part) for part in problem["loc"]) or "body",
            message=problem["msg"],
        )
        for problem in problems
    ]
    detail = "; ".join(f"{field.field}: {field.message}" for field in fields)
    return invalid("invalid-message", f"The message is invalid: {detail}", fields)
