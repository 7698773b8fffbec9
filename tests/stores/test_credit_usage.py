"""The credit-usage view on SQLite and PostgreSQL: movements in double entry, statements, fees."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import pytest

from ledger.domain.errors import InvalidInputError, UnknownContractError
from ledger.projections.credit_usage import (
    CreditUsageProjection,
    CreditUsageView,
    Discrepancy,
    reconcile,
)
from ledger.projections.runner import run_projections, verify
from tests.scenario import World, at, build_world

if TYPE_CHECKING:
    from uuid import UUID

    from ledger.application import SupportLedger
    from ledger.projections.db import ViewDatabase
    from ledger.settings import DatabaseSettings

D = Decimal


@pytest.fixture
def view(db: ViewDatabase) -> CreditUsageView:
    return CreditUsageView(db)


@dataclass
class History:
    """The standard world, and the Advanced contract whose credits the tests follow."""

    world: World
    contract: UUID


@pytest.fixture
def history(app: SupportLedger) -> History:
    """The history of `record_history`."""
    return record_history(app)


def record_history(app: SupportLedger) -> History:
    """A year and a bit of the Advanced contract (2 licenses: 32 points and 2 sessions a term).

    March: a 20-point package expiring on the 20th, two consumptions from it, a partial
    reversal, a training session, the package's expiry (5 left), a consumption from the term,
    and a full reversal of the first consumption to the expired package. July 2nd 13:00 (half
    the term left): an upgrade to Premium, +16 points, +2 sessions, fee 2,500.00. September: a
    consumption for a ticket. November: the renewal (Premium, 13,000.00). At the term's end the
    term-2 grant and the term-1 lots' expiry; in January 2026 a consumption from term 2.
    """
    world = build_world(app)
    c = world.advanced
    app.purchase_credits(
        c, points=D(20), price=D("1500.00"), key="p1", at=at(3, 3, 10), expires_at=at(3, 20, 0)
    )
    app.consume_credits(c, points=D(12), activity="analysis", key="c1", at=at(3, 4, 10))
    app.consume_credits(c, points=D(5), activity="analysis", key="c2", at=at(3, 5, 10))
    app.reverse_consumption(c, key="c2", points=D(2), reason="goodwill", at=at(3, 6, 10))
    app.hold_training(c, key="t1", topic="basics", at=at(3, 12, 10))
    app.expire_lot(c, lot_id="purchase-1", at=at(3, 20, 0), late=False)
    app.consume_credits(c, points=D("7.5"), activity="workshop", key="c3", at=at(3, 24, 10))
    app.reverse_consumption(c, key="c1", reason="duplicate", at=at(3, 25, 10))
    app.change_tier(c, tier="premium", at=at(7, 2, 13))
    app.open_ticket(
        contract_id=c, reporter="support@borealis.example", version="24.2.1", platform="linux",
        at=at(9, 1, 9), key="BOR-1",
    )  # fmt: skip
    app.consume_credits(
        c, points=D(20), activity="migration", key="c4", ticket="BOR-1", at=at(9, 1, 10)
    )
    app.renew_contract(c, at=at(11, 3, 10))
    new_year = at(1, 1, 0, year=2026)
    app.grant_due_terms(c, at=new_year)
    for lot in ("term-1-points", "term-1-sessions", "upgrade-1-points", "upgrade-1-sessions"):
        app.expire_lot(c, lot_id=lot, at=new_year, late=False)
    app.consume_credits(c, points=D(3), activity="review", key="c5", at=at(1, 5, 10, year=2026))
    return History(world, c)


def project(settings: DatabaseSettings, app: SupportLedger, batch_size: int = 1000) -> None:
    outcomes = run_projections(
        settings, app, [CreditUsageProjection], once=True, batch_size=batch_size
    )
    assert [o.status for o in outcomes] == ["caught_up"]


@pytest.fixture
def projected(store_settings: DatabaseSettings, app: SupportLedger, history: History) -> History:
    """The history, projected into the view."""
    project(store_settings, app)
    return history


def figures(statement: dict[str, Any], unit: str) -> tuple[Decimal, ...]:
    """opening, granted, purchased, consumed, reversed, expired, closing."""
    f = statement[unit]
    return tuple(
        f[k]
        for k in ("opening", "granted", "purchased", "consumed", "reversed", "expired", "closing")
    )


def balanced(statement: dict[str, Any]) -> bool:
    """opening + granted + purchased - consumed + reversed - expired = closing, in each unit."""
    for unit in ("points", "sessions"):
        opening, granted, purchased, consumed, reversed_, expired, closing = figures(
            statement, unit
        )
        if opening + granted + purchased - consumed + reversed_ - expired != closing:
            return False
    return True


def fees(statement: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (f["kind"], f["term_number"], f["fee"], f["fee_share"], f["remaining_share"],
         f["assessed_at"])
        for f in statement["fees"]
    ]  # fmt: skip


# -- movements -------------------------------------------------------------------------------------


def test_every_movement_names_the_account_it_left_and_the_one_it_entered(
    projected: History, view: CreditUsageView
) -> None:
    """Grants, purchase, draws, returns, expiries and sessions, by business instant."""
    rows = [
        (m.kind, m.unit, m.from_account, m.to_account, m.amount, m.at, m.lot_id, m.idempotency_key)
        for m in view.movements(projected.contract)
    ]
    new_year = at(1, 1, 0, year=2026)
    assert rows == [
        ("term_grant", "points", "granted", "available", D(32), at(1, 1, 0), "term-1-points", None),
        ("term_grant", "sessions", "granted", "available", D(2), at(1, 1, 0), "term-1-sessions",
         None),
        ("purchase", "points", "purchased", "available", D(20), at(3, 3, 10), "purchase-1", "p1"),
        ("consumption", "points", "available", "consumed", D(12), at(3, 4, 10), "purchase-1",
         "c1"),
        ("consumption", "points", "available", "consumed", D(5), at(3, 5, 10), "purchase-1", "c2"),
        ("reversal", "points", "consumed", "available", D(2), at(3, 6, 10), "purchase-1", "c2"),
        ("training", "sessions", "available", "consumed", D(1), at(3, 12, 10), "term-1-sessions",
         "t1"),
        # what remained of the package (20 - 12 - 5 + 2) expired at its expiry instant
        ("expiry", "points", "available", "expired", D(5), at(3, 20, 0), "purchase-1", None),
        ("consumption", "points", "available", "consumed", D("7.5"), at(3, 24, 10),
         "term-1-points", "c3"),
        # returned to the package, which had expired: back to available and expired at once
        ("reversal", "points", "consumed", "available", D(12), at(3, 25, 10), "purchase-1", "c1"),
        ("reversal_expiry", "points", "available", "expired", D(12), at(3, 25, 10), "purchase-1",
         "c1"),
        ("upgrade_grant", "points", "granted", "available", D(16), at(7, 2, 13),
         "upgrade-1-points", None),
        ("upgrade_grant", "sessions", "granted", "available", D(2), at(7, 2, 13),
         "upgrade-1-sessions", None),
        ("consumption", "points", "available", "consumed", D(20), at(9, 1, 10), "term-1-points",
         "c4"),
        ("term_grant", "points", "granted", "available", D(64), new_year, "term-2-points", None),
        ("term_grant", "sessions", "granted", "available", D(6), new_year, "term-2-sessions",
         None),
        ("expiry", "points", "available", "expired", D("4.5"), new_year, "term-1-points", None),
        ("expiry", "sessions", "available", "expired", D(1), new_year, "term-1-sessions", None),
        ("expiry", "points", "available", "expired", D(16), new_year, "upgrade-1-points", None),
        ("expiry", "sessions", "available", "expired", D(2), new_year, "upgrade-1-sessions", None),
        ("consumption", "points", "available", "consumed", D(3), at(1, 5, 10, year=2026),
         "term-2-points", "c5"),
    ]  # fmt: skip


def test_a_movement_keeps_its_contract_customer_and_ticket(
    app: SupportLedger, projected: History, view: CreditUsageView
) -> None:
    """A consumption for a ticket names the ticket; every row names contract and customer."""
    movements = view.movements(projected.contract)
    (for_ticket,) = [m for m in movements if m.idempotency_key == "c4"]
    assert for_ticket.ticket_id == app.ticket_id("BOR-1")
    assert {(m.contract_id, m.customer) for m in movements} == {
        (projected.contract, "Advanced Customer")
    }


def test_a_movement_of_nothing_has_no_row(projected: History, view: CreditUsageView) -> None:
    """A Basic term grants 0 points and no sessions, so the Basic contract has no movements."""
    assert view.movements(projected.world.basic) == []
    assert len(view.movements()) == 21 + 2  # Advanced's above; Premium's term-1 points, sessions
    assert {m.contract_id for m in view.movements()} == {
        projected.contract,
        projected.world.premium,
    }


# -- statements ------------------------------------------------------------------------------------


def test_a_month_statement_adds_up_the_movements_of_that_month(
    projected: History, view: CreditUsageView
) -> None:
    """March: opening 32; +20 bought, -24.5 used, +14 returned, -17 expired; closing 24.5."""
    (march,) = view.statement(period="2025-03", contract_id=projected.contract)
    assert (march["contract_id"], march["customer"], march["currency"]) == (
        projected.contract,
        "Advanced Customer",
        "EUR",
    )
    assert (march["period"], march["term"], march["start"], march["end"]) == (
        "2025-03",
        None,
        at(3, 1, 0),
        at(4, 1, 0),
    )
    assert figures(march, "points") == (D(32), 0, D(20), D("24.5"), D(14), D(17), D("24.5"))
    assert figures(march, "sessions") == (D(2), 0, 0, D(1), 0, 0, D(1))
    assert (march["fees"], march["fees_total"]) == ([], 0)
    assert march["fees_basis"] == "charged_in_period"
    assert march["packages"] == [
        {"lot_id": "purchase-1", "points": 20, "price": D("1500.00"), "purchased_at": at(3, 3, 10)}
    ]
    assert (march["packages_total"], march["timezone"]) == (D("1500.00"), "Europe/Berlin")


def test_a_month_with_an_upgrade_shows_its_pro_rata_grant_and_fee(
    projected: History, view: CreditUsageView
) -> None:
    """Half the term left: Advanced to Premium grants 16 points, 2 sessions and costs 2,500.00."""
    (july,) = view.statement(period="2025-07", contract_id=projected.contract)
    assert figures(july, "points") == (D("24.5"), D(16), 0, 0, 0, 0, D("40.5"))
    assert figures(july, "sessions") == (D(1), D(2), 0, 0, 0, 0, D(3))
    assert fees(july) == [("upgrade", 1, D("2500.00"), None, D("0.5"), at(7, 2, 13))]
    assert july["fees_total"] == D("2500.00")
    (november,) = view.statement(period="2025-11", contract_id=projected.contract)
    assert fees(november) == [("renewal", 2, D("13000.00"), D("0.65"), None, at(11, 3, 10))]


def test_a_term_statement_covers_the_term_and_the_fees_paying_for_it(
    projected: History, view: CreditUsageView
) -> None:
    """Term 1: the signing and upgrade fees (the renewal charged in it pays for term 2); its
    lots still held at its end."""
    (term,) = view.statement(term=1, contract_id=projected.contract)
    assert (term["period"], term["term"], term["start"], term["end"]) == (
        None,
        1,
        at(1, 1, 0),
        at(1, 1, 0, year=2026),
    )
    assert figures(term, "points") == (0, D(48), D(20), D("44.5"), D(14), D(17), D("20.5"))
    assert figures(term, "sessions") == (0, D(4), 0, D(1), 0, 0, D(3))
    assert fees(term) == [
        ("initial", 1, D("8000.00"), D("0.40"), None, at(1, 2)),
        ("upgrade", 1, D("2500.00"), None, D("0.5"), at(7, 2, 13)),
    ]
    assert (term["fees_total"], term["fees_basis"]) == (D("10500.00"), "paying_for_term")
    assert term["packages_total"] == D("1500.00")


def test_a_lot_expiring_as_its_term_ends_expires_in_the_next_window(
    projected: History, view: CreditUsageView
) -> None:
    """Term 2 opens with term 1's 20.5 points and 3 sessions, which expire at its first instant."""
    (term,) = view.statement(term=2, contract_id=projected.contract)
    assert (term["start"], term["end"]) == (at(1, 1, 0, year=2026), at(1, 1, 0, year=2027))
    assert figures(term, "points") == (D("20.5"), D(64), 0, D(3), 0, D("20.5"), D(61))
    assert figures(term, "sessions") == (D(3), D(6), 0, 0, 0, D(3), D(6))
    assert fees(term) == [("renewal", 2, D("13000.00"), D("0.65"), None, at(11, 3, 10))]
    assert (term["packages"], term["packages_total"]) == ([], 0)
    (january,) = view.statement(period="2026-01", contract_id=projected.contract)
    assert figures(january, "points") == figures(term, "points")


def test_every_statement_keeps_the_identity(projected: History, view: CreditUsageView) -> None:
    """Opening + granted + purchased - consumed + reversed - expired = closing, always."""
    months = [f"2025-{m:02d}" for m in range(1, 13)] + ["2026-01", "2026-02"]
    statements = [s for p in months for s in view.statement(period=p)]
    statements += [s for t in (1, 2) for s in view.statement(term=t)]
    assert len(statements) == 14 * 3 + 3 + 1
    assert all(balanced(s) for s in statements)


def test_each_month_opens_with_the_previous_months_closing(
    projected: History, view: CreditUsageView
) -> None:
    """Consecutive months chain: a closing balance is the next opening balance."""
    months = [f"2025-{m:02d}" for m in range(1, 13)] + ["2026-01"]
    chain = [view.statement(period=p, contract_id=projected.contract)[0] for p in months]
    for before, after in itertools.pairwise(chain):
        for unit in ("points", "sessions"):
            assert before[unit]["closing"] == after[unit]["opening"]


def test_statements_for_all_contracts_include_the_one_asked_for(
    projected: History, view: CreditUsageView
) -> None:
    """Every contract, by customer; with a term, only the contracts that have it."""
    everyone = view.statement(period="2025-03")
    assert [s["customer"] for s in everyone] == [
        "Advanced Customer",
        "Basic Customer",
        "Premium Customer",
    ]
    assert view.statement(period="2025-03", contract_id=projected.contract) == [everyone[0]]
    premium = view.statement(period="2025-03", contract_id=projected.world.premium)
    assert premium == [everyone[2]]
    assert figures(premium[0], "points") == (D(64), 0, 0, 0, 0, 0, D(64))
    assert figures(everyone[1], "points") == (0, 0, 0, 0, 0, 0, 0)
    assert view.statement(term=2) == view.statement(term=2, contract_id=projected.contract)


def test_a_reinstatement_fee_is_assessed_in_the_month_of_reinstatement(
    store_settings: DatabaseSettings, app: SupportLedger, view: CreditUsageView
) -> None:
    """A Basic contract lapsed at the year's end, reinstated on 2 February 2026 at 80 %."""
    world = build_world(app)
    app.reinstate_contract(world.basic, at=at(2, 2, 11, year=2026))
    project(store_settings, app)
    (february,) = view.statement(period="2026-02", contract_id=world.basic)
    assert fees(february) == [
        ("reinstatement", 2, D("4800.00"), D("0.8"), None, at(2, 2, 11, year=2026))
    ]
    (term,) = view.statement(term=2, contract_id=world.basic)
    assert (term["start"], term["end"]) == (at(2, 2, 0, year=2026), at(2, 2, 0, year=2027))
    assert term["fees_total"] == D("4800.00")


def test_a_termination_expires_what_remains_and_closes_at_nothing(
    store_settings: DatabaseSettings, app: SupportLedger, view: CreditUsageView
) -> None:
    """Premium (2 licenses: 64 points, 6 sessions), 10 points used in May, terminated on 2 June:
    June shows the 54 points and 6 sessions left expiring, and closes at nothing."""
    world = build_world(app)
    c = world.premium
    app.consume_credits(c, points=D(10), activity="analysis", key="c1", at=at(5, 5, 10))
    app.terminate_contract(c, reason="insolvency", at=at(6, 2, 12))
    project(store_settings, app)
    (june,) = view.statement(period="2025-06", contract_id=c)
    assert figures(june, "points") == (D(54), 0, 0, 0, 0, D(54), 0)
    assert figures(june, "sessions") == (D(6), 0, 0, 0, 0, D(6), 0)
    (july,) = view.statement(period="2025-07", contract_id=c)
    assert figures(july, "points") == (0, 0, 0, 0, 0, 0, 0)
    assert reconcile(app, view, period="2025-06") == []


# -- reconciliation --------------------------------------------------------------------------------


def test_reconcile_finds_nothing_when_the_view_is_right(
    app: SupportLedger, projected: History, view: CreditUsageView
) -> None:
    """Every figure recomputed from the events equals the view's, for months and terms."""
    for request in ({"period": "2025-03"}, {"period": "2025-07"}, {"term": 1}, {"term": 2}):
        assert reconcile(app, view, **request) == []
        assert reconcile(app, view, contract_id=projected.contract, **request) == []


def test_reconcile_finds_a_movement_altered_behind_the_views_back(
    app: SupportLedger,
    projected: History,
    db: ViewDatabase,
    view: CreditUsageView,
) -> None:
    """A consumption of 7.50 changed to 8.50 in the table shows in consumed and closing."""
    with db.transaction() as tx:
        tx.execute("UPDATE credit_movements SET amount = 850 WHERE idempotency_key = ?", ("c3",))
    expected = [
        Discrepancy("consumed", projected.contract, "points", D("25.5"), D("24.5")),
        Discrepancy("closing", projected.contract, "points", D("23.5"), D("24.5")),
    ]
    assert reconcile(app, view, period="2025-03", contract_id=projected.contract) == expected
    assert reconcile(app, view, period="2025-03") == expected
    assert reconcile(app, view, period="2025-02") == []  # that month is untouched


def test_reconcile_finds_a_contract_missing_from_the_view(
    app: SupportLedger,
    projected: History,
    db: ViewDatabase,
    view: CreditUsageView,
) -> None:
    """A contract the log has and the view lacks is a difference, not an error."""
    with db.transaction() as tx:
        tx.execute("DELETE FROM credit_contracts WHERE contract_id = ?", (str(projected.contract),))
    missing = [Discrepancy("statement", projected.contract, None, "missing", "present")]
    assert reconcile(app, view, term=1, contract_id=projected.contract) == missing
    assert reconcile(app, view, term=1) == missing


# -- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({"period": "2025-03", "term": 1}, "either a period"),
        ({}, "either a period"),
        ({"period": "2025-3"}, "not a month"),
        ({"period": "2025-13"}, "not a month"),
        ({"period": "March 2025"}, "not a month"),
        ({"term": 0}, "term number"),
        ({"term": True}, "term number"),
        ({"term": 3}, "has no term 3"),
        ({"period": "2025-03", "contract_id": "ACME"}, "not an id"),
    ],
    ids=[
        "both", "neither", "short-month", "month-13", "words", "term-0", "term-bool",
        "term-missing", "bad-id",
    ],
)  # fmt: skip
def test_bad_requests_are_refused_with_a_clear_message(
    app: SupportLedger,
    projected: History,
    view: CreditUsageView,
    request_: dict[str, Any],
    message: str,
) -> None:
    """A malformed period, a missing term or both/neither is invalid input, for view and check."""
    request = {"contract_id": projected.contract, **request_}
    with pytest.raises(InvalidInputError, match=message):
        view.statement(**request)
    with pytest.raises(InvalidInputError, match=message):
        reconcile(app, view, **request)


def test_an_unknown_contract_is_reported_as_such(
    app: SupportLedger, projected: History, view: CreditUsageView
) -> None:
    """Statements, movements and the check all refuse a contract id nobody signed."""
    stranger = uuid4()
    with pytest.raises(UnknownContractError):
        view.statement(period="2025-03", contract_id=stranger)
    with pytest.raises(UnknownContractError):
        view.statement(term=1, contract_id=stranger)
    with pytest.raises(UnknownContractError):
        view.movements(stranger)
    with pytest.raises(UnknownContractError):
        reconcile(app, view, period="2025-03", contract_id=stranger)


# -- equal to a rebuild ----------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [1, 3, 1000], ids=["batch-1", "batch-3", "batch-1000"])
def test_the_view_equals_a_rebuild_whatever_the_batch_size(
    store_settings: DatabaseSettings,
    app: SupportLedger,
    history: History,
    view: CreditUsageView,
    batch_size: int,
) -> None:
    """Projected in batches of any size, the tables equal a rebuild from the first event."""
    project(store_settings, app, batch_size=batch_size)
    head = app.recorder.max_notification_id()
    assert view.position() == head
    assert verify(store_settings, app, CreditUsageProjection) == (head, [])
    assert reconcile(app, view, term=1) == []
