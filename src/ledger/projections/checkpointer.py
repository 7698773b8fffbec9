"""Writing view checkpoints: the runner's side of `ledger.projections.checkpoints`.

`Checkpointer` carries a view's running figures (marks, spans) in each batch's transaction and
writes a checkpoint when a batch reaches a multiple of `LEDGER_CHECKPOINT_EVERY`: its digests
carried on from the previous checkpoint by the rows written or changed since, never by reading
a whole table again. What a checkpoint holds, and how a replay reads it back, is described in
`checkpoints`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ledger.domain.calendar import to_us
from ledger.projections.checkpoints import (
    APPEND,
    CHECKPOINT_COLUMNS,
    CHECKPOINTS,
    COPY,
    COPY_KEYS,
    DDL,
    DERIVED,
    DERIVED_FROM,
    KEPT,
    LATEST,
    LATEST_OF,
    LINK,
    MARK_COLUMNS,
    MARKS,
    PLANS,
    POSITION_INDEXED,
    SPANS,
    SPANS_PER_INTERVAL,
    Checkpoint,
    Digests,
    Marks,
    checkpoint_of,
    column_names,
    copy_select,
    copy_table,
    digest,
    every_from_env,
    int_or_none,
    latest_select,
    log,
    marks_of,
    seal_of,
    utcnow,
)

if TYPE_CHECKING:
    from ledger.projections.base import Interval, Projection
    from ledger.projections.db import Transaction, ViewDatabase


class Checkpointer:
    """Keeps a view's checkpoints in the transactions of its runner's batches."""

    def __init__(self, projection: Projection, every: int) -> None:
        self.projection = projection
        self.name = projection.name
        self.every = every
        self.plan = {projection.table(t): kind for t, kind in PLANS[self.name].items()}
        self.bases = {projection.table(t): t for t in PLANS[self.name]}  # table -> PLANS name
        self.enabled = True
        # the marks and the newest span as this checkpointer last wrote them: a batch that
        # starts where they end reads neither back (one that does not, after a batch rolled
        # back, reads them from the table)
        self.marks: Marks | None = None
        self.last_span: tuple[int, int, int | None] | None = None

    @classmethod
    def of(cls, projection: Projection, every: int | None = None) -> Checkpointer | None:
        """The checkpointer of a projection the as-of replay answers from (else None)."""
        every = every_from_env() if every is None else every
        if projection.name not in PLANS or projection.prefix or every <= 0:
            return None
        return cls(projection, every)

    def prepare(self, db: ViewDatabase, position: int) -> None:
        """Create the tables; a view that ran before checkpoints (no marks past position 0)
        keeps none until it is rebuilt."""
        db.create(DDL)
        with db.transaction() as tx:
            self._create_copies(tx)
            marks = tx.fetchone(f"SELECT position FROM {MARKS} WHERE name = ?", (self.name,))
            if position == 0:
                self._reset_marks(tx)
            elif marks is None:
                self.enabled = False
                log.info("checkpoints_need_rebuild", projection=self.name, position=position)
        self.projection.track_from(position if self.enabled else None)

    def _create_copies(self, tx: Transaction) -> None:
        for base in POSITION_INDEXED:
            if base in PLANS[self.name]:
                table = self.projection.table(base)
                tx.execute(f"CREATE INDEX IF NOT EXISTS {table}_position ON {table} (position)")
        for table, kind in self.plan.items():
            if kind in (COPY, KEPT):
                copies = copy_table(table)
                tx.execute(
                    f"CREATE TABLE IF NOT EXISTS {copies} AS SELECT CAST(0 AS BIGINT) AS "
                    f"checkpoint_position, t.* FROM {table} t WHERE 1 = 0"
                )
                tx.execute(
                    f"CREATE INDEX IF NOT EXISTS {copies}_position "
                    f"ON {copies} (checkpoint_position)"
                )
                base = self.bases[table]
                if base in COPY_KEYS:  # a key's newest copy, read in place by a replay
                    tx.execute(
                        f"CREATE INDEX IF NOT EXISTS {copies}_key "
                        f"ON {copies} ({COPY_KEYS[base]}, checkpoint_position)"
                    )

    def clear(self, tx: Transaction) -> None:
        """Forget every checkpoint of the view (a rebuild; the view's tables are dropped)."""
        tx.execute(f"DELETE FROM {CHECKPOINTS} WHERE name = ?", (self.name,))
        for table in self.plan:  # every kind: a table copied by an earlier shape too
            tx.execute(f"DROP TABLE IF EXISTS {copy_table(table)}")
        tx.execute(f"DELETE FROM {MARKS} WHERE name = ?", (self.name,))
        tx.execute(f"DELETE FROM {SPANS} WHERE name = ?", (self.name,))
        self.enabled = True
        self.marks = self.last_span = None

    def _reset_marks(self, tx: Transaction) -> None:
        tx.execute(f"DELETE FROM {MARKS} WHERE name = ?", (self.name,))
        self._write_marks(tx, Marks(self.name, 0, None, 0, None, 0, ""))

    def _write_marks(self, tx: Transaction, marks: Marks) -> None:
        fields = (marks.position, marks.recorded_max, marks.range_start, marks.range_min,
                  marks.last_event)  # fmt: skip
        tx.execute(
            f"INSERT INTO {MARKS} ({MARK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET position = excluded.position, "
            "recorded_max = excluded.recorded_max, range_start = excluded.range_start, "
            "range_min = excluded.range_min, last_event = excluded.last_event, "
            "seal = excluded.seal",
            (self.name, *fields, seal_of(self.name, *fields)),
        )
        self.marks = marks

    def after_batch(
        self, tx: Transaction, start: int, end: int, events: list[tuple[int, Any]]
    ) -> None:
        """Carry the running figures to `end`; a checkpoint at `end` when the batch crosses a
        multiple of `every` (inside the batch's transaction, after its rows)."""
        if not self.enabled:
            return
        marks = self.marks
        if marks is None or marks.position != start:
            row = tx.fetchone(f"SELECT {MARK_COLUMNS} FROM {MARKS} WHERE name = ?", (self.name,))
            marks = None if row is None else marks_of(row)
        if marks is None or marks.position != start:
            self.enabled = False  # pragma: no cover - the marks and the position move together
            self.projection.track_from(None)  # pragma: no cover
            log.warning("checkpoints_out_of_step", projection=self.name, position=start)
            return
        recorded_max, range_min, last = marks.recorded_max, marks.range_min, marks.last_event
        recorded = self.projection.recorded_at
        times = [recorded(event) for _, event in events]  # when each was recorded
        if events:
            high, low = max(times), min(times)
            recorded_max = high if recorded_max is None else max(recorded_max, high)
            range_min = low if range_min is None else min(range_min, low)
            last = events[-1][0]
        marks = Marks(self.name, end, recorded_max, marks.range_start, range_min, last, "")
        self._span(tx, start, end, [position for position, _ in events], times)
        if end // self.every > start // self.every and self._write(tx, marks):
            marks = Marks(self.name, end, recorded_max, end, None, last, "")
            self.projection.track_from(end)
        self._write_marks(tx, marks)

    def _span(
        self, tx: Transaction, start: int, end: int, positions: list[int], times: list[int]
    ) -> None:
        """Carry the spans of the batch (start, end]: the log cut at every multiple of a
        twentieth of the interval, a row per piece with the least recording time of the
        view's events in it (a rebuild's batch of followed events spans many pieces; the
        piece the batch starts in joins the row before when that row ends where it starts).
        `positions` and `times`: the batch's events' positions and recording times."""
        if end <= start:
            return
        span = max(1, self.every // SPANS_PER_INTERVAL)
        lows: dict[int, int] = {}
        for position, at in zip(positions, times, strict=True):
            cell = (position - 1) // span
            if at < lows.get(cell, at + 1):
                lows[cell] = at
        pieces = [
            [max(start, k * span), min(end, (k + 1) * span), lows.get(k)]
            for k in range(start // span, (end - 1) // span + 1)
        ]
        if not pieces:
            return
        row = self.last_span
        if start % span and (row is None or row[1] != start):
            found = tx.fetchone(
                f"SELECT start, stop, recorded_min FROM {SPANS} WHERE name = ? "
                "ORDER BY stop DESC LIMIT 1",
                (self.name,),
            )
            row = None if found is None else (int(found[0]), int(found[1]), int_or_none(found[2]))
        if row is not None and row[1] == start and start % span:  # the same piece
            low, before = pieces[0][2], row[2]
            pieces[0][0] = row[0]
            pieces[0][2] = before if low is None else low if before is None else min(low, before)
            tx.execute(f"DELETE FROM {SPANS} WHERE name = ? AND stop = ?", (self.name, start))
        tx.executemany(
            f"INSERT INTO {SPANS} (name, start, stop, recorded_min, seal) VALUES (?, ?, ?, ?, ?)",
            [(self.name, a, b, low, seal_of(SPANS, a, b, low)) for a, b, low in pieces],
        )
        first, stop, low = pieces[-1]
        self.last_span = (int(first or 0), int(stop or 0), low)

    def _write(self, tx: Transaction, marks: Marks) -> bool:
        row = tx.fetchone(LINK, (marks.position,))
        if row is None:
            log.warning("checkpoint_without_link", projection=self.name, position=marks.position)
            return False
        previous = tx.fetchone(
            f"SELECT {CHECKPOINT_COLUMNS} FROM {CHECKPOINTS} WHERE name = ? "
            "ORDER BY position DESC LIMIT 1",
            (self.name,),
        )
        before = checkpoint_of(previous) if previous is not None else None
        if before is not None and not before.sealed:
            before = None  # its digests cannot be carried on: count every row again
        digests: Digests = {}
        intervals: dict[str, _Interval] = {}
        for table, kind in self.plan.items():
            if kind == DERIVED:
                continue
            if kind == APPEND and before is not None and table in before.digests:
                rows, total = before.digests[table]
                # both bounds: without statistics (a rebuild's tables have none) the planner
                # takes a range for a few rows and walks the index; for `position > ?` alone
                # it scanned the whole table at every checkpoint (3 s of a 1M rebuild)
                new = digest(tx, table, " WHERE position > ? AND position <= ?",
                             (before.position, marks.position))  # fmt: skip
                digests[table] = [rows + new[0], total + new[1]]
            elif kind == LATEST:
                kept = (
                    None
                    if before is None
                    else self.projection.interval_rows(table, before.position)
                )
                intervals[table] = _Interval.of(tx, table, before, marks.position, kept)
                digests[table] = intervals[table].digest(tx, before)
            elif kind == KEPT:
                interval = intervals[DERIVED_FROM[table]]
                digests[table] = self._keep(tx, table, before, interval, marks.position)
            elif kind == COPY:
                digests[table] = self._copy(tx, table, before, marks.position)
            else:
                digests[table] = digest(tx, table)
        for interval in intervals.values():
            interval.clear(tx)
        link = str(row[0])
        fields = (self.name, marks.position, self.projection.shape, marks.recorded_max,
                  marks.range_start, marks.range_min, marks.last_event, link, digests)  # fmt: skip
        tx.execute(
            f"INSERT INTO {CHECKPOINTS} ({CHECKPOINT_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*fields[:8], json.dumps(digests, sort_keys=True), seal_of(*fields), to_us(utcnow())),
        )
        log.info("checkpoint_made", projection=self.name, position=marks.position)
        return True

    def _copy(
        self, tx: Transaction, table: str, before: Checkpoint | None, position: int
    ) -> list[int]:
        """Copy a COPY table's rows written since the checkpoint before (noted by the view),
        or every row (the first checkpoint, a view that did not note them), and digest the
        table: a replay reads each key's newest copy (`copy_select`). The digest is carried
        on from the checkpoint before by the written rows (their copies before out, the rows
        now in). Copying and digesting every row at every checkpoint cost a rebuild as much
        as its calendars grew (10,000 rows, 50 times, on 1M events)."""
        base = self.bases[table]
        keys = (
            None if before is None or base not in COPY_KEYS
            else self.projection.interval_keys(table, before.position)
        )  # fmt: skip
        copies = copy_table(table)
        if keys is None or before is None or table not in before.digests:
            tx.execute(f"INSERT INTO {copies} SELECT ?, t.* FROM {table} t", (position,))
            return digest(tx, table)
        key = COPY_KEYS[base]
        rows, total = before.digests[table]
        names = column_names(tx, table)
        ordered = sorted(keys)
        for start in range(0, len(ordered), 500):
            chunk = ordered[start : start + 500]
            among = f"{key} IN ({', '.join('?' * len(chunk))})"
            older = copy_select(base, names, "", f" AND {among}")
            then = digest(tx, f"({older})", "", (before.position, *chunk))
            now = digest(tx, f"(SELECT {names} FROM {table} WHERE {among})", "", tuple(chunk))
            rows, total = rows - then[0] + now[0], total - then[1] + now[1]
            tx.execute(
                f"INSERT INTO {copies} SELECT ?, t.* FROM {table} t WHERE t.{among}",
                (position, *chunk),
            )
        return [rows, total]

    def _keep(
        self,
        tx: Transaction,
        table: str,
        before: Checkpoint | None,
        interval: _Interval,
        position: int,
    ) -> list[int]:
        """Keep a KEPT table's counts at `position` (the previous checkpoint's, with the
        source's rows changed since counted out as they were then and in as they are now;
        the first counts every row) and digest them."""
        counting = self.projection.derived
        copies, names = copy_table(table), column_names(tx, table)
        counted: dict[tuple[Any, ...], int] = {}
        if before is not None and interval.carried and table in before.digests:
            _add(counted, tx.fetchall(
                f"SELECT {names} FROM {copies} WHERE checkpoint_position = ?", (before.position,)
            ), 1)  # fmt: skip
            _add(counted, tx.fetchall(counting(interval.then)[table]), -1)
            _add(counted, tx.fetchall(counting(interval.now)[table]), 1)
        elif not interval.carried:  # the first checkpoint: `now` holds every row
            _add(counted, tx.fetchall(counting(interval.now)[table]), 1)
        else:  # a checkpoint before kept no counts
            source = DERIVED_FROM[table]
            every = latest_select(source, column_names(tx, source), "")
            _add(counted, tx.fetchall(f"WITH src AS ({every}) {counting('src')[table]}",
                                      (position,)), 1)  # fmt: skip
        rows = [(position, *k, n) for k, n in counted.items() if n]
        if rows:
            marks = ", ".join("?" * len(rows[0]))
            tx.executemany(
                f"INSERT INTO {copies} (checkpoint_position, {names}) VALUES ({marks})", rows
            )
        kept = f"(SELECT {names} FROM {copies} WHERE checkpoint_position = ?)"
        return digest(tx, kept, "", (position,))


@dataclass(frozen=True)
class _Interval:
    """A LATEST table's rows changed since the previous checkpoint, in two temporary tables:
    as they were then (`then`) and as they are at this one (`now`), read from the table's
    versions (a rebuild may still hold its newest rows in memory). The digest and the counts
    of the table are carried on by them: the work is that of the rows changed in the interval
    (digesting the whole table at every checkpoint made a rebuild of 1M events half as fast
    again). Without a previous checkpoint (`carried` false), `now` holds every row."""

    then: str
    now: str
    carried: bool
    table: str

    @classmethod
    def of(
        cls,
        tx: Transaction,
        table: str,
        before: Checkpoint | None,
        position: int,
        kept: Interval | None = None,
    ) -> _Interval:
        """The rows changed since `before`: those the view kept in memory (`kept`, then
        written here by COPY, no read), else read from the versions."""
        names = column_names(tx, table)
        interval = cls(f"checkpoint_then_{table}", f"checkpoint_now_{table}",
                       before is not None and table in before.digests, table)  # fmt: skip
        for temporary in (interval.then, interval.now):
            interval.make(tx, temporary, names)
        if kept is not None and interval.carried:
            tx.append(interval.then, kept.columns, kept.then)
            tx.append(interval.now, kept.columns, kept.now)
        elif before is not None and interval.carried:
            only, keys = _changed(tx, table, before.position)
            select = latest_select(table, names, "", only)
            tx.execute(f"INSERT INTO {interval.then} {select}", (before.position, *keys))
            tx.execute(f"INSERT INTO {interval.now} {select}", (position, *keys))
        else:
            tx.execute(f"INSERT INTO {interval.now} {latest_select(table, names, '')}", (position,))
        return interval

    def digest(self, tx: Transaction, before: Checkpoint | None) -> list[int]:
        """The table's digest at the checkpoint."""
        rows, total = before.digests[self.table] if before is not None and self.carried else (0, 0)
        then, now = digest(tx, self.then), digest(tx, self.now)
        return [rows - then[0] + now[0], total - then[1] + now[1]]

    def make(self, tx: Transaction, temporary: str, names: str) -> None:
        """An empty temporary table of the table's columns, made once per connection (made and
        dropped at every checkpoint, they churned PostgreSQL's catalog: two tables a
        checkpoint); PostgreSQL empties it at commit, SQLite here."""
        if tx.db.backend == "postgresql":
            tx.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {temporary} ON COMMIT DELETE ROWS AS "
                f"SELECT {names} FROM {self.table} WHERE 1 = 0"
            )
            return
        tx.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {temporary} AS SELECT {names} FROM {self.table} "
            "WHERE 1 = 0"
        )
        tx.execute(f"DELETE FROM temp.{temporary}")

    def clear(self, tx: Transaction) -> None:
        """Empty the temporary tables (SQLite; PostgreSQL's are emptied at commit)."""
        if tx.db.backend == "sqlite":
            for temporary in (self.then, self.now):
                tx.execute(f"DELETE FROM temp.{temporary}")


def _changed(tx: Transaction, table: str, after: int) -> tuple[str, tuple[Any, ...]]:
    """The condition on a LATEST table's versions that selects the keys with versions after a
    position, and its parameters. PostgreSQL gets the keys as an array: a rebuild's tables
    have no statistics yet, and with a subquery the planner read every version up to the
    position at every checkpoint (a hash join) instead of each key's."""
    versions, key = LATEST_OF[table]
    changed = f"SELECT DISTINCT {key} FROM {versions} WHERE position > ?"
    if tx.db.backend == "postgresql":
        return f" AND {key} = ANY(?)", ([row[0] for row in tx.fetchall(changed, (after,))],)
    return f" AND {key} IN ({changed})", (after,)


def _add(counted: dict[tuple[Any, ...], int], rows: list[tuple[Any, ...]], sign: int) -> None:
    """Add counted rows (key columns, then the count) to `counted`, times `sign`."""
    for row in rows:
        key = tuple(row[:-1])
        counted[key] = counted.get(key, 0) + sign * int(row[-1])
