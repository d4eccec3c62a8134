"""PizzeriaClient against the worker: concurrent calls, typed events, retried commands."""

import asyncio
import uuid
from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from aio_pika.exceptions import ChannelPreconditionFailed
from pydantic import ValidationError

from pizzeria_client.client import PizzeriaClient, ReceivedEvent
from pizzeria_contracts import (
    CustomerRegistered,
    OrderConfirmed,
    OrderPlaced,
    OrderView,
    SalesReport,
    names,
)
from tests.e2e.conftest import WorkerProcess

from .conftest import an_order, new_phone

pytestmark = pytest.mark.e2e


class Heard:
    """Every event of a subscription, collected in the background."""

    def __init__(self, events: AsyncGenerator[ReceivedEvent, None]) -> None:
        self.received: list[ReceivedEvent] = []
        self._events = events
        self._listening = asyncio.ensure_future(self._listen())

    async def _listen(self) -> None:
        async for received in self._events:
            self.received.append(received)

    async def about(self, field: str, value: str, count: int) -> list[ReceivedEvent]:
        """The first `count` events whose body has `field` = `value`, waiting up to 10 s."""
        async with asyncio.timeout(10):
            while True:
                found = [r for r in self.received if r.data.get(field) == value]
                if len(found) >= count:
                    return found[:count]
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        self._listening.cancel()
        await asyncio.gather(self._listening, return_exceptions=True)
        await self._events.aclose()


async def test_many_calls_share_one_client_at_once(pizzeria: PizzeriaClient) -> None:
    placed = await asyncio.gather(*(pizzeria.place_order(an_order()) for _ in range(30)))
    read = await asyncio.gather(*(pizzeria.get_order(order.id, timeout=5) for order in placed))

    assert len({order.id for order in placed}) == 30
    assert [order.id for order in read] == [order.id for order in placed]


async def test_events_arrive_typed_with_their_envelope(pizzeria: PizzeriaClient) -> None:
    phone = new_phone()
    orders = Heard(pizzeria.events("orders.*"))
    customers = Heard(pizzeria.events(names.CUSTOMER_REGISTERED))
    try:
        await asyncio.sleep(1)  # both queues are declared and bound
        order = await pizzeria.place_order(an_order(phone))
        placed, confirmed = await orders.about("order_id", order.id, 2)
        (registered,) = await customers.about("phone", phone, 1)
    finally:
        await orders.stop()
        await customers.stop()

    assert isinstance(placed.event, OrderPlaced)
    assert placed.event.order_id == order.id
    assert placed.event.customer_phone == phone
    assert [item.name for item in placed.event.items] == ["margherita"]
    assert isinstance(confirmed.event, OrderConfirmed)
    assert (placed.event.version, confirmed.event.version) == (1, 2)
    assert confirmed.event.total_amount == order.total_amount
    assert isinstance(registered.event, CustomerRegistered)
    assert registered.event.customer_id == order.customer_id
    for received in (placed, confirmed):
        assert received.message_id
        assert received.correlation_id
        assert received.headers["cloudEvents:subject"] == order.id
        assert received.data["order_id"] == order.id  # the raw body is still there


async def test_a_command_that_timed_out_is_sent_again_with_its_message_id_and_runs_once(
    pizzeria: PizzeriaClient, worker: WorkerProcess
) -> None:
    phone = new_phone()
    worker.pause()
    asyncio.get_running_loop().call_later(1.5, worker.resume)
    try:
        result = await pizzeria.send(
            names.PLACE_ORDER, an_order(phone), timeout=1, retries=3, message_id=uuid.uuid4().hex
        )
    finally:
        worker.resume()

    order = OrderView.model_validate(result.data)
    page = await pizzeria.list_orders_by_customer(phone)
    assert result.status == 201
    assert [o.id for o in page.items] == [order.id]
    assert (await pizzeria.get_order(order.id)).version == 2


async def test_without_retries_a_timeout_is_raised(
    pizzeria: PizzeriaClient, worker: WorkerProcess
) -> None:
    worker.pause()
    try:
        with pytest.raises(TimeoutError):
            await pizzeria.send(names.PLACE_ORDER, an_order(), timeout=0.5)
    finally:
        worker.resume()


async def test_after_rabbitmq_refuses_a_message_the_next_calls_still_get_replies(
    pizzeria: PizzeriaClient,
) -> None:
    # RabbitMQ closes the channel over a user_id that is not the connection's user;
    # the channel reopens and the reply consumer must be set up on it again
    with pytest.raises(ChannelPreconditionFailed, match="user_id"):
        await pizzeria.send(names.PLACE_ORDER, an_order(), user_id=f"not-{uuid.uuid4().hex}")

    order = await pizzeria.place_order(an_order())
    assert (await pizzeria.get_order(order.id)).id == order.id


async def test_daily_sales_counts_what_the_client_did_today(pizzeria: PizzeriaClient) -> None:
    today = datetime.now(UTC).date()
    tomorrow = today + timedelta(days=1)  # the order may end after midnight

    def summed(report: SalesReport) -> tuple[int, int, Decimal]:
        return (
            sum(day.orders_placed for day in report.days),
            sum(day.orders_delivered for day in report.days),
            sum((day.revenue for day in report.days), Decimal("0.00")),
        )

    placed, delivered, revenue = summed(await pizzeria.daily_sales(today, tomorrow))
    order = await pizzeria.place_order(an_order())
    await pizzeria.start_cooking(order.id)
    await pizzeria.mark_ready(order.id)
    await pizzeria.assign_delivery(order.id, "Luigi")
    await pizzeria.deliver(order.id)

    report = await pizzeria.daily_sales(today, tomorrow)

    assert summed(report) == (placed + 1, delivered + 1, revenue + order.total_amount)
    assert report.counted_through is not None
    with pytest.raises(ValidationError, match="at most 92"):
        await pizzeria.daily_sales(today - timedelta(days=92), today)
