"""A separate process that records contracts, for the concurrent chain test.

Usage: python -m tests.stores.chain_writer URL WORKER START_EPOCH COUNT
Waits until START_EPOCH so all writers begin together, then signs COUNT contracts (each save
records a contract's and its credit account's events) and exits 0.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from ledger.application import SupportLedger
from ledger.settings import parse_database_url


def main() -> int:
    url, worker, start, count = sys.argv[1:5]
    app = SupportLedger(settings=parse_database_url(url))
    delay = float(start) - time.time()
    if delay > 0:
        time.sleep(delay)
    now = datetime.now(UTC)
    for number in range(int(count)):
        app.sign_contract(
            customer=f"Writer {worker}-{number}", tier="advanced", licenses=1,
            license_kind="commercial", list_price=Decimal(1000),
            start=now.date() - timedelta(days=1), at=now,
        )  # fmt: skip
    app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
