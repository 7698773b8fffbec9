"""Revenue on SQLite and PostgreSQL: fees recognised over their local days, packages over
their points, breakage on expiry; every figure tied out against the events."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from ledger.domain.errors import InvalidInputError, UnknownContractError
from ledger.domain.revenue import identity_holds
from ledger.figures import REVENUE_FIGURE_NAMES
from ledger.projections.revenue import RevenueView, reconcile_revenue
from tests.scenario import at, build_world
from tests.stores.test_credit_usage import History, project, record_history

if TYPE_CHECKING:
    from ledger.application import SupportLedger
    from ledger.projections.db import ViewDatabase
    from ledger.settings import DatabaseSettings

D = Decimal
MONTHS = [f"2025-{m:02d}" for m in range(1, 13)] + ["2026-01", "2026-02"]


@pytest.fixture
def projected(store_settings: DatabaseSettings, app: SupportLedger) -> History:
    """The credit-usage tests' history (ledger.tests.stores.test_credit_usage), projected."""
    history = record_history(app)
    project(store_settings, app)
    return history


@pytest.fixture
def revenue(db: ViewDatabase) -> RevenueView:
    return RevenueView(db)


def fees(row: dict[str, Any]) -> tuple[Decimal, ...]:
    """deferred opening, billed, recognised, deferred closing."""
    return tuple(
        row[k]
        for k in (
            "fees_deferred_opening",
            "fees_billed",
            "fees_recognised",
            "fees_deferred_closing",
        )
    )


def packages(row: dict[str, Any]) -> tuple[Decimal, ...]:
    """deferred opening, billed, recognised as consumed, breakage, deferred closing."""
    return tuple(
        row[k]
        for k in (
            "packages_deferred_opening",
            "packages_billed",
            "packages_recognised_consumed",
            "packages_breakage",
            "packages_deferred_closing",
        )
    )


def test_march_recognises_a_month_of_the_fee_and_the_package_used_and_expired(
    projected: History, revenue: RevenueView, app: SupportLedger
) -> None:
    """8,000.00 over 365 local days: 59 days earned by March 1st (1,293.15), 90 by April 1st
    (1,972.60); the 1,500.00 package of 20 points (75.00 a point): 3 points used net of the
    reversals (225.00), 17 expired (1,275.00), nothing deferred."""
    (march,) = revenue.revenue(period="2025-03", contract_id=projected.contract)
    assert (march["currency"], march["start"], march["end"]) == ("EUR", at(3, 1, 0), at(4, 1, 0))
    assert fees(march) == (D("6706.85"), 0, D("679.45"), D("6027.40"))
    assert packages(march) == (0, D("1500.00"), D("225.00"), D("1275.00"), 0)
    assert reconcile_revenue(app, revenue, period="2025-03") == []


def test_an_upgrade_fee_is_recognised_from_the_upgrade_by_its_share_of_the_day(
    projected: History, revenue: RevenueView
) -> None:
    """July: the term fee earns 4,646.58 - 3,967.12; the 2,500.00 upgrade at 13:00 on the 2nd
    earns 29 11/24 of its 182 11/24 days (403.63), and is billed in July."""
    (july,) = revenue.revenue(period="2025-07", contract_id=projected.contract)
    assert fees(july) == (
        D("8000.00") - D("3967.12"),
        D("2500.00"),
        D("679.46") + D("403.63"),
        D("8000.00") + D("2500.00") - D("4646.58") - D("403.63"),
    )


def test_a_renewal_billed_before_its_term_is_deferred_until_the_term_runs(
    projected: History, revenue: RevenueView
) -> None:
    """Term 1 bills 23,500.00 (signing, upgrade, renewal) and earns the 10,500.00 paying for it;
    the renewal's 13,000.00 is deferred at the term's end and earned over term 2."""
    (term,) = revenue.revenue(term=1, contract_id=projected.contract)
    assert fees(term) == (0, D("23500.00"), D("10500.00"), D("13000.00"))
    (second,) = revenue.revenue(term=2, contract_id=projected.contract)
    assert fees(second) == (D("13000.00"), 0, D("13000.00"), 0)
    (january,) = revenue.revenue(period="2026-01", contract_id=projected.contract)
    assert january["fees_recognised"] == D("1104.11")  # 13,000.00 x 31 / 365


def test_every_month_keeps_the_identity_and_chains(
    projected: History, revenue: RevenueView, app: SupportLedger
) -> None:
    """Each row: opening + billed - recognised - breakage = closing; a month closes at the next
    one's opening; and the months of a term add up to the term."""
    chain = [revenue.revenue(period=p, contract_id=projected.contract)[0] for p in MONTHS]
    assert all(identity_holds(r) for m in MONTHS for r in revenue.revenue(period=m))
    for before, after in itertools.pairwise(chain):
        assert before["fees_deferred_closing"] == after["fees_deferred_opening"]
        assert before["packages_deferred_closing"] == after["packages_deferred_opening"]
    (term,) = revenue.revenue(term=1, contract_id=projected.contract)
    for figure in ("fees_billed", "fees_recognised", "packages_billed", "packages_breakage"):
        assert sum(r[figure] for r in chain[:12]) == term[figure]
    for window in [{"period": m} for m in MONTHS] + [{"term": 1}, {"term": 2}]:
        assert reconcile_revenue(app, revenue, **window) == []


def test_a_figure_altered_in_the_view_is_found_by_the_check(
    projected: History, revenue: RevenueView, app: SupportLedger, db: ViewDatabase
) -> None:
    """A package price inflated in the view: the check names the figures that differ."""
    with db.transaction() as tx:
        tx.execute("UPDATE credit_packages SET price = price + 100")
    found = reconcile_revenue(app, revenue, period="2025-03", contract_id=projected.contract)
    assert {d.figure for d in found} >= {"packages_billed", "packages_breakage"}
    assert all(d.figure in REVENUE_FIGURE_NAMES for d in found)


def test_bad_requests_are_refused_and_name_what_was_wrong(
    store_settings: DatabaseSettings, app: SupportLedger, revenue: RevenueView
) -> None:
    """Both or neither of period and term, a malformed month, an unknown contract or term."""
    world = build_world(app)
    project(store_settings, app)
    with pytest.raises(InvalidInputError, match="either a period"):
        revenue.revenue(period="2025-03", term=1)
    with pytest.raises(InvalidInputError, match="not a month"):
        revenue.revenue(period="2025-13")
    with pytest.raises(UnknownContractError):
        revenue.revenue(period="2025-03", contract_id="6f1c1c1e-0000-4000-8000-000000000000")
    with pytest.raises(InvalidInputError, match="has no term 3"):
        revenue.revenue(term=3, contract_id=world.basic)
