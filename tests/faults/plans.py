"""The load: aggregates taken through a series of commands, one command at a time each.

An order is placed, then cooked, made ready, sent out and delivered. A pizza of our own
is added to the menu, then updated again and again (a new description each time, so
every update is a change). Message ids are fixed before anything is sent, so the ledger
knows what each command must have done.
"""

import dataclasses
import json
import random
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

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


def plan_orders(count: int, phones: int, rng: random.Random) -> list[Plan]:
    """`count` orders from `phones` customers; each order has an address of its own,
    so each order after a customer's first updates the customer."""
    numbers = [f"+39 06 {rng.randrange(10**7, 10**8)}" for _ in range(phones)]
    plans = []
    for index in range(count):
        phone = numbers[index % phones]
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
        place_id = uuid.uuid4().hex
        steps = [Step(place_id, PLACE, place, 2, 201)]  # placed, confirmed
        for name, versions in LIFECYCLE:
            body = {"driver": "Luigi"} if name == "orders.assign-delivery" else {}
            steps.append(Step(uuid.uuid4().hex, name, body, versions, 200))
        plans.append(Plan("orders", id_for("order", place_id), steps, phone))
    return plans


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


def plan_job(client: LoadClient, plan: Plan) -> Callable[[], Awaitable[None]]:
    """Send each step once the previous one was answered as expected."""

    async def job() -> None:
        order_id: str | None = None
        for step in plan.steps:
            body = dict(step.body)
            if plan.collection == "orders" and step.command != PLACE:
                body["order_id"] = order_id
            reply = await client.call(step.command, json.dumps(body).encode(), step.message_id)
            if reply.status != step.expected_status:
                plan.refused = f"{step.command}: {reply.status} {reply.body}"
                return
            if step.command == PLACE:
                order_id = reply.body["data"]["id"]

    return job
