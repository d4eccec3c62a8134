"""`pizzeria-bench` with tiny counts: its output is well formed. Not its speed."""

import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from pizzeria_bench.results import CONTENDERS

from .session import run_alone

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

TINY = [
    "--commands", "12", "--queries", "12", "--sequential", "5", "--in-flight", "6/4",
    "--phones", "3", "--orders-to-read", "4", "--rss-queries", "20,40", "--rss-commands", "6",
]  # fmt: skip
PER_MESSAGE = ("cpu_ms_per_message", "database_commands_per_message", "publishes_per_message")


@pytest.fixture(scope="module")
def report(amqp_url: str, mongodb_url: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    chart = tmp_path_factory.mktemp("bench") / "bench.png"
    done = run_alone(
        [sys.executable, "-m", "pizzeria_bench", "--url", amqp_url,
         "--mongodb-url", mongodb_url, *TINY, "--json", "--chart", str(chart)]
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return {"json": json.loads(done.stdout), "chart": chart, "stderr": done.stderr}


def test_every_scenario_and_contender_has_a_row(report: Any) -> None:
    found = {(row["scenario"], row["contender"]) for row in report["json"]["rows"]}
    expected = {(scenario, c) for scenario, names in CONTENDERS.items() for c in names}
    assert found == expected


def test_every_figure_is_a_positive_number(report: Any) -> None:
    for row in report["json"]["rows"]:
        assert row["messages"] > 0, row
        assert row["failures"] == 0, row
        assert row["throughput"] > 0, row
        assert row["p99_ms"] >= row["p50_ms"] > 0, row
        for figure in PER_MESSAGE:
            assert math.isfinite(row[figure]), (figure, row)
            assert row[figure] >= 0, (figure, row)
        if row["scenario"] == "orders.get":
            assert row["sequential_p50_ms"] > 0, row
            assert row["sequential_throughput"] > 0, row
        if row["contender"] != "raw server, no database":
            assert row["database_commands_per_message"] > 0, row
        assert row["publishes_per_message"] >= 1, row  # at least the reply


def test_ratios_memory_and_guarantees_are_reported(report: Any) -> None:
    result = report["json"]
    assert len(result["ratios"]) == 8
    assert all(isinstance(ratio["met"], bool) and ratio["value"] >= 0 for ratio in result["ratios"])
    memory = result["memory"]["points"]
    assert len(memory) == 4
    assert all(mib > 0 for mib in memory.values())
    assert any(
        check.startswith("worker: 12 orders stored for 12 commands") for check in result["checks"]
    )
    assert any(check.startswith("baseline: 12 orders stored") for check in result["checks"])


def test_the_chart_is_a_png_and_progress_went_to_stderr(report: Any) -> None:
    assert "orders.place: worker" in report["stderr"]
    chart: Path = report["chart"]
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sigterm_stops_the_bench_and_the_contenders_it_started(
    amqp_url: str, mongodb_url: str
) -> None:
    bench = subprocess.Popen(
        [sys.executable, "-m", "pizzeria_bench", "--url", amqp_url,
         "--mongodb-url", mongodb_url, "--scenario", "get", "--queries", "100000"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        contenders = _children_once_started(psutil.Process(bench.pid), timeout=60)
        bench.send_signal(signal.SIGTERM)
        _, stderr = bench.communicate(timeout=60)
    finally:
        if bench.poll() is None:
            bench.kill()
    _, alive = psutil.wait_procs(contenders, timeout=10)

    assert bench.returncode == 130, stderr[-3000:]
    assert "stopped" in stderr
    assert alive == [], [p.cmdline() for p in alive]


def _children_once_started(bench: Any, timeout: float) -> list[Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = list(bench.children(recursive=True))
        if children:  # still starting, most likely: the harder moment to stop it
            return children
        time.sleep(0.05)
    raise AssertionError(f"the bench started no contender within {timeout} s")
