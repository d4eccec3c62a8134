"""The ledger of a cluster test: every command's effect counted in its order's inbox, its
replies, and each order's events held against the order its commands were sent in.

It fills the fault suite's `Ledger`; what differs from that suite's plans is that half
of the commands must be refused (a 409 with no effect) and that every order's history
is known in advance, event by event (tests/cluster/orders.py).
"""

from collections import Counter

from aio_pika.abc import AbstractIncomingMessage
from pymongo.asynchronous.database import AsyncDatabase

from tests.faults.histories import EVENTS_OF, first_copies
from tests.faults.ledger import Ledger, documents, expected_events, published_events
from tests.faults.load import LoadClient
from tests.faults.plans import CONFLICT, Plan
from worker.adapters.mongo.database import Document

UNEXPECTED = "replies other than the one the order sent implies (200/201 or 409)"
DISAGREEING = "commands answered with different statuses"
ANSWERED_AGAIN = "commands answered more than once (copies re-sent, same answer)"
ANSWERED_BEYOND_SENDS = "commands answered more often than sent (redelivered after a fault)"
NOT_IN_ORDER = "orders whose events are not their commands' in the order sent"
FIRST_OUT_OF_ORDER = "orders whose events were first published out of version order"


async def sequence_ledger(
    scenario: str,
    database: AsyncDatabase[Document],
    plans: list[Plan],
    client: LoadClient,
    events: list[AbstractIncomingMessage],
    wall_seconds: float,
) -> Ledger:
    ledger = Ledger(scenario, wall_seconds)
    orders = {doc["_id"]: doc for doc in await documents(database.orders)}
    histories = first_copies(events)
    counts: Counter[str] = Counter()
    for plan in plans:
        _count_plan(ledger, counts, plan, orders.get(plan.aggregate_id), client)
        history = histories.get(plan.aggregate_id, [])
        expected = [
            (kind, step.message_id)
            for step in plan.steps
            if step.versions and step.message_id in client.commands
            for kind in EVENTS_OF[step.command]
        ]
        seen = [(event.type, event.correlation_id) for event in history]
        if seen != expected:
            counts[NOT_IN_ORDER] += 1
            ledger.problem(f"{plan.aggregate_id}: events {seen}, sent as {expected}")
        if plan.refused:
            ledger.problem(f"{plan.aggregate_id} stopped early: {plan.refused}")

    published, extra_copies, out_of_order = published_events(events)
    expected_versions = expected_events(list(orders.values()))
    ledger.events_expected = len(expected_versions)
    ledger.events = len(expected_versions & published)
    ledger.details.update(
        {
            "commands by kind": dict(
                Counter(
                    s.command for p in plans for s in p.steps if s.message_id in client.commands
                )
            ),
            UNEXPECTED: counts[UNEXPECTED],
            DISAGREEING: counts[DISAGREEING],
            ANSWERED_AGAIN: len(ledger.answered_twice),
            ANSWERED_BEYOND_SENDS: counts[ANSWERED_BEYOND_SENDS],
            NOT_IN_ORDER: counts[NOT_IN_ORDER],
            FIRST_OUT_OF_ORDER: out_of_order,
            "events published more than once (extra copies)": extra_copies,
            "re-sends": client.resends,
            "reconnects": client.reconnects,
            "outboxes not empty": sum(bool(doc.get("outbox")) for doc in orders.values()),
        }
    )
    return ledger


def _count_plan(
    ledger: Ledger, counts: Counter[str], plan: Plan, doc: Document | None, client: LoadClient
) -> None:
    """Each command sent that must succeed is in its order's inbox once, each that must
    be refused is not there at all; each is answered, always alike, as its place in the
    order implies; the order's version is what its commands explain."""
    inbox = Counter(entry["message_id"] for entry in (doc or {}).get("inbox", ()))
    versions = 0
    for step in plan.steps:
        command = client.commands.get(step.message_id)
        if command is None:
            continue  # never sent: the order stopped earlier
        ledger.sent += 1
        ledger.message_ids.add(step.message_id)
        found = inbox[step.message_id]
        if step.expected_status == CONFLICT:
            ledger.duplicate_effects += found
            if found:
                ledger.problem(f"{step.command} {step.message_id} took effect, must not have")
        elif found:
            ledger.effects += 1
            ledger.duplicate_effects += found - 1
            versions += step.versions
            if found > 1:
                ledger.problem(f"{step.command} {step.message_id} is in the inbox {found} times")
        else:
            ledger.lost += 1
            ledger.problem(f"{step.command} {step.message_id} has no effect")
        statuses = [reply.status for reply in command.replies]
        if not statuses:
            ledger.lost += 1
            ledger.problem(f"{step.command} {step.message_id} was never answered")
            continue
        ledger.replies += 1
        if len(statuses) > 1:
            ledger.answered_twice.add(step.message_id)
        if len(statuses) > command.sends:
            counts[ANSWERED_BEYOND_SENDS] += 1
        if len(set(statuses)) > 1:
            counts[DISAGREEING] += 1
            ledger.problem(f"{step.command} {step.message_id} answered {statuses}")
        if statuses[0] != step.expected_status:
            counts[UNEXPECTED] += 1
            ledger.problem(
                f"{plan.aggregate_id} {step.command}: {statuses[0]} "
                f"{command.replies[0].body.get('detail', '')}, expected {step.expected_status}"
            )
    if doc is not None and doc["version"] != versions:
        ledger.duplicate_effects += max(0, doc["version"] - versions)
        ledger.problem(
            f"{plan.aggregate_id}: version {doc['version']}, its commands explain {versions}"
        )


def assert_applied_once_in_order(ledger: Ledger) -> None:
    """Nothing lost, nothing done twice, every command answered as the order it was sent
    in implies, every order's events in that order.

    A command may be answered twice, alike (checked), though sent once: a worker that
    answered it and died (or went silent) before its acknowledgement reached RabbitMQ
    leaves it to be delivered again, and the next worker answers it again from the
    order's inbox. The test that strikes says how many such answers it allows."""
    summary = "\n".join(ledger.lines())
    assert ledger.sent > 0, summary
    assert ledger.lost == 0, summary
    assert ledger.duplicate_effects == 0, summary
    assert ledger.replies == ledger.sent, summary
    assert ledger.details[UNEXPECTED] == 0, summary
    assert ledger.details[DISAGREEING] == 0, summary
    assert ledger.details[NOT_IN_ORDER] == 0, summary
    assert ledger.details[FIRST_OUT_OF_ORDER] == 0, summary
    assert ledger.events == ledger.events_expected, summary
    assert not ledger.problems, summary
