"""The composition root: the one place where the worker is put together.

`build_mediator` wires handlers to the `Adapters` of the same name as their
parameters; tests build `Adapters` of fakes, the service of MongoDB. `Service` owns the clients;
building it does no I/O, `start` connects.
"""

import asyncio
import dataclasses
import functools
import inspect
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from faststream.middlewares import AckPolicy
from faststream.rabbit import Channel, RabbitExchange, RabbitMessage, RabbitQueue

from pizzeria_contracts import commands as c
from pizzeria_contracts import names as n
from pizzeria_contracts import queries as q

from .adapters.mongo.conversations import MongoConversations
from .adapters.mongo.database import Collections, connect, create_indexes
from .adapters.mongo.deadlines import MongoDeadlines
from .adapters.mongo.documents import CustomerCodec, OrderCodec, PizzaCodec
from .adapters.mongo.health import DatabaseGate
from .adapters.mongo.menu import MongoMenu, seed_menu
from .adapters.mongo.outbox import OutboxRelay, Projection
from .adapters.mongo.readmodels import Place, ReadModels
from .adapters.mongo.rebuild import rebuildable
from .adapters.mongo.sales import MongoSalesReport, SalesProjection
from .adapters.mongo.store import MongoAggregateStore, MongoCustomerStore
from .adapters.mongo.views import MongoOrderViews, order_view_document
from .adapters.rabbit import topology
from .adapters.rabbit.hosts import SeveralHostsBroker, connect_first
from .adapters.rabbit.publishing import RabbitPublisher
from .adapters.rabbit.retry import RetryPolicy
from .application import behaviours
from .application.authorization import AuthorizationBehaviour, Policy
from .application.deadlines import OrderDeadlines
from .application.handlers import menu, orders, queries
from .application.mediator import Behaviour, Handler, Mediator, Route
from .application.ports import (
    Clock,
    CustomerStore,
    LateOrderViews,
    MenuSource,
    OrderStore,
    OrderViews,
    PizzaStore,
    SalesReports,
)
from .domain.orders import Order
from .domain.pizzas import Pizza
from .entrypoints.console import Console, ConsoleSettingsError, Gate
from .entrypoints.console.auth import password
from .entrypoints.router import Router
from .entrypoints.subscribers import Subscriber
from .observability.database import DatabaseCommands
from .observability.http import Checks, OperatorServer
from .observability.metrics import Metrics, MetricsBehaviour
from .settings import Settings, each_host, mask, with_option

log = logging.getLogger("worker")

HANDLERS: list[tuple[str, type[Any], Callable[..., Any], bool]] = [
    (n.PLACE_ORDER, c.PlaceOrder, orders.place_order, True),
    (n.START_COOKING, c.StartCooking, orders.start_cooking, True),
    (n.MARK_READY, c.MarkReady, orders.mark_ready, True),
    (n.ASSIGN_DELIVERY, c.AssignDelivery, orders.assign_delivery, True),
    (n.DELIVER_ORDER, c.DeliverOrder, orders.deliver, True),
    (n.CANCEL_ORDER, c.CancelOrder, orders.cancel, True),
    (n.ADD_PIZZA, c.AddPizza, menu.add_pizza, True),
    (n.UPDATE_PIZZA, c.UpdatePizza, menu.update_pizza, True),
    (n.REMOVE_PIZZA, c.RemovePizza, menu.remove_pizza, True),
    (n.GET_ORDER, q.GetOrder, queries.get_order, False),
    (n.LIST_ORDERS_BY_CUSTOMER, q.ListOrdersByCustomer, queries.list_orders_by_customer, False),
    (n.LIST_ACTIVE_ORDERS, q.ListActiveOrders, queries.list_active_orders, False),
    (n.GET_MENU, q.GetMenu, queries.get_menu, False),
    (n.DAILY_SALES, q.DailySales, queries.daily_sales, False),
    (n.LIST_LATE_ORDERS, q.ListLateOrders, queries.list_late_orders, False),
]
"""Message name, body model, handler, and whether it is a command."""


def utc_now() -> datetime:
    """Now, to the millisecond: what MongoDB stores is what the reply says."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@dataclasses.dataclass(frozen=True)
class Adapters:
    """Everything the handlers need from outside, each typed by its port: what the
    worker builds on MongoDB and every harness builds on fakes or on the real servers.
    mypy checks each against its port, so a fake that lacks a method is an error."""

    orders: OrderStore
    customers: CustomerStore
    pizzas: PizzaStore
    menu: MenuSource
    views: OrderViews
    sales: SalesReports
    late: LateOrderViews
    clock: Clock = utc_now


def inject(handler: Callable[..., Any], adapters: Adapters) -> Handler:
    """Bind a handler's keyword-only parameters to the adapters of the same name."""
    wanted = [
        name
        for name, parameter in inspect.signature(handler).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    return functools.partial(handler, **{name: getattr(adapters, name) for name in wanted})


COMMAND_NAMES = [name for name, *_, is_command in HANDLERS if is_command]
QUERY_NAMES = [name for name, *_, is_command in HANDLERS if not is_command]


def build_mediator(
    adapters: Adapters,
    *,
    max_body_bytes: int = 64 * 1024,
    policy: Policy | None = None,
    metrics: Metrics | None = None,
) -> Mediator:
    """The pipeline, outermost first: log, count, authorize (before any parsing),
    validate, turn domain errors into replies, keep lanes; then the handler."""
    routes = [
        Route(name, model, inject(handler, adapters), is_command)
        for name, model, handler, is_command in HANDLERS
    ]
    pipeline: list[Behaviour] = [behaviours.LoggingBehaviour()]
    if metrics is not None:
        pipeline.append(MetricsBehaviour(metrics))
    if policy is not None:
        pipeline.append(AuthorizationBehaviour(policy))
    pipeline += [
        behaviours.ValidationBehaviour(max_body_bytes),
        behaviours.DomainErrorBehaviour(),
        behaviours.LaneBehaviour(),
    ]
    return Mediator(routes, pipeline)


@dataclasses.dataclass(frozen=True)
class OnMongoDB:
    """The adapters on MongoDB, and the parts of them the service runs besides."""

    adapters: Adapters
    relay: OutboxRelay
    orders: MongoAggregateStore[Order]
    customers: MongoCustomerStore
    menu: MongoMenu
    deadlines: MongoDeadlines


def on_mongodb(
    collections: Collections,
    place: Callable[[str], Place],
    publish: Callable[[Mapping[str, Any]], Awaitable[None]],
    settings: Settings,
    *,
    clock: Clock = utc_now,
    order_store: type[MongoAggregateStore[Order]] = MongoAggregateStore,
    customer_store: type[MongoCustomerStore] = MongoCustomerStore,
) -> OnMongoDB:
    """Every adapter on MongoDB, wired once for the worker and its test harnesses:
    `place` says where each rebuildable read model (`orders`, `sales`, `deadlines`)
    lives, `publish` sends an event, `settings` give the time zone of the sales, the
    deadlines and the menu's cache; the store classes may be replaced by tests."""
    zone = settings.sales_time_zone
    views, sales = place("orders"), place("sales")
    deadlines = MongoDeadlines(place("deadlines"), settings.timeouts, collections.orders)
    relay = OutboxRelay(
        publish,
        {
            collections.orders.name: Projection(
                views,
                order_view_document,
                followers=(SalesProjection(sales, zone), deadlines),
            )
        },
        collections.outbox_relayed,
        collections.outbox_waiting,
    )
    store = order_store(collections.orders, OrderCodec(), relay, conversation=True)
    customers = customer_store(collections.customers, CustomerCodec(), relay)
    priced = MongoMenu(collections.menu, settings.menu_cache_seconds)
    adapters = Adapters(
        orders=store,
        customers=customers,
        pizzas=MongoAggregateStore[Pizza](collections.menu, PizzaCodec(), relay),
        menu=priced,
        views=MongoOrderViews(views),
        sales=MongoSalesReport(sales, zone),
        late=deadlines,
        clock=clock,
    )
    return OnMongoDB(adapters, relay, store, customers, priced, deadlines)


def load_policy(settings: Settings) -> Policy | None:
    if settings.authorization_policy is None:
        return None
    return Policy.load(settings.authorization_policy, COMMAND_NAMES, QUERY_NAMES)


def build_console(
    settings: Settings,
    metrics: Metrics,
    readiness: Checks,
    adapters: Adapters,
    conversations: MongoConversations,
) -> Console | None:
    """The operator console, when its password is set and the HTTP server is on; it
    reads through the adapters' ports and replays through `pizzeria dead-letters`' tool
    on a broker connection of its own."""
    operator = password(
        settings.console_password, settings.console_password_file, "PIZZERIA_CONSOLE_PASSWORD"
    )
    viewer = password(
        settings.console_viewer_password,
        settings.console_viewer_password_file,
        "PIZZERIA_CONSOLE_VIEWER_PASSWORD",
    )
    if operator is None:
        if viewer is not None:
            raise ConsoleSettingsError("a viewer password needs PIZZERIA_CONSOLE_PASSWORD too")
        return None
    if not settings.http_enabled:
        log.warning("the console's password is set but PIZZERIA_HTTP_ENABLED is off: no console")
        return None
    if not _loopback(settings.http_host):
        log.warning(
            "the operator console listens on %s, not loopback: put TLS in front of it, "
            "its passwords and session cookie travel in clear over HTTP",
            settings.http_host,
        )
    return Console(
        Gate(operator, viewer, settings.console_session_hours),
        functools.partial(connect_first, each_host(settings.amqp_url.get_secret_value())),
        settings.worker_user,
        metrics,
        readiness,
        views=adapters.views,
        late=adapters.late,
        conversations=conversations,
    )


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class Service:
    """The running worker: clients, subscribers and background tasks."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.database_commands = DatabaseCommands(self.metrics, settings.record_database_commands)
        self.mongo = connect(
            settings.mongodb_url.get_secret_value(),
            serverSelectionTimeoutMS=int(settings.mongodb_timeout_seconds * 1000),
            timeoutMS=int(settings.mongodb_operation_timeout_seconds * 1000),
            event_listeners=[self.database_commands],
        )
        self.database_gate = DatabaseGate(lambda: self.mongo.admin.command("ping"))
        self.collections = Collections.of(self.mongo[settings.mongodb_database])
        heartbeat = str(settings.amqp_heartbeat_seconds)
        self.broker = SeveralHostsBroker(
            [
                with_option(url, "heartbeat", heartbeat)
                for url in each_host(settings.amqp_url.get_secret_value())
            ],
            apply_types=False,
            logger=None,  # our LoggingBehaviour writes the one line per message
            graceful_timeout=settings.shutdown_timeout,
            # The topology declares the worker's queues on the default channel
            # and FastStream consumes them there, so the limit belongs here.
            default_channel=Channel(prefetch_count=settings.prefetch),
        )
        self.read_models = ReadModels(
            self.mongo[settings.mongodb_database],
            {
                name: model.default
                for name, model in rebuildable(settings.sales_time_zone, settings.timeouts).items()
            },
            settings.read_model_refresh_seconds,
        )
        wired = on_mongodb(
            self.collections,
            self.read_models.place,
            self._publish_event,
            settings,
        )
        self.relay, self.menu = wired.relay, wired.menu
        self.policy = load_policy(settings)
        self.mediator = build_mediator(
            wired.adapters,
            max_body_bytes=settings.max_body_bytes,
            policy=self.policy,
            metrics=self.metrics,
        )
        self.deadlines = OrderDeadlines(
            wired.orders, wired.deadlines, self.mediator.send, settings.timeouts, utc_now
        )
        self._publisher: RabbitPublisher | None = None
        self._subscriber: Subscriber | None = None
        self.operator: OperatorServer | None = None
        self.console = build_console(
            settings,
            self.metrics,
            self.readiness,
            wired.adapters,
            MongoConversations(self.collections.orders),
        )
        if settings.http_enabled:
            self.operator = OperatorServer(
                settings.http_host,
                settings.http_port,
                self.metrics,
                self.readiness,
                console=self.console.install if self.console else None,
            )
        self._tasks: list[asyncio.Task[None]] = []
        self._deadline_task: asyncio.Task[None] | None = None
        self.queues = topology.Queues.of(
            settings.queue_type, settings.retry_attempts, settings.command_shards
        )
        self._router: Router | None = None
        handled = [self.queues.queries, *self.queues.shards]
        if self.queues.any is None:
            handled.append(self.queues.commands)
        else:
            handled.append(self.queues.any)
            # One command at a time, so none overtakes another (entrypoints/router.py).
            self._consume(self.queues.commands, self._route, Channel(prefetch_count=1))
        for queue in handled:
            self._consume(queue, self._handle)

    def _consume(
        self,
        queue: RabbitQueue,
        handler: Callable[[RabbitMessage], Awaitable[None]],
        channel: Channel | None = None,
    ) -> None:
        self.broker.subscriber(
            queue, ack_policy=AckPolicy.MANUAL, decoder=_raw, no_reply=True, channel=channel
        )(handler)

    async def _route(self, message: RabbitMessage) -> None:
        assert self._router is not None
        await self._router(message)

    async def _handle(self, message: RabbitMessage) -> None:
        assert self._subscriber is not None
        await self._subscriber(message)

    async def _publish_event(self, entry: Mapping[str, Any]) -> None:
        assert self._publisher is not None
        await self._publisher.publish_event(entry)

    async def start(self) -> None:
        await self.mongo.admin.command("ping")
        log.info("connected to MongoDB at %s", mask(self.settings.mongodb_url.get_secret_value()))
        database = self.mongo[self.settings.mongodb_database]
        await self.read_models.refresh()
        await create_indexes(database, self.read_models.collections())
        if await seed_menu(self.collections.menu):
            log.info("seeded the default menu")
        await self.broker.connect()
        log.info("connected to RabbitMQ at %s", mask(self.settings.amqp_url.get_secret_value()))
        await topology.declare(self.broker, self.queues, COMMAND_NAMES, QUERY_NAMES)
        self._publisher = RabbitPublisher(
            await self.broker.declare_exchange(topology.EVENTS),
            await self.broker.declare_exchange(RabbitExchange("")),
            await self.broker.declare_exchange(topology.DEAD_LETTER),
            self.settings.worker_user,
            lambda kind: self.metrics.publish_counted(kind).inc(),
        )
        retry = RetryPolicy(
            self.settings.retry_attempts,
            self.settings.retry_base_delay,
            self.settings.retry_max_delay,
            self.settings.retry_jitter,
        )
        self._subscriber = Subscriber(
            self.mediator,
            self._publisher,
            self.database_gate,
            retry,
            self.settings.worker_user,
            self.metrics,
        )
        if self.settings.command_shards:
            self._router = Router(
                self._publisher,
                self._subscriber,
                self.settings.command_shards,
                self.settings.worker_user,
                self.settings.max_body_bytes,
            )
        self._tasks = [
            asyncio.create_task(self.relay.run(), name="outbox-relay"),
            asyncio.create_task(self._sweep_forever(), name="outbox-sweep"),
            asyncio.create_task(self.read_models.run(), name="read-models"),
        ]
        self._deadline_task = asyncio.create_task(self._deadlines_forever(), name="deadlines")
        await self.broker.start()
        if self.operator is not None:
            await self.operator.start()
        if self.policy is None:
            log.warning(
                "AUTHORIZATION IS OFF: any user who can publish to the exchanges may send "
                "every command and query. Set PIZZERIA_AUTHORIZATION_POLICY to a policy file."
            )
        else:
            log.info("authorization policy in force for users: %s", ", ".join(self.policy.users))
        log.info(
            "worker started: database %s, queues %s and %s, prefetch %d, command shards %d",
            self.settings.mongodb_database,
            n.COMMANDS_QUEUE,
            n.QUERIES_QUEUE,
            self.settings.prefetch,
            self.settings.command_shards,
        )

    async def _flush_outbox(self) -> int:
        """Relay what is left and wait until every outbox on its way is cleared."""
        found = await self.relay.sweep(self.collections.with_outbox, timedelta(0))
        await self.relay.drain()
        return found

    async def _sweep_forever(self) -> None:
        """Once at start, one scan for what a crash or a failure left in any outbox (it
        also learns which outboxes were recorded as published); then, every
        `outbox_sweep_seconds`, only what a relay failed to publish (`retry_failed`),
        without a scan of a collection that grows with the orders."""
        grace = timedelta(seconds=self.settings.outbox_grace_seconds)
        collections = self.collections.with_outbox
        swept = False
        while True:
            try:
                if not swept:
                    found = await self.relay.sweep(collections, grace)
                    swept = True
                    if found:
                        log.info("relayed %d documents left in the outbox", found)
            except Exception as error:  # noqa: BLE001 - the next pass sweeps again
                log.warning("outbox sweep failed; trying again later: %r", error)
            try:
                if found := await self.relay.retry_failed(collections, grace):
                    log.info("relayed %d documents whose events failed to publish", found)
            except Exception as error:  # noqa: BLE001 - the next pass tries again
                log.warning("outbox pass failed; trying again later: %r", error)
            else:
                self.metrics.outbox_backlog.set(self.relay.backlog.waiting)
                self.metrics.outbox_oldest.set(self._outbox_age())
            await asyncio.sleep(self.settings.outbox_sweep_seconds)

    async def _deadlines_forever(self) -> None:
        """Every `deadline_poll_seconds`, act on the deadlines due (each worker does; the
        orders' own concurrency lets one action through)."""
        while True:
            try:
                for action in await self.deadlines.run_due():
                    self.metrics.deadlines.labels(action.value).inc()
            except Exception as error:  # noqa: BLE001 - the next pass tries again
                log.warning("deadline pass failed; trying again later: %r", error)
            await asyncio.sleep(self.settings.deadline_poll_seconds)

    def _outbox_age(self) -> float:
        oldest = self.relay.backlog.oldest
        return 0.0 if oldest is None else (datetime.now(UTC) - oldest).total_seconds()

    async def readiness(self) -> dict[str, bool]:
        """Ready when the broker and the database answer and the outbox keeps up."""
        broker = await self.broker.ping(timeout=1.0)
        try:
            await asyncio.wait_for(self.mongo.admin.command("ping"), timeout=1.0)
            database = self.database_gate.is_up
        except Exception:  # noqa: BLE001 - any failure means not ready
            database = False
        self.metrics.connected.labels("rabbitmq").set(broker)
        self.metrics.connected.labels("mongodb").set(database)
        outbox = self._outbox_age() < self.settings.outbox_alarm_seconds
        return {"rabbitmq": broker, "mongodb": database, "outbox": outbox}

    async def stop(self) -> None:
        """Stop taking work, finish what is in flight, flush the outbox, disconnect.

        Messages that do not finish within the shutdown timeout stay
        unacknowledged, so RabbitMQ gives them to another worker (or this one,
        restarted); their effects are idempotent.
        """
        if self._deadline_task is not None:  # first: what it stores is relayed below
            self._deadline_task.cancel()
            await asyncio.gather(self._deadline_task, return_exceptions=True)
        for subscriber in self.broker.subscribers:
            await subscriber.stop()
        try:
            flushed = await asyncio.wait_for(self._flush_outbox(), timeout=5)
            if flushed:
                log.info("flushed the outbox of %d documents", flushed)
        except Exception as error:  # noqa: BLE001 - the next start's sweep relays what is left
            log.warning("outbox not flushed at shutdown: %r", error)
        await self.broker.stop()
        if self.operator is not None:
            await self.operator.stop()
        if self.console is not None:
            await self.console.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.mongo.close()
        self.database_commands.close()
        log.info("worker stopped")


async def _raw(message: RabbitMessage) -> RabbitMessage:
    return message
