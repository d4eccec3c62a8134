"""One benchmark run: its options, the shared client and database, the contenders it starts."""

import contextlib
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import aio_pika
from aio_pika.exceptions import ChannelClosed
from pymongo import AsyncMongoClient

from pizzeria_contracts import names
from worker.progress import Progress

from .load import Call, RawClient, Timing, drive
from .processes import BaselineProcess, Contender, ContenderError, WorkerProcess
from .results import Report, Row

PIZZAS = ("margherita", "pepperoni", "supreme", "quattro formaggi", "vegetariana")
Counts = Mapping[str, Mapping[str, float]]


@dataclasses.dataclass(frozen=True)
class Options:
    amqp_url: str
    mongodb_url: str
    commands: int = 2_000
    queries: int = 2_000
    sequential: int = 500
    command_in_flight: int = 100
    query_in_flight: int = 50
    phones: int = 50
    rpc_orders: int = 50
    rss_queries: tuple[int, ...] = (10_000, 50_000)
    rss_commands: int = 10_000
    prefetch: int = 100
    scenarios: tuple[str, ...] = ("place", "get", "memory")
    worker_log_level: str = "INFO"
    timeout: float = 30.0

    def public(self) -> dict[str, Any]:
        """Everything but the URLs, which may hold passwords."""
        shown = dataclasses.asdict(self)
        del shown["amqp_url"], shown["mongodb_url"]
        return shown


def order_body(index: int, phones: int) -> bytes:
    """An order of two pizzas by one of `phones` returning customers."""
    customer = index % phones
    return json.dumps(
        {
            "customer_name": f"Customer {customer}",
            "customer_phone": f"+39 333 {customer:07d}",
            "customer_address": f"Via Toledo {customer}, Napoli",
            "pizzas": [
                {"name": "margherita", "size": "large", "toppings": ["basil", "olives"]},
                {"name": PIZZAS[index % len(PIZZAS)], "size": "medium"},
            ],
            "payment_method": "card",
        }
    ).encode()


def difference(after: Counts, before: Counts, key: str) -> dict[str, float]:
    return {
        name: value - before.get(key, {}).get(name, 0.0)
        for name, value in after.get(key, {}).items()
        if value - before.get(key, {}).get(name, 0.0)
    }


class Session:
    def __init__(self, options: Options, progress: Progress, workdir: Path) -> None:
        self.options = options
        self.progress = progress
        self.workdir = workdir
        self.report = Report(options.public())
        self.mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            options.mongodb_url, tz_aware=True, serverSelectionTimeoutMS=5000
        )
        self._client: RawClient | None = None
        self._databases: list[str] = []

    @property
    def client(self) -> RawClient:
        assert self._client is not None, "inside `async with session.open()` only"
        return self._client

    @contextlib.asynccontextmanager
    async def open(self) -> AsyncIterator["Session"]:
        self._client = await RawClient.connect(self.options.amqp_url)
        try:
            yield self
        finally:
            await self._client.close()
            for database in self._databases:
                await self.mongo.drop_database(database)
            await self.mongo.close()

    def fresh_database(self) -> str:
        name = f"bench_{uuid.uuid4().hex[:10]}"
        self._databases.append(name)
        return name

    async def worker(self, database: str) -> WorkerProcess:
        await self._claim_worker_queues()
        self.progress.note(f"starting the worker on database {database}")
        env = {"AMQP_URL": self.options.amqp_url, "MONGODB_URL": self.options.mongodb_url}
        env["PIZZERIA_PREFETCH"] = str(self.options.prefetch)
        # It reads where its read models live, and which deadlines are due, once a second;
        # the bench tells the work a run left for later by a pause of its database
        # commands, which those reads would never let come. No rebuild runs here, and no
        # deadline falls due within a bench (the first after 15 minutes), so reading
        # them rarely changes nothing.
        env["PIZZERIA_READ_MODEL_REFRESH_SECONDS"] = "60"
        env["PIZZERIA_DEADLINE_POLL_SECONDS"] = "60"
        return await WorkerProcess.start(self.workdir, env, database, self.options.worker_log_level)

    async def baseline(self, kind: str, database: str) -> BaselineProcess:
        self.progress.note(f"starting the baseline ({kind}) on database {database}")
        return await BaselineProcess.start(
            self.workdir,
            kind,
            self.options.amqp_url,
            self.options.mongodb_url,
            database,
            self.options.prefetch,
        )

    async def _claim_worker_queues(self) -> None:
        """No other consumer may share the worker's queues, and nothing old may wait there."""
        connection = await aio_pika.connect(self.options.amqp_url)
        async with connection:
            for queue_name in (names.COMMANDS_QUEUE, names.QUERIES_QUEUE):
                channel = await connection.channel()
                try:
                    queue = await channel.declare_queue(queue_name, passive=True)
                except ChannelClosed:
                    continue  # not declared yet: the worker will
                consumers = queue.declaration_result.consumer_count
                if consumers:
                    raise ContenderError(
                        f"{queue_name} already has {consumers} consumer(s) on this virtual host: "
                        "stop that worker, or give the bench a virtual host of its own"
                    )
                await queue.purge()
                await channel.close()

    async def place(
        self, exchange: str, count: int, tick: Callable[[], None]
    ) -> tuple[Timing, list[str]]:
        """Place `count` orders, `command_in_flight` at a time; the timing and message ids."""
        ids = [uuid.uuid4().hex for _ in range(count)]

        async def call(index: int) -> bool:
            reply = await self.client.call(
                exchange,
                names.PLACE_ORDER,
                order_body(index, self.options.phones),
                message_id=ids[index],
                timeout=self.options.timeout,
            )
            return bool(reply.get("status") == 201)

        return await drive(call, count, self.options.command_in_flight, tick), ids

    async def measure(
        self, contender: Contender, call: Call, count: int, in_flight: int, stage: str
    ) -> tuple[Timing, float]:
        """The timing of `count` calls and the contender's CPU seconds over them."""
        tick = self.progress.stage(stage, count)
        cpu = contender.cpu_seconds()
        timing = await drive(call, count, in_flight, tick)
        return timing, contender.cpu_seconds() - cpu

    def add_row(
        self,
        scenario: str,
        contender: str,
        loaded: tuple[Timing, float],
        before: Counts,
        after: Counts,
        sequential: Timing | None = None,
    ) -> Row:
        timing, cpu = loaded
        calls = max(timing.calls, 1)
        commands = difference(after, before, "database_commands")
        publishes = difference(after, before, "publishes")
        row = Row(
            scenario=scenario,
            contender=contender,
            messages=timing.calls,
            seconds=round(timing.seconds, 3),
            throughput=round(timing.throughput, 1),
            p50_ms=round(timing.percentile_ms(0.5), 3),
            p99_ms=round(timing.percentile_ms(0.99), 3),
            cpu_ms_per_message=round(cpu * 1000 / calls, 3),
            database_commands_per_message=round(sum(commands.values()) / calls, 3),
            publishes_per_message=round(sum(publishes.values()) / calls, 3),
            failures=timing.failures,
            database_commands={k: round(v / calls, 3) for k, v in sorted(commands.items())},
        )
        if sequential is not None:
            row.sequential_p50_ms = round(sequential.percentile_ms(0.5), 3)
            row.sequential_p99_ms = round(sequential.percentile_ms(0.99), 3)
            row.sequential_throughput = round(sequential.throughput, 1)
        self.report.rows.append(row)
        return row
