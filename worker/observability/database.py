"""Every command the worker sends to the database, counted (and recorded on demand).

The count is the worker's round trips per message, which carries over from
the local server to MongoDB; the recording (one JSON line per command: collection,
filter, sort) lets a test check that every filter and sort is served by an
index the worker declares.
"""

import json
import threading
from pathlib import Path
from typing import Any, TextIO

from pymongo import monitoring

from .metrics import Metrics
from .tracing import DatabaseSpans


class DatabaseCommands(monitoring.CommandListener):
    def __init__(self, metrics: Metrics, record: Path | None = None) -> None:
        self._metrics = metrics
        self._spans = DatabaseSpans()
        self._lock = threading.Lock()
        self._record: TextIO | None = record.open("a", encoding="utf-8") if record else None

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        self._metrics.command_counted(name).inc()
        self._spans.started(event.request_id, name, event.database_name, event.command.get(name))
        if self._record is not None:
            line = json.dumps(shape(event.command_name, event.command), default=str)
            with self._lock:
                self._record.write(line + "\n")
                self._record.flush()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._spans.ended(event.request_id)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._spans.ended(event.request_id, event.failure)

    def close(self) -> None:
        if self._record is not None:
            self._record.close()


def shape(name: str, command: Any) -> dict[str, Any]:
    """What a command asks of the indexes: its collection, filters and sorts."""
    collection = command.get(name)
    filters: list[Any] = []
    sorts: list[Any] = []
    if name == "find":
        filters.append(command.get("filter", {}))
        sorts.append(command.get("sort"))
    elif name in ("update", "delete"):
        for statement in command.get("updates" if name == "update" else "deletes", []):
            filters.append(statement.get("q", {}))
    elif name == "findAndModify":
        filters.append(command.get("query", {}))
        sorts.append(command.get("sort"))
    elif name in ("count", "countDocuments"):
        filters.append(command.get("query", {}))
    elif name == "aggregate":
        for stage in command.get("pipeline", []):
            if "$match" in stage:
                filters.append(stage["$match"])
            if "$sort" in stage:
                sorts.append(stage["$sort"])
    return {
        "command": name,
        "collection": collection if isinstance(collection, str) else None,
        "filters": filters,
        "sorts": [s for s in sorts if s],
    }
