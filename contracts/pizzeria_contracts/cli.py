"""`pizzeria`: send commands, ask queries and watch events from a shell.

Exit codes follow the result, so scripts can branch on them: 0 success,
2 usage, 3 bad request (400), 4 not found (404), 5 conflict (409),
6 unauthorized or forbidden (401/403), 7 server error (500),
8 no answer (timeout or no connection).
"""

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from . import names
from .results import OperationResult

EXIT_CODES = {400: 3, 401: 6, 403: 6, 404: 4, 409: 5}
NO_ANSWER = 8

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
        "--url", default=os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
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

    for verb, what in (("send", "a command"), ("ask", "a query")):
        raw = sub.add_parser(verb, help=f"{what} by name, body as JSON (argument or stdin)")
        raw.add_argument("name")
        raw.add_argument("body", nargs="?", help="JSON; read from stdin when left out")
        if verb == "send":
            raw.add_argument("--message-id")

    events = sub.add_parser("events", help="print events as they happen")
    events.add_argument("pattern", nargs="?", default="#", help="topic pattern, e.g. 'orders.*'")
    events.add_argument("--json", action="store_true", help="one JSON object per line")
    return top


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
    text = args.body if args.body is not None else sys.stdin.read()
    return command, args.name, json.loads(text)


def show(result: OperationResult) -> int:
    if result.ok:
        print(json.dumps(result.data, indent=2))
        return 0
    print(json.dumps(result.model_dump(mode="json"), indent=2), file=sys.stderr)
    return EXIT_CODES.get(result.status, 7)


async def run(args: argparse.Namespace) -> int:
    from .client import PizzeriaClient  # the client extra is needed from here on

    async with PizzeriaClient(args.url, timeout=args.timeout) as client:
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


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
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
