"""Dead-letter tooling: list, replay and purge the queue `pizzeria.dead-letter`.

Every pass reads the messages the queue held when it began with `basic.get`,
holds them unacknowledged, and settles each once: a replayed letter is
acknowledged only after the broker confirmed its copy, a purged one at once,
and every other is returned with `nack(requeue=True)` at the end of the pass.
Nothing is read twice, nothing is lost if the tool dies half-way (the broker
returns what was not settled), and the queue keeps its order as far as
RabbitMQ allows. At most `max_held` messages are held at once: a pass that
would need more stops there and says so (`Report.complete` is false).

A replayed message keeps its `message_id`, so replaying one twice is harmless.
A pass whose channel is lost ends with ConnectionError: what it had not yet
settled is back in the queue, and running it again is safe.

    async with await aio_pika.connect(url) as connection:
        tool = DeadLetters(connection)
        report = await tool.replay(Filter(reason="retries-exhausted"), dry_run=True)
"""

import base64
import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractIncomingMessage,
)
from aio_pika.exceptions import (
    AMQPChannelError,
    ChannelInvalidStateError,
    ChannelNotFoundEntity,
    DeliveryError,
    PublishError,
)

from pizzeria_contracts import names

__all__ = ["DeadLetter", "DeadLetterQueueNotFoundError", "DeadLetters", "Filter", "Report"]

MAX_HELD = 10_000
_PUBLISH_TIMEOUT = 30.0
_DEAD_LETTER_HEADERS = frozenset(
    {names.RETRY_ATTEMPT_HEADER, names.LAST_ERROR_HEADER, names.DEAD_LETTERED_AT_HEADER, "x-death"}
)
_DEAD_LETTER_PREFIXES = ("x-error-", "x-original-", "x-first-death-", "x-last-death-")
_PROPERTIES = (
    "content_type",
    "content_encoding",
    "delivery_mode",
    "priority",
    "correlation_id",
    "reply_to",
    "expiration",
    "message_id",
    "timestamp",
    "type",
    "user_id",
    "app_id",
)


class DeadLetterQueueNotFoundError(LookupError):
    """The queue to work on does not exist on this virtual host."""


@dataclasses.dataclass(frozen=True)
class Filter:
    """Which dead letters to work on; every criterion given must hold, an empty one matches all."""

    reason: str | None = None
    routing_key: str | None = None
    message_id: str | None = None

    @property
    def is_empty(self) -> bool:
        return self.reason is None and self.routing_key is None and self.message_id is None

    def matches(self, letter: "DeadLetter") -> bool:
        wanted = (
            (self.reason, letter.reason),
            (self.routing_key, letter.original_routing_key),
            (self.message_id, letter.message_id),
        )
        return all(want is None or want == got for want, got in wanted)


@dataclasses.dataclass(frozen=True)
class DeadLetter:
    """One dead letter as it lies in the queue: body, properties and headers."""

    position: int
    """1-based place in the queue when it was read."""
    body: bytes
    properties: Mapping[str, Any]
    """The AMQP properties that are set, `headers` aside."""
    headers: Mapping[str, Any]

    @classmethod
    def of(cls, message: AbstractIncomingMessage, position: int) -> "DeadLetter":
        properties = {name: getattr(message, name) for name in _PROPERTIES}
        properties["delivery_mode"] = int(message.delivery_mode)
        if not properties["priority"]:  # aio-pika reads an absent priority as 0
            properties["priority"] = None
        present = {name: value for name, value in properties.items() if value is not None}
        return cls(position, message.body, present, dict(message.headers or {}))

    @property
    def message_id(self) -> str | None:
        return _text(self.properties.get("message_id"))

    @property
    def reason(self) -> str | None:
        return _text(self.headers.get(names.ERROR_REASON_HEADER))

    @property
    def detail(self) -> str | None:
        return _text(self.headers.get(names.ERROR_DETAIL_HEADER))

    @property
    def original_exchange(self) -> str | None:
        return _text(self.headers.get(names.ORIGINAL_EXCHANGE_HEADER))

    @property
    def original_routing_key(self) -> str | None:
        return _text(self.headers.get(names.ORIGINAL_ROUTING_KEY_HEADER))

    @property
    def original_user_id(self) -> str | None:
        header = _text(self.headers.get(names.ORIGINAL_USER_ID_HEADER))
        return header or _text(self.properties.get("user_id"))

    @property
    def size(self) -> int:
        return len(self.body)

    @property
    def sent_at(self) -> datetime | None:
        """When the sender stamped it (`timestamp`, or a broker's `timestamp_in_ms`)."""
        stamp = self.properties.get("timestamp")
        if isinstance(stamp, datetime):
            return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
        millis = self.headers.get("timestamp_in_ms")
        if isinstance(millis, int):
            return datetime.fromtimestamp(millis / 1000, UTC)
        return None

    @property
    def dead_lettered_at(self) -> datetime | None:
        """When the worker gave up on it (its `x-dead-lettered-at`), else when it was sent."""
        stamp = _text(self.headers.get(names.DEAD_LETTERED_AT_HEADER))
        if stamp is not None:
            try:
                return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC)
            except ValueError:
                pass
        return self.sent_at

    def age(self, now: datetime | None = None) -> timedelta | None:
        sent = self.sent_at
        return None if sent is None else (now or datetime.now(UTC)) - sent

    @property
    def text(self) -> str | None:
        """The body as text, or None when it is not UTF-8."""
        try:
            return self.body.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def replay_headers(self) -> dict[str, Any]:
        """The headers it arrived with: those the dead-lettering and retries added are left out."""
        return {
            name: value
            for name, value in self.headers.items()
            if name not in _DEAD_LETTER_HEADERS and not name.startswith(_DEAD_LETTER_PREFIXES)
        }

    def summary(self) -> dict[str, Any]:
        """What a listing shows, as JSON-ready values."""
        age = self.age()
        return {
            "position": self.position,
            "message_id": self.message_id,
            "reason": self.reason,
            "original_exchange": self.original_exchange,
            "original_routing_key": self.original_routing_key,
            "detail": self.detail,
            "size": self.size,
            "age_seconds": None if age is None else round(age.total_seconds(), 3),
        }

    def as_json(self) -> dict[str, Any]:
        """Everything: properties, headers and the body (as text, or base64 when binary)."""
        text = self.text
        body = {"body": text} if text is not None else {"body_base64": _base64(self.body)}
        return {
            "position": self.position,
            "properties": _plain(self.properties),
            "headers": _plain(self.headers),
            "size": self.size,
            **body,
        }


@dataclasses.dataclass
class Report:
    """What one pass over the queue saw and did."""

    queued: int
    """Messages in the queue when the pass began; the pass reads no further."""
    dry_run: bool = False
    scanned: int = 0
    complete: bool = True
    """False when the pass stopped because it held `max_held` messages."""
    matched: list[DeadLetter] = dataclasses.field(default_factory=list)
    done: list[DeadLetter] = dataclasses.field(default_factory=list)
    """Replayed or purged (on a dry run: would be), in queue order."""
    skipped: list[tuple[DeadLetter, str]] = dataclasses.field(default_factory=list)
    """Matched but not replayable, and why; they stay."""
    failed: list[tuple[DeadLetter, str]] = dataclasses.field(default_factory=list)
    """Matched but their copy was not confirmed, and why; they stay."""
    warnings: list[str] = dataclasses.field(default_factory=list)

    @property
    def kept(self) -> int:
        """Dead letters this pass read and left in the queue."""
        return self.scanned - (0 if self.dry_run else len(self.done))


_Act = Callable[[DeadLetter, Report], Awaitable[bool]]
"""Decides on one matching letter; True when it is to be removed from the queue."""


class DeadLetters:
    """The dead-letter queue `queue` on `connection`, read without losing or reordering."""

    def __init__(
        self,
        connection: AbstractConnection,
        queue: str = names.DEAD_LETTER_QUEUE,
        *,
        max_held: int = MAX_HELD,
        user: str | None = None,
    ) -> None:
        self._connection = connection
        self.queue = queue
        self.max_held = max_held
        self.user = user if user is not None else _user_of(connection)
        """The connection's user: the only `user_id` RabbitMQ lets a replay carry."""

    async def list(self, where: Filter | None = None, *, limit: int | None = None) -> Report:
        """The matching dead letters (at most `limit`), left where they are."""
        return await self._pass(where, limit, None, dry_run=True)

    async def purge(
        self, where: Filter | None = None, *, dry_run: bool = False, limit: int | None = None
    ) -> Report:
        """Remove the matching dead letters for good (on a dry run: only say which)."""

        async def purge(letter: DeadLetter, report: Report) -> bool:
            report.done.append(letter)
            return not dry_run

        return await self._pass(where, limit, purge, dry_run=dry_run)

    async def replay(
        self, where: Filter | None = None, *, dry_run: bool = False, limit: int | None = None
    ) -> Report:
        """Publish each matching letter again where it first arrived; remove it once confirmed."""
        republisher = _Republisher(self._connection)

        async def replay(letter: DeadLetter, report: Report) -> bool:
            exchange, routing_key = letter.original_exchange, letter.original_routing_key
            if exchange is None or routing_key is None:
                report.skipped.append((letter, "no x-original-exchange or x-original-routing-key"))
                return False
            if exchange == names.DEAD_LETTER_EXCHANGE:
                report.skipped.append((letter, "it would go straight back to the dead letters"))
                return False
            message = self._message_for(letter, report)
            if not dry_run:
                try:
                    await republisher.publish(exchange, routing_key, message)
                except _NotConfirmedError as error:
                    report.failed.append((letter, str(error)))
                    return False
            report.done.append(letter)
            return not dry_run

        try:
            return await self._pass(where, limit, replay, dry_run=dry_run)
        finally:
            await republisher.close()

    def _message_for(self, letter: DeadLetter, report: Report) -> aio_pika.Message:
        """The message as it was first sent, with its message_id; persistent."""
        properties = letter.properties
        user_id = letter.original_user_id
        if user_id is not None and user_id != self.user:
            report.warnings.append(
                f"{letter.message_id}: user_id {user_id!r} dropped; RabbitMQ accepts only "
                f"this connection's user ({self.user!r})"
            )
            user_id = None
        return aio_pika.Message(
            letter.body,
            headers=letter.replay_headers(),
            content_type=properties.get("content_type"),
            content_encoding=properties.get("content_encoding"),
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            priority=properties.get("priority"),
            correlation_id=properties.get("correlation_id"),
            reply_to=properties.get("reply_to"),
            message_id=properties.get("message_id"),
            timestamp=properties.get("timestamp"),
            type=properties.get("type"),
            user_id=user_id,
            app_id=properties.get("app_id"),
        )

    async def _pass(
        self, where: Filter | None, limit: int | None, act: _Act | None, *, dry_run: bool
    ) -> Report:
        """Read each message once; settle each once; hold at most `max_held`."""
        where = where or Filter()
        channel = await self._connection.channel(publisher_confirms=False)
        underlay = await channel.get_underlay_channel()  # the one the delivery tags belong to
        held: list[AbstractIncomingMessage] = []
        try:
            try:
                queue = await channel.declare_queue(self.queue, passive=True)
            except ChannelNotFoundEntity:
                raise DeadLetterQueueNotFoundError(self.queue) from None
            count = getattr(queue.declaration_result, "message_count", 0)
            report = Report(queued=count or 0, dry_run=dry_run)
            while report.scanned < report.queued:
                if limit is not None and len(report.matched) >= limit:
                    break
                if len(held) >= self.max_held:
                    report.complete = False
                    break
                if underlay.is_closed:  # a robust channel may be back, but not these deliveries
                    raise ConnectionError("the channel closed; unsettled letters are back in place")
                message = await queue.get(no_ack=False, fail=False)
                if message is None:
                    break
                report.scanned += 1
                letter = DeadLetter.of(message, report.scanned)
                if where.matches(letter):
                    report.matched.append(letter)
                    if act is not None and await act(letter, report):
                        await message.ack()
                        continue
                held.append(message)
            return report
        finally:
            if not underlay.is_closed:  # else the broker has put them back already
                for message in held:
                    await message.nack(requeue=True)
            await channel.close()


class _NotConfirmedError(Exception):
    """The broker did not take the copy: it stays a dead letter."""


class _Republisher:
    """Publishes on a confirmed channel of its own, so a refusal cannot cost the held letters."""

    def __init__(self, connection: AbstractConnection) -> None:
        self._connection = connection
        self._channel: AbstractChannel | None = None
        self._exchanges: dict[str, AbstractExchange] = {}
        self._missing: set[str] = set()

    async def publish(self, exchange: str, routing_key: str, message: aio_pika.Message) -> None:
        """Return once the broker confirmed and routed it; raise _NotConfirmedError otherwise."""
        if exchange in self._missing:
            raise _NotConfirmedError(f"exchange {exchange!r} does not exist")
        try:
            target = await self._exchange(exchange)
            await target.publish(
                message, routing_key=routing_key, mandatory=True, timeout=_PUBLISH_TIMEOUT
            )
        except ChannelNotFoundEntity:
            self._missing.add(exchange)
            await self.close()
            raise _NotConfirmedError(f"exchange {exchange!r} does not exist") from None
        except PublishError:
            raise _NotConfirmedError(
                f"unroutable: nothing bound to {exchange!r} for {routing_key!r}"
            ) from None
        except DeliveryError:
            raise _NotConfirmedError("the broker refused it (basic.nack)") from None
        except (AMQPChannelError, ChannelInvalidStateError, TimeoutError) as error:
            await self.close()
            raise _NotConfirmedError(f"not confirmed: {error!r}") from None

    async def _exchange(self, name: str) -> AbstractExchange:
        if self._channel is None or self._channel.is_closed:
            self._channel = await self._connection.channel(on_return_raises=True)
            self._exchanges = {}
        if name not in self._exchanges:
            channel = self._channel
            found = await channel.get_exchange(name) if name else channel.default_exchange
            self._exchanges[name] = found
        return self._exchanges[name]

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None and not channel.is_closed:
            await channel.close()


def _user_of(connection: AbstractConnection) -> str:
    url = getattr(connection, "url", None)
    return str(getattr(url, "user", None) or "guest")  # aio-pika's default login


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _plain(value: Any) -> Any:
    """JSON-ready: times as RFC 3339, decimals as strings, bytes as text or base64."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": _base64(value)}
    return value
