"""Scheduler lag and catch-up: due facts recorded on time, at scale, beside the due instants.

1. Lag: --pending lot expiries (absolute instants, so the benchmark runs at any hour) fall due
   over --spread seconds while `ledger scheduler run` runs. For each, the lag is the time from
   its due instant to the recording of its LotExpired event: p50, p99, max.
2. Catch-up: --missed expiries fall due while no scheduler runs; then one starts: facts per
   second until all are recorded (each marked late).
--ballast N gives each account N more lots that expire in a year (an account with a history:
a bigger state to keep in memory, no more facts due). Peak memory is the scheduler process's
peak resident set (VmHWM). --baseline-ref REF first runs the same on a fresh store of the same
shape with REF's scheduler (its src/ extracted with `git archive`, first on PYTHONPATH).
Usage:
  python -P benchmarks/scheduler.py --store postgresql --contracts 10000 --pending 100000
      [--spread 180] [--missed 10000] [--ballast 0] [--baseline-ref main]
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
import signal
import statistics
import subprocess
import tempfile
import time
import uuid  # noqa: TC003 - ids are compared at run time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ledger.application import SupportLedger
from ledger.application.loads import account_to_write, contract_to_decide_on
from ledger.domain.credit_account import CreditAccount
from ledger.logs import configure_logging
from ledger.settings import DatabaseSettings, parse_database_url
from ledger.store import connect

sys.path.append(str(Path(__file__).resolve().parent))  # last: it shadows nothing there
from _baseline import extract

if TYPE_CHECKING:
    from ledger.application.uow import UnitOfWork

LEDGER = str(Path(sys.executable).parent / "ledger")
ROOT = Path(__file__).resolve().parent.parent
LOTS_PER_SAVE = 100


def url_of(settings: DatabaseSettings) -> str:
    if settings.backend == "sqlite":
        return f"sqlite:///{settings.path}"
    password = f":{settings.password}" if settings.password else ""
    return (
        f"postgresql://{settings.user}{password}@{settings.host}:{settings.port}/"
        f"{settings.dbname}?schema={settings.schema}"
    )


def contracts_for(app: SupportLedger, count: int) -> list[uuid.UUID]:
    now = datetime.now(UTC)
    return [
        app.sign_contract(
            customer=f"B{n}",
            tier="basic",
            licenses=1,
            license_kind="commercial",
            list_price=Decimal(1000),
            start=now.date() - timedelta(days=1),
            at=now - timedelta(hours=6),
        )
        for n in range(count)
    ]


def buy_lots(
    app: SupportLedger,
    contracts: list[uuid.UUID],
    instants: list[datetime],
    tag: str,
    bought: datetime | None = None,
) -> None:
    """Lot n (1 point, expiring at instants[n]) bought on contract n mod len(contracts).

    The set-up's only shortcut: lots are bought LOTS_PER_SAVE at a time, on as many accounts
    as they fall on, in one unit of work and one save (the use case's command,
    `CreditAccount.purchase`, for each), not one save per lot, so that 10,000 contracts and
    100,000 lots take minutes, not tens of minutes."""
    bought = bought or datetime.now(UTC)
    for first in range(0, len(instants), LOTS_PER_SAVE):
        chunk = [
            (contracts[n % len(contracts)], n, instants[n])
            for n in range(first, min(first + LOTS_PER_SAVE, len(instants)))
        ]

        def attempt(uow: UnitOfWork, chunk: Any = chunk) -> None:
            accounts: dict[uuid.UUID, Any] = {}
            for contract, n, expiry in chunk:
                if contract not in accounts:
                    accounts[contract] = (
                        account_to_write(uow, contract),
                        contract_to_decide_on(uow, contract).currency,
                    )
                account, currency = accounts[contract]
                account.purchase(
                    points=Decimal(1), price=Decimal(1), currency=currency,
                    key=f"{tag}-{n}", expires_at=expiry, at=bought,
                )  # fmt: skip
            uow.commit(*(account for account, _ in accounts.values()))

        app.work.run("purchase_credits", attempt)


def expiry_lags(
    app: SupportLedger, contracts: list[uuid.UUID], tag: str, *, with_due: bool = False
) -> Any:
    """Seconds from each `tag` lot's expiry to the recording of its LotExpired event (with
    `with_due`: (expiry, seconds) pairs)."""
    lags: list[Any] = []
    for contract in contracts:
        events = app.list_events(CreditAccount.create_id(contract))
        # Purchased lots leave the state once expired: their ids come from the events.
        lots = {
            event.lot_id
            for event in events
            if type(event).__name__ == "PackagePurchased" and event.key.startswith(f"{tag}-")
        }
        lags.extend(
            (event.expires_at, (event.timestamp - event.expires_at).total_seconds())
            if with_due
            else (event.timestamp - event.expires_at).total_seconds()
            for event in events
            if type(event).__name__ == "LotExpired" and event.lot_id in lots
        )
    return lags


def recorded_expiries(settings: DatabaseSettings) -> int:
    """How many LotExpired events the log holds (one query)."""
    if settings.backend == "sqlite":
        import sqlite3  # noqa: PLC0415

        with sqlite3.connect(settings.path) as conn:
            row = conn.execute(
                "SELECT COUNT(*) FROM stored_events WHERE topic LIKE '%CreditAccount.LotExpired'"
            ).fetchone()
    else:
        with connect(settings) as conn:
            row = conn.execute(
                f'SELECT COUNT(*) FROM "{settings.schema}".ledger_events '
                "WHERE topic LIKE '%%CreditAccount.LotExpired'"
            ).fetchone()
    return int(row[0]) if row else 0


def run_scheduler_until(
    url: str,
    done: Any,
    timeout: float,
    *,
    profile: str | None = None,
    log_to: str | None = None,
    pythonpath: str | None = None,
) -> tuple[float, float]:
    """Start `ledger scheduler run`, wait for `done()`, stop it: (seconds, peak RSS MB).

    With `profile`, py-spy (if installed) samples the scheduler into that flame graph; with
    `pythonpath`, the scheduler runs that source tree (the baseline's)."""
    env = {
        **os.environ,
        "LEDGER_DATABASE_URL": url,
        "LEDGER_LOG_LEVEL": "debug" if log_to else "warning",
        "LEDGER_LOG_FORMAT": "json",
    }
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    with Path(log_to or os.devnull).open("a") as log_file:
        proc = subprocess.Popen(
            [LEDGER, "scheduler", "run", "--heartbeat", "0.5"], env=env, stderr=log_file
        )
    spy = None
    if profile:
        spy = subprocess.Popen(
            [str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(proc.pid),
             "-o", profile, "--nonblocking"],
        )  # fmt: skip
    t0 = time.perf_counter()
    deadline = t0 + timeout
    peak = 0.0
    while not done():
        peak = max(peak, high_water_mb(proc.pid))
        if time.perf_counter() > deadline:
            proc.kill()
            msg = "the scheduler did not finish in time"
            raise RuntimeError(msg)
        time.sleep(0.1)
    elapsed = time.perf_counter() - t0
    peak = max(peak, high_water_mb(proc.pid))
    proc.send_signal(signal.SIGTERM)
    proc.wait()
    if spy is not None:
        spy.wait(timeout=60)
    return elapsed, peak


def high_water_mb(pid: int) -> float:
    """The peak resident memory of process `pid` so far (VmHWM), in MB; 0 once it is gone.

    Not the rusage of `wait4`: on Linux a child's ru_maxrss starts from its parent's resident
    memory when it was forked (kept across exec), so it reported this benchmark's own size
    whenever that was larger than the scheduler's."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p * len(ordered)) - 1))]


@dataclass
class Run:
    """One run's figures."""

    code: str
    lags: list[float]
    buckets: dict[int, list[float]]
    lag_peak: float
    catch_up_seconds: float
    catch_up_peak: float
    setup_seconds: float


def measure(args: argparse.Namespace, code: str, pythonpath: str | None) -> Run:
    """The whole benchmark on a fresh store, with the scheduler of `pythonpath` (None: this
    tree's)."""
    if args.store == "sqlite":
        settings = parse_database_url(
            f"sqlite:///{tempfile.mkdtemp(prefix='ledger-sched-')}/bench.db"
        )
    else:
        base = parse_database_url(args.pg)
        schema = f"{args.schema_prefix}_{os.getpid()}"
        with connect(base) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            conn.execute(f'CREATE SCHEMA "{schema}"')
        settings = base.with_schema(schema)
    url = url_of(settings)
    try:
        app = SupportLedger(settings=settings)
        set_up = time.perf_counter()
        contracts = contracts_for(app, args.contracts)
        if args.ballast:
            later = datetime.now(UTC) + timedelta(days=365)
            bought = datetime.now(UTC) - timedelta(hours=5, minutes=30)  # before the missed lots
            lots = [later] * (args.ballast * len(contracts))
            buy_lots(app, contracts, lots, "ballast", bought=bought)

        # 2. catch-up first: facts missed while no scheduler ran
        missed_at = datetime.now(UTC) - timedelta(hours=2)
        buy_lots(
            app,
            contracts,
            [missed_at + timedelta(milliseconds=n) for n in range(args.missed)],
            "missed",
            bought=missed_at - timedelta(hours=3),
        )
        setup_seconds = time.perf_counter() - set_up
        catch_up_seconds, catch_up_peak = run_scheduler_until(
            url, lambda: recorded_expiries(settings) >= args.missed, 3600, pythonpath=pythonpath
        )
        # The scheduler wrote every account: start again from fresh reads, not stale copies
        # (at 10,000 accounts a save of 100 of them, some stale, ended in PipelineAborted).
        app.close()
        app = SupportLedger(settings=settings)

        # 1. lag: facts falling due over the spread while a scheduler runs
        probe = max(args.pending // 20, 100)
        far = datetime.now(UTC) + timedelta(days=300)
        started = time.perf_counter()
        buy_lots(app, contracts, [far] * probe, "probe")
        rate = probe / (time.perf_counter() - started)
        # time to record the lots, with room; capped, so a slow probe costs minutes, not hours
        lead = min((args.pending / rate) * 1.3 + 30, 900)
        first = datetime.now(UTC) + timedelta(seconds=lead)
        step = timedelta(seconds=args.spread / args.pending)
        instants = [first + n * step for n in range(args.pending)]
        set_up = time.perf_counter()
        buy_lots(app, contracts, instants, "pending")
        setup_seconds += time.perf_counter() - set_up
        if datetime.now(UTC) > first:
            print("setup took longer than planned: the first lags include the wait")
        _, lag_peak = run_scheduler_until(
            url,
            lambda: recorded_expiries(settings) >= args.missed + args.pending,
            args.spread + lead + 3600,
            profile=args.profile,
            log_to=args.log,
            pythonpath=pythonpath,
        )
        timed = expiry_lags(app, contracts, "pending", with_due=True)
        app.close()
    finally:
        if settings.backend == "postgresql":
            with connect(base) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{settings.schema}" CASCADE')
    first_due = min(due for due, _ in timed)
    buckets: dict[int, list[float]] = {}
    for due, lag in timed:
        buckets.setdefault(int((due - first_due).total_seconds() // 10), []).append(lag)
    return Run(
        code=code,
        lags=[lag for _, lag in timed],
        buckets=buckets,
        lag_peak=lag_peak,
        catch_up_seconds=catch_up_seconds,
        catch_up_peak=catch_up_peak,
        setup_seconds=setup_seconds,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--pending", type=int, default=100_000)
    parser.add_argument(
        "--spread", type=float, default=180.0, help="Seconds the expiries spread over."
    )
    parser.add_argument("--missed", type=int, default=10_000)
    parser.add_argument("--contracts", type=int, default=500)
    parser.add_argument("--ballast", type=int, default=0, help="Lots per account due in a year.")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--schema-prefix", default="bench_sched", help="The store's schema name.")
    parser.add_argument("--profile", help="py-spy flame graph (SVG) of the lag phase's scheduler.")
    parser.add_argument("--log", help="The lag phase's scheduler logs (debug, JSON lines) here.")
    parser.add_argument(
        "--baseline-ref", help="First the same run with this git ref's scheduler (e.g. main)."
    )
    args = parser.parse_args()
    configure_logging("json", "warning")
    # snapshots written and read under a key, as in production (and as `make bench` does)
    os.environ.setdefault("LEDGER_SNAPSHOT_KEY", "benchmark-snapshot-key-0123456789abcdef")

    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="ledger-bench-sched-") as folder:
        if args.baseline_ref:
            path = extract(args.baseline_ref, Path(folder))
            runs.append(measure(args, f"baseline {args.baseline_ref}", path))
        runs.append(measure(args, "this tree", None))

    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {python}; store: {args.store}")
    print(
        f"lag: {args.pending:,} lot expiries falling due over {args.spread:.0f} s "
        f"({args.pending / args.spread:,.0f} per second), {args.contracts:,} accounts "
        f"(+{args.ballast} lots each due in a year); "
        f"catch-up: {args.missed:,} expiries missed 2 hours earlier (goal: p99 <= 1 s, "
        "peak <= 300 MB)"
    )
    print("| code | lag p50 | p99 | max | peak RSS (lag) | catch-up facts/s | peak RSS (catch-up) "
          "| set-up |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for run in runs:
        print(
            f"| {run.code} | {statistics.median(run.lags):.3f} s "
            f"| {percentile(run.lags, 0.99):.3f} s | {max(run.lags):.3f} s "
            f"| {run.lag_peak:.0f} MB | {args.missed / run.catch_up_seconds:,.0f} "
            f"| {run.catch_up_peak:.0f} MB | {run.setup_seconds:.0f} s |"
        )
    for run in runs:
        print(f"{run.code}: p99 by due time (10 s buckets): " + "  ".join(
            f"{b * 10}s:{percentile(v, 0.99):.2f}" for b, v in sorted(run.buckets.items())
        ))  # fmt: skip
    if len(runs) == 2:
        old, new = runs
        print(f"ratio this tree / baseline: peak RSS (lag) {new.lag_peak / old.lag_peak:.2f}, "
              f"p99 {percentile(new.lags, 0.99) / percentile(old.lags, 0.99):.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
