"""A message cancelled before its outcome (its channel closed under it) is not an error."""

import asyncio
import logging
from typing import Any

import pytest

from pizzeria_contracts import OperationResult, names
from pizzeria_contracts.queries import GetOrder
from worker.application.behaviours import LoggingBehaviour, ValidationBehaviour
from worker.application.context import MessageContext
from worker.application.mediator import Behaviour, Mediator, Route
from worker.observability.metrics import Metrics, MetricsBehaviour

BODY = b'{"order_id": "o-1"}'


def pipeline(handler: Any, metrics: Metrics) -> Mediator:
    route = Route(names.GET_ORDER, GetOrder, handler, is_command=False)
    behaviours: list[Behaviour] = [
        LoggingBehaviour(),
        MetricsBehaviour(metrics),
        ValidationBehaviour(1024),
    ]
    return Mediator([route], behaviours)


async def send(mediator: Mediator) -> Any:
    context = MessageContext(names.GET_ORDER, names.QUERIES_EXCHANGE, message_id="m-1")
    return await mediator.send(names.GET_ORDER, BODY, context)


def handled(metrics: Metrics) -> list[tuple[dict[str, str], float]]:
    (family,) = [f for f in metrics.messages.collect() if f.name == "pizzeria_messages"]
    return [(s.labels, s.value) for s in family.samples if s.name.endswith("_total")]


async def test_a_cancelled_message_is_a_warning_and_is_not_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    entered = asyncio.Event()

    async def stuck(request: Any, context: MessageContext) -> OperationResult:
        entered.set()
        await asyncio.Event().wait()
        raise AssertionError("never answered")

    metrics = Metrics()
    task = asyncio.ensure_future(send(pipeline(stuck, metrics)))
    await entered.wait()
    with caplog.at_level(logging.INFO, logger="worker.messages"):
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    (line,) = caplog.records
    assert line.levelno == logging.WARNING
    assert line.getMessage() == (
        "orders.get cancelled before its outcome; RabbitMQ delivers it again"
    )
    assert (vars(line)["outcome"], vars(line)["status"]) == ("cancelled", None)
    assert handled(metrics) == []
    assert metrics.registry.get_sample_value("pizzeria_messages_in_flight") == 0


async def test_an_answered_message_is_an_info_line_and_is_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def answers(request: Any, context: MessageContext) -> OperationResult:
        return OperationResult.success({"id": request.order_id})

    metrics = Metrics()
    with caplog.at_level(logging.INFO, logger="worker.messages"):
        outcome = await send(pipeline(answers, metrics))

    (line,) = caplog.records
    assert outcome.result.status == 200
    assert (line.levelno, line.getMessage()) == (logging.INFO, "orders.get ok status=200")
    assert handled(metrics) == [({"name": "orders.get", "outcome": "ok", "status": "200"}, 1.0)]
