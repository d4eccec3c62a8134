"""The outbox relay: publishes stored events, updates read models, records that it did,
and clears the outboxes later.

Events wait in their aggregate's document (`outbox`), written in the same
single-document update as the change that raised them, so an event exists
only if its change was stored. The relay publishes them with publisher
confirms, in version order per aggregate, then projects the document into its
read model, answers the commands waiting, and records that this version's
outbox went out: an aggregate with a read model is recorded by its view
(written only after publishing), others by a small document per version in
`outbox_relayed`, inserted for a whole batch at once. Clearing the outbox, a second write of
the aggregate's document, waits for a lull; until then the record tells every
sweep not to publish it again. What fails stays in the outbox unrecorded and is
marked in `outbox_waiting` before its command is answered; a periodic pass of
any worker publishes it again (`retry_failed`), and events keep their ids. What
a crash leaves comes back with its unacknowledged command, whose store relays
it; a worker also sweeps every outbox once when it starts (`sweep`).

Relays are batched: while one batch is on its way, new documents gather for
the next. A batch takes each aggregate's latest document only and inserts the
views of new aggregates with one `insert_many`. Events this process saw
confirmed are not published again when their outbox was left uncleared, and
the sweep leaves alone what is on its way already.
"""

import asyncio
import dataclasses
import logging
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from ...recent import Recent
from .batch import STATEMENTS, chunks, insert_new
from .documents import state_of
from .readmodels import Place

log = logging.getLogger("worker.outbox")
RECORDS_PER_LOOKUP = 1_000
"""Record ids per `$in` when the sweep looks up which outboxes were published."""
REMEMBERED = 10_000
"""Event ids this process saw confirmed, so an outbox left uncleared is not published again."""

Document = dict[str, Any]
Publish = Callable[[Mapping[str, Any]], Awaitable[None]]


class Follower(Protocol):
    """A read model fed by the same documents as a projection, and before it."""

    async def apply(self, docs: Sequence[Mapping[str, Any]]) -> None: ...


@dataclasses.dataclass(frozen=True)
class Projection:
    """A read model that mirrors an aggregate's state, newest version wins; it is the
    record that the aggregate's outbox went out, so the read models that follow it are
    fed first (a failure of one leaves the document to be relayed again)."""

    place: Place
    shape: Callable[[Mapping[str, Any]], Document] = state_of
    followers: tuple[Follower, ...] = ()

    @property
    def views(self) -> AsyncCollection[Document]:
        return self.place.reading

    async def apply(
        self, docs: list[Mapping[str, Any]], shown: Mapping[Any, int] | None = None
    ) -> None:
        """Insert the views of new aggregates in one command; bring the others, and any
        new one whose view is there already (relayed before), up to their version.
        `shown`: the versions of their views as just read, if the caller read them."""
        for follower in self.followers:
            await follower.apply(docs)
        fresh: list[Document] = []
        moved: list[Document] = []
        for doc in docs:
            (fresh if created(doc) else moved).append(self.shape(doc))
        for target in await self.place.writing():
            reading = target.name == self.views.name
            await put_views(target, fresh, moved, (shown or {}) if reading else {})

    async def versions(self, ids: list[Any]) -> dict[Any, int]:
        """The version each of these aggregates' views shows, for those that have one."""
        return await versions(self.views, ids)

    async def published(self, docs: Sequence[Mapping[str, Any]]) -> set[Any]:
        """Those of these documents whose view is at their version or later: the relay
        projects only what it published, so their outboxes went out. The view is the
        record, and costs no write of its own."""
        wanted = {doc["_id"]: doc["version"] for doc in docs}
        found: set[Any] = set()
        for chunk in chunks(list(wanted), RECORDS_PER_LOOKUP):
            held = await self.versions(chunk)
            found.update(doc_id for doc_id, version in held.items() if version >= wanted[doc_id])
        return found


async def put_views(
    views: AsyncCollection[Document],
    fresh: list[Document],
    moved: list[Document],
    shown: Mapping[Any, int],
    size: int = STATEMENTS,
) -> None:
    """Insert `fresh`, then bring `moved` and any of `fresh` there already up to their
    version."""
    moved = moved + await insert_new(views, fresh, size)
    for chunk in chunks(moved, size):
        await _move(views, chunk, shown)


async def _move(
    collection: AsyncCollection[Document], views: list[Document], shown: Mapping[Any, int]
) -> None:
    """Newest version wins: each view is read (unless `shown` has them all), then
    replaced only at the version read (an equality the `versioned` index serves on
    every back end); one that moved meanwhile is read again, until it is at its
    version or beyond."""
    while views:
        ids = [view["_id"] for view in views]
        held = shown if all(i in shown for i in ids) else await versions(collection, ids)
        shown = {}
        behind = [
            view for view in views if held.get(view["_id"], view["version"]) < view["version"]
        ]
        if not behind:
            return
        result = await collection.bulk_write(
            [
                UpdateOne(
                    {"_id": view["_id"], "version": held[view["_id"]]},
                    {"$set": {key: value for key, value in view.items() if key != "_id"}},
                )
                for view in behind
            ],
            ordered=False,
        )
        views = behind if result.matched_count < len(behind) else []


async def versions(collection: AsyncCollection[Document], ids: list[Any]) -> dict[Any, int]:
    """The version each of these aggregates' views shows, for those that have one."""
    found = collection.find({"_id": {"$in": ids}}, {"version": 1})
    return {view["_id"]: view.get("version", 0) for view in await found.to_list()}


@dataclasses.dataclass(frozen=True, slots=True)
class Backlog:
    """What waits to be published again after a failure, as of the last pass (or, at
    start, what the sweep saw waiting): how many documents, and when the oldest of
    their events was raised. Those published and waiting only to be cleared do not
    count."""

    waiting: int = 0
    oldest: datetime | None = None


@dataclasses.dataclass(slots=True)
class _Pending:
    collection: AsyncCollection[Document]
    doc: Mapping[str, Any]
    published: asyncio.Future[None]  # or left for the sweep
    settled: asyncio.Future[None]  # published and recorded, or left for the sweep
    inserted: bool = False  # by this worker, just now: no view shows it yet

    @property
    def key(self) -> tuple[str, Any]:
        return (self.collection.name, self.doc["_id"])


@dataclasses.dataclass(frozen=True, slots=True)
class _Recorded:
    """A document whose outbox, as of `version`, is published and recorded as such:
    only clearing it is left."""

    collection: AsyncCollection[Document]
    doc_id: Any
    version: int

    @property
    def key(self) -> tuple[str, Any]:
        return (self.collection.name, self.doc_id)


@dataclasses.dataclass(frozen=True, slots=True)
class _Failure:
    """A document whose outbox this relay failed to publish, and when the oldest of its
    events was raised."""

    collection: str
    doc_id: Any
    at: datetime

    @classmethod
    def of(cls, pending: _Pending) -> "_Failure":
        at = min(entry["at"] for entry in pending.doc["outbox"])
        return cls(pending.collection.name, pending.doc["_id"], at)

    @property
    def key(self) -> tuple[str, Any]:
        return (self.collection, self.doc_id)

    def marker(self) -> UpdateOne:
        """Its document in `waiting`, kept with its first time if it is there already,
        with a new token: a pass drops a mark only as it read it."""
        fields = {"collection": self.collection, "doc_id": self.doc_id, "at": self.at}
        change = {"$setOnInsert": fields, "$set": {"token": uuid.uuid4().hex}}
        return UpdateOne({"_id": _document(self.key)}, change, upsert=True)


class OutboxRelay:
    """Three stages: the first publishes each batch and projects its read models, then
    answers the commands waiting for it; the second records what was published and has
    no read model to say so (one insert into `relayed` per batch); the third clears the
    recorded outboxes.

    Clearing writes each document once more, so it waits for a lull of `lull` seconds
    in publishing, or until `uncleared` documents wait: meanwhile the next command on
    a document replaces its recorded outbox, which spares that write. Those beyond
    `uncleared` stay uncleared until their document is relayed again or a worker
    starts and sweeps. The record is what makes waiting safe: no sweep, this
    worker's after a restart or another worker's, publishes a recorded outbox again.
    """

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
        self._publish = publish
        self._projections = projections
        self._relayed = relayed
        self._waiting = waiting
        self._failed: dict[tuple[str, Any], _Failure] = {}  # not marked in `waiting` yet
        self._cleared_hooks: dict[str, list[Callable[[Any, int], None]]] = {}
        self._batch_size = batch_size
        self._uncleared = uncleared
        self._lull = lull
        self._busy = asyncio.Event()
        self._pending: list[_Pending] = []
        self._unrecorded: list[_Pending] = []
        self._to_clear: dict[tuple[str, Any], _Recorded] = {}  # the latest of each document
        self._unsettled: set[asyncio.Future[None]] = set()
        self._relaying: Counter[tuple[str, Any]] = Counter()  # documents not yet settled
        self._on_its_way: dict[tuple[str, Any], asyncio.Future[None]] = {}  # latest of each
        self._published: Recent[str] = Recent(REMEMBERED)  # event ids seen confirmed
        self._wakeup = asyncio.Event()
        self._record_wakeup = asyncio.Event()
        self._clear_wakeup = asyncio.Event()
        self._cleared = asyncio.Event()
        self._clear_now = 0  # drains waiting for every outbox to be cleared
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
        events are published (or left for the sweep). `inserted`: the document is new,
        inserted by this worker just now, so no other relay has published its events
        (a sweep waits for its grace first) and its view need not be read."""
        loop = asyncio.get_running_loop()
        futures = (loop.create_future(), loop.create_future())
        pending = _Pending(collection, doc, *futures, inserted=inserted)
        if not doc.get("outbox"):
            pending.published.set_result(None)
            return pending.published
        self._pending.append(pending)
        self._relaying[pending.key] += 1
        self._on_its_way[pending.key] = pending.published
        pending.published.add_done_callback(lambda done: self._arrived(pending.key, done))
        self._unsettled.add(pending.settled)
        pending.settled.add_done_callback(lambda settled: self._forget(pending.key, settled))
        self._wakeup.set()
        return pending.published

    def on_its_way(self, collection: str, doc_id: Any) -> asyncio.Future[None] | None:
        """Done once what this relay has on its way for this document is published and
        projected (or left for the sweep); None when it has nothing on its way. Batches go
        in order, so the latest submitted covers the earlier ones."""
        return self._on_its_way.get((collection, doc_id))

    def _arrived(self, key: tuple[str, Any], published: asyncio.Future[None]) -> None:
        if self._on_its_way.get(key) is published:
            del self._on_its_way[key]

    def _forget(self, key: tuple[str, Any], settled: asyncio.Future[None]) -> None:
        self._unsettled.discard(settled)
        self._relaying[key] -= 1
        if not self._relaying[key]:
            del self._relaying[key]

    async def drain(self, clear: bool = False) -> None:
        """Wait until everything submitted is published and recorded (or left for the
        sweep); with `clear`, also until every recorded outbox is cleared, lull or not."""
        while self._unsettled:
            await asyncio.wait(set(self._unsettled))
        if not clear:
            return
        self._clear_now += 1
        self._clear_wakeup.set()
        self._busy.set()  # ends a wait for a lull
        try:
            while self._to_clear:
                self._cleared.clear()
                await self._cleared.wait()
        finally:
            self._clear_now -= 1

    async def run(self) -> None:
        """Relay batches until cancelled."""
        stages = [
            asyncio.create_task(self._record_forever(), name="outbox-recording"),
            asyncio.create_task(self._clear_forever(), name="outbox-clearing"),
        ]
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                while self._pending:
                    batch = self._pending[: self._batch_size]
                    del self._pending[: self._batch_size]
                    self._busy.set()
                    await self._relay_batch(batch)
        finally:
            for stage in stages:
                stage.cancel()
            await asyncio.gather(*stages, return_exceptions=True)

    async def _relay_batch(self, batch: list[_Pending]) -> None:
        latest = newest(batch)
        done: list[_Pending] = []
        try:
            done = await self._flush(latest)
        except Exception:
            log.exception("outbox relay failed; marked for the periodic pass")
        finally:
            relayed = {pending.key for pending in done}
            for pending in latest:
                if pending.key in relayed:
                    self._failed.pop(pending.key, None)
                else:
                    self._failed[pending.key] = _Failure.of(pending)
            try:
                if len(relayed) < len(latest):
                    await self._mark()  # before their commands are answered: it outlives us
            finally:
                self._settle_batch(batch, done)

    def _settle_batch(self, batch: list[_Pending], done: list[_Pending]) -> None:
        for pending in batch:
            if not pending.published.done():
                pending.published.set_result(None)
        recording: set[int] = set()
        for pending in done:
            if pending.collection.name in self._projections:  # its view is the record
                self._hand_to_clearing(_recorded_now(pending))
            else:
                self._unrecorded.append(pending)
                recording.add(id(pending))
        self._record_wakeup.set()
        for pending in batch:
            if id(pending) not in recording:
                _settle(pending)

    async def _record_forever(self) -> None:
        """Record what was published, everything waiting in one insert, as it comes."""
        while True:
            await self._record_wakeup.wait()
            self._record_wakeup.clear()
            while self._unrecorded:
                batch, self._unrecorded = self._unrecorded, []
                try:
                    await insert_new(self._relayed, [_record(p.key, p.doc) for p in batch])
                except Exception as error:  # noqa: BLE001 - the sweep publishes them again
                    log.warning(
                        "published events not recorded, the sweep may repeat them: %r", error
                    )
                else:
                    for pending in batch:
                        self._hand_to_clearing(_recorded_now(pending))
                finally:
                    for pending in batch:
                        _settle(pending)

    def recorded_version(self, collection: str, doc_id: Any) -> int:
        """The version of this document whose outbox this relay knows was published and
        recorded, and not cleared yet; 0 when it knows of none. Every event up to that
        version went out."""
        recorded = self._to_clear.get((collection, doc_id))
        return 0 if recorded is None else recorded.version

    def replaced(self, collection: str, doc_id: Any, version: int) -> None:
        """A store wrote this document over `version`, whose recorded outbox it dropped
        for the new events: there is nothing of that version left to clear."""
        recorded = self._to_clear.get((collection, doc_id))
        if recorded is not None and recorded.version <= version:
            del self._to_clear[(collection, doc_id)]

    def _hand_to_clearing(self, recorded: _Recorded) -> None:
        earlier = self._to_clear.get(recorded.key)
        if earlier is not None and earlier.version >= recorded.version:
            return
        if earlier is None and len(self._to_clear) >= self._uncleared:
            return  # recorded: the sweep finds it again and clears it later
        self._to_clear[recorded.key] = recorded
        self._clear_wakeup.set()

    async def _clear_forever(self) -> None:
        """One command's worth of documents at a time, so that a lull that ends stops
        the clearing. A store may write a document while its outbox is cleared: both
        match the version they read, so whichever comes second matches nothing (the
        clearing) or finds the outbox emptied (the store)."""
        while True:
            await self._clear_wakeup.wait()
            self._clear_wakeup.clear()
            while self._to_clear:
                await self._lull_or_full()
                clearing = list(self._to_clear.values())[:STATEMENTS]
                try:
                    await self._clear(clearing)
                except Exception as error:  # noqa: BLE001 - what stays, the sweep finds
                    log.warning(
                        "outboxes not cleared; a later relay or start-up sweep clears them: %r",
                        error,
                    )
                finally:
                    for recorded in clearing:
                        if self._to_clear.get(recorded.key) is recorded:
                            del self._to_clear[recorded.key]
                    self._cleared.set()
            self._cleared.set()

    async def _lull_or_full(self) -> None:
        while len(self._to_clear) < self._uncleared and not self._clear_now:
            self._busy.clear()
            try:  # not wait_for: on 3.11 it can swallow a cancellation
                async with asyncio.timeout(self._lull):
                    await self._busy.wait()
            except TimeoutError:
                return

    async def retry_failed(
        self, collections: Sequence[AsyncCollection[Document]], grace: timedelta
    ) -> int:
        """Relay again what a relay failed to publish, this one or another (a worker that
        died since): marks what failed here in `waiting`, then relays the documents
        marked there longer than `grace` ago and drops their marks. It reads `waiting`,
        which holds only failures, and those documents by `_id`: nothing that grows
        with the orders. What a crash left unpublished after its command was stored comes
        back with the command (its message was not acknowledged), whose store relays it
        (`MongoAggregateStore`); the sweep at start-up finds anything else."""
        await self._mark()
        marks = await self._waiting.find({}).to_list()
        by_name = {collection.name: collection for collection in collections}
        cutoff = datetime.now(UTC) - grace
        late = sorted(
            (
                mark
                for mark in marks
                if mark["at"] < cutoff
                and mark["collection"] in by_name
                and (mark["collection"], mark["doc_id"]) not in self._relaying
            ),
            key=lambda mark: mark["at"],
        )[: self._batch_size]
        found = 0
        for name, collection in by_name.items():
            if ids := [mark["doc_id"] for mark in late if mark["collection"] == name]:
                docs = await collection.find({"_id": {"$in": ids}}, {"inbox": 0}).to_list()
                found += len(docs)
                await asyncio.gather(*(self.relay(collection, doc) for doc in docs))
        relayed = [m for m in late if (m["collection"], m["doc_id"]) not in self._failed]
        if relayed:  # each as read: a relay that failed since has given it a new token
            await self._waiting.delete_many(
                {"$or": [{"_id": mark["_id"], "token": mark.get("token")} for mark in relayed]}
            )
        dropped = {mark["_id"] for mark in relayed}
        left = {mark["_id"]: mark["at"] for mark in marks if mark["_id"] not in dropped}
        left.update({_document(f.key): f.at for f in self._failed.values()})
        self.backlog = Backlog(len(left), min(left.values(), default=None))
        return found

    async def _mark(self) -> None:
        """Mark in `waiting` what failed here; what cannot be marked now (the database is
        away too) stays in memory for the next try."""
        failures = list(self._failed.values())
        if not failures:
            return
        try:
            await self._waiting.bulk_write([f.marker() for f in failures], ordered=False)
        except Exception as error:  # noqa: BLE001 - kept, and marked at the next pass
            log.warning("failed events not marked, marking them later: %r", error)
            return
        for failure in failures:
            if self._failed.get(failure.key) is failure:
                del self._failed[failure.key]

    def on_cleared(self, collection: str, hook: Callable[[Any, int], None]) -> None:
        """Call `hook(doc_id, version)` for each document of `collection` whose outbox
        this relay emptied at that version (a store that remembers it drops its events)."""
        self._cleared_hooks.setdefault(collection, []).append(hook)

    async def sweep(self, collections: list[AsyncCollection[Document]], grace: timedelta) -> int:
        """Relay what waited longer than `grace` (left by a failure or a crash), except
        what is on its way already (a slow relay must not publish its events twice) and
        what was recorded as published (that is only cleared).

        One scan of each collection's waiting outboxes (`outbox.at`, indexed) finds
        them and measures the backlog on the way (`backlog`: younger ones count as
        waiting); only what is found late is looked up in the records and read whole,
        by `_id`."""
        cutoff = datetime.now(UTC) - grace
        found, waiting, oldest = 0, 0, None
        for collection in collections:
            known = {
                key[1]: recorded.version
                for key, recorded in self._to_clear.items()
                if key[0] == collection.name
            }
            outboxes = [
                doc
                for doc in await collection.find(
                    _waiting(), {"outbox.at": 1, "version": 1}
                ).to_list()
                if known.get(doc["_id"]) != doc["version"]
            ]
            raised = {doc["_id"]: min(entry["at"] for entry in doc["outbox"]) for doc in outboxes}
            recorded = await self._recorded(  # only for the late: a round trip each
                collection.name,
                [
                    doc
                    for doc in outboxes
                    if raised[doc["_id"]] < cutoff
                    and (collection.name, doc["_id"]) not in self._relaying
                ],
            )
            late: list[tuple[datetime, Any]] = []
            for doc in outboxes:
                if doc["_id"] in recorded:
                    self._hand_to_clearing(_Recorded(collection, doc["_id"], doc["version"]))
                    continue
                at = raised[doc["_id"]]
                waiting += 1
                oldest = at if oldest is None else min(oldest, at)
                if at < cutoff and (collection.name, doc["_id"]) not in self._relaying:
                    late.append((at, doc["_id"]))
            ids = [doc_id for _, doc_id in sorted(late, key=lambda pair: pair[0])]
            if ids := ids[: self._batch_size]:
                docs = await collection.find({"_id": {"$in": ids}}, {"inbox": 0}).to_list()
                docs = [doc for doc in docs if (collection.name, doc["_id"]) not in self._relaying]
                found += len(docs)
                await asyncio.gather(*(self.relay(collection, doc) for doc in docs))
        self.backlog = Backlog(waiting, oldest)
        return found

    async def _recorded(self, collection: str, docs: list[Document]) -> set[Any]:
        """Those of these documents whose outbox, as of their version, was recorded as
        published: by their read model, or else in `relayed`."""
        if not docs:
            return set()
        if (projection := self._projections.get(collection)) is not None:
            return await projection.published(docs)
        ids = {_record_id((collection, doc["_id"]), doc["version"]): doc["_id"] for doc in docs}
        found: set[Any] = set()
        for chunk in chunks(list(ids), RECORDS_PER_LOOKUP):
            records = self._relayed.find({"_id": {"$in": chunk}}, {"_id": 1})
            found.update(ids[record["_id"]] for record in await records.to_list())
        return found

    async def _flush(self, batch: list[_Pending]) -> list[_Pending]:
        """Publish, then project; returns what was published and projected."""
        shown = await self._shown(batch)
        published = await asyncio.gather(
            *(self._publish_all(p.key, p.doc, shown.get(p.key, 0)) for p in batch)
        )
        by_collection: dict[str, list[_Pending]] = {}
        for pending, ok in zip(batch, published, strict=True):
            if ok:
                by_collection.setdefault(pending.collection.name, []).append(pending)
        done: list[_Pending] = []
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

    async def _shown(self, batch: list[_Pending]) -> dict[tuple[str, Any], int]:
        """The versions the read models show of this batch's documents: a view is
        projected only once its events are published, so what it shows went out, if not
        by this worker then by another that has not cleared it yet (a new order's first
        events too, when another worker placed it). Read before publishing, one `$in` a
        collection, and handed to the projection, which reads them otherwise; none is
        known when they cannot be read."""
        shown: dict[tuple[str, Any], int] = {}
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

    async def _publish_all(
        self, key: tuple[str, Any], doc: Mapping[str, Any], shown: int = 0
    ) -> bool:
        recorded = max(self.recorded_version(*key), shown)
        try:
            for entry in doc["outbox"]:
                if entry["version"] <= recorded or entry["id"] in self._published:
                    continue  # confirmed, not cleared yet
                await self._publish(entry)
                self._published.add(entry["id"])
        except Exception as error:  # noqa: BLE001 - any failure leaves the events for the sweep
            log.warning(
                "events of %s not published; marked for the periodic pass: %r", doc["_id"], error
            )
            return False
        return True

    async def _clear(self, recorded: list[_Recorded]) -> None:
        """Empty the outboxes of documents that have not moved on, then drop their records:
        a command per collection, a statement per document, each matching the version
        recorded (served by the `versioned` index)."""
        by_collection: dict[str, list[_Recorded]] = {}
        for one in recorded:
            by_collection.setdefault(one.collection.name, []).append(one)
        for name, group in by_collection.items():
            await group[0].collection.bulk_write(
                [
                    UpdateOne({"_id": r.doc_id, "version": r.version}, {"$set": {"outbox": []}})
                    for r in group
                ],
                ordered=False,
            )
            for hook in self._cleared_hooks.get(name, ()):
                for r in group:
                    hook(r.doc_id, r.version)
            if name in self._projections:
                continue  # recorded by the read model, which stays
            # The records of these versions and older ones, cleared or moved on from: a
            # newer version may have been stored and recorded meanwhile, and its stays.
            await self._relayed.delete_many(
                {
                    "$or": [
                        {"document": _document(r.key), "version": {"$lte": r.version}}
                        for r in group
                    ]
                }
            )


def created(doc: Mapping[str, Any]) -> bool:
    """Whether this document's outbox holds its aggregate's first event."""
    return any(entry["version"] == 1 for entry in doc["outbox"])


def _waiting() -> Document:
    """Every document with an event in its outbox, through the `outbox.at` index."""
    return {"outbox.at": {"$lte": datetime.now(UTC) + timedelta(days=36500)}}


def _recorded_now(pending: _Pending) -> _Recorded:
    return _Recorded(pending.collection, pending.doc["_id"], pending.doc["version"])


def _document(key: tuple[str, Any]) -> str:
    return f"{key[0]}/{key[1]}"


def _record_id(key: tuple[str, Any], version: int) -> str:
    return f"{_document(key)}/{version}"


def _record(key: tuple[str, Any], doc: Mapping[str, Any]) -> Document:
    """That this document's outbox, as of its version, was published and its read model
    projected."""
    return {
        "_id": _record_id(key, doc["version"]),
        "document": _document(key),
        "version": doc["version"],
        "at": datetime.now(UTC),
    }


def _settle(pending: _Pending) -> None:
    if not pending.settled.done():
        pending.settled.set_result(None)


def newest(batch: list[_Pending]) -> list[_Pending]:
    """One document per aggregate, its latest version: stored after the earlier ones were
    queued, its outbox holds every event they did not clear."""
    latest: dict[tuple[str, Any], _Pending] = {}
    for pending in batch:
        key = (pending.collection.name, pending.doc["_id"])
        if key not in latest or pending.doc["version"] > latest[key].doc["version"]:
            latest[key] = pending
    return list(latest.values())
