"""The contenders as processes: started, watched (CPU, RSS, counts) and stopped."""

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import psutil
from prometheus_client.parser import text_string_to_metric_families

START_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0
QUIET = 2.5
"""Seconds without a database command after which a contender counts as settled: longer
than the worker waits for a lull before it clears outboxes."""
SETTLE_LIMIT = 120.0
_PORT = re.compile(r"operator endpoints on http://[^:/]+:(\d+)/")
_SETTINGS = ("AMQP_URL", "MONGODB_URL", "MONGODB_DATABASE")


T = TypeVar("T")


class ContenderError(RuntimeError):
    """A contender did not start, or did not stop cleanly."""


class Contender:
    """A process of ours: its CPU time and resident memory, read through psutil."""

    def __init__(self, name: str, process: asyncio.subprocess.Process, log: Path) -> None:
        self.name = name
        self.process = process
        self.log = log
        self.ps = psutil.Process(process.pid)

    def cpu_seconds(self) -> float:
        """User plus system CPU time so far."""
        times = self.ps.cpu_times()
        return times.user + times.system

    def rss_bytes(self) -> int:
        return self.ps.memory_info().rss

    def log_tail(self, lines: int = 30) -> str:
        text = self.log.read_text("utf-8", "replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    async def counts(self) -> dict[str, Any]:
        """Database commands by command and broker publishes by kind, so far."""
        raise NotImplementedError

    async def settle(self, quiet: float = QUIET, limit: float = SETTLE_LIMIT) -> dict[str, Any]:
        """Wait until it has sent no database command for `quiet` seconds (at most `limit`),
        so that work a run leaves for later, such as clearing outboxes, is counted too;
        its counts then."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        counts = await self.counts()
        since = loop.time()
        while loop.time() - since < quiet and loop.time() < deadline:
            await asyncio.sleep(quiet / 2)  # reading /metrics costs the worker CPU too
            latest = await self.counts()
            if latest["database_commands"] != counts["database_commands"]:
                counts, since = latest, loop.time()
        return counts

    async def started_or_stopped(self, starting: Awaitable[T]) -> T:
        """Await its start; stopped again if the bench is cancelled meanwhile (SIGTERM,
        Ctrl-C), so that no contender outlives the bench."""
        try:
            return await starting
        except asyncio.CancelledError:
            await self.terminate()
            raise

    async def stop(self) -> str | None:
        """Stop it; what went wrong if it did not exit cleanly."""
        code = await self.terminate()
        if code == 0:
            return None
        return f"{self.name} exited with {code} (None: killed after {STOP_TIMEOUT:g} s)"

    async def terminate(self) -> int | None:
        """SIGTERM, then SIGKILL after the stop timeout; the exit code (None: killed)."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            return None


class WorkerProcess(Contender):
    """`python -m worker` on a database of its own; counts come from its /metrics."""

    port = 0

    @classmethod
    async def start(
        cls, workdir: Path, env: dict[str, str], database: str, log_level: str
    ) -> "WorkerProcess":
        log = workdir / f"worker-{database}.log"
        environment = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("PIZZERIA_") and key not in _SETTINGS
        }
        environment.update(env)
        environment.update(
            MONGODB_DATABASE=database, PIZZERIA_HTTP_PORT="0", PIZZERIA_LOG_LEVEL=log_level
        )
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "worker",
                cwd=workdir,
                env=environment,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
        worker = cls("worker", process, log)
        await worker.started_or_stopped(worker._wait_started())
        return worker

    async def _wait_started(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT
        while loop.time() < deadline and self.process.returncode is None:
            text = self.log.read_text("utf-8", "replace")
            if "worker started" in text and (found := _PORT.search(text)):
                self.port = int(found.group(1))
                return
            await asyncio.sleep(0.05)
        await self.terminate()
        raise ContenderError(f"the worker did not start:\n{self.log_tail()}")

    async def counts(self) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.port}/metrics"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            text = await response.text()
        found: dict[str, dict[str, float]] = {"database_commands": {}, "publishes": {}}
        wanted = {
            "pizzeria_database_commands_total": ("database_commands", "command"),
            "pizzeria_broker_publishes_total": ("publishes", "kind"),
        }
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name in wanted:
                    key, label = wanted[sample.name]
                    found[key][sample.labels[label]] = sample.value
        return found


class BaselineProcess(Contender):
    """`python -m pizzeria_bench.baseline KIND`: says when it is ready, and its counts when
    asked and at exit."""

    @classmethod
    async def start(
        cls, workdir: Path, kind: str, amqp_url: str, mongodb_url: str, database: str, prefetch: int
    ) -> "BaselineProcess":
        log = workdir / f"baseline-{kind}-{database}.log"
        with log.open("wb") as errors:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "pizzeria_bench.baseline",
                kind,
                "--amqp-url",
                amqp_url,
                "--mongodb-url",
                mongodb_url,
                "--database",
                database,
                "--prefetch",
                str(prefetch),
                cwd=workdir,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=errors,
            )
        baseline = cls(f"baseline {kind}", process, log)
        try:
            line = await baseline.started_or_stopped(
                asyncio.wait_for(baseline._line(), START_TIMEOUT)
            )
        except TimeoutError:
            line = {}
        if not line.get("ready"):
            await baseline.terminate()
            raise ContenderError(f"{baseline.name} did not start:\n{baseline.log_tail()}")
        return baseline

    async def _line(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        raw = await self.process.stdout.readline()
        return dict(json.loads(raw)) if raw.strip() else {}

    async def counts(self) -> dict[str, Any]:
        """What it counted since it was ready (it answers SIGUSR1 with a JSON line)."""
        self.process.send_signal(signal.SIGUSR1)
        return await asyncio.wait_for(self._line(), STOP_TIMEOUT)
