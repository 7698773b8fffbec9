"""The fixtures the store tests share: on each real store in turn (`store_settings`), the
application, a read-model connection, and the standard world of three contracts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ledger.application import SupportLedger
from ledger.projections.db import ViewDatabase
from tests.scenario import World, build_world

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ledger.settings import DatabaseSettings


@pytest.fixture
def app(store_settings: DatabaseSettings) -> Iterator[SupportLedger]:
    """The application on the store under test (closed after the test)."""
    application = SupportLedger(settings=store_settings)
    yield application
    application.close()


@pytest.fixture
def db(store_settings: DatabaseSettings) -> Iterator[ViewDatabase]:
    """A connection to the read models of the store under test (closed after the test)."""
    database = ViewDatabase(store_settings)
    yield database
    database.close()


@pytest.fixture
def world(app: SupportLedger) -> World:
    """The standard world (`tests.scenario.build_world`) recorded on the store under test."""
    return build_world(app)
