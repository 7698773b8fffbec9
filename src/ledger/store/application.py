"""LedgerApplication: the library's `Application` on ledger's store; its only overrides.

- `construct_factory`: the library's factory, refused when it would skip ledger's recorders
  (`tune_factory`: the database-function insert bypasses the read-version check).
- `_take_snapshots`: snapshots are taken from the objects being saved, not read back from the
  store (one round trip less per snapshot), at points shifted per aggregate (`snapshot_due`);
  on SQLite the recorder writes them in the events' transaction (one transaction, not two),
  when the save passes them (`snapshots_to_save`).
The save itself is the library's `save()`: the unit of work passes `expected_versions`,
`nothing_after` and `snapshots` to it as keyword arguments, which reach the recorder. Each
library method named here has its fingerprint in `ledger.store.fingerprints`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.application import Application

from ledger.store.connect import schema_lock
from ledger.store.recorders import SNAPSHOTS_WITH_EVENTS, Snapshots
from ledger.store.setup import tune_factory

if TYPE_CHECKING:
    from collections.abc import Iterable

    from eventsourcing.application import ProcessingEvent
    from eventsourcing.persistence import InfrastructureFactory
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
        self, env: dict[str, str] | None = None, *, settings: DatabaseSettings | None = None
    ) -> None:
        merged = dict(settings.eventsourcing_env()) if settings is not None else {}
        merged.update(env or {})
        with schema_lock(settings):
            super().__init__(env=merged)

    def construct_factory(self, env: Environment) -> InfrastructureFactory[Any]:
        """The library's factory for the configured store, refused if it skips our recorders."""
        return tune_factory(super().construct_factory(env))

    def snapshots_to_save(self, aggregates: Iterable[Any]) -> Snapshots | None:
        """The snapshots a save of `aggregates` (their pending events not collected yet)
        falls due to write, taken from the objects in hand; None when none is due."""
        if self.snapshots is None:
            return None
        taken = []
        for aggregate in aggregates:
            interval = self.snapshotting_intervals.get(type(aggregate))
            count = len(aggregate.pending_events)
            if (
                interval
                and count
                and snapshot_due(aggregate.id, aggregate.version, count, interval)
            ):
                taken.append(type(aggregate).Snapshot.take(aggregate))
        if not taken:
            return None
        mapper = self.snapshots.mapper
        return Snapshots(self.snapshots.recorder, [mapper.to_stored_event(s) for s in taken])

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        """Write the snapshots passed with the save, unless the recorder wrote them with the
        events (SQLite); a save given none snapshots what is due from the objects saved."""
        snapshots: Snapshots | None = processing_event.saved_kwargs.get("snapshots")
        if snapshots is not None:
            if not isinstance(self.recorder, SNAPSHOTS_WITH_EVENTS):
                snapshots.recorder.insert_events(snapshots.stored)
            return
        if self.snapshots is None:
            return
        counts: dict[UUID, int] = {}
        for event in processing_event.events:
            counts[event.originator_id] = counts.get(event.originator_id, 0) + 1
        for aggregate_id, count in counts.items():
            aggregate: Any = processing_event.aggregates.get(aggregate_id)
            interval = self.snapshotting_intervals.get(type(aggregate)) if aggregate else None
            if interval and snapshot_due(aggregate_id, aggregate.version, count, interval):
                self.snapshots.put([type(aggregate).Snapshot.take(aggregate)])
