"""`python -m pizzeria_bench.rebuild` with tiny counts: it runs to its report, and every
query is answered. Not its speed."""

import re
import sys

import pytest

from .session import run_alone

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def test_the_rebuild_bench_reports_both_rebuilds_and_every_phase(
    amqp_url: str, mongodb_url: str
) -> None:
    done = run_alone(
        [sys.executable, "-m", "pizzeria_bench.rebuild", "--url", amqp_url,
         "--mongodb-url", mongodb_url, "--orders", "600", "--rate", "40",
         "--baseline-seconds", "1"]
    )  # fmt: skip

    assert done.returncode == 0, done.stderr[-3000:]
    rebuilt = re.findall(r"^\| (sales|orders) \| 600 \|", done.stdout, re.MULTILINE)
    assert rebuilt == ["sales", "orders"], done.stdout
    phases = re.findall(
        r"^\| (no rebuild|during rebuild \w+)[^|]*\| ([\d,]+) \| (\d+) \|",
        done.stdout,
        re.MULTILINE,
    )
    assert [p[0] for p in phases] == ["no rebuild", "during rebuild sales", "during rebuild orders"]
    assert all(int(calls.replace(",", "")) > 0 and failed == "0" for _, calls, failed in phases)
    assert "storing 600 orders" in done.stderr
