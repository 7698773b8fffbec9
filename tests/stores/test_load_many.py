"""Many aggregates read at once (`LedgerApplication.load_many`, the scheduler's read-ahead) are
the aggregates one read each gives, on SQLite and PostgreSQL: from their sealed snapshots and
the events after them, a tampered snapshot ignored as one read ignores it."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest

from ledger.application import SupportLedger
from ledger.domain.contract import Contract
from ledger.domain.credit_account import CreditAccount
from ledger.store import recorders
from tests.conftest import TEST_SNAPSHOT_KEY
from tests.scenario import World, build_snapshotted_world
from tests.stores.test_snapshot_seal import TOPIC, latest, raised, sealed, write_state

if TYPE_CHECKING:
    from collections.abc import Iterator
    from uuid import UUID

    from ledger.settings import DatabaseSettings


@pytest.fixture
def world(app: SupportLedger) -> World:
    return build_snapshotted_world(app)


@pytest.fixture
def reader(store_settings: DatabaseSettings) -> Iterator[SupportLedger]:
    """Another process's application: nothing in its copies."""
    application = SupportLedger(settings=store_settings)
    yield application
    application.close()


def ids_of(world: World) -> list[UUID]:
    contracts = [world.premium, world.advanced, world.basic]
    return [*contracts, *(CreditAccount.create_id(c) for c in contracts)]


def one_by_one(app: SupportLedger, ids: list[UUID]) -> dict[UUID, Any]:
    return {i: vars(app.repository.get(i)) for i in ids}


def test_many_aggregates_read_at_once_are_those_read_one_by_one(
    world: World, reader: SupportLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Contracts and accounts, one of them from its snapshot, several to a query; an id never
    recorded is left out."""
    monkeypatch.setattr(recorders, "MANY_CHUNK", 4)  # two queries for six aggregates
    ids = ids_of(world)
    unknown = uuid.uuid4()

    found = reader.load_many([*ids, unknown])

    assert set(found) == set(ids)
    assert {i: vars(a) for i, a in found.items()} == one_by_one(reader, ids)
    assert isinstance(found[world.premium], Contract)
    premium = found[CreditAccount.create_id(world.premium)]
    assert premium.version > 60
    assert reader.snapshots_rejected == 0


def test_a_tampered_snapshot_is_ignored_when_many_are_read_at_once(
    store_settings: DatabaseSettings, world: World, reader: SupportLedger
) -> None:
    """The newest snapshot raised by 10,000 points, its seal left as it was: rejected and
    counted, and the account is its events' fold, as a read of it alone gives."""
    account_id = CreditAccount.create_id(world.premium)
    version, mac, inner = latest(store_settings, account_id)
    assert mac is not None
    write_state(store_settings, account_id, version, sealed(TEST_SNAPSHOT_KEY, account_id,
                version, TOPIC, inner).replace(inner, raised(inner)))  # fmt: skip

    found = reader.load_many(ids_of(world))

    assert reader.snapshots_rejected == 1
    assert vars(found[account_id]) == vars(reader.repository.get(account_id))
    assert reader.snapshots_rejected == 2  # the read of it alone rejected it too


def test_the_scheduler_s_read_ahead_keeps_what_it_read_as_copies(
    world: World, reader: SupportLedger
) -> None:
    """Read ahead, the aggregates are in the process's copies: the next command on them reads
    nothing from the store."""
    ids = ids_of(world)

    reader.work.read_ahead(ids)

    assert all(reader.work.saved.holds(i) for i in ids)
