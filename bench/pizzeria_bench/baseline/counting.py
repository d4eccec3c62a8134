"""What a baseline counts of itself: database commands and broker publishes."""

import collections
import json
import sys
from typing import Any

from pymongo import monitoring


class Counts(monitoring.CommandListener):
    """Database commands by name (PyMongo command monitoring) and publishes by kind."""

    def __init__(self) -> None:
        self.commands: collections.Counter[str] = collections.Counter()
        self.publishes: collections.Counter[str] = collections.Counter()
        self.messages = 0
        self.failures = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.commands[event.command_name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def reset(self) -> None:
        """Forget the set-up: only the messages of the run are counted."""
        self.commands.clear()
        self.publishes.clear()
        self.messages = self.failures = 0

    def report(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "failures": self.failures,
            "database_commands": dict(self.commands),
            "publishes": dict(self.publishes),
        }


def say(line: dict[str, Any]) -> None:
    """One JSON line on stdout, which the bench reads."""
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()
