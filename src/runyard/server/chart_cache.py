"""Encoded chart series kept between requests: a run page opened again (or by a colleague) is answered from
memory. An entry is keyed by the series' point count too, so a running run's growing series is never served
stale; the cache holds at most a byte budget, least recently used out first."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

DEFAULT_BUDGET_BYTES = 64 << 20


class ChartCache:
    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self.budget = budget_bytes
        self._entries: OrderedDict[Hashable, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get_or_make(self, key: Hashable, make: Callable[[], bytes]) -> bytes:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        encoded = make()  # outside the lock: other requests go on meanwhile
        with self._lock:
            if key not in self._entries and len(encoded) <= self.budget:
                self._entries[key] = encoded
                self._bytes += len(encoded)
                while self._bytes > self.budget:
                    _, dropped = self._entries.popitem(last=False)
                    self._bytes -= len(dropped)
        return encoded
