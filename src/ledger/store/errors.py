"""The store's errors: the library's persistence errors that ledger handles, and its own."""

from __future__ import annotations

from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    PersistenceError,
)

from ledger.errors import StoreUnavailableError

__all__ = [
    "IntegrityError",
    "InterfaceError",
    "OperationalError",
    "PersistenceError",
    "StoreUnavailableError",
]
