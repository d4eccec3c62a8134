"""The ledger of a scenario: what was sent, what took effect, what was answered and published.

Effects are read from the database itself; replies are what the client saw;
events are what reached a queue bound to `pizzeria.events` before the load.
"""

import asyncio
import dataclasses
import json
import time
from collections import Counter, defaultdict
from typing import Any

from aio_pika.abc import AbstractIncomingMessage
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from tests.e2e.amqp import header
from worker.adapters.mongo.database import Document
from worker.domain.customers import normalize_phone

from .histories import TIMEOUT_PREFIX, order_histories
from .load import LoadClient
from .plans import CONFLICT, Plan

AGGREGATES = ("orders", "customers", "menu")
LOST_CUSTOMER_UPDATES = "customer updates lost (an order placed, its customer not updated)"


@dataclasses.dataclass
class Ledger:
    scenario: str
    wall_seconds: float = 0.0
    sent: int = 0
    effects: int = 0
    duplicate_effects: int = 0
    lost: int = 0
    replies: int = 0
    events: int = 0
    """Distinct (aggregate, version) published out of those the database implies."""
    events_expected: int = 0
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    problems: list[str] = dataclasses.field(default_factory=list)
    """What went wrong, one line each (capped), to read when an assertion fails."""
    message_ids: set[str] = dataclasses.field(default_factory=set)
    """Every message_id sent."""
    answered_twice: set[str] = dataclasses.field(default_factory=set)
    """The message_ids answered more than once."""
    timeouts: Counter[str] = dataclasses.field(default_factory=Counter)
    """The deadlines' actions that took effect, by action (`kitchen-late`, ...): the
    worker's own changes, each in its order's inbox as `deadline:<order>:<action>`."""

    def lines(self) -> list[str]:
        head = (
            f"[{self.scenario}] sent {self.sent} | effects {self.effects} | "
            f"duplicate effects {self.duplicate_effects} | lost {self.lost} | "
            f"replies {self.replies} | events {self.events}/{self.events_expected} | "
            f"{self.wall_seconds:.1f} s"
        )
        if self.timeouts:
            head += f" | timeouts {dict(sorted(self.timeouts.items()))}"
        rest = [f"    {key}: {value}" for key, value in self.details.items()]
        return [head, *rest, *(f"    ! {problem}" for problem in self.problems[:20])]

    def problem(self, text: str) -> None:
        self.problems.append(text)


async def documents(
    collection: AsyncCollection[Document],
    projection: dict[str, int] | None = None,
    timeout: float = 30.0,
) -> list[Document]:
    """Every document, or AssertionError if the database does not answer in time."""
    try:
        return await asyncio.wait_for(collection.find({}, projection).to_list(), timeout)
    except TimeoutError:
        raise AssertionError(
            f"{collection.full_name} did not answer within {timeout} s: the database hangs"
        ) from None


async def wait_for_outboxes(database: AsyncDatabase[Document], timeout: float) -> int:
    """Wait until no document has events waiting; how many still have some."""
    deadline = time.monotonic() + timeout
    while True:
        waiting = 0
        for name in AGGREGATES:
            docs = await documents(database[name], {"outbox": 1})
            waiting += sum(bool(doc.get("outbox")) for doc in docs)
        if not waiting or time.monotonic() > deadline:
            return waiting
        await asyncio.sleep(0.5)


def expected_events(docs: list[Document]) -> set[tuple[str, int]]:
    return {(doc["_id"], version) for doc in docs for version in range(1, doc["version"] + 1)}


def published_events(
    captured: list[AbstractIncomingMessage],
) -> tuple[set[tuple[str, int]], int, int]:
    """The distinct (aggregate, version) published, how many copies were extra, and how
    many aggregates were first seen out of version order."""
    firsts: dict[str, list[int]] = defaultdict(list)
    seen: set[tuple[str, int]] = set()
    for event in captured:
        key = (str(header(event, "cloudEvents:subject")), int(json.loads(event.body)["version"]))
        if key not in seen:
            seen.add(key)
            firsts[key[0]].append(key[1])
    out_of_order = sum(versions != sorted(versions) for versions in firsts.values())
    return seen, len(captured) - len(seen), out_of_order


async def plan_ledger(
    scenario: str,
    database: AsyncDatabase[Document],
    plans: list[Plan],
    client: LoadClient,
    events: list[AbstractIncomingMessage],
    wall_seconds: float,
) -> Ledger:
    ledger = Ledger(scenario, wall_seconds)
    orders = {doc["_id"]: doc for doc in await documents(database.orders)}
    customers = await documents(database.customers)
    views = {doc["_id"]: doc for doc in await documents(database.order_views)}
    ours = {plan.aggregate_id for plan in plans}
    pizzas = {doc["_id"]: doc for doc in await documents(database.menu) if doc["_id"] in ours}
    by_collection = {"orders": orders, "menu": pizzas}

    sent = [step for plan in plans for step in plan.steps if step.message_id in client.commands]
    ledger.message_ids = {step.message_id for step in sent}
    ledger.sent = len(ledger.message_ids)
    without_effect: set[str] = set()
    for plan in plans:
        doc = by_collection[plan.collection].get(plan.aggregate_id)
        _plan_effects(ledger, plan, doc, client, without_effect)
    unexplained = [
        order_id
        for order_id, doc in orders.items()
        if order_id not in ours
        and any(entry["message_id"] in ledger.message_ids for entry in doc.get("inbox", ()))
    ]
    ledger.duplicate_effects += len(unexplained)
    if unexplained:
        ledger.problem(f"orders our commands made but should not have: {unexplained[:5]}")
    foreign = len(set(orders) - ours) - len(unexplained)
    ledger.details["orders placed by others (messages left in the shared queue)"] = foreign

    unanswered = {step.message_id for step in sent if not client.commands[step.message_id].replies}
    wrong = [
        (step, client.commands[step.message_id].replies[0])
        for step in sent
        if client.commands[step.message_id].replies
        and not step.accepts(client.commands[step.message_id].replies[0].status)
    ]
    disagreeing = [
        step
        for step in sent
        if len({reply.status for reply in client.commands[step.message_id].replies}) > 1
    ]
    ledger.replies = ledger.sent - len(unanswered)
    ledger.answered_twice = {
        step.message_id for step in sent if len(client.commands[step.message_id].replies) > 1
    }
    ledger.lost = len(without_effect | unanswered)
    for step, reply in wrong[:10]:
        ledger.problem(f"{step.command} {step.message_id}: {reply.status} {reply.body}")
    for step in disagreeing[:10]:
        statuses = [reply.status for reply in client.commands[step.message_id].replies]
        ledger.problem(f"{step.command} {step.message_id} answered {statuses}")
    for plan in plans:
        if plan.refused:
            ledger.problem(f"{plan.aggregate_id} stopped early: {plan.refused}")

    _customer_effects(ledger, [p for p in plans if p.phone], orders, customers)

    expected = expected_events([*orders.values(), *customers, *pizzas.values()])
    published, extra_copies, out_of_order = published_events(events)
    missing = expected - published
    ledger.events_expected, ledger.events = len(expected), len(expected & published)
    if missing:
        ledger.problem(f"events never published: {sorted(missing)[:10]}")

    histories = order_histories(plans, orders, events, client)
    ledger.problems += histories.problems

    stale = [
        order_id
        for order_id, doc in orders.items()
        if views.get(order_id, {}).get("version") != doc["version"]
    ]
    if stale:
        ledger.problem(f"order views behind their orders: {stale[:5]}")
    ledger.details.update(
        {
            "commands by kind": dict(Counter(step.command for step in sent)),
            "commands without effect": len(without_effect),
            "commands unanswered": len(unanswered),
            "unexpected statuses": len(wrong),
            "replies to re-sent commands (same correlation id)": sum(
                max(0, len(command.replies) - 1) for command in client.commands.values()
            ),
            "commands answered with different statuses": len(disagreeing),
            "re-sends": client.resends,
            "reconnects": client.reconnects,
            "events published (copies)": len(events),
            "events published more than once (extra copies)": extra_copies,
            "aggregates first published out of version order": out_of_order,
            "events missing": len(missing),
            **histories.details(),
            "order views behind": len(stale),
            "outboxes not empty": sum(
                bool(doc.get("outbox")) for doc in [*orders.values(), *customers, *pizzas.values()]
            ),
        }
    )
    return ledger


def _plan_effects(
    ledger: Ledger,
    plan: Plan,
    doc: Document | None,
    client: LoadClient,
    without_effect: set[str],
) -> None:
    """Each command sent is in its aggregate's inbox exactly once (one that lost its race
    with a 409: not at all), so is each deadline's action the worker took, and the
    aggregate's version is what those commands and actions explain."""
    inbox = Counter(entry["message_id"] for entry in (doc or {}).get("inbox", ()))
    versions = 0
    for step in plan.steps:
        if step.message_id not in client.commands:
            continue  # never sent: the plan stopped earlier
        found = inbox[step.message_id]
        replies = client.commands[step.message_id].replies
        lost_its_race = step.racing and bool(replies) and replies[0].status == CONFLICT
        if found:
            ledger.effects += 1
            versions += step.versions
        elif not lost_its_race:  # one that did is explained by the histories, or not
            without_effect.add(step.message_id)
            ledger.problem(f"{step.command} {step.message_id} has no effect")
        if found > 1:
            ledger.duplicate_effects += found - 1
            ledger.problem(f"{step.command} {step.message_id} is in the inbox {found} times")
    for message_id, found in inbox.items():
        if not message_id.startswith(f"{TIMEOUT_PREFIX}{plan.aggregate_id}:"):
            continue
        ledger.timeouts[message_id.rsplit(":", 1)[1]] += 1
        versions += 1  # each action raises one event
        if found > 1:
            ledger.duplicate_effects += found - 1
            ledger.problem(f"{message_id} is in the inbox {found} times")
    if doc is not None and doc["version"] != versions:
        if doc["version"] > versions:
            ledger.duplicate_effects += 1
        ledger.problem(
            f"{plan.aggregate_id}: version {doc['version']}, its commands explain {versions}"
        )


def _customer_effects(
    ledger: Ledger, plans: list[Plan], orders: dict[str, Document], customers: list[Document]
) -> None:
    """One customer per phone, and one update for each of their orders after the first."""
    by_phone = Counter(doc["phone"] for doc in customers)
    twice = [phone for phone, count in by_phone.items() if count > 1]
    ledger.duplicate_effects += sum(by_phone[phone] - 1 for phone in twice)
    if twice:
        ledger.problem(f"phones with more than one customer: {twice[:5]}")
    placed: Counter[str] = Counter(
        normalize_phone(plan.phone) for plan in plans if plan.phone and plan.aggregate_id in orders
    )
    by_doc = {doc["phone"]: doc for doc in customers}
    versions = {phone: doc["version"] for phone, doc in by_doc.items()}
    missing_customers = [phone for phone in placed if phone not in versions]
    if missing_customers:
        ledger.lost += len(missing_customers)
        ledger.problem(f"phones with orders but no customer: {missing_customers[:5]}")
    # Every order has an address of its own: each after a customer's first is one update.
    lost_updates = updated_twice = 0
    for phone, count in placed.items():
        version = versions.get(phone, count)
        lost_updates += max(0, count - version)
        updated_twice += max(0, version - count)
        if version < count:
            ledger.problem(
                f"customer {phone}: {count} orders, version {version}, "
                f"{len(by_doc[phone].get('inbox', ()))} replies in its inbox"
            )
    if updated_twice:
        ledger.duplicate_effects += updated_twice
        ledger.problem(f"customer updates beyond one per order: {updated_twice}")
    ledger.details["customers"] = len(customers)
    ledger.details[LOST_CUSTOMER_UPDATES] = lost_updates
