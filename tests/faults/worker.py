"""The worker as a process that a test kills and starts again: tests/e2e's worker process,
run as many times as it takes, every run's log kept."""

import asyncio
import contextlib
import dataclasses
import sys

from tests.e2e.conftest import (
    REPO_ROOT,
    START_TIMEOUT,
    WorkerProcess,
    _environment,
    _read_log,
)
from tests.e2e.relaunch import stop

RESTART_DELAY = 1.0
"""Seconds between a SIGKILL and the next start, as a supervisor waits. The database
applies a versioned update atomically (test_versioned_updates), so an update still
running for the killed worker cannot undo one of its successor's however soon it
starts."""


@dataclasses.dataclass
class _Run:
    worker: WorkerProcess
    reader: asyncio.Task[None]
    killed: bool = False


class WorkerSupervisor:
    """Starts `python -m worker`, kills it with SIGKILL, starts it again, stops it."""

    def __init__(
        self, amqp_url: str, mongodb_url: str, database: str, settings: dict[str, str]
    ) -> None:
        self._database = database
        self._env = _environment(amqp_url, mongodb_url, database, settings)
        self._runs: list[_Run] = []
        self.kills = 0

    @property
    def pids(self) -> list[int]:
        return [run.worker.process.pid for run in self._runs]

    @property
    def current(self) -> WorkerProcess:
        return self._runs[-1].worker

    @property
    def pid(self) -> int:
        return self.current.process.pid

    @property
    def down(self) -> bool:
        """SIGKILLed and not started again."""
        return bool(self._runs) and self._runs[-1].killed

    @property
    def log(self) -> str:
        return "".join(
            f"----- run {number} (pid {run.worker.process.pid}) -----\n{run.worker.log}"
            for number, run in enumerate(self._runs, 1)
        )

    async def start(self) -> None:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "worker",
            cwd=REPO_ROOT,
            env=self._env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        worker, started = WorkerProcess(process, self._database), asyncio.Event()
        self._runs.append(_Run(worker, asyncio.create_task(_read_log(worker, started))))
        try:
            await asyncio.wait_for(started.wait(), START_TIMEOUT)
        except TimeoutError:
            await self.kill(count=False)
            raise AssertionError(
                f"the worker did not start within {START_TIMEOUT} s:\n{self.log}"
            ) from None

    async def kill(self, *, count: bool = True) -> None:
        """SIGKILL (a paused worker dies too): no shutdown, no flush; whatever was in
        flight is delivered again."""
        run = self._runs[-1]
        if run.worker.running:
            with contextlib.suppress(ProcessLookupError):
                run.worker.process.kill()
        await run.worker.process.wait()
        await run.reader
        run.killed = True
        self.kills += count

    async def restart(self) -> None:
        """SIGKILL, then start again after RESTART_DELAY, as a supervisor would."""
        await self.kill()
        await asyncio.sleep(RESTART_DELAY)
        await self.start()

    async def stop(self) -> int | None:
        """SIGTERM (to a paused worker too) and wait; the exit code, or None when it had
        to be killed."""
        if not self._runs:
            return None
        run = self._runs[-1]
        if run.worker.running:
            with contextlib.suppress(ProcessLookupError):
                run.worker.resume()
        code = await stop(run.worker)
        await run.reader
        return code
