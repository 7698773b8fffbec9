"""The contract list and the look-up by name, from the contract directory, beside the
baselines without it, in the same run.

On a SQLite store (a temporary file) or a PostgreSQL schema of its own holding --contracts
contracts signed through the application, each round measures:
1. the baseline of the list: every contract loaded from its events (a new application, so
   nothing cached) and shown as `contract show` shows it, which is what a list without a read
   model would do;
2. `contract list`: every page of the directory (1,000 a page; the views caught up before
   the first, nothing new to take in, as the command does), and the first page of 100 alone
   (what `GET /contracts` answers by default, caught up first);
3. the baseline of a look-up by name: the customer found by reading every `Contract.Signed` of
   the log (an application without the directory);
4. the look-up by name through the directory (then the log after its position).
One untimed pass of each first, then medians of --repeat rounds. Usage:
  python -P benchmarks/contract_list.py --contracts 10000
  python -P benchmarks/contract_list.py --store postgresql --contracts 10000
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from ledger.application import SupportLedger
from ledger.logs import configure_logging
from ledger.presenters import contract_view
from ledger.reports import contract_list
from ledger.wiring import open_ledger

sys.path.append(str(Path(__file__).resolve().parent))  # last: it shadows nothing there
from _store import on_fresh_store, timed

if TYPE_CHECKING:
    from uuid import UUID

    from ledger.settings import DatabaseSettings

SIGNED = datetime(2026, 1, 2, 9, tzinfo=UTC)


def populate(settings: DatabaseSettings, count: int) -> list[UUID]:
    """`count` contracts named `Customer 00000`... of every tier, each with one contact."""
    app = SupportLedger(settings=settings)
    tiers = ("premium", "advanced", "basic")
    ids = []
    try:
        for n in range(count):
            contract = app.sign_contract(
                customer=f"Customer {n:05d}", tier=tiers[n % 3], licenses=1 + n % 4,
                license_kind="commercial", list_price=Decimal(10000), start=date(2026, 1, 1),
                at=SIGNED,
            )  # fmt: skip
            app.add_contact(contract, email=f"ops{n}@customer.example", at=SIGNED)
            ids.append(contract)
    finally:
        app.close()
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--contracts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    configure_logging("console", "warning")
    on_fresh_store(args.store, "bench_names", lambda settings: measure(settings, args))


def measure(settings: DatabaseSettings, args: argparse.Namespace) -> None:
    """Populate the store, then print the medians."""
    started = time.perf_counter()
    ids = populate(settings, args.contracts)
    print(f"{args.contracts} contracts signed in {time.perf_counter() - started:.1f} s")
    at = datetime.now(UTC)
    viewed = open_ledger(settings)
    contract_list(settings, viewed, at, limit=1)  # the views take in the log once

    def every_aggregate() -> None:
        fresh = SupportLedger(settings=settings)
        try:
            for contract_id in ids:
                contract_view(fresh.get_contract(contract_id), at)
        finally:
            fresh.close()

    def every_page() -> None:
        after = None
        while True:
            first = after is None
            page = contract_list(settings, viewed, at, limit=1000, after=after, catch_up=first)
            after = page["next"]
            if after is None:
                return

    last = f"Customer {args.contracts - 1:05d}"
    plain = SupportLedger(settings=settings)
    r = args.repeat
    figures = [
        ("list: every contract loaded from its events (baseline)", timed(every_aggregate, r)),
        ("list: every page of the directory", timed(every_page, r)),
        ("list: the first page of 100", timed(lambda: contract_list(settings, viewed, at), r)),
        ("name: every Contract.Signed read from the log (baseline)",
         timed(lambda: plain.contract_id(last), r)),
        ("name: through the directory", timed(lambda: viewed.contract_id(last), r)),
    ]  # fmt: skip
    plain.close()
    viewed.close()
    machine = f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores"
    print(f"{machine}, Python {platform.python_version()}, {args.store}, median of {r}")
    for label, seconds in figures:
        print(f"  {label:<60} {seconds * 1000:10.1f} ms")


if __name__ == "__main__":
    main()
