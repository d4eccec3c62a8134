"""Which shard a command goes to."""

import json
import zlib
from collections import Counter

from worker.entrypoints.router import shard_of


def test_a_command_goes_to_the_shard_of_its_order_always_the_same() -> None:
    body = json.dumps({"order_id": "7f3a", "driver": "Dino"}).encode()

    assert shard_of(body, 4) == zlib.crc32(b"7f3a") % 4
    assert {shard_of(body, 4) for _ in range(10)} == {shard_of(body, 4)}


def test_orders_spread_over_the_shards() -> None:
    spread = Counter(shard_of(json.dumps({"order_id": f"o{i}"}).encode(), 4) for i in range(1000))

    assert set(spread) == {0, 1, 2, 3}
    assert min(spread.values()) > 150


def test_a_command_that_names_no_order_has_no_shard() -> None:
    assert shard_of(b'{"customer_name": "Sam"}', 4) is None
    assert shard_of(b'{"order_id": 42}', 4) is None
    assert shard_of(b"[1, 2]", 4) is None
    assert shard_of(b"{not json", 4) is None
