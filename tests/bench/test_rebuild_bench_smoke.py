"""`python -m worker.bench.rebuild` with tiny counts: it runs to its report, and every
query is answered. Not its speed."""

import os
import re
import signal
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

pytest.importorskip("psutil", reason="the bench extra is not installed")


def test_the_rebuild_bench_reports_both_rebuilds_and_every_phase(
    amqp_url: str, mongodb_url: str
) -> None:
    # Its own session: if it hangs, the worker it started is killed with it, not left
    # to take the next tests' messages.
    bench = subprocess.Popen(
        [sys.executable, "-m", "worker.bench.rebuild", "--url", amqp_url,
         "--mongodb-url", mongodb_url, "--orders", "600", "--rate", "40",
         "--baseline-seconds", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        stdout, stderr = bench.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(bench.pid, signal.SIGKILL)
        stdout, stderr = bench.communicate()
    done = subprocess.CompletedProcess(bench.args, bench.returncode, stdout, stderr)

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
