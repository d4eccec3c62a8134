"""Which worker handled what, read from the workers' logs: each writes one line per
message with its `message_id` and the status it ended with. With several workers on one
queue, this shows that they shared the load, the commands of one order included, so a
test cannot pass with one worker doing everything."""

import dataclasses
import re
from collections import Counter
from typing import Any

from .plans import Plan, rounds
from .worker import WorkerSupervisor

OUTCOME = re.compile(r"\[worker\.messages\].* message_id=(\S+) .*status=(\d+)")
"""A message's line in the text log format (`key=value` pairs, sorted by key), once it
has a status; a message cancelled before its outcome has none."""
ORDERS_BY_WORKERS = "orders by how many workers brought their commands to an outcome"
RACES_ACROSS_WORKERS = "races whose two commands went to two workers"
HANDLED_TWICE = "commands brought to an outcome by two workers (the first died unacknowledged)"


def outcomes(log: str) -> set[str]:
    """The message ids that reached an outcome in this log."""
    return {found[1] for found in OUTCOME.finditer(log)}


@dataclasses.dataclass(frozen=True)
class Spread:
    per_worker: list[int]
    """Commands of ours each worker brought to an outcome."""
    orders_by_workers: Counter[int]
    """Orders by how many workers brought their commands to an outcome."""
    races: int
    races_across_workers: int
    handled_twice: int

    @classmethod
    def of(cls, workers: list[WorkerSupervisor], plans: list[Plan]) -> "Spread":
        handled = [outcomes(worker.log) for worker in workers]
        ours = {step.message_id for plan in plans for step in plan.steps}
        by_workers: Counter[int] = Counter()
        races = across = 0
        for plan in plans:
            if plan.collection != "orders":
                continue
            by_workers[sum(any(s.message_id in h for s in plan.steps) for h in handled)] += 1
            for sent_together in rounds(plan.steps):
                if len(sent_together) > 1:
                    races += 1
                    across += len({_handler(handled, s.message_id) for s in sent_together}) > 1
        twice = sum(sum(message_id in h for h in handled) > 1 for message_id in ours)
        return cls([len(h & ours) for h in handled], by_workers, races, across, twice)

    def details(self) -> dict[str, Any]:
        return {
            "commands brought to an outcome by each worker": self.per_worker,
            ORDERS_BY_WORKERS: dict(sorted(self.orders_by_workers.items())),
            RACES_ACROSS_WORKERS: f"{self.races_across_workers}/{self.races}",
            HANDLED_TWICE: self.handled_twice,
        }


def _handler(handled: list[set[str]], message_id: str) -> int | None:
    """The first worker that brought this message to an outcome."""
    return next((number for number, h in enumerate(handled) if message_id in h), None)
