"""The order's life through the mediator: each command, duplicates, conflicts, 404s."""

from typing import Any
from uuid import uuid4

import pytest

from pizzeria_contracts import names
from tests.unit.pizzeria import Pizzeria

LIFE = [
    (names.START_COOKING, {}, "cooking"),
    (names.MARK_READY, {}, "ready"),
    (names.ASSIGN_DELIVERY, {"driver": "Luigi"}, "delivering"),
    (names.DELIVER_ORDER, {}, "delivered"),
]


async def test_each_step_of_the_life_answers_200_with_the_new_status(
    pizzeria: Pizzeria,
) -> None:
    order = await pizzeria.place()

    # assign-delivery records two events: delivery-assigned and out-for-delivery
    for (name, extra, status), version in zip(LIFE, [3, 4, 6, 7], strict=True):
        outcome = await pizzeria.command(name, {"order_id": order["id"], **extra})
        assert outcome.result.status == 200, outcome.result
        assert outcome.result.data["status"] == status
        assert outcome.result.data["version"] == version
        assert outcome.dead_letter is None

    stored = await pizzeria.query(names.GET_ORDER, {"order_id": order["id"]})
    assert stored.result.data["status"] == "delivered"
    assert stored.result.data["driver"] == "Luigi"
    assert [e.type for e in pizzeria.orders.events] == [
        "orders.placed",
        "orders.confirmed",
        "orders.cooking-started",
        "orders.ready",
        "orders.delivery-assigned",
        "orders.out-for-delivery",
        "orders.delivered",
    ]


@pytest.mark.parametrize("steps", [0, 1, 2, 3])
async def test_cancelling_before_delivery_answers_200_cancelled(
    pizzeria: Pizzeria, steps: int
) -> None:
    order = await pizzeria.place()
    for name, extra, _ in LIFE[:steps]:
        await pizzeria.command(name, {"order_id": order["id"], **extra})

    outcome = await pizzeria.command(
        names.CANCEL_ORDER, {"order_id": order["id"], "reason": "too late"}
    )

    assert outcome.result.status == 200
    assert outcome.result.data["status"] == "cancelled"
    assert pizzeria.orders.events[-1].type == "orders.cancelled"


async def test_cancelling_a_delivered_order_is_a_conflict(pizzeria: Pizzeria) -> None:
    order = await pizzeria.place()
    for name, extra, _ in LIFE:
        await pizzeria.command(name, {"order_id": order["id"], **extra})
    events = len(pizzeria.orders.events)

    outcome = await pizzeria.command(names.CANCEL_ORDER, {"order_id": order["id"]})

    assert outcome.result.status == 409
    assert "delivered" in (outcome.result.detail or "")
    assert len(pizzeria.orders.events) == events


@pytest.mark.parametrize(("name", "extra", "_status"), LIFE[1:])
async def test_skipping_a_step_is_a_conflict(
    pizzeria: Pizzeria, name: str, extra: dict[str, Any], _status: str
) -> None:
    order = await pizzeria.place()

    outcome = await pizzeria.command(name, {"order_id": order["id"], **extra})

    assert outcome.result.status == 409
    assert outcome.dead_letter is None
    assert "confirmed" in (outcome.result.detail or "")


@pytest.mark.parametrize(
    ("name", "extra"), [(name, extra) for name, extra, _ in LIFE] + [(names.CANCEL_ORDER, {})]
)
async def test_a_command_about_a_missing_order_is_a_404(
    pizzeria: Pizzeria, name: str, extra: dict[str, Any]
) -> None:
    outcome = await pizzeria.command(name, {"order_id": uuid4().hex, **extra})

    assert outcome.result.status == 404
    assert outcome.dead_letter is None
    assert pizzeria.orders.events == []


async def test_a_resent_command_gets_the_original_reply_and_changes_nothing(
    pizzeria: Pizzeria,
) -> None:
    order = await pizzeria.place()
    message_id = uuid4().hex
    body = {"order_id": order["id"]}

    first = await pizzeria.command(names.START_COOKING, body, message_id)
    await pizzeria.command(names.MARK_READY, body)
    again = await pizzeria.command(names.START_COOKING, body, message_id)

    assert first.result.status == 200
    assert again == first
    assert again.result.data["status"] == "cooking"
    cooking = [e for e in pizzeria.orders.events if e.type == "orders.cooking-started"]
    assert len(cooking) == 1
    assert pizzeria.orders.items[order["id"]].status == "ready"
