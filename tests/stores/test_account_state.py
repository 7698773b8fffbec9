"""A credit account keeps only what can still change, on SQLite and on PostgreSQL: lots that
expired and packages used up leave its state and its sealed snapshots, which load what the
events give; a snapshot taken when the account kept every lot (version 2) still loads."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from eventsourcing.persistence import IntegrityError

from ledger.application import SupportLedger
from ledger.audit.snapshots import verify_snapshots
from ledger.domain.credit_account import CreditAccount
from ledger.scheduler.clock import FakeClock
from ledger.scheduler.service import Scheduler
from tests.conftest import TEST_SNAPSHOT_KEY
from tests.data.make_account_v2_fixture import history
from tests.scenario import at, build_world
from tests.stores.test_snapshot_seal import (
    TOPIC,
    latest,
    open_app,
    replayed,
    sealed,
    write_state,
)

if TYPE_CHECKING:
    from uuid import UUID

    from ledger.settings import DatabaseSettings

FIXTURE = json.loads(
    (Path(__file__).parents[1] / "data" / "account_v2_snapshot.json").read_text(encoding="utf-8")
)
SECOND_TERM = datetime(2026, 1, 3, 10, tzinfo=UTC)


@pytest.fixture
def recorded(store_settings: DatabaseSettings) -> UUID:
    """The fixture's history recorded with today's code, a snapshot taken at its end; the
    contract's id."""
    app = open_app(store_settings, TEST_SNAPSHOT_KEY)
    try:
        contract = history(app)
        with contextlib.suppress(IntegrityError):  # taken already at this version
            app.take_snapshot(CreditAccount.create_id(contract))
    finally:
        app.close()
    return contract


def loaded(settings: DatabaseSettings, contract: UUID) -> tuple[SupportLedger, CreditAccount]:
    """A fresh application under the key (nothing cached) and the account it loads."""
    app = open_app(settings, TEST_SNAPSHOT_KEY)
    account = app.repository.get(CreditAccount.create_id(contract))
    assert isinstance(account, CreditAccount)
    return app, account


def test_an_account_holds_its_live_lots_and_loads_what_its_events_give(
    store_settings: DatabaseSettings, recorded: UUID
) -> None:
    """After a term, expired lots and the dated package are gone; the undated package that
    got points back is held again; the sealed snapshot loads the fold of the events."""
    # when
    app, account = loaded(store_settings, recorded)
    try:
        # then
        assert sorted(account.lots) == ["purchase-2", "term-2-points", "term-2-sessions"]
        assert account.lots["purchase-2"].remaining == Decimal(2)
        assert (sorted(account.purchases), sorted(account.trainings)) == (["pack-undated"], ["t-3"])
        assert account.available("points", SECOND_TERM) == Decimal(33)
        assert vars(account) == vars(replayed(app, account.id))
        assert app.snapshots.rejected == 0  # type: ignore[attr-defined]
        check = verify_snapshots(app)
        assert (check.checked > 0, check.mismatches) == (True, ())
    finally:
        app.close()


def test_a_version_2_snapshot_still_loads_and_verifies(
    store_settings: DatabaseSettings, recorded: UUID
) -> None:
    """A sealed snapshot as version 2 took it (every lot, every key) loads into the state
    today's events give, and `audit verify` finds it matches them."""
    # given: the snapshot at the end of the history replaced by version 2's, sealed
    account_id = CreditAccount.create_id(recorded)
    version, _, inner = latest(store_settings, account_id)
    today = json.loads(inner)
    old = FIXTURE["snapshot"]
    assert (version, old["topic"]) == (FIXTURE["version"], today["topic"])
    state = dict(old["state"])
    for name in ("contract_id", "_created_on", "_modified_on"):  # this run's id and times
        state[name] = today["state"][name]
    assert len(state["lots"]) == 6
    assert "purchase_count" not in state
    v2 = json.dumps({**old, "state": state}, separators=(",", ":")).encode()
    write_state(store_settings, account_id, version,
                sealed(TEST_SNAPSHOT_KEY, account_id, version, TOPIC, v2))  # fmt: skip
    # when
    app, account = loaded(store_settings, recorded)
    try:
        # then
        assert app.snapshots.rejected == 0  # type: ignore[attr-defined]
        (snapshot,) = app.snapshots.get(account_id, desc=True, limit=1)  # type: ignore[union-attr]
        assert vars(snapshot.mutate(None)) == vars(replayed(app, account_id))
        assert sorted(account.lots) == ["purchase-2", "term-2-points", "term-2-sessions"]
        assert vars(account) == vars(replayed(app, account_id))
        assert verify_snapshots(app).mismatches == ()
    finally:
        app.close()


def test_the_scheduler_records_the_expiry_of_a_used_up_package_and_it_leaves(
    store_settings: DatabaseSettings,
) -> None:
    """A package used up (held only as its purchase record) still has its expiry recorded by
    the scheduler, with nothing left, once; then its record goes too."""
    # given: Basic's package of 5 points used up, expiring on 10 March
    app = SupportLedger(settings=store_settings)
    clock = FakeClock(at(3, 3, 8))
    scheduler = Scheduler(app, store_settings, clock=clock)
    try:
        world = build_world(app)
        app.purchase_credits(world.basic, points=Decimal(5), price=Decimal(1), key="p",
                             at=at(3, 3), expires_at=at(3, 10))  # fmt: skip
        app.consume_credits(world.basic, points=Decimal(5), activity="a", key="c", at=at(3, 4))
        assert "purchase-1" not in app.get_account(world.basic).lots
        # when
        clock.set(at(3, 10, 9))
        outcomes = [o for o in scheduler.tick() if o.recorded]
        # then
        assert [(o.fact.kind, o.fact.detail) for o in outcomes] == [("lot_expiry", "purchase-1")]
        account = app.get_account(world.basic)
        expired = [e for e in app.list_events(account.id) if type(e).__name__ == "LotExpired"]
        assert [(e.lot_id, e.amount) for e in expired] == [("purchase-1", Decimal(0))]
        assert (account.find_lot("purchase-1"), account.purchases) == (None, {})
        assert [o for o in scheduler.tick() if o.recorded] == []
    finally:
        scheduler.close()
        app.close()
