"""The order's process manager: kitchen and delivery deadlines, with durable timeouts.

What is due is a function of the order alone (`next_deadline`): confirmed and not yet
flagged, the kitchen warning falls due `kitchen_warn` after confirmation; flagged, the
cancellation `kitchen_cancel` after it; out for delivery and not flagged, the delivery
warning `delivery_late` after it left. Nothing else is kept: no timer, no saga state.

The timeouts are durable because their only trace is data that outlives the worker:
the relay keeps one wake-up per waiting order in the database (`Wakeups`) from the
order's own stored state, and every worker asks it, now and then, which are due. A
wake-up is a hint: `check` reads the order afresh and acts only if the order itself
says the deadline has passed. So a stale or repeated wake-up does nothing, a worker
that was down acts when it is back, and several workers acting on the same wake-up
store one effect: each action is a change of the order with a message id of its own
(`deadline:<order>:<action>`) at the version it was judged on, and the order's
optimistic concurrency and its inbox let only one through. A move that races the
timeout (cooking started meanwhile) wins or makes the timeout's change fail: an order
that moved on is never flagged or cancelled.
"""

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from pizzeria_contracts import CancelOrder, names

from ..domain.errors import DomainError
from ..domain.orders import Lateness, Order, OrderStatus
from .context import MessageContext
from .handlers.orders import change_order
from .mediator import Outcome
from .ports import Clock, OrderStore
from .wire import domain_failure

log = logging.getLogger("worker.deadlines")

KITCHEN_TIMEOUT = "kitchen-timeout"
"""The reason of a cancellation by the kitchen deadline."""
MESSAGE_PREFIX = "deadline:"
"""How the message id of every deadline's action begins (`action_message_id`)."""


class Action(StrEnum):
    WARN_KITCHEN = "kitchen-late"
    CANCEL = "kitchen-timeout"
    WARN_DELIVERY = "delivery-late"


@dataclasses.dataclass(frozen=True)
class Timeouts:
    """How long an order may stay confirmed (warned, then cancelled) or out for delivery."""

    kitchen_warn: timedelta
    kitchen_cancel: timedelta
    delivery_late: timedelta

    def __post_init__(self) -> None:
        for name in ("kitchen_warn", "kitchen_cancel", "delivery_late"):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"{name} must be more than zero")
        if self.kitchen_warn >= self.kitchen_cancel:
            raise ValueError("the kitchen warning must come before the kitchen cancellation")


def action_message_id(order_id: str, action: "Action") -> str:
    """The one message id of this action on this order: the inbox keeps it, so it is
    stored once."""
    return f"{MESSAGE_PREFIX}{order_id}:{action}"


@dataclasses.dataclass(frozen=True)
class Deadline:
    action: Action
    at: datetime


def next_deadline(order: Order, timeouts: Timeouts) -> Deadline | None:
    """The next thing due for this order, or None when it waits for nothing."""
    since = order.status_since
    if since is None:
        return None
    if order.status is OrderStatus.CONFIRMED:
        if order.is_late(Lateness.KITCHEN):
            return Deadline(Action.CANCEL, since + timeouts.kitchen_cancel)
        return Deadline(Action.WARN_KITCHEN, since + timeouts.kitchen_warn)
    if not order.is_late(Lateness.DELIVERY):
        return Deadline(Action.WARN_DELIVERY, since + timeouts.delivery_late)
    return None


class Wakeups(Protocol):
    """When to look at which order again; kept by the relay from the stored orders."""

    async def due(self, now: datetime, limit: int) -> list[str]:
        """Ids of orders whose wake-up is at or before `now`, the earliest first."""
        ...

    async def keep(self, order: Order) -> None:
        """Put this order's wake-up right for its state (or remove it), unless the
        wake-up already reflects a later version."""
        ...

    async def forget(self, order_id: str) -> None:
        """Remove the wake-up of an order that is not stored."""
        ...


Send = Callable[[str, bytes, MessageContext], Awaitable[Outcome]]
"""`Mediator.send`: a command through the pipeline, as if it had arrived."""


class OrderDeadlines:
    """Acts on the deadlines that are due: flags the order late, or cancels it."""

    def __init__(
        self,
        orders: OrderStore,
        wakeups: Wakeups,
        send: Send,
        timeouts: Timeouts,
        clock: Clock,
    ) -> None:
        self._orders = orders
        self._wakeups = wakeups
        self._send = send
        self._timeouts = timeouts
        self._clock = clock

    async def run_due(self, limit: int = 100) -> list[Action]:
        """Check every order whose wake-up is due; what this worker stored. One that
        fails is left for the next pass; the others go on."""
        done: list[Action] = []
        for order_id in await self._wakeups.due(self._clock(), limit):
            try:
                action = await self.check(order_id)
            except Exception as error:  # noqa: BLE001 - one order must not hold up the rest
                log.warning("deadline of order %s failed; again next pass: %r", order_id, error)
                continue
            if action is not None:
                done.append(action)
        return done

    async def check(self, order_id: str) -> Action | None:
        """Act on the order's deadline if it has passed; the action, if this call stored
        it (a flag found stored by another worker that raced this one is not counted)."""
        loaded = await self._orders.load(order_id, fresh=True)
        if loaded is None:  # the order is gone (removed by hand): so is its deadline
            await self._wakeups.forget(order_id)
            return None
        order = loaded.aggregate
        deadline = next_deadline(order, self._timeouts)
        if deadline is None or deadline.at > self._clock():
            await self._wakeups.keep(order)  # early, stale or repeated: set it right
            return None
        cancel = deadline.action is Action.CANCEL
        context = MessageContext(
            name=names.CANCEL_ORDER if cancel else str(deadline.action),
            message_id=action_message_id(order.id, deadline.action),
            expected_version=order.version,
            internal=True,
        )
        if cancel:
            body = CancelOrder(order_id=order.id, reason=KITCHEN_TIMEOUT).model_dump_json()
            outcome = await self._send(names.CANCEL_ORDER, body.encode(), context)
            # Through the mediator nothing says whether this call stored it or found the
            # reply of another worker that acted in the same instant (one that comes
            # later reads the order cancelled, and sends nothing): counted as stored.
            took = outcome.result.ok
        else:
            kind = Lateness.KITCHEN if deadline.action is Action.WARN_KITCHEN else Lateness.DELIVERY
            stored: list[int] = []
            try:
                outcome = await change_order(
                    self._orders,
                    order.id,
                    context,
                    lambda o: o.flag_late(kind, deadline.at, self._clock()),
                    stored=stored.append,
                )
            except DomainError as error:  # the order is gone
                outcome = Outcome(domain_failure(error))
            took = bool(stored)  # not when another worker's stored reply came back
        await outcome.published()  # done with the order once what it stored is out
        result = outcome.result
        if not result.ok:
            log.info("%s of order %s not taken: %s", deadline.action, order.id, result.detail)
            return None
        if not took:
            return None
        log.info("order %s: %s (deadline %s)", order.id, deadline.action, deadline.at.isoformat())
        return deadline.action
