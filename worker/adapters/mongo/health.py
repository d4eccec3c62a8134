"""Knowing when the database is back, so work waits for it instead of failing."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("worker.mongo")


class DatabaseGate:
    """Messages that found the database down wait here until one probe gets through.

    While they wait the worker holds its prefetch full, so RabbitMQ sends it
    nothing more: the outage stops the intake rather than burning retries.
    """

    def __init__(self, ping: Callable[[], Awaitable[Any]], interval: float = 1.0) -> None:
        self._ping = ping
        self._interval = interval
        self._up = asyncio.Event()
        self._up.set()
        self._probe: asyncio.Task[None] | None = None

    @property
    def is_up(self) -> bool:
        return self._up.is_set()

    async def wait_until_up(self) -> None:
        """Called by whoever just found the database down."""
        if self._up.is_set():
            log.warning("database unavailable: holding messages until it answers")
            self._up.clear()
        if self._probe is None or self._probe.done():
            self._probe = asyncio.create_task(self._probe_until_up(), name="database-probe")
        await self._up.wait()

    async def _probe_until_up(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._ping(), timeout=max(self._interval, 1.0))
            except Exception:  # noqa: BLE001 - any failure means: not yet
                await asyncio.sleep(self._interval)
                continue
            log.info("database answers again")
            self._up.set()
            return
