"""Outage answers of the API name no part of the database URL: 503 bodies and `/readyz`."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import pytest
from fastapi import FastAPI
from psycopg_pool import PoolTimeout

from ledger.settings import Settings, parse_database_url
from ledger.store import OperationalError, StoreUnavailableError
from ledger.web.app import create_app
from ledger.web.errors import install_error_handlers
from tests.conftest import create_schema, drop_schema, require_postgres
from tests.web.conftest import API, TestClient
from tests.web.test_observability import Relay
from tests.web.test_pages import sign_in

if TYPE_CHECKING:
    from collections.abc import Iterator

    import httpx

    from ledger.settings import DatabaseSettings
    from tests.web.conftest import Api

# A made-up URL whose parts must not be shown.
SECRET_URL = (
    "postgresql://made_up_user:pw-secret@db-host.example:6543/made_up_db?schema=made_up_schema"  # noqa: S105 - made up
)
SECRET_PARTS = ("made_up_user", "pw-secret", "db-host.example", "6543", "made_up_db",
                "made_up_schema")  # fmt: skip
PSYCOPG_TEXT = (
    'connection failed: connection to server at "db-host.example", port 6543 failed: '
    'FATAL: role "made_up_user" does not exist; database "made_up_db"; schema made_up_schema'
)


def names_none_of(answer: httpx.Response, parts: tuple[str, ...]) -> list[str]:
    """The parts of the database URL that the answer's body or headers name."""
    shown = answer.text + " ".join(f"{k}: {v}" for k, v in answer.headers.items())
    return [part for part in parts if part in shown]


@pytest.mark.parametrize(
    "outage",
    [
        StoreUnavailableError(f"cannot connect to {SECRET_URL}: {PSYCOPG_TEXT}"),
        PoolTimeout(f"couldn't get a connection to {SECRET_URL} after 30.00 sec"),
        OperationalError(PSYCOPG_TEXT),
    ],
    ids=["store unavailable", "pool timeout", "operational error"],
)
def test_a_503_names_no_part_of_the_database_url(outage: Exception) -> None:
    """Whatever the outage says, the 503 body says only that the database could not be used."""
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/down")
    def down() -> None:
        raise outage

    with TestClient(app) as client:
        answer = client.get("/down")

    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "store_unavailable"
    assert names_none_of(answer, SECRET_PARTS) == []


def test_readyz_names_no_part_of_the_database_url(
    sqlite_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The public /readyz says the store cannot be used, and neither the file nor any URL."""
    path = sqlite_api.settings.path

    def failing(_db: object) -> None:
        raise StoreUnavailableError(f"the read-model database failed: {path}: {PSYCOPG_TEXT}")

    monkeypatch.setattr("ledger.web.observability.projection_states", failing)
    answer = sqlite_api.client.get("/readyz")

    assert answer.status_code == 503
    assert answer.json()["reasons"] == ["the store cannot be used"]
    assert names_none_of(answer, (*SECRET_PARTS, path, "ledger.db")) == []


def test_redact_keeps_the_host_only_when_asked() -> None:
    """The settings hide the user, password, port, database and schema of their URL in a
    text, and the host too unless it is kept."""
    database = parse_database_url(SECRET_URL)
    text = f"cannot connect to {database.display_url}: {PSYCOPG_TEXT}"

    kept = database.redact(text)
    hidden = database.redact(text, keep_host=False)

    assert [part for part in SECRET_PARTS if part in kept] == ["db-host.example"]
    assert [part for part in SECRET_PARTS if part in hidden] == []


@pytest.fixture
def relayed() -> Iterator[tuple[DatabaseSettings, Relay]]:
    """A PostgreSQL schema of its own, reached through a relay the test can cut."""
    settings = create_schema(require_postgres())
    relay = Relay(settings.host, settings.port)
    try:
        yield settings, relay
    finally:
        relay.cut()
        drop_schema(settings)


@pytest.mark.postgres
def test_with_the_database_gone_no_answer_names_its_url(
    relayed: tuple[DatabaseSettings, Relay],
) -> None:
    """Database gone: a caller with a made-up token and /readyz get 503 answers that name no
    user, host, port, database or schema."""
    settings, relay = relayed
    through = replace(settings, host="127.0.0.1", port=relay.port, connect_timeout=2)
    parts = (settings.user, "127.0.0.1", str(relay.port), settings.dbname, settings.schema)
    with TestClient(create_app(Settings(database=through))) as client:
        assert client.get("/readyz").status_code == 200
        relay.cut()
        made_up = {"Authorization": f"Bearer ldg_{'ab' * 8}_{'x' * 43}"}  # well-formed, unknown
        answers = [
            client.get(f"{API}/contracts/00000000-0000-0000-0000-000000000000", headers=made_up),
            client.get(f"{API}/reports/breaches", headers=made_up),
            client.get("/readyz"),
        ]

    # The first request meets the cut connections; the relay's accept, blocked in its thread,
    # may still let one new connection through, so a later one may be answered (401).
    assert answers[0].status_code == 503
    assert answers[2].status_code == 503
    assert answers[1].status_code in {401, 503}
    assert [names_none_of(answer, parts) for answer in answers] == [[], [], []]


def test_a_page_names_no_part_of_the_database_url(
    sqlite_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page whose store cannot be used answers 503 saying only that, naming no URL."""
    sign_in(sqlite_api, "finance")

    def failing(*_args: object, **_kwargs: object) -> None:
        raise StoreUnavailableError(f"cannot connect to {SECRET_URL}: {PSYCOPG_TEXT}")

    monkeypatch.setattr("ledger.web.pages.statements_of", failing)
    answer = sqlite_api.client.get("/finance", params={"period": "2025-01"})

    assert answer.status_code == 503
    assert "could not be reached" in answer.text
    assert names_none_of(answer, SECRET_PARTS) == []
