"""How the application's store is built: the library's factory and transcoder, as they ship.

Ledger's own SQLite connection pool (statements kept, one writer connection kept) and its orjson
encoder (the library's bytes, faster) were dropped: neither bought 10 % on a figure a user feels
(docs/decisions.md, "The store's overrides").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import JSONTranscoder

if TYPE_CHECKING:
    from eventsourcing.persistence import InfrastructureFactory

# The library's JSON transcoder (its UUID, Decimal and datetime transcodings are registered by
# the application); the name stays for callers. It reads and writes the bytes stored before.
LedgerTranscoder = JSONTranscoder


def tune_factory(factory: InfrastructureFactory[Any]) -> InfrastructureFactory[Any]:
    """The factory as the library built it, refused when it would bypass ledger's recorders.

    The library's database-function insert (`POSTGRES_ENABLE_DB_FUNCTIONS`) skips the
    application recorder's `_insert_stored_events`, and with it the read-version check every
    decision on a copy relies on.
    """
    if getattr(getattr(factory, "datastore", None), "enable_db_functions", False):
        factory.close()
        msg = "POSTGRES_ENABLE_DB_FUNCTIONS must be off: it skips the read-version check"
        raise ValueError(msg)
    return factory
