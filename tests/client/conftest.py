"""The project's own client against the worker as a process (tests/e2e's worker fixture)."""

import random
from collections.abc import AsyncIterator

import pytest

from pizzeria_client.client import PizzeriaClient
from pizzeria_contracts import PizzaRequest, PlaceOrder
from tests.e2e.conftest import WorkerProcess, worker, worker_env

__all__ = ["worker", "worker_env"]  # the fixtures, re-exported for this directory


def new_phone() -> str:
    return f"+393{random.randrange(10**8, 10**9)}"


def an_order(phone: str | None = None) -> PlaceOrder:
    return PlaceOrder(
        customer_name="Ann Client",
        customer_phone=phone or new_phone(),
        pizzas=[PizzaRequest(name="margherita", size="large", toppings=["basil"])],
    )


@pytest.fixture
async def pizzeria(amqp_url: str, worker: WorkerProcess) -> AsyncIterator[PizzeriaClient]:
    """A PizzeriaClient of the running worker, connected for one test."""
    async with PizzeriaClient(amqp_url, timeout=10) as client:
        yield client
