"""How cost grows with the log: rebuild, verify, as-of, a board page and two commands at several
sizes of one PostgreSQL log, each per event or per request, beside the smallest size's column.

Each log is a prefix of the shared log (--source, the 1,000,000-event log that
`benchmarks/projections.py --keep` leaves in schema `bench_projections`, only ever read): its
first N events, their links of the audit chain and the snapshots of their aggregates, copied
into a schema of this script's own (`growth_N`, kept with --keep and reused by later runs).
On each copy:
1. rebuild of every read model, the path of `ledger projections rebuild` (µs per event);
   right after it, a board page after a cursor (below) while the new tables have no
   statistics yet; then ANALYZE, as autovacuum would (it is off on the benchmark's server);
2. `audit verify`'s check (`verify_chain`: the chain recomputed, the snapshots compared), per
   event;
3. one board page (`SlaBreachView.page`, 100 rows of every state and the counts): the first
   page and one after a cursor taken at random from the first ten pages', --reads times each
   (p50 and p99 ms per request);
4. open-ticket and consume-credits through the application (p50 and p99 ms per command,
   --commands of each, taking turns, after ten of each to warm up), for contracts signed in
   the first 5,000 events (the same aggregates at every size: only the log around them grows);
5. `audit replay --as-of T` (`as_of_views`, the CLI's function) at --instants instants k: the
   recording times of the events at positions spread over the log (k/(K+1) of it), each moved to
   the same distance past the checkpoint interval's start before it at every size (k/(K+1) of
   the smallest log, or of the interval if less), so each size's replays apply about as many
   events after their checkpoint, each replayed --replays times (seconds per request: the median
   of every replay, and the slowest instant's median): the views as of T alone; with a board
   page (its counts and first 100 rows) and one contract's statement read from them; and, apart,
   with the breach statistics by tier and every contract's statement for a month (answers that
   grow with the data).
Steps 1-4 run --repeat times (medians of the runs per event; the percentiles are over every
run's requests), step 5 in the first run only. The sizes take turns, in another order at each
turn: each run's rebuilds and verifications, chunks of ten board reads and of ten commands,
and the replays, so that a slow stretch of the (shared, noisy) machine falls on every size
alike. The events the commands recorded are deleted after each run (each copy is its prefix
again). The baseline in the same run is the first (smallest) size: each cost is also given as
its ratio to it, and a row is flat when every ratio is within 20 %.

Time: a full run at 10,000, 100,000 and 1,000,000 events with the defaults (--repeat 2
--instants 3 --commands 200 --reads 50) took 14.6 minutes on 2 shared cores at a load average
of 5 to 6 (the first run, with the three replays, 10 minutes; the replays of the 1,000,000
events, about 1.5 minutes each, and two rebuilds of them make most of it; copying that prefix
took 23 s more on the first run). Fewer --instants or --repeat make it shorter. Usage:
  python -P benchmarks/growth.py --sizes 10000 100000 1000000 --keep
  python -P benchmarks/growth.py --sizes 10000 100000 --repeat 3
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/calendar.py would shadow the standard library's calendar module (see its header).
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import argparse
import os
import platform
import random
import statistics
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

from ledger.application import SupportLedger
from ledger.audit.chain import verify_chain
from ledger.audit.replay import as_of_views
from ledger.figures import STATES
from ledger.logs import configure_logging
from ledger.projections import PROJECTIONS
from ledger.projections.checkpoints import every_from_env
from ledger.projections.db import ViewDatabase
from ledger.projections.runner import rebuild
from ledger.projections.sla_breaches import SlaBreachView
from ledger.settings import DatabaseSettings, parse_database_url
from ledger.store import connect

if TYPE_CHECKING:
    from collections.abc import Callable
    from uuid import UUID

FLAT = 0.20  # the goal: per-event or per-request cost within 20 % of the smallest log's
CONTRACTS_WITHIN = 5_000  # the commands' contracts are signed in the log's first events
Row = tuple[str, str, dict[int, float]]  # a cost's name, its unit, its value at each size
CONTACT_ADDED = "ledger.domain.contract:Contract.ContactAdded"
COMMANDS_AT = datetime(2025, 6, 2, 8, tzinfo=UTC)  # within the generated contracts' first term


def percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[max(int(-(-percent * len(ordered) // 100)), 1) - 1]


# -- the copies ----------------------------------------------------------------------------------


def bound_of(base: DatabaseSettings, source: str, size: int) -> int:
    """The position of the source log's `size`-th event (positions may have gaps)."""
    with connect(base) as conn:
        row = conn.execute(
            f'SELECT notification_id FROM "{source}".ledger_events '
            "ORDER BY notification_id OFFSET %s LIMIT 1",
            (size - 1,),
        ).fetchone()
    if row is None:
        msg = f"the log in schema {source} holds fewer than {size:,} events"
        raise SystemExit(msg)
    return int(str(row[0]))


def schema_exists(base: DatabaseSettings, schema: str) -> bool:
    with connect(base) as conn:
        found = conn.execute(
            "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (schema,)
        ).fetchone()
    return found is not None


def copy_prefix(base: DatabaseSettings, source: str, schema: str, bound: int) -> None:
    """A new schema holding the source's events up to `bound`, their chain and snapshots."""
    with connect(base) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    SupportLedger(settings=base.with_schema(schema)).close()  # the store's tables and functions
    columns = "originator_id, originator_version, topic, state"
    with connect(base, autocommit=False) as conn, conn.transaction():
        conn.execute(
            f'INSERT INTO "{schema}".ledger_events ({columns}, notification_id) '
            f'SELECT {columns}, notification_id FROM "{source}".ledger_events '
            "WHERE notification_id <= %s ORDER BY notification_id",
            (bound,),
        )
        conn.execute(
            f'INSERT INTO "{schema}".audit_chain SELECT * FROM "{source}".audit_chain '
            "WHERE position <= %s ORDER BY position",
            (bound,),
        )
        conn.execute(
            f'INSERT INTO "{schema}".ledger_snapshots ({columns}) '
            f'SELECT {columns} FROM "{source}".ledger_snapshots s WHERE EXISTS (SELECT 1 FROM '
            f'"{schema}".ledger_events e WHERE e.originator_id = s.originator_id '
            "AND e.originator_version = s.originator_version)"
        )
    with connect(base) as conn:
        for table in ("ledger_events", "audit_chain", "ledger_snapshots"):
            conn.execute(f'VACUUM ANALYZE "{schema}".{table}')  # as autovacuum would


def trim(base: DatabaseSettings, schema: str, bound: int) -> int:
    """Delete what was recorded after `bound` (the commands' events, their links and snapshots);
    returns the number of events left."""
    with connect(base, autocommit=False) as conn, conn.transaction():
        conn.execute(f'DELETE FROM "{schema}".ledger_events WHERE notification_id > %s', (bound,))
        conn.execute(f'DELETE FROM "{schema}".audit_chain WHERE position > %s', (bound,))
        conn.execute(
            f'DELETE FROM "{schema}".ledger_snapshots s WHERE NOT EXISTS (SELECT 1 FROM '
            f'"{schema}".ledger_events e WHERE e.originator_id = s.originator_id '
            "AND e.originator_version = s.originator_version)"
        )
        conn.execute(
            "SELECT setval(pg_get_serial_sequence(%s, 'notification_id'), %s)",
            (f'"{schema}".ledger_events', bound),
        )
        row = conn.execute(f'SELECT count(*) FROM "{schema}".ledger_events').fetchone()
    return int(str(row[0])) if row else 0


def prepare(base: DatabaseSettings, source: str, schema: str, size: int) -> int:
    """The copy of the first `size` events in `schema` (made, or reused and trimmed); returns
    the position of its last event."""
    bound = bound_of(base, source, size)
    if schema_exists(base, schema) and trim(base, schema, bound) == size:
        return bound
    with connect(base) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    t0 = time.perf_counter()
    copy_prefix(base, source, schema, bound)
    trim(base, schema, bound)  # the sequence set after the copied positions
    print(f"  copied the first {size:,} events into {schema} in {time.perf_counter() - t0:.0f} s")
    return bound


# -- the measures --------------------------------------------------------------------------------


@dataclass
class Samples:
    """What one size measured: seconds per run of each per-event cost, milliseconds per request
    of each per-request one, seconds per as-of replay (per instant, each time it was
    replayed)."""

    per_event: dict[str, list[float]] = field(default_factory=dict)
    per_request: dict[str, list[float]] = field(default_factory=dict)
    replays: dict[str, dict[int, list[float]]] = field(default_factory=dict)

    def event(self, name: str, seconds: float) -> None:
        self.per_event.setdefault(name, []).append(seconds)

    def request(self, name: str, ms: float) -> None:
        self.per_request.setdefault(name, []).append(ms)

    def replay(self, name: str, instant: int, seconds: float) -> None:
        self.replays.setdefault(name, {}).setdefault(instant, []).append(seconds)

    def replay_median(self, name: str) -> float:
        """The median of every replay of every instant."""
        return statistics.median(t for times in self.replays[name].values() for t in times)

    def replay_slowest(self, name: str) -> float:
        """The slowest instant's median."""
        return max(statistics.median(times) for times in self.replays[name].values())


def timed_ms(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


def rebuild_all(settings: DatabaseSettings, app: SupportLedger, found: Samples) -> None:
    """Every read model rebuilt as `ledger projections rebuild NAME` does."""
    total = 0.0
    for name, projection in PROJECTIONS.items():
        t0 = time.perf_counter()
        rebuild(settings, app, projection)
        took = time.perf_counter() - t0
        found.event(f"rebuild {name}", took)
        total += took
    found.event("rebuild, every view", total)


def verify(app: SupportLedger, db: ViewDatabase, size: int, found: Samples) -> None:
    """`ledger audit verify` without anchors: the chain and the snapshots."""
    t0 = time.perf_counter()
    result = verify_chain(app, db)
    found.event("audit verify", time.perf_counter() - t0)
    if not result.ok or result.checked != size:
        msg = f"verification failed: {result.as_dict()}"
        raise RuntimeError(msg)


class Board:
    """The board of one copy, read on a connection of its own: one that planned its reads
    before the tables had statistics keeps those plans after them (psycopg prepares a
    statement on its fifth run, and the server keeps choosing the generic plan)."""

    def __init__(self, settings: DatabaseSettings, rng: random.Random) -> None:
        self.db = ViewDatabase(settings)
        self.rng = rng
        view = SlaBreachView(self.db)
        now = datetime.now(UTC)
        self.first = partial(view.page, now, limit=100, states=list(STATES))
        self.cursors: list[str] = []
        after = None
        for _ in range(10):  # the cursors of the first ten pages
            after = self.first(after=after)["next"]
            if after is None:
                break
            self.cursors.append(after)

    def read(self, reads: int, found: Samples, *, fresh: bool = False) -> None:
        """The first page of every state, and a page after a cursor among the first ten
        pages' (`fresh`: only the latter, right after the rebuild, before the statistics)."""
        for _ in range(reads):
            if not fresh:
                found.request("board page: the first", timed_ms(self.first))
            cursor = self.rng.choice(self.cursors) if self.cursors else None
            name = "board page: after a cursor" + (", no statistics" if fresh else "")
            found.request(name, timed_ms(partial(self.first, after=cursor)))

    def close(self) -> None:
        self.db.close()


def analyze(base: DatabaseSettings, schema: str) -> None:
    """ANALYZE every table of the copy, as autovacuum does after a rebuild's inserts (it is
    off on the benchmark's server)."""
    with connect(base) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)
        ).fetchall()
        for (table,) in tables:
            conn.execute(f'ANALYZE "{schema}"."{table}"')


def instants(app: SupportLedger, bound: int, count: int, reach: int) -> list[datetime]:
    """The recording times of the events at positions spread over the log (k/(count+1) of
    it), each moved to k/(count+1) of `reach` past the checkpoint interval's start before it:
    a replay then applies about as many events after its checkpoint at every size (`reach`:
    the smallest log or the interval, whichever is less), and what the sizes compare is what
    grows with the log."""
    every = every_from_env() or bound
    found = []
    for k in range(1, count + 1):
        start = (bound * k // (count + 1)) // every * every + reach * k // (count + 1)
        (notification,) = app.recorder.select_notifications(start=min(start, bound), limit=1)
        event: Any = app.mapper.to_domain_event(notification)
        found.append(event.timestamp)
    return found


def as_of(
    settings: DatabaseSettings,
    app: SupportLedger,
    at: datetime,
    contract: UUID,
    found: Samples,
    *,
    instant: int,
) -> None:
    """`ledger audit replay --as-of T` (its function): the views as of T (the replay itself),
    then what an auditor reads of them: the board's counts and first page and one contract's
    statement (bounded answers), then the breach statistics by tier and every contract's
    statement for a month (answers that grow with the data, as the live reports do). An
    instant still ahead of the clock (a log made with shifted recording times) is now."""
    at = min(at, datetime.now(UTC))
    t0 = time.perf_counter()
    with as_of_views(settings, app, at) as then:
        t1 = time.perf_counter()
        then.breaches.page(at, limit=100, states=list(STATES))
        then.credits.statement(period="2025-03", contract_id=contract)
        t2 = time.perf_counter()
        then.breaches.stats("tier", at)
        then.credits.statement(period="2025-03")
        t3 = time.perf_counter()
    found.replay("audit replay --as-of: the views at T", instant, t1 - t0)
    found.replay("  + a board page with its counts, one statement", instant, t2 - t0)
    found.replay("  + statistics by tier, every contract's statement", instant, t3 - t0 - (t2 - t1))


def contracts_of(app: SupportLedger, bound: int) -> list[tuple[UUID, str]]:
    """The contracts named in the log's first events, each with its first named contact."""
    rows = app.recorder.select_notifications(
        start=1, limit=CONTRACTS_WITHIN, stop=min(bound, CONTRACTS_WITHIN), topics=[CONTACT_ADDED]
    )
    found: dict[UUID, str] = {}
    for notification in rows:
        event: Any = app.mapper.to_domain_event(notification)
        found.setdefault(event.originator_id, event.email)
    if not found:
        msg = "no contract with a named contact in the log's first events"
        raise RuntimeError(msg)
    return list(found.items())


def commands(
    app: SupportLedger, world: list[tuple[UUID, str]], numbers: range, run: int,
    found: Samples | None,
) -> None:  # fmt: skip
    """Open-ticket and consume-credits commands numbered `numbers`, taking turns (their keys
    and instants those of run `run`; -1 is the warm-up)."""
    rng = random.Random(numbers.start * 1000 + run)
    for i in numbers:
        contract, contact = rng.choice(world)
        at = COMMANDS_AT + timedelta(hours=3 * (run + 1), seconds=37 * i)
        key = f"G-{run}-{i}"
        opened = timed_ms(partial(
            app.open_ticket, contract_id=contract, reporter=contact, version="24.2.1",
            platform="linux", severity=rng.randint(1, 3), key=key, at=at,
        ))  # fmt: skip
        consumed = timed_ms(partial(
            app.consume_credits, contract, points=Decimal("0.5"), activity="growth", key=key,
            at=at,
        ))  # fmt: skip
        if found is not None:
            found.request("open-ticket", opened)
            found.request("consume-credits", consumed)


@dataclass
class Copy:
    """One size: its copy of the log, and what was measured on it."""

    size: int
    schema: str
    bound: int  # the position of its last event
    settings: DatabaseSettings
    world: list[tuple[UUID, str]] = field(default_factory=list)
    instants: list[datetime] = field(default_factory=list)
    found: Samples = field(default_factory=Samples)


def rotated(copies: list[Copy], turn: int) -> list[Copy]:
    """The copies in another order at each turn: a slow stretch of a noisy machine falls on
    every size alike."""
    shift = turn % len(copies)
    return copies[shift:] + copies[:shift]


def per_event(copy: Copy, base: DatabaseSettings, reads: int) -> None:
    """Rebuild every view, read the board before its statistics, ANALYZE, verify."""
    app = SupportLedger(settings=copy.settings)
    db = ViewDatabase(copy.settings)
    try:
        rebuild_all(copy.settings, app, copy.found)
        board = Board(copy.settings, random.Random(copy.size))
        try:
            board.read(max(reads // 5, 1), copy.found, fresh=True)
        finally:
            board.close()
        analyze(base, copy.schema)
        verify(app, db, copy.size, copy.found)
    finally:
        db.close()
        app.close()


def per_request(copies: list[Copy], args: argparse.Namespace, run: int) -> None:
    """The board pages, then the commands, on every copy in chunks taking turns."""
    chunk = 10
    boards = {c.size: Board(c.settings, random.Random(c.size + run)) for c in copies}
    try:
        for turn in range(-(-args.reads // chunk)):
            for c in rotated(copies, run + turn):
                boards[c.size].read(min(chunk, args.reads - turn * chunk), c.found)
    finally:
        for board in boards.values():
            board.close()
    writers = {c.size: SupportLedger(settings=c.settings) for c in copies}
    try:
        for c in copies:
            commands(writers[c.size], c.world, range(10), -1, None)  # warm: aggregates read
        for turn, start in enumerate(range(0, args.commands, chunk)):
            numbers = range(start, min(start + chunk, args.commands))
            for c in rotated(copies, run + turn):
                commands(writers[c.size], c.world, numbers, run, c.found)
    finally:
        for writer in writers.values():
            writer.close()  # its kept aggregates go with the trim


def replays(copies: list[Copy], args: argparse.Namespace) -> None:
    """Each as-of instant replayed --replays times on every copy, the sizes taking turns."""
    for turn in range(args.replays):
        for k in range(args.instants):
            for c in rotated(copies, k + turn):
                app = SupportLedger(settings=c.settings)
                try:
                    as_of(c.settings, app, c.instants[k], c.world[0][0], c.found, instant=k)
                finally:
                    app.close()


def measure(base: DatabaseSettings, copies: list[Copy], args: argparse.Namespace) -> None:
    """Every cost on every copy, --repeat times, the sizes taking turns; the as-of replays in
    the first run only; each copy is its prefix again after each run."""
    for c in copies:
        app = SupportLedger(settings=c.settings)
        try:
            c.world = contracts_of(app, c.bound)
            reach = min(copies[0].bound, every_from_env() or copies[0].bound)
            c.instants = instants(app, c.bound, args.instants, reach)
        finally:
            app.close()
    for run in range(args.repeat):
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        try:
            for c in rotated(copies, run):
                per_event(c, base, args.reads)
            per_request(copies, args, run)
            if run == 0:
                replays(copies, args)
        finally:
            for c in copies:
                trim(base, c.schema, c.bound)
        print(f"  run {run + 1}: {time.perf_counter() - t0:.0f} s; "
              f"load average before / after: {load:.2f} / {os.getloadavg()[0]:.2f}")  # fmt: skip


# -- the table -----------------------------------------------------------------------------------


def verdict(ratios: list[float]) -> str:
    if all(1 - FLAT <= r <= 1 + FLAT for r in ratios):
        return "flat"
    return "grows" if any(r > 1 + FLAT for r in ratios) else "falls"


def rows_of(sizes: list[int], results: dict[int, Samples]) -> list[Row]:
    """Each cost at each size: per event (medians of the runs), per request (percentiles of
    every request), per replay (median and slowest of the instants)."""
    first = results[sizes[0]]
    rows = [
        (name, "µs/event", {s: statistics.median(results[s].per_event[name]) / s * 1e6
                            for s in sizes})
        for name in first.per_event
    ]  # fmt: skip
    rows += [
        (f"{name} {label}", "ms", {s: percentile(results[s].per_request[name], p) for s in sizes})
        for name in first.per_request
        for label, p in (("p50", 50.0), ("p99", 99.0))
    ]
    rows += [
        (f"{name} ({label})", "s/request", {s: pick(results[s], name) for s in sizes})
        for name in first.replays
        for label, pick in (("median", Samples.replay_median), ("slowest", Samples.replay_slowest))
    ]
    return rows


def table(sizes: list[int], results: dict[int, Samples]) -> list[str]:
    """Each cost at each size, its ratio to the first size's, and whether it is flat."""
    first = sizes[0]
    head = f"{'cost':46}{'unit':>10}" + "".join(f"{s:>11,}" for s in sizes)
    head += "".join(f"{'x ' + f'{s:,}':>12}" for s in sizes[1:]) + "  verdict"
    lines = [head]
    for name, unit, values in rows_of(sizes, results):
        ratios = [values[s] / values[first] for s in sizes[1:]]
        digits = 3 if unit == "s/request" else 2
        line = f"{name:46}{unit:>10}" + "".join(f"{values[s]:>11.{digits}f}" for s in sizes)
        line += "".join(f"{r:>12.2f}" for r in ratios) + f"  {verdict(ratios)}"
        lines.append(line)
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Time: " + __doc__.split("Time: ", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=2, help="runs of each measure (medians)")
    parser.add_argument("--instants", type=int, default=3, help="as-of instants (first run)")
    parser.add_argument("--replays", type=int, default=3, help="replays of each instant")
    parser.add_argument("--commands", type=int, default=200, help="of each kind per run")
    parser.add_argument("--reads", type=int, default=50, help="board pages of each kind per run")
    parser.add_argument("--source", default="bench_projections", help="the log's schema (read)")
    parser.add_argument("--prefix", default="growth", help="the copies' schemas: PREFIX_SIZE")
    parser.add_argument("--keep", action="store_true", help="keep the copies for later runs")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    configure_logging("json", "warning")
    sizes = sorted(set(args.sizes))
    if min(sizes[0], args.repeat, args.instants, args.replays, args.commands) < 1:
        parser.error("--sizes, --repeat, --instants, --replays and --commands must be positive")
    base = parse_database_url(args.pg)
    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {python}; "
          f"store: {base.display_url}, prefixes of schema {args.source}")  # fmt: skip
    print(f"medians of {args.repeat} runs; {args.instants} as-of instants replayed "
          f"{args.replays} times each, {args.commands} "
          f"commands of each kind and {args.reads} board pages of each kind per run")  # fmt: skip
    copies: list[Copy] = []
    try:
        for size in sizes:
            schema = f"{args.prefix}_{size}"
            copies.append(Copy(size, schema, 0, base.with_schema(schema)))
            copies[-1].bound = prepare(base, args.source, schema, size)
        measure(base, copies, args)
    finally:
        if not args.keep:
            with connect(base) as conn:
                for c in copies:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{c.schema}" CASCADE')
    results = {c.size: c.found for c in copies}
    print()
    print("\n".join(table(sizes, results)))
    print(f"goal: each cost per event or per request within {FLAT:.0%} of the "
          f"{sizes[0]:,}-event log's (the baseline column, same run)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
