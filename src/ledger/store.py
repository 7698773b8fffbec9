"""Store-level plumbing shared by the application, the views and the workers.

PostgreSQL DDL (`CREATE TABLE IF NOT EXISTS`, `CREATE OR REPLACE FUNCTION`) is not safe to run
from several processes at the same moment: concurrent catalog updates fail with "tuple
concurrently updated". Every component that creates tables does so while holding one advisory
lock per schema, so any number of processes can start together.
"""

from __future__ import annotations

import sqlite3
import threading
import zlib
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from operator import attrgetter
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

import orjson
import psycopg
from eventsourcing.persistence import (
    ConnectionNotFromPoolError,
    ConnectionPoolClosedError,
    ConnectionUnavailableError,
    DatetimeAsISO,
    DecimalAsStr,
    IntegrityError,
    InterfaceError,
    JSONTranscoder,
    StoredEvent,
    Transcoding,
    UUIDAsHex,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import (
    SQLITE3_DEFAULT_LOCK_TIMEOUT,
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteFactory,
    SQLiteTransaction,
)
from psycopg.sql import SQL, Composable, Identifier

from ledger.domain.errors import StoreUnavailableError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from eventsourcing.persistence import AggregateRecorder, InfrastructureFactory
    from eventsourcing.sqlite import SQLiteAggregateRecorder

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


# -- encoding and connections ---------------------------------------------------------------------


class LedgerTranscoder(JSONTranscoder):
    """The library's JSON transcoder, byte for byte, with a cheaper encoder.

    The library's `encode` builds a new `json` encoder for every event, tracks every dict and
    list it encodes to detect cycles, and finds a transcoding object for every UUID, decimal
    and datetime. Here a state of plain values and the library's three transcoded types is
    written by orjson (see `_plain_dict`); any other state by the C `json` encoder, built once,
    without the cycle tracking, with the three transcodings applied inline; a state nested
    too deep for either, or a cycle, by the library's own encoder (its bytes, or its error).
    The bytes are the library's, so everything stored reads back as before, by any
    transcoder; decoding is the library's.
    """

    def __init__(self) -> None:
        super().__init__()
        # type -> (name, encode) for the library's own transcodings, called without a lookup
        # of the transcoding object and a method call per value.
        self._inline: dict[type, tuple[str, Callable[[Any], Any]]] = {}
        self._encode_chunks: Callable[[Any, int], Any] | None = None
        if c_make_encoder is not None:  # CPython's C accelerator; else the library's path
            sort_keys, skip_keys, allow_nan = False, False, True  # the library's encoder's
            self._encode_chunks = c_make_encoder(
                None, self._encode_obj, encode_basestring, None, ":", ",", sort_keys, skip_keys,
                allow_nan,
            )  # fmt: skip

    def register(self, transcoding: Transcoding) -> None:
        """Registers given transcoding with the transcoder."""
        super().register(transcoding)
        inline = _INLINE.get(type(transcoding))
        if inline is not None:
            self._inline[transcoding.type] = (transcoding.name, inline)
        else:
            self._inline.pop(transcoding.type, None)

    def encode(self, obj: Any) -> bytes:
        """Encodes given object as a bytes array (as the library does)."""
        if type(obj) is not dict:
            return super().encode(obj)
        try:
            try:
                return orjson.dumps(self._plain_dict(obj))
            except (_NotPlain, orjson.JSONEncodeError):
                pass  # written by the json module, as the library writes it
            if self._encode_chunks is not None:
                return "".join(self._encode_chunks(obj, 0)).encode("utf8")
        except RecursionError:
            pass  # very deep nesting, or a cycle: the library's encoder, its result or error
        return super().encode(obj)

    # orjson writes plain JSON (str, int, bool, None, dicts with str keys, lists) exactly as
    # the library's `json` encoder does (compact, UTF-8, the same escapes), several times
    # faster. Everything else it writes differently (floats, integers beyond 64 bits, UUIDs,
    # dict keys that are not str, subclasses), so a state is first copied with the library's
    # three transcodings applied; a value of any other kind sends the state to `json`.

    def _plain_dict(self, values: dict[Any, Any]) -> dict[str, Any]:
        inline = self._inline
        plain: dict[str, Any] = {}
        for key, value in values.items():
            if type(key) is not str:
                raise _NotPlain
            kind = type(value)
            if (
                kind is str
                or kind is bool
                or value is None
                or (kind is int and -_INT64 < value < _INT64)
            ):
                plain[key] = value
            elif (transcoded := inline.get(kind)) is not None:  # the common case inline
                plain[key] = {"_type_": transcoded[0], "_data_": transcoded[1](value)}
            else:
                plain[key] = self._plain(value, kind)
        return plain

    def _plain(self, value: Any, kind: type) -> Any:
        inline = self._inline.get(kind)
        if inline is not None:
            return {"_type_": inline[0], "_data_": inline[1](value)}
        if kind is int:
            if not _ORJSON_INT_MIN <= value <= _ORJSON_INT_MAX:
                raise _NotPlain
            return value
        if kind is dict:
            return self._plain_dict(value)
        if kind is list or kind is tuple:
            return [
                v if type(v) is str or type(v) is bool or v is None else self._plain(v, type(v))
                for v in value
            ]
        raise _NotPlain


class _NotPlain(Exception):  # noqa: N818 - a signal inside the encoder, never raised out of it
    """A value orjson would not write as the library's encoder does."""


_ORJSON_INT_MIN, _ORJSON_INT_MAX = -(2**63), 2**64 - 1
_INT64 = 2**63  # within (-_INT64, _INT64): written by orjson as by json


def _datetime_iso(value: datetime) -> datetime | str:
    """`value.isoformat()`, or an aware UTC `value` itself: orjson writes that as the same text
    (for every instant of the years 1-9999, microseconds or none) five times faster."""
    return value if value.tzinfo is UTC else value.isoformat()


# What the library's transcodings' `encode` return, as plain functions (a str, or a UTC
# datetime orjson writes as its isoformat).
_INLINE: dict[type[Transcoding], Callable[[Any], Any]] = {
    UUIDAsHex: attrgetter("hex"),
    DecimalAsStr: Decimal.__str__,
    DatetimeAsISO: _datetime_iso,
}


# How many versions a SQLite recorder remembers as found current (see `_unverified`).
VERIFIED_VERSIONS = 10_000

# SQLite prepares a statement in some 5-15 µs; a connection keeps this many prepared.
SQLITE_STATEMENT_CACHE = 64


class SQLiteLedgerConnectionPool(SQLiteConnectionPool):
    """The library's SQLite connection pool, with connections that keep their statements and
    one connection kept for writing.

    The library opens connections with `cached_statements=True`, which `sqlite3` reads as a
    cache of one statement: every transaction prepares its `BEGIN`, its `INSERT` and the
    read-version check again. The connections are otherwise opened exactly as the library's
    `SQLiteConnectionPool._create_connection` opens them (eventsourcing 9.5).

    The library lets one writer at a time have a connection (its writer lock), and hands it
    out through the pool's semaphore and conditions, some 10-20 µs a save. On a database file
    whose connections neither age nor get pinged, this pool keeps one connection for the
    writer instead, under the same writer lock and timeout: the same one writer at a time, no
    pool bookkeeping. Readers take the library's path.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._writer: SQLiteConnection | None = None
        self._writer_out = False  # handed out and not given back yet (under the writer lock)
        self._keeps_writer = (
            not self.is_sqlite_memory_mode and self.max_age is None and not self.pre_ping
        )

    def get_connection(
        self, timeout: float | None = None, *, is_writer: bool | None = None
    ) -> SQLiteConnection:
        """The writer's connection, or (for readers) one from the library's pool."""
        if is_writer is not True or not self._keeps_writer:
            return super().get_connection(timeout, is_writer=is_writer)
        if self._closed:
            raise ConnectionPoolClosedError
        wait = self.pool_timeout if timeout is None else timeout
        if not self._writer_lock.acquire(timeout=wait):
            msg = "Timed out waiting for return of writer"
            raise ConnectionUnavailableError(msg)
        if self.closed:  # closed while this writer waited for its turn
            self._writer_lock.release()
            raise ConnectionPoolClosedError
        try:
            if self._writer is None or self._writer.closed:
                self._writer = self._create_connection()
        except BaseException:
            self._writer_lock.release()
            raise
        self._writer.is_writer = True
        self._writer_out = True
        return self._writer

    def put_connection(self, conn: SQLiteConnection) -> None:
        """Give the writer's connection back (others go back to the library's pool).

        A writer's connection left inside a transaction (a failed commit) is closed, so the
        next writer starts on a new one.
        """
        if conn is not self._writer:
            super().put_connection(conn)
            return
        if not self._writer_out:
            msg = "The writer's connection was given back already"
            raise ConnectionNotFromPoolError(msg)
        self._writer_out = False
        conn.is_writer = None
        try:
            if self._closed:
                msg = "Pool is closed"
                raise ConnectionPoolClosedError(msg)
            if conn._sqlite_conn.in_transaction:  # a commit that failed half-way
                conn.close()
        finally:
            self._writer_lock.release()

    def close(self) -> None:
        """Close the pool's connections and the writer's."""
        super().close()
        if self._writer is not None:
            self._writer.close()

    def _create_connection(self) -> SQLiteConnection:
        try:
            c = sqlite3.connect(
                database=self.db_name,
                uri=True,
                check_same_thread=False,
                isolation_level=None,  # auto-commit mode: the recorders BEGIN themselves
                cached_statements=SQLITE_STATEMENT_CACHE,
                timeout=self.lock_timeout or SQLITE3_DEFAULT_LOCK_TIMEOUT,
            )
        except (sqlite3.Error, TypeError) as e:
            raise InterfaceError(e) from e
        if not self.is_sqlite_memory_mode and not self.is_journal_mode_wal:
            cursor = c.cursor()
            cursor.execute("PRAGMA journal_mode;")
            if cursor.fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL;")
                self.journal_mode_was_changed_to_wal = True
            self.is_journal_mode_wal = True
        c.row_factory = sqlite3.Row
        return SQLiteConnection(sqlite_conn=c, max_age=self.max_age)


def tune_factory(factory: InfrastructureFactory[Any]) -> InfrastructureFactory[Any]:
    """The factory with ledger's store settings: on SQLite, connections that keep statements.

    Called before the factory opens any connection (see `SupportLedger.construct_factory`).
    """
    if isinstance(factory, SQLiteFactory):
        old = factory.datastore.pool
        factory.datastore.pool = SQLiteLedgerConnectionPool(
            db_name=old.db_name,
            lock_timeout=old.lock_timeout,
            pool_size=old.pool_size,
            max_overflow=old.max_overflow,
            pool_timeout=old.pool_timeout,
            max_age=old.max_age,
            pre_ping=old.pre_ping,
        )
        old.close()
    return factory


# -- recorders that verify read versions at commit -----------------------------------------------
#
# A use case that decides on an aggregate it does not write (the release catalog for
# eligibility, a contract's calendar for a ticket's clock) passes the versions it read as
# `expected_versions=[(id, version), ...]` to `save()`. The recorder checks them in the same
# transaction as the insert, after the insert has taken the store's write lock, and fails the
# transaction with IntegrityError when one moved on: the use case is then re-run on fresh reads,
# exactly as for a write conflict. Decisions thus rest on what is current when they commit.
#
# A use case that decides on every event of some kinds up to a position of the log (a calendar
# change, on the tickets opened under the contract) passes `nothing_after=NothingAfter(position,
# topics, concerns)`: the recorder fails the transaction the same way when an event of those
# topics that concerns the use case (`concerns(stored_event)`; a ticket of that contract), of
# an aggregate the save does not write, was recorded after the position. Both stores commit in
# the order of the notification ids (one writer on SQLite, the table lock on PostgreSQL), so
# what the use case read up to the position and what the check finds after it leave no gap.
#
# On SQLite the recorder also writes the snapshots due with the events, in the same
# transaction, when the use case passes `snapshots=Snapshots(recorder, stored)`: a snapshot
# then costs no commit of its own. Not on PostgreSQL: the library inserts events in psycopg's
# pipeline mode, and a large statement there (a snapshot of an account with hundreds of lots
# is 100 KB and more) can leave client and server each waiting for the other (the scheduler
# benchmark hung so, with the server in ClientRead; psycopg issue 685 describes the same).
# There snapshots are written after the events' commit, as the library does: a snapshot is a
# cache of the events, so one missing after a crash costs a longer read, never a wrong state.


@dataclass(frozen=True)
class Snapshots:
    """Snapshots to write with a save's events: the snapshot store's recorder, and them."""

    recorder: AggregateRecorder
    stored: Sequence[StoredEvent]


@dataclass(frozen=True)
class NothingAfter:
    """A save's condition: no event of these topics that `concerns` the use case recorded
    after this position of the log (events of the aggregates the save writes aside)."""

    position: int
    topics: tuple[str, ...]
    concerns: Callable[[StoredEvent], bool] = field(default=lambda _: True)

    def refusal(self, rows: Iterable[tuple[Any, ...]], own: set[Any]) -> str | None:
        """Why the save is refused: the first of `rows` (notification id, originator id,
        version, topic, state; after the position, of the topics) that concerns it and is not
        the save's own; None when there is none."""
        for position, originator_id, version, topic, state in rows:
            if originator_id in own:
                continue
            aggregate_id = originator_id if isinstance(originator_id, UUID) else UUID(originator_id)
            if self.concerns(StoredEvent(aggregate_id, version, topic, bytes(state))):
                return (
                    f"{topic} of {aggregate_id} was recorded at position {position}, "
                    f"after position {self.position}"
                )
        return None


def _expected(kwargs: dict[str, Any]) -> list[tuple[UUID, int]]:
    return list(kwargs.get("expected_versions") or ())


def _nothing_after(kwargs: dict[str, Any]) -> NothingAfter | None:
    condition = kwargs.get("nothing_after")
    return condition if condition is not None and condition.topics else None


class SQLiteLedgerRecorder(SQLiteApplicationRecorder):
    """SQLite application recorder that verifies expected read versions at commit."""

    def __init__(self, datastore: Any, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name)
        # The versions this recorder's commits found current or wrote, and the position of
        # its last commit (see `_unverified`; -1: none yet). Read and written by writers only,
        # one at a time (the pool's writer lock, held from the insert until after the
        # bookkeeping).
        self._verified: dict[UUID | str, int] = {}
        self._last_position = -1
        self.expect_statement = (
            f"SELECT MAX(originator_version) FROM {self.events_table_name} WHERE originator_id = ?"
        )
        self.after_statement = (
            f"SELECT rowid, originator_id, originator_version, topic, state "
            f"FROM {self.events_table_name} WHERE rowid > ? AND topic IN ({{topics}})"
        )

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        """The library's `insert_events`, without its layers of context managers.

        The same steps as `SQLiteDatastore.transaction(commit=True)`: a writer's connection
        from the pool, the library's `SQLiteTransaction` (BEGIN, then commit, or roll back
        and translate the error), the cursor closed, the connection returned.
        """
        pool = self.datastore.pool
        connection = pool.get_connection(is_writer=True)
        try:
            with SQLiteTransaction(connection, commit=True) as cursor:
                try:
                    ids = self._insert_events(cursor, stored_events, **kwargs)
                finally:
                    cursor.sqlite_cursor.close()
            self._committed(ids, stored_events, kwargs)
            return ids
        finally:
            pool.put_connection(connection)

    # A version this recorder's commit found current, or wrote, stays current for as long as
    # nobody else writes. Nobody else wrote when a save's first event follows this recorder's
    # last commit directly: the events' rowids are the log's positions, each the last one plus
    # one, and events are never deleted nor given rowids of their own (nor is a store's file
    # replaced under a running process). Such a save needs no statement for the versions it
    # names that are known current; after anybody else's write every version is checked again.
    # A process that writes alone (the demo, one API worker) then checks a contract's version
    # once, not at every ticket opened under it.

    def _unverified(
        self, ids: Sequence[int] | None, stored_events: Sequence[StoredEvent], kwargs: Any
    ) -> list[tuple[UUID, int]]:
        """The expected versions the save must check: all, unless nobody else wrote since
        this recorder's last commit; then those not known current (or written by the save)."""
        expected = _expected(kwargs)
        if not expected or not ids or ids[0] != self._last_position + 1:
            return expected
        verified = self._verified
        written = {e.originator_id for e in stored_events}
        return [
            (i, version) for i, version in expected if verified.get(i) != version or i in written
        ]

    def _committed(
        self, ids: Sequence[int] | None, stored_events: Sequence[StoredEvent], kwargs: Any
    ) -> None:
        """Remember what the save found current and wrote, and where it ended."""
        if not ids:
            return
        if ids[0] != self._last_position + 1 or len(self._verified) > VERIFIED_VERSIONS:
            self._verified = {}  # somebody else wrote in between: nothing is known current
        verified = self._verified
        verified.update(_expected(kwargs))
        for event in stored_events:
            verified[event.originator_id] = event.originator_version
        self._last_position = ids[-1]

    def _insert_events(self, c: Any, stored_events: Any, **kwargs: Any) -> Any:
        ids = super()._insert_events(c, stored_events, **kwargs)
        for aggregate_id, version in self._unverified(ids, stored_events, kwargs):
            c.execute(self.expect_statement, (aggregate_id.hex,))
            current = c.fetchone()[0] or 0
            if current != version:
                msg = f"aggregate {aggregate_id} moved from version {version} to {current}"
                raise IntegrityError(msg)
        condition = _nothing_after(kwargs)
        if condition is not None:
            marks = ", ".join("?" * len(condition.topics))
            c.execute(
                self.after_statement.format(topics=marks), (condition.position, *condition.topics)
            )
            refusal = condition.refusal(c.fetchall(), {e.originator_id.hex for e in stored_events})
            if refusal is not None:
                raise IntegrityError(refusal)
        snapshots: Snapshots | None = kwargs.get("snapshots")
        if snapshots is not None:
            recorder = cast("SQLiteAggregateRecorder", snapshots.recorder)
            recorder._insert_events(c, snapshots.stored)  # the same transaction
        return ids


class PostgresLedgerRecorder(PostgresApplicationRecorder):
    """PostgreSQL application recorder that verifies expected read versions at commit.

    The check is a query pipelined after the insert (which holds the table lock), so it costs
    no extra round trip; when a version moved on it calls a function raising
    `unique_violation`, which the library reports as IntegrityError.

    The insert itself is the library's, in the same transaction and order (lock timeout, table
    lock, notification, insert returning the notification ids), with two changes that cost the
    client less and store the same rows:
    - the events go as four arrays of plain types in binary (`unnest` zips them in order)
      instead of one array of the composite type in text, which psycopg builds in Python
      by escaping every byte of every event's state;
    - the statements are rendered to bytes once, not composed again for every save.
    """

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        schema = Identifier(self.datastore.schema)
        table = Identifier(events_table_name)
        # A refusal is raised by a function in the server, so that the transaction is rolled
        # back: the library commits it whatever Python raises while inserting (it re-raises
        # after the commit). The checks are plain SQL, which costs the server far less than a
        # PL/pgSQL call; the function is only called to refuse.
        refuse = Identifier(f"{events_table_name}_refuse")
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {schema}.{function}(message text) RETURNS void "
                "LANGUAGE plpgsql AS $BODY$ BEGIN "
                "RAISE EXCEPTION '%', message USING ERRCODE = 'unique_violation'; "
                "END $BODY$"
            ).format(schema=schema, function=refuse)
        )
        self.expect_statement = (
            SQL(
                "SELECT CASE WHEN COALESCE(max(originator_version), 0) <> %(expected)s "
                "THEN {schema}.{function}(format('aggregate %%s moved on from version %%s', "
                "%(aggregate)s, %(expected)s)) END "
                "FROM {schema}.{table} WHERE originator_id = %(aggregate)s"
            )
            .format(schema=schema, function=refuse, table=table)
            .as_bytes(None)
        )
        self.refuse_statement = (
            SQL("SELECT {schema}.{function}(%s)")
            .format(schema=schema, function=refuse)
            .as_bytes(None)
        )
        # The events after a position a save requires nothing of are fetched: whether one
        # concerns the save is decided in Python (see NothingAfter).
        self.after_statement = (
            SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state "
                "FROM {schema}.{table} WHERE notification_id > %(after)s "
                "AND topic = ANY(%(topics)s::text[]) ORDER BY notification_id"
            )
            .format(schema=schema, table=table)
            .as_bytes(None)
        )
        self.lock_statements = [
            s.as_bytes(None) if isinstance(s, Composable) else s for s in self.lock_table_statements
        ]
        self.notify_statement = (
            SQL("NOTIFY {channel}").format(channel=Identifier(self.channel_name)).as_bytes(None)
        )
        self.insert_columns_statement = (
            SQL(
                "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
                "SELECT * FROM unnest(%b::{id_type}[], %b::bigint[], %b::text[], %b::bytea[]) "
                "RETURNING notification_id"
            )
            .format(
                schema=schema,
                table=table,
                id_type=SQL(self.datastore.originator_id_type),
            )
            .as_bytes(None)
        )

    def _insert_stored_events(self, curs: Any, stored_events: Any, **kwargs: Any) -> None:
        for statement in self.lock_statements:
            curs.execute(statement, prepare=True)
        curs.execute(self.notify_statement)
        curs.execute(
            self.insert_columns_statement,
            (
                [e.originator_id for e in stored_events],
                [e.originator_version for e in stored_events],
                [e.topic for e in stored_events],
                [e.state for e in stored_events],
            ),
            prepare=True,
        )
        # The check goes on a cursor of its own: the library fetches the inserted events'
        # notification ids from `curs` afterwards.
        expected = _expected(kwargs)
        condition = _nothing_after(kwargs)
        if expected or condition is not None:
            check = curs.connection.cursor()
            for aggregate_id, version in expected:
                check.execute(
                    self.expect_statement,
                    {"aggregate": aggregate_id, "expected": version},
                    prepare=True,
                )
            if condition is not None:
                after = curs.connection.cursor()  # its own: its rows are read here
                after.execute(
                    self.after_statement,
                    {"after": condition.position, "topics": list(condition.topics)},
                )
                rows = [tuple(row.values()) for row in after.fetchall()]  # the library's dict rows
                refusal = condition.refusal(rows, {e.originator_id for e in stored_events})
                if refusal is not None:
                    after.execute(self.refuse_statement, (refusal,))


# Recorders that write the snapshots passed with a save in the events' transaction.
SNAPSHOTS_WITH_EVENTS = (SQLiteLedgerRecorder,)
