"""Hypothesis strategies for what a sender can put on the wire: bodies, headers, properties.

Everything generated here can be encoded by pamqp (so an AMQP client could send it):
header keys are short strings, integers fit in 64 bits, byte strings travel as
byte arrays. Bodies run from empty to 100 KB (past the worker's 64 KiB limit).
"""

import json
import random
import string
from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

from pizzeria_contracts import names

COMMANDS = [
    names.PLACE_ORDER,
    names.START_COOKING,
    names.MARK_READY,
    names.ASSIGN_DELIVERY,
    names.DELIVER_ORDER,
    names.CANCEL_ORDER,
    names.ADD_PIZZA,
    names.UPDATE_PIZZA,
    names.REMOVE_PIZZA,
]
QUERIES = [
    names.GET_ORDER,
    names.LIST_ORDERS_BY_CUSTOMER,
    names.LIST_ACTIVE_ORDERS,
    names.GET_MENU,
]
EVENTS = [names.ORDER_PLACED, names.ORDER_CONFIRMED, names.CUSTOMER_REGISTERED]
WORKER_HEADERS = [
    "x-retry-attempt",
    "x-last-error",
    "x-original-exchange",
    "x-original-routing-key",
    "x-original-user-id",
    "x-message-id-added",
    names.ERROR_REASON_HEADER,
    names.ERROR_DETAIL_HEADER,
    names.TRACEPARENT_HEADER,
    names.STATUS_HEADER,
]
"""Headers the worker writes or reads itself: a sender may set them too."""
MAX_BODY = 100_000

short_text = st.text(max_size=40)
"""At most 160 UTF-8 bytes: fits an AMQP short string."""

header_keys = st.one_of(st.sampled_from(WORKER_HEADERS), st.text(min_size=1, max_size=20))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(width=32, allow_nan=False, allow_infinity=False),  # RabbitMQ parses no NaN
    st.text(max_size=60),
    st.binary(max_size=60).map(bytearray),
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1)),
    st.sampled_from([*COMMANDS, *QUERIES, names.COMMANDS_EXCHANGE, ""]),
)
header_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(header_keys, children, max_size=4),
    ),
    max_leaves=12,
)
headers = st.one_of(st.none(), st.dictionaries(header_keys, header_values, max_size=8))

json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False),
        st.text(max_size=30),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.text(max_size=15), children, max_size=5),
    ),
    max_leaves=20,
)

FIELDS = [
    "order_id",
    "customer_name",
    "customer_phone",
    "customer_address",
    "customer_email",
    "pizzas",
    "payment_method",
    "notes",
    "driver",
    "reason",
    "name",
    "size",
    "toppings",
    "base_price",
    "description",
    "limit",
    "cursor",
]
plausible_bodies = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6)
"""Objects with the catalogue's field names and random values: past the JSON check."""


def _random_bytes(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _long_json(seed: int, size: int) -> bytes:
    text = "".join(random.Random(seed).choices(string.printable, k=size))
    return json.dumps({"customer_name": "Ann", "notes": text}).encode()


bodies = st.one_of(
    st.binary(max_size=300),
    st.builds(_random_bytes, st.integers(0, 2**32), st.integers(0, MAX_BODY)),
    st.builds(_long_json, st.integers(0, 2**32), st.integers(0, MAX_BODY)),
    json_values.map(lambda value: json.dumps(value).encode()),
    plausible_bodies.map(lambda value: json.dumps(value).encode()),
    st.sampled_from([b"", b"{}", b"null", b"[]", b'{"order_id": ""}', b"\xef\xbb\xbf{}"]),
)

odd_ids = st.one_of(
    st.none(),
    st.just(""),
    st.sampled_from([" ", "\x00", "é" * 100, "../../etc/passwd", "${jndi:x}", "%s%n"]),
    short_text,
)
exchanges = st.one_of(
    st.sampled_from([names.COMMANDS_EXCHANGE, names.QUERIES_EXCHANGE, ""]),
    st.from_regex(r"[a-zA-Z0-9_.:-]{0,60}", fullmatch=True),  # what AMQP allows a name
)
routing_keys = st.one_of(st.sampled_from(COMMANDS + QUERIES + EVENTS), short_text)
timestamps = st.one_of(
    st.none(),
    st.datetimes(
        min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
)


@st.composite
def properties(draw: st.DrawFn, user_ids: st.SearchStrategy[str | None]) -> dict[str, Any]:
    """Keyword arguments of `pamqp.commands.Basic.Properties` in any combination."""
    return {
        "message_id": draw(odd_ids),
        "correlation_id": draw(odd_ids),
        "user_id": draw(user_ids),
        "reply_to": draw(st.one_of(st.none(), st.just(names.DIRECT_REPLY_TO), short_text)),
        "content_type": draw(st.one_of(st.none(), st.just("application/json"), short_text)),
        "content_encoding": draw(st.one_of(st.none(), st.sampled_from(["gzip", "utf-8"]))),
        "delivery_mode": draw(st.sampled_from([None, 1, 2])),
        "priority": draw(st.one_of(st.none(), st.integers(0, 255))),
        "timestamp": draw(timestamps),
        "message_type": draw(st.one_of(st.none(), short_text)),
        "app_id": draw(st.one_of(st.none(), short_text)),
        "expiration": draw(st.sampled_from([None, "60000", "3600000"])),
        "headers": draw(headers),
    }
