"""Unit-test fixtures: the worker's mediator over the in-memory fakes."""

import pytest

from tests.unit.pizzeria import Pizzeria


@pytest.fixture
def pizzeria() -> Pizzeria:
    return Pizzeria.open()
