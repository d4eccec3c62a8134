"""Every filter and sort the worker sends to the database is served by an index it declares.

The worker records each database command (collection, filters, sorts) while
the whole catalogue runs through it over AMQP; then every recorded filter
must use an index of `INDEXES` (or `_id`), so that on real MongoDB nothing
scans a collection as the data grows. The local server (mongo-java-server) builds
only unique indexes: what is checked here is what the worker asks for, which is what
carries over.

A filter is served when its equality and range fields are a prefix of an
index's keys, equalities first (any filter with an equality on `_id` is
served: at most one document matches); each `$or` branch, with the fields
beside the `$or`, must be served on its own. A sort is served when its keys,
after the equality prefix, follow that index in its direction or the reverse.
"""

import asyncio
import json
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.amqp import COMMANDS, QUERIES, RawClient, json_body, new_id
from tests.e2e.conftest import WorkerProcess
from worker.adapters.mongo.database import INDEXES

pytestmark = pytest.mark.e2e

Keys = list[tuple[str, int]]
EQUALITY = {"$eq", "$in"}
RANGE = {"$gt", "$gte", "$lt", "$lte"}
WHOLE_COLLECTION_ON_PURPOSE = {
    ("menu", "find"),
    ("outbox_waiting", "find"),
    ("read_models", "find"),
}
"""Where the worker reads with an empty filter, and why that is fine: at start-up
`seed_menu` asks the menu for any one document (`find_one({})`) to learn whether it
was ever seeded; it stops at the first document, and the menu is a few dozen. The
relay's periodic pass reads every mark in `outbox_waiting`, which holds only the
documents whose events failed to publish, until they are published again. Every
second a worker reads `read_models`: one document per read model ever rebuilt."""


def declared_indexes() -> dict[str, list[Keys]]:
    found: dict[str, list[Keys]] = {}
    for collection, models in INDEXES.items():
        found[collection] = [[(k, int(d)) for k, d in m.document["key"].items()] for m in models]
    return found


def fields_of(query: Mapping[str, Any]) -> tuple[set[str], set[str], set[str], list[Any]]:
    """Equality fields, range fields, fields no index can serve, and `$or` branches."""
    equal, ranged, other, branches = set(), set(), set(), []
    for field, value in query.items():
        if field == "$or":
            branches = list(value)
        elif field == "$and":
            for part in value:
                e, r, o, b = fields_of(part)
                equal |= e
                ranged |= r
                other |= o
                branches += b
        elif field.startswith("$"):
            other.add(field)
        elif isinstance(value, dict) and value and all(k.startswith("$") for k in value):
            operators = set(value)
            if operators <= EQUALITY:
                equal.add(field)
            elif operators <= RANGE:
                ranged.add(field)
            else:
                other.add(field)
        else:
            equal.add(field)
    return equal, ranged, other, branches


def serves(keys: Keys, equal: set[str], ranged: set[str]) -> bool:
    names = [name for name, _ in keys]
    if "_id" in equal and names == ["_id"]:
        return True
    wanted = len(equal) + len(ranged)
    if not wanted or wanted > len(names):
        return False
    return set(names[: len(equal)]) == equal and set(names[len(equal) : wanted]) == ranged


def sort_follows(keys: Keys, equal: set[str], sort: Mapping[str, int]) -> bool:
    rest = keys[len(equal) :] if {n for n, _ in keys[: len(equal)]} == equal else []
    wanted = [(name, int(direction)) for name, direction in sort.items()]
    head = rest[: len(wanted)]
    flipped = [(name, -direction) for name, direction in head]
    return bool(wanted) and wanted in (head, flipped)


def unserved(
    collection: str, query: Mapping[str, Any], sorts: list[Mapping[str, int]]
) -> str | None:
    """Why this filter (with its sorts) is not served by a declared index; None when it is."""
    indexes = [[("_id", 1)], *declared_indexes().get(collection, [])]
    equal, ranged, other, branches = fields_of(query)
    if other:
        return f"no index can serve {sorted(other)}"
    for branch in branches or [{}]:
        e, r, o, _ = fields_of(branch)
        if o:
            return f"no index can serve {sorted(o)} in an $or branch"
        both_equal, both_ranged = equal | e, ranged | r
        fitting = [keys for keys in indexes if serves(keys, both_equal, both_ranged)]
        if not fitting:
            return f"no index has {sorted(both_equal)} then {sorted(both_ranged)} as a prefix"
        for sort in sorts:
            if not any(sort_follows(keys, equal, sort) for keys in fitting):
                return f"the sort {sort} does not follow an index after {sorted(equal)}"
    return None


def test_the_rules_refuse_what_would_scan() -> None:
    assert unserved("order_views", {"customer_name": "Ann"}, []) is not None
    assert unserved("order_views", {"created_at": {"$lt": 1}}, []) is not None
    assert unserved("order_views", {"active": True}, [{"status": 1}]) is not None
    assert unserved("customers", {"name": {"$regex": "^A"}}, []) is not None
    assert unserved("order_views", {"active": True}, [{"created_at": -1, "_id": -1}]) is None
    assert unserved("order_views", {"customer_phone": "1"}, [{"created_at": 1, "_id": 1}]) is None
    assert unserved("orders", {"_id": "x", "version": 3}, []) is None


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("index-coverage") / "commands.jsonl"


@pytest.fixture(scope="module")
def worker_env(recording: Path) -> dict[str, str]:
    return {
        "PIZZERIA_RECORD_DATABASE_COMMANDS": str(recording),
        # A short interval, so that the sweep's and the backlog's queries are recorded too.
        "PIZZERIA_OUTBOX_SWEEP_SECONDS": "0.3",
        "PIZZERIA_DEADLINE_POLL_SECONDS": "0.3",  # and the deadlines' reads of what is due
    }


LIFECYCLE = [
    ("orders.start-cooking", {}),
    ("orders.mark-ready", {}),
    ("orders.assign-delivery", {"driver": "Luigi"}),
    ("orders.deliver", {}),
]


async def drive_the_catalogue(client: RawClient) -> None:
    phone = f"+39 3{random.randrange(10**8, 10**9)}"
    pizza = f"Bench {new_id()[:8]}"

    async def send(name: str, status: int, body: dict[str, Any], message_id: str = "") -> Any:
        reply = await client.call(
            COMMANDS, name, json_body(**body), message_id=message_id or new_id()
        )
        assert reply.status == status, (name, reply.body)
        return reply.body.get("data")

    async def ask(name: str, body: dict[str, Any], status: int = 200) -> Any:
        reply = await client.call(QUERIES, name, json_body(**body))
        assert reply.status == status, (name, reply.body)
        return reply.body.get("data")

    order = {
        "customer_name": "Ann",
        "customer_phone": phone,
        "pizzas": [{"name": "margherita", "size": "small"}],
    }
    again = new_id()
    first = await send("orders.place", 201, order, again)
    await send("orders.place", 201, order, again)  # the same message: its stored reply
    second = await send("orders.place", 201, {**order, "customer_name": "Ann B."})
    third = await send("orders.place", 201, order)
    await send("orders.place", 201, order)  # two active orders: the kitchen's list has pages
    for name, extra in LIFECYCLE:
        await send(name, 200, {"order_id": first["id"], **extra})
    await send("orders.cancel", 200, {"order_id": second["id"], "reason": "changed my mind"})
    await send("orders.cancel", 409, {"order_id": first["id"]})
    await send("orders.start-cooking", 404, {"order_id": new_id()})
    await send("menu.add-pizza", 201, {"name": pizza, "base_price": "9.99"})
    await send("menu.update-pizza", 200, {"name": pizza, "base_price": "10.49"})
    await send("menu.remove-pizza", 200, {"name": pizza})
    await ask("orders.get", {"order_id": third["id"]})
    await ask("orders.get", {"order_id": new_id()}, 404)
    mine = {"customer_phone": phone, "limit": 1}
    page = await ask("orders.list-by-customer", mine)
    await ask("orders.list-by-customer", {**mine, "cursor": page["next_cursor"]})
    active = await ask("orders.list-active", {"limit": 1})
    await ask("orders.list-active", {"limit": 1, "cursor": active["next_cursor"]})
    await ask("menu.get", {})
    await ask("sales.daily", {"from": "2026-12-01", "to": "2026-12-07"})
    await ask("orders.list-late", {"limit": 5})


@pytest.fixture(scope="module")
async def recorded(client: RawClient, worker: WorkerProcess, recording: Path) -> list[Any]:
    await drive_the_catalogue(client)
    await asyncio.sleep(1.0)  # a few sweeps
    text = await asyncio.to_thread(recording.read_text)
    return [json.loads(line) for line in text.splitlines()]


def with_filters(recorded: list[Any]) -> list[tuple[str, str, Any, list[Any]]]:
    return [
        (line["command"], line["collection"], query, line["sorts"])
        for line in recorded
        for query in line["filters"]
    ]


def test_every_filter_and_sort_is_served_by_a_declared_index(recorded: list[Any]) -> None:
    problems = set()
    for command, collection, query, sorts in with_filters(recorded):
        if not query and (collection, command) in WHOLE_COLLECTION_ON_PURPOSE:
            continue
        why = unserved(collection, query, sorts)
        if why is not None:
            problems.add(f"{command} {collection} {json.dumps(query)} {sorts}: {why}")
    assert not problems, "\n".join(sorted(problems))


def test_only_the_allowed_reads_take_a_whole_collection(recorded: list[Any]) -> None:
    unfiltered = {(c, command) for command, c, query, _ in with_filters(recorded) if not query}
    assert unfiltered <= WHOLE_COLLECTION_ON_PURPOSE


def test_finding_a_customer_never_lists_the_customers(recorded: list[Any]) -> None:
    reads = [q for cmd, c, q, _ in with_filters(recorded) if c == "customers" and cmd == "find"]
    lookups = [q for q in reads if "outbox.at" not in q]  # the rest is the outbox's sweep
    assert lookups, "no customer was looked up"
    assert {} not in reads
    assert all({"phone", "_id"} & fields_of(q)[0] for q in lookups), lookups


def test_the_whole_catalogue_reached_the_database(recorded: list[Any]) -> None:
    seen = {(c, field) for _, c, q, _ in with_filters(recorded) for field in q}
    for expected in [("customers", "phone"), ("order_views", "customer_phone"),
                     ("order_views", "active"), ("order_views", "$or"), ("menu", "removed"),
                     ("orders", "_id"), ("orders", "outbox.at"), ("menu", "_id"),
                     ("deadlines", "due"), ("deadlines", "late.deadline")]:  # fmt: skip
        assert expected in seen, expected


def test_the_outboxes_are_swept_once_at_start_then_only_the_failures_are_read(
    recorded: list[Any],
) -> None:
    """With a pass every 0.3 s, the scan of every outbox (`outbox.at`, which only MongoDB
    serves from an index) still ran once per collection: at start-up. The passes after
    it read `outbox_waiting`, whose marks are only the failures."""
    swept = [c for cmd, c, q, _ in with_filters(recorded) if "outbox.at" in q]
    assert sorted(swept) == ["customers", "menu", "orders"]
    passes = [c for cmd, c, q, _ in with_filters(recorded) if c == "outbox_waiting"]
    assert len(passes) >= 3, "the periodic pass ran"
