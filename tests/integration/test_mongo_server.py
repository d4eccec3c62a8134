"""The project's MongoDB-protocol server (tools/mongo-java-server) and its snapshot file.

Each test starts the launcher itself on a free loopback port with a snapshot file in
tmp_path, so it needs Java and Maven (it builds the launcher into .cache/ when the jar is
missing or older than its sources, as scripts/lib.sh does), but neither RabbitMQ nor the
shared database.
"""

import asyncio
import contextlib
import dataclasses
import datetime
import shutil
import signal
import socket
import subprocess
import time
import uuid
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import bson
import pytest
from bson import Decimal128, Int64, ObjectId
from pymongo import AsyncMongoClient, IndexModel
from pymongo.errors import DuplicateKeyError

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
SOURCES = REPO_ROOT / "tools" / "mongo-java-server"
BUILD = REPO_ROOT / ".cache" / "mongo-java-server"
JAR = BUILD / "pizzeria-mongo.jar"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
# The JVM's exit status after SIGTERM once its shutdown hook has finished: 128 + 15.
STOPPED_BY_SIGTERM = 143

Doc = dict[str, Any]


@pytest.fixture(scope="module")
def launcher() -> list[str]:
    """The command that runs the launcher, built first by scripts/lib.sh if need be."""
    java = shutil.which("java")
    if java is None:
        pytest.skip("java is not installed (scripts/lib.sh ensure_java installs it)")
    build = subprocess.run(
        ["bash", "-c", "source scripts/lib.sh && build_mongo"],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if build.returncode != 0:
        pytest.fail(f"building {SOURCES} failed:\n{(build.stdout + build.stderr)[-3000:]}")
    return [java, "-Xmx256m", "-cp", f"{JAR}:{BUILD}/lib/*", "pizzeria.mongo.Main"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def port_open(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


@dataclasses.dataclass
class Server:
    process: asyncio.subprocess.Process
    port: int
    log: Path

    def output(self) -> str:
        return self.log.read_text()

    def client(self) -> AsyncMongoClient[Doc]:
        return AsyncMongoClient(
            f"mongodb://127.0.0.1:{self.port}/",
            serverSelectionTimeoutMS=5000,
            uuidRepresentation="standard",
        )

    async def stop(self) -> int:
        """SIGTERM, as scripts/stop sends it; the exit status."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT)


async def launch(launcher: list[str], snapshot: Path, *options: str) -> Server:
    """The launcher, running; its stderr goes to a file next to the snapshot's directory."""
    port = free_port()
    log = snapshot.parent.parent / f"server-{uuid.uuid4().hex[:8]}.log"
    if "--snapshot-seconds" not in options:  # none but the final one, unless asked for
        options = (*options, "--snapshot-seconds", "86400")
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            *launcher,
            *("--host", "127.0.0.1", "--port", str(port), "--snapshot", str(snapshot)),
            *options,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=stderr,
            stderr=stderr,
        )
    return Server(process, port, log)


@contextlib.asynccontextmanager
async def running(launcher: list[str], snapshot: Path, *options: str) -> AsyncIterator[Server]:
    """A launcher that answers on its port; killed if the test leaves it running."""
    server = await launch(launcher, snapshot, *options)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        # The port opens a moment before the start-up line is printed: wait for both.
        while not (await port_open(server.port) and "listening on" in server.output()):
            if server.process.returncode is not None or time.monotonic() > deadline:
                raise AssertionError(f"the server did not start:\n{server.output()}")
            await asyncio.sleep(0.1)
        yield server
    finally:
        if server.process.returncode is None:
            server.process.kill()
            await server.process.wait()


async def contents(client: AsyncMongoClient[Doc]) -> Doc:
    """Every user database, collection, document (by _id) and index the server holds."""
    found: Doc = {}
    for name in await client.list_database_names():
        if name in ("admin", "local", "config"):
            continue
        database = client[name]
        for collection_name in await database.list_collection_names():
            collection = database[collection_name]
            found[f"{name}.{collection_name}"] = {
                "documents": await collection.find().sort("_id").to_list(),
                "indexes": await collection.index_information(),
            }
    return found


def order(number: int) -> Doc:
    """An order-shaped document of many BSON types."""
    return {
        "_id": f"order-{number:04d}",
        "version": 1,
        "placed": datetime.datetime(2024, 5, 1, 12, 0, number % 60, 123000),
        "total": Decimal128(f"{number}.50"),
        "customer": {"phone": f"+39{number:010d}", "ref": ObjectId()},
        "items": [{"pizza": "margherita", "toppings": ["basil", "olives"]}, {"pizza": "supreme"}],
        "note": None,
        "sequence": Int64(2**40 + number),
        "ratio": number / 7,
        "paid": number % 2 == 0,
        "receipt": uuid.uuid4(),
        "blob": bytes(range(number % 50)),
    }


async def test_a_restart_keeps_databases_documents_and_unique_indexes(
    launcher: list[str], tmp_path: Path
) -> None:
    snapshot = tmp_path / "data" / "snapshot.bson"  # its directory does not exist yet
    async with running(launcher, snapshot) as server:
        assert "none yet, starting empty" in server.output()
        client = server.client()
        shop, kitchen = client["shop"], client["kitchen"]
        await shop.customers.create_indexes(
            [IndexModel("phone", unique=True), IndexModel("name")]  # "name" is ignored
        )
        await shop.customers.insert_many(
            [{"_id": f"c{i}", "phone": f"+39 555 010{i}", "name": f"Ann {i}"} for i in range(3)]
        )
        await shop.orders.insert_many([order(n) for n in range(500)])
        # A version-filtered update, the worker's own kind of write, and a delete.
        updated = await shop.orders.find_one_and_update(
            {"_id": "order-0007", "version": 1},
            {"$set": {"status": "cooking"}, "$inc": {"version": 1}},
        )
        assert updated is not None
        await shop.orders.delete_one({"_id": "order-0009"})
        await kitchen.tickets.insert_one({"_id": ObjectId(), "order": "order-0007"})
        await kitchen.create_collection("empty")
        await kitchen.empty.create_index([("code", 1)], unique=True, name="unique_code")
        await shop.scratch.insert_one({"_id": 1})
        await shop.scratch.drop()
        before = await contents(client)
        await client.close()
        assert await server.stop() == STOPPED_BY_SIGTERM
        assert "snapshot of 503 documents in 4 collections written" in server.output()

    assert sorted(before) == ["kitchen.empty", "kitchen.tickets", "shop.customers", "shop.orders"]
    assert len(before["shop.orders"]["documents"]) == 499

    async with running(launcher, snapshot) as server:
        assert "restored 503 documents in 4 collections" in server.output()
        client = server.client()
        after = await contents(client)
        assert after == before
        with pytest.raises(DuplicateKeyError):
            await client["shop"].customers.insert_one({"_id": "c9", "phone": "+39 555 0101"})
        await client["kitchen"].empty.insert_one({"code": "A"})
        with pytest.raises(DuplicateKeyError):
            await client["kitchen"].empty.insert_one({"code": "A"})
        await client.close()
        assert await server.stop() == STOPPED_BY_SIGTERM
    assert not list(snapshot.parent.glob("*.tmp")), "the temporary file was left behind"


async def test_no_snapshot_is_written_while_nothing_is_written(
    launcher: list[str], tmp_path: Path
) -> None:
    snapshot = tmp_path / "data" / "snapshot.bson"
    period = 1.0
    async with running(launcher, snapshot, "--snapshot-seconds", "1") as server:
        client = server.client()

        async def read_for(seconds: float) -> None:
            """Reads of every kind, for `seconds` (several snapshot periods)."""
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                await client.admin.command("ping")
                await client["shop"].orders.find_one({"_id": "x"})
                await client["shop"].orders.count_documents({})
                await client["shop"].list_collection_names()
                await (await client["shop"].orders.aggregate([{"$match": {}}])).to_list()
                await asyncio.sleep(0.1)

        await read_for(2.5 * period)
        assert not snapshot.exists(), "a snapshot was written though nothing was"

        # The other side, so the test can tell: one write, and a snapshot follows.
        await client["shop"].orders.insert_one({"_id": "o1"})
        deadline = time.monotonic() + 5 * period
        while not snapshot.exists():
            assert time.monotonic() < deadline, "no snapshot followed a write"
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.2)  # let the writer finish its rename
        written = snapshot.stat().st_mtime_ns

        await read_for(2.5 * period)
        assert snapshot.stat().st_mtime_ns == written, "rewritten though nothing was written"
        await client.close()
        assert await server.stop() == STOPPED_BY_SIGTERM
    assert snapshot.stat().st_mtime_ns == written
    assert "nothing written since the last snapshot" in server.output()


def snapshot_bytes(documents: list[Doc]) -> bytes:
    """A snapshot of shop.orders written here, in the file format the launcher documents."""
    header = bson.encode(
        {"pizzeria-mongo-snapshot": 1, "written": datetime.datetime.now(datetime.UTC)}
    )
    collection = bson.encode(
        {
            "database": "shop",
            "collection": "orders",
            "indexes": [{"key": {"phone": 1}, "name": "phone_1", "unique": True, "v": 2}],
            "documents": len(documents),
        }
    )
    body = header + collection + b"".join(bson.encode(document) for document in documents)
    end = bson.encode(
        {
            "end": True,
            "collections": 1,
            "documents": len(documents),
            "crc32": Int64(zlib.crc32(body)),
        }
    )
    return body + end


GOOD = snapshot_bytes([{"_id": "o1", "phone": "+39 1"}, {"_id": "o2", "phone": "+39 2"}])


def flipped(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


async def test_a_snapshot_in_the_documented_format_is_restored(
    launcher: list[str], tmp_path: Path
) -> None:
    """The control for the corrupt cases below: the same file, intact, starts fine."""
    snapshot = tmp_path / "data" / "snapshot.bson"
    snapshot.parent.mkdir()
    snapshot.write_bytes(GOOD)
    async with running(launcher, snapshot) as server:
        assert "restored 2 documents in 1 collections" in server.output()
        client = server.client()
        orders = client["shop"].orders
        assert await orders.find().sort("_id").to_list() == [
            {"_id": "o1", "phone": "+39 1"},
            {"_id": "o2", "phone": "+39 2"},
        ]
        with pytest.raises(DuplicateKeyError):
            await orders.insert_one({"_id": "o3", "phone": "+39 1"})
        await client.close()
        assert await server.stop() == STOPPED_BY_SIGTERM


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(b"", "not a pizzeria-mongo snapshot", id="empty"),
        pytest.param(b"this is not BSON at all", "not BSON", id="garbage"),
        pytest.param(GOOD[: len(GOOD) - 30], "truncated", id="truncated"),
        pytest.param(flipped(GOOD, GOOD.index(b"+39 2") + 4), "checksum mismatch", id="altered"),
        pytest.param(
            snapshot_bytes([{"_id": "o1", "phone": "+39 1"}, {"_id": "o1", "phone": "+39 2"}]),
            "duplicate key",
            id="duplicate-id",
        ),
    ],
)
async def test_a_snapshot_that_cannot_be_restored_stops_start_up(
    launcher: list[str], tmp_path: Path, data: bytes, reason: str
) -> None:
    snapshot = tmp_path / "data" / "snapshot.bson"
    snapshot.parent.mkdir()
    snapshot.write_bytes(data)
    server = await launch(launcher, snapshot)
    try:
        code = await asyncio.wait_for(server.process.wait(), START_TIMEOUT)
    finally:
        if server.process.returncode is None:
            server.process.kill()
            await server.process.wait()
    output = server.output()
    assert code == 1, output
    assert f"cannot restore the snapshot {snapshot}" in output
    assert reason in output
    assert "listening" not in output
    assert snapshot.read_bytes() == data, "the snapshot was touched"


async def test_a_port_in_use_stops_start_up(launcher: list[str], tmp_path: Path) -> None:
    """Exit 1 and say so, rather than live on without listening (as the library would)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = await asyncio.create_subprocess_exec(
            *launcher,
            *("--port", str(port), "--snapshot", str(tmp_path / "snapshot.bson")),
            stdin=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            _, stderr = await asyncio.wait_for(process.communicate(), START_TIMEOUT)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert process.returncode == 1, stderr.decode()
    assert f"cannot listen on 127.0.0.1:{port}" in stderr.decode()
