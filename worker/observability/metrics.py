"""Prometheus metrics of the worker, in a registry of its own."""

import functools

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ..application.behaviours import Ending, observed
from ..application.mediator import Message, Next, Outcome


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages = Counter(
            "pizzeria_messages",
            "Messages handled, by name, outcome and status",
            ["name", "outcome", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "pizzeria_message_duration_seconds",
            "Time from a message's arrival in the pipeline to its outcome",
            ["name"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "pizzeria_messages_in_flight", "Messages being handled now", registry=self.registry
        )
        self.retries = Counter(
            "pizzeria_retries", "Commands parked for a retry", ["name"], registry=self.registry
        )
        self.dead_letters = Counter(
            "pizzeria_dead_letters", "Messages dead-lettered", ["reason"], registry=self.registry
        )
        self.outbox_backlog = Gauge(
            "pizzeria_outbox_backlog_documents",
            "Documents whose events failed to publish and wait to go again, as of the last pass",
            registry=self.registry,
        )
        self.outbox_oldest = Gauge(
            "pizzeria_outbox_oldest_event_age_seconds",
            "Age of the oldest event that failed to publish and waits, as of the last pass",
            registry=self.registry,
        )
        self.database_commands = Counter(
            "pizzeria_database_commands",
            "Commands sent to the database (round trips), by command",
            ["command"],
            registry=self.registry,
        )
        self.publishes = Counter(
            "pizzeria_broker_publishes",
            "Messages published to RabbitMQ, counted as sent (a failed publish too), by kind "
            "(event, reply, dead-letter, retry)",
            ["kind"],
            registry=self.registry,
        )
        self.deadlines = Counter(
            "pizzeria_deadlines",
            "Deadlines acted on: kitchen-late, kitchen-timeout (cancelled), delivery-late",
            ["action"],
            registry=self.registry,
        )
        self.connected = Gauge(
            "pizzeria_connection_up",
            "1 when the service answers, 0 when it does not",
            ["service"],
            registry=self.registry,
        )
        # The children the hot path counts into, each looked up once: `labels()` checks
        # and locks on every call (10 us of the 16 four calls cost per query).
        self.message_counted = functools.cache(self.messages.labels)
        self.message_timed = functools.cache(self.duration.labels)
        self.command_counted = functools.cache(self.database_commands.labels)
        self.publish_counted = functools.cache(self.publishes.labels)


class MetricsBehaviour:
    """Counts every message by name (`unknown` for names no handler has), outcome and
    status, and times it. A message cancelled before its outcome is not counted: it is
    counted when it comes back."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    async def __call__(self, message: Message, next_: Next) -> Outcome:
        self._metrics.in_flight.inc()
        return await observed(message, next_, functools.partial(self._count, message))

    def _count(self, message: Message, ending: Ending) -> None:
        metrics = self._metrics
        metrics.in_flight.dec()
        if ending.status is None:  # cancelled: counted when it comes back
            return
        name = message.name if message.route else "unknown"
        metrics.message_timed(name).observe(ending.seconds)
        metrics.message_counted(name, ending.kind, str(ending.status)).inc()
