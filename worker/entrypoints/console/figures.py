"""Health at a glance, from the figures `/metrics` shows and the readiness checks."""

import collections
import dataclasses
import time
from collections.abc import Mapping

from prometheus_client import Counter, Gauge

from ...observability.http import Checks
from ...observability.metrics import Metrics

WINDOW = 60.0
"""Rates are over about the last minute (less just after start)."""


@dataclasses.dataclass(frozen=True)
class Figures:
    checks: Mapping[str, bool]
    in_flight: float
    outbox_backlog: float
    outbox_oldest_seconds: float
    retries_total: float
    dead_letters_total: float
    retries_per_minute: float | None
    dead_letters_per_minute: float | None


class Glance:
    """Reads the worker's own metrics; rates come from the counters' past readings."""

    def __init__(self, metrics: Metrics, readiness: Checks) -> None:
        self._metrics = metrics
        self._readiness = readiness
        # The counters start at zero with the worker: until a minute has passed, the
        # rates are since the start.
        start = (time.monotonic(), _total(metrics.retries), _total(metrics.dead_letters))
        self._readings: collections.deque[tuple[float, float, float]] = collections.deque([start])

    async def figures(self) -> Figures:
        checks = await self._readiness()
        metrics = self._metrics
        retries, dead = _total(metrics.retries), _total(metrics.dead_letters)
        now = time.monotonic()
        self._readings.append((now, retries, dead))
        while len(self._readings) > 2 and now - self._readings[1][0] >= WINDOW:
            self._readings.popleft()
        then, retries_then, dead_then = self._readings[0]
        minutes = (now - then) / 60
        return Figures(
            checks=checks,
            in_flight=_value(metrics.in_flight),
            outbox_backlog=_value(metrics.outbox_backlog),
            outbox_oldest_seconds=_value(metrics.outbox_oldest),
            retries_total=retries,
            dead_letters_total=dead,
            retries_per_minute=(retries - retries_then) / minutes if minutes > 0 else None,
            dead_letters_per_minute=(dead - dead_then) / minutes if minutes > 0 else None,
        )


def _total(counter: Counter) -> float:
    return sum(
        sample.value
        for metric in counter.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


def _value(gauge: Gauge) -> float:
    return sum(sample.value for metric in gauge.collect() for sample in metric.samples)
