"""`python -m pizzeria_bench.baseline place|rpc|rpc-no-db`: one contender, until SIGTERM.

It says `{"ready": true}` on stdout when it consumes, and its counts since then
as one JSON line on SIGUSR1 and when it stops.
"""

import argparse
import asyncio
import signal

import aio_pika
from pymongo import AsyncMongoClient

from .counting import Counts, say
from .place import PlaceOrders
from .rpc import GetOrders


async def serve(args: argparse.Namespace) -> None:
    counts = Counts()
    mongo: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        args.mongodb_url, tz_aware=True, event_listeners=[counts]
    )
    database = mongo[args.database]
    connection = await aio_pika.connect_robust(args.amqp_url)
    channel = await connection.channel(publisher_confirms=True)
    if args.kind == "place":
        await PlaceOrders(database, counts).start(channel, args.prefetch)
    else:
        views = database["order_views"]
        await GetOrders(views, counts, read=args.kind == "rpc").start(channel, args.prefetch)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    loop.add_signal_handler(signal.SIGUSR1, lambda: say(counts.report()))
    counts.reset()
    say({"ready": True})
    await stopping.wait()
    await channel.close()
    await connection.close()
    await mongo.close()
    say(counts.report())


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m pizzeria_bench.baseline")
    parser.add_argument("kind", choices=["place", "rpc", "rpc-no-db"])
    parser.add_argument("--amqp-url", required=True)
    parser.add_argument("--mongodb-url", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--prefetch", type=int, default=100)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
