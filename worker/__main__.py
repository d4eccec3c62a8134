"""`python -m worker` runs the worker; `python -m worker check` probes its services."""

import argparse
import asyncio
import logging
import signal
import sys

from pydantic import ValidationError

from .bootstrap import Service
from .settings import Settings

log = logging.getLogger("worker")


async def serve(settings: Settings) -> None:
    service = Service(settings)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await service.start()
    await stopping.wait()
    log.info("stopping: finishing the messages in flight")
    await service.stop()


async def check(settings: Settings) -> bool:
    """Both services answer: the database pings and the broker accepts a connection."""
    service = Service(settings)
    try:
        await asyncio.wait_for(service.mongo.admin.command("ping"), 5)
        await asyncio.wait_for(service.broker.connect(), 5)
        return True
    except Exception as error:  # noqa: BLE001 - any failure means unhealthy
        print(f"unhealthy: {type(error).__name__}", file=sys.stderr)
        return False
    finally:
        await service.broker.stop()
        await service.mongo.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worker", description=__doc__)
    parser.add_argument("command", nargs="?", choices=["run", "check"], default="run")
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as error:
        print(f"invalid settings: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    if args.command == "check":
        return 0 if asyncio.run(check(settings)) else 1
    asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
