"""Logging: JSON lines for machines or readable lines for people, one setting apart.

The worker logs through the standard library with `extra=` fields; `LineFormatter`
renders every record, its fields included, as one JSON object or one line of text.
It writes a line for every message handled, so it is kept cheap: about a third of
what structlog's ProcessorFormatter with its renderers cost per line here
(docs/performance.md).
"""

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from aiormq.exceptions import ConnectionClosed

LogFormat = Literal["json", "text"]

_OWN = frozenset({"event", "level", "logger", "timestamp", "exception"})
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_SKIPPED = _RECORD_FIELDS | _OWN
"""What every LogRecord has, and the line's own keys: an `extra=` field of one of
those names is not written."""
EVENT_WIDTH = 30
_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS


class LineFormatter(logging.Formatter):
    """One record as one line: its message, level, logger, UTC time and `extra=` fields;
    a traceback follows on the lines after (text) or in `exception` (JSON)."""

    def __init__(self, log_format: LogFormat) -> None:
        super().__init__()
        self._json = log_format == "json"

    def format(self, record: logging.LogRecord) -> str:
        fields = {k: v for k, v in vars(record).items() if k not in _SKIPPED}
        event = record.getMessage()
        level = record.levelname.lower()
        at = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="microseconds")
        at = at.replace("+00:00", "Z")
        exception = self._exception(record)
        if self._json:
            line: dict[str, Any] = {"event": event, **fields}
            line.update(level=level, logger=record.name, timestamp=at)
            if exception:
                line["exception"] = exception
            try:
                return orjson.dumps(line, default=str, option=_JSON_OPTIONS).decode()
            except TypeError:  # what orjson refuses (an int past 64 bits): the slow way
                return json.dumps(line, default=str)
        pairs = "".join(f" {key}={fields[key]}" for key in sorted(fields))
        text = f"{at} [{level:<9}] {event:<{EVENT_WIDTH}} [{record.name}]{pairs}"
        return f"{text}\n{exception}" if exception else text

    def _exception(self, record: logging.LogRecord) -> str:
        if record.exc_info and not record.exc_text:  # kept on the record, as the stdlib does
            record.exc_text = self.formatException(record.exc_info)
        parts = []
        if record.exc_text:
            parts.append(record.exc_text)
        if record.stack_info:
            parts.append(self.formatStack(record.stack_info))
        return "\n".join(parts)


class ClosedByBroker(logging.Filter):
    """Drops the traceback aiormq adds when RabbitMQ closes the connection (a restart, a
    forced close): the line before it already gives the broker's reason, and the
    connection comes back by itself. Other failures keep theirs, among them the
    subclasses aiormq raises for protocol errors (a malformed frame, a bad command)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and type(record.exc_info[1]) is ConnectionClosed:
            record.msg, record.args = f"{record.getMessage()}: {record.exc_info[1]}", ()
            record.exc_info = record.exc_text = None
        return True


def configure(level: str, log_format: LogFormat) -> None:
    # Nothing rendered needs the thread or the process: the logging HOWTO's
    # "Optimization" section lists these switches. (The caller's file and line stay:
    # `stack_info=True` needs them.)
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LineFormatter(log_format))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiormq", "aio_pika", "pymongo"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    logging.getLogger("aiormq.connection").addFilter(ClosedByBroker())
