"""The order aggregate: placing, its life from the kitchen to the door, and replay."""

from decimal import Decimal

import pytest

from tests.unit.orders import (
    ACTIONS,
    PATH_TO,
    START,
    customer,
    margherita,
    order_in,
    place,
    snapshot,
    tick,
)
from worker.domain import events as ev
from worker.domain.errors import ConflictError, EmptyOrderError, InvalidTransitionError
from worker.domain.menu import Size
from worker.domain.orders import ALLOWED_FROM, Order, OrderStatus


def test_placing_an_order_records_placed_then_confirmed() -> None:
    order = place(margherita(Size.LARGE, ("basil",)), margherita())

    assert [event.type for event in order.pending_events] == [
        "orders.placed",
        "orders.confirmed",
    ]
    assert [event.version for event in order.pending_events] == [1, 2]
    assert all(event.aggregate_id == order.id for event in order.pending_events)
    assert order.status is OrderStatus.CONFIRMED
    assert order.version == 2


def test_a_placed_order_totals_its_unit_prices() -> None:
    order = place(margherita(Size.LARGE, ("basil",)), margherita())

    assert [item.unit_price for item in order.items] == [Decimal("23.28"), Decimal("12.99")]
    assert order.total_amount == Decimal("36.27")
    confirmed = order.pending_events[1]
    assert isinstance(confirmed, ev.OrderConfirmed)
    assert confirmed.total_amount == Decimal("36.27")
    assert order.created_at == order.updated_at == START


def test_an_order_with_no_pizzas_is_refused() -> None:
    with pytest.raises(EmptyOrderError) as caught:
        Order.place("o-1", customer(), [], "cash", None, START)

    assert caught.value.message == "Order must contain at least one pizza"
    assert str(caught.value) == "Order must contain at least one pizza"
    assert caught.value.field == "pizzas"


@pytest.mark.parametrize(
    ("status", "action", "target", "recorded"),
    [
        (OrderStatus.CONFIRMED, "start_cooking", OrderStatus.COOKING, ["orders.cooking-started"]),
        (OrderStatus.COOKING, "mark_ready", OrderStatus.READY, ["orders.ready"]),
        (
            OrderStatus.READY,
            "assign_delivery",
            OrderStatus.DELIVERING,
            ["orders.delivery-assigned", "orders.out-for-delivery"],
        ),
        (OrderStatus.DELIVERING, "deliver", OrderStatus.DELIVERED, ["orders.delivered"]),
        (OrderStatus.CONFIRMED, "cancel", OrderStatus.CANCELLED, ["orders.cancelled"]),
        (OrderStatus.COOKING, "cancel", OrderStatus.CANCELLED, ["orders.cancelled"]),
        (OrderStatus.READY, "cancel", OrderStatus.CANCELLED, ["orders.cancelled"]),
        (OrderStatus.DELIVERING, "cancel", OrderStatus.CANCELLED, ["orders.cancelled"]),
    ],
)
def test_an_allowed_transition_records_its_events(
    status: OrderStatus, action: str, target: OrderStatus, recorded: list[str]
) -> None:
    order = order_in(status)
    version = order.version

    ACTIONS[action](order, tick(60))

    assert order.status is target
    assert [event.type for event in order.pending_events] == recorded
    assert [event.version for event in order.pending_events] == [
        version + n for n in range(1, len(recorded) + 1)
    ]
    assert order.version == version + len(recorded)
    assert order.updated_at == tick(60)


def test_assigning_a_delivery_names_the_driver() -> None:
    order = order_in(OrderStatus.READY)

    order.assign_delivery("Luigi", tick(60))

    assert order.driver == "Luigi"
    assigned, out = order.pending_events
    assert isinstance(assigned, ev.DeliveryAssigned)
    assert isinstance(out, ev.OutForDelivery)
    assert assigned.driver == out.driver == "Luigi"


@pytest.mark.parametrize("status", [s for s in ALLOWED_FROM["cancel"]])
def test_cancelling_records_the_reason_and_the_status_it_was_in(status: OrderStatus) -> None:
    order = order_in(status)

    order.cancel("oven broke", tick(60))

    (cancelled,) = order.pending_events
    assert isinstance(cancelled, ev.OrderCancelled)
    assert cancelled.reason == "oven broke"
    assert cancelled.previous_status == status.value
    assert order.cancel_reason == "oven broke"


FORBIDDEN = [
    (status, action)
    for status in PATH_TO
    for action in ACTIONS
    if status not in ALLOWED_FROM[action.replace("_", " ")]
]


@pytest.mark.parametrize(("status", "action"), FORBIDDEN)
def test_a_forbidden_transition_is_a_conflict_that_changes_nothing(
    status: OrderStatus, action: str
) -> None:
    order = order_in(status)
    before = snapshot(order)

    with pytest.raises(InvalidTransitionError) as caught:
        ACTIONS[action](order, tick(60))

    assert isinstance(caught.value, ConflictError)
    assert caught.value.status == status.value
    assert f"is {status.value}" in caught.value.message
    assert snapshot(order) == before
    assert order.pending_events == []


def test_cancelling_a_delivered_order_is_a_conflict_saying_nothing_is_allowed() -> None:
    order = order_in(OrderStatus.DELIVERED)

    with pytest.raises(InvalidTransitionError) as caught:
        order.cancel(None, tick(60))

    assert caught.value.message == (
        f"Order '{order.id}' is delivered: cannot cancel; allowed from delivered: nothing"
    )


def test_a_forbidden_transition_says_what_is_allowed_from_the_current_state() -> None:
    order = order_in(OrderStatus.CONFIRMED)

    with pytest.raises(InvalidTransitionError) as caught:
        order.deliver(tick(60))

    message = caught.value.message
    assert "is confirmed" in message
    assert "cannot deliver" in message
    assert message.endswith("allowed from confirmed: start cooking, cancel")


@pytest.mark.parametrize("status", list(PATH_TO))
def test_replaying_the_events_rebuilds_the_same_order(status: OrderStatus) -> None:
    order = place(margherita(Size.MEDIUM, ("olives", "basil")))
    history: list[ev.DomainEvent] = []
    for seconds, action in enumerate(PATH_TO[status], start=1):
        history.extend(order.pending_events)
        order.pending_events.clear()
        ACTIONS[action](order, tick(seconds))
    history.extend(order.pending_events)

    rebuilt = Order.from_events(order.id, history)

    assert snapshot(rebuilt) == snapshot(order)
    assert rebuilt.pending_events == []
