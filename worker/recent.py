"""A bounded set of the latest keys seen: what the worker remembers of its recent past."""

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class Recent(Generic[K]):
    """The last `size` keys added; adding one again makes it the latest."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._keys: OrderedDict[K, None] = OrderedDict()

    def add(self, key: K) -> None:
        self._keys[key] = None
        self._keys.move_to_end(key)
        if len(self._keys) > self._size:
            self._keys.popitem(last=False)

    def __contains__(self, key: object) -> bool:
        return key in self._keys
