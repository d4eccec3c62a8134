"""`python -m worker` runs the worker; `python -m worker check` probes its services;
`python -m worker rebuild sales|orders|deadlines` rebuilds a read model from the stored orders
while the workers run."""

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable

from pydantic import ValidationError

from .adapters.mongo.database import connect
from .adapters.mongo.readmodels import RebuildRunningError, known_after_seconds
from .adapters.mongo.rebuild import PACE, rebuild, rebuildable
from .adapters.mongo.rebuild import describe as describe_rebuild
from .application.authorization import PolicyError
from .bootstrap import Service
from .entrypoints.console import ConsoleSettingsError
from .observability import logs, tracing
from .progress import progress
from .settings import Settings, describe, env_name, mask

log = logging.getLogger("worker")


async def serve(settings: Settings) -> int:
    service = Service(settings)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    try:
        await service.start()
    except Exception as error:  # noqa: BLE001 - say what could not be reached, then exit
        log.error(
            "could not start: %s (RabbitMQ %s, MongoDB %s)",
            f"{type(error).__name__}: {error}",
            mask(settings.amqp_url.get_secret_value()),
            mask(settings.mongodb_url.get_secret_value()),
        )
        await service.stop()
        return 1
    await stopping.wait()
    log.info("stopping: finishing the messages in flight")
    await service.stop()
    return 0


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


async def rebuild_read_model(settings: Settings, name: str, force: bool, pace: float) -> int:
    """Rebuild one read model into a fresh copy, with a progress bar on stderr."""
    database_client = connect(
        settings.mongodb_url.get_secret_value(),
        serverSelectionTimeoutMS=int(settings.mongodb_timeout_seconds * 1000),
        timeoutMS=int(settings.mongodb_operation_timeout_seconds * 1000),
    )
    model = rebuildable(settings.sales_time_zone, settings.timeouts)[name]
    try:
        with progress() as bars:
            result = await rebuild(
                database_client[settings.mongodb_database],
                model,
                known_after_seconds=known_after_seconds(settings.read_model_refresh_seconds),
                stage=bars.stage,
                force=force,
                pace=pace,
            )
            bars.note(describe_rebuild(result))
        return 0
    except RebuildRunningError as error:
        print(f"not started: {error}", file=sys.stderr)
        return 1
    finally:
        await database_client.close()


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if name == "uvloop":
        try:
            import uvloop
        except ImportError:
            log.warning("uvloop is not installed: running on asyncio's own event loop")
        else:
            return uvloop.new_event_loop
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worker", description=__doc__)
    parser.add_argument("command", nargs="?", choices=["run", "check", "rebuild"], default="run")
    parser.add_argument(
        "read_model",
        nargs="?",
        choices=["sales", "orders", "deadlines"],
        help="with rebuild: which one",
    )
    parser.add_argument(
        "--force", action="store_true", help="with rebuild: drop the copy of one that died"
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=PACE,
        help=f"with rebuild: orders a second at most (default {PACE:g}; 0: no limit)",
    )
    args = parser.parse_args(argv)
    if (args.command == "rebuild") != (args.read_model is not None):
        parser.error("rebuild takes the read model to rebuild (sales or orders); nothing else does")
    try:
        settings = Settings()
    except ValidationError as error:
        print(describe(error), file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format)
    tracing.configure(settings.tracing)
    try:
        with asyncio.Runner(loop_factory=loop_factory(settings.event_loop)) as runner:
            if args.command == "check":
                return 0 if runner.run(check(settings)) else 1
            if args.command == "rebuild":
                return runner.run(
                    rebuild_read_model(settings, args.read_model, args.force, args.rate)
                )
            return runner.run(serve(settings))
    except PolicyError as error:
        print(f"invalid setting {env_name('authorization_policy')}: {error}", file=sys.stderr)
        return 2
    except ConsoleSettingsError as error:
        print(f"invalid console setting: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
