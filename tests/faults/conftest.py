"""Fault-injection fixtures: a worker we may kill, copies of what it publishes, the local
RabbitMQ and database to stop, and a reporter whose lines reach the terminal even when
pytest captures output.

These tests stop the RabbitMQ and database that others share: run them holding
the broker lock, e.g.
`flock /tmp/pizzeria-broker.lock .venv/bin/pytest tests/faults -q`.
"""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from worker.adapters.mongo.database import Document

from .capture import Capture
from .harness import LEDGERS, WORKER_SETTINGS, MakeCapture, Reporter, StartWorker
from .scenario import Scenarios
from .services import (
    RABBITMQ_PORT,
    LocalDatabase,
    RabbitMQ,
    is_local,
    is_loopback,
    rabbitmqctl,
)
from .worker import WorkerSupervisor


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "faults: kills the worker and restarts RabbitMQ or the database under load"
    )
    config.stash[LEDGERS] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The relay reproduction last: on a worker with that bug it leaves the database's
    connections hung (FerretDB's were), which slows down whatever runs after it."""
    items.sort(key=lambda item: item.path.name == "test_relay_bulk_writes.py")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    ledgers = terminalreporter.config.stash.get(LEDGERS, [])
    if ledgers:
        terminalreporter.section("fault-injection ledgers")
        for ledger in ledgers:
            for line in ledger.lines():
                terminalreporter.write_line(line)


@pytest.fixture(autouse=True)
def loopback_only(amqp_url: str, mongodb_url: str) -> None:
    """Faults are injected into local services only, never into a remote one. The
    database may listen on any local port: only the tests that restart it need the one
    the project's scripts manage (see the `local_database` fixture)."""
    if not (is_loopback(amqp_url, RABBITMQ_PORT) and is_local(mongodb_url)):
        pytest.skip("fault injection needs RabbitMQ and the database on 127.0.0.1")


@pytest.fixture(scope="session")
def report(pytestconfig: pytest.Config) -> Reporter:
    return Reporter(pytestconfig)


@pytest.fixture
async def start_worker(
    amqp_url: str,
    mongodb_url: str,
    database: AsyncDatabase[Document],
    tmp_path: Path,
    report: Reporter,
) -> AsyncIterator[StartWorker]:
    """Start the worker on the module's database; it is stopped after, its log kept."""
    started: list[WorkerSupervisor] = []

    async def start(settings: dict[str, str]) -> WorkerSupervisor:
        supervisor = WorkerSupervisor(
            amqp_url, mongodb_url, database.name, {**WORKER_SETTINGS, **settings}
        )
        started.append(supervisor)
        await supervisor.start()
        return supervisor

    yield start
    for number, supervisor in enumerate(started, 1):
        await supervisor.stop()
        log_file = tmp_path / f"worker-{number}.log"
        log_file.write_text(supervisor.log)
        report.say(f"worker log: {log_file}")


@pytest.fixture
async def capture(amqp_url: str) -> AsyncIterator[MakeCapture]:
    """Durable copies of an exchange's messages, deleted after the test."""
    made: list[Capture] = []

    async def make(exchange: str, binding_key: str) -> Capture:
        capture = await Capture(amqp_url, exchange, binding_key).declare()
        made.append(capture)
        return capture

    yield make
    for capture in made:
        await capture.delete()


@pytest.fixture
def rabbitmq() -> RabbitMQ:
    ctl = rabbitmqctl()
    if ctl is None:
        pytest.skip("needs rabbitmqctl to stop and start the local RabbitMQ")
    return RabbitMQ(ctl)


@pytest.fixture
def local_database() -> LocalDatabase:
    found = LocalDatabase.find()
    if found is None:
        pytest.skip(
            "needs the mongo-java-server of scripts/lib.sh on 127.0.0.1:27017, to restart it"
        )
    return found


@pytest.fixture
def scenarios(
    amqp_url: str,
    database: AsyncDatabase[Document],
    start_worker: StartWorker,
    capture: MakeCapture,
    report: Reporter,
) -> Scenarios:
    return Scenarios(amqp_url, database, start_worker, capture, report)
