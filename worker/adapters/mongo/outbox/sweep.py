"""The start-up sweep: one scan of every outbox for what a failure or a crash left."""

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from .clearing import Clearer
from .failures import Backlog, Relay, relay_again
from .handoff import Document, Key, Recorded
from .recording import Recorder


class Sweep:
    """Relays what waited longer than `grace`, except what is on its way already (a
    slow relay must not publish its events twice) and what was recorded as published
    (that is only cleared, so it goes to clearing).

    One scan of each collection's waiting outboxes (`outbox.at`, indexed) finds them
    and measures the backlog on the way (younger ones count as waiting); only what is
    found late is looked up in the records and read whole, by `_id`."""

    def __init__(
        self,
        clearer: Clearer,
        recorder: Recorder,
        relay: Relay,
        relaying: Callable[[Key], bool],
        most: int,
    ) -> None:
        self._clearer = clearer
        self._recorder = recorder
        self._relay = relay
        self._relaying = relaying
        self._most = most

    async def __call__(
        self, collections: Sequence[AsyncCollection[Document]], grace: timedelta
    ) -> tuple[int, Backlog]:
        """How many documents it relayed, and what it saw waiting."""
        cutoff = datetime.now(UTC) - grace
        found, waiting, oldest = 0, 0, None
        for collection in collections:
            name = collection.name
            known = self._clearer.known(name)
            outboxes = [
                doc
                for doc in await collection.find(
                    _waiting(), {"outbox.at": 1, "version": 1}
                ).to_list()
                if known.get(doc["_id"]) != doc["version"]
            ]
            raised = {doc["_id"]: min(entry["at"] for entry in doc["outbox"]) for doc in outboxes}
            recorded = await self._recorder.recorded(  # only for the late: a round trip each
                name,
                [
                    doc
                    for doc in outboxes
                    if raised[doc["_id"]] < cutoff and not self._relaying((name, doc["_id"]))
                ],
            )
            late: list[tuple[datetime, Any]] = []
            for doc in outboxes:
                if doc["_id"] in recorded:
                    self._clearer.hand(Recorded(collection, doc["_id"], doc["version"]))
                    continue
                at = raised[doc["_id"]]
                waiting += 1
                oldest = at if oldest is None else min(oldest, at)
                if at < cutoff and not self._relaying((name, doc["_id"])):
                    late.append((at, doc["_id"]))
            ids = [doc_id for _, doc_id in sorted(late, key=lambda pair: pair[0])]
            if ids := ids[: self._most]:
                found += await relay_again(collection, ids, self._relay, self._relaying)
        return found, Backlog(waiting, oldest)


def _waiting() -> Document:
    """Every document with an event in its outbox, through the `outbox.at` index."""
    return {"outbox.at": {"$lte": datetime.now(UTC) + timedelta(days=36500)}}
