"""Two writes to one document that overlap must not lose either: the root of the lost
effects in test_worker_killed.py.

The store changes an aggregate with `find_one_and_update` on `{_id, version}`, and the
relay clears its outbox with an update on `{_id, version}` too: on MongoDB each is
atomic, so a stale one matches nothing. A server that reads the matching document,
changes it and writes all of it back (FerretDB 1.24 did, and the project left it for
that reason) lets both of two overlapping writes report a match while the later
write-back silently undoes the other: after a SIGKILL, the new worker relays the
documents left in their outboxes (an older version of an order) while the next
commands about those orders arrive; a command is answered 200 and its change
vanishes, and the order's next command meets its old state (409).
"""

import asyncio
import uuid

import pytest
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from worker.adapters.mongo.database import Document

pytestmark = pytest.mark.faults

WRITERS = 4
CHANGES = 50


async def test_overlapping_versioned_updates_each_take_effect_once(
    database: AsyncDatabase[Document],
) -> None:
    orders = database[f"orders_{uuid.uuid4().hex[:8]}"]
    await orders.insert_one({"_id": "o", "version": 1, "inbox": []})
    matched = 0

    async def write(writer: int) -> None:
        nonlocal matched
        for change in range(CHANGES):
            while True:  # as the store does: read, then update only that version
                doc = await orders.find_one({"_id": "o"})
                if doc is None:
                    raise RuntimeError("the document is gone")
                updated = await orders.find_one_and_update(
                    {"_id": "o", "version": doc["version"]},
                    {
                        "$set": {"version": doc["version"] + 1},
                        "$push": {"inbox": f"{writer}.{change}"},
                    },
                    return_document=ReturnDocument.AFTER,
                )
                if updated is not None:
                    matched += 1
                    break

    await asyncio.gather(*(write(writer) for writer in range(WRITERS)))
    final = await orders.find_one({"_id": "o"})
    assert final is not None
    assert matched == WRITERS * CHANGES
    assert (final["version"], len(final["inbox"])) == (1 + matched, matched), (
        f"{matched} updates matched, {len(final['inbox'])} kept"
    )
