"""Shared fixtures: stores (SQLite file, PostgreSQL schema of its own), time helpers."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest

from ledger.settings import DatabaseSettings, parse_database_url

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

PG_URL = os.environ.get("LEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("LEDGER_REQUIRE_POSTGRES", "") not in {"", "0", "no", "false"}
BERLIN = ZoneInfo("Europe/Berlin")
# Snapshots are sealed under a key kept outside the database, as in production; without one
# they are neither written nor read (tests/stores/test_snapshot_seal.py covers both).
TEST_SNAPSHOT_KEY = "test-snapshot-key-0123456789abcdef0123456789abcdef"
os.environ.setdefault("LEDGER_SNAPSHOT_KEY", TEST_SNAPSHOT_KEY)


def berlin(*args: int) -> datetime:
    """An instant given as Berlin wall time (fold=0)."""
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


def utc(*args: int) -> datetime:
    """An instant given in UTC."""
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def _postgres_problem() -> str | None:
    try:
        import psycopg  # noqa: PLC0415 - only needed when PostgreSQL tests run

        settings = parse_database_url(PG_URL)
        with psycopg.connect(**settings.psycopg_conninfo(), autocommit=True) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means: no server to test against
        return f"no PostgreSQL at {PG_URL}: {exc}"
    return None


_PG_PROBLEM: list[str | None] = []


def require_postgres() -> DatabaseSettings:
    """Base settings of the test server; skips (or fails in CI) when none answers."""
    if not _PG_PROBLEM:
        _PG_PROBLEM.append(_postgres_problem())
    problem = _PG_PROBLEM[0]
    if problem is not None:
        if REQUIRE_POSTGRES:
            pytest.fail(f"LEDGER_REQUIRE_POSTGRES=1 but {problem}")
        pytest.skip(problem)
    return parse_database_url(PG_URL)


def create_schema(base: DatabaseSettings) -> DatabaseSettings:
    """A fresh, empty schema on the test server."""
    import psycopg  # noqa: PLC0415

    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(**base.psycopg_conninfo(), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return base.with_schema(schema)


def drop_schema(settings: DatabaseSettings) -> None:
    """Drop a schema made by create_schema, with everything in it."""
    import psycopg  # noqa: PLC0415

    with psycopg.connect(**settings.psycopg_conninfo(), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{settings.schema}" CASCADE')


@pytest.fixture
def pg_settings() -> Iterator[DatabaseSettings]:
    """PostgreSQL settings pointing at a schema of this test's own, dropped afterwards."""
    settings = create_schema(require_postgres())
    try:
        yield settings
    finally:
        drop_schema(settings)


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> DatabaseSettings:
    """SQLite settings pointing at a new file in the test's temporary folder."""
    return parse_database_url(f"sqlite:///{tmp_path / 'ledger.db'}")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DatabaseSettings]:
    """Each real store in turn: a SQLite file, then a PostgreSQL schema."""
    if request.param == "sqlite":
        yield parse_database_url(f"sqlite:///{tmp_path / 'ledger.db'}")
        return
    settings = create_schema(require_postgres())
    try:
        yield settings
    finally:
        drop_schema(settings)
