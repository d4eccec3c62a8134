"""Read models that mirror an aggregate's state, newest version wins: the relay projects
each batch it published into them, so a view is also the record that its outbox went out."""

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from ..batch import STATEMENTS, chunks, insert_new
from ..documents import state_of
from ..readmodels import Place
from .handoff import Document

RECORDS_PER_LOOKUP = 1_000
"""Ids per `$in` when the sweep looks up which outboxes were published."""


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


def created(doc: Mapping[str, Any]) -> bool:
    """Whether this document's outbox holds its aggregate's first event."""
    return any(entry["version"] == 1 for entry in doc["outbox"])
