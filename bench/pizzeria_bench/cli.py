"""`pizzeria-bench` (or `python -m pizzeria_bench`): run the scenarios, print the table (or
JSON), draw the chart."""

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .results import Report, markdown

DEFAULTS = {"place": "orders.place against the baseline", "get": "orders.get against raw RPC",
            "memory": "the worker's RSS under queries, then commands"}  # fmt: skip


def _counts(text: str) -> tuple[int, ...]:
    return tuple(int(part.replace("_", "")) for part in text.split(","))


def _in_flight(text: str) -> tuple[int, int]:
    commands, _, queries = text.partition("/")
    return int(commands), int(queries or commands)


def parser() -> argparse.ArgumentParser:
    bench = argparse.ArgumentParser(
        prog="pizzeria-bench",
        description="The worker against hand-written aio-pika + pymongo, each contender "
        "its own process, on the broker of --url (give it a virtual host of its own) and "
        "the database of --mongodb-url. Progress goes to stderr, results to stdout.",
    )
    bench.add_argument(
        "--url",
        default=os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
        help="RabbitMQ (default: $AMQP_URL)",
    )
    bench.add_argument("--mongodb-url", default=os.environ.get("MONGODB_URL",
                       "mongodb://127.0.0.1:27017/"))  # fmt: skip
    bench.add_argument("--commands", type=int, default=2_000, help="orders.place per contender")
    bench.add_argument("--queries", type=int, default=2_000, help="orders.get per contender")
    bench.add_argument("--sequential", type=int, default=500, help="orders.get one at a time")
    bench.add_argument("--in-flight", type=_in_flight, default=(100, 50), metavar="C/Q",
                       help="commands/queries in flight (default 100/50)")  # fmt: skip
    bench.add_argument("--phones", type=int, default=50, help="distinct customers")
    bench.add_argument("--orders-to-read", type=int, default=50, help="orders.get reads these")
    bench.add_argument("--rss-queries", type=_counts, default=(10_000, 50_000), metavar="N,N",
                       help="worker RSS after this many queries (default 10000,50000)")  # fmt: skip
    bench.add_argument("--rss-commands", type=int, default=10_000,
                       help="then after this many more commands")  # fmt: skip
    bench.add_argument("--prefetch", type=int, default=100)
    bench.add_argument("--scenario", action="append", choices=list(DEFAULTS),
                       help="run only these (repeat); default: all")  # fmt: skip
    bench.add_argument(
        "--worker-log-level",
        default="INFO",
        choices=["DEBUG", "INFO"],
        help="the worker's (default INFO; the bench reads the start-up line it logs at INFO)",
    )
    bench.add_argument("--timeout", type=float, default=30.0, help="seconds per call")
    bench.add_argument("--logs", type=Path, metavar="DIR", help="keep the contenders' logs here")
    bench.add_argument("--json", action="store_true", help="the results as one JSON object")
    bench.add_argument("--chart", type=Path, metavar="FILE", help="draw the results (PNG)")
    return bench


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from worker.progress import progress

    from .scenarios import SCENARIOS
    from .session import Options, Session

    commands_in_flight, queries_in_flight = args.in_flight
    options = Options(
        amqp_url=args.url,
        mongodb_url=args.mongodb_url,
        commands=args.commands,
        queries=args.queries,
        sequential=args.sequential,
        command_in_flight=commands_in_flight,
        query_in_flight=queries_in_flight,
        phones=args.phones,
        rpc_orders=args.orders_to_read,
        rss_queries=args.rss_queries,
        rss_commands=args.rss_commands,
        prefetch=args.prefetch,
        scenarios=tuple(args.scenario or DEFAULTS),
        worker_log_level=args.worker_log_level,
        timeout=args.timeout,
    )

    async def run(workdir: Path) -> Report:
        # SIGTERM ends the run as Ctrl-C does: the contenders it started are stopped too.
        running = asyncio.current_task()
        assert running is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, running.cancel)
        with progress() as bar:
            session = Session(options, bar, workdir)
            async with session.open():
                for name in options.scenarios:
                    try:
                        await SCENARIOS[name](session)
                    except Exception as error:  # noqa: BLE001 - the other scenarios still run
                        session.report.checks.append(f"scenario {name} failed: {error!r}")
            return session.report

    from .processes import ContenderError

    try:
        if args.logs is not None:
            args.logs.mkdir(parents=True, exist_ok=True)
            report = asyncio.run(run(args.logs.resolve()))
        else:
            with tempfile.TemporaryDirectory(prefix="pizzeria-bench-") as workdir:
                report = asyncio.run(run(Path(workdir)))
    except ContenderError as error:
        print(f"pizzeria-bench: {error}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("pizzeria-bench: stopped; its contenders were stopped too", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        print(markdown(report))
    if args.chart is not None:
        from .chart import draw

        draw(report, args.chart)
    return 0
