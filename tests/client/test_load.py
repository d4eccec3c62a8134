"""`pizzeria load` without a broker: a scripted client stands in for the worker."""

import argparse
import io
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from pizzeria_client.cli import parser
from pizzeria_client.cli import run_load as run_load_command
from pizzeria_client.client import ConnectionLostError, PizzeriaClient
from pizzeria_client.load import Plan, ProgressBar, Stats, percentile, run_load
from pizzeria_contracts import MenuPizzaView, MenuView, OperationResult, PlaceOrder, names

MENU = MenuView(
    pizzas=[
        MenuPizzaView(name="margherita", description="", base_price="12.99", prices={}),
        MenuPizzaView(name="supreme", description="", base_price="17.99", prices={}),
    ],
    sizes={"small": "1.00", "large": "1.60"},
    topping_price="2.50",
)

Answer = Callable[[str, dict[str, Any]], OperationResult]


def answered(name: str, body: dict[str, Any]) -> OperationResult:
    if name == names.PLACE_ORDER:
        return OperationResult.success({"id": uuid.uuid4().hex}, 201)
    return OperationResult.success({"id": body["order_id"]})


class ScriptedClient(PizzeriaClient):
    """Answers from a function instead of the worker, and remembers what was sent."""

    def __init__(self, answer: Answer = answered) -> None:
        super().__init__()
        self.answer = answer
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def get_menu(self) -> MenuView:
        return MENU

    async def send(self, name: str, body: Any, **_: Any) -> OperationResult:
        self.sent.append((name, body))
        return self.answer(name, body)


def quiet() -> io.StringIO:
    return io.StringIO()


async def test_every_order_is_placed_with_pizzas_from_the_menu_for_a_few_customers() -> None:
    client = ScriptedClient()

    stats = await run_load(client, Plan(orders=40, in_flight=7), quiet())

    placed = [PlaceOrder.model_validate(body) for name, body in client.sent]
    assert len(placed) == 40
    assert {pizza.name for order in placed for pizza in order.pizzas} <= {"margherita", "supreme"}
    assert {pizza.size for order in placed for pizza in order.pizzas} <= {"small", "large"}
    assert len({order.customer_phone for order in placed}) <= 8
    assert (stats.orders_done, stats.orders_failed, stats.calls, stats.failed) == (40, 0, 40, False)


async def test_the_lifecycle_walks_each_order_to_its_delivery() -> None:
    client = ScriptedClient()

    stats = await run_load(client, Plan(orders=3, in_flight=2, lifecycle=True), quiet())

    assert [name for name, _ in client.sent].count(names.DELIVER_ORDER) == 3
    assert set(stats.latencies) == {
        names.PLACE_ORDER,
        names.START_COOKING,
        names.MARK_READY,
        names.ASSIGN_DELIVERY,
        names.DELIVER_ORDER,
    }
    assert stats.calls == 15


async def test_a_failed_step_ends_the_orders_walk_and_is_counted_by_status() -> None:
    def conflict_when_ready(name: str, body: dict[str, Any]) -> OperationResult:
        if name == names.MARK_READY:
            return OperationResult.failure(409, "the order is cancelled")
        return answered(name, body)

    client = ScriptedClient(conflict_when_ready)

    stats = await run_load(client, Plan(orders=4, in_flight=4, lifecycle=True), quiet())

    assert stats.errors == {"409": 4}
    assert (stats.orders_done, stats.orders_failed) == (0, 4)
    assert names.ASSIGN_DELIVERY not in [name for name, _ in client.sent]


@pytest.mark.parametrize(
    ("error", "outcome"), [(TimeoutError(), "timeout"), (ConnectionLostError(), "no connection")]
)
async def test_calls_without_an_answer_are_counted_not_raised(
    error: Exception, outcome: str
) -> None:
    def no_answer(name: str, body: dict[str, Any]) -> OperationResult:
        raise error

    stats = await run_load(ScriptedClient(no_answer), Plan(orders=5, in_flight=2), quiet())

    assert stats.errors == {outcome: 5}


async def test_the_command_exits_1_when_any_call_failed_and_0_otherwise(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def one_bad_request(name: str, body: dict[str, Any]) -> OperationResult:
        if len(failing.sent) == 2:
            return OperationResult.failure(400, "no such pizza")
        return answered(name, body)

    failing = ScriptedClient(one_bad_request)
    args = parser().parse_args(["load", "--orders", "5", "--in-flight", "1"])

    assert await run_load_command(ScriptedClient(), args) == 0
    assert await run_load_command(failing, args) == 1
    out, err = capsys.readouterr()
    assert "errors   none" in out
    assert "errors   400: 1" in out
    assert "5/5" in err  # the progress bar goes to stderr


def test_the_summary_has_count_throughput_percentiles_and_errors() -> None:
    stats = Stats(orders_done=99, orders_failed=1, seconds=2.0)
    for millis in range(1, 101):
        stats.record(names.PLACE_ORDER, millis / 1000, None if millis < 100 else "timeout")

    text = "\n".join(stats.summary())

    assert "orders   100 in 2.00 s (50.0/s), 99 completed, 1 failed" in text
    assert "calls    100 (50.0/s)" in text
    assert "orders.place" in text
    assert "50.0 ms   95.0 ms   99.0 ms  100.0 ms" in text
    assert "errors   timeout: 1" in text


def test_the_summary_compares_the_first_window_of_orders_with_the_last() -> None:
    """10 orders a second for the first 100, then 5 a second: the last window is 0.5x."""
    stats = Stats(orders_done=300, window=100)
    stats.ended = [n / 10 for n in range(1, 101)] + [10 + n / 5 for n in range(1, 201)]

    assert stats.flatness() == pytest.approx((10.0, 5.0))
    assert "windows  first 100: 10.0 orders/s, last 100: 5.0 orders/s (0.50x)" in "\n".join(
        stats.summary()
    )
    stats.ended = stats.ended[:199]
    assert stats.flatness() is None
    assert "windows" not in "\n".join(stats.summary())


def test_percentiles_are_nearest_rank() -> None:
    assert percentile([1.0], 0.99) == 1.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.95) == 4.0


def test_the_progress_bar_off_a_terminal_writes_only_its_final_line() -> None:
    stream = io.StringIO()
    bar = ProgressBar(4, stream, width=8)
    for failed in (False, True, False, False):
        bar.advance(failed=failed)
    bar.finish()

    assert stream.getvalue().startswith("[########] 4/4 100%")
    assert stream.getvalue().endswith("errors 1\n")
    assert stream.getvalue().count("\n") == 1


def test_the_command_line_wants_positive_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parser().parse_args(["load", "--orders", "0"])

    assert exit_.value.code == 2
    args = parser().parse_args(["load", "--orders", "7", "--in-flight", "3", "--lifecycle"])
    assert (args.orders, args.in_flight, args.lifecycle) == (7, 3, True)
    assert isinstance(args, argparse.Namespace)
