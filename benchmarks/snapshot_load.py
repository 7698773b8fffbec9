"""Sealed snapshots: the milliseconds a fresh application takes to load one long credit account,
with `LEDGER_SNAPSHOT_KEY` set (a sealed snapshot read and checked) and unset (every event
replayed). Usage:
  python -P benchmarks/snapshot_load.py --store sqlite --events 2000
  python -P benchmarks/snapshot_load.py --store postgresql --url postgresql://postgres@127.0.0.1/test
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/calendar.py would shadow the standard library's calendar module.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import psycopg

from ledger.application import SupportLedger
from ledger.domain.credit_account import CreditAccount
from ledger.settings import DatabaseSettings, parse_database_url

KEY = "benchmark-snapshot-key-0123456789abcdef"
START = datetime(2025, 1, 1, 9, tzinfo=UTC)


def store(args: argparse.Namespace, folder: str) -> DatabaseSettings:
    """A fresh SQLite file, or a fresh schema on the PostgreSQL server."""
    if args.store == "sqlite":
        return parse_database_url(f"sqlite:///{folder}/snapshot-load.db")
    base = parse_database_url(args.url)
    schema = f"bench_snap_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(**base.psycopg_conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return base.with_schema(schema)


def drop(settings: DatabaseSettings) -> None:
    """Drop the benchmark's PostgreSQL schema."""
    if settings.backend == "postgresql":
        with psycopg.connect(**settings.psycopg_conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
            conn.execute(f'DROP SCHEMA "{settings.schema}" CASCADE')


def main() -> None:
    """Build one account of `--events` consumptions under a key, then time fresh loads."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings = store(args, folder)
        try:
            app = SupportLedger({"LEDGER_SNAPSHOT_KEY": KEY}, settings=settings)
            contract = app.sign_contract(
                customer="Bench", tier="premium", licenses=2, license_kind="commercial",
                list_price=Decimal(40000), start=date(2025, 1, 1), at=START,
            )  # fmt: skip
            app.purchase_credits(
                contract, points=Decimal(args.events), price=Decimal(1), key="p", at=START
            )
            for n in range(args.events):
                app.consume_credits(
                    contract, points=Decimal("0.5"), activity="a", key=f"k{n}",
                    at=START + timedelta(days=1, seconds=n),
                )  # fmt: skip
            app.close()
            account_id = CreditAccount.create_id(contract)
            for key in (KEY, ""):
                times = []
                for _ in range(args.repeat):
                    fresh = SupportLedger({"LEDGER_SNAPSHOT_KEY": key}, settings=settings)
                    began = time.perf_counter()
                    version = fresh.repository.get(account_id).version
                    times.append(time.perf_counter() - began)
                    fresh.close()
                state = "set" if key else "unset"
                print(
                    f"{settings.backend}: account of {version} events, key {state}: "
                    f"median load {statistics.median(times) * 1000:.1f} ms"
                )
        finally:
            drop(settings)


if __name__ == "__main__":
    main()
