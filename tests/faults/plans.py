"""The load: aggregates taken through a series of commands, one command at a time each.

An order is placed, then cooked, made ready, sent out and delivered; a racing order ends
with two commands sent at once, of which the second to arrive may find its order moved
on (a 409 that the order's history must explain). A pizza of our own is added to the
menu, then updated again and again (a new description each time, so every update is a
change). Message ids are fixed before anything is sent, so the ledger knows what each
command must have done.
"""

import asyncio
import dataclasses
import json
import random
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from tests.e2e.amqp import Reply
from worker.application.context import id_for
from worker.domain.menu import pizza_key

from .load import LoadClient

PLACE = "orders.place"
LIFECYCLE: list[tuple[str, int]] = [
    ("orders.start-cooking", 1),
    ("orders.mark-ready", 1),
    ("orders.assign-delivery", 2),  # delivery-assigned, out-for-delivery
    ("orders.deliver", 1),
]
"""Each step's command and how many events (versions) it adds."""
RACES: dict[str, tuple[int, tuple[str, str]]] = {
    "cooked or cancelled": (0, ("orders.start-cooking", "orders.cancel")),
    "delivered twice": (3, ("orders.deliver", "orders.deliver")),
    "delivered or cancelled": (3, ("orders.deliver", "orders.cancel")),
}
"""How racing orders end: after this many LIFECYCLE steps, these two commands at once."""
VERSIONS = {PLACE: 2, "orders.cancel": 1, **dict(LIFECYCLE)}
CONFLICT = 409
PIZZAS = ["margherita", "pepperoni", "supreme", "quattro formaggi", "vegetariana"]
SIZES = ["small", "medium", "large"]


@dataclasses.dataclass(frozen=True)
class Step:
    message_id: str
    command: str
    body: dict[str, Any]
    versions: int
    """How many events (so versions) its effect adds to the aggregate."""
    expected_status: int
    racing: bool = False
    """Sent at once with the racing steps next to it: whichever arrives second may find
    its aggregate moved on by its rival, so a 409 is as good an answer as the other."""

    def accepts(self, status: int) -> bool:
        return status == self.expected_status or (self.racing and status == CONFLICT)


@dataclasses.dataclass
class Plan:
    """One aggregate's commands, in the order they are sent."""

    collection: str
    aggregate_id: str
    """Where the effects land: the document's `_id`."""
    steps: list[Step]
    phone: str | None = None
    refused: str | None = None
    """Why it stopped before its end, when it did (an unexpected reply)."""


def plan_orders(
    count: int, phones: int, rng: random.Random, steps_taken: int = len(LIFECYCLE)
) -> list[Plan]:
    """`count` orders from `phones` customers; each order has an address of its own,
    so each order after a customer's first updates the customer. Each is taken through
    the first `steps_taken` steps of its life, and left there."""
    numbers = [f"+39 06 {rng.randrange(10**7, 10**8)}" for _ in range(phones)]
    plans = []
    for index in range(count):
        phone = numbers[index % phones]
        place = _place_step(index, phone, rng)
        steps = [place, *(_step(name) for name, _ in LIFECYCLE[:steps_taken])]
        plans.append(Plan("orders", id_for("order", place.message_id), steps, phone))
    return plans


def plan_races(count: int, phones: int, rng: random.Random) -> list[Plan]:
    """`count` orders from `phones` customers of their own, each ending in a race of
    RACES (taken in turn): its two commands are sent at once, once the steps before
    them are answered."""
    numbers = [f"+39 02 {rng.randrange(10**7, 10**8)}" for _ in range(phones)]
    races = list(RACES.values())
    plans = []
    for index in range(count):
        phone = numbers[index % phones]
        before, rivals = races[index % len(races)]
        place = _place_step(index, phone, rng)
        steps = [place, *(_step(name) for name, _ in LIFECYCLE[:before])]
        steps += [_step(name, racing=True) for name in rivals]
        plans.append(Plan("orders", id_for("order", place.message_id), steps, phone))
    return plans


def _place_step(index: int, phone: str, rng: random.Random) -> Step:
    place = {
        "customer_name": f"Customer {phone[-4:]}",
        "customer_phone": phone,
        "customer_address": f"Via dei Guasti {index}, Roma",
        "pizzas": [
            {
                "name": rng.choice(PIZZAS),
                "size": rng.choice(SIZES),
                "toppings": rng.sample(["basil", "olives", "chili"], rng.randrange(3)),
            }
            for _ in range(rng.randrange(1, 4))
        ],
        "payment_method": rng.choice(["cash", "card", "online"]),
    }
    return Step(uuid.uuid4().hex, PLACE, place, VERSIONS[PLACE], 201)  # placed, confirmed


def _step(name: str, *, racing: bool = False) -> Step:
    body = {
        "orders.assign-delivery": {"driver": "Luigi"},
        "orders.cancel": {"reason": "changed my mind"},
    }.get(name, {})
    return Step(uuid.uuid4().hex, name, body, VERSIONS[name], 200, racing)


def plan_pizzas(count: int, updates: int, rng: random.Random) -> list[Plan]:
    """`count` pizzas of our own, each added once and then updated `updates` times."""
    plans = []
    for _ in range(count):
        name = f"Fault {uuid.uuid4().hex[:8]}"
        steps = [
            Step(
                uuid.uuid4().hex,
                "menu.add-pizza",
                {"name": name, "base_price": "9.99", "description": "new"},
                1,
                201,
            )
        ]
        steps += [
            Step(
                uuid.uuid4().hex,
                "menu.update-pizza",
                {
                    "name": name,
                    "base_price": f"{rng.randrange(800, 2000) / 100:.2f}",
                    "description": f"revision {revision}",
                },
                1,
                200,
            )
            for revision in range(1, updates + 1)
        ]
        plans.append(Plan("menu", pizza_key(name), steps))
    return plans


def rounds(steps: list[Step]) -> list[list[Step]]:
    """The steps as they are sent: one at a time, racing neighbours together."""
    grouped: list[list[Step]] = []
    for step in steps:
        if step.racing and grouped and grouped[-1][-1].racing:
            grouped[-1].append(step)
        else:
            grouped.append([step])
    return grouped


def plan_job(client: LoadClient, plan: Plan) -> Callable[[], Awaitable[None]]:
    """Send each round once the previous one was answered as expected."""

    async def job() -> None:
        order_id: str | None = None
        for sent_together in rounds(plan.steps):
            replies = await asyncio.gather(
                *(_call(client, plan, step, order_id) for step in sent_together)
            )
            for step, reply in zip(sent_together, replies, strict=True):
                if not step.accepts(reply.status):
                    plan.refused = f"{step.command}: {reply.status} {reply.body}"
                    return
                if step.command == PLACE:
                    order_id = reply.body["data"]["id"]

    return job


async def _call(client: LoadClient, plan: Plan, step: Step, order_id: str | None) -> Reply:
    body = dict(step.body)
    if plan.collection == "orders" and step.command != PLACE:
        body["order_id"] = order_id
    return await client.call(step.command, json.dumps(body).encode(), step.message_id)
