"""The scenarios of issue 10: place against the baseline, get against raw RPC, memory."""

import json
import time
from typing import Any

from faststream.rabbit import RabbitBroker, RabbitExchange

from pizzeria_client.client import PizzeriaClient
from pizzeria_contracts import names

from .baseline import place as baseline_place
from .baseline import rpc as baseline_rpc
from .load import Call, drive
from .processes import QUIET, Contender
from .results import BASELINE, CLIENT, FASTSTREAM, GET, PLACE, RAW_DB, RAW_NO_DB, WORKER, Memory
from .session import Session, order_body

REPLAYED = 5
"""Commands sent again after the run: they must place no second order."""
WARM_UP = 50
MiB = 1024 * 1024


async def place(session: Session) -> None:
    """orders.place: the hand-written consumer, then the worker, under the same load."""
    for contender in (BASELINE, WORKER):
        database = session.fresh_database()
        if contender == BASELINE:
            process: Contender = await session.baseline("place", database)
            exchange = baseline_place.EXCHANGE
        else:
            process, exchange = await session.worker(database), names.COMMANDS_EXCHANGE
        try:
            before = await process.counts()
            count = session.options.commands
            tick = session.progress.stage(f"{PLACE}: {contender}", count)
            cpu = process.cpu_seconds()
            timing, ids = await session.place(exchange, count, tick)
            started, at_last_reply = time.monotonic(), process.cpu_seconds()
            after = await process.settle()  # what the run left for later counts too
            settled = process.cpu_seconds()
            session.add_row(PLACE, contender, (timing, settled - cpu), before, after)
            session.report.checks.append(
                f"{contender}: CPU and round trips include {time.monotonic() - started:.1f} s "
                f"after the last reply, until no database command for {QUIET:g} s "
                f"(work left for later): {(settled - at_last_reply) * 1000 / count:.2f} ms "
                "of CPU per command"
            )
            await _replay(session, contender, exchange, ids, database)
        finally:
            await _stop(session, process)


def _failures(session: Session, stage: str, failures: int) -> None:
    if failures:
        session.report.checks.append(f"{stage}: {failures} calls failed or timed out")


async def _stop(session: Session, process: Contender) -> None:
    problem = await process.stop()
    if problem is not None:
        session.report.checks.append(problem)


async def _replay(
    session: Session, contender: str, exchange: str, ids: list[str], database: str
) -> None:
    """The same message ids again: answered, and no second order stored."""
    answered = 0
    for index, message_id in enumerate(ids[:REPLAYED]):
        body = order_body(index, session.options.phones)
        try:
            reply = await session.client.call(
                exchange, names.PLACE_ORDER, body, message_id=message_id, timeout=60
            )
        except TimeoutError:
            continue
        answered += reply.get("status") == 201
    stored = await session.mongo[database]["orders"].count_documents({})
    session.report.checks.append(
        f"{contender}: {stored} orders stored for {len(ids)} commands; "
        f"{answered} of {min(REPLAYED, len(ids))} repeated message ids answered"
    )


async def get(session: Session) -> None:
    """orders.get: the worker through two clients, then the raw server with and without
    the database, over the same order views."""
    database = session.fresh_database()
    worker = await session.worker(database)
    try:
        ids = await _seed(session, database)
        await worker.settle()  # the seeding's outbox clears are not the queries' work
        await _get_through_client(session, worker, ids)
        await _get_through_faststream(session, worker, ids)
    finally:
        await _stop(session, worker)
    for contender, kind in ((RAW_DB, "rpc"), (RAW_NO_DB, "rpc-no-db")):
        baseline = await session.baseline(kind, database)
        try:

            async def raw(index: int) -> bool:
                body = json.dumps({"order_id": ids[index % len(ids)]}).encode()
                reply = await session.client.call(
                    "", baseline_rpc.QUEUE, body, expires=True, timeout=session.options.timeout
                )
                return bool(reply.get("status") == 200)

            await _measure_get(session, contender, baseline, raw)
        finally:
            await _stop(session, baseline)


async def _seed(session: Session, database: str) -> list[str]:
    """Orders placed through the worker: their views are what every contender reads."""
    count = session.options.rpc_orders
    await session.place(names.COMMANDS_EXCHANGE, count, session.progress.stage("orders", count))
    views = session.mongo[database]["order_views"]
    return [view["_id"] async for view in views.find({}, {"_id": 1})]


async def _get_through_client(session: Session, worker: Contender, ids: list[str]) -> None:
    async with PizzeriaClient(session.options.amqp_url, timeout=session.options.timeout) as client:

        async def call(index: int) -> bool:
            await client.get_order(ids[index % len(ids)])  # raises unless 200
            return True

        await _measure_get(session, CLIENT, worker, call)


async def _get_through_faststream(session: Session, worker: Contender, ids: list[str]) -> None:
    broker = RabbitBroker(session.options.amqp_url, logger=None)
    await broker.connect()
    queries = RabbitExchange(names.QUERIES_EXCHANGE, declare=False)
    try:

        async def call(index: int) -> bool:
            reply: Any = await broker.request(
                json.dumps({"order_id": ids[index % len(ids)]}).encode(),
                exchange=queries,
                routing_key=names.GET_ORDER,
                content_type="application/json",
                timeout=session.options.timeout,
            )
            return bool(json.loads(reply.body).get("status") == 200)

        await _measure_get(session, FASTSTREAM, worker, call)
    finally:
        await broker.stop()


async def _measure_get(session: Session, contender: str, process: Contender, call: Call) -> None:
    options = session.options
    await drive(call, WARM_UP, options.query_in_flight, lambda: None)
    sequential = await drive(
        call,
        options.sequential,
        1,
        session.progress.stage(f"{GET}: {contender}, one at a time", options.sequential),
    )
    before = await process.counts()
    loaded = await session.measure(
        process,
        call,
        options.queries,
        options.query_in_flight,
        f"{GET}: {contender}, {options.query_in_flight} in flight",
    )
    session.add_row(GET, contender, loaded, before, await process.counts(), sequential)


async def memory(session: Session) -> None:
    """The worker's RSS as queries, then commands, go through one process."""
    options = session.options
    database = session.fresh_database()
    worker = await session.worker(database)
    try:
        ids = await _seed(session, database)

        async def call(index: int) -> bool:
            body = json.dumps({"order_id": ids[index % len(ids)]}).encode()
            reply = await session.client.call(
                names.QUERIES_EXCHANGE, names.GET_ORDER, body, expires=True, timeout=options.timeout
            )
            return bool(reply.get("status") == 200)

        points = {"started": worker.rss_bytes() / MiB}
        done = 0
        for total in sorted(options.rss_queries):
            tick = session.progress.stage(f"memory: {total:,} queries", total - done)
            queried = await drive(call, total - done, options.query_in_flight, tick)
            _failures(session, f"memory: queries up to {total:,}", queried.failures)
            points[f"{total:,} queries"] = worker.rss_bytes() / MiB
            done = total
        tick = session.progress.stage(
            f"memory: +{options.rss_commands:,} commands", options.rss_commands
        )
        placed, _ = await session.place(names.COMMANDS_EXCHANGE, options.rss_commands, tick)
        _failures(session, "memory: commands", placed.failures)
        points[f"then {options.rss_commands:,} commands"] = worker.rss_bytes() / MiB
    finally:
        await _stop(session, worker)
    stages = [points[f"{total:,} queries"] for total in sorted(options.rss_queries)]
    growth = (stages[-1] - stages[0]) / stages[0] * 100 if stages else 0.0
    session.report.memory = Memory({k: round(v, 1) for k, v in points.items()}, round(growth, 1))


SCENARIOS = {"place": place, "get": get, "memory": memory}
