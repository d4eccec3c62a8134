"""Kitchen and delivery deadlines against the running worker, with timeouts of seconds:
an order left alone is warned then cancelled, one cooked in time is not, one out too
long is flagged with its driver and listed late until delivered."""

import asyncio
from collections.abc import AsyncGenerator
from datetime import datetime, timedelta
from typing import Any

import pytest

from pizzeria_client.client import PizzeriaClient, ReceivedEvent
from pizzeria_contracts import KitchenLate, LateOrders, PizzaRequest, PlaceOrder
from tests.e2e.amqp import RawClient
from tests.e2e.conftest import WorkerProcess
from tests.e2e.deadlines import CANCEL, LATE, SHORT_TIMEOUTS, WARN, about, ask, body, place, send

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def worker_env() -> dict[str, str]:
    return SHORT_TIMEOUTS


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_an_order_left_alone_is_warned_then_cancelled(
    client: RawClient, worker: WorkerProcess
) -> None:
    events = await client.watch_events("orders.#")
    order_id = await place(client)

    late, cancelled = await events.collect(
        about(order_id, "orders.kitchen-late", "orders.cancelled"), 2, timeout=CANCEL + 6
    )

    assert [late.routing_key, cancelled.routing_key] == ["orders.kitchen-late", "orders.cancelled"]
    warned = body(late)
    assert (warned["version"], warned["order_id"]) == (3, order_id)
    assert when(warned["deadline"]) - when(warned["since"]) == timedelta(seconds=WARN)
    assert warned["waited_seconds"] >= WARN
    assert warned["overdue_seconds"] >= 0
    assert body(cancelled)["reason"] == "kitchen-timeout"
    assert body(cancelled)["previous_status"] == "confirmed"
    order = await view_at(client, order_id, 4)  # the view follows the events
    assert (order["status"], order["cancel_reason"], order["version"]) == (
        "cancelled",
        "kitchen-timeout",
        4,
    )
    assert order["late"]["kind"] == "kitchen"
    assert when(order["updated_at"]) - when(order["created_at"]) >= timedelta(seconds=CANCEL)
    again = await events.quiet(about(order_id, "orders.kitchen-late", "orders.cancelled"), 1.0)
    assert {body(m)["version"] for m in again} == {3, 4}, "a timeout fired twice"
    assert "Traceback" not in worker.log


async def test_an_order_cooked_in_time_raises_nothing(client: RawClient) -> None:
    events = await client.watch_events("orders.#")
    cooked = await place(client)
    await send(client, "orders.start-cooking", order_id=cooked)
    left_alone = await place(client)  # placed after it: its cancellation comes later

    await events.collect(about(left_alone, "orders.cancelled"), 1, timeout=CANCEL + 6)

    assert [m.routing_key for m in events.received if body(m).get("order_id") == cooked] == [
        "orders.placed",
        "orders.confirmed",
        "orders.cooking-started",
    ]
    assert (await ask(client, "orders.get", order_id=cooked))["late"] is None


async def test_an_order_out_too_long_is_flagged_with_its_driver_and_listed_late(
    client: RawClient,
) -> None:
    events = await client.watch_events("orders.#")
    order_id = await place(client)
    await send(client, "orders.start-cooking", order_id=order_id)
    await send(client, "orders.mark-ready", order_id=order_id)
    await send(client, "orders.assign-delivery", order_id=order_id, driver="Luigi")

    (late,) = await events.collect(about(order_id, "orders.delivery-late"), 1, timeout=LATE + 6)

    assert (body(late)["driver"], body(late)["version"]) == ("Luigi", 7)
    listed = await listed_late(client, order_id, present=True)
    assert (listed["kind"], listed["driver"], listed["status"]) == (
        "delivery",
        "Luigi",
        "delivering",
    )
    await send(client, "orders.deliver", order_id=order_id)
    assert await listed_late(client, order_id, present=False) == {}
    assert (await ask(client, "orders.get", order_id=order_id))["status"] == "delivered"


async def view_at(client: RawClient, order_id: str, version: int) -> dict[str, Any]:
    """`orders.get` once its view shows `version` (or what it shows after 5 s)."""
    for _ in range(50):
        order = await ask(client, "orders.get", order_id=order_id)
        if order["version"] >= version:
            break
        await asyncio.sleep(0.1)
    return order


async def listed_late(client: RawClient, order_id: str, *, present: bool) -> dict[str, object]:
    """The order's entry in `orders.list-late` once it is (or is no longer) there; the
    list follows the relay, so it may take a moment."""
    for _ in range(50):
        items = (await ask(client, "orders.list-late", limit=100))["items"]
        found = [item for item in items if item["order_id"] == order_id]
        if bool(found) == present:
            return found[0] if found else {}
        await asyncio.sleep(0.1)
    raise AssertionError(f"{order_id} {'never' if present else 'still'} in orders.list-late")


async def test_the_python_client_reads_the_late_orders_and_their_events_typed(
    amqp_url: str, worker: WorkerProcess
) -> None:
    heard: list[ReceivedEvent] = []
    arrived = asyncio.Event()

    async def listen(events: AsyncGenerator[ReceivedEvent, None]) -> None:
        async for received in events:
            heard.append(received)
            arrived.set()

    async with PizzeriaClient(amqp_url, timeout=10) as pizzeria:
        events = pizzeria.events("orders.kitchen-late")
        listening = asyncio.create_task(listen(events))
        await asyncio.sleep(0.5)  # the subscription's queue is bound
        order = await pizzeria.place_order(
            PlaceOrder(
                customer_name="Cy",
                customer_phone="+39 333 000 0002",
                pizzas=[PizzaRequest(name="margherita", size="small")],
            )
        )
        async with asyncio.timeout(WARN + 6):
            while not (ours := [r for r in heard if r.data.get("order_id") == order.id]):
                await arrived.wait()
                arrived.clear()
        for _ in range(50):  # the list follows the relay, just after the event
            late = await pizzeria.list_late_orders(limit=100)
            if order.id in [item.order_id for item in late.items]:
                break
            await asyncio.sleep(0.1)
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
        await events.aclose()

    event = ours[0].event
    assert isinstance(event, KitchenLate)
    assert event.deadline - event.since == timedelta(seconds=WARN)
    assert isinstance(late, LateOrders)
    assert [item.kind for item in late.items if item.order_id == order.id] == ["kitchen"]
