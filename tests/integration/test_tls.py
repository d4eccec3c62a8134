"""TLS for real, over loopback: the worker on `amqps://` and MongoDB TLS, and the
project's client and CLI on `amqps://`, each trusting a throwaway CA made here.

RabbitMQ: a TLS listener is started on the shared broker at run time
(`rabbit_networking:start_ssl_listener`, with the certificates passed as data, so
the broker needs no access to our files) on a free loopback port, and stopped
after; the broker itself is never restarted. It verifies a client certificate
when one is presented. MongoDB: a TLS front of ours, in threads of the test process, before the test
database; it requires a client certificate signed by the CA.
"""

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import uuid
from base64 import b64encode
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import ServerSelectionTimeoutError

from pizzeria_client.client import PizzeriaClient
from pizzeria_contracts import PizzaRequest, PlaceOrder, names
from tests.conftest import AMQP_URL
from tests.integration.broker_users import (
    BrokerUser,
    create_user,
    delete_user,
    is_local,
    rabbitmqctl,
    vhost_of,
)
from worker.adapters.mongo.database import Document
from worker.settings import mask

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0
VERIFY_FAILED = "CERTIFICATE_VERIFY_FAILED"


# Certificates


@dataclasses.dataclass(frozen=True)
class Certificates:
    """A CA, a server certificate for 127.0.0.1 and localhost, and a client certificate."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    client_bundle: Path
    """The client certificate and its key encrypted with `client_key_password`, in one
    PEM file, as MongoDB's `tlsCertificateKeyFile` takes them."""
    client_key_password: str
    stranger_ca: Path
    """A CA that signed nothing here: trusting only it must fail."""


def _openssl(directory: Path, *arguments: str) -> None:
    done = subprocess.run(
        ["openssl", *arguments], cwd=directory, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"openssl {' '.join(arguments)}:\n{done.stderr}"


def _new_ca(directory: Path, name: str) -> None:
    _openssl(
        directory,
        *("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"),
        *("-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2"),
        *("-subj", f"/CN=Pizzeria test CA {name}"),
        *("-addext", "keyUsage=critical,keyCertSign,cRLSign"),  # Python 3.13's strict checks
    )


def _signed(directory: Path, name: str, subject: str, extensions: str) -> None:
    leaf = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
    (directory / f"{name}.ext").write_text(leaf + extensions, encoding="ascii")
    _openssl(
        directory,
        *("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"),
        *("-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={subject}"),
    )
    _openssl(
        directory,
        *("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key"),
        *("-CAcreateserial", "-out", f"{name}.pem", "-days", "2"),
        *("-extfile", f"{name}.ext"),
    )


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make test certificates")
    directory = tmp_path_factory.mktemp("tls")
    _new_ca(directory, "ca")
    _new_ca(directory, "stranger")
    _signed(
        directory,
        "server",
        "localhost",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    _signed(directory, "client", "pizzeria-worker", "extendedKeyUsage=clientAuth\n")
    password = secrets.token_hex(12)
    _openssl(
        directory,
        *("pkey", "-in", "client.key", "-aes256", "-passout", f"pass:{password}"),
        *("-out", "client-encrypted.key"),
    )
    bundle = directory / "client-bundle.pem"
    bundle.write_text(
        (directory / "client.pem").read_text() + (directory / "client-encrypted.key").read_text()
    )
    return Certificates(
        ca=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
        client_bundle=bundle,
        client_key_password=password,
        stranger_ca=directory / "stranger.pem",
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# RabbitMQ: a TLS listener on the running broker


def _erlang_binary(path: Path) -> str:
    return f'<<"{b64encode(path.read_bytes()).decode()}">>'


@pytest.fixture(scope="module")
async def amqps_port(certificates: Certificates) -> AsyncIterator[int]:
    """A TLS listener for AMQP on 127.0.0.1, added to the running broker and removed after."""
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("needs rabbitmqctl to add a TLS listener to RabbitMQ")
    if not is_local(AMQP_URL):
        pytest.skip("a TLS listener is added to a local RabbitMQ only")
    port = free_port()
    started = await rabbitmqctl(
        "eval",
        "Decode = fun(Pem) -> public_key:pem_decode(base64:decode(Pem)) end, "
        f"[{{_, Cert, _}}] = Decode({_erlang_binary(certificates.server_cert)}), "
        f"[{{KeyType, Key, _}}] = Decode({_erlang_binary(certificates.server_key)}), "
        f"[{{_, CA, _}}] = Decode({_erlang_binary(certificates.ca)}), "
        f'rabbit_networking:start_ssl_listener({{"127.0.0.1", {port}}}, '
        "[{cert, Cert}, {key, {KeyType, Key}}, {cacerts, [CA]}, "
        "{verify, verify_peer}, {fail_if_no_peer_cert, false}], 1).",
    )
    assert started.strip() == "ok", started
    try:
        yield port
    finally:
        with contextlib.suppress(RuntimeError):  # gone already if the broker restarted
            await rabbitmqctl(
                "eval", f'rabbit_networking:stop_tcp_listener({{"127.0.0.1", {port}}}).'
            )


def amqps_url(
    port: int, options: dict[str, Path], *, user: str = "guest", password: str = "guest"
) -> str:
    """An amqps:// URL for the TLS listener; `options` (cafile, certfile, keyfile) go in
    its query, where aio-pika reads them."""
    vhost = quote(vhost_of(AMQP_URL), safe="")
    query = "&".join(f"{name}={value}" for name, value in options.items())
    return f"amqps://{quote(user, safe='')}:{password}@127.0.0.1:{port}/{vhost}?{query}"


# MongoDB: a TLS front of ours before the test database, client certificates required


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


class TlsFront:
    """The test database behind a TLS listener that requires a client certificate signed
    by the CA, as a MongoDB with `net.tls.mode: requireTLS` and a CA file does: what is
    tested is the worker's and PyMongo's side of TLS, which does not care what serves
    behind it (mongo-java-server has TLS of its own, but cannot require a client
    certificate). It runs on an event loop in a thread of its own, so a test that
    blocks its own loop does not stall the database."""

    def __init__(self, context: ssl.SSLContext, target: tuple[str, int]) -> None:
        self._context = context
        self._target = target
        self._listening: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)

    def __enter__(self) -> int:
        self._thread.start()
        return self._listening.result(timeout=10)

    def __exit__(self, *_: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        server = await asyncio.start_server(self._forward, "127.0.0.1", 0, ssl=self._context)
        self._listening.set_result(server.sockets[0].getsockname()[1])
        async with server:
            await self._stop.wait()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))


@pytest.fixture(scope="module")
def mongodb_tls_port(certificates: Certificates, mongodb_url: str) -> Iterator[int]:
    """The test database over TLS only, client certificates required (TlsFront)."""
    target = urlsplit(mongodb_url)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=certificates.ca)
    context.load_cert_chain(certificates.server_cert, certificates.server_key)
    context.verify_mode = ssl.CERT_REQUIRED
    with TlsFront(context, (target.hostname or "127.0.0.1", target.port or 27017)) as port:
        yield port


def mongodb_tls_url(port: int, certificates: Certificates) -> str:
    return (
        f"mongodb://127.0.0.1:{port}/?tls=true&tlsCAFile={certificates.ca}"
        f"&tlsCertificateKeyFile={certificates.client_bundle}"
        f"&tlsCertificateKeyFilePassword={certificates.client_key_password}"
    )


# The worker as a process


@dataclasses.dataclass
class Worker:
    process: asyncio.subprocess.Process
    lines: list[str] = dataclasses.field(default_factory=list)
    settled: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    """Set once the worker has started, or has exited."""

    @property
    def log(self) -> str:
        return "".join(self.lines)


async def _read(worker: Worker) -> None:
    assert worker.process.stdout is not None
    try:
        async for raw in worker.process.stdout:
            worker.lines.append(raw.decode("utf-8", "replace"))
            if "worker started" in worker.lines[-1]:
                worker.settled.set()
    finally:
        worker.settled.set()


@contextlib.asynccontextmanager
async def worker_process(amqp_url: str, mongodb_url: str) -> AsyncIterator[Worker]:
    """`python -m worker` with these URLs, logging at DEBUG, until it exits or is stopped."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PIZZERIA_", "AMQP_", "MONGODB_"))
    }
    env.update(
        AMQP_URL=amqp_url,
        MONGODB_URL=mongodb_url,
        MONGODB_DATABASE=f"tls_{uuid.uuid4().hex[:12]}",
        PIZZERIA_HTTP_PORT="0",
        PIZZERIA_LOG_LEVEL="DEBUG",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "worker",
        cwd=REPO_ROOT,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    worker = Worker(process)
    reader = asyncio.create_task(_read(worker))
    try:
        yield worker
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()
        await reader


async def until_started(worker: Worker) -> None:
    await asyncio.wait_for(worker.settled.wait(), START_TIMEOUT)
    assert "worker started" in worker.log, worker.log


@pytest.fixture(scope="module")
async def broker_user() -> AsyncIterator[BrokerUser]:
    """The worker's own RabbitMQ user, with a random password to look for in its log."""
    user = await create_user("worker", AMQP_URL)
    try:
        yield user
    finally:
        await delete_user(user)


@pytest.fixture(scope="module")
async def tls_worker(
    amqps_port: int,
    mongodb_tls_port: int,
    certificates: Certificates,
    broker_user: BrokerUser,
) -> AsyncIterator[Worker]:
    """The worker on amqps:// with a client certificate and on MongoDB with TLS."""
    client_certificate = {
        "cafile": certificates.ca,
        "certfile": certificates.client_cert,
        "keyfile": certificates.client_key,
    }
    url = amqps_url(
        amqps_port, client_certificate, user=broker_user.name, password=broker_user.password
    )
    async with worker_process(url, mongodb_tls_url(mongodb_tls_port, certificates)) as worker:
        await until_started(worker)
        yield worker
    assert worker.process.returncode == 0, worker.log


def an_order() -> PlaceOrder:
    return PlaceOrder(
        customer_name="Tina Sicura",
        customer_phone="+39 " + str(secrets.randbelow(10**9)).zfill(9),
        pizzas=[PizzaRequest(name="margherita", size="small")],
    )


def certificate_failure(error: BaseException) -> bool:
    """The error, or one it was raised from, is a failed certificate verification."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError) or VERIFY_FAILED in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


# Tests


async def test_the_worker_answers_over_tls_through_the_client(
    tls_worker: Worker, amqps_port: int, certificates: Certificates
) -> None:
    url = amqps_url(amqps_port, {"cafile": certificates.ca})
    async with PizzeriaClient(url, timeout=15) as client:
        placed = await client.send(names.PLACE_ORDER, an_order())
        assert placed.data is not None, placed
        again = await client.get_order(placed.data["id"])

    assert placed.status == 201
    assert (again.id, again.status) == (placed.data["id"], "confirmed")


async def test_the_worker_connects_to_rabbitmq_with_its_client_certificate(
    tls_worker: Worker, broker_user: BrokerUser
) -> None:
    connections = await rabbitmqctl("list_connections", "user", "ssl", "peer_cert_subject")
    worker_connections = [
        line.split("\t") for line in connections.splitlines() if line.startswith(broker_user.name)
    ]

    assert worker_connections
    assert all(ssl_on == "true" for _, ssl_on, _ in worker_connections)
    assert all(subject == "CN=pizzeria-worker" for *_, subject in worker_connections)


async def test_the_cli_talks_amqps_with_a_ca_file(
    tls_worker: Worker, amqps_port: int, certificates: Certificates
) -> None:
    url = amqps_url(amqps_port, {"cafile": certificates.ca})
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "pizzeria_client.cli", "--url", url, "menu"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert "margherita" in done.stdout


@pytest.mark.parametrize("trusted", ["the system's CAs", "another CA"])
async def test_a_client_that_does_not_trust_the_ca_is_refused(
    amqps_port: int, certificates: Certificates, trusted: str
) -> None:
    options = {} if trusted == "the system's CAs" else {"cafile": certificates.stranger_ca}
    client = PizzeriaClient(amqps_url(amqps_port, options))

    with pytest.raises(ConnectionError) as refused:
        await asyncio.wait_for(client.connect(), 15)

    assert certificate_failure(refused.value), repr(refused.value)


async def test_the_cli_that_does_not_trust_the_ca_says_so(amqps_port: int) -> None:
    done = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "pizzeria_client.cli",
            "--url",
            amqps_url(amqps_port, {}),
            "menu",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 8, done.stderr
    assert "certificate verify failed" in done.stderr
    assert "guest:guest" not in done.stderr


async def test_a_mongodb_client_without_the_ca_or_its_certificate_is_refused(
    mongodb_tls_port: int, certificates: Certificates
) -> None:
    full = mongodb_tls_url(mongodb_tls_port, certificates)
    without_ca = full.replace(f"tlsCAFile={certificates.ca}&", "")
    without_certificate = full.split("&tlsCertificateKeyFile=")[0]
    outcomes: dict[str, object] = {}
    for name, url in {"trusted": full, "no CA": without_ca, "no cert": without_certificate}.items():
        client: AsyncMongoClient[Document] = AsyncMongoClient(url, serverSelectionTimeoutMS=3000)
        try:
            outcomes[name] = (await client.admin.command("ping"))["ok"]
        except ServerSelectionTimeoutError as error:
            outcomes[name] = VERIFY_FAILED if VERIFY_FAILED in str(error) else "refused"
        finally:
            await client.close()

    assert outcomes == {"trusted": 1.0, "no CA": VERIFY_FAILED, "no cert": "refused"}


async def test_a_worker_that_does_not_trust_the_broker_does_not_start(
    amqps_port: int, mongodb_tls_port: int, certificates: Certificates, broker_user: BrokerUser
) -> None:
    url = amqps_url(amqps_port, {}, user=broker_user.name, password=broker_user.password)
    async with worker_process(url, mongodb_tls_url(mongodb_tls_port, certificates)) as worker:
        code = await asyncio.wait_for(worker.process.wait(), START_TIMEOUT)

    assert code == 1, worker.log
    assert "could not start" in worker.log
    assert "certificate verify failed" in worker.log
    assert broker_user.password not in worker.log


async def test_the_worker_log_shows_no_credentials(
    tls_worker: Worker, broker_user: BrokerUser, certificates: Certificates
) -> None:
    log = tls_worker.log

    assert f"amqps://{broker_user.name}:***@127.0.0.1" in log
    assert f"tlsCAFile={certificates.ca}" in log  # a public certificate: shown
    for secret in (
        broker_user.password,
        certificates.client_key_password,
        str(certificates.client_key),
        str(certificates.client_bundle),
    ):
        assert secret not in log


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (
            "amqps://w:s3cret@rabbit:5671/v?cafile=/ca.pem&certfile=/c.pem&keyfile=/k.pem",
            "amqps://w:***@rabbit:5671/v?cafile=/ca.pem&certfile=/c.pem&keyfile=***",
        ),
        (
            "mongodb://m/?tls=true&tlsCAFile=/ca.pem&tlsCertificateKeyFile=/ck.pem"
            "&tlsCertificateKeyFilePassword=s3cret&replicaSet=rs0",
            "mongodb://m/?tls=true&tlsCAFile=/ca.pem&tlsCertificateKeyFile=***"
            "&tlsCertificateKeyFilePassword=***&replicaSet=rs0",
        ),
        (
            "mongodb://m/?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:t",
            "mongodb://m/?authMechanism=MONGODB-AWS&authMechanismProperties=***",
        ),
    ],
)
def test_mask_hides_what_leads_to_a_secret_in_the_query(url: str, masked: str) -> None:
    assert mask(url) == masked
    assert urlsplit(mask(url)).hostname == urlsplit(url).hostname
