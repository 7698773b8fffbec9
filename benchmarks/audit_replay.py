"""As-of replay: the seconds to rebuild the breach and credit views as of an instant.

Replays the whole log (as of now) and half of it (as of the recording instant of the middle
event) into a temporary store, beside reading and decoding the same log alone, in the same run.
Uses a log made by benchmarks/projections.py (--keep), or generates one. Usage:
  python -P benchmarks/audit_replay.py --store postgresql --schema bench_projections
  python -P benchmarks/audit_replay.py --store sqlite --events 50000
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
import resource
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

from ledger.application import SupportLedger
from ledger.audit.replay import as_of_views
from ledger.logs import configure_logging
from ledger.settings import parse_database_url

PROJECTIONS_BENCH = Path(__file__).resolve().parent / "projections.py"


def read_and_decode(app: SupportLedger, batch: int = 5000) -> float:
    """Seconds to read and decode the whole log (the floor under any replay)."""
    head = app.recorder.max_notification_id() or 0
    t0 = time.perf_counter()
    position = 0
    while position < head:
        rows = app.recorder.select_notifications(start=position + 1, limit=batch)
        if not rows:
            break
        for n in rows:
            app.mapper.to_domain_event(n)
        position = rows[-1].id
    return time.perf_counter() - t0


def middle_instant(app: SupportLedger) -> datetime:
    """The recording instant of the event in the middle of the log."""
    head = app.recorder.max_notification_id() or 0
    (notification,) = app.recorder.select_notifications(start=head // 2, limit=1)
    event: Any = app.mapper.to_domain_event(notification)
    return event.timestamp  # type: ignore[no-any-return]


def replay_seconds(app: SupportLedger, url: str, as_of: datetime) -> tuple[float, int, int]:
    """Seconds to replay as of `as_of` and read a board and a statement from it."""
    settings = parse_database_url(url)
    t0 = time.perf_counter()
    with as_of_views(settings, app, as_of) as then:
        then.breaches.stats("tier", as_of)
        then.credits.statement(period="2025-03")
        applied, last = then.applied, then.last_position
    return time.perf_counter() - t0, applied, last


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--schema", default="bench_projections")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--sqlite-path", default=str(Path(tempfile.gettempdir()) / "ledger-bench-projections.db")
    )
    args = parser.parse_args()
    configure_logging("json", "warning")
    if args.store == "sqlite":
        url = f"sqlite:///{args.sqlite_path}"
    else:
        url = f"{args.pg}?schema={args.schema}"
    generate = [sys.executable, "-P", str(PROJECTIONS_BENCH), "--store", args.store, "--keep",
                "--generate-only", "--events", str(args.events)]  # fmt: skip
    if args.store == "sqlite":
        generate += ["--sqlite-path", args.sqlite_path]
    elif args.schema != "bench_projections":
        print("generating needs --schema bench_projections (the projections benchmark's)")
        return 1
    subprocess.run(generate, check=True, env={**os.environ, "LEDGER_LOG_LEVEL": "warning"})

    app = SupportLedger(settings=parse_database_url(url))
    head = app.recorder.max_notification_id() or 0
    python = f"{platform.python_implementation()} {platform.python_version()}"
    shown = parse_database_url(url).display_url
    print(f"machine: {platform.machine()}, {python}; store: {shown}")
    print(f"log: {head:,} events; medians of {args.repeat} runs")
    floor = statistics.median(read_and_decode(app) for _ in range(args.repeat))
    print(f"{'what':40}{'seconds':>10}{'events/s':>12}{'x floor':>9}")
    print(f"{'read + decode the log':40}{floor:>10.1f}{head / floor:>12,.0f}{1:>9.2f}")
    for label, as_of in [
        ("replay as of now (whole log)", datetime.now(UTC)),
        ("replay as of the middle event", middle_instant(app)),
    ]:
        runs = [replay_seconds(app, url, as_of) for _ in range(args.repeat)]
        seconds = statistics.median(r[0] for r in runs)
        print(f"{label:40}{seconds:>10.1f}{head / seconds:>12,.0f}{seconds / floor:>9.2f}"
              f"   ({runs[0][1]:,} events applied, up to position {runs[0][2]:,})")  # fmt: skip
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process: {peak:,.0f} MB")
    print("goal (PostgreSQL, 1,000,000 events): an as-of replay in under 90 s")
    app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
