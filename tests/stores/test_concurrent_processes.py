"""Eight processes consuming from one account on PostgreSQL at once."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from ledger.application import SupportLedger

if TYPE_CHECKING:
    from ledger.settings import DatabaseSettings

ROOT = Path(__file__).parents[2]


def url_of(settings: DatabaseSettings) -> str:
    password = f":{settings.password}" if settings.password else ""
    return (
        f"postgresql://{settings.user}{password}@{settings.host}:{settings.port}/"
        f"{settings.dbname}?schema={settings.schema}&pool_size=1&max_overflow=2"
    )


def test_eight_processes_never_overdraw_duplicate_or_lose_a_consumption(
    pg_settings: DatabaseSettings, tmp_path: Path
) -> None:
    """Total consumed equals the sum of the successful commands; no key counts twice; never < 0."""
    app = SupportLedger(settings=pg_settings)
    now = datetime.now(UTC)
    contract_id = app.sign_contract(
        customer="Load", tier="premium", licenses=4, license_kind="commercial",
        list_price=Decimal(50000), start=now.date() - timedelta(days=1), at=now,
    )  # fmt: skip
    granted = app.get_account(contract_id).available("points", now)
    assert granted == Decimal(128)
    start = time.time() + 3
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.stores.consumer_worker", url_of(pg_settings),
             str(contract_id), str(n), str(start), str(tmp_path / f"w{n}.json")],
            cwd=ROOT,
        )
        for n in range(8)
    ]  # fmt: skip
    for worker in workers:
        assert worker.wait(timeout=240) == 0
    attempts = [a for n in range(8) for a in json.loads((tmp_path / f"w{n}.json").read_text())]

    outcomes = Counter(a["outcome"] for a in attempts)
    recorded = {a["key"]: Decimal(a["points"]) for a in attempts if a["outcome"] == "recorded"}
    account = app.get_account(contract_id)
    events = [e for e in app.list_events(account.id) if type(e).__name__ == "PointsConsumed"]
    consumed = sum((e.points for e in events), Decimal(0))

    assert set(outcomes) <= {"recorded", "replayed", "insufficient_credits"}, outcomes
    assert outcomes["recorded"] == len(recorded)  # no key was recorded twice
    assert sorted(e.key for e in events) == sorted(recorded)
    assert all(app.get_consumption(contract_id, key).points == p for key, p in recorded.items())
    assert consumed == sum(recorded.values())
    assert account.available("points", datetime.now(UTC)) == granted - consumed
    assert granted - consumed >= 0
    assert outcomes["insufficient_credits"] > 0  # the load really ran the account dry
    app.close()
