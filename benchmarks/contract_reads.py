"""A contract read as the standby's reader reads it (`wiring.open_reader`): its open clocks
found in the deadlines view, then the log after it, beside the baseline of the reader without
the view (as it was before the contract's page moved to the standby), in the same run.

On a SQLite store (a temporary file) or a PostgreSQL schema of its own holding --contracts
Premium contracts and --tickets tickets opened round-robin under them (every other one
answered), the views run once, as the projector keeps them; then each round reads one
contract as `GET /api/v1/contracts/{id}` and its page do (`current_contract_view`: the
contract, and its open clocks):
1. the baseline: a reader with no views (`SupportLedger`, `CREATE_TABLE=n`), which finds the
   open clocks by reading every `Ticket.Opened` and `Ticket.FirstResponseRecorded` of the log;
2. `open_reader`: the deadlines view's position and the contract's unanswered tickets there,
   then the log after that position (nothing, here).
Both read the same store, with settings marked read-only as a standby's are (no DDL).
One untimed read of each first, then medians of --repeat rounds. Usage:
  python -P benchmarks/contract_reads.py --tickets 10000
  python -P benchmarks/contract_reads.py --store postgresql --tickets 10000
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from ledger.application import SupportLedger
from ledger.logs import configure_logging
from ledger.presenters import current_contract_view
from ledger.projections import PROJECTIONS
from ledger.projections.runner import run_projections
from ledger.wiring import open_reader

sys.path.append(str(Path(__file__).resolve().parent))  # last: it shadows nothing there
from _store import on_fresh_store, timed

if TYPE_CHECKING:
    from uuid import UUID

    from ledger.settings import DatabaseSettings

VERSION = "24.2.1"


def populate(settings: DatabaseSettings, contracts: int, tickets: int) -> list[UUID]:
    """Premium contracts in force now, each with one contact, and `tickets` tickets opened
    round-robin under them, every other one answered."""
    app = SupportLedger(settings=settings)
    now = datetime.now(UTC)
    signed = now - timedelta(days=30)
    ids = []
    try:
        app.publish_release(VERSION, prerelease=False, at=now - timedelta(days=60))
        for n in range(contracts):
            contract = app.sign_contract(
                customer=f"Customer {n}", tier="premium", licenses=2, license_kind="commercial",
                list_price=Decimal(40000), start=signed.date(), at=signed,
            )  # fmt: skip
            app.add_contact(contract, email=f"ops@c{n}.example", at=signed)
            ids.append(contract)
        for n in range(tickets):
            received = signed + timedelta(minutes=n)
            app.open_ticket(
                contract_id=ids[n % contracts], reporter=f"ops@c{n % contracts}.example",
                severity=3, version=VERSION, platform="linux", key=f"T-{n}", at=received,
            )  # fmt: skip
            if n % 2:
                app.record_first_response(f"T-{n}", at=received + timedelta(minutes=5))
    finally:
        app.close()
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--contracts", type=int, default=50)
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    configure_logging("console", "warning")
    on_fresh_store(args.store, "bench_reads", lambda settings: measure(settings, args))


def measure(settings: DatabaseSettings, args: argparse.Namespace) -> None:
    """Populate the store, run the views, then print the medians."""
    started = time.perf_counter()
    ids = populate(settings, args.contracts, args.tickets)
    writer = SupportLedger(settings=settings)
    try:
        run_projections(settings, writer, list(PROJECTIONS.values()), once=True)
        head = int(writer.recorder.max_notification_id() or 0)
    finally:
        writer.close()
    print(
        f"{args.contracts} contracts, {args.tickets} tickets, {head} events; "
        f"populated in {time.perf_counter() - started:.1f} s"
    )
    reads = replace(settings, read_only=True)
    at = datetime.now(UTC)
    contract = ids[0]
    bare = SupportLedger({"CREATE_TABLE": "n"}, settings=reads)
    viewed = open_reader(reads)
    try:
        clocks = (len(bare.open_clocks(contract)), len(viewed.open_clocks(contract)))
        assert clocks[0] == clocks[1], clocks  # noqa: S101 - the same answer, or no figure
        r = args.repeat
        figures = [
            ("contract read, open clocks from the log (baseline)",
             timed(lambda: current_contract_view(bare, contract, at), r)),
            ("contract read, open clocks from the deadlines view",
             timed(lambda: current_contract_view(viewed, contract, at), r)),
        ]  # fmt: skip
    finally:
        bare.close()
        viewed.close()
    machine = f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{machine}, Python {platform.python_version()}, {args.store}, median of {r}")
    print(f"load average {load}; {clocks[0]} open clocks on the contract read")
    for label, seconds in figures:
        print(f"  {label:<55} {seconds * 1000:10.2f} ms")
    print(f"  ratio (view / baseline) {figures[1][1] / figures[0][1]:.3f}")


if __name__ == "__main__":
    main()
