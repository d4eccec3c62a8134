"""How the templates show times and durations."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any


def _aware(moment: datetime) -> datetime:
    """Stored times come back naive from some servers: they are UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def when(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return _aware(moment).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: float | timedelta | None) -> str:
    if seconds is None:
        return "-"
    if isinstance(seconds, timedelta):
        seconds = seconds.total_seconds()
    whole = int(max(seconds, 0))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def since(moment: datetime | None, now: datetime | None = None) -> str:
    """How long ago, as a duration."""
    if moment is None:
        return "-"
    return duration(((now or datetime.now(UTC)) - _aware(moment)).total_seconds())


def items(lines: list[dict[str, Any]]) -> list[str]:
    """An order's items as the kitchen reads them: alike pizzas counted once."""
    counted: dict[str, int] = {}
    for item in lines:
        toppings = ", ".join(item.get("toppings") or ())
        text = f"{item['size']} {item['name']}" + (f" + {toppings}" if toppings else "")
        counted[text] = counted.get(text, 0) + 1
    return [f"{n} \u00d7 {text}" if n > 1 else text for text, n in counted.items()]


FILTERS: dict[str, Callable[..., Any]] = {
    "when": when,
    "duration": duration,
    "since": since,
    "items": items,
}
