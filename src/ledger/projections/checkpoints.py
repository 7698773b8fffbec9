"""View checkpoints: the views an as-of replay answers, as they stood at positions of the log.

Every `LEDGER_CHECKPOINT_EVERY` events (20,000 by default) the runner of `sla_breaches` and
`credit_usage` records, in the transaction of the batch that crosses the multiple (rows,
position and checkpoint together, so a checkpoint is never ahead of or behind its position),
a row of `view_checkpoints`: the view, the position, the view's shape, the chain's link at
that position, and what an as-of replay needs to know of the events up to it:

- `recorded_max`: the greatest recording time (`timestamp`) of the view's events up to the
  position (recording time is not monotonic in log order: a checkpoint serves `--as-of T` only
  when every event in it was recorded by T);
- `range_start`, `range_min`: the previous checkpoint's position and the least recording time
  of the view's events after it up to this position (a replay skips a range whose events were
  all recorded after T);
- `last_event`: the position of the view's last event up to the position;
- `digests`: per table, the number of rows and the sum of their rows' MD5 (first 60 bits), a
  digest that adds up, so the append-only tables' digests grow by their new rows only;
- `seal`: SHA-256 over all of the above; a row whose seal does not match is not used.

The rows themselves are kept by the kind of each table (`PLANS`): an append-only table with a
`position` column keeps nothing (its rows at the position are the live rows up to it: the credit
tables, the contracts, terms and accounts among them); a table whose rows change is copied into
`checkpoint_<table>` (the calendars, a contract's copy when it was written); `sla_clocks` is the
newest version of each clock in `sla_clock_versions`; the board's kept counts are kept in
`checkpoint_<table>`, carried on from the previous checkpoint by the clocks changed since
(`KEPT`). `view_checkpoint_marks` carries the running figures between checkpoints, and
`view_checkpoint_spans` the least recording time of the view's events per twentieth of an
interval, so a replay skips what was recorded after its instant (both sealed too). On PostgreSQL
a replay checks a checkpoint's growing tables over its own interval (the sealed checkpoint
before carries the rows below), or every row (`verify_all`).
The runner's side (`Checkpointer`) is `checkpointer.py`.
Checkpoints are derived: a rebuild drops and recreates them; a view that ran before them
gets them with `ledger projections rebuild`.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ledger.errors import ConfigurationError
from ledger.logs import get_logger

if TYPE_CHECKING:
    from ledger.projections.base import Projection
    from ledger.projections.db import Transaction, ViewDatabase

log = get_logger("ledger.projections")

EVERY_VARIABLE = "LEDGER_CHECKPOINT_EVERY"
DEFAULT_EVERY = 20_000
CHECKPOINTS = "view_checkpoints"
MARKS = "view_checkpoint_marks"
SPANS = "view_checkpoint_spans"
# Each interval between checkpoints is cut into about this many spans (rows of SPANS, each at
# least every/SPANS_PER_INTERVAL positions long: 1,000 by default).
SPANS_PER_INTERVAL = 20
CHAIN = "audit_chain"

APPEND, COPY, LATEST, KEPT, DERIVED = "append", "copy", "latest", "kept", "derived"
# Per view, each table (as the projection names it, unprefixed) and how a checkpoint keeps it;
# tables are restored in this order (LATEST reads the restored versions).
PLANS: dict[str, dict[str, str]] = {
    "sla_breaches": {
        "sla_clock_versions": APPEND,
        "sla_calendars": COPY,
        "sla_clocks": LATEST,
        "sla_counts": KEPT,
        "sla_count_times": KEPT,
    },
    "credit_usage": {
        "credit_movements": APPEND,
        "credit_fees": APPEND,
        "credit_packages": APPEND,
        "credit_contracts": APPEND,
        "credit_terms": APPEND,
        "credit_accounts": APPEND,
    },
}
LATEST_OF = {"sla_clocks": ("sla_clock_versions", "ticket_id")}
# The key of a COPY table whose view notes the rows it writes (`interval_keys`; the rows are
# never deleted): a checkpoint copies the rows written since the checkpoint before (every row
# at the first, or when the view did not note which), and the table at a checkpoint is each
# key's newest copy at or below its position (`copy_select`). The other COPY tables are copied
# whole at each checkpoint and read by its position.
COPY_KEYS = {"sla_calendars": "contract_id"}
# A KEPT table counts the rows of its source (`Projection.derived`; the board's kept counts are
# counts of the clocks). A rebuild makes the live table only at its end, so a checkpoint does
# not copy it: it carries the previous checkpoint's counts on by the source's rows changed
# since (the old versions' counts out, the new rows' in) and keeps them like a copy; a replay
# reads them back without counting every clock. A checkpoint made before counts were kept has
# no digest for them: the replay derives them from the restored clocks (DERIVED).
DERIVED_FROM = {"sla_counts": "sla_clocks", "sla_count_times": "sla_clocks"}
# Append-only tables whose key does not start with `position`: a checkpoint digests their new
# rows (position after the previous checkpoint's) through an index of its own, and so does an
# as-of replay checked over the interval; without it, every checkpoint scanned the whole table
# (a rebuild of 1M events took 9x as long).
POSITION_INDEXED = ("sla_clock_versions", "credit_contracts", "credit_terms", "credit_accounts")

DDL = [
    (
        f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS} (name TEXT NOT NULL, position BIGINT NOT NULL, "
        "shape INTEGER NOT NULL, recorded_max BIGINT, range_start BIGINT NOT NULL, "
        "range_min BIGINT, last_event BIGINT NOT NULL, link TEXT NOT NULL, digests TEXT NOT NULL, "
        "seal TEXT NOT NULL, made_at BIGINT NOT NULL, PRIMARY KEY (name, position))"
    ),
    (
        f"CREATE TABLE IF NOT EXISTS {MARKS} (name TEXT PRIMARY KEY, position BIGINT NOT NULL, "
        "recorded_max BIGINT, range_start BIGINT NOT NULL, range_min BIGINT, "
        "last_event BIGINT NOT NULL, seal TEXT NOT NULL)"
    ),
    (
        f"CREATE TABLE IF NOT EXISTS {SPANS} (name TEXT NOT NULL, start BIGINT NOT NULL, "
        "stop BIGINT NOT NULL, recorded_min BIGINT, seal TEXT NOT NULL, "
        "PRIMARY KEY (name, stop))"
    ),
]
CHECKPOINT_COLUMNS = (
    "name, position, shape, recorded_max, range_start, range_min, last_event, link, digests, "
    "seal, made_at"
)
MARK_COLUMNS = "name, position, recorded_max, range_start, range_min, last_event, seal"

Digests = dict[str, list[int]]  # table -> [rows, sum of the rows' hashes]


def every_from_env() -> int:
    """Events between checkpoints (`LEDGER_CHECKPOINT_EVERY`; 0 turns them off)."""
    text = os.environ.get(EVERY_VARIABLE, "").strip()
    if not text:
        return DEFAULT_EVERY
    if not text.isdigit():
        raise ConfigurationError(
            f"{EVERY_VARIABLE} is {text!r}: give the events between checkpoints as a whole "
            f"number (0 turns them off; default {DEFAULT_EVERY})"
        )
    return int(text)


def copy_table(table: str) -> str:
    """Where a checkpoint keeps the copies of a table's rows."""
    return f"checkpoint_{table}"


@dataclass(frozen=True)
class Checkpoint:
    """A row of view_checkpoints."""

    name: str
    position: int
    shape: int
    recorded_max: int | None
    range_start: int
    range_min: int | None
    last_event: int
    link: str
    digests: Digests
    seal: str
    made_at: int

    @property
    def sealed(self) -> bool:
        """Whether the seal matches the fields (no field was edited since it was made)."""
        return self.seal == seal_of(
            self.name, self.position, self.shape, self.recorded_max, self.range_start,
            self.range_min, self.last_event, self.link, self.digests,
        )  # fmt: skip


@dataclass(frozen=True)
class Marks:
    """The running figures of a view since its last checkpoint (view_checkpoint_marks)."""

    name: str
    position: int
    recorded_max: int | None
    range_start: int
    range_min: int | None
    last_event: int
    seal: str

    @property
    def sealed(self) -> bool:
        """Whether the seal matches the fields."""
        return self.seal == seal_of(
            self.name, self.position, self.recorded_max, self.range_start, self.range_min,
            self.last_event,
        )  # fmt: skip


def seal_of(*fields: Any) -> str:
    """SHA-256 of the fields as canonical JSON."""
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def checkpoint_of(row: tuple[Any, ...]) -> Checkpoint:
    try:
        digests = json.loads(row[8])
    except ValueError:
        digests = {}
    return Checkpoint(
        str(row[0]), int(row[1]), int(row[2]), int_or_none(row[3]), int(row[4]),
        int_or_none(row[5]), int(row[6]), str(row[7]), digests, str(row[9]), int(row[10]),
    )  # fmt: skip


def int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def marks_of(row: tuple[Any, ...]) -> Marks:
    return Marks(
        str(row[0]),
        int(row[1]),
        int_or_none(row[2]),
        int(row[3]),
        int_or_none(row[4]),
        int(row[5]),
        str(row[6]),
    )


def list_checkpoints(db: ViewDatabase, name: str) -> list[Checkpoint]:
    """A view's checkpoints, oldest first, read without writing (a standby too); none when
    the table does not exist."""
    rows = db.select(
        f"SELECT {CHECKPOINT_COLUMNS} FROM {CHECKPOINTS} WHERE name = ? ORDER BY position", (name,)
    )
    return [checkpoint_of(r) for r in rows or []]


def read_marks(db: ViewDatabase, name: str) -> Marks | None:
    """A view's running figures, read without writing; None when there are none."""
    rows = db.select(f"SELECT {MARK_COLUMNS} FROM {MARKS} WHERE name = ?", (name,))
    return marks_of(rows[0]) if rows else None


@dataclass(frozen=True)
class Span:
    """A row of view_checkpoint_spans: the least recording time of the view's events in the
    positions (start, stop] (None: it has none); a replay skips a span recorded after its
    instant, so it reads about as far past its checkpoint as the instant lies."""

    start: int
    stop: int
    recorded_min: int | None
    seal: str

    @property
    def sealed(self) -> bool:
        """Whether the seal matches the fields."""
        return self.seal == seal_of(SPANS, self.start, self.stop, self.recorded_min)


def list_spans(db: ViewDatabase, name: str, after: int, before: int | None = None) -> list[Span]:
    """A view's spans ending after a position (and starting before another), in order, read
    without writing; none when the table does not exist."""
    below = "" if before is None else " AND start < ?"
    rows = db.select(
        f"SELECT start, stop, recorded_min, seal FROM {SPANS} WHERE name = ? AND stop > ?"
        f"{below} ORDER BY stop",
        (name, after) if before is None else (name, after, before),
    )
    return [Span(int(r[0]), int(r[1]), int_or_none(r[2]), str(r[3])) for r in rows or []]


# The chain's link at a position: its last event's up to it (a checkpoint falls on a multiple
# of its interval, which may be a gap of PostgreSQL's positions).
LINK = f"SELECT link FROM {CHAIN} WHERE position <= ? ORDER BY position DESC LIMIT 1"


def chain_link(db: ViewDatabase, position: int) -> str | None:
    """The chain's link at a position, as the chain's table holds it (None: no such row)."""
    rows = db.select(LINK, (position,))
    return str(rows[0][0]) if rows else None


# -- digests -------------------------------------------------------------------------------------

_PG_DIGEST = "SELECT count(*), COALESCE(SUM(hash_record_extended(t, 0)), 0) FROM {table} t"


def digest(tx: Transaction, table: str, where: str = "", params: tuple[Any, ...] = ()) -> list[int]:
    """[rows, sum of the rows' hashes] of a table (optionally of some rows).

    PostgreSQL hashes each row in the server (`hash_record_extended`, 64 bits); SQLite's rows
    are hashed here (the first 60 bits of the MD5 of their Python tuples' text). Either way
    the digest of a union of rows is the sum of their digests, and a store compares only
    digests it computed itself."""
    if tx.db.backend == "postgresql":
        row = tx.fetchone(_PG_DIGEST.format(table=table) + where, params)
        return [int(row[0]), int(row[1])] if row else [0, 0]
    count = total = 0
    tx.cursor.execute(f"SELECT * FROM {table} t{where}", params)
    md5 = hashlib.md5
    for found in iter(lambda: tx.cursor.fetchmany(5000), []):
        for values in found:
            text = repr(tuple(values)).encode()
            total += int(md5(text, usedforsecurity=False).hexdigest()[:15], 16)
            count += 1
    return [count, total]


def utcnow() -> datetime:
    """The wall clock (when a checkpoint was made: for people, it decides nothing)."""
    return datetime.now(UTC)


# -- reading back (the as-of replay) -------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """The live views' database a checkpoint is read from (the primary or a standby).

    `qualifier`: how the temporary store names the source's tables in its own SQL (a schema
    of the same PostgreSQL database, or the live SQLite file attached); None when they are in
    another database (a standby read into a SQLite file): the rows are then streamed, and the
    digests computed on the source."""

    db: ViewDatabase
    qualifier: str | None


def _selects(
    checkpoint: Checkpoint, target: Projection, tx: Transaction, src: str
) -> list[tuple[str, str, str]]:
    """(kind, target table, SELECT of its rows at the checkpoint) in restoring order."""
    found = []
    for base, planned in PLANS[checkpoint.name].items():
        table = target.table(base)
        kind = _read_kind(checkpoint, base, planned)
        if kind == DERIVED:
            continue
        if kind == APPEND:
            select = f"SELECT * FROM {src}{base} WHERE position <= ?"
        elif kind == COPY:
            select = copy_select(base, column_names(tx, table), src)
        else:
            select = latest_select(base, column_names(tx, table), src)
        found.append((kind, table, select))
    return found


def _read_kind(checkpoint: Checkpoint, base: str, kind: str) -> str:
    """How a replay reads a table of a checkpoint: kept counts as a copy, or derived from the
    restored rows when the checkpoint was made before it kept them."""
    if kind == KEPT:
        return COPY if base in checkpoint.digests else DERIVED
    return kind


def copy_select(base: str, names: str, src: str, only: str = "", at: str = "?") -> str:
    """The SELECT of a COPY table's rows at a checkpoint (its position `at`, by default the
    parameter): each key's newest copy up to it (a KEPT table's counts are copied whole at
    each checkpoint and read by their position); with `only`, a condition on the copies, of
    some keys."""
    if base not in COPY_KEYS:
        return f"SELECT {names} FROM {src}{copy_table(base)} WHERE checkpoint_position = {at}"
    return (
        f"SELECT {names} FROM (SELECT {names}, ROW_NUMBER() OVER (PARTITION BY {COPY_KEYS[base]} "
        f"ORDER BY checkpoint_position DESC) AS newest FROM {src}{copy_table(base)} "
        f"WHERE checkpoint_position <= {at}{only}) c WHERE newest = 1"
    )


def latest_select(base: str, names: str, src: str, only: str = "") -> str:
    """The SELECT of a LATEST table's rows: the newest version of each, up to a position
    (and with `only`, a condition on the versions, of some rows)."""
    versions, key = LATEST_OF[base]
    return (
        f"SELECT {names} FROM (SELECT {names}, ROW_NUMBER() OVER (PARTITION BY {key} "
        f"ORDER BY position DESC) AS newest FROM {src}{versions} WHERE position <= ?{only}) v "
        "WHERE newest = 1"
    )


def column_names(tx: Transaction, table: str) -> str:
    """The columns of a table, in order."""
    tx.cursor.execute(f"SELECT * FROM {table} WHERE 1 = 0")
    return ", ".join(str(d[0]) for d in tx.cursor.description)


def restore(source: Source, target: Projection, checkpoint: Checkpoint) -> list[str]:
    """Fill `target`'s fresh tables (in the temporary store) with the view as the checkpoint
    holds it and check their digests: the tables whose digests differ (then dropped)."""
    creates = [s for s in target.ddl() if s.startswith("CREATE TABLE")]
    db = target.db
    position = checkpoint.position
    here = source.db.backend == db.backend  # else: a standby's rows, digested there
    with db.transaction() as tx:
        for statement in creates:
            tx.execute(db.made(statement))
        found: Digests = {}
        for kind, table, select in _selects(checkpoint, target, tx, source.qualifier or ""):
            if kind == LATEST and here:  # from the versions just restored, here
                local = latest_select(table, column_names(tx, table), "")
                tx.execute(f"INSERT INTO {table} ({column_names(tx, table)}) {local}", (position,))
            elif source.qualifier is not None:
                tx.execute(f"INSERT INTO {table} {select}", (position,))
            else:
                rows = source.db.select(select, (position,)) or []
                marks = ", ".join("?" * len(rows[0])) if rows else ""
                tx.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
            found[table] = (
                digest(tx, table) if here else _source_digest(source.db, select, position)
            )
        for base in sorted(
            {
                DERIVED_FROM[b]
                for b, k in PLANS[checkpoint.name].items()
                if _read_kind(checkpoint, b, k) == DERIVED
            }
        ):
            target.derive_from(tx, target.table(base))
    differ = sorted(
        t for t in {*found, *checkpoint.digests} if found.get(t) != checkpoint.digests.get(t)
    )
    if differ:
        with db.transaction() as tx:
            target.drop(tx)
        return differ
    db.forget_created()
    target.create()  # the indexes, on the rows in place
    return []


def _source_digest(db: ViewDatabase, select: str, position: int) -> list[int]:
    """The digest of a checkpoint's rows as the source (a PostgreSQL standby) holds them."""
    rows = db.select(_PG_DIGEST.format(table=f"({select})"), (position,))
    return [int(rows[0][0]), int(rows[0][1])] if rows else [0, 0]


# -- overlaid (PostgreSQL, the same database) ----------------------------------------------------

REPLAYED_PREFIX = "replayed_"  # the tables the events after the checkpoint are applied to


class Overlay:
    """A view at a checkpoint without copying its append-only rows (PostgreSQL, same database).

    In the temporary schema, each table of the view becomes an SQL view of the same name: an
    append-only table reads the live rows up to the position, then the replayed ones; a
    copied table with a key (`COPY_KEYS`) reads the replayed rows (`replayed_<table>`, where
    the replay writes), then each other key's newest copy up to the position, in place (checked
    over the interval: the copies made since the checkpoint before carry its digest on); a
    copied table without one reads its copy, made in `replayed_<table>`; `sla_clocks`
    reads the replayed clocks, then the clocks as they stood at the position (the live rows
    not changed since, else their newest version up to it; checked over the interval, the
    live rows not changed since the checkpoint before, which carries them, else their newest
    version, which the interval's digest checks) for tickets the replay did not write. The
    replay applies the events after the position to `replayed_` tables (a projection with
    that prefix, which reads back through these views, `Projection.read_table`, and writes
    whole rows by key, so a clock or calendar it changes is written there)."""

    def __init__(
        self,
        source: Source,
        projection: Projection,
        checkpoint: Checkpoint,
        since: Checkpoint | None = None,
    ) -> None:
        self.source = source
        self.delta = type(projection)(projection.db, prefix=REPLAYED_PREFIX)
        self.delta.read_prefix = ""  # the SQL views below: the checkpoint's rows, then these
        self.checkpoint = checkpoint
        self.since = since
        self.name = projection.name

    def _carried(self, tx: Transaction, base: str) -> list[int] | None:
        """The digest of an append-only table at the checkpoint, checked over the rows of its
        interval only: `since`'s digest (the checkpoint before, its seal checked) and the rows
        written after it. None: no such checkpoint, every row is digested."""
        since = self.since
        if since is None or base not in since.digests:
            return None
        src, rows, total = self.source.qualifier or "", *since.digests[base]
        new = digest(tx, f"{src}{base}", " WHERE position > ? AND position <= ?",
                     (since.position, self.checkpoint.position))  # fmt: skip
        return [rows + new[0], total + new[1]]

    def _below(self, base: str) -> int | None:
        """For a LATEST table checked over the interval: the position below which its live
        rows are read as they are (the checkpoint before's, which carries them), the rows
        changed after it being read from their versions, which the interval's digest checks.
        None: every row is digested (no usable checkpoint before, or `verify_all`)."""
        since = self.since
        versions = LATEST_OF[base][0]
        if since is None or versions not in since.digests:
            return None
        return since.position

    def _copied(self, tx: Transaction, base: str, names: str) -> list[int] | None:
        """The digest of a keyed COPY table at the checkpoint, checked over the copies made
        since the checkpoint before: `since`'s digest, the older copies of their keys out, each
        key's newest copy in (as the checkpoint carried it on when it made them). None: every
        key's copy is digested."""
        since = self.since
        if since is None or base not in since.digests:
            return None
        src, position, key = self.source.qualifier or "", self.checkpoint.position, COPY_KEYS[base]
        copies = f"{src}{copy_table(base)}"
        rows, total = since.digests[base]
        # every copy after the checkpoint before counts, not only those made at this one: a
        # copy that is no checkpoint's own would otherwise be read (the newest) unchecked
        interval = f"checkpoint_position > {since.position} AND checkpoint_position <= {position}"
        written = f" AND {key} IN (SELECT {key} FROM {copies} WHERE {interval})"
        older = copy_select(base, names, src, written, at=str(since.position))
        newest = copy_select(base, names, src, f" AND {interval}", at=str(position))
        then, now = digest(tx, f"({older})"), digest(tx, f"({newest})")
        return [rows - then[0] + now[0], total - then[1] + now[1]]

    def _beside(self, tx: Transaction, base: str, key: str, at: str) -> None:
        """The view of a table read as the replayed rows, then the rows of `at` (the table as
        it stood at the checkpoint) for the other keys."""
        mine = self.delta.table(base)
        tx.execute(
            f"CREATE VIEW {base} AS SELECT * FROM {mine} UNION ALL SELECT * FROM ({at}) b "
            f"WHERE NOT EXISTS (SELECT 1 FROM {mine} r WHERE r.{key} = b.{key})"
        )

    def _in_place(self, base: str, kind: str, names: str) -> str:
        """The SELECT of a table's rows at the checkpoint, read in place from the source: an
        append-only table's rows up to the position, a keyed copy's newest copies, or the
        clocks as they stood (`kind` APPEND, COPY or LATEST)."""
        src, position = self.source.qualifier or "", int(self.checkpoint.position)
        if kind == APPEND:
            return f"SELECT * FROM {src}{base} WHERE position <= {position}"
        if kind == COPY:
            return copy_select(base, names, src, at=str(position))
        # each row as it stood: the live row if unchanged since, else its newest version
        versions, key = LATEST_OF[base]
        below = self._below(base)
        live = position if below is None else below
        qualified = ", ".join(f"v.{n}" for n in names.split(", "))
        return (
            f"SELECT {names} FROM {src}{base} WHERE position <= {live} "
            f"UNION ALL SELECT {names} FROM ("
            f"SELECT DISTINCT ON (v.{key}) {qualified} FROM {src}{base} c "
            f"JOIN {src}{versions} v ON v.{key} = c.{key} "
            f"WHERE c.position > {live} AND v.position <= {position} "
            f"ORDER BY v.{key}, v.position DESC) older"
        )

    def _read_in_place(self, kind: str, base: str) -> bool:
        return kind in (APPEND, LATEST) or (kind == COPY and base in COPY_KEYS)

    def _check_source(self) -> tuple[Digests, set[str]]:
        """The digests of the tables read in place, computed on the source's own connection
        (while the temporary schema is made on the other), and the tables read from rows
        another table's digest checks (a LATEST table checked over the interval: the
        versions' digest checks what is read of it)."""
        found: Digests = {}
        unchecked: set[str] = set()
        src = self.source.qualifier or ""
        with self.source.db.transaction() as tx:
            for base, planned in PLANS[self.name].items():
                kind = _read_kind(self.checkpoint, base, planned)
                if not self._read_in_place(kind, base):
                    continue
                names = column_names(tx, f"{src}{base}")
                at = f"({self._in_place(base, kind, names)})"
                if kind == APPEND:
                    found[base] = self._carried(tx, base) or digest(tx, at)
                elif kind == COPY:
                    found[base] = self._copied(tx, base, names) or digest(tx, at)
                elif self._below(base) is None:
                    found[base] = digest(tx, at)
                else:
                    unchecked.add(base)
        return found, unchecked

    def build(self) -> list[str]:
        """Create the tables and views, check the digests: the tables whose digests differ
        (then everything made is dropped). The rows read in place are digested on the
        source's connection while this one makes the temporary schema (two server processes
        at once: the digests of an interval cost about as much as the schema's DDL)."""
        position = int(self.checkpoint.position)
        db = self.delta.db
        found: Digests = {}
        derived: set[str] = set()
        with ThreadPoolExecutor(max_workers=1) as pool:
            checked = pool.submit(self._check_source)
            try:
                with db.transaction() as tx:
                    for statement in self.delta.ddl():  # the replayed tables and their indexes
                        tx.execute(db.made(statement))
                    for base, planned in PLANS[self.name].items():
                        mine = self.delta.table(base)
                        kind = _read_kind(self.checkpoint, base, planned)
                        names = column_names(tx, mine)
                        if kind == DERIVED:  # from the clocks as they stood (made just before)
                            if DERIVED_FROM[base] not in derived:
                                derived.add(DERIVED_FROM[base])
                                self.delta.derive_from(tx, DERIVED_FROM[base])
                            tx.execute(f"CREATE VIEW {base} AS SELECT * FROM {mine}")
                        elif kind == APPEND:
                            at = self._in_place(base, kind, names)
                            tx.execute(f"CREATE VIEW {base} AS {at} UNION ALL SELECT * FROM {mine}")
                        elif self._read_in_place(kind, base):  # beside the replay's rows
                            key = COPY_KEYS[base] if kind == COPY else LATEST_OF[base][1]
                            self._beside(tx, base, key, self._in_place(base, kind, names))
                        else:  # a copy without a key (the kept counts): copied here
                            select = copy_select(base, names, self.source.qualifier or "")
                            tx.execute(f"INSERT INTO {mine} {select}", (position,))
                            found[base] = digest(tx, mine)
                            tx.execute(f"CREATE VIEW {base} AS SELECT * FROM {mine}")
            finally:
                in_place, unchecked = checked.result()
        found.update(in_place)
        expected = self.checkpoint.digests
        differ = sorted(
            t for t in {*found, *expected} - unchecked if found.get(t) != expected.get(t)
        )
        if differ:
            self.drop()
            return differ
        db.mark_created(self.delta.ddl())
        return []

    def drop(self) -> None:
        """Drop the views and the replayed tables."""
        with self.delta.db.transaction() as tx:
            for base in PLANS[self.name]:
                tx.execute(f"DROP VIEW IF EXISTS {base}")
            self.delta.drop(tx)
