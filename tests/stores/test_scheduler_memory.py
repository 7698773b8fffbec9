"""The scheduler within a small memory budget, on SQLite and PostgreSQL: still every fact once."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from ledger.application import SupportLedger
from ledger.domain.credit_account import CreditAccount
from ledger.projections.db import ViewDatabase
from ledger.projections.deadlines import DeadlinesView
from ledger.scheduler.clock import FakeClock
from ledger.scheduler.service import Scheduler, catch_up
from ledger.wiring import SCHEDULER_ENV
from tests.scenario import at

if TYPE_CHECKING:
    from collections.abc import Iterator
    from uuid import UUID

    from ledger.projections.deadlines import Deadline
    from ledger.settings import DatabaseSettings

CONTRACTS = 4
LOTS = 3  # each contract's lots expire in turn with the other contracts' lots
FIRST = at(3, 3, 10)


@pytest.fixture
def app(store_settings: DatabaseSettings) -> Iterator[SupportLedger]:
    # About 10 KB: room for the copies of one or two of the accounts (their lots leave the
    # state as they expire), never all four.
    application = SupportLedger(
        {**SCHEDULER_ENV, "LEDGER_COPIES_MB": "0.01"}, settings=store_settings
    )
    yield application
    application.close()


def accounts_with_lots_in_turn(app: SupportLedger, *, same_instant: bool = False) -> list[UUID]:
    """Lot n of contract c expires at FIRST + (n * CONTRACTS + c) minutes (`same_instant`:
    every lot at FIRST, and so every lot's notice at its purchase)."""
    contracts = [
        app.sign_contract(
            customer=f"B{c}",
            tier="basic",
            licenses=1,
            license_kind="commercial",
            list_price=Decimal(1000),
            start=at(3, 2).date(),
            at=at(3, 2, 9),
        )
        for c in range(CONTRACTS)
    ]
    for n in range(LOTS):
        for c, contract in enumerate(contracts):
            app.purchase_credits(
                contract, points=Decimal(1), price=Decimal(1), key=f"lot-{n}", at=at(3, 3, 9),
                expires_at=FIRST + timedelta(minutes=0 if same_instant else n * CONTRACTS + c),
            )  # fmt: skip
    return contracts


def expiries(app: SupportLedger, contracts: list[UUID]) -> Counter[tuple[UUID, str]]:
    return Counter(
        (contract, event.lot_id)
        for contract in contracts
        for event in app.list_events(CreditAccount.create_id(contract))
        if type(event).__name__ == "LotExpired"
    )


def two_hours_after_every_lot(
    app: SupportLedger, settings: DatabaseSettings
) -> tuple[list[UUID], Scheduler]:
    """Accounts whose lots take turns falling due, and a scheduler started two hours after the
    first, when all are due, recording two facts a batch: a catch-up of many batches in one
    tick."""
    contracts = accounts_with_lots_in_turn(app)
    clock = FakeClock(FIRST + timedelta(hours=2))
    return contracts, Scheduler(app, settings, clock=clock, batch_size=2)


def test_every_fact_is_recorded_once_when_the_copies_hold_fewer_accounts_than_it_records_on(
    app: SupportLedger, store_settings: DatabaseSettings
) -> None:
    """With room for the copies of fewer accounts than take turns falling due, each account
    is read again when its turn comes, and each lot expires exactly once, in due order."""
    contracts = accounts_with_lots_in_turn(app)
    scheduler = Scheduler(app, store_settings, clock=FakeClock(FIRST - timedelta(minutes=1)))
    try:
        outcomes = catch_up(scheduler, FIRST + timedelta(minutes=20), timedelta(minutes=1))
    finally:
        scheduler.close()

    recorded = [o.fact for o in outcomes if o.recorded and o.fact.kind == "lot_expiry"]
    assert [f.due_at for f in recorded] == sorted(f.due_at for f in recorded)
    assert expiries(app, contracts) == Counter(
        {(c, f"purchase-{n + 1}"): 1 for c in contracts for n in range(LOTS)}
    )
    saved = app.work.saved
    assert 0 < len(saved) < CONTRACTS
    assert saved.held_bytes <= saved.budget
    assert app.repository.cache is None  # the scheduler's copies are its only ones


def test_a_tick_catching_up_more_facts_than_a_batch_records_each_once_in_due_order(
    app: SupportLedger, store_settings: DatabaseSettings
) -> None:
    """Missed facts recorded in many batches of one tick: each once, earliest first."""
    contracts, scheduler = two_hours_after_every_lot(app, store_settings)
    try:
        outcomes = scheduler.tick()
        again = scheduler.tick()
    finally:
        scheduler.close()

    recorded = [o.fact for o in outcomes if o.recorded and o.fact.kind == "lot_expiry"]
    assert len(recorded) == CONTRACTS * LOTS
    assert [f.due_at for f in recorded] == sorted(f.due_at for f in recorded)
    assert all(o.late for o in outcomes if o.recorded and o.fact.kind == "lot_expiry")
    assert not [o for o in again if o.recorded]
    assert sum(expiries(app, contracts).values()) == CONTRACTS * LOTS


def test_the_view_answers_which_remembered_facts_it_still_lists(
    app: SupportLedger, store_settings: DatabaseSettings
) -> None:
    """Asked about some facts, the view names those still pending at the same instant only."""
    accounts_with_lots_in_turn(app)
    scheduler = Scheduler(app, store_settings, clock=FakeClock(FIRST - timedelta(minutes=1)))
    db = ViewDatabase(store_settings)
    try:
        scheduler.refresh()
        view = DeadlinesView(db)
        pending = [d for d in view.all() if d.kind == "lot_expiry"]
        first, second = pending[0], pending[1]
        keys = [(d.kind, d.aggregate_id, d.detail, d.due_at) for d in (first, second)]
        moved = (second.kind, second.aggregate_id, second.detail, second.due_at + timedelta(1))
        gone = ("lot_expiry", first.aggregate_id, "purchase-99", first.due_at)

        assert view.listed([*keys, moved, gone]) == set(keys)
        assert view.listed([]) == set()
    finally:
        db.close()
        scheduler.close()


class CountingView(DeadlinesView):
    """The deadlines view, noting the most rows each read of due facts may return."""

    def __init__(self, db: ViewDatabase) -> None:
        super().__init__(db)
        self.limits: list[int] = []

    def due(self, *args: Any, **kwargs: Any) -> list[Deadline]:
        if kwargs.get("since") is None:  # a tick's reads, not the read-ahead's
            self.limits.append(int(kwargs.get("limit", 1000)))
        return super().due(*args, **kwargs)


def test_a_tick_over_many_facts_due_at_one_instant_reads_a_batch_at_a_time(
    app: SupportLedger, store_settings: DatabaseSettings
) -> None:
    """Facts that share one instant are recorded each once, and each read of them is bounded
    by the batch, not by how many the tick has recorded before (that made 100,000 notices
    due at one instant quadratic)."""
    contracts = accounts_with_lots_in_turn(app, same_instant=True)
    clock = FakeClock(FIRST - timedelta(minutes=1))
    scheduler = Scheduler(app, store_settings, clock=clock, batch_size=2)
    view = scheduler.view = CountingView(scheduler.db)
    try:
        outcomes = scheduler.tick()  # the notices, due at the purchases
        clock.set(FIRST + timedelta(hours=1))
        outcomes += scheduler.tick()  # the expiries
        again = scheduler.tick()
    finally:
        scheduler.close()

    recorded = [o.fact for o in outcomes if o.recorded]
    assert Counter(f.kind for f in recorded) == {
        "lots_expiring": CONTRACTS * LOTS,
        "lot_expiry": CONTRACTS * LOTS,
    }
    assert len({(f.kind, f.aggregate_id, f.detail) for f in recorded}) == len(recorded)
    assert not [o for o in again if o.recorded]
    assert sum(expiries(app, contracts).values()) == CONTRACTS * LOTS
    assert len(view.limits) > len(recorded) // 2  # a read per batch of 2
    assert max(view.limits) <= 3 * 2  # two batches and the one just recorded


def test_a_tick_that_keeps_no_outcomes_still_records_every_fact_once(
    app: SupportLedger, store_settings: DatabaseSettings
) -> None:
    """The running service's ticks (`keep=False`) return nothing and record the same facts."""
    contracts, scheduler = two_hours_after_every_lot(app, store_settings)
    try:
        assert scheduler.tick(keep=False) == []
        again = scheduler.tick()
    finally:
        scheduler.close()

    assert not [o for o in again if o.recorded]
    assert expiries(app, contracts) == Counter(
        {(c, f"purchase-{n + 1}"): 1 for c in contracts for n in range(LOTS)}
    )
