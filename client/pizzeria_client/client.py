"""An async client of the order service over AMQP.

Many calls run at once over one direct reply-to consumer: each call waits on
its own future, found again by correlation id, always with a timeout. Commands
carry a `message_id`, so sending the same call again is harmless.

The connection is robust: when RabbitMQ goes away, calls waiting for a reply
fail at once with `ConnectionLostError` (their replies are lost with the
channel), new calls wait for the reconnection up to their timeout, and the
reply consumer is set up again before anything is published. A command sent
again with its `message_id` (`send(..., retries=n)` does it) gets its one
result whether or not the first try took effect.

    async with PizzeriaClient("amqp://guest:guest@127.0.0.1:5672/") as client:
        order = await client.place_order(PlaceOrder(...))
        again = await client.get_order(order.id)

For TLS, give an `amqps://` URL; the server's certificate is verified, against
the CA file in its query if there is one (aio-pika reads `cafile`, and
`certfile` and `keyfile` for a client certificate):
`amqps://user:secret@rabbit.example:5671/?cafile=/etc/ssl/ca.pem`.
"""

import asyncio
import dataclasses
import json
import logging
import uuid
from collections.abc import AsyncGenerator, Mapping
from datetime import date
from types import TracebackType
from typing import Any, Self, TypeVar

import aio_pika
from aio_pika.abc import (
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
)
from aio_pika.exceptions import AMQPConnectionError, ChannelClosed, ChannelInvalidStateError

from pizzeria_contracts import names
from pizzeria_contracts.base import WireModel
from pizzeria_contracts.catalogue import EVENTS
from pizzeria_contracts.commands import (
    AssignDelivery,
    CancelOrder,
    DeliverOrder,
    MarkReady,
    PlaceOrder,
    StartCooking,
)
from pizzeria_contracts.queries import (
    DailySales,
    GetMenu,
    GetOrder,
    ListActiveOrders,
    ListLateOrders,
    ListOrdersByCustomer,
)
from pizzeria_contracts.results import OperationResult
from pizzeria_contracts.views import LateOrders, MenuView, OrderPage, OrderView, SalesReport

M = TypeVar("M", bound=WireModel)
Body = WireModel | Mapping[str, Any] | bytes
log = logging.getLogger(__name__)


class PizzeriaError(Exception):
    """The service answered with a failure; `result` holds the whole reply."""

    def __init__(self, result: OperationResult) -> None:
        super().__init__(f"{result.status} {result.title or ''}: {result.detail or ''}".strip())
        self.result = result
        self.status = result.status
        self.detail = result.detail


class BadRequestError(PizzeriaError):
    """400: the message is invalid or breaks a rule about its content."""


class UnauthorizedError(PizzeriaError):
    """401: authorization is on and the message carried no user_id."""


class ForbiddenError(PizzeriaError):
    """403: this user may not send this message."""


class NotFoundError(PizzeriaError):
    """404: the order (or pizza) does not exist."""


class ConflictError(PizzeriaError):
    """409: the current state does not allow it."""


class ServerError(PizzeriaError):
    """500: the service failed; details are in its logs."""


class ConnectionLostError(ConnectionError):
    """No connection to RabbitMQ: it dropped while the call waited for its reply,
    or it was not back within the call's timeout.

    The request may or may not have taken effect; a command sent again with the
    same `message_id` is executed at most once.
    """


_ERRORS: dict[int, type[PizzeriaError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
}


def raise_for(result: OperationResult) -> OperationResult:
    """Return a successful result; raise the matching PizzeriaError otherwise."""
    if result.ok:
        return result
    raise _ERRORS.get(result.status, ServerError)(result)


def encode(body: Body) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, WireModel):
        return body.model_dump_json(by_alias=True).encode()
    return json.dumps(body, default=str).encode()


@dataclasses.dataclass(frozen=True)
class ReceivedEvent:
    """An event as it arrived: its envelope, its raw body, and the body as a model.

    `event` is the body parsed with the catalogue's model for `name` (an
    `OrderPlaced` for `orders.placed`, ...), or None when the name is not in
    this version of the catalogue or the body does not fit its model: a
    tolerant reader passes such events through with the raw body in `data`.
    """

    name: str
    message_id: str | None
    correlation_id: str | None
    headers: Mapping[str, Any]
    data: dict[str, Any]
    event: WireModel | None = None

    @classmethod
    def decode(
        cls,
        name: str,
        body: bytes,
        *,
        message_id: str | None = None,
        correlation_id: str | None = None,
        headers: Mapping[str, Any] | None = None,
    ) -> "ReceivedEvent":
        """The event of a message from `pizzeria.events`; never raises on a strange body."""
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            log.warning("event %s (%s): the body is not a JSON object", name, message_id)
            data = {}
        return cls(name, message_id, correlation_id, dict(headers or {}), data, _model(name, data))


def _model(name: str, data: dict[str, Any]) -> WireModel | None:
    model = EVENTS.get(name)
    if model is None:
        return None
    try:
        return model.model_validate(data)
    except ValueError as error:  # pydantic's ValidationError
        log.warning("event %s does not fit %s: %s", name, model.__name__, error)
        return None


class PizzeriaClient:
    """Commands and queries as awaitable calls; events as an async iterator."""

    def __init__(
        self, url: str = "amqp://guest:guest@127.0.0.1:5672/", *, timeout: float = 10.0
    ) -> None:
        self._url = url
        self.timeout = timeout
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None
        self._replies: AbstractQueue | None = None
        self._commands: AbstractExchange | None = None
        self._queries: AbstractExchange | None = None
        self._waiting: dict[str, asyncio.Future[OperationResult]] = {}
        self._ready = asyncio.Event()  # set while the reply consumer is in place

    async def connect(self) -> Self:
        self._connection = await aio_pika.connect_robust(self._url)
        channel = self._channel = await self._connection.channel()
        # The pseudo-queue is not declared, so aio-pika does not restore its consumer:
        # consume again whenever the channel reopens (after a reconnect, too).
        self._replies = await channel.get_queue(names.DIRECT_REPLY_TO, ensure=False)
        channel.close_callbacks.add(self._on_channel_closed)
        channel.reopen_callbacks.add(self._on_channel_reopened)
        await self._consume_replies()
        self._commands = await channel.get_exchange(names.COMMANDS_EXCHANGE, ensure=False)
        self._queries = await channel.get_exchange(names.QUERIES_EXCHANGE, ensure=False)
        return self

    async def close(self) -> None:
        self._ready.clear()
        for future in self._waiting.values():
            future.cancel()
        if self._connection is not None:
            await self._connection.close()

    async def _consume_replies(self) -> None:
        assert self._replies is not None
        await self._replies.consume(self._on_reply, no_ack=True)
        self._ready.set()

    async def _until_ready(self) -> None:
        """Until the reply consumer is in place on an open channel."""
        assert self._channel is not None
        await self._ready.wait()
        while self._channel.is_closed:  # just closed: its close callbacks have yet to run
            await asyncio.sleep(0.05)
            await self._ready.wait()

    async def _on_channel_reopened(self, _: object) -> None:
        await self._consume_replies()
        log.info("reconnected to RabbitMQ; the reply consumer is back")

    def _on_channel_closed(self, _: object, error: BaseException | None) -> None:
        """Replies to this channel are gone with it: fail every call that waits for one."""
        self._ready.clear()
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(
                    ConnectionLostError(f"the connection to RabbitMQ was lost: {error}")
                )

    async def __aenter__(self) -> Self:
        return await self.connect()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        future = self._waiting.pop(message.correlation_id or "", None)
        if future is not None and not future.done():
            future.set_result(OperationResult.model_validate_json(message.body))

    async def send(
        self,
        name: str,
        body: Body,
        *,
        message_id: str | None = None,
        timeout: float | None = None,
        user_id: str | None = None,
        retries: int = 0,
    ) -> OperationResult:
        """Send a command and wait for its result (whatever its status).

        With `retries`, a try that times out or loses its connection is sent
        again with the same `message_id`, so the command still runs at most
        once; each try waits up to `timeout`. The last try's error is raised.
        """
        assert self._commands is not None, "connect() first"
        message_id = message_id or uuid.uuid4().hex
        for _ in range(retries):
            try:
                return await self._call(
                    self._commands, name, body, message_id, timeout, user_id, False
                )
            except (TimeoutError, ConnectionLostError) as error:
                log.info("%s %s: %s; sending it again", name, message_id, type(error).__name__)
        return await self._call(self._commands, name, body, message_id, timeout, user_id, False)

    async def ask(
        self, name: str, body: Body, *, timeout: float | None = None, user_id: str | None = None
    ) -> OperationResult:
        """Ask a query; it expires unanswered when the timeout passes."""
        assert self._queries is not None, "connect() first"
        return await self._call(self._queries, name, body, uuid.uuid4().hex, timeout, user_id, True)

    async def _call(
        self,
        exchange: AbstractExchange,
        name: str,
        body: Body,
        message_id: str,
        timeout: float | None,
        user_id: str | None,
        expires: bool,
    ) -> OperationResult:
        seconds = self.timeout if timeout is None else timeout
        correlation_id = uuid.uuid4().hex
        message = aio_pika.Message(
            encode(body),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message_id,
            correlation_id=correlation_id,
            reply_to=names.DIRECT_REPLY_TO,
            user_id=user_id,
            expiration=seconds if expires else None,
        )
        future: asyncio.Future[OperationResult] = asyncio.get_running_loop().create_future()
        connected = False
        try:
            async with asyncio.timeout(seconds):
                await self._until_ready()
                connected = True
                self._waiting[correlation_id] = future
                await self._publish(exchange, message, name)
                return await future
        except TimeoutError:
            if connected:
                raise
            raise ConnectionLostError(
                f"no connection to RabbitMQ within {seconds:g} s (reconnecting)"
            ) from None
        finally:
            self._waiting.pop(correlation_id, None)

    async def _publish(
        self, exchange: AbstractExchange, message: aio_pika.Message, name: str
    ) -> None:
        try:
            await exchange.publish(message, routing_key=name)
        except ChannelClosed:
            raise  # RabbitMQ refused this message (such as a user_id not the connection's)
        except (AMQPConnectionError, ChannelInvalidStateError, ConnectionError) as error:
            raise ConnectionLostError(f"the connection to RabbitMQ was lost: {error}") from error

    async def _expect(self, result: OperationResult, model: type[M]) -> M:
        return model.model_validate(raise_for(result).data)

    async def place_order(self, command: PlaceOrder, *, message_id: str | None = None) -> OrderView:
        result = await self.send(names.PLACE_ORDER, command, message_id=message_id)
        return await self._expect(result, OrderView)

    async def start_cooking(self, order_id: str, *, message_id: str | None = None) -> OrderView:
        body = StartCooking(order_id=order_id)
        result = await self.send(names.START_COOKING, body, message_id=message_id)
        return await self._expect(result, OrderView)

    async def mark_ready(self, order_id: str, *, message_id: str | None = None) -> OrderView:
        body = MarkReady(order_id=order_id)
        result = await self.send(names.MARK_READY, body, message_id=message_id)
        return await self._expect(result, OrderView)

    async def assign_delivery(
        self, order_id: str, driver: str, *, message_id: str | None = None
    ) -> OrderView:
        body = AssignDelivery(order_id=order_id, driver=driver)
        result = await self.send(names.ASSIGN_DELIVERY, body, message_id=message_id)
        return await self._expect(result, OrderView)

    async def deliver(self, order_id: str, *, message_id: str | None = None) -> OrderView:
        body = DeliverOrder(order_id=order_id)
        result = await self.send(names.DELIVER_ORDER, body, message_id=message_id)
        return await self._expect(result, OrderView)

    async def cancel_order(
        self, order_id: str, reason: str | None = None, *, message_id: str | None = None
    ) -> OrderView:
        body = CancelOrder(order_id=order_id, reason=reason)
        result = await self.send(names.CANCEL_ORDER, body, message_id=message_id)
        return await self._expect(result, OrderView)

    async def get_order(self, order_id: str, *, timeout: float | None = None) -> OrderView:
        result = await self.ask(names.GET_ORDER, GetOrder(order_id=order_id), timeout=timeout)
        return await self._expect(result, OrderView)

    async def list_orders_by_customer(
        self, phone: str, *, limit: int = 20, cursor: str | None = None
    ) -> OrderPage:
        query = ListOrdersByCustomer(customer_phone=phone, limit=limit, cursor=cursor)
        return await self._expect(await self.ask(names.LIST_ORDERS_BY_CUSTOMER, query), OrderPage)

    async def list_active_orders(self, *, limit: int = 20, cursor: str | None = None) -> OrderPage:
        query = ListActiveOrders(limit=limit, cursor=cursor)
        return await self._expect(await self.ask(names.LIST_ACTIVE_ORDERS, query), OrderPage)

    async def list_late_orders(self, *, limit: int = 20) -> LateOrders:
        """The kitchen's and the drivers' late orders, oldest deadline first."""
        query = ListLateOrders(limit=limit)
        return await self._expect(await self.ask(names.LIST_LATE_ORDERS, query), LateOrders)

    async def get_menu(self) -> MenuView:
        return await self._expect(await self.ask(names.GET_MENU, GetMenu()), MenuView)

    async def daily_sales(self, first: date, last: date) -> SalesReport:
        """The sales of every day from `first` to `last`, both included (92 at most)."""
        query = DailySales.model_validate({"from": first, "to": last})
        return await self._expect(await self.ask(names.DAILY_SALES, query), SalesReport)

    async def events(self, pattern: str = "#") -> AsyncGenerator[ReceivedEvent, None]:
        """Every event whose name matches the topic pattern, from now on, typed.

        `async for received in client.events("orders.*")`: `received.event` is an
        `OrderPlaced`, `OrderCancelled`, ... (None for a name this version does not
        know), `received.data` the raw body. Events published while the connection
        is down are missed: the queue is the subscriber's own and goes with it.
        """
        assert self._connection is not None, "connect() first"
        channel = await self._connection.channel()
        try:
            queue = await channel.declare_queue(exclusive=True, auto_delete=True)
            await queue.bind(names.EVENTS_EXCHANGE, routing_key=pattern)
            async with queue.iterator(no_ack=True) as messages:
                async for message in messages:
                    yield ReceivedEvent.decode(
                        message.routing_key or "",
                        message.body,
                        message_id=message.message_id,
                        correlation_id=message.correlation_id,
                        headers=message.headers,
                    )
        finally:
            await channel.close()
