"""Memo of every expensive result of a run (program runs, proposer calls).

The engine is deterministic given these results, so a run that replays from a complete memo
repeats exactly the same steps without paying for them again. The in-memory memo is the
evaluation cache of a single run; the SQLite journal implements the same protocol durably.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

JSONValue = Any


class Memo(Protocol):
    """A thread-safe store of JSON results keyed by (kind, key)."""

    def get(self, kind: str, key: str) -> JSONValue | None: ...

    def put(self, kind: str, key: str, value: JSONValue) -> None: ...

    def event(self, kind: str, value: JSONValue) -> None:
        """Record something that happened (for inspection; never read back by the engine)."""
        ...


class InMemoryMemo:
    """The default memo: a dict behind a lock, living as long as the run."""

    def __init__(self) -> None:
        self._values: dict[tuple[str, str], JSONValue] = {}
        self._events: list[tuple[str, JSONValue]] = []
        self._lock = threading.Lock()

    def get(self, kind: str, key: str) -> JSONValue | None:
        with self._lock:
            return self._values.get((kind, key))

    def put(self, kind: str, key: str, value: JSONValue) -> None:
        with self._lock:
            self._values[(kind, key)] = value

    def event(self, kind: str, value: JSONValue) -> None:
        with self._lock:
            self._events.append((kind, value))

    @property
    def events(self) -> list[tuple[str, JSONValue]]:
        with self._lock:
            return list(self._events)

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)
