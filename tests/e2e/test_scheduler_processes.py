"""`ledger scheduler run` as real processes on PostgreSQL: each fact once, whatever happens.

Lot expiries fall at absolute instants, so these tests can make facts fall due a few seconds
from now at any time of day (business-hour deadlines could not).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ledger.application import SupportLedger
from ledger.projections.db import ViewDatabase
from ledger.scheduler.service import STATE_DDL

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from uuid import UUID

    from ledger.settings import DatabaseSettings

LEDGER = str(Path(sys.executable).parent / "ledger")
pytestmark = pytest.mark.slow


def url_of(settings: DatabaseSettings) -> str:
    password = f":{settings.password}" if settings.password else ""
    return (
        f"postgresql://{settings.user}{password}@{settings.host}:{settings.port}/"
        f"{settings.dbname}?schema={settings.schema}"
    )


@pytest.fixture
def app(pg_settings: DatabaseSettings) -> Iterator[SupportLedger]:
    application = SupportLedger(settings=pg_settings)
    yield application
    application.close()


def lots_expiring(
    app: SupportLedger, first: datetime, count: int, spacing: timedelta
) -> list[UUID]:
    """Contracts valid now, each with purchased lots expiring from `first` on."""
    now = datetime.now(UTC)
    contracts = []
    for c in range(4):
        contract = app.sign_contract(
            customer=f"C{c}", tier="basic", licenses=1, license_kind="commercial",
            list_price=Decimal(1000), start=now.date() - timedelta(days=1),
            at=now - timedelta(hours=4),
        )  # fmt: skip
        contracts.append(contract)
    for n in range(count):
        app.purchase_credits(
            contracts[n % 4], points=Decimal(10), price=Decimal(1), key=f"lot-{n}",
            at=now - timedelta(hours=3), expires_at=first + n * spacing,
        )  # fmt: skip
    return contracts


def expiries(app: SupportLedger, contracts: list[UUID]) -> Counter[tuple[str, str]]:
    found: Counter[tuple[str, str]] = Counter()
    for contract in contracts:
        account = app.get_account(contract)
        for event in app.list_events(account.id):
            if type(event).__name__ == "LotExpired" and event.lot_id.startswith("purchase"):
                found[(str(contract), event.lot_id)] += 1
    return found


def start(settings: DatabaseSettings, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LEDGER_DATABASE_URL": url_of(settings), "LEDGER_LOG_FORMAT": "json"}
    return subprocess.Popen(
        [LEDGER, "scheduler", "run", "--heartbeat", "0.5", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting")
        time.sleep(0.2)


def leader(settings: DatabaseSettings) -> str | None:
    """The leading scheduler's name (None before any scheduler started)."""
    db = ViewDatabase(settings)
    try:
        db.create([STATE_DDL])
        rows = db.read("SELECT leader FROM scheduler_state WHERE name = 'scheduler'")
    finally:
        db.close()
    return rows[0][0] if rows else None


def test_three_schedulers_record_every_expiry_exactly_once(
    pg_settings: DatabaseSettings, app: SupportLedger
) -> None:
    """Three processes run at once; twelve lots expire over a few seconds; each is recorded once."""
    contracts = lots_expiring(
        app, datetime.now(UTC) + timedelta(seconds=4), 12, timedelta(milliseconds=400)
    )
    processes = [start(pg_settings) for _ in range(3)]
    try:
        wait_until(lambda: len(expiries(app, contracts)) == 12)
        time.sleep(2)  # more time for a duplicate to show, were there one
    finally:
        stop(processes)
    found = expiries(app, contracts)
    assert len(found) == 12
    assert set(found.values()) == {1}
    assert all(p.returncode == 0 for p in processes)  # SIGTERM is a clean stop


def test_a_leader_killed_with_sigkill_is_replaced_and_nothing_is_recorded_twice(
    pg_settings: DatabaseSettings, app: SupportLedger
) -> None:
    """The standby takes over from a killed leader; lots expiring meanwhile are recorded once."""
    contracts = lots_expiring(
        app, datetime.now(UTC) + timedelta(seconds=4), 16, timedelta(milliseconds=500)
    )
    processes = [start(pg_settings) for _ in range(2)]
    try:
        wait_until(lambda: leader(pg_settings) is not None and len(expiries(app, contracts)) >= 3)
        killed = int((leader(pg_settings) or "").split(":")[1])
        os.kill(killed, signal.SIGKILL)
        wait_until(lambda: len(expiries(app, contracts)) == 16)
        survivor = next(p for p in processes if p.pid != killed)
        assert int((leader(pg_settings) or "").split(":")[1]) == survivor.pid
        restarted = start(pg_settings)  # the killed one comes back as a standby
        processes.append(restarted)
        time.sleep(2)
    finally:
        stop(processes)
    assert set(expiries(app, contracts).values()) == {1}


def test_after_hours_of_downtime_the_missed_facts_are_recorded_late_in_due_order(
    pg_settings: DatabaseSettings, app: SupportLedger
) -> None:
    """Lots that expired two hours ago, while no scheduler ran, are recorded on start, late."""
    contracts = lots_expiring(app, datetime.now(UTC) - timedelta(hours=2), 6, timedelta(minutes=5))
    processes = [start(pg_settings)]
    try:
        wait_until(lambda: len(expiries(app, contracts)) == 6)
    finally:
        stop(processes)
    events = []
    for contract in contracts:
        account = app.get_account(contract)
        events += [e for e in app.list_events(account.id) if type(e).__name__ == "LotExpired"]
    purchased = sorted(
        (e for e in events if e.lot_id.startswith("purchase")), key=lambda e: e.timestamp
    )
    assert [e.expires_at for e in purchased] == sorted(e.expires_at for e in purchased)  # due order
    assert all(e.late for e in purchased)
    assert all(e.recorded_at - e.expires_at > timedelta(hours=1) for e in purchased)


def test_sigterm_during_a_long_catch_up_stops_after_the_batch_in_flight(
    pg_settings: DatabaseSettings, app: SupportLedger
) -> None:
    """SIGTERM while hundreds of missed facts are being recorded: the process exits promptly
    and cleanly, and a scheduler started afterwards records the rest, each fact once."""
    contracts = lots_expiring(
        app, datetime.now(UTC) - timedelta(hours=1), 600, timedelta(milliseconds=10)
    )
    first = start(pg_settings, "--batch-size", "5")  # many small batches: a long catch-up
    try:
        wait_until(lambda: len(expiries(app, contracts)) >= 1)
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=20)  # no deadlock between the timer's shutdown and the tick
        assert first.returncode == 0
        recorded_by_first = len(expiries(app, contracts))
        second = start(pg_settings)
        wait_until(lambda: len(expiries(app, contracts)) == 600, timeout=120)
    finally:
        stop([first, second] if "second" in locals() else [first])
    assert recorded_by_first < 600  # it stopped partway through
    assert set(expiries(app, contracts).values()) == {1}


def test_a_single_tick_without_at_records_what_is_due_now_and_names_it(
    pg_settings: DatabaseSettings, app: SupportLedger
) -> None:
    """`ledger scheduler tick --json` (no --at) records the facts due by now, once, and says so."""
    contracts = lots_expiring(
        app, datetime.now(UTC) - timedelta(minutes=30), 3, timedelta(minutes=1)
    )
    env = {**os.environ, "LEDGER_DATABASE_URL": url_of(pg_settings), "LEDGER_LOG_LEVEL": "warning"}
    command = [LEDGER, "scheduler", "tick", "--json"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stderr
    recorded = [f for f in json.loads(first.stdout) if f["recorded"]]
    assert [f["kind"] for f in recorded].count("lot_expiry") == 3
    assert set(expiries(app, contracts).values()) == {1}
    again = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert again.returncode == 0, again.stderr
    assert not [f for f in json.loads(again.stdout) if f["recorded"]]  # nothing twice
    assert set(expiries(app, contracts).values()) == {1}
