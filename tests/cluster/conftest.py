"""The cluster fault tests' fixtures: the three-node cluster of `scripts/cluster`, up for
the session and down after, a virtual host and a database per test, and the workers
that a test starts on them.

Marked `cluster` and left out of the ordinary run: `scripts/test` runs them in a step
of their own, or by hand

    scripts/cluster up
    PIZZERIA_CLUSTER_KEEP=1 .venv/bin/pytest -m cluster tests/cluster
    scripts/cluster down

(PIZZERIA_CLUSTER_KEEP=1 leaves the cluster up after the session, for the next run.)
These tests never touch the default RabbitMQ on 5672 or anything else others share
but the database server, on databases of their own.
"""

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

from tests.faults.harness import LEDGERS, Reporter
from worker.adapters.mongo.database import Document

from .cluster import VirtualHost, cluster
from .scenario import ClusterScenario

KEEP = "PIZZERIA_CLUSTER_KEEP"


def pytest_configure(config: pytest.Config) -> None:
    config.stash.setdefault(LEDGERS, [])


@pytest.fixture(scope="session")
async def running_cluster() -> AsyncIterator[None]:
    """`scripts/cluster up` (a cluster already up is kept), and `down` after the session
    unless PIZZERIA_CLUSTER_KEEP=1."""
    await cluster("up", timeout=300)
    yield
    if os.environ.get(KEEP) != "1":
        await cluster("down", timeout=120)


@pytest.fixture(scope="session")
def report(pytestconfig: pytest.Config) -> Reporter:
    return Reporter(pytestconfig)


@pytest.fixture
async def vhost(running_cluster: None) -> AsyncIterator[VirtualHost]:
    created = await VirtualHost.create()
    yield created
    await created.delete()


@pytest.fixture
async def scenario(
    vhost: VirtualHost,
    mongo_client: AsyncMongoClient[Document],
    mongodb_url: str,
    report: Reporter,
    tmp_path: Path,
) -> AsyncIterator[ClusterScenario]:
    """The test's workers, on its own virtual host and database; stopped after, and the
    database dropped."""
    name = f"cluster_{uuid.uuid4().hex[:12]}"
    made = ClusterScenario(vhost, mongo_client[name], mongodb_url, report, tmp_path)
    try:
        yield made
    finally:
        await made.stop_all()
        await mongo_client.drop_database(name)
