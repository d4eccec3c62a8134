"""What the fault tests share: the worker's settings, a reporter that reaches the
terminal past pytest's capture, the fixtures' types, and a wait."""

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from .capture import Capture
from .ledger import Ledger
from .worker import WorkerSupervisor

LEDGERS = pytest.StashKey[list[Ledger]]()
WORKER_SETTINGS = {
    "PIZZERIA_RETRY_BASE_DELAY": "0.2",
    "PIZZERIA_SHUTDOWN_TIMEOUT": "10",
}
"""The worker's defaults but for these: retries sooner, so that a test does not wait
for the back-off, and a shorter shutdown."""


class Reporter:
    """Writes to the terminal past pytest's output capture, as live logging does."""

    def __init__(self, config: pytest.Config) -> None:
        self._config = config

    def say(self, line: str) -> None:
        capture = self._config.pluginmanager.getplugin("capturemanager")
        terminal = self._config.pluginmanager.getplugin("terminalreporter")
        if terminal is None:
            print(line)
        elif capture is None:
            terminal.write_line(line)
        else:
            with capture.global_and_fixture_disabled():
                terminal.write_line(line)

    def ledger(self, ledger: Ledger) -> None:
        self._config.stash[LEDGERS].append(ledger)
        self.say("")
        for line in ledger.lines():
            self.say(line)


StartWorker = Callable[[dict[str, str]], Awaitable[WorkerSupervisor]]
"""Starts the worker with these settings on top of WORKER_SETTINGS."""
MakeCapture = Callable[[str, str], Awaitable[Capture]]
"""Copies of what an exchange routes with this binding key."""


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float, what: str, interval: float = 0.2
) -> None:
    """Wait until `check` holds; RuntimeError naming `what` if it does not in time.

    RuntimeError, not AssertionError: these are a test's preconditions, and a test
    marked xfail(raises=AssertionError) must not pass off a broken setup as the bug."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"not within {timeout} s: {what}")
        await asyncio.sleep(interval)
