"""Start-up builds the indexes under a deadline of its own, not the client's `timeoutMS`."""

from typing import Any

from pymongo import IndexModel, _csot

from worker.adapters.mongo.database import INDEX_BUILD_SECONDS, INDEXES, create_indexes


class Recording:
    """Collections that note the time PyMongo would give each index build."""

    def __init__(self) -> None:
        self.deadlines: dict[str, float | None] = {}

    def __getitem__(self, name: str) -> "Recording":
        self.name = name
        return self

    async def create_indexes(self, indexes: list[IndexModel]) -> None:
        (index,) = indexes
        self.deadlines[f"{self.name}.{index.document['name']}"] = _csot.remaining()


async def test_every_index_is_built_with_an_hour_to_spare_whatever_the_client_limit() -> None:
    """The first start after an upgrade builds the `versioned` index over every stored
    document: under a per-message limit of 10 s it would fail, and every start after."""
    database = Recording()

    await create_indexes(database)  # type: ignore[arg-type]

    expected = {f"{name}.{i.document['name']}" for name, ids in INDEXES.items() for i in ids}
    assert set(database.deadlines) == expected
    remaining: list[Any] = list(database.deadlines.values())
    assert all(
        r is not None and INDEX_BUILD_SECONDS - 60 < r <= INDEX_BUILD_SECONDS for r in remaining
    )
