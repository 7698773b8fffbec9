"""Running projections: catch up, follow the log, fail alone, hand over, rebuild, verify.

Each projection has one worker at a time. On PostgreSQL a worker owns its projection by a
session advisory lock (released by the server the moment the worker's connection dies), on
SQLite by a lease it renews in every batch and while idle; the lease names the host and
process, so a runner of the same host takes over at once when that process is gone (from
another host, when the lease expires). A second runner waits and takes over when the first
stops or dies; `run(once=True)` does not wait: it reports the view as owned elsewhere.
A worker catches up in batches (rows and position in one transaction, guarded by the
position it started from), then follows the log: LISTEN/NOTIFY on PostgreSQL with a periodic
poll as a safety net, polling on SQLite. An event a projection cannot apply
stops that projection only; its position and the error are kept for `status`, and a restart
retries it.
"""

from __future__ import annotations

import gc
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ledger.domain.errors import LedgerError
from ledger.logs import get_logger
from ledger.projections.base import (
    REBUILDING,
    PositionMovedError,
    advance,
    all_states,
    ensure_state,
    finish_rebuild,
    holds_lease,
    owner_name,
    read_state,
    record_error,
    release_lease,
    reset,
    set_owner,
    take_lease,
)
from ledger.projections.checkpointer import Checkpointer
from ledger.projections.checkpoints import DDL as CHECKPOINT_DDL
from ledger.projections.db import ViewDatabase
from ledger.projections.reader import (
    BULK_COLLECTION_THRESHOLD,
    Reading,
    extracts_of,
    read_ahead,
    topics_of,
)
from ledger.store import StoreUnavailableError, lock_key

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from ledger.application import SupportLedger
    from ledger.projections.base import Projection, State
    from ledger.settings import DatabaseSettings
    from ledger.store import Notification

log = get_logger("ledger.projections")

PROJECTION_LOCK = 0x1ED7
LEASE_SECONDS = 15.0


class OwnershipLostError(Exception):
    """Another worker took the projection over (nothing was written)."""


class ProjectionBusyError(LedgerError):
    """Another runner holds the projection; stop it first or wait."""

    code = "projection_busy"
    kind = "conflict"


class ProjectionFailedError(LedgerError):
    """A projection stopped at an event it could not apply; its status names the event."""

    code = "projection_failed"
    kind = "conflict"


class UnknownProjectionError(LedgerError):
    """No projection has that name."""

    code = "unknown_projection"
    kind = "not_found"


_bulk = {"runs": 0, "threshold": 0}  # replays running in this process, the threshold before
_bulk_lock = threading.Lock()


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Collect cycles less often while a bulk replay runs (`BULK_COLLECTION_THRESHOLD`); the
    threshold as it was once the last replay of the process ends. Process-wide, as the collector
    is: a live runner's threads in the same process collect less often meanwhile too, which only
    delays cycles."""
    with _bulk_lock:
        if _bulk["runs"] == 0:
            _bulk["threshold"] = gc.get_threshold()[0]
            gc.set_threshold(max(_bulk["threshold"], BULK_COLLECTION_THRESHOLD))
        _bulk["runs"] += 1
    try:
        yield
    finally:
        with _bulk_lock:
            _bulk["runs"] -= 1
            if _bulk["runs"] == 0:
                gc.set_threshold(_bulk["threshold"])


def utcnow() -> datetime:
    """The wall clock (read once per batch and passed down)."""
    return datetime.now(UTC)


@dataclass
class Outcome:
    """How a worker ended."""

    name: str
    position: int = 0
    status: str = "stopped"  # stopped | caught_up | failed | owned_elsewhere
    error: str | None = None


@dataclass
class Worker:
    """Runs one projection: owns it, catches up, follows, and stops on request."""

    projection_class: type[Projection]
    settings: DatabaseSettings
    app: SupportLedger
    batch_size: int = 1000
    poll_interval: float = 1.0
    stop: threading.Event = field(default_factory=threading.Event)
    clock: Callable[[], datetime] = utcnow
    owner: str = field(default_factory=owner_name)
    on_batch: Callable[[int], None] | None = None  # called with the new position
    checkpoint_every: int | None = None  # None: LEDGER_CHECKPOINT_EVERY (0: no checkpoints)

    def __post_init__(self) -> None:
        self.name = self.projection_class.name
        self.topics = self.projection_class.topics()
        self.db = ViewDatabase(self.settings)
        self.projection = self.projection_class(self.db)
        self.checkpoints = Checkpointer.of(self.projection, self.checkpoint_every)
        self.position = 0
        self._owned = False
        self._listening = False
        self._renewed_at = time.monotonic()

    # -- ownership -----------------------------------------------------------------------------

    @property
    def _lock_key(self) -> int:
        return lock_key(PROJECTION_LOCK, f"{self.settings.schema}:{self.name}")

    def try_own(self) -> bool:
        """Take the projection if no other worker holds it."""
        ensure_state(self.db, self.name, self.projection_class.shape)
        if self.db.backend == "postgresql":
            if not self.db.try_advisory_lock(self._lock_key):
                return False
            set_owner(self.db, self.name, self.owner)
        elif not take_lease(self.db, self.name, self.owner, self.clock(), LEASE_SECONDS):
            return False
        self._owned = True
        return True

    def wait_to_own(self, *, timeout: float | None = None) -> bool:
        """Wait until the projection can be taken (or the worker is stopped / times out)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        announced = False
        while not self.stop.is_set():
            if self.try_own():
                if announced:
                    log.info("projection_taken_over", projection=self.name, owner=self.owner)
                return True
            if not announced:
                state = read_state(self.db, self.name)
                log.info(
                    "projection_waiting_for_owner",
                    projection=self.name,
                    held_by=state.owner if state else None,
                )
                announced = True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            self.stop.wait(min(self.poll_interval, 1.0))
        return False

    def release(self) -> None:
        """Give the projection up (a clean stop)."""
        if not self._owned:
            return
        self._owned = False
        try:
            if self.db.backend == "postgresql":
                set_owner(self.db, self.name, None)
                self.db.advisory_unlock(self._lock_key)
            else:
                release_lease(self.db, self.name, self.owner)
        except StoreUnavailableError:
            pass  # the connection is gone, and with it the lock
        finally:
            self.db.close()

    # -- running -------------------------------------------------------------------------------

    def run(self, *, once: bool = False) -> Outcome:
        """Own the projection, catch up, then follow the log until stopped (or once caught up)."""
        try:
            if once:
                if not self.try_own():
                    state = read_state(self.db, self.name)
                    log.info(
                        "projection_owned_elsewhere",
                        projection=self.name,
                        owner=state and state.owner,
                    )
                    holder = state.owner if state and state.owner else "another runner"
                    return Outcome(
                        self.name,
                        state.position if state else 0,
                        "owned_elsewhere",
                        f"run by {holder}: that runner keeps it current",
                    )
            elif not self.wait_to_own():
                return Outcome(self.name, self.position, "stopped")
            self._prepare()
            log.info(
                "projection_started", projection=self.name, position=self.position, owner=self.owner
            )
            while not self.stop.is_set():
                outcome = self.catch_up()
                if outcome is not None:
                    return outcome
                if once:
                    return Outcome(self.name, self.position, "caught_up")
                self._renew_lease()
                self._wait_for_events()
            return Outcome(self.name, self.position, "stopped")
        except OwnershipLostError:
            log.warning("projection_ownership_lost", projection=self.name)
            return Outcome(self.name, self.position, "owned_elsewhere")
        finally:
            self.release()

    def _prepare(self) -> None:
        state = ensure_state(self.db, self.name, self.projection_class.shape)
        if state.shape != self.projection_class.shape:
            log.info(
                "projection_shape_changed",
                projection=self.name,
                stored=state.shape,
                current=self.projection_class.shape,
            )
            self._reset()
        else:
            self.projection.create()
        self.position = read_state(self.db, self.name).position  # type: ignore[union-attr]
        if self.checkpoints is not None:
            self.checkpoints.prepare(self.db, self.position)

    def _reset(self, shape: int | None = None) -> None:
        if self.checkpoints is not None:
            self.db.create(CHECKPOINT_DDL)
        with self.db.transaction() as tx:
            if self.checkpoints is not None:
                self.checkpoints.clear(tx)  # derived from the rows dropped here
            self.projection.drop(tx)
            reset(tx, self.name, self.projection_class.shape if shape is None else shape)
        self.projection.create()
        self.position = 0
        if self.checkpoints is not None:
            self.checkpoints.prepare(self.db, 0)

    def replay(
        self, *, stop_at: int, progress: Callable[[int, int], None] | None = None
    ) -> Outcome | None:
        """A rebuild: reset the view and apply the log up to `stop_at` in its rebuilding mode.

        Only the events the view follows are read, a batch ahead and decoded in a thread of
        their own while the view writes the batch before. The shape stays `REBUILDING` until
        the transaction that finishes the view: a rebuild cut short leaves a view the next
        runner starts again from scratch. An Outcome when it must stop."""
        self._reset(REBUILDING)
        with self.db.transaction() as tx:
            self._check_owner(tx)
            self.projection.rebuild_started(tx)
        try:
            with fewer_collections():
                for batch, events, end in self.read_ahead(self.position, stop_at):
                    if self.stop.is_set():
                        return Outcome(self.name, self.position, "stopped")
                    failure = self._apply_batch(batch, events, end)
                    if failure is not None:
                        return failure
                    if progress is not None:
                        progress(self.position, stop_at)
            with self.db.transaction() as tx:
                self._check_owner(tx)
                self.projection.rebuild_finished(tx)
                finish_rebuild(
                    tx, self.name, self.position, stop_at,
                    shape=self.projection_class.shape, now=self.clock(),
                )  # fmt: skip
        except (OwnershipLostError, PositionMovedError) as exc:
            raise OwnershipLostError(str(exc)) from exc
        finally:
            self.projection.rebuilding = False
        self.position = stop_at
        if progress is not None:
            progress(stop_at, stop_at)
        return None

    def read_ahead(
        self, after: int, stop_at: int
    ) -> Iterator[tuple[Sequence[Notification] | None, list[tuple[int, Any]], int]]:
        """The notifications after `after` up to `stop_at` that the projection follows, in
        batches with their extracts (`Projection.extract`; the decoded events by default) and
        the position each batch takes the view to; each batch is read and decoded while the
        caller applies the one before (reading waits on the database, applying too), in a
        thread, or for a large rebuild of a view that folds extracts on PostgreSQL in a
        process of its own (`reader.py`). With checkpoints, no batch reads past a multiple of
        their interval, and one that reaches it ends there, events or not: the checkpoints of
        a rebuild fall on the multiples, as the live runner's do, and an as-of replay from one
        applies only the events after the multiple."""
        if after >= stop_at:
            return
        checkpoints = self.checkpoints
        every = checkpoints.every if checkpoints is not None and checkpoints.enabled else 0
        reading = Reading(self.projection_class, after, stop_at, self.batch_size, every)
        yield from read_ahead(self.app, reading, backend=self.db.backend)

    def head(self) -> int:
        """The position of the newest event in the log."""
        return int(self.app.recorder.max_notification_id() or 0)

    def catch_up(
        self, *, stop_at: int | None = None, progress: Callable[[int, int], None] | None = None
    ) -> Outcome | None:
        """Apply every event after the position (up to `stop_at`); an Outcome when it must stop."""
        while not self.stop.is_set():
            limit = (
                self.batch_size
                if stop_at is None
                else min(self.batch_size, stop_at - self.position)
            )
            if limit <= 0:
                return None
            batch = self.app.recorder.select_notifications(
                start=self.position + 1, limit=limit, stop=stop_at
            )
            if not batch:
                return None
            failure = self._apply_batch(batch)
            if failure is not None:
                return failure
            if progress is not None:
                progress(self.position, stop_at or self.head())
        return None

    def _decode(self, batch: Sequence[Notification]) -> list[tuple[int, Any]]:
        return extracts_of(self.app, self.projection_class, batch)

    def _apply_batch(
        self,
        batch: Sequence[Notification] | None,
        events: list[tuple[int, Any]] | None = None,
        end: int | None = None,
    ) -> Outcome | None:
        """Apply a batch (its notifications, or None when only its extracts were read) and
        move the position to `end` (default: its last notification's)."""
        start = self.position
        if end is None:
            assert batch is not None  # noqa: S101 - a batch without notifications has its end
            end = batch[-1].id
        try:
            if events is None:
                assert batch is not None  # noqa: S101 - the extracts come with no notifications
                events = self._decode(batch)
            with self.db.transaction() as tx:
                self._check_owner(tx)
                if events:
                    self.projection.fold(tx, events)
                if self.checkpoints is not None:
                    self.checkpoints.after_batch(tx, start, end, events)
                advance(tx, self.name, start, end, self.clock())
        except (OwnershipLostError, PositionMovedError) as exc:
            raise OwnershipLostError(str(exc)) from exc
        except StoreUnavailableError:
            raise
        except Exception:  # noqa: BLE001 - any failure of this projection stops it alone
            if batch is None:  # read in a process: the notifications are read again
                batch = self.app.recorder.select_notifications(
                    start=start + 1,
                    limit=max(end - start, 1),
                    stop=end,
                    topics=topics_of(self.projection_class),
                )
            return self._isolate_failure(batch)
        self.position = end
        log.debug("projection_batch", projection=self.name, position=end, events=len(events))
        if self.on_batch is not None:
            self.on_batch(end)
        return None

    def _check_owner(self, tx: Any) -> None:
        if self.db.backend == "sqlite" and not holds_lease(
            tx, self.name, self.owner, self.clock(), LEASE_SECONDS
        ):
            msg = f"the lease on {self.name} was taken by another runner"
            raise OwnershipLostError(msg)

    def _renew_lease(self) -> None:
        """Keep the SQLite lease while idle (batches renew it too): a quiet runner is not gone."""
        if self.db.backend != "sqlite":
            return
        now = time.monotonic()
        if now - self._renewed_at < LEASE_SECONDS / 3:
            return
        with self.db.transaction() as tx:
            self._check_owner(tx)
        self._renewed_at = now

    def _isolate_failure(self, batch: Sequence[Notification]) -> Outcome:
        """Apply the batch one event at a time to find (and keep) the event that fails."""
        for notification in batch:
            start = self.position
            try:
                events = self._decode([notification])
                with self.db.transaction() as tx:
                    self._check_owner(tx)
                    if events:
                        self.projection.fold(tx, events)
                    if self.checkpoints is not None:
                        self.checkpoints.after_batch(tx, start, notification.id, events)
                    advance(tx, self.name, start, notification.id, self.clock())
            except (OwnershipLostError, PositionMovedError) as exc:
                raise OwnershipLostError(str(exc)) from exc
            except StoreUnavailableError:
                raise
            except Exception as exc:  # noqa: BLE001 - recorded and reported, the projection stops
                error = f"{type(exc).__name__}: {exc}"
                record_error(self.db, self.name, notification.id, error, self.clock())
                log.error(  # noqa: TRY400 - the traceback is a field of the event
                    "projection_failed",
                    projection=self.name,
                    position=notification.id,
                    topic=notification.topic,
                    error=error,
                    traceback=traceback.format_exc(),
                )
                return Outcome(self.name, self.position, "failed", error)
            self.position = notification.id
        return Outcome(self.name, self.position, "failed", "a batch failed but no single event did")

    def _wait_for_events(self) -> None:
        """Block until new events are announced or the poll interval passes."""
        if self.db.backend != "postgresql":
            self.stop.wait(self.poll_interval)
            return
        conn = self.db.conn
        if not self._listening:
            conn.execute(f'LISTEN "{self.app.recorder.channel_name}"')  # type: ignore[attr-defined]
            self._listening = True
        for _ in conn.notifies(timeout=self.poll_interval, stop_after=1):
            break


# -- what the CLI runs ----------------------------------------------------------------------------


def run_projections(
    settings: DatabaseSettings,
    app: SupportLedger,
    projections: Sequence[type[Projection]],
    *,
    once: bool = False,
    stop: threading.Event | None = None,
    batch_size: int = 1000,
    poll_interval: float = 1.0,
    checkpoint_every: int | None = None,
) -> list[Outcome]:
    """Run the projections, each in a thread of its own, until stopped (or caught up)."""
    stop = stop or threading.Event()
    workers = [
        Worker(
            p,
            settings,
            app,
            batch_size=batch_size,
            poll_interval=poll_interval,
            stop=stop,
            checkpoint_every=checkpoint_every,
        )
        for p in projections
    ]
    outcomes: dict[str, Outcome] = {}

    def run(worker: Worker) -> None:
        delay = 1.0
        while True:
            try:
                outcomes[worker.name] = worker.run(once=once)
            except Exception as exc:
                if not isinstance(exc, StoreUnavailableError):
                    log.exception("projection_worker_crashed", projection=worker.name)
                    outcomes[worker.name] = Outcome(
                        worker.name, worker.position, "failed", str(exc)
                    )
                    return
                log.error(  # noqa: TRY400 - an expected outage, no traceback wanted
                    "projection_store_unavailable", projection=worker.name, error=str(exc)
                )
                worker.db.close()
                if once or stop.wait(delay):
                    outcomes[worker.name] = Outcome(
                        worker.name, worker.position, "failed", str(exc)
                    )
                    return
                delay = min(delay * 2, 30.0)
                continue
            if outcomes[worker.name].status == "owned_elsewhere" and not once and not stop.is_set():
                continue  # lost it: wait to own it again
            return

    threads = [
        threading.Thread(target=run, args=(w,), name=f"projection-{w.name}") for w in workers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(timeout=0.5)
    for worker in workers:
        worker.db.close()
    return [outcomes[w.name] for w in workers]


def rebuild(
    settings: DatabaseSettings,
    app: SupportLedger,
    projection: type[Projection],
    *,
    wait: float = 0.0,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int = 5000,
    checkpoint_every: int | None = None,
) -> int:
    """Drop a projection's tables (and checkpoints) and replay the whole log into them (making
    the checkpoints anew); returns the position."""
    worker = Worker(
        projection, settings, app, batch_size=batch_size, checkpoint_every=checkpoint_every
    )
    if not worker.wait_to_own(timeout=wait):
        state = read_state(worker.db, worker.name)
        worker.db.close()
        raise ProjectionBusyError(
            f"projection {worker.name} is run by {state.owner if state else 'another runner'}; "
            "stop that runner (or pass --wait SECONDS) and rebuild again"
        )
    try:
        log.info("projection_rebuilding", projection=worker.name)
        outcome = worker.replay(stop_at=worker.head(), progress=progress)
        if outcome is not None:
            raise UnknownProjectionError(  # pragma: no cover - rebuilds of broken projections
                f"rebuilding {worker.name} stopped at {outcome.position}: {outcome.error}"
            )
        log.info("projection_rebuilt", projection=worker.name, position=worker.position)
        return worker.position
    finally:
        worker.release()


@dataclass(frozen=True)
class Difference:
    """How a live table differs from its rebuild at the same position."""

    table: str
    only_live: int
    only_rebuilt: int
    examples: list[tuple[Any, ...]]


def verify(
    settings: DatabaseSettings,
    app: SupportLedger,
    projection: type[Projection],
    *,
    wait: float = 0.0,
    batch_size: int = 5000,
) -> tuple[int, list[Difference]]:
    """Rebuild a projection into shadow tables at its current position and compare.

    Returns the position compared and the differences (none when the view equals a rebuild).
    """
    worker = Worker(projection, settings, app, batch_size=batch_size)
    if not worker.wait_to_own(timeout=wait):
        worker.db.close()
        raise ProjectionBusyError(
            f"projection {worker.name} is running; verification compares a still view: stop the "
            "runner (or pass --wait SECONDS)"
        )
    shadow = projection(worker.db, prefix=f"verify_{worker.owner.split(':')[-1]}_")
    try:
        state = read_state(worker.db, worker.name)
        target = state.position if state else 0
        shadow.create()  # built as a rebuild builds the view
        with worker.db.transaction() as tx:
            shadow.rebuild_started(tx)
        with fewer_collections():
            for _, events, _ in worker.read_ahead(0, target):
                if events:
                    with worker.db.transaction() as tx:
                        shadow.fold(tx, events)
        with worker.db.transaction() as tx:
            shadow.rebuild_finished(tx)
        differences = []
        for live, rebuilt in zip(worker.projection.tables(), shadow.tables(), strict=True):
            with worker.db.transaction() as tx:
                only_live = tx.fetchall(f"SELECT * FROM {live} EXCEPT SELECT * FROM {rebuilt}")
                only_rebuilt = tx.fetchall(f"SELECT * FROM {rebuilt} EXCEPT SELECT * FROM {live}")
            if only_live or only_rebuilt:
                differences.append(
                    Difference(
                        live, len(only_live), len(only_rebuilt), (only_live + only_rebuilt)[:5]
                    )
                )
        return target, differences
    finally:
        try:
            with worker.db.transaction() as tx:
                shadow.drop(tx)
        finally:
            worker.release()


@dataclass(frozen=True)
class Status:
    """Where a projection stands."""

    name: str
    position: int
    head: int
    lag: int
    updated_at: datetime | None
    owner: str | None
    error: str | None
    error_position: int | None
    error_at: datetime | None


def status(
    settings: DatabaseSettings, app: SupportLedger, projections: Sequence[type[Projection]]
) -> list[Status]:
    """Position, head, lag, owner and last error of every projection."""
    db = ViewDatabase(settings)
    try:
        states: dict[str, State] = {s.name: s for s in all_states(db)}
    finally:
        db.close()
    head = int(app.recorder.max_notification_id() or 0)
    result = []
    for projection in projections:
        state = states.get(projection.name)
        position = state.position if state else 0
        result.append(
            Status(
                name=projection.name,
                position=position,
                head=head,
                lag=max(head - position, 0),
                updated_at=state.updated_at if state else None,
                owner=state.owner if state else None,
                error=state.error if state else None,
                error_position=state.error_position if state else None,
                error_at=state.error_at if state else None,
            )
        )
    return result


def settled(
    db: ViewDatabase,
    settings: DatabaseSettings,
    app: SupportLedger,
    projection: type[Projection],
    *,
    catch_up: bool,
) -> tuple[int, int] | None:
    """The projection's position and the head of the log, read on `db` (a connection the
    caller holds), when the view needs no catching up: it is at the head, the caller reads it
    as it stands, or a runner owns it (and keeps it current). None when a catch-up is due (or
    the view must first be rebuilt, or stopped on an error): `run_projections` then decides.
    """
    state = read_state(db, projection.name)
    head = int(app.recorder.max_notification_id() or 0)
    if state is None or state.shape != projection.shape or state.error is not None:
        return None
    if not catch_up or state.position >= head:
        return state.position, head
    if db.backend == "postgresql":
        key = lock_key(PROJECTION_LOCK, f"{settings.schema}:{projection.name}")
        if db.try_advisory_lock(key):  # nobody runs it: the caller catches it up
            db.advisory_unlock(key)
            return None
        return state.position, head
    running = state.owner is not None and state.lease_until is not None
    if running and state.lease_until is not None and state.lease_until > utcnow():
        return state.position, head
    return None
