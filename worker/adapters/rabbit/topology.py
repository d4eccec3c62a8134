"""The exchanges and queues of the contract, declared idempotently at start-up.

Commands and queries with a name no handler knows are not lost: their
exchanges route the unroutable to `pizzeria.unrouted`, whose queue is the
worker's command queue, where they are dead-lettered as `unknown-message`.
"""

from collections.abc import Iterable

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

DEAD_LETTER_QUEUE = RabbitQueue(names.DEAD_LETTER_QUEUE, durable=True)
COMMANDS_QUEUE = RabbitQueue(names.COMMANDS_QUEUE, durable=True)
QUERIES_QUEUE = RabbitQueue(names.QUERIES_QUEUE, durable=True)


def delay_queues(attempts: int) -> list[RabbitQueue]:
    """One queue per retry of a command: a message waits there for its expiration,
    then RabbitMQ dead-letters it back into the command queue (no plugin needed)."""
    return [
        RabbitQueue(
            delay_queue(names.COMMANDS_QUEUE, attempt),
            durable=True,
            arguments={
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": names.COMMANDS_QUEUE,
            },
        )
        for attempt in range(1, attempts + 1)
    ]


async def declare(
    broker: RabbitBroker, commands: Iterable[str], queries: Iterable[str], retry_attempts: int
) -> None:
    """Declare every exchange and queue and bind the worker's queues by message name."""
    await broker.declare_exchange(UNROUTED)
    exchanges = {
        exchange.name: await broker.declare_exchange(exchange)
        for exchange in (COMMANDS, QUERIES, EVENTS, DEAD_LETTER)
    }
    dead_letters = await broker.declare_queue(DEAD_LETTER_QUEUE)
    await dead_letters.bind(exchanges[names.DEAD_LETTER_EXCHANGE], routing_key="")
    command_queue = await broker.declare_queue(COMMANDS_QUEUE)
    await command_queue.bind(names.UNROUTED_EXCHANGE, routing_key="")
    for name in commands:
        await command_queue.bind(exchanges[names.COMMANDS_EXCHANGE], routing_key=name)
    query_queue = await broker.declare_queue(QUERIES_QUEUE)
    for name in queries:
        await query_queue.bind(exchanges[names.QUERIES_EXCHANGE], routing_key=name)
    for queue in delay_queues(retry_attempts):
        await broker.declare_queue(queue)
