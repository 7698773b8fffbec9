"""Copies of aggregates a process keeps between commands (their versions are checked at commit)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable
    from uuid import UUID


class SavedAggregates:
    """The aggregates this process saved last, as saved (a bounded, thread-safe LRU).

    A command that will write an aggregate may take it from here instead of reading the store:
    if another process wrote it since, the save fails on the version and the command is re-run
    from a fresh read, so a stale copy never reaches the store. Taking removes the aggregate,
    so no two commands ever hold the same object and nothing needs copying; a successful save
    puts it back, a failed command leaves it out (the next command reads it afresh).
    """

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._items: OrderedDict[UUID, Any] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, aggregate_id: UUID) -> Any | None:
        """The aggregate as last saved here (now the caller's alone), or None."""
        with self._lock:
            return self._items.pop(aggregate_id, None)

    def put_all(self, aggregates: Iterable[Any]) -> None:
        """Remember aggregates just saved (the caller does not change them afterwards)."""
        with self._lock:
            items = self._items
            for aggregate in aggregates:
                items[aggregate.id] = aggregate
                items.move_to_end(aggregate.id)
            while len(items) > self._size:
                items.popitem(last=False)

    def forget(self, aggregate_ids: Iterable[UUID]) -> None:
        """Drop copies that may be stale."""
        with self._lock:
            for aggregate_id in aggregate_ids:
                self._items.pop(aggregate_id, None)

    def holds(self, aggregate_id: UUID) -> bool:
        """Whether a copy of the aggregate is here."""
        with self._lock:
            return aggregate_id in self._items

    def offer(self, aggregate: Any) -> None:
        """Remember an aggregate just read from the store, unless a copy is here already.

        A read copy is as good as a saved one: stale or not, the save checks its version.
        """
        with self._lock:
            if aggregate.id in self._items:
                return
            self._items[aggregate.id] = aggregate
            while len(self._items) > self._size:
                self._items.popitem(last=False)


class ReferenceCopies:
    """Aggregates a process decides on without writing them, shared read-only between commands.

    Each is a private copy taken from the store and never changed in place: a newer read
    replaces it. Whoever decides on one records its version; the commit checks that version
    (see the recorders below), so a stale copy cannot lead to a committed decision.
    """

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._items: OrderedDict[UUID, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, aggregate_id: UUID) -> Any | None:
        """The shared copy (do not change it), or None."""
        with self._lock:
            found = self._items.get(aggregate_id)
            if found is not None:
                self._items.move_to_end(aggregate_id)
            return found

    def put(self, aggregate: Any) -> None:
        """Share a freshly read copy."""
        with self._lock:
            self._items[aggregate.id] = aggregate
            self._items.move_to_end(aggregate.id)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def forget(self, aggregate_ids: Iterable[UUID]) -> None:
        """Drop copies that may be stale."""
        with self._lock:
            for aggregate_id in aggregate_ids:
                self._items.pop(aggregate_id, None)
