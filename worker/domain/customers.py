"""The customer: found by phone number, registered on their first order."""

import re
import uuid
from datetime import datetime

from . import events as ev

_NOT_DIGITS = re.compile(r"[^0-9]")
_IDS = uuid.UUID("2c5f0a8e-7d1b-4f36-9e0a-5b8c3d6f1a27")


def normalize_phone(phone: str) -> str:
    """One spelling per number: digits only, with a leading `+` kept."""
    digits = _NOT_DIGITS.sub("", phone)
    return f"+{digits}" if phone.strip().startswith("+") else digits


def customer_id_for(phone: str) -> str:
    """The id a customer registered with this (normalized) phone gets: derived from it, so
    a returning customer is found by `_id`, which every store serves from its primary
    index. Customers registered before ids were derived keep theirs and are found by
    phone."""
    return uuid.uuid5(_IDS, phone).hex


class Customer:
    """A customer of the pizzeria; the phone number identifies them."""

    def __init__(
        self,
        customer_id: str,
        name: str,
        phone: str,
        address: str | None,
        email: str | None,
        version: int,
    ) -> None:
        self.id = customer_id
        self.name = name
        self.phone = phone
        self.address = address
        self.email = email
        self.version = version
        self.pending_events: list[ev.DomainEvent] = []

    @classmethod
    def register(
        cls,
        customer_id: str,
        name: str,
        phone: str,
        address: str | None,
        email: str | None,
        now: datetime,
    ) -> "Customer":
        customer = cls(customer_id, name, normalize_phone(phone), address, email, 0)
        customer._record(ev.CustomerRegistered, now)
        return customer

    def update_details(
        self, name: str, address: str | None, email: str | None, now: datetime
    ) -> None:
        """Take the details of a new order; what it leaves out stays as it was."""
        changed = (name, address or self.address, email or self.email)
        if changed == (self.name, self.address, self.email):
            return
        self.name, self.address, self.email = changed
        self._record(ev.CustomerUpdated, now)

    def _record(self, kind: type[ev.CustomerEvent], now: datetime) -> None:
        self.version += 1
        self.pending_events.append(
            kind(
                aggregate_id=self.id,
                version=self.version,
                occurred_at=now,
                name=self.name,
                phone=self.phone,
                address=self.address,
                email=self.email,
            )
        )
