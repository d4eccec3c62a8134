"""LineFormatter: one line per record, with the record's `extra=` fields."""

import json
import logging
import re
import sys

from aiormq.exceptions import ConnectionClosed, ConnectionFrameError

from worker.observability.logs import ClosedByBroker, LineFormatter


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    return logging.getLogger("worker.messages").makeRecord(
        "worker.messages", logging.INFO, __file__, 1, message, args, None, extra=extra
    )


def failed(error: Exception | None = None) -> logging.LogRecord:
    try:
        raise error or ValueError("the oven is cold")
    except Exception:  # noqa: BLE001 - any error, to log
        made = logging.getLogger("worker").makeRecord(
            "worker", logging.ERROR, __file__, 1, "could not bake", (), sys.exc_info()
        )
    return made


def test_a_json_line_has_the_message_its_fields_level_logger_and_utc_time() -> None:
    line = LineFormatter("json").format(
        record("%s %s status=%s", "orders.get", "ok", 200, message_id="m-1", status=200)
    )

    parsed = json.loads(line)
    assert "\n" not in line
    assert parsed.pop("timestamp").endswith("Z")
    assert parsed == {
        "event": "orders.get ok status=200",
        "message_id": "m-1",
        "status": 200,
        "level": "info",
        "logger": "worker.messages",
    }


def test_a_text_line_has_the_fields_sorted_after_the_logger() -> None:
    line = LineFormatter("text").format(record("orders.get ok", status=200, message_id="m-1"))

    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z \[info     \] orders\.get ok +"
        r" \[worker\.messages\] message_id=m-1 status=200",
        line,
    ), line


def test_a_traceback_follows_a_text_line_and_is_a_field_of_a_json_line() -> None:
    text = LineFormatter("text").format(failed())
    parsed = json.loads(LineFormatter("json").format(failed()))

    first, *rest = text.splitlines()
    assert first.endswith("could not bake                 [worker]")
    assert rest[0] == "Traceback (most recent call last):"
    assert rest[-1] == "ValueError: the oven is cold"
    assert parsed["level"] == "error"
    assert parsed["exception"].endswith("ValueError: the oven is cold")


def test_values_json_cannot_hold_are_written_as_text() -> None:
    parsed = json.loads(LineFormatter("json").format(record("x", kind=set)))

    assert parsed["kind"] == "<class 'set'>"


def test_rabbitmq_closing_the_connection_is_logged_without_a_traceback() -> None:
    closed = failed(ConnectionClosed(320, "CONNECTION_FORCED - broker forced connection closure"))
    other = failed()

    ClosedByBroker().filter(closed)
    ClosedByBroker().filter(other)
    line = LineFormatter("text").format(closed)
    assert "Traceback" not in line
    assert "could not bake: [Errno 320] CONNECTION_FORCED" in line
    assert "Traceback" in LineFormatter("text").format(other)


def test_a_protocol_error_from_rabbitmq_keeps_its_traceback() -> None:
    malformed = failed(ConnectionFrameError(501, "FRAME_ERROR"))

    ClosedByBroker().filter(malformed)

    assert "Traceback" in LineFormatter("text").format(malformed)


def test_fields_json_cannot_hold_as_they_are_still_make_a_line() -> None:
    line = json.loads(LineFormatter("json").format(record("x", counts={1: 2}, big=2**70)))

    assert (line["counts"], line["big"]) == ({"1": 2}, 2**70)


def test_an_extra_field_cannot_replace_the_lines_own() -> None:
    line = json.loads(LineFormatter("json").format(record("the message", event="other")))

    assert line["event"] == "the message"
