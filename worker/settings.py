"""The worker's settings, from the environment (and an optional `.env` file)."""

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from .application.deadlines import Timeouts


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, f"PIZZERIA_{name}")


class Settings(BaseSettings):
    """Every setting has a default that works with the local services of `scripts/run`."""

    @field_validator("amqp_url")
    @classmethod
    def _amqp(cls, url: SecretStr) -> SecretStr:
        return _with_scheme(url, ("amqp", "amqps"))

    @field_validator("mongodb_url")
    @classmethod
    def _mongodb(cls, url: SecretStr) -> SecretStr:
        return _with_scheme(url, ("mongodb", "mongodb+srv"))

    model_config = SettingsConfigDict(
        env_prefix="PIZZERIA_", env_file=".env", extra="ignore", populate_by_name=True
    )

    amqp_url: Annotated[SecretStr, Field(validation_alias=_env("AMQP_URL"))] = SecretStr(
        "amqp://guest:guest@127.0.0.1:5672/"
    )
    amqp_heartbeat_seconds: Annotated[int, Field(ge=1, le=3600)] = 2
    """The AMQP heartbeat the worker asks RabbitMQ for, over any `heartbeat` in AMQP_URL.
    Both sides send one every half of it. The worker gives up on a connection that
    brought nothing for (heartbeat + 1) x 3 seconds (aiormq's grace: 9 s at 2) and
    reconnects; RabbitMQ closes one whose worker was silent for two to three heartbeats.
    So a path that went silent (black-holed, no reset) is noticed within seconds, and
    only a worker stalled for two heartbeats trips it otherwise. RabbitMQ's own default,
    60, would leave a black-holed connection unnoticed for three minutes."""
    mongodb_url: Annotated[SecretStr, Field(validation_alias=_env("MONGODB_URL"))] = SecretStr(
        "mongodb://127.0.0.1:27017/"
    )
    mongodb_database: Annotated[str, Field(validation_alias=_env("MONGODB_DATABASE"))] = "pizzeria"
    broker_user: str | None = None
    """The RabbitMQ user the worker connects as, which its retry copies carry as
    `user_id`: by default the AMQP URL's user (`guest` when it names none). Set it
    only when the connection authenticates otherwise (`auth=external`, a client
    certificate)."""
    queue_type: Literal["classic", "quorum"] = "classic"
    """`quorum` for a RabbitMQ cluster; an existing queue keeps the type it was made with."""
    command_shards: Annotated[int, Field(ge=0, le=256)] = 0
    """0: every worker takes commands from one queue, and keeps one order's commands in
    order within itself. N: the commands of one order go to one of N shard queues, each
    with one active worker at a time, so they are applied in the order sent with
    several workers too (README, "Several workers and a cluster"). The command queue
    is then declared with a single active consumer: start on a fresh queue."""
    prefetch: Annotated[int, Field(ge=1, le=10_000)] = 100
    """Unacknowledged messages per worker queue, and so messages handled at once."""
    max_body_bytes: Annotated[int, Field(ge=1024, le=16 * 1024 * 1024)] = 64 * 1024
    menu_cache_seconds: Annotated[float, Field(ge=0)] = 2.0
    outbox_sweep_seconds: Annotated[float, Field(gt=0)] = 5.0
    """How often to publish again what a relay failed to publish (marked in
    `outbox_waiting`); every outbox is swept once, at start."""
    outbox_grace_seconds: Annotated[float, Field(ge=0)] = 10.0
    """How old a waiting event must be before a sweep or a pass takes it."""
    mongodb_timeout_seconds: Annotated[float, Field(gt=0)] = 5.0
    """How long a database call waits for a server before the database counts as down."""
    mongodb_operation_timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    """The longest any database operation may take, server selection, connecting and
    retries included (PyMongo's `timeoutMS`). One that takes longer counts as the
    database being down: its message waits until a ping gets through, and runs again.
    So a server gone silent (the path to it black-holed, no reset) holds no call
    longer than this. Start-up's index builds are not bound by it (they may take an
    hour: `INDEX_BUILD_SECONDS`)."""
    retry_attempts: Annotated[int, Field(ge=0, le=20)] = 5
    """Retries of a command that failed for a passing reason, before it is dead-lettered."""
    retry_base_delay: Annotated[float, Field(gt=0)] = 1.0
    """Seconds before the first retry; each next one waits twice as long."""
    retry_max_delay: Annotated[float, Field(gt=0)] = 60.0
    retry_jitter: Annotated[float, Field(ge=0, le=1)] = 0.2
    """Each delay is stretched by up to this fraction, at random."""
    authorization_policy: Path | None = None
    """A TOML file naming what each RabbitMQ user may send; without one, all is allowed."""
    shutdown_timeout: Annotated[float, Field(gt=0)] = 15.0
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    """`json`: one JSON object per line, for log shippers; `text`: for people."""
    tracing: Literal["off", "otlp", "console"] = "off"
    """OpenTelemetry: `otlp` exports to OTEL_EXPORTER_OTLP_ENDPOINT (the `tracing` extra)."""
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    """`asyncio` is the standard library's loop, and the fallback where uvloop is not
    installed; on the bench here the two are within the noise of each other
    (docs/performance.md)."""
    http_enabled: bool = True
    """Serve /metrics, /health/live and /health/ready."""
    http_host: str = "127.0.0.1"
    http_port: Annotated[int, Field(ge=0, le=65535)] = 8080
    """0 takes any free port (the start-up log says which)."""
    console_password: SecretStr | None = None
    """Turns on the operator console at http://HTTP_HOST:HTTP_PORT/ (README, "Operator
    console"): the password of the `operator` role, who may also replay and purge dead
    letters. Without it, or CONSOLE_PASSWORD_FILE, the console is off (the port serves
    /metrics and /health only)."""
    console_password_file: Path | None = None
    """A file whose first line is the operator's password (a mounted secret), in place
    of CONSOLE_PASSWORD."""
    console_viewer_password: SecretStr | None = None
    """The password of the read-only `viewer` role: every page, no action."""
    console_viewer_password_file: Path | None = None
    console_session_hours: Annotated[float, Field(gt=0, le=24 * 7)] = 8.0
    """How long a console login lasts; changing either password ends every session."""
    record_database_commands: Path | None = None
    """Append every database command's collection, filters and sorts to this file
    (JSON lines), for the index-coverage test; off in production."""
    outbox_alarm_seconds: Annotated[float, Field(gt=0)] = 60.0
    """Not ready while an event has waited longer than this to be published."""
    sales_time_zone: ZoneInfo = ZoneInfo("UTC")
    """The time zone of the sales report's days (an IANA name such as Europe/Rome).
    The report is kept as the orders change: after changing this, rebuild it
    (`python -m worker rebuild sales`)."""
    read_model_refresh_seconds: Annotated[float, Field(gt=0, le=60)] = 1.0
    """How often the worker reads where its read models live; a rebuild waits twice
    this, plus a second, for every worker to know what it changed."""

    kitchen_warn_after: Annotated[timedelta, Field(gt=timedelta(0))] = timedelta(minutes=15)
    """An order confirmed this long ago and still not cooking raises `orders.kitchen-late`
    (once). In seconds (`900`) or ISO 8601 (`PT15M`), as every duration here."""
    kitchen_cancel_after: Annotated[timedelta, Field(gt=timedelta(0))] = timedelta(minutes=45)
    """An order confirmed this long ago and still not cooking is cancelled, reason
    `kitchen-timeout`. Must be longer than `kitchen_warn_after`."""
    delivery_late_after: Annotated[timedelta, Field(gt=timedelta(0))] = timedelta(minutes=30)
    """An order out for delivery this long raises `orders.delivery-late` (once)."""
    deadline_poll_seconds: Annotated[float, Field(gt=0, le=60)] = 1.0
    """How often each worker asks which deadlines are due: a deadline's action comes at
    most this late (plus the time the worker was down)."""

    @field_validator(
        "kitchen_warn_after", "kitchen_cancel_after", "delivery_late_after", mode="before"
    )
    @classmethod
    def _seconds(cls, value: Any) -> Any:
        """A plain number is seconds; anything else is left to pydantic (ISO 8601, HH:MM:SS)."""
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                return value
        return value

    @field_validator("kitchen_cancel_after")
    @classmethod
    def _after_warning(cls, value: timedelta, info: ValidationInfo) -> timedelta:
        warn = info.data.get("kitchen_warn_after")
        if warn is not None and value <= warn:
            raise ValueError(
                f"must be longer than PIZZERIA_KITCHEN_WARN_AFTER ({warn}): an order is "
                "warned about before it is cancelled"
            )
        return value

    @property
    def timeouts(self) -> Timeouts:
        return Timeouts(
            self.kitchen_warn_after, self.kitchen_cancel_after, self.delivery_late_after
        )

    @field_validator("sales_time_zone", mode="before")
    @classmethod
    def _zone(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r}; use an IANA name") from None
        return value

    @property
    def worker_user(self) -> str:
        """The broker user the worker is, as RabbitMQ checks a `user_id` against it."""
        if self.broker_user:
            return self.broker_user
        return unquote(urlsplit(self.amqp_url.get_secret_value()).username or "") or "guest"


def _with_scheme(url: SecretStr, schemes: tuple[str, ...]) -> SecretStr:
    parts = urlsplit(url.get_secret_value())
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError(f"needs a URL such as {schemes[0]}://user:password@host/")
    if schemes[0] == "amqp":
        for one in each_host(url.get_secret_value()):
            try:
                urlsplit(one).port  # noqa: B018 - read for the check it makes
            except ValueError:
                raise ValueError(f"a host has no valid port: {mask(one)}") from None
    return url


def each_host(url: str) -> list[str]:
    """One URL per host of a URL that lists several, `amqp://u:p@h1:5672,h2:5672/vhost`
    (a cluster), in the order written; a URL with one host is itself."""
    parts = urlsplit(url)
    user, at, hosts = parts.netloc.rpartition("@")
    return [
        urlunsplit(parts._replace(netloc=f"{user}{at}{host.strip()}"))
        for host in hosts.split(",")
        if host.strip()
    ]


def with_option(url: str, name: str, value: str) -> str:
    """The URL with the query option `name` set to `value`, in place of any it had; the
    rest of the URL stays as it was written."""
    parts = urlsplit(url)
    kept = [o for o in parts.query.split("&") if o and o.split("=", 1)[0] != name]
    return urlunsplit(parts._replace(query="&".join([*kept, f"{name}={value}"])))


def env_name(field: str) -> str:
    """The environment variable that sets a field."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"PIZZERIA_{field.upper()}"


def describe(error: ValidationError) -> str:
    """One line per bad setting, naming its variable and never echoing its value."""
    lines = []
    for problem in error.errors(include_url=False, include_input=False):
        field = str(problem["loc"][0]) if problem["loc"] else ""
        name = env_name(field) if field in Settings.model_fields else field
        lines.append(f"invalid setting {name}: {problem['msg']}")
    return "\n".join(lines)


_SECRET_OPTION = re.compile(
    r"(?i)(^|&)([^=&]*(?:password|secret|token|key|authmechanismproperties)[^=&]*)=[^&]*"
)
"""A query option that holds a secret or leads to one: `tlsCertificateKeyFilePassword`,
`keyfile`, `tlsCertificateKeyFile`, `authMechanismProperties` (may carry a token), ...
CA and certificate files are public and stay visible."""


def mask(url: str) -> str:
    """A URL fit for a log line: the password, and the values of options that hold
    or point to a secret, replaced by ***."""
    parts = urlsplit(url)
    query = _SECRET_OPTION.sub(r"\1\2=***", parts.query)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
    if (netloc, query) == (parts.netloc, parts.query):
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query))
