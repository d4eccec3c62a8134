"""Collections in memory for the relay's stages: exactly the calls they make (`find` and
`to_list`, `find_one`, `insert_many`, `bulk_write` of `UpdateOne`, `delete_many`), with
the filters they use (equality, `$in`, `$lte`, `$or`, a path into an array)."""

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple, cast

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from worker.adapters.mongo.errors import DUPLICATE_KEY

Document = dict[str, Any]


class Written(NamedTuple):
    matched_count: int


class MemoryCollection:
    """Documents by `_id`; every call fails with `failure` while it is set."""

    def __init__(self, name: str, docs: Iterable[Document] = ()) -> None:
        self.name = name
        self.docs: dict[Any, Document] = {doc["_id"]: copy.deepcopy(doc) for doc in docs}
        self.failure: Exception | None = None

    def as_collection(self) -> AsyncCollection[Document]:
        return cast(AsyncCollection[Document], self)

    def find(self, query: Mapping[str, Any], projection: Any = None) -> "Found":
        return Found(self, query)

    async def find_one(self, query: Mapping[str, Any]) -> Document | None:
        found = await self.find(query).to_list()
        return found[0] if found else None

    async def insert_many(self, docs: Sequence[Document], ordered: bool = True) -> None:
        self._check()
        taken = []
        for index, doc in enumerate(docs):
            if doc["_id"] in self.docs:
                taken.append({"index": index, "code": DUPLICATE_KEY, "errmsg": "duplicate"})
            else:
                self.docs[doc["_id"]] = copy.deepcopy(doc)
        if taken:
            raise BulkWriteError({"writeErrors": taken, "nInserted": len(docs) - len(taken)})

    async def bulk_write(self, requests: Sequence[UpdateOne], ordered: bool = True) -> Written:
        self._check()
        matched = 0
        for request in requests:
            query, change = request._filter, cast(Mapping[str, Any], request._doc)
            found = [doc for doc in self.docs.values() if matches(doc, query)][:1]
            if not found and request._upsert:
                new = {k: v for k, v in query.items() if not isinstance(v, dict)}
                self.docs[new["_id"]] = new | change.get("$setOnInsert", {})
                found = [self.docs[new["_id"]]]
            else:
                matched += len(found)
            for doc in found:
                doc.update(copy.deepcopy(change.get("$set", {})))
        return Written(matched)

    async def delete_many(self, query: Mapping[str, Any]) -> None:
        self._check()
        for doc in [doc for doc in self.docs.values() if matches(doc, query)]:
            del self.docs[doc["_id"]]

    def _check(self) -> None:
        if self.failure is not None:
            raise self.failure


class Found:
    def __init__(self, collection: MemoryCollection, query: Mapping[str, Any]) -> None:
        self._collection, self._query = collection, query

    async def to_list(self) -> list[Document]:
        self._collection._check()
        docs = self._collection.docs.values()
        return [copy.deepcopy(doc) for doc in docs if matches(doc, self._query)]


def matches(doc: Mapping[str, Any], query: Mapping[str, Any]) -> bool:
    for field, wanted in query.items():
        if field == "$or":
            if not any(matches(doc, alternative) for alternative in wanted):
                return False
            continue
        values = _values(doc, field)
        if not isinstance(wanted, dict):
            if wanted not in values:
                return False
        elif "$in" in wanted:
            if not any(value in wanted["$in"] for value in values):
                return False
        elif not any(value <= wanted["$lte"] for value in values):
            return False
    return True


def _values(doc: Mapping[str, Any], path: str) -> list[Any]:
    """What a path names in a document, through arrays, as the server matches it."""
    values: list[Any] = [doc]
    for part in path.split("."):
        values = [
            item[part]
            for value in values
            for item in (value if isinstance(value, list) else [value])
            if isinstance(item, dict) and part in item
        ]
    return [v for value in values for v in (value if isinstance(value, list) else [value])]
