"""Building and verifying the audit hash chain, beside reading the log alone in the same run.

On a log of N events (the 1,000,000-event PostgreSQL log `benchmarks/projections.py --keep`
leaves in schema `bench_projections`, or a smaller SQLite log generated here through the
application), each round measures, in events per second:
1. reading the log alone, the baselines: the library's `select_notifications` in batches of
   --batch (what the projection runner reads), and the stored events table in windows of
   --batch positions (what verification reads), nothing else done with the rows;
2. building the chain: the projection runner's rebuild of a copy of the chain projection into
   tables of its own (prefix `bench_`), in batches of --apply-batch;
3. verifying the chain: recomputing every link from the stored events and comparing.
One untimed pass of each read first (caches, prepared statements), then medians of --repeat
rounds, each figure also as a ratio of the first baseline. The store's events are only read;
the benchmark's own chain table and state row are dropped at the end. Usage:
  python -P benchmarks/audit_chain.py --store postgresql --schema bench_projections
  python -P benchmarks/audit_chain.py --store sqlite --events 50000
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/calendar.py would shadow the standard library's calendar module (see its header).
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import argparse
import importlib.util
import os
import platform
import statistics
import subprocess
import tempfile
import time
from typing import TYPE_CHECKING

from ledger.application import SupportLedger
from ledger.audit.chain import HashChainProjection, verify_chain
from ledger.logs import configure_logging
from ledger.projections.db import ViewDatabase
from ledger.projections.runner import rebuild
from ledger.settings import DatabaseSettings, parse_database_url
from ledger.store import connect

if TYPE_CHECKING:
    from collections.abc import Callable

PREFIX = "bench_"
GOAL = 100_000


class BenchChain(HashChainProjection):
    """The chain projection under a name and table prefix of its own: live chains untouched."""

    name = "bench_audit_chain"

    def __init__(self, db: ViewDatabase, *, prefix: str = "") -> None:
        super().__init__(db, prefix=PREFIX + prefix)


def generator() -> Callable[[str, str, int], None]:
    """benchmarks/projections.py's writer: the same realistic mix of business."""
    path = Path(__file__).with_name("projections.py")
    spec = importlib.util.spec_from_file_location("bench_projections_script", path)
    if spec is None or spec.loader is None:
        msg = f"cannot load {path}"
        raise RuntimeError(msg)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate  # type: ignore[no-any-return]


def others_busy(settings: DatabaseSettings) -> int:
    """How many other sessions are running statements on the server right now."""
    if settings.backend != "postgresql":
        return 0
    with connect(settings) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        ).fetchone()
    return int(row[0]) if row else 0


def read_log(app: SupportLedger, head: int, batch: int) -> int:
    """Read every notification in batches; returns how many."""
    position, count = 0, 0
    while position < head:
        rows = app.recorder.select_notifications(start=position + 1, limit=batch, stop=head)
        if not rows:
            break
        count += len(rows)
        position = rows[-1].id
    return count


def read_table(db: ViewDatabase, table: str, head: int, window: int) -> int:
    """Read every stored event straight from the events table, by windows of positions."""
    ident = "notification_id" if db.backend == "postgresql" else "rowid"
    sql = (
        f"SELECT {ident}, originator_id, originator_version, topic, state FROM {table} "
        f"WHERE {ident} > ? AND {ident} <= ? ORDER BY {ident}"
    )
    position, count = 0, 0
    while position < head:
        upto = min(position + window, head)
        with db.transaction() as tx:
            if db.backend == "postgresql":
                tx.cursor.execute(db.adapt(sql), (position, upto), binary=True)
            else:
                tx.cursor.execute(sql, (position, upto))
            count += len(tx.cursor.fetchall())
        position = upto
    return count


def drop(settings: DatabaseSettings) -> None:
    """Remove the benchmark's chain table and its state row."""
    db = ViewDatabase(settings)
    try:
        with db.transaction() as tx:
            tx.execute(f"DROP TABLE IF EXISTS {PREFIX}audit_chain")
            exists = tx.fetchone(
                "SELECT 1 FROM sqlite_master WHERE name = 'projection_state'"
                if settings.backend == "sqlite"
                else "SELECT 1 FROM information_schema.tables WHERE table_name = "
                "'projection_state' AND table_schema = current_schema()"
            )
            if exists:
                tx.execute("DELETE FROM projection_state WHERE name = ?", (BenchChain.name,))
    finally:
        db.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--schema", default="bench_projections", help="PostgreSQL schema to read")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--events", type=int, default=50_000, help="SQLite: events to generate")
    parser.add_argument(
        "--sqlite-path", default=str(Path(tempfile.gettempdir()) / "ledger-bench-chain.db")
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch", type=int, default=20_000, help="read / verify batch size")
    parser.add_argument("--apply-batch", type=int, default=5_000, help="build batch size")
    parser.add_argument("--generate-child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    configure_logging("json", "warning")
    if args.generate_child is not None:
        generator()(args.url, args.generate_child, args.events)
        return 0

    if args.store == "sqlite":
        settings = parse_database_url(f"sqlite:///{args.sqlite_path}")
        app = SupportLedger(settings=settings)
        have = app.recorder.max_notification_id() or 0
        if have < args.events:
            t0 = time.perf_counter()
            url = f"sqlite:///{settings.path}"
            child = [sys.executable, "-P", __file__, "--generate-child", f"{int(t0)}-0",
                     "--events", str(args.events), "--url", url]  # fmt: skip
            if subprocess.run(child, check=False).returncode != 0:
                print("generating the log failed")
                return 1
            have = app.recorder.max_notification_id() or 0
            print(f"generated {have:,} events in {time.perf_counter() - t0:,.0f} s")
    else:
        settings = parse_database_url(args.pg).with_schema(args.schema)
        app = SupportLedger(settings=settings)
    head = int(app.recorder.max_notification_id() or 0)
    if head == 0:
        print(f"the log in {settings.display_url} is empty; generate one first (see --help)")
        return 1
    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"machine: {platform.machine()}, {python}; store: {settings.display_url}")
    load_before = os.getloadavg()[0]

    drop(settings)
    db = ViewDatabase(settings)
    table = app.recorder.events_table_name  # type: ignore[attr-defined]
    reads: list[float] = []
    raw_reads: list[float] = []
    builds: list[float] = []
    verifies: list[float] = []
    busy: list[int] = []
    try:
        events = read_log(app, head, args.batch)  # untimed: caches and prepared statements
        read_table(db, table, head, args.batch)
        for _ in range(args.repeat):
            busy.append(others_busy(settings))
            t0 = time.perf_counter()
            read_log(app, head, args.batch)
            reads.append(events / (time.perf_counter() - t0))
            t0 = time.perf_counter()
            read_table(db, table, head, args.batch)
            raw_reads.append(events / (time.perf_counter() - t0))
            drop(settings)
            db.forget_created()
            busy.append(others_busy(settings))
            t0 = time.perf_counter()
            rebuild(settings, app, BenchChain, batch_size=args.apply_batch)
            builds.append(events / (time.perf_counter() - t0))
            busy.append(others_busy(settings))
            t0 = time.perf_counter()
            result = verify_chain(app, db, batch_size=args.batch, prefix=PREFIX)
            verifies.append(result.checked / (time.perf_counter() - t0))
            if not result.ok or result.checked != events:
                print(f"verification failed: {result.as_dict()}")
                return 1
    finally:
        db.close()
        drop(settings)
        app.close()

    base = statistics.median(reads)
    print(f"log: {events:,} stored events up to position {head:,}; medians of {args.repeat} runs")
    print(f"{'what':44}{'events/s':>12}{'seconds':>10}{'vs read':>9}")
    for label, rates in [
        (f"read the log: select_notifications ({args.batch:,})", reads),
        (f"read the log: events table ({args.batch:,})", raw_reads),
        (f"build the chain: rebuild ({args.apply_batch:,})", builds),
        (f"verify the chain ({args.batch:,})", verifies),
    ]:
        rate = statistics.median(rates)
        print(f"{label:44}{rate:>12,.0f}{events / rate:>10.1f}{rate / base:>9.2f}")
    load_after = os.getloadavg()[0]
    print(f"load average (1 min) before / after: {load_before:.2f} / {load_after:.2f}")
    if any(busy):
        print(f"note: {max(busy)} other session(s) were running statements on the server meanwhile")
    print(f"goal: verification >= {GOAL:,} events/s on PostgreSQL")
    return 0


if __name__ == "__main__":
    sys.exit(main())
