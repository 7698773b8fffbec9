"""Plain PostgreSQL connections and the advisory locks that let processes start together.

PostgreSQL DDL (`CREATE TABLE IF NOT EXISTS`, `CREATE OR REPLACE FUNCTION`) is not safe to run
from several processes at the same moment: concurrent catalog updates fail with "tuple
concurrently updated". Every component that creates tables does so while holding one advisory
lock per schema, so any number of processes can start together.
"""

from __future__ import annotations

import zlib
from contextlib import contextmanager
from typing import TYPE_CHECKING

import psycopg

from ledger.errors import StoreUnavailableError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ledger.settings import DatabaseSettings

# Advisory-lock key space of ledger: the high half names the purpose, the low half the schema.
SCHEMA_LOCK = 0x1ED6


def lock_key(purpose: int, name: str) -> int:
    """A 64-bit advisory lock key for `purpose` in schema `name`."""
    return (purpose << 32) | zlib.crc32(name.encode("utf-8"))


def connect(
    settings: DatabaseSettings, *, autocommit: bool = True
) -> psycopg.Connection[tuple[object, ...]]:
    """A plain psycopg connection to the configured PostgreSQL database."""
    try:
        return psycopg.connect(**settings.psycopg_conninfo(), autocommit=autocommit)  # type: ignore[arg-type]
    except psycopg.OperationalError as exc:
        raise StoreUnavailableError(
            f"cannot connect to {settings.display_url}: {str(exc).strip()}"
        ) from None


@contextmanager
def schema_lock(settings: DatabaseSettings | None) -> Iterator[None]:
    """Hold the schema's DDL lock (PostgreSQL only; a no-op elsewhere)."""
    if settings is None or settings.backend != "postgresql":
        yield
        return
    key = lock_key(SCHEMA_LOCK, settings.schema)
    with connect(settings) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", [key])
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", [key])
