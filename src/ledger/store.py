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
from eventsourcing.persistence import IntegrityError
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.sql import SQL, Identifier

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


# -- recorders that verify read versions at commit -----------------------------------------------
#
# A use case that decides on an aggregate it does not write (the release catalog for
# eligibility, a contract's calendar for a ticket's clock) passes the versions it read as
# `expected_versions=[(id, version), ...]` to `save()`. The recorder checks them in the same
# transaction as the insert, after the insert has taken the store's write lock, and fails the
# transaction with IntegrityError when one moved on: the use case is then re-run on fresh reads,
# exactly as for a write conflict. Decisions thus rest on what is current when they commit.


def _expected(kwargs: dict[str, Any]) -> list[tuple[UUID, int]]:
    return list(kwargs.get("expected_versions") or ())


class SQLiteLedgerRecorder(SQLiteApplicationRecorder):
    """SQLite application recorder that verifies expected read versions at commit."""

    def _insert_events(self, c: Any, stored_events: Any, **kwargs: Any) -> Any:
        ids = super()._insert_events(c, stored_events, **kwargs)
        for aggregate_id, version in _expected(kwargs):
            c.execute(
                f"SELECT MAX(originator_version) FROM {self.events_table_name} "
                "WHERE originator_id = ?",
                (aggregate_id.hex,),
            )
            current = c.fetchone()[0] or 0
            if current != version:
                msg = f"aggregate {aggregate_id} moved from version {version} to {current}"
                raise IntegrityError(msg)
        return ids


class PostgresLedgerRecorder(PostgresApplicationRecorder):
    """PostgreSQL application recorder that verifies expected read versions at commit.

    The check is a function raising `unique_violation`, pipelined after the insert (which
    holds the table lock), so it costs no extra round trip.
    """

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        function = f"{events_table_name}_expect_version"
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {schema}.{function}(aggregate uuid, expected bigint) "
                "RETURNS void LANGUAGE plpgsql AS $BODY$ BEGIN "
                "IF COALESCE((SELECT max(originator_version) FROM {schema}.{table} "
                "WHERE originator_id = aggregate), 0) <> expected THEN "
                "RAISE EXCEPTION 'aggregate % moved on from version %', aggregate, expected "
                "USING ERRCODE = 'unique_violation'; "
                "END IF; END $BODY$"
            ).format(
                schema=Identifier(self.datastore.schema),
                function=Identifier(function),
                table=Identifier(events_table_name),
            )
        )
        self.expect_statement = SQL("SELECT {schema}.{function}(%s, %s)").format(
            schema=Identifier(self.datastore.schema), function=Identifier(function)
        )

    def _insert_stored_events(self, curs: Any, stored_events: Any, **kwargs: Any) -> None:
        super()._insert_stored_events(curs, stored_events, **kwargs)
        expected = _expected(kwargs)
        if expected:
            check = curs.connection.cursor()
            for aggregate_id, version in expected:
                check.execute(self.expect_statement, (aggregate_id, version), prepare=True)
