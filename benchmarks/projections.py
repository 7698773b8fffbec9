"""Rebuild rates of the read models, beside reading the log alone and the library's stock runner.

1. Generates events through the application (a realistic mix: contracts signed, contacts
   named, tickets opened, held, resumed, answered and resolved, credits purchased, consumed
   and reversed, training sessions) until the log holds --events events. Several processes
   write at once (--writers). The store is kept (--keep) so later runs skip this step.
2. Reads the whole log in batches: notifications only, then notifications decoded.
3. Rebuilds each read model from scratch in a process of its own: events per second (peak
   memory is that process's maximum resident set size, plus the peak of the process that reads
   the log for a large rebuild of sla_breaches, which runs beside it; its CPU counts too).
4. Runs the library's stock ProjectionRunner (one transaction per event, PostgreSQL only)
   with a one-row-per-event view over the first --stock-events events: events per second.
Medians of --repeat rebuilds. Usage:
  python -P benchmarks/projections.py --store postgresql --events 1000000 --keep
  python -P benchmarks/projections.py --store sqlite --events 200000
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/calendar.py would shadow the standard library's calendar module (see its header).
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import argparse
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from ledger.application import SupportLedger
from ledger.logs import configure_logging
from ledger.settings import DatabaseSettings, parse_database_url
from ledger.store import connect

KEEP_SCHEMA = "bench_projections"
START = datetime(2025, 1, 6, 7, tzinfo=UTC)


def url_of(settings: DatabaseSettings) -> str:
    if settings.backend == "sqlite":
        return f"sqlite:///{settings.path}"
    password = f":{settings.password}" if settings.password else ""
    return (
        f"postgresql://{settings.user}{password}@{settings.host}:{settings.port}/"
        f"{settings.dbname}?schema={settings.schema}"
    )


# -- 1. generating the log ----------------------------------------------------------------------


def generate(url: str, writer: str, events: int) -> None:
    """Write business through the application (one of several writer processes) until the
    log holds `events` events."""
    configure_logging("json", "warning")
    app = SupportLedger(settings=parse_database_url(url))
    rng = random.Random(writer)
    if writer.endswith("-0") and app.get_catalog() is None:
        app.publish_release("24.1.0", prerelease=False, at=datetime(2024, 6, 3, tzinfo=UTC))
        app.publish_release("24.2.1", prerelease=False, at=datetime(2024, 12, 2, tzinfo=UTC))
    else:
        while app.get_catalog() is None:
            time.sleep(0.2)
    unit = 0
    while (app.recorder.max_notification_id() or 0) < events:
        if _business(app, rng, writer, unit) == 0:
            msg = f"writer {writer} wrote nothing for unit {unit}"
            raise RuntimeError(msg)
        unit += 1
    app.close()


def _business(app: SupportLedger, rng: random.Random, writer: str, unit: int) -> int:
    """One contract and a year of its tickets and credits; returns how far the log grew
    meanwhile (other writers' events included: more than nothing is all it tells)."""
    before = app.recorder.max_notification_id() or 0
    tier = rng.choice(["premium", "premium", "advanced", "basic"])
    signed = START + timedelta(minutes=unit)
    contract = app.sign_contract(
        customer=f"Customer {writer}-{unit}", tier=tier, licenses=rng.randint(1, 5),
        license_kind="commercial", list_price=Decimal(rng.randrange(5_000, 60_000, 500)),
        start=date(2025, 1, 1), at=signed, key=f"bench-{writer}-{unit}",
    )  # fmt: skip
    contact = f"ops{unit}@customer{writer}.example"
    app.add_contact(contract, email=contact, at=signed)
    app.purchase_credits(contract, points=Decimal(500), price=Decimal(9000), key="pkg", at=signed)
    clock = signed + timedelta(days=3)
    for n in range(rng.randint(15, 30)):
        clock += timedelta(hours=rng.randint(1, 40))
        key = f"T-{writer}-{unit}-{n}"
        opening = app.open_ticket(
            contract_id=contract, reporter=contact if rng.random() > 0.05 else "x@y.example",
            version="24.2.1", platform="linux", severity=rng.randint(1, 3), key=key, at=clock,
        )  # fmt: skip
        if opening.declined:
            continue
        if rng.random() < 0.3:
            app.hold_ticket(key, at=clock + timedelta(minutes=20))
            app.resume_ticket(key, at=clock + timedelta(hours=2))
        app.record_first_response(key, at=clock + timedelta(hours=rng.randint(3, 30)))
        if rng.random() < 0.5:
            app.resolve_ticket(key, at=clock + timedelta(hours=31))
        if rng.random() < 0.6:
            app.consume_credits(
                contract, points=Decimal(rng.randint(1, 6)), activity="analysis",
                key=f"c-{n}", ticket=key, at=clock + timedelta(hours=32),
            )  # fmt: skip
            if rng.random() < 0.15:
                app.reverse_consumption(
                    contract, key=f"c-{n}", points=Decimal(1), reason="goodwill",
                    at=clock + timedelta(hours=33),
                )  # fmt: skip
    if tier != "basic" and rng.random() < 0.5:  # Basic includes no training sessions
        app.hold_training(contract, key="t1", topic="intro", at=clock + timedelta(hours=40))
    return (app.recorder.max_notification_id() or 0) - before


# -- 2 and 3: reading and rebuilding ------------------------------------------------------------


def read_rates(settings: DatabaseSettings, batch: int) -> tuple[float, float]:
    """Events per second reading the whole log: notifications only, then decoded."""
    app = SupportLedger(settings=settings)
    head = app.recorder.max_notification_id() or 0
    results = []
    for decode in (False, True):
        t0 = time.perf_counter()
        position = 0
        while position < head:
            rows = app.recorder.select_notifications(start=position + 1, limit=batch)
            if not rows:
                break
            if decode:
                for n in rows:
                    app.mapper.to_domain_event(n)
            position = rows[-1].id
        results.append(head / (time.perf_counter() - t0))
    app.close()
    return results[0], results[1]


def rebuild_child(url: str, name: str) -> None:
    """In a process of its own: rebuild one read model, print the seconds it took and the CPU
    seconds spent on it by this process and by the PostgreSQL backends serving it (on a
    shared machine the wall time says as much about the neighbours as about the rebuild)."""
    os.environ["PGAPPNAME"] = tag = f"ledger-rebuild-bench-{os.getpid()}"  # read by libpq
    configure_logging("json", "warning")
    from ledger.projections import projections_named  # noqa: PLC0415
    from ledger.projections.runner import rebuild  # noqa: PLC0415

    settings = parse_database_url(url)
    app = SupportLedger(settings=settings)
    server: dict[int, float] = {}  # backend pid -> its CPU seconds when last seen
    watch = connect(settings) if settings.backend == "postgresql" else None
    last = [0.0]

    def progress(done: int, head: int) -> None:
        """The backends' CPU at most once a second, and when the rebuild is done (a
        connection opened at every batch cost the rebuild a second of 1M events)."""
        if watch is not None and (done >= head or time.perf_counter() - last[0] >= 1):
            backend_cpu(watch, tag, server)
            last[0] = time.perf_counter()

    t0, cpu0, children0 = time.perf_counter(), time.process_time(), children_cpu()
    position = rebuild(settings, app, projections_named([name])[0], batch_size=5000,
                       progress=progress)  # fmt: skip
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    reader_cpu = children_cpu() - children0  # a process that read the log for it, if any
    if watch is not None:
        watch.close()
    print(json.dumps({"seconds": seconds, "position": position, "cpu": cpu + reader_cpu,
                      "reader_cpu": reader_cpu,
                      "reader_peak": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                      "server_cpu": sum(server.values()) if server else None}))  # fmt: skip
    app.close()


def children_cpu() -> float:
    """CPU seconds of this process's children that ended (a rebuild's reading process)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def backend_cpu(conn: Any, tag: str, seen: dict[int, float]) -> None:
    """Note the CPU seconds of the PostgreSQL backends whose application name is `tag` (read
    from /proc: the server runs on this machine), asked on `conn`."""
    pids = [r[0] for r in conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND pid <> "
        "pg_backend_pid()", [tag]
    )]  # fmt: skip
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        seen[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rebuild_measured(url: str, name: str) -> dict[str, Any]:
    """Rebuild in a child process: seconds, position, CPU seconds and peak RSS in MB."""
    proc = subprocess.Popen(
        [sys.executable, "-P", __file__, "--rebuild-child", name, "--url", url],
        stdout=subprocess.PIPE,
        text=True,
    )
    output = proc.stdout.read() if proc.stdout is not None else ""
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        msg = f"rebuild of {name} failed (status {status})"
        raise RuntimeError(msg)
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    # the rebuild's process and its reading process (if any) run side by side: both count
    result["peak"] = usage.ru_maxrss / 1024 + result["reader_peak"]
    return result


# -- 4. the library's stock runner --------------------------------------------------------------


def stock_rate(settings: DatabaseSettings, events: int) -> float:
    """Events per second of eventsourcing's ProjectionRunner, one transaction per event."""
    from eventsourcing.dispatch import singledispatchmethod  # noqa: PLC0415
    from eventsourcing.persistence import Tracking  # noqa: PLC0415, TC002 - used at run time
    from eventsourcing.postgres import PostgresTrackingRecorder  # noqa: PLC0415
    from eventsourcing.projection import Projection, ProjectionRunner  # noqa: PLC0415
    from psycopg.sql import SQL  # noqa: PLC0415

    rows = f'"{settings.schema}".stock_rows'

    class EventRows(PostgresTrackingRecorder):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.sql_create_statements.append(
                SQL(f"CREATE TABLE IF NOT EXISTS {rows} (position BIGINT PRIMARY KEY, topic TEXT)")  # type: ignore[arg-type]
            )

        def record(self, tracking: Tracking, topic: str) -> None:
            with self.datastore.transaction(commit=True) as curs:
                self._insert_tracking(curs, tracking)
                curs.execute(
                    f"INSERT INTO {rows} VALUES (%s, %s)",  # type: ignore[arg-type]
                    (tracking.notification_id, topic),
                )

    class StockProjection(Projection[EventRows]):
        name = "stock_bench"

        @singledispatchmethod
        def process_event(self, domain_event: Any, tracking: Tracking) -> None:
            self.view.record(tracking, type(domain_event).__qualname__)

    app = SupportLedger(settings=settings)
    stop_at = app.recorder.select_notifications(start=1, limit=events)[-1].id
    app.close()
    env = settings.eventsourcing_env()
    t0 = time.perf_counter()
    with ProjectionRunner(
        application_class=SupportLedger,
        projection_class=StockProjection,
        view_class=EventRows,
        env=env,
    ) as runner:
        runner.wait(stop_at, timeout=3600)
    elapsed = time.perf_counter() - t0
    with connect(settings) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {rows}")
        conn.execute(f'DROP TABLE IF EXISTS "{settings.schema}".stock_bench_tracking')
    return events / elapsed


# -- main ---------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--stock-events", type=int, default=20_000)
    parser.add_argument("--keep", action="store_true", help="Keep (and reuse) the generated store.")
    parser.add_argument(
        "--views", nargs="*", default=None, help="Rebuild only these views (default: all)."
    )
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument(
        "--schema", help=f"PostgreSQL schema of the log (default: {KEEP_SCHEMA} with --keep)"
    )
    parser.add_argument(
        "--sqlite-path", default=str(Path(tempfile.gettempdir()) / "ledger-bench-projections.db")
    )
    parser.add_argument("--rebuild-child", help=argparse.SUPPRESS)
    parser.add_argument("--generate-child", help=argparse.SUPPRESS)
    parser.add_argument("--generate-only", action="store_true", help="Only fill the store.")
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    configure_logging("json", "warning")
    if args.rebuild_child:
        rebuild_child(args.url, args.rebuild_child)
        return 0
    if args.generate_child is not None:
        generate(args.url, args.generate_child, args.events)
        return 0

    if args.store == "sqlite":
        settings = parse_database_url(f"sqlite:///{args.sqlite_path}")
    else:
        base = parse_database_url(args.pg)
        schema = args.schema or (KEEP_SCHEMA if args.keep else f"bench_{os.getpid()}")
        with connect(base) as conn:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        settings = base.with_schema(schema)
    url = url_of(settings)
    try:
        app = SupportLedger(settings=settings)
        have = app.recorder.max_notification_id() or 0
        app.close()
        if have < args.events:
            t0 = time.perf_counter()
            salt = int(time.time())  # new keys on every run, so nothing is replayed
            writers = [
                subprocess.Popen([sys.executable, "-P", __file__, "--generate-child", f"{salt}-{w}",
                                  "--events", str(args.events), "--url", url])
                for w in range(args.writers)
            ]  # fmt: skip
            for w in writers:
                if w.wait() != 0:
                    print("a writer failed")
                    return 1
            app = SupportLedger(settings=settings)
            have = app.recorder.max_notification_id() or 0
            app.close()
            print(f"generated {have:,} events in {time.perf_counter() - t0:,.0f} s")
        if args.generate_only:
            return 0

        python = f"{platform.python_implementation()} {platform.python_version()}"
        print(f"machine: {platform.machine()}, {python}; store: {settings.display_url}")
        print(f"log: {have:,} events; medians of {args.repeat} runs")
        only_read, decoded = read_rates(settings, 5000)
        print(f"{'what':34}{'events/s':>12}{'seconds':>10}{'peak MB':>10}{'ratio':>8}"
              f"{'CPU s':>8}{'server':>8}")  # fmt: skip
        print(f"{'read the log (notifications)':34}{only_read:>12,.0f}{have / only_read:>10.1f}")
        print(f"{'read + decode every event':34}{decoded:>12,.0f}{have / decoded:>10.1f}"
              f"{'':>10}{1:>8.2f}")  # fmt: skip
        from ledger.projections import PROJECTIONS  # noqa: PLC0415

        for name in PROJECTIONS if args.views is None else args.views:
            runs = [rebuild_measured(url, name) for _ in range(args.repeat)]
            seconds = statistics.median(r["seconds"] for r in runs)
            peak = max(r["peak"] for r in runs)
            cpu = statistics.median(r["cpu"] for r in runs)
            server = [r["server_cpu"] for r in runs if r["server_cpu"] is not None]
            rate = have / seconds
            print(f"{'rebuild ' + name:34}{rate:>12,.0f}{seconds:>10.1f}{peak:>10.0f}"
                  f"{rate / decoded:>8.2f}{cpu:>8.1f}"
                  f"{statistics.median(server) if server else float('nan'):>8.1f}")  # fmt: skip
        if settings.backend == "postgresql" and args.stock_events > 0:
            rate = stock_rate(settings, min(args.stock_events, have))
            label = f"stock runner ({args.stock_events:,} events)"
            print(f"{label:34}{rate:>12,.0f}")
        print("ratio: the rebuild's rate over reading and decoding every event, in this run")
        print("CPU s: the rebuild's CPU seconds (its process and the process reading the log for")
        print("it, if any; peak MB adds both peaks); server: the PostgreSQL backends serving them")
        print("goal (PostgreSQL): >= 50,000 events/s per rebuild, peak memory < 500 MB")
    finally:
        if settings.backend == "postgresql" and not args.keep and not args.schema:
            with connect(base) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{settings.schema}" CASCADE')
    return 0


if __name__ == "__main__":
    sys.exit(main())
