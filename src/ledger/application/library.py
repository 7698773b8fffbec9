"""LedgerApplication: every override of the eventsourcing library's `Application` in one place.

What stays, and why:
- `construct_factory`: ledger's recorders and SQLite pool (see ledger.store), and a refusal of
  the library's database-function insert, which would skip the read-version check.
- `construct_transcoder`: the library's JSON bytes, encoded faster (see ledger.store).
- `_take_snapshots`: snapshots are taken from the objects being saved, not read back from the
  store (one round trip less per snapshot), at points shifted per aggregate (`snapshot_due`);
  on SQLite the recorder writes them in the events' transaction (one transaction, not two),
  when the unit of work passes them with the save (`snapshots_to_save`).
`IntegrityError` (a write conflict) and `StoredEvent` are re-exported from here, so that the
rest of the application imports nothing of the library's persistence.
The save itself is the library's `save()`: the unit of work passes `expected_versions`,
`nothing_after` and `snapshots` to it as keyword arguments, which reach the recorder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, StoredEvent

from ledger.domain.contract import Contract
from ledger.domain.credit_account import CreditAccount
from ledger.domain.releases import ReleaseCatalog
from ledger.store import (
    SNAPSHOTS_WITH_EVENTS,
    LedgerTranscoder,
    Snapshots,
    schema_lock,
    tune_factory,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from eventsourcing.application import ProcessingEvent
    from eventsourcing.persistence import InfrastructureFactory, Transcoder
    from eventsourcing.utils import Environment

    from ledger.settings import DatabaseSettings


__all__ = ["IntegrityError", "LedgerApplication", "StoredEvent", "snapshot_due"]


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

    # Aggregates stay cached between commands; every read still fast-forwards the cached copy
    # with the events recorded since (one query), so another process's writes are always seen.
    env = {"AGGREGATE_CACHE_MAXSIZE": "10000"}  # noqa: RUF012 - read by the library as is
    snapshotting_intervals = {  # noqa: RUF012 - the library reads this class attribute as is
        Contract: 50,
        CreditAccount: 50,
        ReleaseCatalog: 50,
    }

    def __init__(
        self, env: dict[str, str] | None = None, *, settings: DatabaseSettings | None = None
    ) -> None:
        merged = dict(settings.eventsourcing_env()) if settings is not None else {}
        merged.update(env or {})
        with schema_lock(settings):
            super().__init__(env=merged)

    def construct_factory(self, env: Environment) -> InfrastructureFactory[Any]:
        """The library's factory for the configured store, with ledger's store settings."""
        factory = super().construct_factory(env)
        if getattr(getattr(factory, "datastore", None), "enable_db_functions", False):
            # The library's database-function insert skips ledger's recorder, and with it
            # the read-version check every decision on a copy relies on.
            factory.close()
            msg = "POSTGRES_ENABLE_DB_FUNCTIONS must be off: it skips the read-version check"
            raise ValueError(msg)
        return tune_factory(factory)

    def construct_transcoder(self) -> Transcoder:
        """The library's JSON transcoding (same bytes), encoding faster (see ledger.store)."""
        transcoder = LedgerTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

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
