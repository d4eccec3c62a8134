"""Let no one in where they don't belong: RabbitMQ users made for the test, each with
exactly the permissions the deployment gives it, against the worker connected as its own
user with a policy in force."""

import asyncio
import contextlib
import logging
import secrets
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, cast

import aio_pika
import aiormq.exceptions
import pytest
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from aiormq.abc import DeliveredMessage
from pymongo.asynchronous.database import AsyncDatabase

from pizzeria_client.client import PizzeriaClient
from pizzeria_contracts import names
from tests.conftest import AMQP_URL, MONGODB_URL
from tests.integration.broker_users import (
    BrokerUser,
    Client,
    Reply,
    create_user,
    delete_user,
    is_local,
)
from worker.adapters.mongo.database import Document
from worker.application.context import MessageContext
from worker.application.mediator import Mediator, Outcome
from worker.bootstrap import Service
from worker.observability.metrics import Metrics
from worker.settings import Settings

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="needs rabbitmqctl"),
    pytest.mark.skipif(not is_local(AMQP_URL), reason="users are made on a local RabbitMQ only"),
]

POLICY = Path(__file__).resolve().parents[2] / "deploy" / "policy.toml"
ROLES = ["storefront", "kitchen", "delivery", "admin"]
LOOSE = (
    r"^amq(\.gen-|_).*",
    r"^(pizzeria\.commands|pizzeria\.queries|amq\.default|amq(\.gen-|_).*)$",
    r"^(pizzeria\.events|amq(\.gen-|_).*)$",
)
"""A client's permissions, as a looser setup than the deployment's might grant: it may
also write to the default exchange, and so into any queue, the worker's too."""
WRITES = ("insert", "update", "findAndModify", "delete")
UNAUTHORIZED = "This service requires the user_id property on every message"
INTERNAL_DETAIL = "internal-detail-7d3e: /srv/worker/secret.py line 42"
FORGED = "Only the worker's own retry copies may carry retry headers into its queues"


def an_order() -> dict[str, Any]:
    phone = "+39 " + str(secrets.randbelow(10**9)).zfill(9)
    return {
        "customer_name": "Anna Bianchi",
        "customer_phone": phone,
        "pizzas": [{"name": "margherita", "size": "small"}],
    }


class LogCapture(logging.Handler):
    """Every record the worker's process would write, as text with its extra fields."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{self.format(record)} {record.__dict__!r}")

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


class Recorder:
    """The worker's mediator, watched: what reaches it, and failures on demand."""

    def __init__(self, inner: Mediator, metrics: Metrics) -> None:
        self.inner = inner
        self.metrics = metrics
        self.seen: list[MessageContext] = []
        self.fail_once: set[str] = set()
        self.fail_always: set[str] = set()

    async def send(self, name: str, body: bytes, context: MessageContext) -> Outcome:
        self.seen.append(context)
        message_id = context.message_id or ""
        if message_id in self.fail_always:
            raise RuntimeError(INTERNAL_DETAIL)
        if message_id in self.fail_once:
            self.fail_once.discard(message_id)
            raise ConnectionError(INTERNAL_DETAIL)
        return await self.inner.send(name, body, context)

    def contexts(self, message_id: str | None) -> list[tuple[str, str | None]]:
        return [(c.name, c.user_id) for c in self.seen if c.message_id == message_id]

    async def settled_writes(self, quiet: float = 3.0) -> float:
        """The database writes so far, once none has come for `quiet` s: the relay
        clears what earlier tests published after a lull of its own."""
        async with asyncio.timeout(30):
            while True:
                before = self.database_writes()
                await asyncio.sleep(quiet)
                if self.database_writes() == before:
                    return before

    def database_writes(self) -> float:
        registry = self.metrics.registry
        counted = (
            registry.get_sample_value("pizzeria_database_commands_total", {"command": command})
            for command in WRITES
        )
        return sum(value or 0.0 for value in counted)


# Fixtures


@pytest.fixture(scope="module")
async def users() -> AsyncIterator[dict[str, BrokerUser]]:
    """A user per role, made with rabbitmqctl in the test virtual host; deleted after."""
    made = await asyncio.gather(
        *(create_user(role, AMQP_URL) for role in ["worker", *ROLES]),
        create_user("mallory", AMQP_URL, LOOSE),
    )
    try:
        yield {user.role: user for user in made}
    finally:
        await asyncio.gather(*(delete_user(user) for user in made))


@pytest.fixture(scope="module")
def policy_file(tmp_path_factory: pytest.TempPathFactory, users: dict[str, BrokerUser]) -> Path:
    """deploy/policy.toml with each role's table renamed to the role's random user."""
    text = POLICY.read_text(encoding="utf-8")
    for role in ROLES:
        text = text.replace(f"[users.{role}]", f'[users."{users[role].name}"]')
    path = tmp_path_factory.mktemp("policy") / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def worker_log() -> Iterator[LogCapture]:
    capture = LogCapture()
    root = logging.getLogger()
    level = root.level
    root.addHandler(capture)
    root.setLevel(logging.INFO)
    yield capture
    root.removeHandler(capture)
    root.setLevel(level)


@pytest.fixture(scope="module")
async def worker(
    users: dict[str, BrokerUser],
    policy_file: Path,
    database: AsyncDatabase[Document],
    worker_log: LogCapture,
) -> AsyncIterator[Recorder]:
    """The service in this process, connected as the worker user, its mediator watched."""
    settings = Settings.model_validate(
        {
            "amqp_url": users["worker"].url,
            "mongodb_url": MONGODB_URL,
            "mongodb_database": database.name,
            "authorization_policy": policy_file,
            "retry_attempts": 2,
            "retry_base_delay": 0.05,
            "retry_max_delay": 0.1,
            "http_enabled": False,  # ignored by versions without the operator endpoints
            "http_port": 0,
        }
    )
    service = Service(settings)
    recorder = Recorder(service.mediator, service.metrics)
    service.mediator = cast(Mediator, recorder)
    await service.start()
    try:
        yield recorder
    finally:
        await service.stop()


@pytest.fixture(scope="module")
async def clients(
    users: dict[str, BrokerUser], worker: Recorder
) -> AsyncIterator[dict[str, Client]]:
    connected = {role: await Client.connect(users[role]) for role in ROLES}
    try:
        yield connected
    finally:
        for client in connected.values():
            await client.close()


@pytest.fixture(scope="module")
async def mallory(users: dict[str, BrokerUser], worker: Recorder) -> AsyncIterator[Client]:
    """A user the policy grants nothing, whose permissions reach the worker's queues."""
    client = await Client.connect(users["mallory"])
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture(scope="module")
def storefront(clients: dict[str, Client]) -> Client:
    return clients["storefront"]


@pytest.fixture(scope="module")
def kitchen(clients: dict[str, Client]) -> Client:
    return clients["kitchen"]


@pytest.fixture(scope="module")
async def placed(storefront: Client) -> dict[str, Any]:
    reply = await storefront.call(names.PLACE_ORDER, an_order())
    assert reply.status == 201, reply.body
    data: dict[str, Any] = reply.body["data"]
    return data


@contextlib.asynccontextmanager
async def fresh_channel(client: Client) -> AsyncIterator[AbstractChannel]:
    """A channel of its own, with confirms, for an attempt RabbitMQ may close it for."""
    channel = await client.connection.channel(publisher_confirms=True)
    try:
        yield channel
    finally:
        if not channel.is_closed:
            await channel.close()


# What each user may send


async def test_the_storefront_places_an_order_and_reads_it(
    storefront: Client, placed: dict[str, Any]
) -> None:
    reply = await storefront.call(names.GET_ORDER, {"order_id": placed["id"]}, query=True)

    assert reply.status == 200
    assert reply.body["data"]["id"] == placed["id"]


async def test_the_storefront_hears_events_on_a_queue_of_its_own(storefront: Client) -> None:
    """Its permissions suffice for a server-named exclusive queue bound to the events (and
    for direct reply-to, which every call here uses)."""
    arrived: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
    connection = await aio_pika.connect(storefront.user.url)  # robust ones name queues
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        assert queue.name.startswith("amq.gen-")
        await queue.bind(names.EVENTS_EXCHANGE, routing_key="orders.placed")
        await queue.consume(arrived.put, no_ack=True)

        reply = await storefront.call(names.PLACE_ORDER, an_order())
        order_id = reply.body["data"]["id"]
        async with asyncio.timeout(10):
            while (event := await arrived.get()).headers.get("cloudEvents:subject") != order_id:
                pass

    assert event.routing_key == names.ORDER_PLACED


async def test_the_projects_own_client_hears_events_with_the_deployed_permissions(
    storefront: Client,
) -> None:
    async with PizzeriaClient(storefront.user.url) as client:
        events = client.events("orders.placed")
        waiting = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0.5)  # the queue is declared and bound
        try:
            reply = await storefront.call(names.PLACE_ORDER, an_order())
            async with asyncio.timeout(10):
                event = await waiting
        finally:
            waiting.cancel()
            await events.aclose()

    assert event.name == names.ORDER_PLACED
    assert reply.status == 201


async def test_the_kitchen_may_not_place_an_order(kitchen: Client) -> None:
    reply = await kitchen.call(names.PLACE_ORDER, an_order())

    assert reply.status == 403
    assert reply.body["detail"] == f"User '{kitchen.user.name}' may not send 'orders.place'"


async def test_the_kitchen_may_start_cooking(kitchen: Client, placed: dict[str, Any]) -> None:
    reply = await kitchen.call(names.START_COOKING, {"order_id": placed["id"]})

    assert reply.status == 200
    assert reply.body["data"]["status"] == "cooking"


async def test_the_storefront_may_not_deliver(storefront: Client, placed: dict[str, Any]) -> None:
    reply = await storefront.call(names.DELIVER_ORDER, {"order_id": placed["id"]})

    assert reply.status == 403
    assert reply.body["detail"] == (f"User '{storefront.user.name}' may not send 'orders.deliver'")


async def test_a_message_without_user_id_is_unauthorized(storefront: Client) -> None:
    reply = await storefront.call(names.PLACE_ORDER, an_order(), user_id=None)

    assert reply.status == 401
    assert reply.body["detail"] == UNAUTHORIZED


async def test_refusals_are_logged(
    storefront: Client, kitchen: Client, worker_log: LogCapture
) -> None:
    await storefront.call(names.GET_MENU, {}, query=True, user_id=None)
    await kitchen.call(names.CANCEL_ORDER, {"order_id": "o-1"})

    logged = [line for line in worker_log.lines if " worker.messages " in line]
    assert any("menu.get" in line and "status=401" in line for line in logged), logged
    assert any("orders.cancel" in line and "status=403" in line for line in logged), logged


# What RabbitMQ itself refuses


async def test_a_user_id_that_is_not_the_connections_is_refused_by_rabbitmq(
    kitchen: Client, storefront: Client, worker: Recorder
) -> None:
    message = kitchen.message(an_order(), user_id=storefront.user.name, reply=False)

    async with fresh_channel(kitchen) as channel:
        exchange = await channel.get_exchange(names.COMMANDS_EXCHANGE, ensure=False)
        with pytest.raises(aiormq.exceptions.ChannelPreconditionFailed, match="user_id"):
            await exchange.publish(message, routing_key=names.PLACE_ORDER)

    await asyncio.sleep(1.0)
    assert worker.contexts(message.message_id) == []
    still = await kitchen.call(names.GET_MENU, {}, query=True)  # the connection lives on
    assert still.status == 200


@pytest.mark.parametrize(
    "queue",
    [names.COMMANDS_QUEUE, names.QUERIES_QUEUE, f"{names.COMMANDS_QUEUE}.retry.1"],
)
async def test_a_client_cannot_publish_into_the_workers_queues(
    storefront: Client, worker: Recorder, queue: str
) -> None:
    """So it cannot make a message look like a retry, which would be read from headers."""
    headers = {
        "x-retry-attempt": 1,
        "x-original-exchange": names.COMMANDS_EXCHANGE,
        "x-original-routing-key": names.DELIVER_ORDER,
        "x-original-user-id": "admin",
    }
    message = storefront.message({"order_id": "o-1"}, headers=headers, reply=False)

    async with fresh_channel(storefront) as channel:
        with pytest.raises(aiormq.exceptions.ChannelAccessRefused, match=r"amq\.default"):
            await channel.default_exchange.publish(message, routing_key=queue)

    await asyncio.sleep(0.5)
    assert worker.contexts(message.message_id) == []


async def test_retry_headers_on_a_message_from_a_client_count_for_nothing(
    kitchen: Client, storefront: Client
) -> None:
    headers = {
        "x-retry-attempt": 1,
        "x-original-exchange": names.COMMANDS_EXCHANGE,
        "x-original-routing-key": names.PLACE_ORDER,
        "x-original-user-id": storefront.user.name,
    }

    reply = await kitchen.call(names.PLACE_ORDER, an_order(), headers=headers)

    assert reply.status == 403
    assert kitchen.user.name in reply.body["detail"]


async def test_a_retried_command_keeps_the_senders_identity_and_name(
    storefront: Client, worker: Recorder, users: dict[str, BrokerUser]
) -> None:
    """A command that fails once comes back from a delay queue, where the worker reads who
    sent it and what it was from headers: a sender's own values must not survive."""
    forged = {
        "x-original-user-id": users["admin"].name,
        "x-original-exchange": names.COMMANDS_EXCHANGE,
        "x-original-routing-key": names.ADD_PIZZA,
    }
    body = an_order() | {"name": f"forged-{secrets.token_hex(3)}", "base_price": "1.00"}
    message_id = secrets.token_hex(16)
    worker.fail_once.add(message_id)

    reply = await storefront.call(
        names.PLACE_ORDER, body, message_id=message_id, headers=forged, timeout=15
    )

    own = (names.PLACE_ORDER, storefront.user.name)
    assert worker.contexts(message_id) == [own, own]
    assert reply.status == 201


async def _consume_nothing(message: DeliveredMessage) -> None:
    raise AssertionError("nothing should arrive")


async def _bind_own_queue_to_commands(channel: AbstractChannel) -> None:
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(names.COMMANDS_EXCHANGE, routing_key=names.PLACE_ORDER)


async def _bind_worker_queue_to_events(channel: AbstractChannel) -> None:
    underlay = await channel.get_underlay_channel()
    await underlay.queue_bind(names.COMMANDS_QUEUE, names.EVENTS_EXCHANGE, "#")


async def _consume(channel: AbstractChannel, queue: str) -> None:
    underlay = await channel.get_underlay_channel()
    await underlay.basic_consume(queue, _consume_nothing)


TOPOLOGY_ATTEMPTS: dict[str, Callable[[AbstractChannel], Awaitable[Any]]] = {
    "declare the worker's command queue": lambda channel: channel.declare_queue(
        names.COMMANDS_QUEUE, durable=True
    ),
    "declare a delay queue": lambda channel: channel.declare_queue(
        f"{names.COMMANDS_QUEUE}.retry.9", durable=True
    ),
    "declare an exchange of the worker's": lambda channel: channel.declare_exchange(
        "pizzeria.worker.forged", durable=True
    ),
    "bind its own queue to the commands": _bind_own_queue_to_commands,
    "bind the worker's queue to the events": _bind_worker_queue_to_events,
    "consume the worker's queue": lambda channel: _consume(channel, names.COMMANDS_QUEUE),
    "consume the dead letters": lambda channel: _consume(channel, names.DEAD_LETTER_QUEUE),
}


@pytest.mark.parametrize("attempt", TOPOLOGY_ATTEMPTS)
async def test_a_client_cannot_touch_the_workers_topology(storefront: Client, attempt: str) -> None:
    async with fresh_channel(storefront) as channel:
        with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
            await TOPOLOGY_ATTEMPTS[attempt](channel)


# No secret leaks


class Arrivals:
    def __init__(self) -> None:
        self.messages: list[AbstractIncomingMessage] = []
        self._arrived = asyncio.Condition()

    async def keep(self, message: AbstractIncomingMessage) -> None:
        async with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()

    async def count(
        self, kept: Callable[[AbstractIncomingMessage], bool], at_least: int, timeout: float
    ) -> None:
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(
                lambda: sum(1 for m in self.messages if kept(m)) >= at_least
            )

    async def of(self, message_id: str, timeout: float = 10.0) -> AbstractIncomingMessage:
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(
                lambda: any(m.message_id == message_id for m in self.messages)
            )
        return next(m for m in self.messages if m.message_id == message_id)


@contextlib.asynccontextmanager
async def copies_of(exchange: str, binding_key: str) -> AsyncIterator[Arrivals]:
    """Copies of what `exchange` routes by `binding_key`, through the test's own
    administrator connection."""
    arrivals = Arrivals()
    connection = await aio_pika.connect_robust(AMQP_URL)
    channel = await connection.channel()
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange, routing_key=binding_key)
    await queue.consume(arrivals.keep, no_ack=True)
    try:
        yield arrivals
    finally:
        await connection.close()


@pytest.fixture(scope="module")
async def dead_letters(worker: Recorder) -> AsyncIterator[Arrivals]:
    async with copies_of(names.DEAD_LETTER_EXCHANGE, "") as arrivals:
        yield arrivals


async def test_a_500_reply_says_nothing_about_internals(
    storefront: Client, worker: Recorder, worker_log: LogCapture
) -> None:
    message_id = secrets.token_hex(16)
    worker.fail_always.add(message_id)

    reply = await storefront.call(names.GET_MENU, {}, query=True, message_id=message_id)

    assert reply.status == 500
    assert reply.body == {
        "status": 500,
        "title": "Internal Server Error",
        "detail": "The message could not be processed",
    }
    assert INTERNAL_DETAIL in worker_log.text  # the details are in the logs


async def test_no_password_leaks_into_logs_replies_or_dead_letters(
    users: dict[str, BrokerUser],
    storefront: Client,
    kitchen: Client,
    worker: Recorder,
    worker_log: LogCapture,
    dead_letters: Arrivals,
) -> None:
    message_id = secrets.token_hex(16)
    bad = await storefront.call(names.PLACE_ORDER, b'{"customer_name": ', message_id=message_id)
    await storefront.call(names.GET_ORDER, {"order_id": "nowhere"}, query=True)
    await kitchen.call(names.MARK_READY, {"order_id": "nowhere"})
    dead_letter = await dead_letters.of(message_id)

    assert bad.status == 400
    assert dead_letter.headers["x-error-reason"] == "invalid-json"
    replies = storefront.replies + kitchen.replies
    assert replies
    for user in users.values():
        password = user.password
        assert password not in worker_log.text, f"{user.role}'s password is in the log"
        for message in replies + dead_letters.messages:
            assert password.encode() not in message.body
            assert password not in repr(message.headers)
            assert password not in repr(message.info())


# Retry copies that are not the worker's own


def retry_headers(name: str, user_id: str, attempt: int = 1) -> dict[str, Any]:
    """What the worker's retry copy of `name` from `user_id` carries."""
    return {
        names.RETRY_ATTEMPT_HEADER: attempt,
        names.ORIGINAL_EXCHANGE_HEADER: names.COMMANDS_EXCHANGE,
        names.ORIGINAL_ROUTING_KEY_HEADER: name,
        names.ORIGINAL_USER_ID_HEADER: user_id,
    }


async def margherita_price(admin: Client) -> str:
    reply = await admin.call(names.GET_MENU, {}, query=True)
    assert reply.status == 200, reply.body
    pizzas = {pizza["name"]: pizza for pizza in reply.body["data"]["pizzas"]}
    price: str = pizzas["margherita"]["base_price"]
    return price


@pytest.fixture
async def menu_events(worker: Recorder) -> AsyncIterator[Arrivals]:
    async with copies_of(names.EVENTS_EXCHANGE, "menu.#") as arrivals:
        yield arrivals


CHEAP_MARGHERITA = {"name": "margherita", "base_price": "0.01"}


async def forge(
    mallory: Client, as_user: str, dead_letters: Arrivals, **options: Any
) -> tuple[Reply, AbstractIncomingMessage]:
    """Mallory's copy of `menu.update-pizza` as a retry from `as_user`, straight into
    the worker's queue: the reply and the dead letter."""
    message_id = secrets.token_hex(16)
    reply = await mallory.call(
        names.COMMANDS_QUEUE,
        CHEAP_MARGHERITA,
        message_id=message_id,
        headers=retry_headers(names.UPDATE_PIZZA, as_user),
        straight_to_queue=True,
        **options,
    )
    return reply, await dead_letters.of(message_id)


async def test_a_forged_retry_copy_is_refused_dead_lettered_and_changes_nothing(
    mallory: Client,
    clients: dict[str, Client],
    users: dict[str, BrokerUser],
    worker: Recorder,
    dead_letters: Arrivals,
    menu_events: Arrivals,
) -> None:
    """The attack as tried: a user the policy grants nothing, whose permissions let it
    write to the default exchange, sets the margherita's price as `admin`."""
    admin = clients["admin"]
    before = await margherita_price(admin)

    reply, dead_letter = await forge(mallory, users["admin"].name, dead_letters)
    await asyncio.sleep(0.5)  # an event the worker would publish has had time to arrive

    assert reply.status == 403
    assert reply.body["detail"] == FORGED
    assert dead_letter.headers[names.ERROR_REASON_HEADER] == "forged-retry"
    assert dead_letter.headers[names.ORIGINAL_ROUTING_KEY_HEADER] == names.COMMANDS_QUEUE
    assert dead_letter.headers[names.ORIGINAL_USER_ID_HEADER] == mallory.user.name
    assert worker.contexts(dead_letter.message_id) == [(names.COMMANDS_QUEUE, mallory.user.name)]
    assert await margherita_price(admin) == before
    assert menu_events.messages == []


async def test_a_forged_copy_naming_the_worker_itself_is_refused(
    mallory: Client, users: dict[str, BrokerUser], worker: Recorder, dead_letters: Arrivals
) -> None:
    reply, dead_letter = await forge(mallory, users["worker"].name, dead_letters)

    assert reply.status == 403
    assert dead_letter.headers[names.ERROR_REASON_HEADER] == "forged-retry"
    assert worker.contexts(dead_letter.message_id) == [(names.COMMANDS_QUEUE, mallory.user.name)]


async def test_a_forged_copy_without_user_id_is_unauthorized(
    mallory: Client, users: dict[str, BrokerUser], dead_letters: Arrivals
) -> None:
    reply, dead_letter = await forge(mallory, users["admin"].name, dead_letters, user_id=None)

    assert reply.status == 401
    assert dead_letter.headers[names.ERROR_REASON_HEADER] == "forged-retry"


async def test_a_flood_of_forged_copies_writes_nothing_and_valid_calls_go_on(
    mallory: Client,
    clients: dict[str, Client],
    users: dict[str, BrokerUser],
    worker: Recorder,
    dead_letters: Arrivals,
) -> None:
    admin, storefront = clients["admin"], clients["storefront"]
    before = await margherita_price(admin)
    forged = retry_headers(names.UPDATE_PIZZA, users["admin"].name)
    ids = [secrets.token_hex(16) for _ in range(1000)]
    writes = await worker.settled_writes()

    async def flood() -> None:
        for message_id in ids:
            message = mallory.message(
                CHEAP_MARGHERITA, message_id=message_id, headers=forged, reply=False
            )
            await mallory.channel.default_exchange.publish(
                message, routing_key=names.COMMANDS_QUEUE
            )

    flooding = asyncio.create_task(flood())
    statuses = []
    while not flooding.done():  # valid calls while the forged copies pour in
        statuses.append((await storefront.call(names.GET_MENU, {}, query=True)).status)
    await flooding
    wanted = set(ids)
    await dead_letters.count(lambda m: m.message_id in wanted, len(ids), timeout=60)

    assert statuses
    assert statuses == [200] * len(statuses)
    assert worker.database_writes() == writes
    assert await margherita_price(admin) == before
    placed = await storefront.call(names.PLACE_ORDER, an_order())
    assert placed.status == 201
