"""LedgerApplication: the library's `Application` on ledger's store; its only overrides.

- `construct_factory`: the library's factory, refused when it would skip ledger's recorders
  (`tune_factory`: the database-function insert bypasses the read-version check).
- `_take_snapshots`: snapshots are taken from the objects being saved, not read back from the
  store, at points shifted per aggregate (`snapshot_due`), so that aggregates moving in step
  do not all snapshot in one save (the scheduler benchmark stalled 2 s every 45 s on that).
  They are written after the events' commit, as the library does: a snapshot is a cache of
  the events, so one missing after a crash costs a longer read, never a wrong state.
  Without a snapshot key nothing is snapshotted.
- `_record`: with a recording clock (`recording_clock=`, the demo's fake clock), the events
  are stamped with its instant as they are recorded, and the aggregates in hand take the same
  `created_on`/`modified_on`, so an as-of replay of the demo's store sees its story's
  instants. Without one (production) the library's stamp, the wall clock, stays.
- `construct_snapshot_store`: the snapshot store seals what it writes and reads only what
  checks under `LEDGER_SNAPSHOT_KEY` (`ledger.store.snapshots`): a snapshot decides commands,
  so one changed in the database must not.
- `load_many`: many aggregates read in two queries for all of them (their newest sealed
  snapshots, then the events after each), reconstructed as the library's repository does
  one aggregate (`Repository._reconstruct_aggregate`: the snapshot, then its events, through
  `project_aggregate`); the scheduler reads ahead with it.
The save itself is the library's `save()`: the unit of work passes `expected_versions` and
`nothing_after` to it as keyword arguments, which reach the recorder. Each
library method named here has its fingerprint in `ledger.store.fingerprints`.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import chain
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, project_aggregate

from ledger.settings import COPIES_MB, SNAPSHOT_KEY, parse_copies_mb, parse_snapshot_key
from ledger.store.connect import schema_lock
from ledger.store.recorders import PostgresLedgerRecorder, SQLiteLedgerRecorder
from ledger.store.setup import tune_factory
from ledger.store.snapshots import SignedSnapshots, SnapshotSeal

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from datetime import datetime

    from eventsourcing.application import ProcessingEvent
    from eventsourcing.persistence import EventStore, InfrastructureFactory, Recording, StoredEvent
    from eventsourcing.utils import Environment

    from ledger.settings import DatabaseSettings


def snapshot_due(aggregate_id: UUID, version: int, count: int, interval: int) -> bool:
    """Whether a save of `count` events, up to `version`, crosses a snapshot point.

    The points lie every `interval` versions, shifted per aggregate by its id: aggregates that
    move in step (every account granted its new term on the same morning, every lot of a
    batch expiring together) reach them in different saves, so no one save writes hundreds
    of snapshots (the scheduler benchmark stalled for 2 s every 45 s on that).
    """
    shift = aggregate_id.int % interval
    return (version + shift) // interval > (version - count + shift) // interval


class LedgerApplication(Application[UUID]):
    """The library's application on ledger's store, snapshotting from the objects in hand."""

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        settings: DatabaseSettings | None = None,
        recording_clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.recording_clock = recording_clock
        merged = dict(settings.eventsourcing_env()) if settings is not None else {}
        merged.update(env or {})
        with schema_lock(settings):
            super().__init__(env=merged)

    def construct_factory(self, env: Environment) -> InfrastructureFactory[Any]:
        """The library's factory for the configured store, refused if it skips our recorders."""
        return tune_factory(super().construct_factory(env))

    def construct_snapshot_store(self) -> EventStore[UUID]:
        """The library's snapshot store, sealing under `LEDGER_SNAPSHOT_KEY` and reading only
        what its seal proves (nothing at all without a key)."""
        key = parse_snapshot_key(self.env.get(SNAPSHOT_KEY))
        recorder = self.factory.aggregate_recorder(purpose="snapshots")
        return SignedSnapshots(self.mapper, recorder, None if key is None else SnapshotSeal(key))

    @property
    def copies_budget(self) -> int:
        """The bytes this process may keep aggregates in between commands (`LEDGER_COPIES_MB`):
        three quarters for the copies it writes, a quarter for those it decides on."""
        return int(parse_copies_mb(self.env.get(COPIES_MB)) * 1024 * 1024)

    @property
    def snapshots_rejected(self) -> int:
        """How many snapshots this application ignored because their seal did not check."""
        return self.snapshots.rejected if isinstance(self.snapshots, SignedSnapshots) else 0

    def stored_snapshots(self) -> list[StoredEvent]:
        """Every stored snapshot, seal removed and not checked (for `audit verify`)."""
        return self.snapshots.stored() if isinstance(self.snapshots, SignedSnapshots) else []

    def load_many(self, aggregate_ids: Iterable[UUID]) -> dict[UUID, Any]:
        """The aggregates as stored now, by id (those never recorded left out): the newest
        sealed snapshot of each in one query, the events after it in another, each
        aggregate then reconstructed as the library's repository reconstructs one. On the
        in-memory store, one `repository.get` each."""
        wanted = list(dict.fromkeys(aggregate_ids))
        found: dict[UUID, Any] = {}
        if not isinstance(self.recorder, (SQLiteLedgerRecorder, PostgresLedgerRecorder)):
            for aggregate_id in wanted:
                try:
                    found[aggregate_id] = self.repository.get(aggregate_id)
                except AggregateNotFoundError:
                    continue
            return found
        snapshots = (
            self.snapshots.newest_of(wanted) if isinstance(self.snapshots, SignedSnapshots) else {}
        )
        after = {i: snapshots[i].originator_version if i in snapshots else 0 for i in wanted}
        stored: defaultdict[UUID, list[StoredEvent]] = defaultdict(list)
        for event in self.recorder.select_events_of(after):
            stored[UUID(str(event.originator_id))].append(event)
        for aggregate_id in wanted:
            # Decoded one aggregate at a time, each event dropped once applied: a read of
            # hundreds of aggregates never holds all their decoded events at once.
            start = [snapshots.pop(aggregate_id)] if aggregate_id in snapshots else []
            own = map(self.mapper.to_domain_event, stored.pop(aggregate_id, ()))
            aggregate: Any = project_aggregate(None, chain(start, own))
            if aggregate is not None:
                found[aggregate_id] = aggregate
        return found

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        """Record the events, stamped with the recording clock's instant when there is one."""
        if self.recording_clock is not None:
            restamp(processing_event, self.recording_clock())
        return super()._record(processing_event)

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        """Snapshot what falls due from the objects just saved, after the events' commit."""
        if not isinstance(self.snapshots, SignedSnapshots) or self.snapshots.seal is None:
            return
        counts: dict[UUID, int] = {}
        for event in processing_event.events:
            counts[event.originator_id] = counts.get(event.originator_id, 0) + 1
        for aggregate_id, count in counts.items():
            aggregate: Any = processing_event.aggregates.get(aggregate_id)
            interval = self.snapshotting_intervals.get(type(aggregate)) if aggregate else None
            if interval and snapshot_due(aggregate_id, aggregate.version, count, interval):
                self.snapshots.put([type(aggregate).Snapshot.take(aggregate)])


def restamp(processing_event: ProcessingEvent[UUID], at: datetime) -> None:
    """Give every event of the save the recording instant `at` (the library's events are frozen
    dataclasses, stamped when triggered), and the aggregates in hand the `created_on` and
    `modified_on` their events now say, so that a snapshot taken from them equals the fold."""
    for event in processing_event.events:
        object.__setattr__(event, "timestamp", at)
    counts: dict[UUID, int] = {}
    for event in processing_event.events:
        counts[event.originator_id] = counts.get(event.originator_id, 0) + 1
    for aggregate_id, count in counts.items():
        aggregate: Any = processing_event.aggregates.get(aggregate_id)
        if aggregate is None:
            continue
        aggregate.modified_on = at
        if aggregate.version == count:  # created in this save: its created event was stamped
            aggregate._created_on = at  # the library sets it only from the created event
