"""A separate process that consumes points from one account, for the concurrency test.

Usage: python -m tests.stores.consumer_worker URL CONTRACT_ID WORKER START_EPOCH OUT_FILE
Waits until START_EPOCH so all workers begin together, then tries 25 consumptions (every fifth
one resubmits the previous key, as a client retrying after a timeout would) and writes what
happened to each attempt as JSON.
"""

from __future__ import annotations

import json
import random
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from uuid import UUID

from ledger.application import SupportLedger
from ledger.domain.errors import LedgerError
from ledger.settings import parse_database_url


def main() -> int:
    url, contract, worker, start, out = sys.argv[1:6]
    app = SupportLedger(settings=parse_database_url(url))
    rng = random.Random(int(worker))
    results = []
    previous: tuple[str, Decimal] | None = None
    delay = float(start) - time.time()
    if delay > 0:
        time.sleep(delay)
    for attempt in range(25):
        if attempt % 5 == 4 and previous is not None:
            key, points = previous
        else:
            key, points = f"w{worker}-{attempt}", Decimal(rng.randint(1, 4))
        try:
            result = app.consume_credits(
                UUID(contract), points=points, activity="load", key=key, at=datetime.now(UTC)
            )
            outcome = "recorded" if result["recorded"] else "replayed"
        except LedgerError as error:
            outcome = error.code
        results.append({"key": key, "points": str(points), "outcome": outcome})
        previous = (key, points)
    app.close()
    Path(out).write_text(json.dumps(results), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
