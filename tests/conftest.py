"""Shared fixtures: where the real services are, and a fresh database per module."""

import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from worker.adapters.mongo.database import Document, connect

AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
MONGODB_URL = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/")


@pytest.fixture(scope="session")
def amqp_url() -> str:
    return AMQP_URL


@pytest.fixture(scope="session")
def mongodb_url() -> str:
    return MONGODB_URL


@pytest.fixture(scope="session")
async def mongo_client() -> AsyncIterator[AsyncMongoClient[Document]]:
    client = connect(MONGODB_URL, serverSelectionTimeoutMS=5000)
    yield client
    await client.close()


@pytest.fixture(scope="module")
async def database(
    mongo_client: AsyncMongoClient[Document],
) -> AsyncIterator[AsyncDatabase[Document]]:
    """A database of its own for each test module, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield mongo_client[name]
    await mongo_client.drop_database(name)


def rabbitmqctl(*args: str) -> str:
    done = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, check=True)
    return done.stdout


@contextlib.contextmanager
def fresh_vhost(amqp_url: str, prefix: str) -> Iterator[str]:
    """The URL of a virtual host of its own on the local RabbitMQ, deleted after: a
    queue keeps the arguments it was first declared with."""
    parts = urlsplit(amqp_url)
    if shutil.which("rabbitmqctl") is None or parts.hostname not in ("127.0.0.1", "localhost"):
        pytest.skip("needs the local RabbitMQ and rabbitmqctl")
    vhost = f"{prefix}-{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, parts.username or "guest", ".*", ".*", ".*")
    try:
        yield urlunsplit(parts._replace(path=f"/{vhost}"))
    finally:
        rabbitmqctl("delete_vhost", vhost)
