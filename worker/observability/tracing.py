"""OpenTelemetry tracing, off unless configured.

With `PIZZERIA_TRACING=otlp` (the exporter reads the standard OTEL_EXPORTER_OTLP_*
variables) or `console`, every message gets a consumer span that continues the
`traceparent` it came with; database commands and publishes are its children,
and replies and events carry the context on, so a trace follows an order from
service to service. Off, the incoming `traceparent` is passed on unchanged.
The SDK and exporter come with the `tracing` extra; the API alone is a no-op.
"""

import contextlib
import dataclasses
import logging
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ..application.context import MessageContext

TracingMode = Literal["off", "otlp", "console"]
log = logging.getLogger("worker.tracing")
tracer = trace.get_tracer("pizzeria.worker")
_propagator = TraceContextTextMapPropagator()
_enabled = False


def configure(mode: TracingMode, service_name: str = "pizzeria-worker") -> None:
    if mode == "off":
        return
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
    )

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if mode == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    global _enabled
    _enabled = True
    log.info("tracing on: %s", mode)


def enabled() -> bool:
    """Whether `configure` turned spans on. Kept in a flag: the API's own answer looks in
    the environment on every call while no provider is set, once per message and
    publish."""
    return _enabled


def parent_of(traceparent: str | None) -> Context | None:
    return _propagator.extract({"traceparent": traceparent}) if traceparent else None


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


@contextlib.contextmanager
def consuming(context: MessageContext, queue: str) -> Iterator[MessageContext]:
    """A consumer span for one message; yields its context with this span as parent."""
    if not enabled():
        yield context
        return
    attributes = {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": "process",
        "messaging.destination.name": context.exchange,
        "messaging.rabbitmq.destination.routing_key": context.name,
        "messaging.message.id": context.message_id or "",
        "messaging.message.conversation_id": context.correlation_id or "",
        "messaging.consumer.group.name": queue,
    }
    with tracer.start_as_current_span(
        f"process {context.name}",
        context=parent_of(context.traceparent),
        kind=SpanKind.CONSUMER,
        attributes=attributes,
    ):
        yield dataclasses.replace(context, traceparent=current_traceparent())


@contextlib.contextmanager
def publishing(name: str, traceparent: str | None, **attributes: Any) -> Iterator[str | None]:
    """A producer span under the given parent; yields the traceparent to send on."""
    if not enabled():
        yield traceparent
        return
    with tracer.start_as_current_span(
        f"publish {name}",
        context=parent_of(traceparent),
        kind=SpanKind.PRODUCER,
        attributes={"messaging.system": "rabbitmq", **attributes},
    ):
        yield current_traceparent()


class DatabaseSpans:
    """Client spans for database commands, opened and closed by PyMongo's monitoring."""

    def __init__(self) -> None:
        self._open: dict[int, Span] = {}

    def started(self, request_id: int, command: str, database: str, collection: Any) -> None:
        if not enabled():
            return
        self._open[request_id] = tracer.start_span(
            f"{command} {collection}" if isinstance(collection, str) else command,
            kind=SpanKind.CLIENT,
            attributes={
                "db.system.name": "mongodb",
                "db.operation.name": command,
                "db.namespace": database,
                **({"db.collection.name": collection} if isinstance(collection, str) else {}),
            },
        )

    def ended(self, request_id: int, failure: Mapping[str, Any] | None = None) -> None:
        span = self._open.pop(request_id, None)
        if span is None:
            return
        if failure is not None:
            span.set_status(Status(StatusCode.ERROR, str(failure.get("errmsg", ""))))
        span.end()
