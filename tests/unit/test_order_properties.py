"""Properties of the order's life under any sequence of actions."""

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.orders import ACTIONS, margherita, place, snapshot, tick
from worker.domain.errors import InvalidTransitionError
from worker.domain.menu import Size
from worker.domain.orders import Order, OrderStatus

S = OrderStatus

EXPECTED: dict[tuple[OrderStatus, str], OrderStatus] = {
    (S.CONFIRMED, "start_cooking"): S.COOKING,
    (S.COOKING, "mark_ready"): S.READY,
    (S.READY, "assign_delivery"): S.DELIVERING,
    (S.DELIVERING, "deliver"): S.DELIVERED,
    (S.CONFIRMED, "cancel"): S.CANCELLED,
    (S.COOKING, "cancel"): S.CANCELLED,
    (S.READY, "cancel"): S.CANCELLED,
    (S.DELIVERING, "cancel"): S.CANCELLED,
}
"""The whole state machine of the contract: (status, action) -> new status."""

TERMINAL = {S.DELIVERED, S.CANCELLED}

actions = st.lists(st.sampled_from(sorted(ACTIONS)), max_size=12)
sizes = st.sampled_from(list(Size))


@given(steps=actions, size=sizes)
def test_any_sequence_of_actions_follows_the_state_machine(steps: list[str], size: Size) -> None:
    order = place(margherita(size))

    for seconds, action in enumerate(steps, start=1):
        before = snapshot(order)
        events_before = list(order.pending_events)
        target = EXPECTED.get((order.status, action))
        if target is None:
            with pytest.raises(InvalidTransitionError) as caught:
                ACTIONS[action](order, tick(seconds))
            assert caught.value.status == before["status"].value
            assert snapshot(order) == before
            assert order.pending_events == events_before
        else:
            ACTIONS[action](order, tick(seconds))
            assert order.status is target
            assert order.updated_at == tick(seconds)
        assert order.version == len(order.pending_events)
        assert [event.version for event in order.pending_events] == list(
            range(1, order.version + 1)
        )


@given(steps=actions)
def test_delivered_and_cancelled_orders_accept_nothing(steps: list[str]) -> None:
    order = place()
    reached_terminal_at: OrderStatus | None = None

    for seconds, action in enumerate(steps, start=1):
        try:
            ACTIONS[action](order, tick(seconds))
        except InvalidTransitionError:
            pass
        else:
            assert reached_terminal_at is None, f"{action} after {reached_terminal_at}"
        if order.status in TERMINAL:
            reached_terminal_at = reached_terminal_at or order.status
            assert order.status is reached_terminal_at


@given(steps=actions, size=sizes, toppings=st.lists(st.text(min_size=1), max_size=3))
def test_replaying_every_event_rebuilds_an_equal_order(
    steps: list[str], size: Size, toppings: list[str]
) -> None:
    order = place(margherita(size, tuple(toppings)), margherita())
    for seconds, action in enumerate(steps, start=1):
        with contextlib.suppress(InvalidTransitionError):
            ACTIONS[action](order, tick(seconds))

    rebuilt = Order.from_events(order.id, order.pending_events)

    assert snapshot(rebuilt) == snapshot(order)
    assert rebuilt.version == len(order.pending_events)
