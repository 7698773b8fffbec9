"""Copies of aggregates a process keeps between commands (their versions are checked at commit).

Both kinds are stores bounded twice: by a count and by the bytes their aggregates take
(`weigh`), so a process holds at most its budget however large each aggregate's state is (ten
thousand accounts of three hundred lots each would otherwise take gigabytes). Beyond a bound
they drop copies chosen at random among all but the one just kept, not the least recently
used: the scheduler visits the accounts falling due in turn, and a least-recently-used store
smaller than that cycle drops each copy just before it is needed again (no hit at all),
where random eviction keeps a share of the cycle (simulated: 40 % hits over a cycle 1.5
times the budget, 20 % at twice; 56 % against LRU's 61 % on a Zipf-like access pattern).

An aggregate is weighed when it is first kept and again each time its version has
grown by a quarter since; in between its weight is taken as what was last weighed plus the
growth per version seen between its last two weighings (none when it did not grow, and none
before a second weighing). Taking every aggregate to grow with its version overstated the
states that shrink: the scheduler's accounts lose a lot at each expiry, their estimates grew
a quarter past what they held, and at 10,000 accounts random eviction dropped 10-15 % of
copies that fitted (their facts read their accounts again for 90 s). An aggregate that grows
faster than before between two weighings is understated by what a quarter more events added.
An aggregate heavier than the whole budget is not kept at all.
"""

from __future__ import annotations

import random
import sys
import threading
from datetime import date, datetime
from decimal import Decimal
from types import BuiltinFunctionType, FunctionType, MethodType, ModuleType, NoneType
from typing import TYPE_CHECKING, Any
from uuid import UUID

if TYPE_CHECKING:
    from collections.abc import Iterable

# The default budgets: SavedAggregates and ReferenceCopies each (see LEDGER_COPIES_MB). The
# count only bounds the bookkeeping of tiny aggregates: at 10,000 it evicted half of the
# scheduler's copies at 10,000 accounts once each account's balance watch was kept too.
DEFAULT_COUNT = 100_000
DEFAULT_BYTES = 64 * 1024 * 1024
# An aggregate is weighed again when its version has grown by this share since it was weighed.
REWEIGH_GROWTH = 0.25
# A container with more entries than this is weighed from this many of them, spread evenly,
# scaled up to all of them (an aggregate's big containers hold entries of one shape: lots,
# purchases, draws), so weighing costs about the same for ten lots as for ten thousand.
SAMPLE = 16
# Shared, not the aggregate's own: never counted in its weight.
_SHARED = (type, ModuleType, FunctionType, BuiltinFunctionType, MethodType, bool, NoneType)
_ATOMS = (str, bytes, int, float, Decimal, datetime, date, UUID)
_SKIP, _ATOM, _MAP, _SEQ, _OBJ = range(5)
_kinds: dict[type, tuple[int, tuple[str, ...]]] = {}  # a class's kind and its slots


def _kind(cls: type) -> tuple[int, tuple[str, ...]]:
    known = _kinds.get(cls)
    if known is None:
        slots: tuple[str, ...] = ()
        if issubclass(cls, _SHARED):
            kind = _SKIP
        elif issubclass(cls, _ATOMS):
            kind = _ATOM
        elif issubclass(cls, dict):
            kind = _MAP
        elif issubclass(cls, (list, tuple, set, frozenset)):
            kind = _SEQ
        else:
            kind = _OBJ
            for base in cls.__mro__:
                own = base.__dict__.get("__slots__", ())
                slots += (own,) if isinstance(own, str) else tuple(own)
        slots = tuple(s for s in slots if s not in ("__dict__", "__weakref__"))
        known = _kinds[cls] = (kind, slots)
    return known


def weigh(aggregate: Any) -> int:
    """About the bytes an aggregate's state takes: the objects reachable from it through its
    attributes, dicts, lists, tuples and sets, each counted once (classes, modules and
    functions are shared, so not counted); a big container is weighed from a sample."""
    seen: set[int] = set()
    total = 0
    stack: list[tuple[Any, float]] = [(aggregate, 1.0)]  # (object, how many it stands for)
    while stack:
        obj, scale = stack.pop()
        kind, slots = _kind(type(obj))
        if kind == _SKIP or id(obj) in seen:
            continue
        seen.add(id(obj))
        total += int(sys.getsizeof(obj) * scale)
        if kind == _ATOM:
            continue
        if kind == _OBJ:
            attributes = getattr(obj, "__dict__", None)
            if attributes is not None:
                stack.append((attributes, scale))
            stack.extend((getattr(obj, slot, None), scale) for slot in slots)
            continue
        entries: Any = list(obj.items()) if kind == _MAP else list(obj)
        if len(entries) > SAMPLE:
            step = len(entries) / SAMPLE
            scale *= step
            entries = [entries[int(n * step)] for n in range(SAMPLE)]
        for entry in entries:
            if kind == _MAP:
                stack.append((entry[0], scale))
                stack.append((entry[1], scale))
            else:
                stack.append((entry, scale))
    return total


class _Bounded:
    """Aggregates by id within a count and a weight in bytes, evicted at random."""

    def __init__(self, size: int, budget: int) -> None:
        self._size = size
        self._budget = budget
        self._items: dict[UUID, tuple[Any, int]] = {}  # id -> (aggregate, weight)
        self._ids: list[UUID] = []  # the ids of _items, in no order (a random pick in O(1))
        self._at: dict[UUID, int] = {}  # id -> its index in _ids
        self._random = random.Random()  # noqa: S311 - eviction, not crypto
        # id -> (bytes, the version weighed at, bytes per version it grew by before that)
        self._weights: dict[UUID, tuple[int, int, float]] = {}
        self._held = 0  # bytes of the aggregates in _items
        self._lock = threading.Lock()

    @property
    def budget(self) -> int:
        """The most bytes kept."""
        return self._budget

    @property
    def held_bytes(self) -> int:
        """The weight of the aggregates kept now, in bytes."""
        with self._lock:
            return self._held

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def _weight(self, aggregate: Any) -> int:
        version = int(getattr(aggregate, "version", 0) or 0)
        known = self._weights.get(aggregate.id)
        if known is not None:
            size, at, growth = known
            if 0 < at <= version < at * (1 + REWEIGH_GROWTH) + 1:
                return size + int(growth * (version - at))
        size = weigh(aggregate)
        growth = 0.0
        if known is not None and version > known[1]:
            growth = max(0.0, (size - known[0]) / (version - known[1]))
        self._weights[aggregate.id] = (size, version, growth)
        return size

    def _keep(self, aggregate: Any) -> None:
        """Keep (or renew) an aggregate; beyond the bounds, drop others chosen at random (never
        the one just kept). The caller holds the lock."""
        self._drop(aggregate.id)
        weight = self._weight(aggregate)
        if weight > self._budget:
            self._weights.pop(aggregate.id, None)
            return
        while self._items and (
            len(self._items) >= self._size or self._held + weight > self._budget
        ):
            victim = self._ids[self._random.randrange(len(self._ids))]
            self._drop(victim)
            self._weights.pop(victim, None)
        self._items[aggregate.id] = (aggregate, weight)
        self._at[aggregate.id] = len(self._ids)
        self._ids.append(aggregate.id)
        self._held += weight
        if len(self._weights) > 2 * len(self._items) + 100:  # taken and never put back
            self._weights = {k: v for k, v in self._weights.items() if k in self._items}

    def _drop(self, aggregate_id: UUID) -> Any | None:
        """Remove an aggregate (its weight is remembered until it is kept again)."""
        found = self._items.pop(aggregate_id, None)
        if found is None:
            return None
        index = self._at.pop(aggregate_id)
        last = self._ids.pop()
        if last != aggregate_id:  # the last id takes the dropped one's place
            self._ids[index] = last
            self._at[last] = index
        self._held -= found[1]
        return found[0]

    def forget(self, aggregate_ids: Iterable[UUID]) -> None:
        """Drop copies that may be stale."""
        with self._lock:
            for aggregate_id in aggregate_ids:
                self._drop(aggregate_id)
                self._weights.pop(aggregate_id, None)


class SavedAggregates(_Bounded):
    """The aggregates this process saved last, as saved (bounded, thread-safe).

    A command that will write an aggregate may take it from here instead of reading the store:
    if another process wrote it since, the save fails on the version and the command is re-run
    from a fresh read, so a stale copy never reaches the store. Taking removes the aggregate,
    so no two commands ever hold the same object and nothing needs copying; a successful save
    puts it back, a failed command leaves it out (the next command reads it afresh).
    """

    def __init__(self, size: int = DEFAULT_COUNT, budget: int = DEFAULT_BYTES) -> None:
        super().__init__(size, budget)

    def take(self, aggregate_id: UUID) -> Any | None:
        """The aggregate as last saved here (now the caller's alone), or None."""
        with self._lock:
            return self._drop(aggregate_id)

    def put_all(self, aggregates: Iterable[Any]) -> None:
        """Remember aggregates just saved (the caller does not change them afterwards)."""
        with self._lock:
            for aggregate in aggregates:
                self._keep(aggregate)

    def holds(self, aggregate_id: UUID) -> bool:
        """Whether a copy of the aggregate is here."""
        with self._lock:
            return aggregate_id in self._items

    def offer(self, aggregate: Any) -> None:
        """Remember an aggregate just read from the store, unless a copy is here already.

        A read copy is as good as a saved one: stale or not, the save checks its version.
        """
        with self._lock:
            if aggregate.id not in self._items:
                self._keep(aggregate)


class ReferenceCopies(_Bounded):
    """Aggregates a process decides on without writing them, shared read-only between commands.

    Each is a private copy taken from the store and never changed in place: a newer read
    replaces it. Whoever decides on one records its version; the commit checks that version
    (see the recorders below), so a stale copy cannot lead to a committed decision.
    """

    def __init__(self, size: int = DEFAULT_COUNT, budget: int = DEFAULT_BYTES) -> None:
        super().__init__(size, budget)

    def get(self, aggregate_id: UUID) -> Any | None:
        """The shared copy (do not change it), or None."""
        with self._lock:
            found = self._items.get(aggregate_id)
            return None if found is None else found[0]

    def put(self, aggregate: Any) -> None:
        """Share a freshly read copy."""
        with self._lock:
            self._keep(aggregate)
