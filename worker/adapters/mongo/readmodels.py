"""Where each rebuildable read model lives, and the rebuilds under way.

`read_models` holds one small document per read model that was ever rebuilt:
the collection its queries read (`collection`) and, while a rebuild runs, the
fresh copy it builds (`building`), which every relay writes too, so that what
happens during the rebuild is in the copy. A model without a document lives in
its default collection.

Every worker reads `read_models` again every `refresh_seconds`, and writes a
read model only with what it read less than `2 x refresh_seconds` ago (it reads
again first otherwise). A rebuild waits `known_after_seconds` (longer than
that) after it announces a copy, before it reads the first order, and again
after it switches the queries to the copy, before it drops the old one: by
then no worker writes by what it knew before.
"""

import asyncio
import dataclasses
import logging
import math
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

log = logging.getLogger("worker.readmodels")

Document = dict[str, Any]
CONTROL = "read_models"


def known_after_seconds(refresh_seconds: float) -> float:
    """How long a rebuild waits for every worker to know what it changed."""
    return 2 * refresh_seconds + 1.0


class Place(Protocol):
    """Where a read model is read from, and every collection its writes go to."""

    @property
    def reading(self) -> AsyncCollection[Document]: ...

    async def writing(self) -> list[AsyncCollection[Document]]: ...


@dataclasses.dataclass(frozen=True)
class Fixed:
    """A read model in one collection, never rebuilt while in use (tests, tools)."""

    collection: AsyncCollection[Document]

    @property
    def reading(self) -> AsyncCollection[Document]:
        return self.collection

    async def writing(self) -> list[AsyncCollection[Document]]:
        return [self.collection]


@dataclasses.dataclass(frozen=True, slots=True)
class Placement:
    collection: str
    building: str | None = None


class ReadModels:
    """This worker's knowledge of `read_models`."""

    def __init__(
        self,
        database: AsyncDatabase[Document],
        defaults: Mapping[str, str],
        refresh_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._database = database
        self._defaults = dict(defaults)
        self._placements = {name: Placement(default) for name, default in defaults.items()}
        self._clock = clock
        self._collections: dict[str, AsyncCollection[Document]] = {}
        self._known_at = -math.inf
        self.refresh_seconds = refresh_seconds

    def place(self, name: str) -> "Placed":
        return Placed(self, name)

    def placement(self, name: str) -> Placement:
        return self._placements[name]

    def collection(self, name: str) -> AsyncCollection[Document]:
        """The collection of this name, made once (queries ask for it on every message)."""
        if (found := self._collections.get(name)) is None:
            found = self._collections[name] = self._database[name]
        return found

    def collections(self) -> dict[str, str]:
        """The collection each read model's queries read now, by its default name."""
        return {self._defaults[n]: p.collection for n, p in self._placements.items()}

    async def current(self) -> None:
        """Read `read_models` again unless what this worker knows is recent enough to
        write by."""
        if self._clock() - self._known_at > 2 * self.refresh_seconds:
            await self.refresh()

    async def refresh(self) -> None:
        asked_at = self._clock()  # what is read may be that old when it arrives
        found = await self._database[CONTROL].find({}).to_list()
        placements = {name: Placement(default) for name, default in self._defaults.items()}
        for doc in found:
            if doc["_id"] in placements:
                placements[doc["_id"]] = Placement(doc["collection"], doc.get("building"))
        self._placements = placements
        self._known_at = asked_at

    async def run(self) -> None:
        """Keep reading `read_models`, after the read of start-up; a failure is tried
        again at the next tick."""
        while True:
            await asyncio.sleep(self.refresh_seconds)
            try:
                await self.refresh()
            except PyMongoError as error:
                log.warning("read models' placement not read; trying again: %r", error)


@dataclasses.dataclass(frozen=True)
class Placed:
    """One read model of `ReadModels`, wherever it is now."""

    models: ReadModels
    name: str

    @property
    def reading(self) -> AsyncCollection[Document]:
        return self.models.collection(self.models.placement(self.name).collection)

    async def writing(self) -> list[AsyncCollection[Document]]:
        await self.models.current()
        placement = self.models.placement(self.name)
        names = [placement.collection, *([placement.building] if placement.building else [])]
        return [self.models.collection(name) for name in names]


class RebuildRunningError(Exception):
    """Another rebuild of the same read model has announced its copy."""

    def __init__(self, name: str, building: str, since: datetime | None) -> None:
        self.building = building
        started = f", started {since:%Y-%m-%d %H:%M:%S} UTC" if since else ""
        super().__init__(
            f"a rebuild of {name} is under way into {building}{started}; if it died, "
            "pass --force to drop its copy and start again"
        )


async def announce(
    database: AsyncDatabase[Document], name: str, default: str, copy: str, *, force: bool
) -> Placement:
    """Record that `copy` is being built for `name`; returns the placement before."""
    control = database[CONTROL]
    doc = await control.find_one({"_id": name})
    before = (
        Placement(default) if doc is None else Placement(doc["collection"], doc.get("building"))
    )
    if before.building is not None:
        if not force:
            assert doc is not None  # only a document names a copy being built
            raise RebuildRunningError(name, before.building, doc.get("since"))
        await database.drop_collection(before.building)
    await control.update_one(
        {"_id": name},
        {"$set": {"collection": before.collection, "building": copy, "since": datetime.now(UTC)}},
        upsert=True,
    )
    return Placement(before.collection)


async def switch(database: AsyncDatabase[Document], name: str, copy: str) -> None:
    """Queries read `copy` from now on, and no relay writes the collection before."""
    await database[CONTROL].update_one(
        {"_id": name},
        {"$set": {"collection": copy, "building": None, "since": datetime.now(UTC)}},
    )
