"""Store-level plumbing shared by the application, the views and the workers.

PostgreSQL DDL (`CREATE TABLE IF NOT EXISTS`, `CREATE OR REPLACE FUNCTION`) is not safe to run
from several processes at the same moment: concurrent catalog updates fail with "tuple
concurrently updated". Every component that creates tables does so while holding one advisory
lock per schema, so any number of processes can start together.
"""

from __future__ import annotations

import threading
import zlib
from collections import OrderedDict
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import psycopg

from ledger.domain.errors import StoreUnavailableError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from uuid import UUID

    from ledger.settings import DatabaseSettings

# Advisory-lock key space of ledger: the high half names the purpose, the low half the schema.
SCHEMA_LOCK = 0x1ED6


def lock_key(purpose: int, name: str) -> int:
    """A 64-bit advisory lock key for `purpose` in schema `name`."""
    return (purpose << 32) | zlib.crc32(name.encode("utf-8"))


def connect(
    settings: DatabaseSettings, *, autocommit: bool = True
) -> psycopg.Connection[tuple[object, ...]]:
    """A plain psycopg connection to the configured PostgreSQL database."""
    try:
        return psycopg.connect(**settings.psycopg_conninfo(), autocommit=autocommit)  # type: ignore[arg-type]
    except psycopg.OperationalError as exc:
        raise StoreUnavailableError(
            f"cannot connect to {settings.display_url}: {str(exc).strip()}"
        ) from None


@contextmanager
def schema_lock(settings: DatabaseSettings | None) -> Iterator[None]:
    """Hold the schema's DDL lock (PostgreSQL only; a no-op elsewhere)."""
    if settings is None or settings.backend != "postgresql":
        yield
        return
    key = lock_key(SCHEMA_LOCK, settings.schema)
    with connect(settings) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", [key])
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", [key])


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

    def put(self, aggregate: Any) -> None:
        """Remember an aggregate just saved (the caller does not change it afterwards)."""
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
