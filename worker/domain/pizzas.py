"""A pizza of the menu as an aggregate: added, repriced, removed by the operator."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from . import events as ev
from .errors import PizzaAlreadyOnMenuError, PizzaNotFoundError
from .menu import MenuItem, pizza_key


class Pizza:
    """One pizza; a removed pizza keeps its history and may be added again."""

    def __init__(
        self, name: str, base_price: Decimal, description: str, removed: bool, version: int
    ) -> None:
        self.id = pizza_key(name)
        self.name = name
        self.base_price = base_price
        self.description = description
        self.removed = removed
        self.version = version
        self.pending_events: list[ev.DomainEvent] = []

    @classmethod
    def add(cls, name: str, base_price: Decimal, description: str, now: datetime) -> "Pizza":
        pizza = cls(" ".join(name.split()), base_price, description, True, 0)
        pizza.put_back(name, base_price, description, now)
        return pizza

    @property
    def item(self) -> MenuItem:
        return MenuItem(self.name, self.base_price, self.description)

    def put_back(self, name: str, base_price: Decimal, description: str, now: datetime) -> None:
        """Offer a removed pizza again."""
        if not self.removed:
            raise PizzaAlreadyOnMenuError(self.name)
        self.name, self.base_price, self.description = (
            " ".join(name.split()),
            base_price,
            description,
        )
        self.removed = False
        self._record(ev.PizzaAdded, now, base_price=base_price, description=description)

    def update(self, base_price: Decimal | None, description: str | None, now: datetime) -> None:
        if self.removed:
            raise PizzaNotFoundError(self.name)
        price = self.base_price if base_price is None else base_price
        text = self.description if description is None else description
        if (price, text) == (self.base_price, self.description):
            return
        self.base_price, self.description = price, text
        self._record(ev.PizzaUpdated, now, base_price=price, description=text)

    def remove(self, now: datetime) -> None:
        if self.removed:
            raise PizzaNotFoundError(self.name)
        self.removed = True
        self._record(ev.PizzaRemoved, now)

    def _record(self, kind: type[ev.PizzaEvent], now: datetime, **facts: Any) -> None:
        self.version += 1
        self.pending_events.append(
            kind(
                aggregate_id=self.id, version=self.version, occurred_at=now, name=self.name, **facts
            )
        )
