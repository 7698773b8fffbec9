"""Processes writing at once on PostgreSQL: eight consuming from one account; three opening
tickets under one contract while a fourth changes its calendar."""

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


def test_bookings_recompute_every_clock_while_processes_open_tickets(
    pg_settings: DatabaseSettings, tmp_path: Path
) -> None:
    """Three processes open tickets under one contract while a fourth books or cancels an
    evening appointment on it, three rounds: after each round every ticket's deadline is the
    one the contract's calendar then gives (none was left on the calendar before the
    change), and nothing failed."""
    from ledger.terms import load_terms  # noqa: PLC0415
    from tests.scenario import publish_releases  # noqa: PLC0415

    app = SupportLedger(settings=pg_settings)
    now = datetime.now(UTC)
    publish_releases(app)
    contract_id = app.sign_contract(
        customer="Load", tier="premium", licenses=2, license_kind="commercial",
        list_price=Decimal(40000), start=now.date() - timedelta(days=1), at=now,
    )  # fmt: skip
    app.add_contact(contract_id, email="ops@load.example", at=now)
    opened: list[str] = []
    for round_number, change in enumerate(["book:1", "book:2", "cancel:1"]):
        start = time.time() + 2
        roles = ["open", "open", "open", change]
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "tests.stores.clock_worker", url_of(pg_settings),
                 str(contract_id), role, f"{round_number}{n}", str(start),
                 str(tmp_path / f"w{round_number}{n}.json")],
                cwd=ROOT,
            )
            for n, role in enumerate(roles)
        ]  # fmt: skip
        for worker in workers:
            assert worker.wait(timeout=240) == 0
        for n, role in enumerate(roles):
            for attempt in json.loads((tmp_path / f"w{round_number}{n}.json").read_text()):
                if role == "open":
                    assert attempt["outcome"] == "open", attempt
                    opened.append(attempt["key"])
                else:
                    assert attempt["outcome"].startswith("moved"), attempt

        contract = app.get_contract(contract_id)
        calendar = app.calendar_of(contract)
        tickets = [app.get_ticket(key) for key in opened]
        assert sorted(app.open_clocks(contract_id)) == sorted(t.id for t in tickets)
        for ticket in tickets:
            moved = ticket.recalculate(
                reason="check", at=datetime.now(UTC), calendar=calendar,
                calendar_revision=contract.calendar_revision,
                thresholds=load_terms(ticket.terms_version).warning_thresholds,
            )  # fmt: skip
            assert not moved, f"{ticket.external_key}: due {ticket.due_at} on an older calendar"
    assert len(app.get_contract(contract_id).active_appointments()) == 1
    app.close()
