"""The load both black-hole tests run, and what both count of it."""

import random
from typing import Any

from aio_pika.abc import AbstractIncomingMessage

from .ledger import Ledger
from .plans import Plan, plan_orders
from .scenario import During, scaled

ORDERS = scaled(280)  # x 5 commands
PHONES = 20
BURST = scaled(80)
"""Orders placed at once: when the hole opens, the worker has its prefetch in flight."""
SPACING = 0.1
"""Then a new order every 0.1 s, whatever the worker answers: commands keep coming
throughout the hole."""
HOLE_AFTER = 0.1
"""The share of the load answered when the hole opens: within the first orders."""
HOLE_FOR = 15.0
LOAD_TIMEOUT = 150.0


def plans(seed: int) -> list[Plan]:
    return plan_orders(ORDERS, PHONES, random.Random(seed))


def load_options() -> dict[str, Any]:
    """`Scenarios.run`'s options for this load: every order in flight, spaced out."""
    return {"in_flight": ORDERS, "spacing": SPACING, "burst": BURST, "timeout": LOAD_TIMEOUT}


def hole_details(
    ledger: Ledger, during: During, dropped: int, noticed: float | None
) -> dict[str, object]:
    """The ledger lines both tests show about the hole."""
    return {
        "commands sent during the hole": during.sent,
        "commands answered during the hole": during.answered,
        "bytes dropped": dropped,
        "worker noticed after (s)": noticed and round(noticed - during.started, 1),
        "commands answered twice": len(ledger.answered_twice),
    }


def dead_of(
    ledger: Ledger, dead_letters: list[AbstractIncomingMessage]
) -> list[AbstractIncomingMessage]:
    """The dead letters of this load's own commands."""
    return [m for m in dead_letters if m.message_id in ledger.message_ids]
