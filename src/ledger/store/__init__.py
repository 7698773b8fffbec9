"""Every customisation of the eventsourcing library, and everything else ledger's store needs.

- `recorders`: the application recorders that check, in the events' transaction, the versions
  a use case decided on and that nothing it read up to a position was recorded after it, and
  link the events into the audit chain there;
- `chain`: the audit chain's table and links, written by the recorders in the events'
  transaction (a save past the chain's head is refused, `ChainBehindError`), and the backlog
  `ledger audit chain` links;
- `setup`: the library's factory and transcoder, as they ship (the name `LedgerTranscoder`
  stays for callers);
- `copies`: the aggregates a process keeps between commands;
- `snapshots`: snapshots sealed with an HMAC under `LEDGER_SNAPSHOT_KEY`, read only when
  the seal checks;
- `connect`: plain PostgreSQL connections and the schema's DDL lock;
- `errors`: the library's persistence errors that ledger handles, and `StoreUnavailableError`;
- `fingerprints`: the library functions ledger overrides or copies, with the hash of their
  source as last checked (`tests/unit/test_library_fingerprint.py`).

No module outside this package imports `eventsourcing.persistence`, `eventsourcing.sqlite` or
`eventsourcing.postgres`.
"""

from __future__ import annotations

from eventsourcing.persistence import Notification, StoredEvent, Tracking

from ledger.store.application import LedgerApplication, snapshot_due
from ledger.store.connect import SCHEMA_LOCK, connect, lock_key, schema_lock
from ledger.store.copies import ReferenceCopies, SavedAggregates
from ledger.store.errors import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    PersistenceError,
    StoreUnavailableError,
)
from ledger.store.recorders import (
    NothingAfter,
    PostgresLedgerRecorder,
    SQLiteLedgerRecorder,
)
from ledger.store.setup import LedgerTranscoder, tune_factory

__all__ = [
    "SCHEMA_LOCK",
    "IntegrityError",
    "InterfaceError",
    "LedgerApplication",
    "LedgerTranscoder",
    "NothingAfter",
    "Notification",
    "OperationalError",
    "PersistenceError",
    "PostgresLedgerRecorder",
    "ReferenceCopies",
    "SQLiteLedgerRecorder",
    "SavedAggregates",
    "StoreUnavailableError",
    "StoredEvent",
    "Tracking",
    "connect",
    "lock_key",
    "schema_lock",
    "snapshot_due",
    "tune_factory",
]
