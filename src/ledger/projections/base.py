"""What a projection is, and where its position is kept.

A projection follows the notification log in order and writes rows in the read models'
database. It applies a batch of events and records the position of the batch's last event in
the same transaction, guarded by the position it started from: a batch is applied once or
not at all, whatever crashes or competing runners do. Events it does not follow are skipped
without being decoded, but its position still moves past them. A raw projection (the audit
hash chain) follows every notification and gets them as stored, undecoded.
"""

from __future__ import annotations

import os
import socket
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from eventsourcing.utils import get_topic

from ledger.domain.calendar import to_us
from ledger.projections.db import instant

if TYPE_CHECKING:
    from datetime import datetime

    from ledger.projections.db import Transaction, ViewDatabase

STATE_TABLE = "projection_state"
STATE_DDL = (
    f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} ("
    "name TEXT PRIMARY KEY, "
    "position BIGINT NOT NULL DEFAULT 0, "
    "shape INTEGER NOT NULL DEFAULT 0, "
    "updated_at BIGINT, "
    "error TEXT, "
    "error_position BIGINT, "
    "error_at BIGINT, "
    "owner TEXT, "
    "lease_until BIGINT)"
)


REBUILDING = 0  # the shape stored while a rebuild runs: no projection has it


class PositionMovedError(Exception):
    """Another runner applied events of this projection meanwhile (nothing was written)."""


@dataclass(frozen=True)
class State:
    """A projection's row in projection_state."""

    name: str
    position: int
    shape: int
    updated_at: datetime | None
    error: str | None
    error_position: int | None
    error_at: datetime | None
    owner: str | None
    lease_until: datetime | None


class Projection(ABC):
    """A read model built from the events it follows.

    Subclasses set a permanent `name`, the event classes they follow, a `shape` number raised
    whenever their tables change (the runner then rebuilds), and implement `ddl`, `tables`
    and `apply`. Table names go through `table()`, so a verification can build the same view
    into shadow tables beside the live ones. A raw projection (`raw = True`, `follows = ()`)
    gets every notification of the log, whatever its topic, as the stored `Notification`.
    """

    name: ClassVar[str]
    follows: ClassVar[tuple[type, ...]]
    shape: ClassVar[int] = 1
    raw: ClassVar[bool] = False

    def __init__(self, db: ViewDatabase, *, prefix: str = "") -> None:
        self.db = db
        self.prefix = prefix
        # where `read_table` names the view's rows a fold reads back: its own tables, or in an
        # as-of replay laid over a checkpoint (`checkpoints.Overlay`) the whole view, the
        # checkpoint's rows and the replayed ones together
        self.read_prefix = prefix
        # True from `rebuild_started` to `rebuild_finished`: the tables began empty and every
        # event of the log comes in order, so what can be made from the final rows may wait
        self.rebuilding = False

    @classmethod
    def topics(cls) -> frozenset[str]:
        """The stored topics of the events this projection follows."""
        return frozenset(get_topic(event_class) for event_class in cls.follows)

    def table(self, name: str) -> str:
        """A table name of this view (prefixed for shadow builds)."""
        return f"{self.prefix}{name}"

    def read_table(self, name: str) -> str:
        """The table (or SQL view) a fold reads back rows of its view from: the table itself,
        except in an as-of replay over a checkpoint, where the rows as they stood at the
        checkpoint are not in the replayed table (`read_prefix`: the whole view)."""
        return f"{self.read_prefix}{name}"

    @abstractmethod
    def ddl(self) -> list[str]:
        """Idempotent statements creating the view's tables and indexes."""

    @abstractmethod
    def tables(self) -> list[str]:
        """The view's tables (for rebuilds and comparisons), prefixed."""

    @abstractmethod
    def apply(self, tx: Transaction, events: list[tuple[int, Any]]) -> None:
        """Apply events (position, domain event) in log order, inside `tx`.

        A raw projection gets (position, Notification) for every notification instead.
        """

    # A view may fold extracts of the events rather than the events: `extract` (a static
    # function of the event alone) makes what the view reads of an event as plain values, and
    # `fold` applies (position, extract) pairs; `apply` is then `fold` of the extracts. The
    # runner decodes and extracts, then folds, so a large rebuild can make the extracts in a
    # process of its own while it folds (`projections/reader.py`). By default the extract is
    # the event itself and folding is applying.
    @staticmethod
    def extract(event: Any) -> Any:
        """What the view reads of a decoded event (by default, the event)."""
        return event

    @staticmethod
    def recorded_at(extract: Any) -> int:
        """The recording time (microseconds) of the event an extract was made of."""
        return to_us(extract.timestamp)

    def fold(self, tx: Transaction, extracts: list[tuple[int, Any]]) -> None:
        """Apply (position, extract) pairs in log order, inside `tx`."""
        self.apply(tx, extracts)

    @classmethod
    def extracts(cls) -> bool:
        """Whether the view folds extracts of its own rather than the events."""
        return cls.extract is not Projection.extract

    def indexes(self) -> list[tuple[str, str]]:
        """The indexes only reads use, as (name, `table (columns)`): `ddl` makes them, and a
        rebuild makes them once at the end instead of keeping them row by row."""
        return []

    def unique_indexes(self) -> list[tuple[str, str]]:
        """Unique indexes (a table's key where no write relies on it, so a rebuild may make
        it once at the end and still finds a duplicate then), as `indexes()`."""
        return []

    def index_ddl(self) -> list[str]:
        """The statements making `indexes()` and `unique_indexes()` (idempotent)."""
        return [
            *(f"CREATE UNIQUE INDEX IF NOT EXISTS {n} ON {on}" for n, on in self.unique_indexes()),
            *(f"CREATE INDEX IF NOT EXISTS {name} ON {on}" for name, on in self.indexes()),
        ]

    def interval_rows(self, table: str, since: int) -> Interval | None:
        """For a checkpoint: the rows of `table` (a table whose rows change) changed since
        position `since`, as they were then and as they are now, if the view kept them in
        memory since then (None: the checkpoint reads them from the table's versions)."""
        del table, since
        return None

    def interval_keys(self, table: str, since: int) -> set[str] | None:
        """For a checkpoint: the keys of the rows of `table` (a copied table,
        `checkpoints.COPY`) written since position `since`, if the view noted them since then
        (None: the checkpoint copies every row)."""
        del table, since
        return None

    def track_from(self, position: int | None) -> None:
        """Keep (for `interval_rows` and `interval_keys`) the rows changed after `position`,
        forgetting those kept before (None: keep none)."""
        del position

    def derived(self, source: str) -> dict[str, str]:
        """The tables the view derives from the rows of another of its tables, counted: per
        derived table (unprefixed), the SELECT of its rows (its key columns, then a count `n`,
        in the table's order) from `source` (that table, a view or a WITH name of the same
        columns). Counts add up, so a checkpoint carries them on from the previous one by the
        rows changed since (`checkpoints.KEPT`). None by default."""
        del source
        return {}

    def derive_from(self, tx: Transaction, table: str) -> None:
        """Fill the derived tables anew from the rows of `table` (a table or a view of the
        same columns), replacing what they held."""
        for derived, select in self.derived(table).items():
            tx.execute(f"DELETE FROM {self.table(derived)}")
            tx.execute(f"INSERT INTO {self.table(derived)} {select}")

    def rebuild_started(self, tx: Transaction) -> None:
        """Before the first batch of a rebuild into empty tables: drop what is cheaper made
        once at the end (the reads' indexes; a view may also leave out what it derives from
        its final rows)."""
        self.rebuilding = True
        for name, _ in [*self.unique_indexes(), *self.indexes()]:
            tx.execute(f"DROP INDEX IF EXISTS {name}")

    def rebuild_finished(self, tx: Transaction) -> None:
        """In the transaction that ends a rebuild: make what `rebuild_started` left out, so
        the tables are those an event-by-event projection would have written."""
        self.rebuilding = False
        for statement in self.index_ddl():
            tx.execute(statement)
        if self.db.backend == "postgresql":  # fresh tables have no statistics: a board page
            for table in self.tables():  # would read every row after its cursor until
                tx.execute(f"ANALYZE {table}")  # autovacuum (if on) got to them

    def create(self) -> None:
        """Create the view's tables if they do not exist."""
        self.db.create(self.ddl())

    def drop(self, tx: Transaction) -> None:
        """Drop the view's tables (a rebuild creates them anew)."""
        for table in self.tables():
            tx.execute(f"DROP TABLE IF EXISTS {table}")
            if self.db.backend == "postgresql":  # `Transaction.upsert`'s, made like the table
                tx.execute(f"DROP TABLE IF EXISTS pg_temp.stage_{table}")
        self.db.forget_created()


@dataclass(frozen=True)
class Interval:
    """Rows of a table changed between two positions: `then` (the rows as they were; the
    rows made since have none) and `now`, each in the order of `columns`."""

    columns: tuple[str, ...]
    then: list[tuple[Any, ...]]
    now: list[tuple[Any, ...]]


def owner_name() -> str:
    """This worker's name in leases and status: host, process and a random tag."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def owner_gone(owner: str) -> bool:
    """True when `owner` (an `owner_name`) is a process of this host that no longer runs.

    An owner on another host, or one whose process id is in use (alive, or reused by another
    process), is not known to be gone: its lease then runs until it expires.
    """
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # a process of another user runs with that id
    try:  # killed but not reaped by its parent yet: a zombie runs nothing
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def ensure_state(db: ViewDatabase, name: str, shape: int) -> State:
    """The projection's state row, created at position 0 if missing."""
    db.create([STATE_DDL])
    with db.transaction() as tx:
        tx.execute(
            f"INSERT INTO {STATE_TABLE} (name, position, shape) VALUES (?, 0, ?) "
            "ON CONFLICT (name) DO NOTHING",
            (name, shape),
        )
    state = read_state(db, name)
    if state is None:  # pragma: no cover - inserted just above
        msg = f"no state row for {name}"
        raise RuntimeError(msg)
    return state


def read_state(db: ViewDatabase, name: str) -> State | None:
    """The projection's state row, or None."""
    db.create([STATE_DDL])
    rows = db.read(
        f"SELECT name, position, shape, updated_at, error, error_position, error_at, owner, "
        f"lease_until FROM {STATE_TABLE} WHERE name = ?",
        (name,),
    )
    return _state(rows[0]) if rows else None


def states_as_stored(db: ViewDatabase) -> list[State]:
    """Every projection's state, read without writing anything (no DDL): on a standby, where
    nothing can be written; an empty list when no projection ever ran."""
    rows = db.select(
        f"SELECT name, position, shape, updated_at, error, error_position, error_at, owner, "
        f"lease_until FROM {STATE_TABLE} ORDER BY name"
    )
    return [_state(r) for r in rows or []]


def all_states(db: ViewDatabase) -> list[State]:
    """Every projection's state (an empty list before any ran)."""
    db.create([STATE_DDL])
    rows = db.read(
        f"SELECT name, position, shape, updated_at, error, error_position, error_at, owner, "
        f"lease_until FROM {STATE_TABLE} ORDER BY name"
    )
    return [_state(r) for r in rows]


def _state(row: tuple[Any, ...]) -> State:
    return State(
        name=row[0],
        position=int(row[1]),
        shape=int(row[2]),
        updated_at=instant(row[3]),
        error=row[4],
        error_position=row[5],
        error_at=instant(row[6]),
        owner=row[7],
        lease_until=instant(row[8]),
    )


def advance(tx: Transaction, name: str, start: int, end: int, now: datetime) -> None:
    """Move the position from `start` to `end` in `tx`, or raise if it is no longer `start`."""
    changed = tx.execute(
        f"UPDATE {STATE_TABLE} SET position = ?, updated_at = ?, error = NULL, "
        "error_position = NULL, error_at = NULL WHERE name = ? AND position = ?",
        (end, to_us(now), name, start),
    )
    if changed != 1:
        msg = f"the position of {name} is no longer {start}"
        raise PositionMovedError(msg)


def finish_rebuild(
    tx: Transaction, name: str, start: int, end: int, *, shape: int, now: datetime
) -> None:
    """End a rebuild in `tx`: the position moves from `start` to `end` (the head the rebuild
    read to) and the shape, 0 while the rebuild ran, becomes the projection's."""
    advance(tx, name, start, end, now)
    tx.execute(f"UPDATE {STATE_TABLE} SET shape = ? WHERE name = ?", (shape, name))


def record_error(db: ViewDatabase, name: str, position: int, error: str, now: datetime) -> None:
    """Keep the error that stopped a projection, and the event it stopped at."""
    with db.transaction() as tx:
        tx.execute(
            f"UPDATE {STATE_TABLE} SET error = ?, error_position = ?, error_at = ? WHERE name = ?",
            (error[:4000], position, to_us(now), name),
        )


def reset(tx: Transaction, name: str, shape: int) -> None:
    """Back to position 0 with the current shape (or with shape 0, `REBUILDING`: a rebuild
    until it finishes; a runner finding it so starts the view again from scratch)."""
    tx.execute(
        f"UPDATE {STATE_TABLE} SET position = 0, shape = ?, updated_at = NULL, error = NULL, "
        "error_position = NULL, error_at = NULL WHERE name = ?",
        (shape, name),
    )


# -- leases (SQLite; PostgreSQL uses session advisory locks) -----------------------------------


def take_lease(db: ViewDatabase, name: str, owner: str, now: datetime, seconds: float) -> bool:
    """Take or renew the projection's lease; False while another owner's lease runs.

    A lease held by a process of this host that is gone (killed, crashed) is taken at once,
    without waiting for it to expire.
    """
    now_us = to_us(now)
    until = now_us + int(seconds * 1_000_000)
    with db.transaction() as tx:
        changed = tx.execute(
            f"UPDATE {STATE_TABLE} SET owner = ?, lease_until = ? WHERE name = ? AND "
            "(owner IS NULL OR owner = ? OR lease_until IS NULL OR lease_until < ?)",
            (owner, until, name, owner, now_us),
        )
    if changed == 1:
        return True
    state = read_state(db, name)
    if state is None or state.owner is None or not owner_gone(state.owner):
        return False
    with db.transaction() as tx:  # only if the dead owner still holds it
        changed = tx.execute(
            f"UPDATE {STATE_TABLE} SET owner = ?, lease_until = ? WHERE name = ? AND owner = ?",
            (owner, until, name, state.owner),
        )
    return changed == 1


def release_lease(db: ViewDatabase, name: str, owner: str) -> None:
    """Give the lease up (a clean stop)."""
    with db.transaction() as tx:
        tx.execute(
            f"UPDATE {STATE_TABLE} SET owner = NULL, lease_until = NULL "
            "WHERE name = ? AND owner = ?",
            (name, owner),
        )


def holds_lease(tx: Transaction, name: str, owner: str, now: datetime, seconds: float) -> bool:
    """Renew the lease inside a batch's transaction; False if another owner took it."""
    now_us = to_us(now)
    changed = tx.execute(
        f"UPDATE {STATE_TABLE} SET lease_until = ? WHERE name = ? AND owner = ?",
        (now_us + int(seconds * 1_000_000), name, owner),
    )
    return changed == 1


def set_owner(db: ViewDatabase, name: str, owner: str | None) -> None:
    """Note who runs the projection (PostgreSQL: for status only; the lock decides)."""
    with db.transaction() as tx:
        tx.execute(
            f"UPDATE {STATE_TABLE} SET owner = ?, lease_until = NULL WHERE name = ?", (owner, name)
        )
