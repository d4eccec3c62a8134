"""A progress bar on stderr: rich's when it is installed, else a line of text."""

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self

Tick = Callable[[], None]


class Progress(Protocol):
    def stage(self, description: str, total: int) -> Tick:
        """Start a stage of `total` steps; call the tick once per step."""
        ...

    def note(self, text: str) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class TextProgress:
    """`stage  1234/2000` rewritten in place at most ten times a second."""

    def __init__(self) -> None:
        self._line = ""

    def stage(self, description: str, total: int) -> Tick:
        done, shown = 0, 0.0

        def tick() -> None:
            nonlocal done, shown
            done += 1
            now = time.monotonic()
            if done == total or now - shown > 0.1:
                shown = now
                self._show(f"{description:48} {done:>7}/{total} {done * 100 // max(total, 1):>3}%")
                if done == total:
                    self._end()

        self._show(f"{description:48} {0:>7}/{total}   0%")
        return tick

    def note(self, text: str) -> None:
        self._end()
        print(text, file=sys.stderr, flush=True)

    def _show(self, line: str) -> None:
        sys.stderr.write("\r" + line.ljust(len(self._line)))
        sys.stderr.flush()
        self._line = line

    def _end(self) -> None:
        if self._line:
            sys.stderr.write("\n")
            self._line = ""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._end()


class RichProgress:
    """rich's bars, one per stage, kept on screen when done."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TimeElapsedColumn
        from rich.progress import Progress as Bars

        self._console = Console(stderr=True)
        self._bars = Bars(
            "{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self._console,
        )

    def stage(self, description: str, total: int) -> Tick:
        task = self._bars.add_task(description, total=total)
        return lambda: self._bars.advance(task)

    def note(self, text: str) -> None:
        self._console.print(text, highlight=False)

    def __enter__(self) -> Self:
        self._bars.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._bars.stop()


def progress() -> Progress:
    try:
        return RichProgress()
    except ImportError:
        return TextProgress()
