"""A developer on another team installs only the contracts wheel and calls the worker.

The wheel is built from contracts/ and installed with its `client` extra into a
fresh virtualenv (pydantic and aio-pika come from the package index); nothing of
the worker is there.
"""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO_ROOT, WorkerProcess

from .conftest import new_phone

pytestmark = pytest.mark.e2e

FIVE_LINES = """\
import asyncio, os
from pizzeria_contracts import PizzaRequest, PlaceOrder
from pizzeria_contracts.client import PizzeriaClient

async def main() -> None:
    async with PizzeriaClient(os.environ["AMQP_URL"]) as client:
        order = await client.place_order(PlaceOrder(customer_name="Ann", customer_phone=os.environ["PHONE"], pizzas=[PizzaRequest(name="margherita", size="large")]))
        print((await client.get_order(order.id, timeout=5)).model_dump_json())

asyncio.run(main())
"""  # noqa: E501 - as a developer would paste it
PIP_TIMEOUT = 300


def run(*argv: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(arg) for arg in argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT,
        env=env,
        check=False,
    )
    assert done.returncode == 0, f"{argv} exited with {done.returncode}:\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ of a fresh virtualenv holding only the contracts wheel and its client extra."""
    root = tmp_path_factory.mktemp("contracts-alone")
    wheels = root / "wheels"
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        REPO_ROOT / "contracts",
        "-w",
        wheels,
    )
    (wheel,) = wheels.glob("pizzeria_contracts-*.whl")
    run(sys.executable, "-m", "venv", root / "venv")
    bin_ = root / "venv" / "bin"
    run(bin_ / "python", "-m", "pip", "install", "-q", f"{wheel}[client]")
    return bin_


async def run_async(
    *argv: str | Path, env: dict[str, str], cwd: Path, timeout: float = 120
) -> tuple[int | None, str, str]:
    """Exit code, stdout and stderr; the event loop (and the worker's log reader) runs on."""
    process = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        out, err = await process.communicate()
    return process.returncode, out.decode(), err.decode()


def environment(amqp_url: str, **extra: str) -> dict[str, str]:
    """No PYTHONPATH or virtualenv of ours leaks into the other team's interpreter (and each
    call runs outside the repository, whose `worker/` the current directory would expose)."""
    keep = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**keep, "AMQP_URL": amqp_url, **extra}


def test_the_contracts_import_without_the_workers_dependencies(venv: Path, amqp_url: str) -> None:
    probe = (
        "import importlib.util, pizzeria_contracts, pizzeria_contracts.client, "
        "pizzeria_contracts.load\n"
        "print(pizzeria_contracts.__file__)\n"
        "print(*(m for m in ('worker', 'faststream', 'pymongo', 'pydantic_settings') "
        "if importlib.util.find_spec(m)))"
    )

    out = run(venv / "python", "-c", probe, env=environment(amqp_url), cwd=venv)
    where, present = out.splitlines()

    assert where.startswith(str(venv.parent)), where  # the wheel's copy, not the repository's
    assert present == ""


async def test_five_lines_place_an_order_and_read_it_back(
    venv: Path, amqp_url: str, worker: WorkerProcess, tmp_path: Path
) -> None:
    script = tmp_path / "order.py"
    script.write_text(FIVE_LINES)
    phone = new_phone()

    code, out, err = await run_async(
        venv / "python", script, env=environment(amqp_url, PHONE=phone), cwd=tmp_path
    )

    assert code == 0, err
    assert f'"customer_phone":"{phone}"' in out
    assert '"status":"confirmed"' in out
    assert '"unit_price":"20.78"' in out  # 12.99 x 1.60, rounded half-up


async def test_the_installed_pizzeria_command_generates_load(
    venv: Path, amqp_url: str, worker: WorkerProcess
) -> None:
    load = ("load", "--orders", "20", "--in-flight", "5", "--lifecycle")

    code, out, err = await run_async(venv / "pizzeria", *load, env=environment(amqp_url), cwd=venv)

    assert code == 0, out + err
    assert "orders   20 in " in out
    assert "20 completed, 0 failed" in out
    assert "orders.deliver" in out
    assert "p99" in out
    assert "errors   none" in out
    assert "20/20 100%" in err
