"""The API in process (FastAPI's TestClient) on each real store, with a token per role."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # starlette.testclient warns once, at import, that it would rather have httpx2 than httpx.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from ledger.projections.db import ViewDatabase
from ledger.settings import Settings
from ledger.web.app import create_app
from ledger.web.tokens import ROLES, create_token

if TYPE_CHECKING:
    from collections.abc import Iterator

    import httpx

    from ledger.application import SupportLedger
    from ledger.settings import DatabaseSettings

API = "/api/v1"


@dataclass
class Api:
    """A client of the API with a token for every role."""

    client: TestClient
    tokens: dict[str, str]
    settings: DatabaseSettings

    @property
    def ledger(self) -> SupportLedger:
        """The application the API serves from."""
        ledger: SupportLedger = self.client.app.state.services.ledger  # type: ignore[attr-defined]
        return ledger

    def recorded(self) -> int:
        """How many events the store holds (the head of the notification log)."""
        return int(self.ledger.recorder.max_notification_id() or 0)

    def call(self, role: str | None, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A request under /api/v1 with the token of `role` (None: no token)."""
        headers = dict(kwargs.pop("headers", None) or {})
        if role is not None:
            headers["Authorization"] = f"Bearer {self.tokens[role]}"
        return self.client.request(method, f"{API}{path}", headers=headers, **kwargs)

    def get(self, role: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.call(role, "GET", path, **kwargs)

    def post(self, role: str, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        return self.call(role, "POST", path, json=body if body is not None else {}, **kwargs)


def issue_tokens(settings: DatabaseSettings) -> dict[str, str]:
    """A token for every role, valid for a day."""
    db = ViewDatabase(settings)
    try:
        return {
            role: create_token(
                db, name=f"test {role}", role=role, at=datetime.now(UTC), created_by="test",
                expires_in_days=1,
            ).text
            for role in ROLES
        }  # fmt: skip
    finally:
        db.close()


def start(settings: DatabaseSettings) -> tuple[TestClient, dict[str, str]]:
    """The app on `settings`, started, and a token per role."""
    client = TestClient(create_app(Settings(database=settings)))
    client.__enter__()
    return client, issue_tokens(settings)


@pytest.fixture
def api(store_settings: DatabaseSettings) -> Iterator[Api]:
    """The API on a fresh store (SQLite, then PostgreSQL)."""
    client, tokens = start(store_settings)
    try:
        yield Api(client, tokens, store_settings)
    finally:
        client.__exit__(None, None, None)


@pytest.fixture
def sqlite_api(sqlite_settings: DatabaseSettings) -> Iterator[Api]:
    """The API on a fresh SQLite store (for what does not depend on the store)."""
    client, tokens = start(sqlite_settings)
    try:
        yield Api(client, tokens, sqlite_settings)
    finally:
        client.__exit__(None, None, None)
