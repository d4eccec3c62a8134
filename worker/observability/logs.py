"""Logging: JSON lines for machines or readable lines for people, one setting apart.

The worker logs through the standard library with `extra=` fields; `LineFormatter`
renders every record, its fields included, as one JSON object or one line of text.
It writes a line for every message handled, so it is kept cheap: about a quarter of
what structlog's ProcessorFormatter with its renderers cost per line here
(docs/performance.md).
"""

import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from aiormq.exceptions import ConnectionClosed

LogFormat = Literal["json", "text"]

_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
"""What every LogRecord has; anything else on a record came with `extra=`."""
EVENT_WIDTH = 30


class LineFormatter(logging.Formatter):
    """One record as one line: its message, level, logger, UTC time and `extra=` fields;
    a traceback follows on the lines after (text) or in `exception` (JSON)."""

    def __init__(self, log_format: LogFormat) -> None:
        super().__init__()
        self._json = log_format == "json"

    def format(self, record: logging.LogRecord) -> str:
        fields = {k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS}
        event = record.getMessage()
        level = record.levelname.lower()
        at = datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z")
        exception = self._exception(record)
        if self._json:
            line: dict[str, Any] = {"event": event, **fields}
            line.update(level=level, logger=record.name, timestamp=at)
            if exception:
                line["exception"] = exception
            return orjson.dumps(line, default=str).decode()
        pairs = "".join(f" {key}={fields[key]}" for key in sorted(fields))
        text = f"{at} [{level:<9}] {event:<{EVENT_WIDTH}} [{record.name}]{pairs}"
        return f"{text}\n{exception}" if exception else text

    def _exception(self, record: logging.LogRecord) -> str:
        parts = []
        if record.exc_info:
            parts.append(self.formatException(record.exc_info))
        if record.stack_info:
            parts.append(self.formatStack(record.stack_info))
        return "\n".join(parts)


class ClosedByBroker(logging.Filter):
    """Drops the traceback aiormq adds when RabbitMQ closes the connection (a restart, a
    forced close): the line before it already gives the broker's reason, and the
    connection comes back by itself. Other failures keep theirs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], ConnectionClosed):
            record.msg, record.args = f"{record.getMessage()}: {record.exc_info[1]}", ()
            record.exc_info = record.exc_text = None
        return True


def configure(level: str, log_format: LogFormat) -> None:
    # Nothing rendered needs the caller's file and line, thread or process: the
    # logging HOWTO's "Optimization" section lists these switches.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LineFormatter(log_format))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiormq", "aio_pika", "pymongo"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    logging.getLogger("aiormq.connection").addFilter(ClosedByBroker())
