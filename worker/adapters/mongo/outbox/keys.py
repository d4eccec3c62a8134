"""How the relay's stages name a document, whatever its collection."""

from typing import Any

Document = dict[str, Any]
Key = tuple[str, Any]
"""A document: its collection's name and its `_id`."""


def document(key: Key) -> str:
    """The document in one string, as `outbox_relayed` and `outbox_waiting` name it."""
    return f"{key[0]}/{key[1]}"
