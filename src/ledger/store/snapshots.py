"""Snapshots sealed with an HMAC under a key kept outside the database, and read only if sealed.

A snapshot decides commands: an account loaded from one starts from its balance. Anyone who
can write the database could raise that balance, so a snapshot is used only when it carries
a valid HMAC-SHA256 under `LEDGER_SNAPSHOT_KEY` over everything that decides the state it
loads: its originator id, version, topic and stored state bytes. The seal is kept inside the
stored state, as a JSON envelope around the library's bytes (`{"mac":"<hex>","snapshot":...}`),
so the library's snapshot tables stay as they are.

Reading (`SignedSnapshots.get`, which the library's repository calls): a sealed snapshot whose
HMAC checks is used; one whose HMAC fails (tampered, or sealed under another key) is ignored,
logged as `snapshot_rejected` and counted; an unsealed one (written before snapshots were
sealed) is ignored quietly. Ignored, the aggregate is replayed from its events. Without a key
snapshots are neither written nor read: every aggregate is replayed from its events.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import threading
from typing import TYPE_CHECKING, Any
from uuid import UUID

import structlog
from eventsourcing.persistence import EventStore, StoredEvent

from ledger.store.recorders import select_many

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    from eventsourcing.domain import DomainEventProtocol
    from eventsourcing.persistence import AggregateRecorder, Mapper, Recording

log = structlog.get_logger(logger_name="ledger.store.snapshots")

_HEAD = b'{"mac":"'
_MIDDLE = b'","snapshot":'
_MAC_HEX = 64
_BODY = len(_HEAD) + _MAC_HEX + len(_MIDDLE)
_DOMAIN = b"ledger-snapshot-v1\x00"


def as_bytes(state: object) -> bytes:
    """A stored state as bytes (SQLite returns text for a blob an SQL function rewrote)."""
    if isinstance(state, str):
        return state.encode("utf-8", "surrogateescape")
    raw: Any = state  # bytes, or the memoryview PostgreSQL may give
    return bytes(raw)


def unseal(state: bytes) -> tuple[str | None, bytes]:
    """The seal (hex HMAC) and the library's bytes of a stored snapshot's state; no seal: None
    and the bytes as stored."""
    if (
        state.startswith(_HEAD)
        and state[len(_HEAD) + _MAC_HEX : _BODY] == _MIDDLE
        and state.endswith(b"}")
    ):
        mac = state[len(_HEAD) : len(_HEAD) + _MAC_HEX].decode("ascii", "replace")
        return mac, state[_BODY:-1]
    return None, state


def unsealed(state: object) -> bytes:
    """The library's bytes of a stored snapshot's state, its seal (if any) removed unchecked."""
    return unseal(as_bytes(state))[1]


class SnapshotSeal:
    """HMAC-SHA256 of a snapshot's originator id, version, topic and state, under one key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __repr__(self) -> str:
        return "SnapshotSeal(key=***)"

    def mac(self, originator_id: UUID | str, version: int, topic: str, state: bytes) -> str:
        """The seal of these fields, in lowercase hex."""
        origin = str(originator_id).encode("utf-8")
        name = topic.encode("utf-8")
        header = struct.pack(">qII", version, len(origin), len(name))
        message = _DOMAIN + header + origin + name + state
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def seal(self, stored: StoredEvent) -> StoredEvent:
        """The stored snapshot with its state wrapped in the envelope that carries its seal."""
        mac = self.mac(stored.originator_id, stored.originator_version, stored.topic, stored.state)
        state = _HEAD + mac.encode("ascii") + _MIDDLE + stored.state + b"}"
        return StoredEvent(stored.originator_id, stored.originator_version, stored.topic, state)

    def opened(self, stored: StoredEvent) -> StoredEvent | None:
        """The stored snapshot with the library's bytes, if its seal checks; else None."""
        mac, state = unseal(as_bytes(stored.state))
        if mac is None:
            return None
        expected = self.mac(stored.originator_id, stored.originator_version, stored.topic, state)
        if not hmac.compare_digest(mac, expected):
            return None
        return StoredEvent(stored.originator_id, stored.originator_version, stored.topic, state)


class SignedSnapshots(EventStore[Any]):
    """The application's snapshot store: writes sealed snapshots, reads only verified ones."""

    def __init__(
        self, mapper: Mapper[Any], recorder: AggregateRecorder, seal: SnapshotSeal | None
    ) -> None:
        super().__init__(mapper=mapper, recorder=recorder)
        self.seal = seal
        self.rejected = 0
        self._lock = threading.Lock()

    def put(
        self, domain_events: Sequence[DomainEventProtocol[Any]], **kwargs: Any
    ) -> list[Recording[Any]]:
        """Seal and store snapshots (nothing is stored without a key)."""
        if self.seal is None:
            return []
        stored = [self.seal.seal(self.mapper.to_stored_event(e)) for e in domain_events]
        self.recorder.insert_events(stored, **kwargs)
        return []

    def get(
        self,
        originator_id: Any,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Iterator[DomainEventProtocol[Any]]:
        """The stored snapshots whose seal checks under the key (none without a key)."""
        if self.seal is None:
            return iter(())
        rows = self.recorder.select_events(
            originator_id=originator_id, gt=gt, lte=lte, desc=desc, limit=limit
        )
        verified = []
        for row in rows:
            opened = self.seal.opened(row)
            if opened is not None:
                verified.append(self.mapper.to_domain_event(opened))
            elif unseal(as_bytes(row.state))[0] is not None:
                self._reject(row)
        return iter(verified)

    def newest_of(self, originator_ids: Iterable[UUID]) -> dict[UUID, DomainEventProtocol[Any]]:
        """The newest stored snapshot of each of many aggregates, in one query, if its seal
        checks (as `get` does for one with desc and limit 1: a newest snapshot whose seal
        fails is rejected, and the aggregate is replayed from its events); none without a
        key, or on the in-memory store."""
        if self.seal is None or not hasattr(self.recorder, "datastore"):
            return {}
        verified: dict[UUID, DomainEventProtocol[Any]] = {}
        rows = select_many(self.recorder, dict.fromkeys(originator_ids, 0), newest=True)
        for row in rows:
            opened = self.seal.opened(row)
            if opened is not None:
                verified[UUID(str(row.originator_id))] = self.mapper.to_domain_event(opened)
            elif unseal(as_bytes(row.state))[0] is not None:
                self._reject(row)
        return verified

    def _reject(self, row: StoredEvent) -> None:
        with self._lock:
            self.rejected += 1
        log.warning(
            "snapshot_rejected",
            aggregate_id=str(row.originator_id),
            version=row.originator_version,
            reason="its seal does not match (tampered, or sealed under another key); "
            "the aggregate is replayed from its events",
        )

    def stored(self) -> list[StoredEvent]:
        """Every stored snapshot, with the library's bytes (seal removed, not checked), in
        originator and version order: what `audit verify` compares with the events."""
        recorder: Any = self.recorder
        if not hasattr(recorder, "datastore"):  # the in-memory store
            rows = sorted(
                recorder._stored_events,  # the in-memory store has no SQL
                key=lambda s: (str(s.originator_id), s.originator_version),
            )
            return [
                StoredEvent(
                    s.originator_id, s.originator_version, s.topic, unseal(as_bytes(s.state))[1]
                )
                for s in rows
            ]
        table = recorder.events_table_name
        if hasattr(recorder, "datastore") and hasattr(recorder.datastore, "schema"):
            table = f'"{recorder.datastore.schema}"."{table}"'  # PostgreSQL
        sql = (  # the library's own table name, not a value
            f"SELECT originator_id, originator_version, topic, state FROM {table} "
            "ORDER BY originator_id, originator_version"
        )
        with recorder.datastore.transaction(commit=False) as curs:
            curs.execute(sql)
            rows = curs.fetchall()
        found = []
        for row in rows:
            values = tuple(row.values()) if isinstance(row, dict) else tuple(row)
            originator_id, version, topic, state = values
            aggregate_id = originator_id if isinstance(originator_id, UUID) else UUID(originator_id)
            found.append(StoredEvent(aggregate_id, version, topic, unsealed(state)))
        return found
