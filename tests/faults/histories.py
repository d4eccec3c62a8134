"""Each order's history as a subscriber saw it, held against what was sent and stored.

A history is the first copy of each of the order's events, in the order they reached
the capture queue. It must run 1, 2, ... up to the order's stored version with no gap,
whichever worker published each event; replayed, it must give the stored status, one
run of events per command that took effect; and every 409 must be explained by it: a
racing command refused for a status that its rival's event, in the history, had made.
"""

import dataclasses
import json
import re
from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

from aio_pika.abc import AbstractIncomingMessage

from tests.e2e.amqp import ALLOWED_FROM, STATUS_AFTER, header
from worker.adapters.mongo.database import Document
from worker.application.deadlines import MESSAGE_PREFIX, Action

from .load import LoadClient
from .plans import CONFLICT, PLACE, Plan, Step, rounds

EVENTS_OF = {
    PLACE: ("orders.placed", "orders.confirmed"),
    "orders.start-cooking": ("orders.cooking-started",),
    "orders.mark-ready": ("orders.ready",),
    "orders.assign-delivery": ("orders.delivery-assigned", "orders.out-for-delivery"),
    "orders.deliver": ("orders.delivered",),
    "orders.cancel": ("orders.cancelled",),
}
"""The events each command raises, in order."""
TIMEOUT_PREFIX = MESSAGE_PREFIX
"""The message id of a deadline's action is `deadline:<order>:<action>`; its events carry
it as their correlation id."""
TIMEOUT_EVENTS: dict[str, tuple[str, ...]] = {
    Action.WARN_KITCHEN: ("orders.kitchen-late",),
    Action.CANCEL: ("orders.cancelled",),
    Action.WARN_DELIVERY: ("orders.delivery-late",),
}
"""The events each deadline's action raises."""
REFUSED_IN = re.compile(r" is (\w+): cannot ")
"""Where a 409's detail names the status that refused the command."""
OUT_OF_ORDER = "orders whose events did not arrive as 1..version (first copies)"
NOT_REPLAYING = "orders whose events do not replay to their stored state"
CONFLICTS = "409 replies"
CONFLICTS_OUTSIDE_RACES = "409 replies outside a race"
CONFLICTS_UNEXPLAINED = "409 replies not explained by the order's history"


@dataclasses.dataclass(frozen=True)
class Seen:
    version: int
    type: str
    correlation_id: str | None


def first_copies(events: list[AbstractIncomingMessage]) -> dict[str, list[Seen]]:
    """Per aggregate, the first copy of each version, in arrival order."""
    histories: dict[str, list[Seen]] = defaultdict(list)
    seen: set[tuple[str, int]] = set()
    for event in events:
        subject = str(header(event, "cloudEvents:subject"))
        version = int(json.loads(event.body)["version"])
        if (subject, version) not in seen:
            seen.add((subject, version))
            histories[subject].append(Seen(version, str(event.type), event.correlation_id))
    return histories


@dataclasses.dataclass
class Histories:
    """What the order histories showed; `problems` names orders and events."""

    out_of_order: int = 0
    """Orders whose first copies did not arrive as exactly 1..version."""
    not_replaying: int = 0
    """Orders whose history is not the events of the commands that took effect, or does
    not end in the stored status."""
    conflicts: int = 0
    conflicts_outside_races: int = 0
    conflicts_unexplained: int = 0
    races: int = 0
    race_outcomes: Counter[str] = dataclasses.field(default_factory=Counter)
    problems: list[str] = dataclasses.field(default_factory=list)

    def details(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            OUT_OF_ORDER: self.out_of_order,
            NOT_REPLAYING: self.not_replaying,
            CONFLICTS: self.conflicts,
            CONFLICTS_OUTSIDE_RACES: self.conflicts_outside_races,
            CONFLICTS_UNEXPLAINED: self.conflicts_unexplained,
        }
        if self.races:
            found["races (commands sent at once) and their outcomes"] = (
                f"{self.races} {dict(sorted(self.race_outcomes.items()))}"
            )
        return found


def order_histories(
    plans: list[Plan],
    orders: Mapping[str, Document],
    events: list[AbstractIncomingMessage],
    client: LoadClient,
) -> Histories:
    found = Histories()
    histories = first_copies(events)
    for plan in plans:
        doc = orders.get(plan.aggregate_id)
        if plan.collection != "orders" or doc is None:
            continue
        history = histories.get(plan.aggregate_id, [])
        versions = [seen.version for seen in history]
        if versions != list(range(1, doc["version"] + 1)):
            found.out_of_order += 1
            found.problems.append(
                f"{plan.aggregate_id} (version {doc['version']}): events arrived as {versions}"
            )
        by_version = sorted(history, key=lambda seen: seen.version)
        if (wrong := _replay(plan, doc, by_version, client)) is not None:
            found.not_replaying += 1
            found.problems.append(f"{plan.aggregate_id}: {wrong}")
        _conflicts(found, plan, doc, by_version, client)
    return found


def _first_status(client: LoadClient, step: Step) -> int | None:
    command = client.commands.get(step.message_id)
    return command.replies[0].status if command and command.replies else None


def _replay(plan: Plan, doc: Document, history: list[Seen], client: LoadClient) -> str | None:
    """What is wrong with the history, or None: it must be, run by run, the events of
    each command that took effect (in the order sent; a race's in either order) and of
    each deadline's action the worker took, and end in the stored status at the stored
    version."""
    inbox = {entry["message_id"] for entry in doc.get("inbox", ())}
    steps = {step.message_id: step for step in plan.steps}
    round_of = {
        step.message_id: number
        for number, sent_together in enumerate(rounds(plan.steps))
        for step in sent_together
    }
    runs: list[tuple[str | None, list[str]]] = []
    for seen in history:
        if runs and runs[-1][0] == seen.correlation_id:
            runs[-1][1].append(seen.type)
        else:
            runs.append((seen.correlation_id, [seen.type]))
    for message_id, types in runs:
        if str(message_id).startswith(TIMEOUT_PREFIX):
            action = str(message_id).rsplit(":", 1)[1]
            if tuple(types) != TIMEOUT_EVENTS.get(action) or message_id not in inbox:
                return f"the deadline's {message_id} raised {types}"
    runs = [(m, types) for m, types in runs if not str(m).startswith(TIMEOUT_PREFIX)]
    applied = [message_id for message_id, _ in runs]
    expected = [s.message_id for s in plan.steps if s.message_id in inbox]
    if sorted(map(str, applied)) != sorted(expected) or len(set(applied)) != len(applied):
        return f"events caused by {applied}, commands that took effect {expected}"
    sent_as = [round_of[str(message_id)] for message_id in applied]
    if sent_as != sorted(sent_as):
        return f"commands applied out of the order sent: {applied}"
    for message_id, types in runs:
        step = steps[str(message_id)]
        if tuple(types) != EVENTS_OF[step.command]:
            return f"{step.command} {message_id} raised {types}"
        if (status := _first_status(client, step)) not in (step.expected_status, None):
            return f"{step.command} {message_id} took effect, answered {status}"
    statuses = [STATUS_AFTER[seen.type] for seen in history if seen.type in STATUS_AFTER]
    ends = statuses[-1] if statuses else None
    if ends != doc["status"] or len(history) != doc["version"]:
        return (
            f"history ends {ends} at version {len(history)}, "
            f"stored {doc['status']} at version {doc['version']}"
        )
    return None


def _conflicts(
    found: Histories, plan: Plan, doc: Document, history: list[Seen], client: LoadClient
) -> None:
    """Every 409 a real conflict: a racing command, without effect, refused for the status
    that an event of its rival (answered as expected) had brought its order to."""
    inbox = {entry["message_id"] for entry in doc.get("inbox", ())}
    for sent_together in rounds(plan.steps):
        racing = len(sent_together) > 1
        found.races += racing
        statuses = [_first_status(client, step) for step in sent_together]
        if racing:
            outcome = " + ".join(
                f"{step.command.removeprefix('orders.')} {status}"
                for step, status in zip(sent_together, statuses, strict=True)
            )
            found.race_outcomes[outcome] += 1
        for step, status in zip(sent_together, statuses, strict=True):
            if status != CONFLICT:
                continue
            found.conflicts += 1
            if not racing:
                found.conflicts_outside_races += 1
                found.problems.append(f"{step.command} {step.message_id}: 409 outside a race")
                continue
            if (why := _unexplained(step, sent_together, inbox, history, client)) is not None:
                found.conflicts_unexplained += 1
                found.problems.append(f"{plan.aggregate_id} {step.command} 409: {why}")


def _unexplained(
    step: Step, rivals: list[Step], inbox: set[str], history: list[Seen], client: LoadClient
) -> str | None:
    """Why this 409 is not a real conflict, or None when it is."""
    command = client.commands[step.message_id]
    detail = str(command.replies[0].body.get("detail", ""))
    refused_in = REFUSED_IN.search(detail)
    if step.message_id in inbox:
        return f"{step.message_id} took effect all the same ({detail})"
    if refused_in is None:
        return f"the detail names no status: {detail}"
    if refused_in[1] in ALLOWED_FROM[step.command]:
        return f"refused as {refused_in[1]}, from which it is allowed ({detail})"
    winners = {
        rival.message_id
        for rival in rivals
        if rival is not step and _first_status(client, rival) == rival.expected_status
    }
    for seen in history:
        if seen.correlation_id in winners and STATUS_AFTER.get(seen.type) == refused_in[1]:
            return None
    return (
        f"refused as {refused_in[1]}, but no event of a rival that won "
        f"({sorted(winners)}) made it so: {[(s.version, s.type) for s in history]}"
    )
