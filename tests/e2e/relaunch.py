"""Stopping the worker and starting it again on the database it used, as after a restart."""

import asyncio
import contextlib
import dataclasses
import signal
import sys

from tests.e2e.conftest import (
    REPO_ROOT,
    START_TIMEOUT,
    STOP_TIMEOUT,
    WorkerProcess,
    _environment,
    _read_log,
)


async def stop(worker: WorkerProcess) -> int | None:
    """SIGTERM; the exit code, or None when it had to be killed."""
    if worker.running:
        with contextlib.suppress(ProcessLookupError):
            worker.process.send_signal(signal.SIGTERM)
    try:
        return await asyncio.wait_for(worker.process.wait(), STOP_TIMEOUT)
    except TimeoutError:
        worker.process.kill()
        await worker.process.wait()
        return None


@dataclasses.dataclass
class Relaunched:
    """A worker started by a test, with the task that reads its log."""

    worker: WorkerProcess
    reader: asyncio.Task[None]

    @classmethod
    async def on(
        cls, database: str, amqp_url: str, mongodb_url: str, extra: dict[str, str] | None = None
    ) -> "Relaunched":
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "worker",
            cwd=REPO_ROOT,
            env=_environment(amqp_url, mongodb_url, database, extra or {}),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        worker = WorkerProcess(process, database)
        started = asyncio.Event()
        relaunched = cls(worker, asyncio.create_task(_read_log(worker, started)))
        try:
            await asyncio.wait_for(started.wait(), START_TIMEOUT)
        except TimeoutError:
            await relaunched.stop()
            raise AssertionError(f"no start within {START_TIMEOUT} s:\n{worker.log}") from None
        return relaunched

    async def stop(self) -> int | None:
        code = await stop(self.worker)
        await self.reader
        return code
