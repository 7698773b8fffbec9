"""A credit account after ten years of terms: its snapshot's size and its load time, beside a
baseline (another commit's code) in the same run.

Each run builds, in a fresh store (a SQLite file, or a PostgreSQL schema dropped afterwards),
one Premium contract of 20 licenses signed on 1 January 2025 and renewed every December for
--years years; each year --packages packages of 100 points expiring after 6 months, --trainings
training sessions, and --consumptions / --years consumptions of 0.5 points; at each term's
start and at the packages' expiry every lot's expiry due is recorded, as the scheduler would.
Then, in the last term's December (the next term ordered), with `LEDGER_SNAPSHOT_KEY` set, a
snapshot of the account is taken and a fresh application (another process's view: nothing
cached) loads it --repeat times, as its first read and after one read (of the contract, so
that its connection has served a query): the snapshot's stored bytes and the median loads. The
baseline (--baseline-ref, e.g. `main`) runs the same script in a child process on that
commit's `src/` (extracted with `git archive`, first on PYTHONPATH).

Usage: python -P benchmarks/account_state.py [--stores sqlite,postgresql] [--years 10]
           [--consumptions 10000] [--trainings 12] [--packages 1] [--repeat 15]
           [--baseline-ref main] [--pg postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/calendar.py would shadow the standard library's calendar module.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import argparse
import contextlib
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from eventsourcing.persistence import IntegrityError

from ledger.application import SupportLedger
from ledger.domain.credit_account import CreditAccount
from ledger.logs import configure_logging
from ledger.settings import DatabaseSettings, parse_database_url
from ledger.store import connect

sys.path.append(str(Path(__file__).resolve().parent))  # last: it shadows nothing there
from _baseline import extract

ROOT = Path(__file__).resolve().parents[1]
KEY = "benchmark-snapshot-key-0123456789abcdef"


def fresh_store(store: str, pg: str, folder: Path) -> DatabaseSettings:
    """A new SQLite file, or a new schema on the PostgreSQL server."""
    if store == "sqlite":
        return parse_database_url(f"sqlite:///{folder / f'account-{uuid.uuid4().hex[:8]}.db'}")
    base = parse_database_url(pg)
    schema = f"account_bench_{uuid.uuid4().hex[:8]}"
    with connect(base) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return base.with_schema(schema)


def drop_store(settings: DatabaseSettings) -> None:
    if settings.backend == "postgresql":
        with connect(settings) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{settings.schema}" CASCADE')


def record_expiries(app: SupportLedger, contract: uuid.UUID, at: datetime) -> None:
    """Record every lot's expiry due by `at`, as the scheduler does."""
    for lot_id, due in list(app.get_account(contract).due_expiries(at)):
        app.expire_lot(contract, lot_id=lot_id, at=at, late=due < at)


def build(app: SupportLedger, args: argparse.Namespace) -> uuid.UUID:
    """The contract of ten years (see the module's docstring); its id."""
    start = datetime(2025, 1, 1, 9, tzinfo=UTC)
    contract = app.sign_contract(
        customer="Ten years", tier="premium", licenses=20, license_kind="commercial",
        list_price=Decimal(40000), start=date(2025, 1, 1), at=start,
    )  # fmt: skip
    per_year = args.consumptions // args.years
    for year in range(args.years):
        begins = datetime(2025 + year, 1, 1, 9, tzinfo=UTC)
        if year:
            record_expiries(app, contract, begins)
        for k in range(args.packages):
            app.purchase_credits(
                contract, points=Decimal(100), price=Decimal(1000), key=f"pack-{year}-{k}",
                at=begins, expires_at=begins + timedelta(days=182),
            )  # fmt: skip
        step = timedelta(days=330) / per_year
        every = max(1, per_year // max(1, args.trainings))
        expiry = begins + timedelta(days=182)
        for n in range(per_year):
            when = begins + timedelta(days=1) + n * step
            if expiry is not None and when >= expiry:  # the packages' expiry, when it is due
                record_expiries(app, contract, when)
                expiry = None
            app.consume_credits(
                contract, points=Decimal("0.5"), activity="remote session",
                key=f"c-{year}-{n}", at=when,
            )  # fmt: skip
            if n % every == 0 and n // every < args.trainings:
                app.hold_training(contract, at=when + timedelta(seconds=1), key=f"t-{year}-{n}")
        app.renew_contract(contract, at=datetime(2025 + year, 12, 1, 9, tzinfo=UTC))
    return contract  # in the last term's December: its lots held, the next term ordered


def snapshot_bytes(settings: DatabaseSettings, account_id: uuid.UUID) -> tuple[int, int]:
    """The version and stored size (bytes, seal included) of the account's latest snapshot."""
    sql = "SELECT originator_version, length(state) FROM {} WHERE originator_id = {} "
    sql += "ORDER BY originator_version DESC LIMIT 1"
    if settings.backend == "sqlite":
        with sqlite3.connect(settings.path) as conn:
            row = conn.execute(sql.format("stored_snapshots", "?"), (account_id.hex,)).fetchone()
    else:
        table = f'"{settings.schema}".ledger_snapshots'
        with connect(settings) as conn:
            row = conn.execute(sql.format(table, "%s"), (account_id,)).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def worker(args: argparse.Namespace) -> None:
    """Build the account on one store with this process's code; print its figures as JSON."""
    folder = Path(tempfile.mkdtemp(prefix="ledger-bench-account-"))
    settings = fresh_store(args.store, args.pg, folder)
    try:
        app = SupportLedger({"LEDGER_SNAPSHOT_KEY": KEY}, settings=settings)
        began = time.perf_counter()
        contract = build(app, args)
        built = time.perf_counter() - began
        account_id = CreditAccount.create_id(contract)
        with contextlib.suppress(IntegrityError):  # taken already at this version
            app.take_snapshot(account_id)
        account = app.repository.get(account_id)
        lots = len(account.lots)
        app.close()
        version, size = snapshot_bytes(settings, account_id)
        times: dict[str, list[float]] = {"load_ms": [], "warm_ms": []}
        for _ in range(args.repeat):
            for figure, taken in times.items():
                fresh = SupportLedger({"LEDGER_SNAPSHOT_KEY": KEY}, settings=settings)
                if figure == "warm_ms":  # its connection has served one read (the contract)
                    fresh.repository.get(contract)
                began = time.perf_counter()
                loaded = fresh.repository.get(account_id)
                taken.append(time.perf_counter() - began)
                assert loaded.version == account.version  # noqa: S101 - a benchmark's check
                fresh.close()
        print(json.dumps({
            "events": account.version, "snapshot_version": version, "snapshot_bytes": size,
            "lots": lots, "build_s": built,
            **{figure: statistics.median(t) * 1000 for figure, t in times.items()},
        }))  # fmt: skip
    finally:
        drop_store(settings)
        shutil.rmtree(folder, ignore_errors=True)


def run(args: argparse.Namespace, store: str, pythonpath: str | None) -> dict[str, float]:
    """One worker process on `store` (with `pythonpath` first, for the baseline)."""
    env = dict(os.environ, LEDGER_LOG_LEVEL="warning")
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    command = [
        sys.executable, "-P", __file__, "--worker", "--store", store, "--pg", args.pg,
        "--years", str(args.years), "--consumptions", str(args.consumptions),
        "--trainings", str(args.trainings), "--repeat", str(args.repeat),
        "--packages", str(args.packages),
    ]  # fmt: skip
    done = subprocess.run(command, env=env, check=False, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"the run on {store} failed:\n{done.stderr[-3000:]}")
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--store", default="sqlite", help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--consumptions", type=int, default=10_000)
    parser.add_argument("--trainings", type=int, default=12, help="training sessions a year")
    parser.add_argument("--packages", type=int, default=1, help="packages bought a year")
    parser.add_argument("--repeat", type=int, default=15, help="loads timed per run")
    parser.add_argument("--baseline-ref", default=None, help="git ref to compare with")
    parser.add_argument(
        "--pg",
        default=os.environ.get(
            "LEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    configure_logging("console", "warning")
    if args.worker:
        worker(args)
        return
    folder = Path(tempfile.mkdtemp(prefix="ledger-bench-account-"))
    modes: list[tuple[str, str | None]] = [("this tree", None)]
    if args.baseline_ref:
        modes.insert(0, (f"baseline {args.baseline_ref}", extract(args.baseline_ref, folder)))
    print(f"{args.years} years of terms, {args.consumptions} consumptions, {args.trainings} "
          f"trainings and {args.packages} packages a year; median of {args.repeat} loads by a "
          "fresh application")  # fmt: skip
    print("| store | code | events | snapshot bytes | lots held | load ms, first read | "
          "load ms, after one read | build s |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    try:
        results: dict[tuple[str, str], dict[str, float]] = {}
        for store in args.stores.split(","):
            for mode, pythonpath in modes:
                got = results[(store, mode)] = run(args, store, pythonpath)
                print(f"| {store} | {mode} | {got['events']:,} | {got['snapshot_bytes']:,} | "
                      f"{got['lots']} | {got['load_ms']:.2f} | {got['warm_ms']:.2f} | "
                      f"{got['build_s']:.0f} |",
                      flush=True)  # fmt: skip
        if len(modes) == 2:
            print()
            print("| store | snapshot bytes, this tree / baseline | load ms, this / baseline "
                  "(first read; after one read) |")  # fmt: skip
            print("|---|---:|---:|")
            for store in args.stores.split(","):
                new, old = results[(store, "this tree")], results[(store, modes[0][0])]
                print(f"| {store} | {new['snapshot_bytes'] / old['snapshot_bytes']:.2f} | "
                      f"{new['load_ms'] / old['load_ms']:.2f}; "
                      f"{new['warm_ms'] / old['warm_ms']:.2f} |")  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
