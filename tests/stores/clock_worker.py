"""A separate process that opens tickets, or books and cancels appointments, under one
contract, for the concurrency test of open clocks.

Usage: python -m tests.stores.clock_worker URL CONTRACT_ID ROLE WORKER START_EPOCH OUT_FILE
ROLE `open` opens 20 tickets (keys `w{WORKER}-{n}`); ROLE `book:D` or `cancel:D` books or
cancels the evening window D days ahead, once, a moment after the start (while the others
open tickets). Waits until START_EPOCH so all workers begin together, then writes what
happened to each attempt as JSON.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

from ledger.application import SupportLedger
from ledger.domain.errors import LedgerError
from ledger.settings import parse_database_url
from tests.scenario import BERLIN


def evening(days_ahead: int) -> tuple[datetime, datetime]:
    """19:00-22:00 Berlin time, `days_ahead` days from today."""
    day = datetime.now(BERLIN).date() + timedelta(days=days_ahead)
    start = datetime(day.year, day.month, day.day, 19, tzinfo=BERLIN).astimezone(UTC)
    return start, start + timedelta(hours=3)


def main() -> int:
    url, contract, role, worker, start, out = sys.argv[1:7]
    app = SupportLedger(settings=parse_database_url(url))
    contract_id = UUID(contract)
    results = []
    delay = float(start) - time.time()
    if delay > 0:
        time.sleep(delay)
    if role == "open":
        for n in range(20):
            key = f"w{worker}-{n}"
            try:
                opening = app.open_ticket(
                    contract_id=contract_id, reporter="ops@load.example", version="24.2.1",
                    platform="linux", severity=3, key=key, at=datetime.now(UTC),
                )  # fmt: skip
                outcome = opening.status
            except LedgerError as error:
                outcome = error.code
            results.append({"key": key, "outcome": outcome})
    else:
        time.sleep(0.05)  # the openers are under way
        action, days = role.split(":")
        starts_at, ends_at = evening(int(days))
        change = app.book_appointment if action == "book" else app.cancel_appointment
        try:
            moved = change(contract_id, starts_at=starts_at, ends_at=ends_at, at=datetime.now(UTC))
            outcome = f"moved {len(moved)}"
        except LedgerError as error:
            outcome = error.code
        results.append({"key": role, "outcome": outcome})
    app.close()
    Path(out).write_text(json.dumps(results), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
