"""The mediator itself: one route per name, lanes, and failures worth retrying."""

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import uuid4

import pytest

from pizzeria_contracts import OperationResult, StartCooking, names
from tests.unit.pizzeria import Pizzeria
from worker.application.behaviours import (
    DomainErrorBehaviour,
    LaneBehaviour,
    ValidationBehaviour,
)
from worker.application.context import MessageContext
from worker.application.errors import ConcurrencyError
from worker.application.mediator import Mediator, Outcome, Route
from worker.domain.errors import OrderNotFoundError

NAME = "orders.test-lane"
Handler = Callable[[StartCooking, MessageContext], Awaitable[OperationResult]]


def mediator_for(handler: Handler) -> Mediator:
    # The lane key is read from the typed request, so validation must run first.
    route = Route(NAME, StartCooking, handler, is_command=True)
    return Mediator([route], [ValidationBehaviour(64 * 1024), LaneBehaviour()])


async def send(mediator: Mediator, order_id: str) -> Outcome:
    context = MessageContext(name=NAME, exchange=names.COMMANDS_EXCHANGE, message_id=uuid4().hex)
    return await mediator.send(NAME, json.dumps({"order_id": order_id}).encode(), context)


async def test_commands_for_the_same_order_never_run_at_the_same_time() -> None:
    order_id = uuid4().hex
    release = asyncio.Event()
    log: list[str] = []

    async def handler(command: StartCooking, context: MessageContext) -> OperationResult:
        log.append(f"start {context.message_id}")
        if len(log) == 1:
            await release.wait()
        log.append(f"end {context.message_id}")
        return OperationResult.success({})

    mediator = mediator_for(handler)
    first = asyncio.create_task(send(mediator, order_id))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(send(mediator, order_id))
    await asyncio.sleep(0.05)

    assert len(log) == 1, "the second command started while the first was running"
    release.set()
    await asyncio.wait_for(asyncio.gather(first, second), timeout=2)
    assert [entry.split()[0] for entry in log] == ["start", "end", "start", "end"]


async def test_commands_for_the_same_order_run_in_arrival_order() -> None:
    order_id = uuid4().hex
    seen: list[int] = []

    async def handler(command: StartCooking, context: MessageContext) -> OperationResult:
        number = int(context.message_id or "0")
        await asyncio.sleep(0.002 * (10 - number))  # the first sent is the slowest
        seen.append(number)
        return OperationResult.success({})

    mediator = mediator_for(handler)
    body = json.dumps({"order_id": order_id}).encode()
    await asyncio.gather(
        *(
            mediator.send(NAME, body, MessageContext(NAME, names.COMMANDS_EXCHANGE, str(n)))
            for n in range(10)
        )
    )

    assert seen == list(range(10))


async def test_commands_for_different_orders_overlap() -> None:
    first_id, second_id = uuid4().hex, uuid4().hex
    second_started = asyncio.Event()

    async def handler(command: StartCooking, context: MessageContext) -> OperationResult:
        if command.order_id == first_id:
            # Finishes only if the other order's command runs meanwhile.
            await asyncio.wait_for(second_started.wait(), timeout=1)
        else:
            second_started.set()
        return OperationResult.success({"order_id": command.order_id})

    mediator = mediator_for(handler)
    outcomes = await asyncio.gather(send(mediator, first_id), send(mediator, second_id))

    assert [outcome.result.data for outcome in outcomes] == [
        {"order_id": first_id},
        {"order_id": second_id},
    ]


async def test_a_lane_is_free_again_after_its_command_failed() -> None:
    order_id = uuid4().hex
    calls: list[str] = []

    async def handler(command: StartCooking, context: MessageContext) -> OperationResult:
        calls.append(command.order_id)
        if len(calls) == 1:
            raise ConcurrencyError(command.order_id)
        return OperationResult.success({})

    mediator = mediator_for(handler)
    with pytest.raises(ConcurrencyError):
        await send(mediator, order_id)

    outcome = await asyncio.wait_for(send(mediator, order_id), timeout=1)
    assert outcome.result.status == 200


async def test_a_failure_worth_retrying_reaches_the_caller() -> None:
    async def handler(command: StartCooking, context: MessageContext) -> OperationResult:
        raise ConcurrencyError(command.order_id)

    route = Route(NAME, StartCooking, handler, is_command=True)
    mediator = Mediator([route], [ValidationBehaviour(1024), DomainErrorBehaviour()])

    with pytest.raises(ConcurrencyError):
        await send(mediator, uuid4().hex)


async def test_a_domain_error_becomes_a_reply() -> None:
    async def handler(command: StartCooking, context: MessageContext) -> OperationResult:
        raise OrderNotFoundError(command.order_id)

    route = Route(NAME, StartCooking, handler, is_command=True)
    mediator = Mediator([route], [ValidationBehaviour(1024), DomainErrorBehaviour()])

    outcome = await send(mediator, uuid4().hex)

    assert (outcome.result.status, outcome.dead_letter) == (404, None)


async def test_the_mediator_refuses_two_routes_with_the_same_name() -> None:
    async def handler(command: Any, context: MessageContext) -> OperationResult:
        return OperationResult.success({})

    route = Route(NAME, StartCooking, handler, is_command=True)

    with pytest.raises(ValueError, match="exactly one handler"):
        Mediator([route, Route(NAME, StartCooking, handler, is_command=False)], [])


def test_the_worker_routes_every_v1_order_message() -> None:
    mediator = Pizzeria.open().mediator

    assert set(mediator.names) >= {
        names.PLACE_ORDER,
        names.START_COOKING,
        names.MARK_READY,
        names.ASSIGN_DELIVERY,
        names.DELIVER_ORDER,
        names.CANCEL_ORDER,
        names.GET_ORDER,
        names.GET_MENU,
    }
    route = mediator.route(names.GET_ORDER)
    assert route is not None
    assert route.exchange == names.QUERIES_EXCHANGE
