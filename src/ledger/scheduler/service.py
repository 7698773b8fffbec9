"""The scheduler: records warnings, breaches, lapses, grants and expiries when they fall due.

The pending instants come from the `deadlines` read model, which the scheduler keeps current
itself (it runs that projection when no other process does). `tick()` records every fact due
by the clock's `now`, in due order, in batches of one save each; each fact goes through its
aggregate's own command, so a fact is recorded once whatever happens: several schedulers, a
restart after SIGKILL, hours of downtime (missed facts are recorded in due order on start,
marked late with their delay). One scheduler leads (a session advisory lock on PostgreSQL, a
lease on SQLite); the others stand by and take over when it dies.

In production APScheduler is the timer: a one-shot job at the next due instant, moved whenever
the deadlines change, and a heartbeat every second as a safety net. Tests and the demo drive
`tick()` with a fake clock instead.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ledger.application import DueFact
from ledger.application.facts import FIRST_AFTER, NOT_DUE_YET
from ledger.domain.calendar import to_us
from ledger.logs import get_logger
from ledger.projections.base import owner_name
from ledger.projections.db import ViewDatabase, instant
from ledger.projections.deadlines import DeadlinesProjection, DeadlinesView
from ledger.projections.runner import Worker
from ledger.scheduler.clock import Clock, SystemClock
from ledger.store import lock_key

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ledger.application import FactOutcome, SupportLedger
    from ledger.projections.deadlines import Deadline
    from ledger.settings import DatabaseSettings

log = get_logger("ledger.scheduler")

SCHEDULER_LOCK = 0x1ED8
LEASE_SECONDS = 10.0
STATE_TABLE = "scheduler_state"
STATE_DDL = (
    f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} ("
    "name TEXT PRIMARY KEY, leader TEXT, lease_until BIGINT, heartbeat_at BIGINT, "
    "last_tick_at BIGINT, last_fact_at BIGINT, facts_recorded BIGINT NOT NULL DEFAULT 0)"
)
NAME = "scheduler"

# Reading ahead: the aggregates of the facts due in the next minute (2,000 facts at a time)
# are read into the process before they fall due, 100 aggregates in one read, at most 50 ms of
# reading per tick; the window is looked up again every 10 s, or as soon as the last 2,000
# are read when there were more. A scheduler that just started (or took over) would otherwise
# read each aggregate when its first fact falls due: seconds of lag at a busy hour.
LOOKAHEAD = timedelta(seconds=60)
AHEAD_LIMIT = 2000
AHEAD_EVERY = timedelta(seconds=10)
AHEAD_BUDGET = 0.05
# Remembered no-ops are checked against the view when there are this many of them.
SKIPPED_CHECK = 10_000


@dataclass(frozen=True)
class SchedulerStatus:
    """What `ledger scheduler status` shows."""

    leader: str | None
    heartbeat_at: datetime | None
    last_tick_at: datetime | None
    last_fact_at: datetime | None
    facts_recorded: int
    pending: dict[str, int]
    next_due: Deadline | None


def _key(deadline: Deadline) -> tuple[str, str, str, datetime]:
    return (deadline.kind, deadline.aggregate_id, deadline.detail, deadline.due_at)


@dataclass
class Scheduler:
    """Records due facts; leads or stands by; keeps the deadlines view current."""

    app: SupportLedger
    settings: DatabaseSettings
    clock: Clock = field(default_factory=SystemClock)
    batch_size: int = 200
    owner: str = field(default_factory=owner_name)
    keep_deadlines: bool = True
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.db = ViewDatabase(self.settings)
        self.view = DeadlinesView(self.db)
        self.db.create([STATE_DDL, *DeadlinesProjection(self.db).ddl()])
        with self.db.transaction() as tx:
            tx.execute(
                f"INSERT INTO {STATE_TABLE} (name) VALUES (?) ON CONFLICT (name) DO NOTHING",
                (NAME,),
            )
        self.leading = False
        self._deadlines: Worker | None = None
        # Facts found no longer due (their aggregate said so) while the view still lists them:
        # not tried again until the view drops them. Recorded facts leave the view.
        self._skipped: set[tuple[str, str, str, datetime]] = set()
        self._tick_lock = threading.Lock()
        self._ahead: list[DueFact] = []  # facts due soon whose aggregates are still to read
        self._ahead_looked: datetime | None = None
        self._ahead_from: datetime | None = None  # where the window goes on (None: it ended)

    # -- leadership ----------------------------------------------------------------------------

    def try_lead(self) -> bool:
        """Lead if no other scheduler does (renews the lease when already leading on SQLite)."""
        now = self.clock.now()
        if self.db.backend == "postgresql":
            if not self.leading:
                key = lock_key(SCHEDULER_LOCK, self.settings.schema)
                self.leading = self.db.try_advisory_lock(key)
            if self.leading:
                self._note(leader=self.owner, heartbeat_at=to_us(now))
            return self.leading
        now_us = to_us(now)
        with self.db.transaction() as tx:
            changed = tx.execute(
                f"UPDATE {STATE_TABLE} SET leader = ?, lease_until = ?, heartbeat_at = ? "
                "WHERE name = ? AND (leader IS NULL OR leader = ? OR lease_until < ?)",
                (
                    self.owner,
                    now_us + int(LEASE_SECONDS * 1_000_000),
                    now_us,
                    NAME,
                    self.owner,
                    now_us,
                ),
            )
        was = self.leading
        self.leading = changed == 1
        if self.leading and not was:
            log.info("scheduler_leading", owner=self.owner)
        return self.leading

    def resign(self) -> None:
        """Stop leading (a clean stop)."""
        if self.leading:
            with self.db.transaction() as tx:
                tx.execute(
                    f"UPDATE {STATE_TABLE} SET leader = NULL, lease_until = NULL "
                    "WHERE name = ? AND leader = ?",
                    (NAME, self.owner),
                )
            if self.db.backend == "postgresql":
                self.db.advisory_unlock(lock_key(SCHEDULER_LOCK, self.settings.schema))
            self.leading = False
        if self._deadlines is not None:
            self._drop_deadlines()

    def close(self) -> None:
        """Resign and close the connections."""
        try:
            self.resign()
        finally:
            self.db.close()

    def _note(self, **columns: Any) -> None:
        names = ", ".join(f"{name} = ?" for name in columns)
        with self.db.transaction() as tx:
            tx.execute(
                f"UPDATE {STATE_TABLE} SET {names} WHERE name = ?", (*columns.values(), NAME)
            )

    # -- the deadlines view --------------------------------------------------------------------

    def refresh(self) -> None:
        """Bring the deadlines view up to the log (when no other process keeps it)."""
        if not self.keep_deadlines:
            return
        if self._deadlines is None:
            worker = Worker(
                DeadlinesProjection, self.settings, self.app, stop=self.stop, clock=self.clock.now
            )
            if not worker.try_own():
                worker.db.close()
                return
            worker._prepare()
            self._deadlines = worker
        outcome = self._deadlines.catch_up()
        if outcome is not None:
            log.error("scheduler_deadlines_failed", status=outcome.status, error=outcome.error)
            self._drop_deadlines()

    def _drop_deadlines(self) -> None:
        """Give the deadlines projection up and close its worker's connection."""
        worker, self._deadlines = self._deadlines, None
        if worker is not None:
            try:
                worker.release()
            finally:
                worker.db.close()

    # -- recording due facts -------------------------------------------------------------------

    def tick(self, *, keep: bool = True) -> list[FactOutcome]:
        """Record every fact due by now, in due order; returns what happened to each (with
        `keep` False, nothing: the running service logs each fact, and a tick catching up
        100,000 facts held every outcome until it ended)."""
        with self._tick_lock:
            if not self.try_lead():
                return []
            self.refresh()
            now = self.clock.now()
            outcomes: list[FactOutcome] = []
            facts = recorded = 0
            # Attempted in this tick and still listed (the view not brought up yet, when
            # another process keeps it): a fact that has left the view cannot be read again,
            # so only those the last read listed are remembered. Not "those due from the
            # earliest listed instant on": 100,000 notices due at one instant were all kept,
            # and each read of a batch read every one attempted before it (quadratic).
            attempted: set[tuple[str, str, str, datetime]] = set()
            while not self.stop.is_set():
                # Facts found no longer due stay listed until their aggregate moves on (an
                # alert notice for a lot used up, until the lot expires): read past them.
                limit = self.batch_size * 2 + len(self._skipped) + len(attempted)
                listed = self.view.due(now, limit=limit)
                keys = [_key(d) for d in listed]
                attempted.intersection_update(keys)
                due = [
                    d
                    for d, k in zip(listed, keys, strict=True)
                    if k not in attempted and k not in self._skipped
                ]
                if not due:
                    break
                batch = due[: self.batch_size]
                results = self.app.record_due([_fact(d) for d in batch], at=now)
                for deadline, result in zip(batch, results, strict=True):
                    attempted.add(_key(deadline))
                    if not result.recorded and result.reason != NOT_DUE_YET:
                        self._skipped.add(_key(deadline))
                    self._log(result, now)
                facts += len(results)
                recorded += sum(1 for o in results if o.recorded)
                if keep:
                    outcomes.extend(results)
                self.refresh()
            columns: dict[str, Any] = {"last_tick_at": to_us(now)}
            if recorded:
                columns["last_fact_at"] = to_us(now)
            self._note(**columns)
            if recorded:
                with self.db.transaction() as tx:
                    tx.execute(
                        f"UPDATE {STATE_TABLE} SET facts_recorded = facts_recorded + ? "
                        "WHERE name = ?",
                        (recorded, NAME),
                    )
            self._forget_settled()
            log.debug(
                "scheduler_ticked",
                facts=facts,
                recorded=recorded,
                seconds=round((self.clock.now() - now).total_seconds(), 6),
                copies=len(self.app.work.saved),  # what the next facts need not read
                copies_mb=round(self.app.work.saved.held_bytes / 2**20, 1),
            )
            if not self.stop.is_set():
                self._read_ahead(now)
            return outcomes

    def _read_ahead(self, now: datetime) -> None:
        """Read a little of what the facts due soon will be recorded on (see LOOKAHEAD)."""
        if not self._ahead and (
            self._ahead_from is not None
            or self._ahead_looked is None
            or now - self._ahead_looked >= AHEAD_EVERY
        ):
            since = now if self._ahead_from is None else max(now, self._ahead_from)
            listed = self.view.due(now + LOOKAHEAD, limit=AHEAD_LIMIT, since=since)
            self._ahead_looked = now
            self._ahead_from = listed[-1].due_at if len(listed) == AHEAD_LIMIT else None
            self._ahead = [_fact(d) for d in listed]
        if self._ahead:
            done = self.app.read_ahead(self._ahead, budget=AHEAD_BUDGET)
            del self._ahead[:done]

    def _forget_settled(self) -> None:
        """Drop remembered no-ops the view no longer lists, asking the view about them alone
        (never reading the whole view); rarely needed: a recorded fact leaves the view, so
        only facts found no longer due are remembered."""
        if len(self._skipped) < SKIPPED_CHECK:
            return
        self._skipped = self.view.listed(self._skipped)

    def _log(self, outcome: FactOutcome, now: datetime) -> None:
        fact = outcome.fact
        lag = (now - fact.due_at).total_seconds()
        if outcome.recorded:
            log.info(
                "fact_recorded",
                kind=fact.kind,
                aggregate_id=str(fact.aggregate_id),
                detail=fact.detail,
                contract_id=str(fact.contract_id),
                due_at=fact.due_at.isoformat(),
                lag_seconds=round(lag, 6),
                late=outcome.late,
            )
        else:
            log.debug(
                "fact_skipped",
                kind=fact.kind,
                aggregate_id=str(fact.aggregate_id),
                reason=outcome.reason,
            )

    def next_due(self) -> datetime | None:
        """The next instant something falls due (None: nothing pending)."""
        deadline = self.view.next_due()
        return None if deadline is None else recordable_from(deadline)

    def status(self) -> SchedulerStatus:
        """Leader, heartbeat, last run, pending facts and the next one."""
        rows = self.db.read(
            f"SELECT leader, heartbeat_at, last_tick_at, last_fact_at, facts_recorded "
            f"FROM {STATE_TABLE} WHERE name = ?",
            (NAME,),
        )
        leader, heartbeat, last_tick, last_fact, count = (
            rows[0] if rows else (None, None, None, None, 0)
        )
        self.db.create(DeadlinesProjection(self.db).ddl())
        return SchedulerStatus(
            leader=leader,
            heartbeat_at=instant(heartbeat),
            last_tick_at=instant(last_tick),
            last_fact_at=instant(last_fact),
            facts_recorded=int(count or 0),
            pending=self.view.counts(),
            next_due=self.view.next_due(),
        )


def recordable_from(deadline: Deadline) -> datetime:
    """The first instant a tick records the fact at: its due instant, or for a breach the
    first instant after the deadline (a response at the deadline itself is in time)."""
    return deadline.due_at + (FIRST_AFTER if deadline.kind == "breach" else timedelta(0))


def _fact(deadline: Deadline) -> DueFact:
    return DueFact(
        kind=deadline.kind,
        aggregate_id=UUID(deadline.aggregate_id),
        detail=deadline.detail,
        contract_id=UUID(deadline.contract_id),
        due_at=deadline.due_at,
    )


@dataclass(frozen=True)
class Periodic:
    """A job the leading scheduler runs every `seconds` (the first run shortly after start):
    anchoring the chain's digest outside the database, for one."""

    name: str
    seconds: float
    run: Callable[[], None]


def run_scheduler(
    scheduler: Scheduler, *, heartbeat: float = 1.0, periodic: Sequence[Periodic] = ()
) -> None:
    """Run until `scheduler.stop` is set: APScheduler wakes `tick()` when facts fall due.

    A one-shot job runs at the next due instant (moved whenever the deadlines change); a
    heartbeat job renews leadership, keeps the deadlines view current and re-plans the one-shot
    job, so new or changed deadlines are taken up within `heartbeat` seconds. Stopping lets the
    tick in flight finish; nothing is recorded twice. Each `periodic` job runs on the leader
    only; a failure is logged (`scheduler_job_failed`) and the job runs again next time.
    """
    from apscheduler.schedulers.background import BackgroundScheduler  # noqa: PLC0415
    from apscheduler.triggers.date import DateTrigger  # noqa: PLC0415
    from apscheduler.triggers.interval import IntervalTrigger  # noqa: PLC0415

    # A wake-up that finds a tick already running is skipped on purpose (one tick at a time);
    # APScheduler reports that as a warning through the standard library's logging.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    timer = BackgroundScheduler(
        timezone=UTC,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
    )
    planned: list[datetime | None] = [None]
    busy = threading.Lock()  # held by the tick in flight (and its planning)

    def plan() -> None:
        if scheduler.stop.is_set():
            return
        try:
            due = scheduler.next_due()
        except Exception:
            log.exception("scheduler_plan_failed")
            return
        if due is None or due == planned[0]:
            return
        planned[0] = due
        timer.add_job(
            tick, DateTrigger(run_date=max(due, datetime.now(UTC))), id="due", replace_existing=True
        )

    def tick() -> None:
        with busy:
            if scheduler.stop.is_set():
                return
            try:
                scheduler.tick(keep=False)
            except Exception:
                log.exception("scheduler_tick_failed")
            planned[0] = None
            plan()

    timer.add_job(
        tick, IntervalTrigger(seconds=heartbeat), id="heartbeat", next_run_time=datetime.now(UTC)
    )
    for job in periodic:
        timer.add_job(
            _leader_only(scheduler, job),
            IntervalTrigger(seconds=job.seconds),
            id=job.name,
            next_run_time=datetime.now(UTC) + timedelta(seconds=2 * heartbeat),
        )
    timer.start()
    log.info("scheduler_started", owner=scheduler.owner)
    try:
        while not scheduler.stop.wait(0.5):
            pass
    finally:
        # Not shutdown(wait=True): it holds APScheduler's job-store lock while it waits for the
        # running job, and that job's planning needs the lock (a deadlock). Stop the timer,
        # then wait for the tick in flight ourselves.
        timer.shutdown(wait=False)
        with busy:
            scheduler.close()
        log.info("scheduler_stopped", owner=scheduler.owner)


def _leader_only(scheduler: Scheduler, job: Periodic) -> Callable[[], None]:
    def run() -> None:
        if scheduler.stop.is_set() or not scheduler.leading:
            return
        try:
            job.run()
        except Exception:  # logged; the job runs again next time
            log.exception("scheduler_job_failed", job=job.name)

    return run


def catch_up(scheduler: Scheduler, until: datetime, step: timedelta) -> list[FactOutcome]:
    """Tick a fake-clocked scheduler from its clock's now to `until` in steps (tests, demo)."""
    outcomes: list[FactOutcome] = []
    clock = scheduler.clock
    while clock.now() < until:
        outcomes.extend(scheduler.tick())
        clock.set(min(clock.now() + step, until))  # type: ignore[attr-defined]
    outcomes.extend(scheduler.tick())
    return outcomes
