"""Revenue report: seconds to read a month's revenue of every contract, beside the month's credit
statements (the baseline: the same tables, summed in SQL), and the check against the events.

Generates a history in a new SQLite file (or a PostgreSQL schema): --contracts contracts
signed on 1 January, each buying a package in March and using points from it five times,
projects it, then times each read --repeat times (after one untimed pass) and prints medians.
Usage:
  python -P benchmarks/revenue.py --contracts 200 --repeat 5
  python -P benchmarks/revenue.py --store postgresql --contracts 200
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
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ledger.application import SupportLedger
from ledger.logs import configure_logging
from ledger.projections.credit_usage import CreditUsageProjection, CreditUsageView
from ledger.projections.db import ViewDatabase
from ledger.projections.revenue import RevenueView, reconcile_revenue
from ledger.projections.runner import run_projections
from ledger.settings import parse_database_url

if TYPE_CHECKING:
    from collections.abc import Callable

    from ledger.settings import DatabaseSettings

START = datetime(2025, 1, 2, 9, tzinfo=UTC)


def record(app: SupportLedger, contracts: int) -> None:
    """Each contract: signed, a 20-point package bought on 3 March, five uses of 3 points."""
    for n in range(contracts):
        cid = app.sign_contract(
            customer=f"Customer {n:05d}", tier="advanced", licenses=1, license_kind="commercial",
            list_price=Decimal(10000 + n), start=date(2025, 1, 1), at=START,
        )  # fmt: skip
        bought = datetime(2025, 3, 3, 10, tzinfo=UTC)
        app.purchase_credits(cid, points=Decimal(20), price=Decimal("1500.00"), key="p",
                             at=bought, expires_at=datetime(2025, 3, 31, tzinfo=UTC))  # fmt: skip
        for use in range(5):
            app.consume_credits(cid, points=Decimal(3), activity="work", key=f"c{use}",
                                at=bought + timedelta(days=use + 1))  # fmt: skip


def _schema(settings: DatabaseSettings, verb: str, suffix: str = "") -> None:
    import psycopg  # noqa: PLC0415 - PostgreSQL only

    with psycopg.connect(**settings.psycopg_conninfo(), autocommit=True) as conn:
        conn.execute(f'{verb} "{settings.schema}"{suffix}')


def median(run: Callable[[], Any], repeat: int) -> float:
    run()  # untimed: caches
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--contracts", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    configure_logging("json", "warning")
    with tempfile.TemporaryDirectory() as folder:
        url = (
            f"sqlite:///{folder}/revenue.db"
            if args.store == "sqlite"
            else os.environ.get("LEDGER_BENCH_URL", "postgresql://postgres@127.0.0.1:5432/test")
        )
        settings: DatabaseSettings = parse_database_url(url)
        if args.store == "postgresql":  # a schema of its own, dropped at the end
            settings = settings.with_schema(f"bench_revenue_{os.getpid()}")
            _schema(settings, "CREATE SCHEMA")
        app = SupportLedger(settings=settings)
        try:
            t0 = time.perf_counter()
            record(app, args.contracts)
            recorded = time.perf_counter() - t0
            run_projections(settings, app, [CreditUsageProjection], once=True)
            db = ViewDatabase(settings)
            try:
                statements = median(
                    lambda: CreditUsageView(db).statement(period="2025-03"), args.repeat
                )
                revenue = median(lambda: RevenueView(db).revenue(period="2025-03"), args.repeat)
                check = median(
                    lambda: reconcile_revenue(app, RevenueView(db), period="2025-03"), args.repeat
                )
            finally:
                db.close()
            head = app.recorder.max_notification_id()
        finally:
            app.close()
            if args.store == "postgresql":
                _schema(settings, "DROP SCHEMA IF EXISTS", " CASCADE")
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, store {args.store}")  # fmt: skip
    print(f"history: {args.contracts} contracts, {head} events (recorded in {recorded:.1f} s)")
    print(f"median of {args.repeat}, one month of every contract:")
    print(f"  credit statements (baseline)   {statements * 1000:8.1f} ms")
    print(f"  revenue (view)                 {revenue * 1000:8.1f} ms")
    print(f"  revenue --check (events fold)  {check * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
