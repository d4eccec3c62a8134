"""Two workers racing on the same order or phone against the real database.

Each worker has its own client, stores, relay and lanes, so only the
database's single-document version check stands between them. Races are
forced, many times over: both workers read the same version, then either one
writes before the other (`sequenced`) or both write at the same moment
(`at_once`).
"""

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Literal
from uuid import uuid4

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from pizzeria_contracts import names
from tests.e2e.amqp import STATUS_AFTER
from worker.adapters.mongo.database import Collections, Document, connect
from worker.adapters.mongo.store import MongoAggregateStore, MongoCustomerStore
from worker.application.errors import ConcurrencyError
from worker.application.mediator import Outcome
from worker.application.ports import Loaded, Publishing, Receipt
from worker.domain.customers import Customer, normalize_phone
from worker.domain.orders import Order

from .conftest import random_phone
from .mongo_worker import MongoWorker, fresh_collections, order_body

pytestmark = pytest.mark.integration

ROUNDS = 8
WAIT = 10.0
"""Longest a racer waits for its rival before the test fails rather than hangs."""
Point = Literal["read", "write"]


@dataclasses.dataclass
class Turn:
    """A store's part in the next race: where it meets its rival, and whether it writes second."""

    at: Point
    gate: asyncio.Barrier
    wait_for: asyncio.Event | None = None
    signal: asyncio.Event | None = None


class Racing:
    """A store that plays its turn once, at its point, and counts the races it lost."""

    turn: Turn | None = None
    signal: asyncio.Event | None = None
    conflicts = 0

    async def meet(self, point: Point) -> None:
        turn = self.turn
        if turn is None or turn.at != point:
            return
        self.turn = None
        async with asyncio.timeout(WAIT):
            await turn.gate.wait()
            if turn.wait_for is not None:
                await turn.wait_for.wait()
        self.signal = turn.signal

    def wrote(self) -> None:
        if self.signal is not None:
            self.signal.set()
            self.signal = None


class RacingOrders(Racing, MongoAggregateStore[Order]):
    async def load(
        self, aggregate_id: str, message_id: str = "", *, fresh: bool = False
    ) -> Loaded[Order] | None:
        loaded = await super().load(aggregate_id, message_id, fresh=fresh)
        await self.meet("read")
        return loaded

    async def update(self, aggregate: Order, receipt: Receipt | None) -> Publishing:
        try:
            published = await super().update(aggregate, receipt)
        except ConcurrencyError:
            self.conflicts += 1
            raise
        self.wrote()
        return published


class RacingCustomers(Racing, MongoCustomerStore):
    async def find_by_phone(self, phone: str, message_id: str = "") -> Loaded[Customer] | None:
        found = await super().find_by_phone(phone, message_id)
        await self.meet("read")
        return found

    async def create(self, aggregate: Customer, receipt: Receipt | None) -> Publishing | None:
        created = await super().create(aggregate, receipt)
        if created is not None:
            self.wrote()
        else:
            self.conflicts += 1
        return created

    async def update(self, aggregate: Customer, receipt: Receipt | None) -> Publishing:
        await self.meet("write")
        try:
            published = await super().update(aggregate, receipt)
        except ConcurrencyError:
            self.conflicts += 1
            raise
        self.wrote()
        return published


@dataclasses.dataclass
class Racer:
    worker: MongoWorker
    orders: RacingOrders
    customers: RacingCustomers

    @property
    def published(self) -> list[Mapping[str, Any]]:
        return self.worker.published.entries


def sequenced(first: Racing, second: Racing, at: Point = "read") -> None:
    """Both reach `at` before either writes; `first` writes, then `second` from what it read."""
    gate, written = asyncio.Barrier(2), asyncio.Event()
    first.turn = Turn(at, gate, signal=written)
    second.turn = Turn(at, gate, wait_for=written)


def at_once(first: Racing, second: Racing, at: Point = "read") -> None:
    """Both reach `at`, then both write at the same moment."""
    gate = asyncio.Barrier(2)
    first.turn, second.turn = Turn(at, gate), Turn(at, gate)


@pytest.fixture(scope="module")
async def other_client(mongodb_url: str) -> AsyncIterator[AsyncMongoClient[Document]]:
    """The second worker's own connection pool."""
    client = connect(mongodb_url, serverSelectionTimeoutMS=5000)
    yield client
    await client.close()


@pytest.fixture(scope="module")
async def racers(
    database: AsyncDatabase[Document], other_client: AsyncMongoClient[Document]
) -> AsyncIterator[tuple[Racer, Racer]]:
    ours = await fresh_collections(database)
    theirs = Collections(*(other_client[database.name][c.name] for c in vars(ours).values()))
    pair = []
    for collections in (ours, theirs):
        worker = MongoWorker.start(collections, orders=RacingOrders, customers=RacingCustomers)
        assert isinstance(worker.orders, RacingOrders)
        assert isinstance(worker.customers, RacingCustomers)
        pair.append(Racer(worker, worker.orders, worker.customers))
    yield pair[0], pair[1]
    for racer in pair:
        await racer.worker.stop()


def events_of(racers: tuple[Racer, Racer], subject: str) -> list[Mapping[str, Any]]:
    """Every event either relay published about `subject`, once each, by version."""
    unique = {e["id"]: e for r in racers for e in r.published if e["subject"] == subject}
    return sorted(unique.values(), key=lambda entry: entry["version"])


async def check_whole(racers: tuple[Racer, Racer], order_id: str) -> Document:
    """Nothing half-applied: events 1..version once each, outbox empty, the view the same."""
    collections = racers[0].worker.collections
    await asyncio.gather(*(r.worker.relay.drain(clear=True) for r in racers))
    doc = await collections.orders.find_one({"_id": order_id})
    assert doc is not None
    events = events_of(racers, order_id)
    assert [e["version"] for e in events] == list(range(1, doc["version"] + 1))
    assert doc["outbox"] == []
    view = await racers[1].worker.ok(names.GET_ORDER, {"order_id": order_id})
    assert view == {k: v for k, v in doc.items() if k not in ("_id", "outbox", "inbox")}
    if doc["status"] == "cancelled":
        assert events[-1]["body"]["previous_status"] == STATUS_AFTER[events[-2]["type"]]
    return doc


def inbox(doc: Document) -> set[str]:
    return {entry["message_id"] for entry in doc["inbox"]}


async def race(
    cook_by: Racer, cancel_by: Racer, order_id: str
) -> tuple[Outcome, Outcome, str, str]:
    cook_id, cancel_id = uuid4().hex, uuid4().hex
    cooked, cancelled = await asyncio.gather(
        cook_by.worker.command(names.START_COOKING, {"order_id": order_id}, cook_id),
        cancel_by.worker.command(
            names.CANCEL_ORDER, {"order_id": order_id, "reason": "race"}, cancel_id
        ),
    )
    return cooked, cancelled, cook_id, cancel_id


Arrange = Callable[[Racing, Racing], None]


def second_first(first: Racing, second: Racing) -> None:
    sequenced(second, first)


async def cook_and_cancel_race(racers: tuple[Racer, Racer], arrange: Arrange) -> list[str]:
    """Start cooking and cancel one new order at once, ROUNDS times; what came of each."""
    outcomes = []
    for round_ in range(ROUNDS):
        cook_by, cancel_by = racers if round_ % 2 == 0 else racers[::-1]
        order = await cook_by.worker.ok(names.PLACE_ORDER, order_body(random_phone()))
        conflicts = sum(r.orders.conflicts for r in racers)
        arrange(cook_by.orders, cancel_by.orders)

        cooked, cancelled, cook_id, cancel_id = await race(cook_by, cancel_by, order["id"])

        doc = await check_whole(racers, order["id"])
        assert sum(r.orders.conflicts for r in racers) - conflicts == 1
        assert cancelled.result.status == 200, cancelled.result
        assert doc["status"] == "cancelled"
        assert cancel_id in inbox(doc)
        kinds = [e["type"] for e in events_of(racers, order["id"])]
        if cooked.result.status == 200:
            outcomes.append("both")
            assert kinds[2:] == ["orders.cooking-started", "orders.cancelled"]
            assert (cooked.result.data["version"], cancelled.result.data["version"]) == (3, 4)
            assert cook_id in inbox(doc)
        else:
            outcomes.append("cancel only")
            assert cooked.result.status == 409, cooked.result
            detail = cooked.result.detail or ""
            assert "is cancelled" in detail
            assert "allowed from cancelled: nothing" in detail
            assert kinds[2:] == ["orders.cancelled"]
            assert cook_id not in inbox(doc)
    return outcomes


async def test_a_cook_that_wins_the_race_is_then_cancelled(racers: tuple[Racer, Racer]) -> None:
    assert set(await cook_and_cancel_race(racers, sequenced)) == {"both"}


async def test_a_cancel_that_wins_the_race_leaves_the_cook_a_409(
    racers: tuple[Racer, Racer],
) -> None:
    assert set(await cook_and_cancel_race(racers, second_first)) == {"cancel only"}


async def test_cook_and_cancel_writing_at_once_lose_nothing(racers: tuple[Racer, Racer]) -> None:
    assert set(await cook_and_cancel_race(racers, at_once)) <= {"both", "cancel only"}


async def same_command_twice(racers: tuple[Racer, Racer], arrange: Arrange) -> None:
    for _ in range(ROUNDS // 2):
        order = await racers[0].worker.ok(names.PLACE_ORDER, order_body(random_phone()))
        arrange(racers[0].orders, racers[1].orders)
        message_id, body = uuid4().hex, {"order_id": order["id"]}

        replies = await asyncio.gather(
            *(r.worker.command(names.START_COOKING, body, message_id) for r in racers)
        )

        first, second = (reply.result.model_dump(mode="json") for reply in replies)
        assert first == second
        assert first["status"] == 200
        doc = await check_whole(racers, order["id"])
        assert (doc["version"], doc["status"]) == (3, "cooking")


async def test_one_message_delivered_to_two_workers_is_applied_once(
    racers: tuple[Racer, Racer],
) -> None:
    await same_command_twice(racers, sequenced)


async def test_one_message_applied_by_two_workers_at_once_is_applied_once(
    racers: tuple[Racer, Racer],
) -> None:
    await same_command_twice(racers, at_once)


async def test_two_different_cooks_of_one_order_apply_once_and_the_loser_hears_why(
    racers: tuple[Racer, Racer],
) -> None:
    for round_ in range(ROUNDS // 2):
        order = await racers[0].worker.ok(names.PLACE_ORDER, order_body(random_phone()))
        first, second = racers if round_ % 2 == 0 else racers[::-1]
        sequenced(first.orders, second.orders)
        body = {"order_id": order["id"]}

        won, lost = await asyncio.gather(
            first.worker.command(names.START_COOKING, body),
            second.worker.command(names.START_COOKING, body),
        )

        assert won.result.status == 200
        assert lost.result.status == 409
        assert "is cooking" in (lost.result.detail or "")
        doc = await check_whole(racers, order["id"])
        assert doc["version"] == 3


@pytest.mark.parametrize("arrange", [sequenced, at_once], ids=["one-first", "at-once"])
async def test_two_first_orders_for_one_new_phone_register_one_customer(
    racers: tuple[Racer, Racer], arrange: Arrange
) -> None:
    customers = racers[0].worker.collections.customers
    for _ in range(ROUNDS):
        phone = random_phone()
        spellings = [phone, f"{phone[:3]} {phone[3:6]} {phone[6:]}"]
        arrange(racers[0].customers, racers[1].customers)

        placed = await asyncio.gather(
            *(
                r.worker.command(names.PLACE_ORDER, order_body(spelling))
                for r, spelling in zip(racers, spellings, strict=True)
            )
        )

        assert [p.result.status for p in placed] == [201, 201]
        [customer_id] = {p.result.data["customer_id"] for p in placed}
        stored = await customers.find({"phone": normalize_phone(phone)}).to_list()
        assert [doc["_id"] for doc in stored] == [customer_id]
        registered = [
            e
            for r in racers
            for e in r.published
            if e["type"] == "customers.registered" and e["body"]["phone"] == phone
        ]
        assert [e["subject"] for e in registered] == [customer_id]
        for reply in placed:
            await check_whole(racers, reply.result.data["id"])


async def returning_customer_race(racers: tuple[Racer, Racer], together: bool) -> None:
    """Two orders with new names for one known phone, at once: every change is kept."""
    phone = random_phone()
    await racers[0].worker.ok(names.PLACE_ORDER, order_body(phone, name="Anna"))
    for round_ in range(ROUNDS // 2):
        conflicts = sum(r.customers.conflicts for r in racers)
        first, second = (r.customers for r in racers)
        (at_once if together else sequenced)(first, second, "write")

        placed = await asyncio.gather(
            *(
                r.worker.command(names.PLACE_ORDER, order_body(phone, name=f"Anna {round_}{r_}"))
                for r_, r in enumerate(racers)
            )
        )

        assert [p.result.status for p in placed] == [201, 201]
        # One race lost, and perhaps one more write over a version a racer remembered
        # from its own last write, which the other had moved on since.
        assert 1 <= sum(r.customers.conflicts for r in racers) - conflicts <= 2
    await asyncio.gather(*(r.worker.relay.drain(clear=True) for r in racers))
    doc = await racers[0].worker.collections.customers.find_one({"phone": phone})
    assert doc is not None
    events = events_of(racers, doc["_id"])
    assert [e["version"] for e in events] == list(range(1, doc["version"] + 1))
    assert doc["version"] == 1 + 2 * (ROUNDS // 2)
    assert events[-1]["body"]["name"] == doc["name"]
    assert doc["outbox"] == []


async def test_two_returning_orders_with_new_details_keep_every_customer_change(
    racers: tuple[Racer, Racer],
) -> None:
    await returning_customer_race(racers, together=False)


async def test_two_returning_orders_writing_the_customer_at_once_keep_every_change(
    racers: tuple[Racer, Racer],
) -> None:
    await returning_customer_race(racers, together=True)
