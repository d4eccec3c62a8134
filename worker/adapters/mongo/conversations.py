"""An order's conversation, read from its own document: the inbox keeps one entry per
command that changed it (`documents.inbox_entries`), the outbox the events not yet
published. Nothing is stored for it alone."""

from collections.abc import Mapping
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from .errors import database_call

Document = dict[str, Any]
FIELDS = {"inbox": 1, "outbox": 1, "status": 1, "version": 1, "created_at": 1}


class MongoConversations:
    def __init__(self, orders: AsyncCollection[Document]) -> None:
        self._orders = orders

    async def conversation(self, order_id: str) -> Mapping[str, Any] | None:
        async with database_call("read an order's conversation"):
            doc = await self._orders.find_one({"_id": order_id}, FIELDS)
        if doc is None:
            return None
        return {
            "order_id": order_id,
            "status": doc.get("status"),
            "version": doc.get("version"),
            "created_at": doc.get("created_at"),
            "commands": [_command(entry) for entry in doc.get("inbox", ())],
            "unpublished": [_unpublished(entry) for entry in doc.get("outbox", ())],
        }


def _command(entry: Mapping[str, Any]) -> dict[str, Any]:
    """An inbox entry; those stored before names and events were kept show what there is."""
    result = entry.get("result") or {}
    return {
        "message_id": entry.get("message_id"),
        "name": entry.get("name") or None,
        "correlation_id": entry.get("correlation_id"),
        "at": entry.get("at"),
        "status": result.get("status"),
        "detail": result.get("detail"),
        "events": list(entry.get("events", ())),
    }


def _unpublished(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": entry.get("id"),
        "type": entry.get("type"),
        "version": entry.get("version"),
        "at": entry.get("at"),
        "correlation_id": entry.get("correlation_id"),
    }
