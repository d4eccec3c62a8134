"""A developer on another team installs the contracts, or the contracts and the client,
and nothing of the worker.

The wheels are built from contracts/ and client/ and installed into fresh virtualenvs
(pydantic and aio-pika come from the package index): the contracts alone need pydantic
only, and the client calls the worker with them.
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
from pizzeria_client.client import PizzeriaClient
from pizzeria_contracts import PizzaRequest, PlaceOrder

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
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The contracts' and the client's wheels, by distribution."""
    into = tmp_path_factory.mktemp("wheels")
    for project in ("contracts", "client"):
        run(
            sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", REPO_ROOT / project, "-w", into
        )
    return {
        project: next(into.glob(f"pizzeria_{project}-*.whl")) for project in ("contracts", "client")
    }


def fresh_venv(root: Path, *wheels: Path) -> Path:
    """The bin/ of a new virtualenv under `root` with these wheels and their dependencies."""
    run(sys.executable, "-m", "venv", root / "venv")
    bin_ = root / "venv" / "bin"
    run(bin_ / "python", "-m", "pip", "install", "-q", *wheels)
    return bin_


@pytest.fixture(scope="module")
def contracts_venv(wheels: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fresh_venv(tmp_path_factory.mktemp("contracts-alone"), wheels["contracts"])


@pytest.fixture(scope="module")
def venv(wheels: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The contracts and the client, as another team installs them."""
    return fresh_venv(
        tmp_path_factory.mktemp("client-alone"), wheels["contracts"], wheels["client"]
    )


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


def every_module(package: str) -> str:
    """Python that imports every module of `package`, then prints where the package is."""
    return (
        f"import importlib, pkgutil, {package}\n"
        f"for m in pkgutil.walk_packages({package}.__path__, '{package}.'):\n"
        "    importlib.import_module(m.name)\n"
        f"print({package}.__file__)\n"
    )


def present(*modules: str) -> str:
    """Python that prints which of these modules can be imported."""
    return f"import importlib.util\nprint(*(m for m in {modules!r} if importlib.util.find_spec(m)))"


def test_the_contracts_need_nothing_but_pydantic(contracts_venv: Path, amqp_url: str) -> None:
    probe = (
        every_module("pizzeria_contracts")
        + "import importlib.metadata, re\n"
        + "print(*(re.split('[^A-Za-z0-9_.-]', r)[0] "
        + "for r in importlib.metadata.requires('pizzeria-contracts') or []))\n"
        + present("pizzeria_client", "worker", "pizzeria_bench", "aio_pika", "faststream")
    )

    out = run(contracts_venv / "python", "-c", probe, env=environment(amqp_url), cwd=contracts_venv)
    where, requires, found = out.splitlines()

    assert where.startswith(str(contracts_venv.parent)), where  # the wheel's, not the repository's
    assert requires == "pydantic"
    assert found == ""


def test_the_client_imports_without_the_worker(venv: Path, amqp_url: str) -> None:
    probe = every_module("pizzeria_client") + present(
        "worker", "pizzeria_bench", "faststream", "pymongo", "pydantic_settings"
    )

    out = run(venv / "python", "-c", probe, env=environment(amqp_url), cwd=venv)
    where, found = out.splitlines()

    assert where.startswith(str(venv.parent)), where  # the wheel's copy, not the repository's
    assert found == ""


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
