"""`python -m worker rebuild`: a read model rebuilt from 5,000 stored orders while the
worker, a separate process, takes commands; the result equals a fold from scratch."""

import asyncio
import json
import re
import sys
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pymongo import AsyncMongoClient

from pizzeria_bench.rebuild import stored_orders
from tests.e2e.amqp import COMMANDS, QUERIES, RawClient, Reply
from tests.e2e.conftest import REPO_ROOT, WorkerProcess, _environment
from worker.adapters.mongo.database import Document
from worker.adapters.mongo.deadlines import wakeup_document
from worker.adapters.mongo.documents import OrderCodec
from worker.adapters.mongo.sales import day_totals
from worker.adapters.mongo.views import order_view_document
from worker.application.deadlines import Timeouts
from worker.application.sales import fold_days, sale_facts

STORED = 5_000
REFRESH = "0.2"
UTC_ZONE = ZoneInfo("UTC")
TODAY = datetime.now(UTC).date()


LONG_TIMEOUTS = {
    "PIZZERIA_KITCHEN_WARN_AFTER": str(60 * 86400),
    "PIZZERIA_KITCHEN_CANCEL_AFTER": str(90 * 86400),
    "PIZZERIA_DELIVERY_LATE_AFTER": str(60 * 86400),
}
"""The stored orders are up to ten days old: with these, none of their deadlines falls
due while the module runs, so the worker changes none of them on its own."""
SETTINGS = {"PIZZERIA_READ_MODEL_REFRESH_SECONDS": REFRESH, **LONG_TIMEOUTS}


@pytest.fixture(scope="module")
def worker_env() -> dict[str, str]:
    return SETTINGS


async def seed(mongo_client: AsyncMongoClient[Document], database: str) -> None:
    await mongo_client[database].orders.insert_many(list(stored_orders(STORED)))


async def ok(client: RawClient, name: str, body: Mapping[str, Any], query: bool = False) -> Reply:
    exchange = QUERIES if query else COMMANDS
    reply = await client.call(exchange, name, json.dumps(body).encode(), timeout=30)
    assert reply.body["status"] in (200, 201), reply.body
    return reply


async def one_life(client: RawClient, number: int) -> None:
    """An order placed and delivered, or cancelled, through the running worker."""
    body = {
        "customer_name": "Bo",
        "customer_phone": f"+1555020{number % 10}",
        "pizzas": [{"name": "margherita", "size": "large"}],
    }
    order_id = (await ok(client, "orders.place", body)).body["data"]["id"]
    if number % 4 == 3:
        await ok(client, "orders.cancel", {"order_id": order_id})
        return
    await ok(client, "orders.start-cooking", {"order_id": order_id})
    await ok(client, "orders.mark-ready", {"order_id": order_id})
    await ok(client, "orders.assign-delivery", {"order_id": order_id, "driver": "Mario"})
    await ok(client, "orders.deliver", {"order_id": order_id})


async def rebuild_while_live(
    worker: WorkerProcess, client: RawClient, amqp_url: str, mongodb_url: str, model: str
) -> tuple[str, int]:
    """Runs the rebuild and, until it ends, lives of orders 4 at a time; returns the
    rebuild's output and how many lives ended while it ran."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "worker",
        "rebuild",
        model,
        cwd=REPO_ROOT,
        env=_environment(amqp_url, mongodb_url, worker.database, SETTINGS),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    during = 0
    numbers = iter(range(1_000_000))

    async def lives() -> None:
        nonlocal during
        while process.returncode is None:
            await one_life(client, next(numbers))
            if process.returncode is None:
                during += 1

    runners = [asyncio.create_task(lives()) for _ in range(4)]
    output, _ = await asyncio.wait_for(process.communicate(), 300)
    await asyncio.gather(*runners)
    for _ in range(4):  # and after the switch, into the new copy alone
        await one_life(client, next(numbers))
    text = output.decode("utf-8", "replace")
    assert process.returncode == 0, text
    return text, during


def rebuilt_from(output: str, model: str) -> int:
    found = re.search(rf"rebuilt {model} from (\d+) orders", output)
    assert found, output
    return int(found.group(1))


async def placed_in(mongo_client: AsyncMongoClient[Document], database: str, model: str) -> str:
    control = await mongo_client[database].read_models.find_one({"_id": model})
    assert control is not None
    assert control["building"] is None
    return str(control["collection"])


async def rebuilt(
    worker: WorkerProcess,
    client: RawClient,
    amqp_url: str,
    mongodb_url: str,
    mongo_client: AsyncMongoClient[Document],
    model: str,
    default: str,
) -> tuple[str, int]:
    """`rebuild_while_live` over the stored orders (seeded unless a test before did), and
    what every rebuild must show: all of them read, orders lived meanwhile, the queries
    on a new collection, the one before dropped. The new collection, and the lives."""
    database = mongo_client[worker.database]
    if await database.orders.count_documents({}) < STORED:
        await seed(mongo_client, worker.database)
    output, during = await rebuild_while_live(worker, client, amqp_url, mongodb_url, model)
    assert rebuilt_from(output, model) >= STORED
    assert during > 0, "no order lived while the rebuild ran"
    copy = await placed_in(mongo_client, worker.database, model)
    assert copy != default
    assert default not in await database.list_collection_names()
    return copy, during


async def test_the_sales_report_rebuilt_while_live_equals_a_fold_from_scratch(
    worker: WorkerProcess,
    client: RawClient,
    amqp_url: str,
    mongodb_url: str,
    mongo_client: AsyncMongoClient[Document],
) -> None:
    copy, during = await rebuilt(
        worker, client, amqp_url, mongodb_url, mongo_client, "sales", "sales_daily"
    )
    database = mongo_client[worker.database]
    orders = await database.orders.find({}, {"inbox": 0, "outbox": 0}).to_list()
    assert len(orders) >= STORED + during + 4
    expected = fold_days(fact for order in orders for fact in sale_facts(order, UTC_ZONE))
    summaries = await database[copy].find({"parts": {"$exists": True}}).to_list()
    assert {summary["_id"]: day_totals(summary) for summary in summaries} == expected

    first = TODAY - timedelta(days=11)
    reply = await ok(
        client, "sales.daily", {"from": first.isoformat(), "to": TODAY.isoformat()}, query=True
    )
    days = {day["day"]: day for day in reply.body["data"]["days"]}
    assert len(days) == 12
    newest = max(f.at for order in orders for f in sale_facts(order, UTC_ZONE) if f.day >= first)
    assert datetime.fromisoformat(reply.body["data"]["counted_through"]) == newest
    for day, doc in expected.items():
        assert days[day]["orders_placed"] == doc["placed"]
        assert days[day]["orders_delivered"] == doc["delivered"]
        assert Decimal(days[day]["revenue"]) == Decimal(doc["revenue_cents"]) / 100


async def test_the_order_views_rebuilt_while_live_equal_the_stored_orders(
    worker: WorkerProcess,
    client: RawClient,
    amqp_url: str,
    mongodb_url: str,
    mongo_client: AsyncMongoClient[Document],
) -> None:
    copy, _ = await rebuilt(
        worker, client, amqp_url, mongodb_url, mongo_client, "orders", "order_views"
    )
    database = mongo_client[worker.database]
    orders = await database.orders.find({}, {"inbox": 0}).to_list()
    views = {view["_id"]: view for view in await database[copy].find({}).to_list()}
    assert {order["_id"] for order in orders} == set(views)
    for order in orders:
        assert views[order["_id"]] == {"_id": order["_id"], **order_view_document(order)}

    reply = await ok(client, "orders.get", {"order_id": "seeded-000042"}, query=True)
    assert reply.body["data"]["id"] == "seeded-000042"
    assert date.fromisoformat(reply.body["data"]["created_at"][:10]) <= TODAY


async def test_the_deadlines_rebuilt_while_live_are_the_stored_orders_wakeups(
    worker: WorkerProcess,
    client: RawClient,
    amqp_url: str,
    mongodb_url: str,
    mongo_client: AsyncMongoClient[Document],
) -> None:
    copy, _ = await rebuilt(
        worker, client, amqp_url, mongodb_url, mongo_client, "deadlines", "deadlines"
    )
    database = mongo_client[worker.database]
    timeouts = Timeouts(*(timedelta(seconds=float(value)) for value in LONG_TIMEOUTS.values()))
    codec = OrderCodec()
    expected = {}
    for order in await database.orders.find({}, {"inbox": 0}).to_list():
        wakeup = wakeup_document(codec.decode(order), timeouts)
        if wakeup is not None:
            expected[order["_id"]] = wakeup
    found = {doc["_id"]: doc for doc in await database[copy].find({}).to_list()}
    assert len(expected) >= STORED // 5  # the seeded orders left confirmed, at least
    assert found == expected
    late = await ok(client, "orders.list-late", {"limit": 5}, query=True)
    assert late.body["data"]["items"] == []
