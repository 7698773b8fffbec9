"""Every stored snapshot compared with a fold of its aggregate's events (`audit verify`).

A snapshot is derived from the events: the aggregate it loads must equal the aggregate its
events give up to its version. Each one that does not is a `snapshot_mismatch`, whatever its
seal says (the check reads the stored state itself, sealed or not, and needs no key).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator
    from uuid import UUID

    from ledger.application import SupportLedger
    from ledger.store import StoredEvent

SNAPSHOT_MISMATCH = "snapshot_mismatch"


@dataclass(frozen=True)
class SnapshotMismatch:
    """A stored snapshot that is not what its events give: which, and how it differs."""

    originator_id: str
    originator_version: int
    topic: str
    message: str


@dataclass(frozen=True)
class SnapshotCheck:
    """How many stored snapshots were compared with their events, and those that differ."""

    checked: int
    mismatches: tuple[SnapshotMismatch, ...]


def verify_snapshots(app: SupportLedger) -> SnapshotCheck:
    """Compare every stored snapshot with the fold of its aggregate's events up to its version."""
    stored = app.stored_snapshots()
    mismatches: list[SnapshotMismatch] = []
    for aggregate_id, group in groupby(stored, key=lambda s: s.originator_id):
        mismatches.extend(_aggregate_mismatches(app, aggregate_id, list(group)))
    return SnapshotCheck(len(stored), tuple(mismatches))


def _aggregate_mismatches(
    app: SupportLedger, aggregate_id: UUID, snapshots: list[StoredEvent]
) -> Iterator[SnapshotMismatch]:
    """The snapshots of one aggregate (in version order) that differ from the fold of its
    events, read once."""
    events = iter(app.events.get(aggregate_id))
    folded: Any = None
    pending: Any = next(events, None)
    for stored in snapshots:
        version = stored.originator_version
        try:
            while pending is not None and pending.originator_version <= version:
                folded = pending.mutate(folded)
                pending = next(events, None)
        except Exception as exc:  # noqa: BLE001 - any event that does not fold is a finding
            yield _mismatch(stored, f"its events do not fold up to version {version}: {exc}")
            return
        why = _difference(app, stored, folded)
        if why is not None:
            yield _mismatch(stored, why)


def _difference(app: SupportLedger, stored: StoredEvent, folded: Any) -> str | None:
    """Why the stored snapshot does not load the folded aggregate (None when it does)."""
    version = stored.originator_version
    if folded is None or folded.version != version:
        have = "no event" if folded is None else f"events only up to version {folded.version}"
        return f"the aggregate has {have}, but a snapshot at version {version}"
    try:
        loaded = app.mapper.to_domain_event(stored).mutate(None)  # type: ignore[attr-defined]
    except Exception as exc:  # noqa: BLE001 - a snapshot that does not load is a finding
        return f"the snapshot does not load: {exc}"
    if type(loaded) is not type(folded):
        return f"the snapshot loads a {type(loaded).__name__}, its events a {type(folded).__name__}"
    mine, theirs = vars(loaded), vars(folded)
    differing = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
    if differing:
        return (
            f"the state it loads differs from the fold of its events in "
            f"{', '.join(differing)}: the snapshot was changed after it was taken"
        )
    return None


def _mismatch(stored: StoredEvent, why: str) -> SnapshotMismatch:
    oid, version = str(stored.originator_id), stored.originator_version
    return SnapshotMismatch(
        oid, version, stored.topic, f"snapshot of aggregate {oid} at version {version}: {why}"
    )
