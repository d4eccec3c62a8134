"""Any language can use the service: the Node.js example against the real worker."""

import asyncio
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO_ROOT, WorkerProcess

pytestmark = pytest.mark.e2e

EXAMPLE = REPO_ROOT / "examples" / "node"
RUN_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def node_example() -> Path:
    """examples/node with its locked dependencies installed."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed to run the Node.js example")
    if not (EXAMPLE / "node_modules" / "amqplib").is_dir():
        installed = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=EXAMPLE,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert installed.returncode == 0, f"npm ci failed:\n{installed.stdout}{installed.stderr}"
    return EXAMPLE


async def test_the_node_example_places_an_order_reads_it_back_and_sees_its_events(
    node_example: Path, worker: WorkerProcess, amqp_url: str
) -> None:
    process = await asyncio.create_subprocess_exec(
        "node",
        "place-and-read.mjs",
        cwd=node_example,
        env={**os.environ, "AMQP_URL": amqp_url},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"the Node.js example did not finish within {RUN_TIMEOUT} s")
    output = out.decode()
    report = f"stdout:\n{output}\nstderr:\n{err.decode()}\nworker:\n{worker.log}"

    assert process.returncode == 0, report
    placed = re.search(r"^orders\.place: status (\d+), order (\S+)$", output, re.MULTILINE)
    assert placed is not None, report
    assert placed[1] == "201", report
    order_id = placed[2]
    assert f"orders.get: status 200, order {order_id}\n" in output, report
    for event in ("orders.placed", "orders.confirmed"):
        assert f"event {event}: order {order_id}," in output, report
