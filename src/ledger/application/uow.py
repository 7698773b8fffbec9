"""The unit of work: what a use case loads to write, what it decides on, what it saves; one commit.

A use case runs as `work.run(name, attempt)`, where `attempt(uow)` loads through the unit of
work, calls the aggregates' commands and ends with `uow.commit(...)`: one `save()`, one
transaction, all its events or none. What it loads comes in three kinds:
- `load_for_write`: an aggregate the use case will save. It may start from this process's
  copy as last saved (no read); a stale copy fails the save on the aggregate's own version.
- `decide_on`: an aggregate the use case decides on without writing it (the release catalog,
  a contract's calendar). It comes from an immutable reference copy shared between use cases,
  and the commit checks that its version is still current (`expected_versions`), so a stale
  copy fails the commit the same way. `still_current` does the same for an aggregate loaded
  to write that the use case ends up not writing.
- `read`: a plain read of the store, checked by nothing (idempotency look-ups, queries).
`nothing_after` adds the condition that no event of some kinds concerning the use case was
recorded after a position of the log (see ledger.store.NothingAfter).

A commit refused on a version or a condition (IntegrityError) runs the use case again from
fresh reads, after a pause drawn at random from an interval that doubles with each conflict
(up to a cap), until it commits or a deadline passes (`WRITE_DEADLINE`): a hot aggregate
costs a client time, not an error. Within one process, writers of the same aggregate do not
race at all: the first aggregate a unit of work loads to write is locked for the attempt
(`WriterLocks`), so the next writer starts from the copy the last one saved, and only writers
of other processes can conflict. A refusal (LedgerError) that rests on a copy is checked
again on fresh reads before it is reported, since nothing committed would reveal that the copy
was stale. These rules live in `UnitsOfWork.run` and nowhere else.
"""

from __future__ import annotations

import random
import threading
import time
from typing import TYPE_CHECKING, Any, TypeVar

from eventsourcing.application import AggregateNotFoundError

from ledger.domain.errors import ConcurrentModificationError, LedgerError
from ledger.logs import get_logger
from ledger.store import IntegrityError, NothingAfter, ReferenceCopies, SavedAggregates

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from uuid import UUID

    from ledger.store import LedgerApplication

T = TypeVar("T")
log = get_logger("ledger.application")

WRITE_DEADLINE = 10.0  # seconds a use case keeps running again after write conflicts
BACKOFF_FIRST = 0.002  # seconds: the first pause is drawn from [0, 2 x this]
BACKOFF_CAP = 0.05  # seconds: no pause is drawn from a longer interval


class WriterLocks:
    """A lock per aggregate being written in this process, kept only while someone holds it.

    Reentrant, so a use case run inside another's attempt on the same thread never waits for
    itself. A unit of work waits only for the first aggregate it writes and merely tries the
    others, so two units never wait for each other (no deadlock); an aggregate it could not
    lock is still guarded by its version at commit.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[UUID, tuple[threading.RLock, int]] = {}

    def acquire(self, aggregate_id: UUID, *, timeout: float) -> bool:
        """Lock the aggregate, waiting up to `timeout` seconds (0: only try)."""
        with self._guard:
            lock, users = self._locks.get(aggregate_id) or (threading.RLock(), 0)
            self._locks[aggregate_id] = (lock, users + 1)
        if lock.acquire(blocking=timeout > 0, timeout=timeout if timeout > 0 else -1):
            return True
        self._leave(aggregate_id)
        return False

    def release(self, aggregate_id: UUID) -> None:
        """Unlock an aggregate this thread locked."""
        self._locks[aggregate_id][0].release()
        self._leave(aggregate_id)

    def _leave(self, aggregate_id: UUID) -> None:
        with self._guard:
            lock, users = self._locks[aggregate_id]
            if users == 1:
                del self._locks[aggregate_id]
            else:
                self._locks[aggregate_id] = (lock, users - 1)


class UnitOfWork:
    """One attempt of one use case: its loads, the versions its decision rests on, its commit."""

    def __init__(
        self, work: UnitsOfWork, attempt: int, *, fresh: bool, deadline: float | None = None
    ) -> None:
        self._work = work
        self.attempt = attempt  # 1 for the first run of the use case
        self.fresh = fresh  # read everything from the store, no copies
        self.deadline = deadline  # time.monotonic() by which the use case gives up
        self.locked: list[UUID] = []  # aggregates this unit locked in the process
        self.copies: set[UUID] = set()  # loaded from this process's copies
        self.loaded: dict[UUID, Any] = {}  # loaded to write (this unit's alone)
        self.expected: dict[UUID, int] = {}  # decided on: versions checked at commit
        self.nothing_after: NothingAfter | None = None
        self.committed = False

    def read(self, aggregate_id: UUID) -> Any | None:
        """The aggregate as stored now (None: not recorded), checked by nothing at commit."""
        try:
            return self._work.app.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    def load_for_write(self, aggregate_id: UUID) -> Any | None:
        """An aggregate the use case will save: this process's last-saved copy, or a read.

        The first one is locked against the process's other writers until the attempt ends.
        """
        self._lock(aggregate_id)
        found = None if self.fresh else self._work.saved.take(aggregate_id)
        if found is not None:
            self.copies.add(aggregate_id)
        else:
            found = self.read(aggregate_id)
        if found is not None:
            self.loaded[aggregate_id] = found
        return found

    def _lock(self, aggregate_id: UUID) -> None:
        if aggregate_id in self.locked:
            return
        wait = 0.0
        if not self.locked:
            left = WRITE_DEADLINE if self.deadline is None else self.deadline - time.monotonic()
            wait = max(left, 0.001)
        if self._work.writers.acquire(aggregate_id, timeout=wait):
            self.locked.append(aggregate_id)

    def unlock(self) -> None:
        """Let the process's next writer of these aggregates go (the attempt is over)."""
        while self.locked:
            self._work.writers.release(self.locked.pop())

    def decide_on(self, aggregate_id: UUID) -> Any | None:
        """An immutable copy to decide on without writing it; its version is checked at commit
        (0 when not recorded yet: then the commit requires that it still is not)."""
        references = self._work.references
        found = None if self.fresh else references.get(aggregate_id)
        if found is None:
            found = self.read(aggregate_id)
            if found is not None:
                references.put(found)
        self.expected[aggregate_id] = found.version if found is not None else 0
        self.copies.add(aggregate_id)
        return found

    def still_current(self, aggregate: Any) -> None:
        """Require at commit that an aggregate loaded and left unchanged is at its version."""
        self.expected[aggregate.id] = aggregate.version

    def require_nothing_after(self, condition: NothingAfter) -> None:
        """Require at commit that no event the condition names was recorded after its position."""
        self.nothing_after = condition

    def commit(self, *aggregates: Any) -> Any:
        """Save the aggregates' pending events in one transaction, with this unit's conditions.

        The saved aggregates are kept as this process's copies for the next use case; on a
        conflict they, and the copies decided on, are forgotten.
        """
        if self.committed:
            msg = "a unit of work commits once: one save per use case"
            raise RuntimeError(msg)
        work = self._work
        saving = {a.id for a in aggregates}
        expected = sorted((k, v) for k, v in self.expected.items() if k not in saving)
        kwargs: dict[str, Any] = {}
        if expected:
            kwargs["expected_versions"] = expected
        if self.nothing_after is not None:
            kwargs["nothing_after"] = self.nothing_after
        try:
            recordings = work.app.save(*aggregates, **kwargs)
        except IntegrityError:
            work.saved.forget(saving)
            work.references.forget(k for k, _ in expected)
            raise
        self.committed = True
        work.saved.put_all(aggregates)
        # Loaded to write and left as they were (a balance watch no threshold was crossed
        # on): kept too, or the next command would read them again.
        work.saved.put_all(
            a for i, a in self.loaded.items() if i not in saving and not a.pending_events
        )
        # A copy this process decides on must not outlive its own write (it would fail the
        # next commit that checks it, and cost that use case a rerun).
        work.references.forget(saving)
        return recordings


class UnitsOfWork:
    """Runs use cases in units of work on one application, keeping this process's copies."""

    def __init__(
        self,
        app: LedgerApplication,
        *,
        deadline: float = WRITE_DEADLINE,
        max_attempts: int | None = None,
    ) -> None:
        self.app = app
        self.deadline = deadline
        self.max_attempts = max_attempts  # None: as many as the deadline allows
        budget = app.copies_budget
        self.saved = SavedAggregates(budget=budget * 3 // 4)
        self.references = ReferenceCopies(budget=budget // 4)
        self.writers = WriterLocks()

    def run(self, use_case: str, attempt: Callable[[UnitOfWork], T]) -> T:
        """Run `attempt` in a new unit of work, again while its commit meets a write conflict
        (until the deadline), and once more on fresh reads when it refuses on copies."""
        fresh = False
        started = time.monotonic()
        deadline = started + self.deadline
        number = 0
        while True:
            number += 1
            uow = UnitOfWork(self, number, fresh=fresh, deadline=deadline)
            try:
                return attempt(uow)
            except IntegrityError:
                conflicted = True
            except LedgerError:
                if fresh or not uow.copies:
                    raise
                self.saved.forget(uow.copies)
                self.references.forget(uow.copies)
                fresh = True
                conflicted = False
            finally:
                uow.unlock()
            if not conflicted:
                continue
            left = deadline - time.monotonic()
            if left <= 0 or number == self.max_attempts:
                break
            log.debug("write_conflict_retried", use_case=use_case, attempt=number)
            ceiling = min(BACKOFF_CAP, BACKOFF_FIRST * 2**number)
            time.sleep(min(random.uniform(0, ceiling), left))  # noqa: S311 - jitter, not crypto
        raise ConcurrentModificationError(
            f"{use_case}: other writers kept changing the same records; gave up after "
            f"{number} attempts in {time.monotonic() - started:.1f} s, nothing was recorded"
        )

    def read_ahead(self, aggregate_ids: Iterable[UUID]) -> None:
        """Read aggregates the process will soon write into its copies, those not there yet
        all in one read (`LedgerApplication.load_many`).

        A read copy is as good as a saved one: stale or not, the save checks its version.
        """
        missing = [i for i in dict.fromkeys(aggregate_ids) if not self.saved.holds(i)]
        if missing:
            for aggregate in self.app.load_many(missing).values():
                self.saved.offer(aggregate)
