"""The exchanges and queues of the contract, declared idempotently at start-up.

Commands and queries with a name no handler knows are not lost: their
exchanges route the unroutable to `pizzeria.unrouted`, whose queue is the
worker's command queue, where they are dead-lettered as `unknown-message`.
"""

import dataclasses
from collections.abc import Iterable
from typing import Any, Literal

from faststream.rabbit import ExchangeType, RabbitBroker, RabbitExchange, RabbitQueue

from pizzeria_contracts import names

from .retry import delay_queue

UNROUTED = RabbitExchange(names.UNROUTED_EXCHANGE, type=ExchangeType.FANOUT, durable=True)
COMMANDS = RabbitExchange(
    names.COMMANDS_EXCHANGE,
    type=ExchangeType.DIRECT,
    durable=True,
    arguments={"alternate-exchange": names.UNROUTED_EXCHANGE},
)
QUERIES = RabbitExchange(
    names.QUERIES_EXCHANGE,
    type=ExchangeType.DIRECT,
    durable=True,
    arguments={"alternate-exchange": names.UNROUTED_EXCHANGE},
)
EVENTS = RabbitExchange(names.EVENTS_EXCHANGE, type=ExchangeType.TOPIC, durable=True)
DEAD_LETTER = RabbitExchange(names.DEAD_LETTER_EXCHANGE, type=ExchangeType.FANOUT, durable=True)

QueueType = Literal["classic", "quorum"]


ANY_SHARD_QUEUE = f"{names.COMMANDS_QUEUE}.any"
"""With shards: the commands about no order (`orders.place`, the menu's), for every worker."""


def shard_queue(index: int) -> str:
    return f"{names.COMMANDS_QUEUE}.shard-{index}"


@dataclasses.dataclass(frozen=True)
class Queues:
    """The queues the worker declares; quorum queues replicate across a cluster.

    With shards, commands arrive in `commands` as before, whose one active consumer
    forwards each in arrival order to `shards[hash of its order id]` or to `any`."""

    commands: RabbitQueue
    queries: RabbitQueue
    dead_letter: RabbitQueue
    delays: list[RabbitQueue]
    shards: list[RabbitQueue] = dataclasses.field(default_factory=list)
    any: RabbitQueue | None = None

    @classmethod
    def of(cls, queue_type: QueueType, retry_attempts: int, shards: int = 0) -> "Queues":
        def queue(name: str, **arguments: Any) -> RabbitQueue:
            if queue_type == "quorum":  # classic is the default: declared as before
                arguments["x-queue-type"] = "quorum"
            return RabbitQueue(name, durable=True, arguments=arguments or None)  # type: ignore[arg-type]

        one_at_a_time = {"x-single-active-consumer": True} if shards else {}
        return cls(
            commands=queue(names.COMMANDS_QUEUE, **one_at_a_time),
            queries=queue(names.QUERIES_QUEUE),
            dead_letter=queue(names.DEAD_LETTER_QUEUE),
            shards=[queue(shard_queue(i), **one_at_a_time) for i in range(shards)],
            any=queue(ANY_SHARD_QUEUE) if shards else None,
            # A failed command waits in the queue of its retry for its expiration,
            # then RabbitMQ dead-letters it back into the command queue: no plugin.
            delays=[
                queue(
                    delay_queue(names.COMMANDS_QUEUE, attempt),
                    **{
                        "x-dead-letter-exchange": "",
                        "x-dead-letter-routing-key": names.COMMANDS_QUEUE,
                    },
                )
                for attempt in range(1, retry_attempts + 1)
            ],
        )


async def declare(
    broker: RabbitBroker, queues: Queues, commands: Iterable[str], queries: Iterable[str]
) -> None:
    """Declare every exchange and queue and bind the worker's queues by message name."""
    await broker.declare_exchange(UNROUTED)
    exchanges = {
        exchange.name: await broker.declare_exchange(exchange)
        for exchange in (COMMANDS, QUERIES, EVENTS, DEAD_LETTER)
    }
    dead_letters = await broker.declare_queue(queues.dead_letter)
    await dead_letters.bind(exchanges[names.DEAD_LETTER_EXCHANGE], routing_key="")
    command_queue = await broker.declare_queue(queues.commands)
    await command_queue.bind(names.UNROUTED_EXCHANGE, routing_key="")
    for name in commands:
        await command_queue.bind(exchanges[names.COMMANDS_EXCHANGE], routing_key=name)
    query_queue = await broker.declare_queue(queues.queries)
    for name in queries:
        await query_queue.bind(exchanges[names.QUERIES_EXCHANGE], routing_key=name)
    for queue in [*queues.delays, *queues.shards, *([queues.any] if queues.any else [])]:
        await broker.declare_queue(queue)
