"""One shared object per key while the key stays in a bounded pool.

For values that thousands of long-lived records hold alike (a row's keys, a
project, a network): shared, they cost nothing per record. The pool is emptied
when full, so keys seen once cycle out instead of piling up. Only for values
nobody changes in place.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Interned(Generic[K, V]):
    def __init__(self, make: Callable[[K], V], limit: int = 4096) -> None:
        self.make = make
        self.limit = limit
        self._kept: dict[K, V] = {}

    def __call__(self, key: K) -> V:
        kept = self._kept.get(key)
        if kept is None:
            if len(self._kept) >= self.limit:
                self._kept.clear()
            kept = self._kept[key] = self.make(key)
        return kept

    def __len__(self) -> int:
        return len(self._kept)
