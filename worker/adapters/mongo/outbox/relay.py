"""The relay as its store and the worker see it: one object over the stages, which
hands each batch from one to the next."""

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from .clearing import Clearer
from .failures import Backlog, Failures
from .handoff import Document, Pending, Recorded
from .projection import Projection
from .publishing import Publish, Publisher
from .recording import Recorder
from .submissions import Submissions, newest
from .sweep import Sweep

log = logging.getLogger("worker.outbox")


class OutboxRelay:
    """Publishes each batch and projects it (`Publisher`), records what has no read
    model to say so (`Recorder`), clears at a lull (`Clearer`); marks what failed for
    the periodic pass (`Failures`); sweeps every outbox when a worker starts (`Sweep`)."""

    def __init__(
        self,
        publish: Publish,
        projections: Mapping[str, Projection],
        relayed: AsyncCollection[Document],
        waiting: AsyncCollection[Document],
        batch_size: int = 256,
        uncleared: int = 2_000,
        lull: float = 1.0,
    ) -> None:
        self._batch_size = batch_size
        self._projected = frozenset(projections)
        self._submissions = Submissions()
        self._recorder = Recorder(relayed, projections)
        self._clearer = Clearer(uncleared, lull, self._projected, self._recorder.drop)
        self._publisher = Publisher(publish, projections, self._clearer.recorded_version)
        self._failures = Failures(waiting)
        relaying = self._submissions.relaying
        self._sweep = Sweep(self._clearer, self._recorder, self.relay, relaying, batch_size)
        self.backlog = Backlog()

    async def relay(self, collection: AsyncCollection[Document], doc: Mapping[str, Any]) -> None:
        """Publish this document's outbox; returns when done or left for the sweep."""
        await self.submit(collection, doc)

    def submit(
        self,
        collection: AsyncCollection[Document],
        doc: Mapping[str, Any],
        *,
        inserted: bool = False,
    ) -> asyncio.Future[None]:
        """Queue this document's outbox for the next batch; the future is done when its
        events are published and projected (or left for the sweep). `inserted`: the
        document is new, inserted by this worker just now, so no other relay has
        published its events (a sweep waits for its grace first) and its view need not
        be read."""
        return self._submissions.submit(collection, doc, inserted)

    def on_its_way(self, collection: str, doc_id: Any) -> asyncio.Future[None] | None:
        """Done once what this relay has on its way for this document is published and
        projected (or left for the sweep); None when it has nothing on its way. Batches go
        in order, so the latest submitted covers the earlier ones."""
        return self._submissions.on_its_way((collection, doc_id))

    def recorded_version(self, collection: str, doc_id: Any) -> int:
        """The version of this document whose outbox this relay knows was published and
        recorded, and not cleared yet; 0 when it knows of none. Every event up to that
        version went out."""
        return self._clearer.recorded_version((collection, doc_id))

    def replaced(self, collection: str, doc_id: Any, version: int) -> None:
        """A store wrote this document over `version`, whose recorded outbox it dropped
        for the new events: there is nothing of that version left to clear."""
        self._clearer.replaced((collection, doc_id), version)

    def on_cleared(self, collection: str, hook: Callable[[Any, int], None]) -> None:
        """Call `hook(doc_id, version)` for each document of `collection` whose outbox
        this relay emptied at that version (a store that remembers it drops its events)."""
        self._clearer.on_cleared(collection, hook)

    async def drain(self, clear: bool = False) -> None:
        """Wait until everything submitted is published and recorded (or left for the
        sweep); with `clear`, also until every recorded outbox is cleared, lull or not."""
        await self._submissions.finished()
        if clear:
            await self._clearer.clear_all()

    async def run(self) -> None:
        """Relay batches until cancelled."""
        stages = [
            asyncio.create_task(self._recorder.run(self._clearer.hand), name="outbox-recording"),
            asyncio.create_task(self._clearer.run(), name="outbox-clearing"),
        ]
        try:
            while True:
                batch = await self._submissions.next_batch(self._batch_size)
                self._clearer.busy()
                await self._relay_batch(batch)
        finally:
            for stage in stages:
                stage.cancel()
            await asyncio.gather(*stages, return_exceptions=True)

    async def sweep(self, collections: list[AsyncCollection[Document]], grace: timedelta) -> int:
        """Relay what waited longer than `grace` (left by a failure or a crash) and was
        not recorded as published; learn what was (`Sweep`)."""
        found, self.backlog = await self._sweep(collections, grace)
        return found

    async def retry_failed(
        self, collections: Sequence[AsyncCollection[Document]], grace: timedelta
    ) -> int:
        """Relay again what a relay failed to publish, this one or another (a worker that
        died since), marked in `waiting` longer than `grace` ago. What a crash left
        unpublished comes back with its unacknowledged command, whose store relays it;
        the sweep at start-up finds anything else."""
        found, self.backlog = await self._failures.retry(
            collections, grace, self.relay, self._submissions.relaying, self._batch_size
        )
        return found

    async def _relay_batch(self, batch: list[Pending]) -> None:
        latest = newest(batch)
        done: list[Pending] = []
        try:
            done = await self._publisher.flush(latest)
        except Exception:
            log.exception("outbox relay failed; marked for the periodic pass")
        finally:
            try:
                if self._failures.note(latest, {pending.key for pending in done}):
                    await self._failures.mark()  # before their commands are answered
            finally:
                self._finish(batch, done)

    def _finish(self, batch: list[Pending], done: list[Pending]) -> None:
        for pending in batch:
            pending.arrived()
        recording: set[int] = set()
        for pending in done:
            if pending.collection.name in self._projected:  # its view is the record
                self._clearer.hand(Recorded.now(pending))
            else:
                self._recorder.record(pending)
                recording.add(id(pending))
        for pending in batch:
            if id(pending) not in recording:
                pending.finish()
