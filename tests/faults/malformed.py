"""Malformed messages of many kinds, each with the dead-letter reason the contract names."""

import dataclasses
import gzip
import json
import random
from collections.abc import Callable
from typing import Any

from tests.e2e.amqp import COMMANDS, QUERIES
from worker.settings import Settings

MAX_BODY_BYTES: int = Settings.model_fields["max_body_bytes"].default


@dataclasses.dataclass(frozen=True)
class Bad:
    kind: str
    exchange: str
    routing_key: str
    body: bytes
    reason: str
    """The `x-error-reason` its dead letter must carry."""
    with_message_id: bool = True
    content_type: str | None = "application/json"
    headers: dict[str, Any] = dataclasses.field(default_factory=dict)


def _order(rng: random.Random, **changes: Any) -> dict[str, Any]:
    order: dict[str, Any] = {
        "customer_name": "Flood Tester",
        "customer_phone": f"+39 011 {rng.randrange(10**7, 10**8)}",
        "pizzas": [{"name": "margherita", "size": "small"}],
    }
    order.update(changes)
    return {key: value for key, value in order.items() if value is not None}


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _garbage(rng: random.Random, size: int) -> bytes:
    return b"\xff" + rng.randbytes(size)  # 0xff never starts (or is part of) UTF-8 JSON


Maker = Callable[[random.Random], Bad]


def _place(kind: str, reason: str, body: Callable[[random.Random], bytes], **kw: Any) -> Maker:
    return lambda rng: Bad(kind, COMMANDS, "orders.place", body(rng), reason, **kw)


def _lifecycle(kind: str, reason: str, body: Callable[[random.Random], bytes]) -> Maker:
    names = ["orders.start-cooking", "orders.mark-ready", "orders.deliver", "orders.cancel"]
    return lambda rng: Bad(kind, COMMANDS, rng.choice(names), body(rng), reason)


def _truncated(rng: random.Random) -> bytes:
    whole = _json(_order(rng))
    return whole[: rng.randrange(1, len(whole) - 1)]


KINDS: list[Maker] = [
    # Not JSON at all.
    _place("truncated-json", "invalid-json", _truncated),
    _place("text", "invalid-json", lambda rng: b"x" + rng.choice([b"ml", b"yz pizza", b"<o/>"])),
    _place("single-quotes", "invalid-json", lambda rng: b"{'customer_name': 'Anna'}"),
    _place("trailing-comma", "invalid-json", lambda rng: b'{"customer_name": "Anna",}'),
    _place("empty-body", "invalid-json", lambda rng: b""),
    _place("byte-order-mark", "invalid-json", lambda rng: b"\xef\xbb\xbf" + _json(_order(rng))),
    _place("invalid-utf8", "invalid-json", lambda rng: b'{"customer_name": "\xc3\x28"}'),
    _place("deep-nesting", "invalid-json", lambda rng: b"[" * rng.randrange(100, 20_000)),
    _place("gzip-body", "invalid-json", lambda rng: gzip.compress(_json(_order(rng)))),
    _place(
        "binary-garbage",
        "invalid-json",
        lambda rng: _garbage(rng, rng.randrange(0, 4000)),
        content_type="application/octet-stream",
    ),
    _lifecycle("lifecycle-binary", "invalid-json", lambda rng: _garbage(rng, 64)),
    # JSON of the wrong shape.
    _place(
        "not-an-object", "invalid-message", lambda rng: rng.choice([b"[]", b"1", b'"x"', b"null"])
    ),
    _place("name-a-number", "invalid-message", lambda rng: _json(_order(rng, customer_name=42))),
    _place(
        "pizzas-a-string", "invalid-message", lambda rng: _json(_order(rng, pizzas="margherita"))
    ),
    _place(
        "pizza-name-a-number",
        "invalid-message",
        lambda rng: _json(_order(rng, pizzas=[{"name": 7, "size": "small"}])),
    ),
    _place(
        "unknown-payment",
        "invalid-message",
        lambda rng: _json(_order(rng, payment_method="bitcoin")),
    ),
    _place("missing-pizzas", "invalid-message", lambda rng: _json(_order(rng, pizzas=None))),
    _place("missing-phone", "invalid-message", lambda rng: _json(_order(rng, customer_phone=None))),
    _place(
        "phone-not-a-phone",
        "invalid-message",
        lambda rng: _json(_order(rng, customer_phone="call me")),
    ),
    _place(
        "too-many-pizzas",
        "invalid-message",
        lambda rng: _json(_order(rng, pizzas=[{"name": "margherita", "size": "small"}] * 21)),
    ),
    _place(
        "name-too-long", "invalid-message", lambda rng: _json(_order(rng, customer_name="N" * 101))
    ),
    _lifecycle(
        "order-id-wrong-type",
        "invalid-message",
        lambda rng: _json({"order_id": rng.choice([123, None, [], {}])}),
    ),
    _lifecycle("order-id-missing", "invalid-message", lambda rng: b"{}"),
    lambda rng: Bad(
        "driver-missing",
        COMMANDS,
        "orders.assign-delivery",
        _json({"order_id": "x"}),
        "invalid-message",
    ),
    lambda rng: Bad(
        "junk-headers",
        COMMANDS,
        "orders.start-cooking",
        _json({"order_id": 5}),
        "invalid-message",
        headers={
            "x-retry-attempt": rng.choice(["seven", -1, 99]),
            "x-nested": {"a": [1, "\x00", 2.5, True]},
        },
    ),
    # Too large to read.
    _place(
        "huge-json",
        "message-too-large",
        lambda rng: _json(_order(rng, notes="n" * rng.randrange(MAX_BODY_BYTES, 300_000))),
    ),
    _place(
        "huge-garbage",
        "message-too-large",
        lambda rng: _garbage(rng, rng.randrange(MAX_BODY_BYTES, 1_000_000)),
        content_type=None,
    ),
    # Properties missing.
    _place(
        "no-message-id",
        "missing-message-id",
        lambda rng: _json(_order(rng)),
        with_message_id=False,
    ),
    _place(
        "no-message-id-nor-content-type",
        "missing-message-id",
        lambda rng: _json(_order(rng)),
        with_message_id=False,
        content_type=None,
    ),
    # Routing keys nobody handles.
    lambda rng: Bad(
        "unknown-command",
        COMMANDS,
        rng.choice(["orders.bake", "ORDERS.PLACE", "orders.place.now", "menu.burn", "x" * 200]),
        _json(_order(rng)),
        "unknown-message",
    ),
    lambda rng: Bad("empty-routing-key", COMMANDS, "", _json(_order(rng)), "unknown-message"),
    lambda rng: Bad("unknown-query", QUERIES, "orders.find-all", b"{}", "unknown-message"),
    lambda rng: Bad(
        "query-as-command", COMMANDS, "orders.get", _json({"order_id": "x"}), "unknown-message"
    ),
    lambda rng: Bad(
        "command-as-query", QUERIES, "orders.place", _json(_order(rng)), "unknown-message"
    ),
    # Queries that do not parse.
    lambda rng: Bad("query-without-its-field", QUERIES, "orders.get", b"{}", "invalid-message"),
    lambda rng: Bad("query-not-json", QUERIES, "orders.get", _garbage(rng, 32), "invalid-json"),
]


def malformed(count: int, rng: random.Random) -> list[Bad]:
    """`count` malformed messages, every kind about equally often, in random order."""
    bad = [KINDS[index % len(KINDS)](rng) for index in range(count)]
    rng.shuffle(bad)
    return bad
