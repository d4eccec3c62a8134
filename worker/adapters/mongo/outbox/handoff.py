"""What the relay's stages hand each other: documents submitted (`Pending`), and
outboxes recorded as published (`Recorded`), each named by its `Key`."""

import asyncio
import dataclasses
from collections.abc import Mapping
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

Document = dict[str, Any]
Key = tuple[str, Any]
"""A document: its collection's name and its `_id`."""


def document(key: Key) -> str:
    """The document in one string, as `outbox_relayed` and `outbox_waiting` name it."""
    return f"{key[0]}/{key[1]}"


@dataclasses.dataclass(slots=True)
class Pending:
    collection: AsyncCollection[Document]
    doc: Mapping[str, Any]
    published: asyncio.Future[None]  # published and projected, or left for the sweep
    finished: asyncio.Future[None]  # published and recorded, or left for the sweep
    inserted: bool = False  # by this worker, just now: no view shows it yet

    @property
    def key(self) -> Key:
        return (self.collection.name, self.doc["_id"])

    def arrived(self) -> None:
        if not self.published.done():
            self.published.set_result(None)

    def finish(self) -> None:
        if not self.finished.done():
            self.finished.set_result(None)


@dataclasses.dataclass(frozen=True, slots=True)
class Recorded:
    """A document whose outbox, as of `version`, is published and recorded as such:
    only clearing it is left."""

    collection: AsyncCollection[Document]
    doc_id: Any
    version: int

    @classmethod
    def now(cls, pending: Pending) -> "Recorded":
        return cls(pending.collection, pending.doc["_id"], pending.doc["version"])

    @property
    def key(self) -> Key:
        return (self.collection.name, self.doc_id)
