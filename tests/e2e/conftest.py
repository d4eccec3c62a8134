"""The worker as a separate process, and a raw AMQP client that knows only the contract."""

import asyncio
import contextlib
import dataclasses
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

from tests.e2e.amqp import RawClient
from worker.adapters.mongo.database import Document

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTED = "worker started"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 40.0
"""How long a stopping worker may take before the test kills it (and fails). The worker's
own bound is longer than 20 s: up to PIZZERIA_SHUTDOWN_TIMEOUT (15 s) for what is in
flight, then up to 5 s flushing the outbox, then disconnecting; a CI run on the shared
two cores once took just over 20 s."""
SETTINGS = ("AMQP_URL", "MONGODB_URL", "MONGODB_DATABASE")


@dataclasses.dataclass
class WorkerProcess:
    """A running `python -m worker` and everything it wrote to stderr so far."""

    process: asyncio.subprocess.Process
    database: str
    lines: list[str] = dataclasses.field(default_factory=list)

    @property
    def log(self) -> str:
        return "".join(self.lines)

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    def pause(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)


async def _read_log(worker: WorkerProcess, started: asyncio.Event) -> None:
    assert worker.process.stdout is not None
    async for raw in worker.process.stdout:
        line = raw.decode("utf-8", "replace")
        worker.lines.append(line)
        if STARTED in line:
            started.set()


def _environment(
    amqp_url: str, mongodb_url: str, database: str, extra: dict[str, str]
) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key.removeprefix("PIZZERIA_") not in SETTINGS
    }
    env.update(AMQP_URL=amqp_url, MONGODB_URL=mongodb_url, MONGODB_DATABASE=database)
    env.update(PIZZERIA_HTTP_PORT="0")  # any free port: never clash with a worker on 8080
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def worker_env() -> dict[str, str]:
    """Extra environment for the module's worker; a module overrides it to change settings."""
    return {}


@pytest.fixture(scope="module")
async def worker(
    amqp_url: str,
    mongodb_url: str,
    mongo_client: AsyncMongoClient[Document],
    worker_env: dict[str, str],
) -> AsyncIterator[WorkerProcess]:
    """The worker of this module, on a database of its own; it must stop cleanly."""
    database = f"e2e_{uuid.uuid4().hex[:12]}"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "worker",
        cwd=REPO_ROOT,
        env=_environment(amqp_url, mongodb_url, database, worker_env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    running = WorkerProcess(process, database)
    started = asyncio.Event()
    reader = asyncio.create_task(_read_log(running, started))
    try:
        await asyncio.wait_for(started.wait(), START_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        await reader
        await mongo_client.drop_database(database)
        pytest.fail(f"the worker did not start within {START_TIMEOUT} s:\n{running.log}")
    try:
        yield running
    finally:
        if running.running:
            with contextlib.suppress(ProcessLookupError):
                running.resume()  # in case a test left it paused
                process.send_signal(signal.SIGTERM)
        try:
            code: int | None = await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()
            code = None
        await reader
        await mongo_client.drop_database(database)
    assert code == 0, f"the worker exited with {code} (None: killed after {STOP_TIMEOUT} s):\n" + (
        running.log
    )


@pytest.fixture(scope="module")
async def client(amqp_url: str, worker: WorkerProcess) -> AsyncIterator[RawClient]:
    """A client of the running worker that speaks only the wire contract."""
    raw = await RawClient.connect(amqp_url)
    try:
        yield raw
    finally:
        await raw.close()
