"""The read models' database: the events' own database, SQLite or PostgreSQL.

SQL in the view modules is written once, with `?` placeholders and portable types (BIGINT,
TEXT, BOOLEAN); this module adapts it to the backend. Instants are stored as integer
microseconds since the epoch (UTC) and amounts as integer hundredths, so comparisons and sums
are exact on both stores. Every write happens in `transaction()`; psycopg and sqlite3 errors
are turned into the ledger's own.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import contextmanager
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import psycopg

from ledger.domain.calendar import from_us, to_us
from ledger.domain.errors import LedgerError
from ledger.store import SCHEMA_LOCK, StoreUnavailableError, connect, lock_key

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence
    from datetime import datetime

    from ledger.settings import DatabaseSettings

HUNDRED = Decimal(100)


def contains_pattern(text: str) -> str:
    """A LIKE pattern (with `ESCAPE '\\'`) matching lower-case text that contains `text` in
    any case, its `%` and `_` taken literally."""
    escaped = str(text).strip().lower().replace("\\", "\\\\")
    escaped = escaped.replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class ReadModelMissingError(LedgerError):
    """A view the read database (a standby) does not hold yet: the primary never built it."""

    code = "read_model_missing"
    kind = "conflict"


def us(value: datetime | None) -> int | None:
    """An instant as integer microseconds (None stays None)."""
    return None if value is None else to_us(value)


def instant(value: int | None) -> datetime | None:
    """Integer microseconds back to an aware UTC instant."""
    return None if value is None else from_us(int(value))


def cents(amount: Decimal) -> int:
    """An amount (points or money, exact to hundredths) as integer hundredths."""
    scaled = amount * HUNDRED
    if scaled != scaled.to_integral_value():
        msg = f"{amount} is not exact to hundredths"
        raise ValueError(msg)
    return int(scaled)


def amount(hundredths: int | None) -> Decimal:
    """Integer hundredths back to an exact decimal."""
    return (Decimal(int(hundredths or 0)) / HUNDRED).quantize(Decimal("0.01"))


def _outage(exc: sqlite3.OperationalError) -> bool:
    """Whether a SQLite error means the database cannot be used (not a mistake in SQL)."""
    text = str(exc).lower()
    return any(word in text for word in ("locked", "unable to open", "disk i/o", "readonly"))


def text_array(values: Iterable[str]) -> str:
    """A PostgreSQL array of texts as its literal, every element quoted (psycopg dumps a list
    element by element in Python: a third of a deadlines rebuild's deletes)."""
    quoted = (v.replace("\\", "\\\\").replace('"', '\\"') for v in values)
    return "{" + ",".join(f'"{v}"' for v in quoted) + "}"


class Transaction:
    """An open transaction: execute, executemany and fetch with `?` placeholders."""

    def __init__(self, db: ViewDatabase, cursor: Any) -> None:
        self.db = db
        self.cursor = cursor
        self.staged: list[str] = []  # staging tables made in this transaction

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        self.cursor.execute(self.db.adapt(sql), tuple(params))
        return int(self.cursor.rowcount or 0)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for many rows (batched by the driver)."""
        batch = [tuple(r) for r in rows]
        if batch:
            self.cursor.executemany(self.db.adapt(sql), batch)

    def append(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert rows: one COPY on PostgreSQL (several times faster than INSERTs, which
        matters for rebuilds), executemany on SQLite. The COPY is binary, its columns' types
        read from the catalog once per table: a rebuild's rows are mostly integers, which the
        text format spells out in the client and parses in the server (a row of sla_clock_versions
        took 2.5 times the client's CPU in text)."""
        if not rows:
            return
        if self.db.backend == "postgresql":
            types = self.db.column_types(self, table, columns)
            names = ", ".join(columns)
            with self.cursor.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(types)
                for row in rows:
                    copy.write_row(row)
            return
        marks = ", ".join("?" * len(columns))
        self.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def upsert(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, key: int = 1
    ) -> None:
        """Insert rows, or update the other columns of the row with the same first `key`
        columns (the table's primary key).

        On PostgreSQL the rows are copied into a temporary table of the same columns (emptied
        at commit) and written by one statement: a batch of thousands of rows is two round
        trips instead of a statement per row. SQLite runs a statement per row.
        """
        if not rows:
            return
        keys = ", ".join(columns)
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns[key:])
        conflict = f"ON CONFLICT ({', '.join(columns[:key])}) DO UPDATE SET {updates}"
        if self.db.backend == "sqlite":
            marks = ", ".join("?" * len(columns))
            self.executemany(f"INSERT INTO {table} ({keys}) VALUES ({marks}) {conflict}", rows)
            return
        stage = f"stage_{table}"
        if stage not in self.db.staged:  # made once per connection (a statement per upsert)
            self.cursor.execute(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} (LIKE {table}) ON COMMIT DELETE ROWS"
            )
            self.db.staged.add(stage)
            self.staged.append(stage)
        self.append(stage, columns, rows)
        self.cursor.execute(f"INSERT INTO {table} ({keys}) SELECT {keys} FROM {stage} {conflict}")

    def delete(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Delete the rows whose (text) `columns` hold the values of one of `rows`.

        On PostgreSQL one statement joins the table with the values as arrays (`unnest`, which
        the planner takes for a few rows: a lookup by the primary key each, where a staged table
        of thousands of rows is hashed against a scan of the whole table); SQLite runs a
        statement per row.
        """
        if not rows:
            return
        if self.db.backend == "sqlite":
            where = " AND ".join(f"{c} = ?" for c in columns)
            self.executemany(f"DELETE FROM {table} WHERE {where}", rows)
            return
        arrays = ", ".join("?::text[]" for _ in columns)
        match = " AND ".join(f"t.{c} = d.{c}" for c in columns)
        self.execute(
            f"DELETE FROM {table} t USING unnest({arrays}) AS d({', '.join(columns)}) "
            f"WHERE {match}",
            [text_array(row[i] for row in rows) for i in range(len(columns))],
        )

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a query."""
        self.cursor.execute(self.db.adapt(sql), tuple(params))
        return [tuple(r) for r in self.cursor.fetchall()]

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        """The first row of a query, or None."""
        self.cursor.execute(self.db.adapt(sql), tuple(params))
        row = self.cursor.fetchone()
        return tuple(row) if row is not None else None


class ViewDatabase:
    """One connection to the read models' database (SQLite file or PostgreSQL schema).

    A connection belongs to one thread at a time; give each worker its own ViewDatabase.
    """

    def __init__(self, settings: DatabaseSettings, *, scratch: bool = False) -> None:
        """`scratch`: tables made here are thrown away (an as-of replay's): on PostgreSQL
        they are made UNLOGGED (no WAL, nothing sent to standbys)."""
        if settings.backend not in ("sqlite", "postgresql"):
            raise StoreUnavailableError(
                f"read models need SQLite or PostgreSQL, not {settings.backend}"
            )
        self.settings = settings
        self.backend = settings.backend
        self.scratch = scratch and settings.backend == "postgresql"
        self._lock = threading.Lock()
        self._conn: Any = None
        self._created: set[tuple[str, ...]] = set()
        self._types: dict[tuple[str, tuple[str, ...]], list[int]] = {}
        self.staged: set[str] = set()  # the upserts' temporary tables this connection made

    # -- connection ----------------------------------------------------------------------------

    @property
    def conn(self) -> Any:
        """The open connection (opened on first use)."""
        if self._conn is None:
            self._conn = self._open()
        return self._conn

    def _open(self) -> Any:
        if self.backend == "sqlite":
            conn: Any = sqlite3.connect(
                self.settings.path, isolation_level=None, check_same_thread=False, timeout=30
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=30000")
            return conn
        conn = connect(self.settings, autocommit=True)
        conn.execute(f'SET search_path TO "{self.settings.schema}"')
        return conn

    def close(self) -> None:
        """Close the connection (releasing any session advisory lock it holds)."""
        self.staged.clear()  # temporary tables end with the connection
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def adapt(self, sql: str) -> str:
        """`?` placeholders for SQLite, `%s` for psycopg."""
        return sql if self.backend == "sqlite" else sql.replace("?", "%s")

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A transaction: committed when the block ends, rolled back on any exception.

        SQLite takes the write lock at once (BEGIN IMMEDIATE) so a transaction never fails
        half-way on a lock upgrade.
        """
        with self._lock, self._outages():
            if self.backend == "sqlite":
                cursor = self.conn.cursor()
                cursor.execute("BEGIN IMMEDIATE")
                try:
                    yield Transaction(self, cursor)
                except BaseException:
                    self.conn.rollback()
                    raise
                self.conn.commit()
            else:
                made: list[str] = []  # the staging tables made in it, gone if it rolls back
                try:
                    with self.conn.transaction(), self.conn.cursor() as cursor:
                        tx = Transaction(self, cursor)
                        made = tx.staged
                        yield tx
                except BaseException as exc:
                    self.staged.difference_update(made)
                    if isinstance(exc, psycopg.errors.UndefinedTable) and self.read_only:
                        table = (exc.diag.message_primary or str(exc)).strip()
                        raise ReadModelMissingError(
                            f"the read database (a standby) does not hold this view yet "
                            f"({table}): run `ledger projections run` against the primary"
                        ) from None
                    raise

    @contextmanager
    def _outages(self) -> Iterator[None]:
        """An error that means the database cannot be used closes the connection and is
        raised as StoreUnavailableError; a mistake in SQL is raised as it is."""
        try:
            yield
        except (sqlite3.OperationalError, psycopg.OperationalError) as exc:
            if isinstance(exc, sqlite3.OperationalError) and not _outage(exc):
                raise
            self.close()
            raise StoreUnavailableError(f"the read-model database failed: {exc}") from exc

    def mark_created(self, statements: Sequence[str]) -> None:
        """Note DDL as run: what it makes stands already, made otherwise (the as-of replay's
        views over a checkpoint, which a `CREATE INDEX` would refuse)."""
        self._created.add(tuple(statements))

    def forget_created(self) -> None:
        """Forget which DDL ran (after tables were dropped, `create` must run it again)."""
        self._created.clear()
        self._types.clear()
        self.staged.clear()

    def column_types(self, tx: Transaction, table: str, columns: Sequence[str]) -> list[int]:
        """The type (oid) of each of a PostgreSQL table's `columns`, read once per table."""
        key = (table, tuple(columns))
        if key not in self._types:
            found = dict(tx.fetchall(
                "SELECT attname, atttypid::int FROM pg_attribute WHERE attrelid = "
                "to_regclass(?) AND attnum > 0 AND NOT attisdropped", (table,)
            ))  # fmt: skip
            missing = [c for c in columns if c not in found]
            if missing:
                msg = f"{table} has no column {', '.join(missing)}"
                raise ValueError(msg)
            self._types[key] = [found[c] for c in columns]
        return self._types[key]

    @property
    def read_only(self) -> bool:
        """Whether this is a standby's copy of the views (`LEDGER_READ_DATABASE_URL`)."""
        return self.settings.read_only

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a query, in a read transaction of its own; on a standby, a table the
        primary has not made yet (a view that never ran) has no rows."""
        if self.read_only:
            return self.select(sql, params) or []
        with self.transaction() as tx:
            return tx.fetchall(sql, params)

    def select(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]] | None:
        """Rows of one query, read at one instant without a transaction of its own (so
        without SQLite's write lock); None when a table it reads does not exist (a view that
        never ran, or is being rebuilt)."""
        with self._lock, self._outages():
            cursor = self.conn.cursor()
            try:
                cursor.execute(self.adapt(sql), tuple(params))
                return [tuple(row) for row in cursor.fetchall()]
            except psycopg.errors.UndefinedTable:
                return None
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc).lower():
                    return None
                raise
            finally:
                cursor.close()

    def create(self, statements: Sequence[str]) -> None:
        """Run idempotent DDL (CREATE ... IF NOT EXISTS), once per connection.

        Nothing runs on a standby (`read_only`): its tables come from the primary.
        On PostgreSQL concurrent `CREATE ... IF NOT EXISTS` can collide in the catalog, so DDL
        holds the schema's lock (the one the event store's DDL holds) for its transaction.
        """
        key = tuple(statements)
        if key in self._created or self.read_only:
            return  # a standby's tables are the primary's, replicated: nothing is made there
        with self.transaction() as tx:
            if self.backend == "postgresql":
                tx.execute(
                    "SELECT pg_advisory_xact_lock(?)",
                    (lock_key(SCHEMA_LOCK, self.settings.schema),),
                )
            for statement in statements:
                tx.execute(self.made(statement))
        self._created.add(key)

    def made(self, statement: str) -> str:
        """A statement of DDL as this database runs it (a scratch table UNLOGGED)."""
        if self.scratch and statement.startswith("CREATE TABLE"):
            return "CREATE UNLOGGED TABLE" + statement[len("CREATE TABLE") :]
        return statement

    # -- session advisory locks (PostgreSQL) ---------------------------------------------------

    def try_advisory_lock(self, key: int) -> bool:
        """Take a session lock without waiting (PostgreSQL); True when held."""
        row = self.conn.execute("SELECT pg_try_advisory_lock(%s)", [key]).fetchone()
        return bool(row and row[0])

    def advisory_unlock(self, key: int) -> None:
        """Release a session lock (PostgreSQL)."""
        self.conn.execute("SELECT pg_advisory_unlock(%s)", [key])

    def sleep(self, seconds: float) -> None:
        """Wait (a seam for the runner's idle loop)."""
        time.sleep(seconds)


KEEP_IDLE = 8


class ViewPool:
    """ViewDatabases lent to one request at a time; up to `keep` idle ones are kept open."""

    def __init__(self, settings: DatabaseSettings, keep: int = KEEP_IDLE) -> None:
        self.settings = settings
        self.keep = keep
        self._idle: list[ViewDatabase] = []
        self._lock = threading.Lock()
        self._closed = False

    @contextmanager
    def lease(self) -> Iterator[ViewDatabase]:
        """A ViewDatabase for this thread until the block ends."""
        with self._lock:
            db = self._idle.pop() if self._idle else None
        if db is None:
            db = ViewDatabase(self.settings)
        try:
            yield db
        finally:
            with self._lock:
                keep = not self._closed and len(self._idle) < self.keep
                if keep:
                    self._idle.append(db)
            if not keep:
                db.close()

    def close(self) -> None:
        """Close every idle connection; connections lent out close when they come back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for db in idle:
            db.close()
