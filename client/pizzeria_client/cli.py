"""`pizzeria`: send commands, ask queries and watch events from a shell.

Exit codes follow the result, so scripts can branch on them: 0 success,
2 usage, 3 bad request (400), 4 not found (404), 5 conflict (409),
6 unauthorized or forbidden (401/403), 7 server error (500),
8 no answer (timeout or no connection).

`pizzeria dead-letters list|show|replay|purge` works on the dead-letter queue:
0 done, 1 some could not be replayed (they stay), 2 usage, 4 no such dead
letter (`show`), 8 no connection or no such queue.

`pizzeria load` places orders and prints what it measured: 0 every call
succeeded, 1 some failed or timed out, 8 no connection or no menu.
"""

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pizzeria_contracts import names
from pizzeria_contracts.results import OperationResult

if TYPE_CHECKING:
    from .client import PizzeriaClient
    from .deadletters import DeadLetter, Report

EXIT_CODES = {400: 3, 401: 6, 403: 6, 404: 4, 409: 5}
NO_ANSWER = 8
DONE = {"replay": "replayed", "purge": "purged"}

LIFECYCLE = {
    "cook": names.START_COOKING,
    "ready": names.MARK_READY,
    "deliver": names.DELIVER_ORDER,
}


def parse_pizza(text: str) -> dict[str, Any]:
    """`name[:size[:topping,topping]]`, e.g. `margherita:large:basil,olives`."""
    name, _, rest = text.partition(":")
    size, _, toppings = rest.partition(":")
    return {
        "name": name,
        "size": size or "medium",
        "toppings": [t for t in toppings.split(",") if t],
    }


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="pizzeria", description=__doc__.splitlines()[0])
    top.add_argument(
        "--url",
        default=os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
        help="RabbitMQ (default: $AMQP_URL); for TLS amqps://HOST:5671/?cafile=CA.pem"
        " (and certfile=, keyfile= for a client certificate)",
    )
    top.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for a reply")
    sub = top.add_subparsers(dest="command", required=True)

    place = sub.add_parser("place", help="place an order (orders.place)")
    place.add_argument("--name", required=True)
    place.add_argument("--phone", required=True)
    place.add_argument("--address")
    place.add_argument("--email")
    place.add_argument(
        "--pizza",
        action="append",
        default=[],
        type=parse_pizza,
        metavar="NAME[:SIZE[:TOPPINGS]]",
        help="repeat for each pizza; size defaults to medium, toppings are comma-separated "
        "(margherita:large:basil,olives)",
    )
    place.add_argument("--payment", default="cash", choices=["cash", "card", "online"])
    place.add_argument("--notes")
    place.add_argument("--message-id", help="idempotency key; re-use it to retry safely")

    get = sub.add_parser("get", help="read an order (orders.get)")
    get.add_argument("order_id")

    for verb, name in LIFECYCLE.items():
        one = sub.add_parser(verb, help=f"{name}")
        one.add_argument("order_id")
    assign = sub.add_parser("assign", help=names.ASSIGN_DELIVERY)
    assign.add_argument("order_id")
    assign.add_argument("driver")
    cancel = sub.add_parser("cancel", help=names.CANCEL_ORDER)
    cancel.add_argument("order_id")
    cancel.add_argument("--reason")

    sub.add_parser("menu", help="the menu with prices (menu.get)")
    late = sub.add_parser("late", help="the late orders, oldest deadline first (orders.list-late)")
    late.add_argument("--limit", type=int, default=20)
    sales = sub.add_parser("sales", help="sales per day (sales.daily), today's by default")
    sales.add_argument("--from", dest="first", help="first day, YYYY-MM-DD")
    sales.add_argument("--to", dest="last", help="last day, YYYY-MM-DD (default: --from)")

    for verb, what in (("send", "a command"), ("ask", "a query")):
        raw = sub.add_parser(verb, help=f"{what} by name, body as JSON (argument or stdin)")
        raw.add_argument("name")
        raw.add_argument("body", nargs="?", help="JSON; read from stdin when left out")
        if verb == "send":
            raw.add_argument("--message-id")

    events = sub.add_parser("events", help="print events as they happen")
    events.add_argument("pattern", nargs="?", default="#", help="topic pattern, e.g. 'orders.*'")
    events.add_argument("--json", action="store_true", help="one JSON object per line")
    add_dead_letter_commands(sub)
    add_load_command(sub)
    return top


def add_dead_letter_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    dead = sub.add_parser("dead-letters", help="list, show, replay or purge dead letters")
    dead.add_argument("--queue", default=names.DEAD_LETTER_QUEUE, help="default: %(default)s")
    action = dead.add_subparsers(dest="action", required=True)
    listing = action.add_parser("list", help="one line per dead letter; removes nothing")
    add_filters(listing)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    show = action.add_parser("show", help="properties, headers and body of a dead letter")
    show.add_argument("message_id")
    show.add_argument("--json", action="store_true")
    for verb, what in (
        ("replay", "publish them again where they first arrived, then remove them"),
        ("purge", "remove them for good"),
    ):
        one = action.add_parser(verb, help=f"{what}; needs a filter or --all")
        add_filters(one)
        one.add_argument("--all", action="store_true", help="every dead letter")
        one.add_argument("--dry-run", action="store_true", help="only say what would happen")


def positive(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return number


def add_load_command(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    load = sub.add_parser(
        "load", help="place orders with K in flight; progress on stderr, a summary on stdout"
    )
    load.add_argument("--orders", type=positive, default=100, metavar="N", help="default: 100")
    load.add_argument(
        "--in-flight", type=positive, default=10, metavar="K", help="orders at once; default: 10"
    )
    load.add_argument(
        "--lifecycle", action="store_true", help="cook, ready, assign and deliver each order"
    )
    load.add_argument(
        "--window",
        type=positive,
        default=1_000,
        metavar="W",
        help="compare the throughput of the first W orders with the last W (with at least "
        "2W orders); default: 1000",
    )


def add_filters(command: argparse.ArgumentParser) -> None:
    command.add_argument("--reason", help="x-error-reason, e.g. retries-exhausted")
    command.add_argument("--routing-key", help="x-original-routing-key, e.g. orders.place")
    command.add_argument("--id", dest="message_id", metavar="MESSAGE_ID")
    command.add_argument("--limit", type=int, help="stop after this many matching dead letters")


def request_of(args: argparse.Namespace) -> tuple[str, str, Any]:
    """(kind, name, body) of the request the arguments describe."""
    command = args.command
    if command == "place":
        body = {
            "customer_name": args.name,
            "customer_phone": args.phone,
            "customer_address": args.address,
            "customer_email": args.email,
            "pizzas": args.pizza,
            "payment_method": args.payment,
            "notes": args.notes,
        }
        return "send", names.PLACE_ORDER, {k: v for k, v in body.items() if v is not None}
    if command == "get":
        return "ask", names.GET_ORDER, {"order_id": args.order_id}
    if command in LIFECYCLE:
        return "send", LIFECYCLE[command], {"order_id": args.order_id}
    if command == "assign":
        return "send", names.ASSIGN_DELIVERY, {"order_id": args.order_id, "driver": args.driver}
    if command == "cancel":
        return "send", names.CANCEL_ORDER, {"order_id": args.order_id, "reason": args.reason}
    if command == "menu":
        return "ask", names.GET_MENU, {}
    if command == "late":
        return "ask", names.LIST_LATE_ORDERS, {"limit": args.limit}
    if command == "sales":
        first = args.first or datetime.now(UTC).date().isoformat()
        return "ask", names.DAILY_SALES, {"from": first, "to": args.last or first}
    text = args.body if args.body is not None else sys.stdin.read()
    return command, args.name, json.loads(text)


def show(result: OperationResult) -> int:
    if result.ok:
        print(json.dumps(result.data, indent=2))
        return 0
    print(json.dumps(result.model_dump(mode="json"), indent=2), file=sys.stderr)
    return EXIT_CODES.get(result.status, 7)


async def run(args: argparse.Namespace) -> int:
    from .client import PizzeriaClient  # aio-pika only from here on: `--help` stays quick

    if args.command == "dead-letters":
        return await run_dead_letters(args)
    async with PizzeriaClient(args.url, timeout=args.timeout) as client:
        if args.command == "load":
            return await run_load(client, args)
        if args.command == "events":
            async for event in client.events(args.pattern):
                if args.json:
                    print(
                        json.dumps({"name": event.name, "id": event.message_id, "data": event.data})
                    )
                else:
                    subject = event.headers.get("cloudEvents:subject", "")
                    print(f"{event.name:28} {subject}  {json.dumps(event.data)}", flush=True)
            return 0
        kind, name, body = request_of(args)
        if kind == "send":
            message_id = getattr(args, "message_id", None)
            return show(await client.send(name, body, message_id=message_id))
        return show(await client.ask(name, body))


async def run_load(client: "PizzeriaClient", args: argparse.Namespace) -> int:
    from . import load

    plan = load.Plan(args.orders, args.in_flight, args.lifecycle, window=args.window)
    stats = await load.run_load(client, plan)
    print("\n".join(stats.summary()))
    return 1 if stats.failed else 0


def usage_problem(args: argparse.Namespace) -> str | None:
    if args.command != "dead-letters" or args.action not in ("replay", "purge"):
        return None
    filtered = any(v is not None for v in (args.reason, args.routing_key, args.message_id))
    if not filtered and not args.all:
        return "needs --reason, --routing-key or --id, or --all"
    if filtered and args.all:
        return "--all does not go with --reason, --routing-key or --id"
    return None


async def run_dead_letters(args: argparse.Namespace) -> int:
    import aio_pika

    from .deadletters import DeadLetterQueueNotFoundError, DeadLetters, Filter

    async with await aio_pika.connect(args.url, timeout=args.timeout) as connection:
        tool = DeadLetters(connection, args.queue)
        try:
            if args.action == "show":
                report = await tool.list(Filter(message_id=args.message_id))
                for number, letter in enumerate(report.matched):
                    if number and not args.json:
                        print()  # a blank line between letters that share a message_id
                    show_letter(letter, args.json)
                return 0 if report.matched else 4
            where = Filter(args.reason, args.routing_key, args.message_id)
            if args.action == "list":
                report = await tool.list(where, limit=args.limit)
                for letter in report.matched:
                    print(json.dumps(letter.summary()) if args.json else line_of(letter))
            elif args.action == "replay":
                report = await tool.replay(where, dry_run=args.dry_run, limit=args.limit)
            else:
                report = await tool.purge(where, dry_run=args.dry_run, limit=args.limit)
        except DeadLetterQueueNotFoundError:
            print(f"no queue {args.queue!r} on this virtual host", file=sys.stderr)
            return NO_ANSWER
    summarize(args, report)
    return 1 if report.failed else 0


def line_of(letter: "DeadLetter") -> str:
    age = letter.age()
    where = f"{letter.original_exchange or '(default)'}/{letter.original_routing_key or ''}"
    return "  ".join(
        (
            f"{letter.message_id or '-':32}",
            f"{letter.reason or '-':18}",
            f"{where:40}",
            f"{letter.size:>7}B",
            f"{'-' if age is None else duration(age.total_seconds()):>6}",
            (letter.detail or "").replace("\n", " ")[:80],
        )
    )


def duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size:.0f}{unit}"
    return f"{max(seconds, 0):.0f}s"


def show_letter(letter: "DeadLetter", as_json: bool) -> None:
    if as_json:
        print(json.dumps(letter.as_json()))
        return
    full = letter.as_json()
    print(f"dead letter {letter.position} in the queue, {letter.size} bytes")
    for section in ("properties", "headers"):
        print(f"{section}:")
        for name, value in full[section].items():
            plain = isinstance(value, str) and value.isprintable()
            print(f"  {name}: {value if plain else json.dumps(value)}")
    text = letter.text
    print("body:" if text is not None else "body (not UTF-8, hex):")
    print(text if text is not None else letter.body.hex(" ", 16))


def summarize(args: argparse.Namespace, report: "Report") -> None:
    """What was done to each letter, then the counts; warnings go to stderr."""
    for letter, why in report.skipped:
        print(f"skipped {letter.message_id}: {why}", file=sys.stderr)
    for letter, why in report.failed:
        print(f"failed {letter.message_id}: {why}; it stays", file=sys.stderr)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not report.complete:
        print(
            f"warning: stopped after {report.scanned} of {report.queued} messages, the most "
            "it holds at once; the rest were not looked at (narrow the filter)",
            file=sys.stderr,
        )
    if args.action == "list":
        print(f"{len(report.matched)} of {report.scanned} dead letters", file=sys.stderr)
        return
    done = f"would {args.action}" if report.dry_run else DONE[args.action]
    for letter in report.done:
        target = f" -> {letter.original_exchange or '(default)'}/{letter.original_routing_key}"
        print(f"{done} {letter.message_id}{target if args.action == 'replay' else ''}")
    counts = f"{done} {len(report.done)}"
    if args.action == "replay":
        counts += f", skipped {len(report.skipped)}, failed {len(report.failed)}"
    dry = " (dry run: nothing changed)" if report.dry_run else ""
    print(f"{counts}; {report.kept} kept in {args.queue}{dry}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    problem = usage_problem(args)
    if problem is not None:
        print(f"pizzeria dead-letters {args.action}: {problem}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(run(args))
    except TimeoutError:
        print(f"no reply within {args.timeout:g} s: is the worker running?", file=sys.stderr)
        return NO_ANSWER
    except (ConnectionError, OSError) as error:
        print(f"cannot reach RabbitMQ at {args.url.split('@')[-1]}: {error}", file=sys.stderr)
        return NO_ANSWER
    except json.JSONDecodeError as error:
        print(f"the body is not JSON: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
