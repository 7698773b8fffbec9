"""As-of replay from view checkpoints, beside the full replay from the log's start (the baseline).

On an existing log (a copy of the projections benchmark's, e.g. schema asof_1m, never the shared
one), makes the checkpoints if the views have none (`rebuild` of sla_breaches and credit_usage,
timed), then replays as of the recording instants of events at spread positions: from the
checkpoints (--repeat runs each) and, in the same run, from the log's start at --baseline of
them. Prints per instant, then medians and maxima side by side, the ratio, the answers compared
(breach statistics and a credit statement) and the checkpoints' storage. Usage:
  python -P benchmarks/asof.py --schema asof_1m
  python -P benchmarks/asof.py --store sqlite --sqlite-path /tmp/ledger-asof-10k.db
`measure_asof(settings, as_of)` measures one as-of replay (the cost-growth table calls it).
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/calendar.py would shadow the standard library's calendar module.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import argparse
import os
import platform
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ledger.application import SupportLedger
from ledger.audit.replay import as_of_views
from ledger.logs import configure_logging
from ledger.projections.checkpoints import (
    CHECKPOINTS,
    COPY,
    MARKS,
    PLANS,
    copy_table,
    every_from_env,
    list_checkpoints,
)
from ledger.projections.credit_usage import CreditUsageProjection
from ledger.projections.db import ViewDatabase
from ledger.projections.runner import rebuild
from ledger.projections.sla_breaches import SlaBreachProjection
from ledger.settings import parse_database_url

if TYPE_CHECKING:
    from ledger.settings import DatabaseSettings

SPREAD = (0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95)


@dataclass(frozen=True)
class Measure:
    """One as-of replay: its seconds, where each view started, what it applied, its answers."""

    seconds: float
    started_from: dict[str, int]
    applied: int
    answers: Any


def measure_asof(
    settings: DatabaseSettings,
    as_of: datetime,
    *,
    checkpoints: bool = True,
    app: SupportLedger | None = None,
) -> Measure:
    """Seconds to replay as of `as_of` (from the checkpoints, or from the start) and read the
    breach statistics and a credit statement from it."""
    own = app is None
    ledger = SupportLedger(settings=settings) if app is None else app
    try:
        t0 = time.perf_counter()
        with as_of_views(settings, ledger, as_of, checkpoints=checkpoints) as then:
            answers = (
                then.breaches.stats("tier", as_of),
                then.credits.statement(period="2025-03"),
            )
            started, applied = then.started_from, then.applied
        return Measure(time.perf_counter() - t0, started, applied, answers)
    finally:
        if own:
            ledger.close()


def instant_at(app: SupportLedger, position: int) -> datetime:
    """The recording instant of the event at (or just after) a position."""
    (notification,) = app.recorder.select_notifications(start=max(position, 1), limit=1)
    event: Any = app.mapper.to_domain_event(notification)
    return event.timestamp  # type: ignore[no-any-return]


def storage_mb(settings: DatabaseSettings) -> tuple[float, float]:
    """MB of the checkpoints' own tables, and of the two views' tables, on PostgreSQL."""
    if settings.backend != "postgresql":
        return float("nan"), float("nan")
    db = ViewDatabase(settings)
    try:
        own = [CHECKPOINTS, MARKS] + [
            copy_table(t) for plan in PLANS.values() for t, kind in plan.items() if kind == COPY
        ]
        views = [t for plan in PLANS.values() for t in plan]

        def size(tables: list[str]) -> float:
            rows = db.read(
                "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = ? AND c.relname = ANY(?)",
                (settings.schema, tables),
            )
            return int(rows[0][0]) / 1e6

        return size(own), size(views)
    finally:
        db.close()


def rebuild_cost(settings: DatabaseSettings, app: SupportLedger, head: int, repeat: int) -> None:
    """Rebuild each view without checkpoints and with them, alternately: medians side by side
    (the views end with their checkpoints made)."""
    every = every_from_env()
    print(f"{'view':14}{'no checkpoints s':>18}{'checkpoints s':>15}{'ratio':>7}")
    for projection in (SlaBreachProjection, CreditUsageProjection):
        runs: dict[int, list[float]] = {0: [], every: []}
        for _ in range(repeat):
            for interval in (0, every):
                t0 = time.perf_counter()
                rebuild(settings, app, projection, checkpoint_every=interval)
                runs[interval].append(time.perf_counter() - t0)
        without, with_ = statistics.median(runs[0]), statistics.median(runs[every])
        print(f"{projection.name:14}{without:>18.1f}{with_:>15.1f}{with_ / without:>7.2f}"
              f"   ({head / without:,.0f} and {head / with_:,.0f} events/s)")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--schema", default="asof_1m")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--sqlite-path", default="")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", type=int, default=3, help="instants replayed from zero")
    parser.add_argument("--rebuild", action="store_true", help="make the checkpoints anew")
    parser.add_argument(
        "--rebuild-cost",
        action="store_true",
        help="time rebuilds without and with checkpoints, alternately (then exit)",
    )
    args = parser.parse_args()
    configure_logging("json", "warning")
    if args.schema == "bench_projections":
        print("the shared log is read-only: copy it (see docs/performance.md) and pass the copy")
        return 1
    url = (
        f"sqlite:///{args.sqlite_path}"
        if args.store == "sqlite"
        else f"{args.pg}?schema={args.schema}"
    )
    settings = parse_database_url(url)
    app = SupportLedger(settings=settings)
    head = int(app.recorder.max_notification_id() or 0)
    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"machine: {platform.machine()}, {python}; store: {settings.display_url}")
    print(f"log: {head:,} events; checkpoints every {every_from_env():,} events")
    if args.rebuild_cost:
        rebuild_cost(settings, app, head, args.repeat)
        app.close()
        return 0
    db = ViewDatabase(settings)
    have = list_checkpoints(db, "sla_breaches") if settings.backend else []
    db.close()
    if args.rebuild or not have:
        for projection in (SlaBreachProjection, CreditUsageProjection):
            t0 = time.perf_counter()
            rebuild(settings, app, projection)
            seconds = time.perf_counter() - t0
            print(f"rebuild {projection.name} (checkpoints made on the way): {seconds:,.1f} s "
                  f"({head / seconds:,.0f} events/s)")  # fmt: skip
    own, views = storage_mb(settings)
    db = ViewDatabase(settings)
    counts = {name: len(list_checkpoints(db, name)) for name in PLANS}
    db.close()
    print(f"checkpoints: {counts}; their own tables {own:,.1f} MB, the views' {views:,.1f} MB")
    spread = [(int(head * f), instant_at(app, int(head * f))) for f in SPREAD]
    now = datetime.now(UTC)
    instants = [(p, i) for p, i in spread if i < now]  # as-of the future is refused
    for position, instant in spread:
        if instant >= now:
            print(f"skipped position {position:,}: recorded at {instant:%H:%M:%S}, in the future")
    baseline_at = {
        instants[i][0]
        for i in range(0, len(instants), max(len(instants) // max(args.baseline, 1), 1))
    }
    header = f"{'position':>10} {'from ckpt s':>12} {'started from':>26} {'applied':>8}"
    print(f"{header} {'from zero s':>12}")
    fast_all: list[float] = []
    full_all: list[float] = []
    differ = 0
    for position, instant in instants:
        runs = [measure_asof(settings, instant, app=app) for _ in range(args.repeat)]
        fast = statistics.median(r.seconds for r in runs)
        fast_all.append(fast)
        full_text = ""
        if position in baseline_at:
            full = measure_asof(settings, instant, checkpoints=False, app=app)
            full_all.append(full.seconds)
            full_text = f"{full.seconds:>12.2f}"
            differ += full.answers != runs[0].answers
        started = ",".join(str(v) for v in runs[0].started_from.values())
        print(f"{position:>10,} {fast:>12.2f} {started:>26} {runs[0].applied:>8,} {full_text}")
    print(f"from the checkpoints: median {statistics.median(fast_all):.2f} s, "
          f"max {max(fast_all):.2f} s ({len(fast_all)} instants x {args.repeat} runs)")  # fmt: skip
    if full_all:
        median_full = statistics.median(full_all)
        print(f"from the log's start: median {median_full:.2f} s, max {max(full_all):.2f} s "
              f"({len(full_all)} instants); ratio of medians "
              f"{median_full / statistics.median(fast_all):.1f}x")  # fmt: skip
        print(f"answers differing from the full replay: {differ}")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("goal (PostgreSQL, 1,000,000 events): any instant in at most 5 s")
    app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
