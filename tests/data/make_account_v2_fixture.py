"""Write tests/data/account_v2_snapshot.json: a credit account's snapshot as version 2 took it.

Run once with the code whose account kept every lot it ever held (class_version 2, before
lots that expired and packages used up left the state), e.g. main before that change:
`PYTHONPATH=/path/to/that/src python -P tests/data/make_account_v2_fixture.py DB`. It records
`history` into the SQLite file DB under a snapshot key, takes a snapshot of the account at its
last version and writes the snapshot's library form (its seal removed). The test
(`tests/stores/test_account_state.py`) records the same history with today's code and loads
that snapshot in place of today's.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from eventsourcing.persistence import IntegrityError

from ledger.application import SupportLedger
from ledger.domain.credit_account import CreditAccount
from ledger.settings import parse_database_url
from ledger.store.snapshots import unseal

if TYPE_CHECKING:
    from uuid import UUID

OUT = Path(__file__).with_name("account_v2_snapshot.json")
KEY = "fixture-snapshot-key-0123456789abcdef0123"


def on(month: int, day: int, year: int = 2025) -> datetime:
    return datetime(year, month, day, 9, tzinfo=UTC)


def history(app: SupportLedger) -> UUID:
    """A Premium contract of one license (32 points, 3 sessions a term) through its first
    term and into its second: a dated package used up and expired, an undated one used up and
    given points back, a term's points used up, reversals to each, trainings, every expiry."""
    contract = app.sign_contract(
        customer="Fixture GmbH", tier="premium", licenses=1, license_kind="commercial",
        list_price=Decimal(10000), start=date(2025, 1, 1), at=on(1, 1),
    )  # fmt: skip
    app.purchase_credits(contract, points=Decimal(10), price=Decimal("90.00"), key="pack-dated",
                         at=on(1, 2), expires_at=on(6, 30))  # fmt: skip
    app.purchase_credits(contract, points=Decimal(5), price=Decimal("50.00"), key="pack-undated",
                         at=on(1, 2))  # fmt: skip
    spend = {"c-1": (12, on(2, 1)), "c-2": (30, on(3, 1)), "c-3": (5, on(3, 2))}
    for key, (points, when) in spend.items():
        app.consume_credits(contract, points=Decimal(points), activity="support", key=key, at=when)
    app.reverse_consumption(contract, key="c-3", reason="booked twice", at=on(3, 3),
                            points=Decimal(2))  # fmt: skip
    app.hold_training(contract, at=on(4, 1), key="t-1", topic="basics")
    app.hold_training(contract, at=on(4, 2), key="t-2", topic="advanced")
    app.expire_lot(contract, lot_id="purchase-1", at=on(7, 1), late=True)
    app.reverse_consumption(contract, key="c-1", reason="not our fault", at=on(7, 2))
    app.renew_contract(contract, at=on(12, 1))
    for lot_id, due in list(app.get_account(contract).due_expiries(on(1, 1, 2026))):
        app.expire_lot(contract, lot_id=lot_id, at=on(1, 1, 2026), late=due < on(1, 1, 2026))
    app.consume_credits(contract, points=Decimal(1), activity="support", key="c-4",
                        at=on(1, 2, 2026))  # fmt: skip
    app.hold_training(contract, at=on(1, 3, 2026), key="t-3", topic="basics")
    return contract


def main(path: str) -> None:
    settings = parse_database_url(f"sqlite:///{path}")
    app = SupportLedger({"LEDGER_SNAPSHOT_KEY": KEY}, settings=settings)
    try:
        account_id = CreditAccount.create_id(history(app))
        with contextlib.suppress(IntegrityError):  # taken already at this version
            app.take_snapshot(account_id)
    finally:
        app.close()
    with sqlite3.connect(path) as conn:
        version, state = conn.execute(
            "SELECT originator_version, state FROM stored_snapshots WHERE originator_id = ? "
            "ORDER BY originator_version DESC LIMIT 1",
            (account_id.hex,),
        ).fetchone()
    inner = json.loads(unseal(bytes(state))[1])
    OUT.write_text(json.dumps({"version": version, "snapshot": inner}, indent=1) + "\n")
    print(f"snapshot of version {version} -> {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
