"""The projection runner on SQLite and PostgreSQL: exactly once, one owner, failures kept apart."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from ledger.domain.ticket import Ticket
from ledger.projections.base import Projection, ensure_state, read_state, take_lease
from ledger.projections.deadlines import DeadlinesProjection, DeadlinesView
from ledger.projections.runner import (
    LEASE_SECONDS,
    ProjectionBusyError,
    Worker,
    rebuild,
    run_projections,
    status,
    verify,
)
from tests.scenario import World, at

if TYPE_CHECKING:
    from collections.abc import Callable

    from ledger.application import SupportLedger
    from ledger.projections.db import Transaction, ViewDatabase
    from ledger.settings import DatabaseSettings

ROOT = Path(__file__).parents[2]


def open_ticket(app: SupportLedger, world: World, key: str, **change: Any) -> Any:
    args = {
        "contract_id": world.premium, "reporter": "ops@acme.example", "version": "24.2.1",
        "platform": "linux", "severity": 1, "at": at(3, 3, 9, 15), "key": key,
    }  # fmt: skip
    return app.open_ticket(**{**args, **change})


def catch_up(
    settings: DatabaseSettings, app: SupportLedger, *projections: type[Projection]
) -> list[Any]:
    return run_projections(settings, app, list(projections), once=True)


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait for a condition (a position reached), failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting")
        time.sleep(0.05)


def rows(db: ViewDatabase) -> list[tuple[str, str, str]]:
    return [
        (d.kind, d.detail, d.due_at.isoformat())
        for d in DeadlinesView(db).all()
        if d.kind in {"warning", "breach"}
    ]


# -- the deadlines view -------------------------------------------------------------------------


def test_an_open_ticket_has_its_warnings_and_breach_pending(
    store_settings: DatabaseSettings, app: SupportLedger, world: World, db: ViewDatabase
) -> None:
    """Premium severity 1 received Mon 09:15 Berlin: warnings 13:15 and 15:15, breach 17:15."""
    open_ticket(app, world, "T-1")
    catch_up(store_settings, app, DeadlinesProjection)
    assert rows(db) == [
        ("warning", "0.5", at(3, 3, 13, 15).isoformat()),
        ("warning", "0.75", at(3, 3, 15, 15).isoformat()),
        ("breach", "", at(3, 3, 17, 15).isoformat()),
    ]


def test_a_hold_removes_pending_instants_and_a_resume_brings_them_back_later(
    store_settings: DatabaseSettings, app: SupportLedger, world: World, db: ViewDatabase
) -> None:
    """A paused clock has no deadlines; resuming after two hours moves them by two hours."""
    open_ticket(app, world, "T-1")
    app.hold_ticket("T-1", at=at(3, 3, 10, 15))
    catch_up(store_settings, app, DeadlinesProjection)
    assert rows(db) == []
    app.resume_ticket("T-1", at=at(3, 3, 12, 15))
    catch_up(store_settings, app, DeadlinesProjection)
    assert [r[2] for r in rows(db)] == [
        at(3, 3, 15, 15).isoformat(),
        at(3, 3, 17, 15).isoformat(),
        at(3, 4, 9, 15).isoformat(),
    ]


def test_recorded_facts_and_a_response_clear_their_rows(
    store_settings: DatabaseSettings, app: SupportLedger, world: World, db: ViewDatabase
) -> None:
    """A reached warning and a recorded breach leave the view; a response clears the rest."""
    open_ticket(app, world, "T-1")
    open_ticket(app, world, "T-2")
    app.record_warning("T-1", share=Decimal("0.50"), at=at(3, 3, 13, 16), late=False)
    app.record_warning("T-1", share=Decimal("0.75"), at=at(3, 3, 15, 16), late=False)
    app.record_breach("T-1", at=at(3, 3, 17, 16), late=False)
    app.record_first_response("T-2", at=at(3, 3, 9, 30))
    catch_up(store_settings, app, DeadlinesProjection)
    assert rows(db) == []
    app.hold_ticket("T-1", at=at(3, 3, 18, 30))
    app.resume_ticket("T-1", at=at(3, 4, 9))
    catch_up(store_settings, app, DeadlinesProjection)
    assert rows(db) == []  # the breach stays recorded; nothing is due again


def test_term_ends_grants_and_lot_expiries_are_pending(
    store_settings: DatabaseSettings, app: SupportLedger, world: World, db: ViewDatabase
) -> None:
    """A renewal moves the lapse to the new term's end and schedules its grant."""
    app.renew_contract(world.basic, at=at(11, 3))
    catch_up(store_settings, app, DeadlinesProjection)
    pending = {(d.kind, d.aggregate_id, d.detail): d for d in DeadlinesView(db).all()}
    lapse = pending[("lapse", str(world.basic), "")]
    assert lapse.due_at.isoformat() == "2026-12-31T23:00:00+00:00"
    account = str(app.get_account(world.basic).id)
    assert pending[("term_grant", account, "2")].due_at.isoformat() == "2025-12-31T23:00:00+00:00"
    assert pending[("lot_expiry", account, "term-1-points")].contract_id == str(world.basic)
    assert DeadlinesView(db).counts() == {
        "warning": 0,
        "breach": 0,
        "lapse": 3,
        "term_grant": 1,
        "lot_expiry": 5,  # premium and advanced: points and sessions; basic: points (0 sessions)
        "lots_expiring": 3,  # the notices before the points lots expire
        "term_ending": 3,  # the notices before each contract's latest term ends
    }


def test_due_lists_what_the_scheduler_must_act_on_by_an_instant(
    store_settings: DatabaseSettings, app: SupportLedger, world: World, db: ViewDatabase
) -> None:
    """Only facts due by the instant are listed, earliest first."""
    open_ticket(app, world, "T-1")
    catch_up(store_settings, app, DeadlinesProjection)
    view = DeadlinesView(db)
    assert [d.kind for d in view.due(at(3, 3, 15, 15))] == ["warning", "warning"]
    assert view.next_due() is not None


# -- exactly once, one owner --------------------------------------------------------------------


def test_catching_up_twice_applies_nothing_twice(
    store_settings: DatabaseSettings, app: SupportLedger, world: World, db: ViewDatabase
) -> None:
    """The second run finds nothing new; the view still equals a rebuild."""
    open_ticket(app, world, "T-1")
    first = catch_up(store_settings, app, DeadlinesProjection)
    second = catch_up(store_settings, app, DeadlinesProjection)
    assert first[0].position == second[0].position == app.recorder.max_notification_id()
    assert verify(store_settings, app, DeadlinesProjection) == (first[0].position, [])


@pytest.mark.parametrize("batch_size", [1, 3, 1000], ids=["batch-1", "batch-3", "batch-1000"])
def test_batches_of_any_size_give_the_same_view(
    store_settings: DatabaseSettings,
    app: SupportLedger,
    world: World,
    db: ViewDatabase,
    batch_size: int,
) -> None:
    """The view equals a rebuild whatever the batch size."""
    for n in range(5):
        open_ticket(app, world, f"T-{n}", at=at(3, 3, 9 + n))
    app.hold_ticket("T-1", at=at(3, 3, 14))
    app.record_first_response("T-2", at=at(3, 3, 14))
    run_projections(store_settings, app, [DeadlinesProjection], once=True, batch_size=batch_size)
    position, differences = verify(store_settings, app, DeadlinesProjection)
    assert position == app.recorder.max_notification_id()
    assert differences == []


def test_a_second_runner_waits_and_takes_over(
    store_settings: DatabaseSettings, app: SupportLedger, world: World
) -> None:
    """While one worker owns the projection another cannot; after it stops, the other can."""
    first = Worker(DeadlinesProjection, store_settings, app)
    second = Worker(DeadlinesProjection, store_settings, app)
    try:
        assert first.try_own()
        assert not second.try_own()
        assert second.run(once=True).status == "owned_elsewhere"
        first.release()
        assert second.try_own()
    finally:
        for worker in (first, second):
            worker.release()
            worker.db.close()


def test_a_busy_projection_refuses_a_rebuild(
    store_settings: DatabaseSettings, app: SupportLedger, world: World
) -> None:
    """Rebuild and verify need the projection to themselves."""
    holder = Worker(DeadlinesProjection, store_settings, app)
    try:
        assert holder.try_own()
        with pytest.raises(ProjectionBusyError, match="deadlines"):
            rebuild(store_settings, app, DeadlinesProjection)
        with pytest.raises(ProjectionBusyError):
            verify(store_settings, app, DeadlinesProjection)
    finally:
        holder.release()
        holder.db.close()


def test_a_following_runner_applies_new_events_as_they_are_recorded(
    store_settings: DatabaseSettings, app: SupportLedger, world: World, db: ViewDatabase
) -> None:
    """A running worker picks up a new ticket without being restarted."""
    stop = threading.Event()
    runner = threading.Thread(
        target=run_projections,
        args=(store_settings, app, [DeadlinesProjection]),
        kwargs={"stop": stop, "poll_interval": 0.2},
    )
    runner.start()
    try:
        wait_until(
            lambda: (
                (s := read_state(db, "deadlines")) is not None
                and s.position == app.recorder.max_notification_id()
            )
        )
        open_ticket(app, world, "T-1")
        head = app.recorder.max_notification_id()
        wait_until(lambda: read_state(db, "deadlines").position == head)  # type: ignore[union-attr]
        assert len(rows(db)) == 3
    finally:
        stop.set()
        runner.join(timeout=30)
    assert not runner.is_alive()


# -- failures -----------------------------------------------------------------------------------


class FragileProjection(Projection):
    """A projection that fails on severity-2 tickets while `broken` is set."""

    name = "fragile"
    follows = (Ticket.Opened,)
    broken: ClassVar[bool] = True

    def ddl(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {self.table('fragile_rows')} (ticket_id TEXT PRIMARY KEY)"
        ]

    def tables(self) -> list[str]:
        return [self.table("fragile_rows")]

    def apply(self, tx: Transaction, events: list[tuple[int, Any]]) -> None:
        for _, event in events:
            if self.broken and event.severity == 2:
                msg = f"cannot handle severity 2 ({event.external_key})"
                raise ValueError(msg)
            tx.execute(
                f"INSERT INTO {self.table('fragile_rows')} VALUES (?)", (str(event.originator_id),)
            )


def test_a_failing_event_stops_its_projection_only_and_is_kept_in_status(
    store_settings: DatabaseSettings, app: SupportLedger, world: World, db: ViewDatabase
) -> None:
    """The fragile projection stops just before the bad event; the others reach the head."""
    open_ticket(app, world, "OK-1", severity=1)
    open_ticket(app, world, "BAD", severity=2)
    open_ticket(app, world, "OK-2", severity=3)
    bad = next(p for p, e in _events(app) if getattr(e, "external_key", "") == "BAD")
    FragileProjection.broken = True
    outcomes = {
        o.name: o for o in catch_up(store_settings, app, FragileProjection, DeadlinesProjection)
    }
    head = app.recorder.max_notification_id()
    assert outcomes["deadlines"].position == head
    assert outcomes["fragile"].status == "failed"
    assert outcomes["fragile"].position == bad - 1
    state = next(s for s in status(store_settings, app, [FragileProjection]))
    assert state.error_position == bad
    assert "cannot handle severity 2 (BAD)" in (state.error or "")
    assert db.read("SELECT COUNT(*) FROM fragile_rows")[0][0] == 1

    FragileProjection.broken = False  # the fix is deployed: a restart retries
    try:
        outcome = catch_up(store_settings, app, FragileProjection)[0]
    finally:
        FragileProjection.broken = True
    assert (outcome.status, outcome.position) == ("caught_up", head)
    assert next(s for s in status(store_settings, app, [FragileProjection])).error is None


def _events(app: SupportLedger) -> list[tuple[int, Any]]:
    return [
        (n.id, app.mapper.to_domain_event(n))
        for n in app.recorder.select_notifications(start=1, limit=10_000)
    ]


def test_a_changed_shape_rebuilds_the_view(
    store_settings: DatabaseSettings, app: SupportLedger, world: World, db: ViewDatabase
) -> None:
    """A projection whose tables changed starts again from the first event."""
    open_ticket(app, world, "T-1")
    catch_up(store_settings, app, DeadlinesProjection)

    class Reshaped(DeadlinesProjection):
        shape = DeadlinesProjection.shape + 1

    Reshaped.name = "deadlines"
    outcome = catch_up(store_settings, app, Reshaped)[0]
    assert outcome.position == app.recorder.max_notification_id()
    assert read_state(db, "deadlines").shape == Reshaped.shape  # type: ignore[union-attr]
    assert len(rows(db)) == 3


def test_rebuild_replays_everything_and_reports_progress(
    store_settings: DatabaseSettings, app: SupportLedger, world: World, db: ViewDatabase
) -> None:
    """A rebuild empties the view and replays the whole log into it."""
    open_ticket(app, world, "T-1")
    catch_up(store_settings, app, DeadlinesProjection)
    with db.transaction() as tx:
        tx.execute("DELETE FROM deadlines")  # a damaged view
    seen: list[int] = []
    position = rebuild(
        store_settings, app, DeadlinesProjection, progress=lambda done, _h: seen.append(done)
    )
    assert position == app.recorder.max_notification_id()
    assert seen[-1] == position
    assert len(rows(db)) == 3


# -- a runner killed mid-batch ------------------------------------------------------------------


def url_of(settings: DatabaseSettings) -> str:
    if settings.backend == "sqlite":
        return f"sqlite:///{settings.path}"
    password = f":{settings.password}" if settings.password else ""
    return (
        f"postgresql://{settings.user}{password}@{settings.host}:{settings.port}/"
        f"{settings.dbname}?schema={settings.schema}"
    )


@pytest.mark.slow
def run_once(settings: DatabaseSettings, app: SupportLedger) -> str:
    """A fresh deadlines worker run once (its connection closed after): how it ended."""
    worker = Worker(DeadlinesProjection, settings, app)
    try:
        return worker.run(once=True).status
    finally:
        worker.db.close()


def test_a_runner_killed_mid_batch_resumes_to_a_view_equal_to_a_rebuild(
    store_settings: DatabaseSettings, app: SupportLedger, world: World, db: ViewDatabase
) -> None:
    """SIGKILL between or inside transactions never leaves a half-applied batch behind."""
    for n in range(300):
        open_ticket(app, world, f"K-{n}", at=at(3, 3, 9) + timedelta(minutes=n), severity=1 + n % 3)
        if n % 4 == 0:
            app.record_first_response(f"K-{n}", at=at(3, 3, 9) + timedelta(minutes=n, seconds=30))
    head = app.recorder.max_notification_id()
    env = {**os.environ, "LEDGER_DATABASE_URL": url_of(store_settings), "LEDGER_LOG_FORMAT": "json"}
    ledger = str(Path(sys.executable).parent / "ledger")
    runner = subprocess.Popen(
        [ledger, "projections", "run", "deadlines", "--batch-size", "7", "--poll", "0.1"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until(
            lambda: (s := read_state(db, "deadlines")) is not None and s.position > head // 3
        )
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait(timeout=30)
    finally:
        if runner.poll() is None:
            runner.kill()
    killed_at = read_state(db, "deadlines").position  # type: ignore[union-attr]
    assert killed_at > 0
    # the server releases the dead runner's lock (PostgreSQL) or its lease runs out (SQLite)
    wait_until(lambda: run_once(store_settings, app) == "caught_up", timeout=60)
    assert read_state(db, "deadlines").position == head  # type: ignore[union-attr]
    assert verify(store_settings, app, DeadlinesProjection) == (head, [])


def ledger_cli(settings: DatabaseSettings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LEDGER_DATABASE_URL": url_of(settings), "LEDGER_LOG_FORMAT": "json"}
    return subprocess.run(  # noqa: PLW1510 - the exit code is what the test checks
        [str(Path(sys.executable).parent / "ledger"), *args],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.slow
def test_a_killed_runners_view_is_taken_over_at_once_and_a_live_one_is_refused(
    store_settings: DatabaseSettings, app: SupportLedger, world: World, db: ViewDatabase
) -> None:
    """While a runner lives, `run --once` and `verify` are refused (exit 1, naming it); once
    its process is SIGKILLed, both own the view well before a lease could have expired."""
    open_ticket(app, world, "L-1")
    env = {**os.environ, "LEDGER_DATABASE_URL": url_of(store_settings), "LEDGER_LOG_FORMAT": "json"}
    runner = subprocess.Popen(
        [str(Path(sys.executable).parent / "ledger"), "projections", "run", "deadlines",
         "--poll", "0.1"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        head = app.recorder.max_notification_id()
        wait_until(
            lambda: (
                (s := read_state(db, "deadlines")) is not None
                and s.position == head
                and s.owner is not None
                and f":{runner.pid}:" in s.owner
            )
        )
        once = ledger_cli(store_settings, "projections", "run", "deadlines", "--once")
        assert once.returncode == 1, once.stderr
        assert "deadlines: owned_elsewhere" in once.stdout
        assert f":{runner.pid}:" in once.stdout
        busy = ledger_cli(store_settings, "projections", "verify", "deadlines")
        assert busy.returncode == 1
        assert "projection_busy" in busy.stderr
        open_ticket(app, world, "L-2")
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait(timeout=30)
    finally:
        if runner.poll() is None:
            runner.kill()
    killed = time.monotonic()
    head = app.recorder.max_notification_id()
    # SQLite: the lease names a process of this host that is gone; PostgreSQL: the server ends
    # the dead session and its advisory lock as soon as it sees the connection closed.
    wait_until(lambda: run_once(store_settings, app) == "caught_up", timeout=LEASE_SECONDS)
    assert time.monotonic() - killed < LEASE_SECONDS / 3
    assert read_state(db, "deadlines").position == head  # type: ignore[union-attr]
    verified = ledger_cli(store_settings, "projections", "verify", "deadlines")
    assert verified.returncode == 0, verified.stderr
    once = ledger_cli(store_settings, "projections", "run", "deadlines", "--once")
    assert once.returncode == 0, once.stderr
    assert "deadlines: caught_up" in once.stdout


def test_a_lease_of_another_host_or_a_live_process_runs_until_it_expires(
    store_settings: DatabaseSettings, db: ViewDatabase
) -> None:
    """Only a process of this host known to be gone loses its lease early."""
    ensure_state(db, "deadlines", 1)
    now = datetime.now(UTC)
    later = now + timedelta(seconds=LEASE_SECONDS + 1)
    for holder in ["elsewhere.example:1:aaaaaa", f"{socket.gethostname()}:{os.getppid()}:bbbbbb"]:
        assert take_lease(db, "deadlines", holder, now, LEASE_SECONDS)
        assert not take_lease(db, "deadlines", "me:2:cccccc", now, LEASE_SECONDS)
        assert take_lease(db, "deadlines", "me:2:cccccc", later, LEASE_SECONDS)
        now, later = later + timedelta(seconds=LEASE_SECONDS + 1), later + timedelta(hours=1)


def test_tables_dropped_and_created_again_on_one_connection_exist(
    store_settings: DatabaseSettings, app: SupportLedger, world: World, db: ViewDatabase
) -> None:
    """A drop makes the next create run its DDL again (it is not remembered as done)."""
    projection = DeadlinesProjection(db)
    projection.create()
    with db.transaction() as tx:
        projection.drop(tx)
    projection.create()
    assert db.read("SELECT COUNT(*) FROM deadlines") == [(0,)]
