"""The breach board in pages on PostgreSQL: a page beside the old unpaged read, then the API at
200 requests/s with 20 % board reads.

The world: --contracts Premium contracts recorded as events (with the catalog), the views
caught up; then --open open response clocks (90 % running, a deadline from 1 h ago to 5 days
ahead, so about a fifth are breached and many at risk; 10 % on hold) and --answered answered
ones (met or breached) written DIRECTLY into the board's tables (`sla_clocks`, and the counts
`sla_counts` and `sla_count_times` counted from them) with COPY, then VACUUM ANALYZE (as
autovacuum does after so many inserts): seeding 200,000 tickets through events would take
longer than everything measured here. The seeded rows have no events behind them; the view is
read as it is, which is what a page costs.

1. In process (`SlaBreachView`): the first page of the live board (100 rows, with the counts of
   every state), a page deep in it (after a cursor taken at random), a page filtered by tier,
   the counts alone, and what the wall (`/ops/wall`) reads, each --reads times; the baseline
   in the same run is the old unpaged read of the live board (`SlaBreachView.board`, every
   open clock), --baseline-reads times.
   Goal: a page's p99 at most 50 ms.
2. Over HTTP (`ledger serve`, --workers processes), open loop at --rate requests/s as in
   benchmarks/http.py: 80 % `POST /api/v1/tickets`, 20 % `GET /api/v1/reports/breaches`
   (the first page, limit 100, counts included), with `ledger projections run sla_breaches`
   keeping the view current as deployed (--no-projector: each read catches the view up
   first). The baseline in the same run: 0 % board reads (opening tickets only). Goal: p99
   under 100 ms with 20 %.

Usage: python -P benchmarks/board.py [--open 100000] [--answered 100000] [--contracts 200]
           [--reads 200] [--baseline-reads 5] [--rate 200] [--duration 10] [--warmup 2]
           [--clients 50] [--workers 2] [--no-http] [--pg postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ledger.application import SupportLedger
from ledger.logs import configure_logging
from ledger.projections.db import ViewDatabase
from ledger.projections.runner import run_projections
from ledger.projections.sla_breaches import SlaBreachProjection, SlaBreachView, waived_open
from ledger.projections.sla_clocks import CLOCK_COLUMNS, bucket, load_clock, time_keys
from ledger.settings import DatabaseSettings, parse_database_url
from ledger.store import connect
from ledger.terms import DEFAULT_VERSION

sys.path.append(str(Path(__file__).resolve().parent))  # last: it shadows nothing there
import _http_load as http_load

if TYPE_CHECKING:
    from collections.abc import Callable
    from uuid import UUID

HOUR_US = 3_600_000_000


# -- the world -----------------------------------------------------------------------------------


def clock_rows(
    world: list[tuple[UUID, str]], opened: int, answered: int, now_us: int
) -> list[tuple[Any, ...]]:
    """Rows of sla_clocks in CLOCK_COLUMNS order: `opened` open clocks, `answered` answered."""
    rng = random.Random(17)
    rows = []
    tiers = ("premium", "advanced", "basic")
    for n in range(opened + answered):
        contract = world[n % len(world)][0]
        received = now_us - rng.randint(2, 20 * 24) * HOUR_US
        due = now_us + rng.randint(-1 * HOUR_US, 5 * 24 * HOUR_US)
        warning = due - (due - received) // 4
        held = n < opened and n % 10 == 0
        answer = received + rng.randint(1, 40) * HOUR_US if n >= opened else None
        clock = "stopped" if answer is not None else ("paused" if held else "running")
        waived = n < opened and not held and n % 50 == 7 and due < now_us  # a few waived
        end = answer if answer is not None else (received + HOUR_US if held else None)
        row = {
            "ticket_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "external_key": f"B-{n}", "contract_id": str(contract),
            "customer": f"Customer {n % len(world)}",
            "tier": tiers[n % 3], "terms_version": DEFAULT_VERSION, "severity": 1 + n % 3,
            "reporter": world[n % len(world)][1], "status": "open", "declined_reason": None,
            "received_at": received, "received_month": "2026-11", "target_seconds": 8 * 3600,
            "due_at": None if held else due, "original_due_at": due,
            "warning_at": None if held else warning, "clock": clock,
            "periods": json.dumps([[received, end]]), "responded_at": answer,
            "outcome": None if answer is None else ("met" if n % 4 else "breached"),
            "used_seconds": None if answer is None else rng.randint(600, 40_000),
            "breach_recorded": waived, "breach_waived": waived, "position": 0,
            "priority_at": None,
        }  # fmt: skip
        rows.append(tuple(row[c] for c in CLOCK_COLUMNS))
    return rows


def seed(settings: DatabaseSettings, args: argparse.Namespace) -> list[tuple[UUID, str]]:
    """The contracts as events, the views caught up, then the clocks written into the view."""
    app = SupportLedger(settings=settings)
    try:
        world: list[tuple[UUID, str]] = http_load.build_world(app, args.contracts)
        run_projections(settings, app, [SlaBreachProjection], once=True)
    finally:
        app.close()
    rows = clock_rows(world, args.open, args.answered, int(time.time() * 1_000_000))
    schema = settings.schema
    with connect(settings) as conn:
        with conn.cursor().copy(
            f'COPY "{schema}".sla_clocks ({", ".join(CLOCK_COLUMNS)}) FROM STDIN'
        ) as copy:
            for row in rows:
                copy.write_row(row)
        buckets = Counter(bucket(load_clock(row)) for row in rows)
        with conn.cursor() as cursor:
            cursor.executemany(
                f'INSERT INTO "{schema}".sla_counts (tier, bucket, n) VALUES (%s, %s, %s) '
                "ON CONFLICT (tier, bucket) DO UPDATE SET n = excluded.n + "
                f'"{schema}".sla_counts.n',
                [(*key, n) for key, n in buckets.items()],
            )
        hours: Counter[tuple[str, str, str, int]] = Counter()
        for row in rows:
            hours.update(time_keys(load_clock(row)))
        with conn.cursor() as cursor:
            cursor.executemany(
                f'INSERT INTO "{schema}".sla_count_times (kind, clock, tier, hour, n) '
                "VALUES (%s, %s, %s, %s, %s)",
                [(*key, n) for key, n in hours.items()],
            )
        for table in ("sla_clocks", "sla_counts", "sla_count_times"):
            conn.execute(f'VACUUM ANALYZE "{schema}".{table}')  # as autovacuum would
    return world


# -- 1. in process ---------------------------------------------------------------------------------


def timed(call: Callable[[], object], reads: int) -> list[float]:
    call()  # warm
    took = []
    for _ in range(reads):
        start = time.perf_counter()
        call()
        took.append((time.perf_counter() - start) * 1000)
    return took


def wall_reads(view: SlaBreachView, now: datetime) -> None:
    """What `/ops/wall` reads (ledger.web.wall.wall_of): the counts, the waived breaches, the
    next 8 to breach, and the breach figures per tier of the last 7 and 30 days."""
    view.counts(now)
    waived_open(view, now)
    view.page(now, limit=8, states=["at_risk", "on_track"])
    for days in (7, 30):
        view.stats("tier", now, since=now - timedelta(days=days), until=now)


def in_process(
    settings: DatabaseSettings, args: argparse.Namespace
) -> list[tuple[str, list[float]]]:
    db = ViewDatabase(settings)
    view = SlaBreachView(db)
    try:
        now = datetime.now(UTC)
        cursors = []
        after = None
        for _ in range(min(args.open // 100, 200)):  # cursors into the first 20,000 rows
            after = view.page(now, limit=100, after=after)["next"]
            cursors.append(after)
        rng = random.Random(5)
        reads, pages = args.reads, [
            ("first page (100 rows + counts)", lambda: view.page(now, limit=100)),
            ("a page deep in the board",
             lambda: view.page(now, limit=100, after=rng.choice(cursors))),
            ("first page, tier=premium", lambda: view.page(now, limit=100, tier="premium")),
            ("counts of every state alone", lambda: view.counts(now)),
            ("the wall's reads (/ops/wall)", lambda: wall_reads(view, now)),
            ("  of them: waived breaches", lambda: waived_open(view, now)),
            ("  of them: next 8 to breach",
             lambda: view.page(now, limit=8, states=["at_risk", "on_track"])),
            ("  of them: breach figures, 30 days",
             lambda: view.stats("tier", now, since=now - timedelta(days=30), until=now)),
        ]  # fmt: skip
        found = [(name, timed(call, reads)) for name, call in pages]
        found.append(
            ("baseline: the old unpaged read", timed(lambda: view.board(now), args.baseline_reads))
        )
        sizes = len(view.board(now))
        print(f"  the live board holds {sizes} clocks; counts {view.counts(now)}")
        return found
    finally:
        db.close()


# -- 2. over HTTP ----------------------------------------------------------------------------------


def over_http(
    settings: DatabaseSettings, world: list[tuple[UUID, str]], args: argparse.Namespace, share: int
) -> dict[str, Any]:
    """The open-loop run with `share` % of board reads (every read the first page)."""
    token = http_load.token(settings, "agent", "benchmarks/board.py")
    tag = uuid.uuid4().hex[:8]
    projector = None
    if args.projector:  # as deployed: a runner keeps the view current, readers do not catch up
        env = {**os.environ, "LEDGER_DATABASE_URL": http_load.url_of(settings),
               "LEDGER_LOG_LEVEL": "warning"}  # fmt: skip
        with (args.logs / "projector.log").open("ab") as out:
            projector = subprocess.Popen(
                [http_load.LEDGER, "projections", "run", SlaBreachProjection.name],
                env=env, stdout=out, stderr=out,
            )  # fmt: skip
    server = http_load.serve(http_load.url_of(settings), args.workers, args.logs / "serve.log")
    base, pid = next(server)
    kinds: dict[str, list[float]] = {"open": [], "board": []}
    try:

        async def run() -> tuple[int, float, list[float], Any, float]:
            client = http_load.RawClient(base, token)

            async def send(n: int) -> str | None:
                start = time.perf_counter()
                try:
                    if n % 100 < share:
                        status = await client.get("/api/v1/reports/breaches?limit=100")
                        expected, kind = 200, "board"
                    else:
                        body = http_load.request_body(world, n, tag)
                        status = await client.post("/api/v1/tickets", body)
                        expected, kind = 201, "open"
                except (OSError, asyncio.IncompleteReadError) as exc:
                    return type(exc).__name__
                kinds[kind].append((time.perf_counter() - start) * 1000)
                return None if status == expected else f"HTTP {status}"

            warm = int(args.rate * args.warmup)
            await http_load.drive(send, rate=args.rate, seconds=args.warmup, clients=args.clients)
            for found in kinds.values():
                found.clear()
            before = http_load.cpu_seconds(pid)
            ok, seconds, latencies, errors = await http_load.drive(
                send, rate=args.rate, seconds=args.duration, clients=args.clients, first=warm
            )
            used = http_load.cpu_seconds(pid) - before
            client.close()
            return ok, seconds, latencies, errors, used

        ok, seconds, latencies, errors, used = asyncio.run(run())
    finally:
        server.close()
        if projector is not None:
            projector.send_signal(signal.SIGTERM)
            projector.wait(timeout=60)
    return {"ok": ok, "seconds": seconds, "latencies": [x * 1000 for x in latencies],
            "errors": dict(errors), "server_cpu": used, "kinds": kinds}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, default=100_000, help="open clocks on the board")
    parser.add_argument("--answered", type=int, default=100_000, help="answered clocks")
    parser.add_argument("--contracts", type=int, default=200)
    parser.add_argument("--reads", type=int, default=200, help="timed reads of each page kind")
    parser.add_argument("--baseline-reads", type=int, default=5, help="timed unpaged reads")
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-http", dest="http", action="store_false")
    parser.add_argument(
        "--no-projector", dest="projector", action="store_false",
        help="no `ledger projections run` beside the server: each board read catches up first",
    )  # fmt: skip
    parser.add_argument(
        "--board-shares", default="0,20",
        help="percent of board reads per HTTP run; 0 is the baseline (opening tickets only)",
    )  # fmt: skip
    parser.add_argument(
        "--pg",
        default=os.environ.get(
            "LEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    args.logs = Path(tempfile.mkdtemp(prefix="ledger-bench-board-"))
    configure_logging("console", "warning")
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores; "
          f"PostgreSQL; {args.open} open and {args.answered} answered clocks seeded into the "
          f"view, {args.contracts} contracts")  # fmt: skip
    settings = http_load.fresh_schema(parse_database_url(args.pg))
    try:
        started = time.perf_counter()
        world = seed(settings, args)
        print(f"  seeded in {time.perf_counter() - started:.1f} s")
        print("| read | reads | median ms | p99 ms | max ms | p99 <= 50 ms |")
        print("|---|---:|---:|---:|---:|---|")
        for name, took in in_process(settings, args):
            p99 = http_load.percentile(took, 99)
            print(f"| {name} | {len(took)} | {statistics.median(took):.1f} | {p99:.1f} "
                  f"| {max(took):.1f} | {'yes' if p99 <= 50 else 'no'} |")  # fmt: skip
        if args.http:
            print()
            print(f"HTTP, {args.workers} workers, open loop at {args.rate:g}/s for "
                  f"{args.duration:g} s (+{args.warmup:g} s warm-up), {args.clients} clients; "
                  "a board read is GET /api/v1/reports/breaches?limit=100:")  # fmt: skip
            print("| board reads | achieved/s | p50 ms | p99 ms | max ms | errors | p99 < 100 ms "
                  "| server CPU ms/request | open p99 ms | board p99 ms |")  # fmt: skip
            print("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|")
            for share in (int(x) for x in args.board_shares.split(",") if x.strip()):
                done = over_http(settings, world, args, share)
                lat, kinds = done["latencies"], done["kinds"]
                p99 = http_load.percentile(lat, 99)
                print(f"| {share} % | {done['ok'] / done['seconds']:.1f} "
                      f"| {statistics.median(lat):.1f} | {p99:.1f} | {max(lat):.1f} "
                      f"| {sum(done['errors'].values())} | {'yes' if p99 < 100 else 'no'} "
                      f"| {1000 * done['server_cpu'] / max(len(lat), 1):.2f} | "
                      + " | ".join(f"{http_load.percentile(kinds[k], 99):.1f}" if kinds[k] else "-"
                                   for k in ("open", "board"))
                      + " |")  # fmt: skip
                if done["errors"]:
                    print("  errors:", done["errors"])
            print(f"  load average after: {os.getloadavg()[0]:.1f}")
    finally:
        http_load.drop_schema(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
