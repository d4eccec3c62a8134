"""The three-node cluster of `scripts/cluster`, driven from a test: its URLs, a virtual
host per test, which node leads a queue, which connection consumes what, and a node's
kill -9 and restart."""

import contextlib
import dataclasses
import re
import uuid
from datetime import datetime
from urllib.parse import quote

import aio_pika
import psutil

from tests.e2e.conftest import REPO_ROOT
from tests.faults.services import run

SCRIPT = str(REPO_ROOT / "scripts" / "cluster")
NODES = (1, 2, 3)
CTL_TIMEOUT = 60.0


def port(node: int) -> int:
    return 5680 + node


def node_of(name: str) -> int:
    """`pizzeria-2@localhost` -> 2."""
    found = re.fullmatch(r"pizzeria-(\d)@localhost", name.strip())
    if found is None:
        raise ValueError(f"not a node of scripts/cluster: {name!r}")
    return int(found[1])


async def cluster(*args: str, timeout: float = 240) -> str:
    return await run(SCRIPT, *args, timeout=timeout)


@dataclasses.dataclass(frozen=True)
class VirtualHost:
    """A virtual host of its own, so that every test starts on a fresh topology (the
    entry queue's `x-single-active-consumer` cannot be added to a queue that exists)."""

    name: str

    @classmethod
    async def create(cls) -> "VirtualHost":
        vhost = cls(f"cluster-{uuid.uuid4().hex[:10]}")
        await ctl(1, "add_vhost", vhost.name)
        await ctl(1, "set_permissions", "-p", vhost.name, "guest", ".*", ".*", ".*")
        return vhost

    async def delete(self) -> None:
        await ctl(1, "delete_vhost", self.name)

    def url(self, *nodes: int) -> str:
        """An AMQP URL that lists these nodes (all three by default), in this order."""
        hosts = ",".join(f"127.0.0.1:{port(node)}" for node in nodes or NODES)
        return f"amqp://guest:guest@{hosts}/{quote(self.name, safe='')}"

    def url_of(self, node: int, *, through: int | None = None) -> str:
        """A URL of one node only, or of a proxy (`through`, a local port) in front of it."""
        return f"amqp://guest:guest@127.0.0.1:{through or port(node)}/{quote(self.name, safe='')}"

    def rotated(self, first: int) -> str:
        """All three nodes, starting with `first`: a worker's URL, so that the workers
        spread over the nodes."""
        return self.url(*(NODES[(first - 1 + i) % len(NODES)] for i in range(len(NODES))))

    async def declare_quorum_queue(self, node: int, name: str) -> str:
        """A quorum queue led by this node (the one its declaration goes through)."""
        async with await aio_pika.connect(self.url_of(node), timeout=10) as connection:
            channel = await connection.channel()
            await channel.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
        return name

    async def leaders(self) -> dict[str, int]:
        """Each queue's leader (its node number); a queue without one is left out."""
        table = await ctl(1, "list_queues", "-p", self.name, "name", "leader", "-s")
        leaders = {}
        for line in table.splitlines():
            name, _, leader = line.strip().partition("\t")
            if leader.strip().startswith("pizzeria-"):
                leaders[name] = node_of(leader)
        return leaders

    async def active_consumers(self) -> dict[str, int]:
        """Each queue's active consumer (the one that receives, the others standing by
        under `x-single-active-consumer`), as the local port of its connection."""
        consumers = await ctl(
            1, "list_consumers", "-p", self.name, "queue_name", "channel_pid", "active", "-s"
        )
        channels = await ctl(1, "list_channels", "pid", "connection", "-s")
        connections = await ctl(1, "list_connections", "pid", "peer_port", "vhost", "-s")
        connection_of = dict(_rows(channels, 2))
        port_of = {
            pid: int(peer_port)
            for pid, peer_port, vhost in _rows(connections, 3)
            if vhost == self.name
        }
        active = {}
        for queue, channel, is_active in _rows(consumers, 3):
            if not queue.startswith("pizzeria."):
                continue  # the test's own (its replies)
            peer = port_of.get(connection_of.get(channel, ""))
            if is_active == "true" and peer is not None:
                active[queue] = peer
        return active


def missed_heartbeats_since(since: float) -> list[float]:
    """When (time.time()) any node closed a connection for missed heartbeats, at `since`
    or later, from the nodes' logs."""
    found = []
    for log in sorted((REPO_ROOT / ".data" / "cluster").glob("node*/log/*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if "missed heartbeats from client" not in line:
                continue
            with contextlib.suppress(ValueError):
                at = datetime.fromisoformat(" ".join(line.split(" ", 2)[:2])).timestamp()
                if at >= since:
                    found.append(at)
    return sorted(found)


def _rows(table: str, columns: int) -> list[list[str]]:
    rows = [line.split("\t") for line in table.splitlines()]
    return [[cell.strip() for cell in row] for row in rows if len(row) == columns]


async def ctl(node: int, *args: str) -> str:
    return await cluster("ctl", str(node), "-q", *args, timeout=CTL_TIMEOUT)


def local_ports(pid: int) -> set[int]:
    """The local ports of a process's TCP connections to the cluster's nodes (or to a
    proxy in front of one): what `list_connections` shows as `peer_port`."""
    found = set()
    for connection in psutil.Process(pid).net_connections(kind="tcp"):
        if connection.raddr and connection.status == psutil.CONN_ESTABLISHED:
            found.add(connection.laddr.port)
    return found
