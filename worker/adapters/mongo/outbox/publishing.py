"""The first stage: publish a batch's outboxes with confirms, in version order per
aggregate, then project the documents into their read models."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pymongo.errors import PyMongoError

from ....recent import Recent
from .handoff import Key, Pending
from .projection import Projection

log = logging.getLogger("worker.outbox")
REMEMBERED = 10_000
"""Event ids this process saw confirmed, so an outbox left uncleared is not published again."""

Publish = Callable[[Mapping[str, Any]], Awaitable[None]]


class Publisher:
    """Skips what went out already: the events up to the version recorded and not
    cleared (`recorded`), those up to the version a view shows, and those it saw
    confirmed itself."""

    def __init__(
        self,
        publish: Publish,
        projections: Mapping[str, Projection],
        recorded: Callable[[Key], int],
    ) -> None:
        self._publish = publish
        self._projections = projections
        self._recorded = recorded
        self._confirmed: Recent[str] = Recent(REMEMBERED)  # event ids

    async def flush(self, batch: list[Pending]) -> list[Pending]:
        """Publish, then project; returns what was published and projected."""
        shown = await self._shown(batch)
        published = await asyncio.gather(
            *(self._publish_all(p.key, p.doc, shown.get(p.key, 0)) for p in batch)
        )
        by_collection: dict[str, list[Pending]] = {}
        for pending, ok in zip(batch, published, strict=True):
            if ok:
                by_collection.setdefault(pending.collection.name, []).append(pending)
        done: list[Pending] = []
        for name, group in by_collection.items():
            projection = self._projections.get(name)
            try:
                if projection is not None:
                    views = {key[1]: version for key, version in shown.items() if key[0] == name}
                    await projection.apply([p.doc for p in group], views)
            except PyMongoError as error:
                log.warning(
                    "read model of %s not updated; marked for the periodic pass: %r", name, error
                )
                continue
            done += group
        return done

    async def _shown(self, batch: list[Pending]) -> dict[Key, int]:
        """The versions the read models show of this batch's documents: a view is
        projected only once its events are published, so what it shows went out, if not
        by this worker then by another that has not cleared it yet (a new order's first
        events too, when another worker placed it). Read before publishing, one `$in` a
        collection, and handed to the projection, which reads them otherwise; none is
        known when they cannot be read."""
        shown: dict[Key, int] = {}
        for name, projection in self._projections.items():
            ids = [p.doc["_id"] for p in batch if p.collection.name == name and not p.inserted]
            if not ids:
                continue
            try:
                held = await projection.versions(ids)
            except PyMongoError as error:
                log.warning("views of %s not read, publishing all that waits: %r", name, error)
                continue
            shown.update({(name, doc_id): version for doc_id, version in held.items()})
        return shown

    async def _publish_all(self, key: Key, doc: Mapping[str, Any], shown: int = 0) -> bool:
        recorded = max(self._recorded(key), shown)
        try:
            for entry in doc["outbox"]:
                if entry["version"] <= recorded or entry["id"] in self._confirmed:
                    continue  # confirmed, not cleared yet
                await self._publish(entry)
                self._confirmed.add(entry["id"])
        except Exception as error:  # noqa: BLE001 - any failure leaves the events for the sweep
            log.warning(
                "events of %s not published; marked for the periodic pass: %r", doc["_id"], error
            )
            return False
        return True
