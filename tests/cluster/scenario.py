"""Workers on the cluster, a load of ordered commands while a fault strikes, its ledger."""

import asyncio
import dataclasses
import os
import random
import time
from pathlib import Path
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from tests.e2e.amqp import EVENTS
from tests.faults.capture import Capture
from tests.faults.harness import WORKER_SETTINGS, Reporter
from tests.faults.ledger import Ledger, wait_for_outboxes
from tests.faults.plans import Plan
from tests.faults.scenario import Fault, Underway
from tests.faults.worker import WorkerSupervisor
from worker.adapters.mongo.database import Document

from .cluster import VirtualHost, local_ports
from .ledger import sequence_ledger
from .orders import ORDERS, SHARDS, ClusterClient, plan_sequences, run_orders

HEARTBEAT = 2
CLUSTER_SETTINGS = {
    **WORKER_SETTINGS,
    "PIZZERIA_QUEUE_TYPE": "quorum",
    "PIZZERIA_COMMAND_SHARDS": str(SHARDS),
    "PIZZERIA_AMQP_HEARTBEAT_SECONDS": str(HEARTBEAT),
}
WORKERS = 3
LOAD_TIMEOUT = 300.0
ENTRY = "pizzeria.worker.commands"
SHARD_QUEUES = [f"{ENTRY}.shard-{shard}" for shard in range(SHARDS)]
IN_FLIGHT = 30
"""Orders under way at once: up to 270 commands of theirs waiting in the queues."""
RESEND_AFTER = 60.0
OUTBOX_TIMEOUT = 20.0
"""How long to wait for every outbox to empty before counting; the events are what
count, and a SIGKILLed worker's outboxes may wait for their order's next change."""
FAULT_TIMEOUT = 120.0
PROGRESS_EVERY = 5.0


@dataclasses.dataclass
class ClusterScenario:
    """The workers of one test, on its own virtual host and database."""

    vhost: VirtualHost
    database: AsyncDatabase[Document]
    mongodb_url: str
    report: Reporter
    logs: Path
    workers: list[WorkerSupervisor] = dataclasses.field(default_factory=list)
    proxied: int | None = None
    """The worker whose connection goes through a proxy in this process, if one does."""
    _codes: list[int | None] | None = None

    def load(self, name: str) -> list[Plan]:
        """ORDERS orders of ten commands, from a seed the report shows."""
        seed = random.randrange(2**32)
        self.report.say(f"\n[{name}] seed {seed}: {ORDERS} orders x 10 commands, {WORKERS} workers")
        return plan_sequences(ORDERS, random.Random(seed))

    async def start_workers(self, first: int = 1) -> None:
        """Workers `first` to WORKERS, worker N listing node N first."""
        for number in range(first, WORKERS + 1):
            await self.start_worker(self.vhost.rotated(number))

    async def start_worker(self, amqp_url: str, **settings: str) -> WorkerSupervisor:
        """A worker on this URL (several hosts, one node, or a proxy)."""
        worker = WorkerSupervisor(
            amqp_url, self.mongodb_url, self.database.name, {**CLUSTER_SETTINGS, **settings}
        )
        self.workers.append(worker)
        await worker.start()
        return worker

    async def stop_all(self) -> list[int | None]:
        """SIGTERM to every worker still up; their logs kept in `logs`. Once."""
        if self._codes is not None:
            return self._codes
        self._codes = codes = [await worker.stop() for worker in self.workers if not worker.down]
        for number, worker in enumerate(self.workers, 1):
            log_file = self.logs / f"worker-{number}.log"
            log_file.write_text(worker.log)
            self.report.say(f"worker log: {log_file}")
        return codes

    async def active_on(self) -> dict[str, int | None]:
        """Each queue's active consumer: the index of its worker in `workers` (None: not
        one of them)."""
        active = await self.vhost.active_consumers()
        ports = {
            number: local_ports(os.getpid() if number == self.proxied else worker.pid)
            for number, worker in enumerate(self.workers)
            if not worker.down
        }
        return {
            queue: next((number for number, held in ports.items() if port in held), None)
            for queue, port in active.items()
        }

    async def run(
        self,
        name: str,
        plans: list[Plan],
        fault: Fault,
        *,
        client_nodes: list[int],
        capture_node: int,
        timeout: float,
    ) -> tuple[Ledger, ClusterClient]:
        """The plans, IN_FLIGHT orders at a time, from a client on `client_nodes` (the
        next one when its node fails), while `fault` strikes; events captured in a queue
        and replies in queues on `capture_node`, which the fault must leave up."""
        events = await Capture(self.vhost.url_of(capture_node), EVENTS, "orders.#").declare()
        urls = [self.vhost.url_of(node) for node in client_nodes]
        replies = await self.vhost.declare_quorum_queue(
            capture_node, f"cluster.replies.{name.replace(' ', '-')}"
        )
        client = ClusterClient(urls, resend_after=RESEND_AFTER, reply_queue=replies)
        await client.start()
        total = sum(len(plan.steps) for plan in plans)
        try:
            began = time.monotonic()
            load = asyncio.create_task(run_orders(client, plans, IN_FLIGHT))
            striking = asyncio.create_task(fault(Underway(self.workers, client, load, total)))
            finished = await self._until_done(name, client, load, striking, total, timeout)
            wall = time.monotonic() - began
            await asyncio.wait_for(striking, FAULT_TIMEOUT)
            waiting = await wait_for_outboxes(self.database, OUTBOX_TIMEOUT)
            codes = await self.stop_all()
            ledger = await sequence_ledger(
                name, self.database, plans, client, await events.drain(), wall
            )
        finally:
            await client.close()
            await events.delete()
        ledger.details.update(self._details(finished, waiting, codes, ledger, wall))
        return ledger, client

    def _details(
        self, finished: bool, waiting: int, codes: list[int | None], ledger: Ledger, wall: float
    ) -> dict[str, Any]:
        return {
            "load ended in time": finished,
            "commands answered per second": round(ledger.replies / wall, 1),
            f"orders whose outbox did not empty within {OUTBOX_TIMEOUT:.0f} s": waiting,
            "exit code on SIGTERM at the end": next((c for c in codes if c != 0), 0),
            "tracebacks in the workers' logs": sum(w.log.count("Traceback") for w in self.workers),
        }

    async def _until_done(
        self,
        name: str,
        client: ClusterClient,
        load: "asyncio.Task[None]",
        striking: "asyncio.Task[None]",
        total: int,
        timeout: float,
    ) -> bool:
        """Whether the load ended within `timeout`; it is cancelled if not. A fault that
        fails ends the wait (its error is raised by the caller)."""
        deadline = time.monotonic() + timeout
        began = time.monotonic()
        while not load.done() and time.monotonic() < deadline:
            if striking.done() and striking.exception() is not None:
                break
            watched = [load] if striking.done() else [load, striking]
            await asyncio.wait(watched, timeout=PROGRESS_EVERY, return_when=asyncio.FIRST_COMPLETED)
            self.report.say(
                f"[{name}] sent {len(client.commands)}/{total}, answered {client.answered}, "
                f"re-sent {client.resends}, reconnects {client.reconnects}, "
                f"{time.monotonic() - began:.0f} s"
            )
        if not load.done():
            load.cancel()
            await asyncio.gather(load, return_exceptions=True)
            return False
        load.result()
        return True
