"""The figures `ledger.figures` declares: computed by the views, re-derived, and compared.

A figure declared and not re-derived from an export would let `audit reconcile` pass without
looking at it; these tests fail first. The history is the one of tests/stores/test_audit_export.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import pytest

from ledger.application import SupportLedger
from ledger.audit.rederive import compare_statements, compare_stats, rederive
from ledger.audit.revenue import RederivedRevenue, compare_revenue
from ledger.domain.credit_account import POINTS, SESSIONS
from ledger.domain.revenue import identity_holds
from ledger.figures import (
    BREACH_STAT_FIGURES,
    BREACH_STAT_KEY,
    FEES_TOTAL,
    FLOWS,
    PACKAGES_TOTAL,
    REVENUE_FIGURE_NAMES,
    STATEMENT_COLUMNS,
    STATEMENT_FIGURES,
    STATEMENT_HEADING,
    UNIT_NAMES,
)
from ledger.projections.credit_usage import CreditUsageView, reconcile
from ledger.projections.db import ViewDatabase
from ledger.projections.revenue import RevenueView, reconcile_revenue
from ledger.projections.sla_breaches import SlaBreachView
from ledger.reports import statements_csv
from tests.scenario import at
from tests.stores.test_audit_export import GROUPINGS, MONTHS, export, project, record_history

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ledger.audit.rederivation import Rederivation
    from ledger.settings import DatabaseSettings

WINDOWS = [{"period": m} for m in MONTHS] + [{"term": 1}, {"term": 2}]
WHEN = at(4, 7, 12)  # S3 overdue, S5 waived, responses met and late: every statistic counts


@pytest.fixture
def app(store_settings: DatabaseSettings) -> Iterator[SupportLedger]:
    application = SupportLedger(settings=store_settings)
    record_history(application)
    yield application
    application.close()


@pytest.fixture
def derived(app: SupportLedger) -> Rederivation:
    return rederive(export(app))


@pytest.fixture
def db(store_settings: DatabaseSettings, app: SupportLedger) -> Iterator[ViewDatabase]:
    project(store_settings, app)
    database = ViewDatabase(store_settings)
    yield database
    database.close()


def statements(side: Any) -> list[dict[str, Any]]:
    """Every statement of every month and term that a side (the export or the view) gives."""
    return [s for window in WINDOWS for s in side.statement(**window)]


def test_the_declared_units_are_the_credit_accounts_units() -> None:
    """The statement's units are the ones the credit account moves."""
    assert UNIT_NAMES == (POINTS, SESSIONS)


def test_the_statement_shows_the_declared_figures_of_each_declared_unit(
    derived: Rederivation, db: ViewDatabase
) -> None:
    """Both the view and the re-derivation give each unit exactly the declared figures, in order."""
    for side in (CreditUsageView(db), derived):
        for statement in statements(side):
            assert [u for u in UNIT_NAMES if u in statement] == list(UNIT_NAMES)
            for unit in UNIT_NAMES:
                assert tuple(statement[unit]) == STATEMENT_FIGURES


def test_every_declared_statement_figure_is_rederived_from_the_export(
    derived: Rederivation,
) -> None:
    """Each declared figure has a value other than zero somewhere in the history's statements,
    as re-derived: a figure the fold leaves out would stay zero (or be missing)."""
    found = statements(derived)
    for figure in STATEMENT_FIGURES:
        assert any(s[u][figure] != 0 for s in found for u in UNIT_NAMES), figure
    assert any(s[FEES_TOTAL.name] != 0 for s in found)
    assert any(s[PACKAGES_TOTAL.name] != 0 for s in found)


def test_every_declared_breach_statistic_is_rederived_from_the_export(
    derived: Rederivation, db: ViewDatabase
) -> None:
    """Each declared statistic is in every row of the view and of the re-derivation, and has a
    value other than zero (and None) in some group."""
    rows = [row for by in GROUPINGS for row in derived.stats(by, WHEN)]
    for side in (derived, SlaBreachView(db)):
        for by in GROUPINGS:
            for row in side.stats(by, WHEN):
                assert tuple(row) == (BREACH_STAT_KEY.name, *BREACH_STAT_FIGURES)
    for figure in BREACH_STAT_FIGURES:
        assert any(row[figure] not in (None, 0) for row in rows), figure


def test_audit_reconcile_names_each_declared_figure_that_differs(derived: Rederivation) -> None:
    """A view that differs from the export in any one declared figure shows that figure, and
    only it, among the differences."""
    (statement,) = derived.statement(term=1, contract_id=next(iter(derived.contracts)))
    for unit in UNIT_NAMES:
        for figure in STATEMENT_FIGURES:
            view = copy.deepcopy(statement)
            view[unit][figure] += 1
            found = compare_statements("term 1", [statement], [view])
            assert [(d.unit, d.figure) for d in found] == [(unit, figure)]
    for money in (FEES_TOTAL.name, PACKAGES_TOTAL.name):
        view = {**statement, money: statement[money] + 1}
        assert [d.figure for d in compare_statements("term 1", [statement], [view])] == [money]
    (row, *_) = derived.stats("tier", WHEN)
    for figure in BREACH_STAT_FIGURES:
        other = {**row, figure: "something else"}
        assert [d.figure for d in compare_stats("by tier", [row], [other])] == [figure]


def test_the_check_against_the_events_names_each_declared_figure_that_differs(
    app: SupportLedger, derived: Rederivation
) -> None:
    """`reconcile` (the statement's `--check`) recomputes every declared figure from the
    events: a view off by one in all of them shows each one."""
    contract = next(iter(derived.contracts))

    class OffByOne:
        """The statement re-derived from the export, every figure one more."""

        def statement(self, **request: Any) -> list[dict[str, Any]]:
            shown = copy.deepcopy(derived.statement(**request))
            for s in shown:
                for unit in UNIT_NAMES:
                    s[unit] = {f: v + 1 for f, v in s[unit].items()}
            return shown

    found = reconcile(app, OffByOne(), term=1, contract_id=contract)
    assert sorted((d.unit, d.figure) for d in found) == sorted(
        (u, f) for u in UNIT_NAMES for f in STATEMENT_FIGURES
    )
    assert all(d.view == d.recomputed + 1 for d in found)


def test_the_csv_has_a_column_for_each_declared_figure(derived: Rederivation) -> None:
    """The header is the statement's fields, each unit's figures, the fees' and the packages'
    totals."""
    header = statements_csv(derived.statement(term=1)).splitlines()[0].split(",")
    assert header == STATEMENT_COLUMNS
    assert header[: len(STATEMENT_HEADING)] == [f.name for f in STATEMENT_HEADING]
    assert header[-2:] == [FEES_TOTAL.name, PACKAGES_TOTAL.name]
    assert [f"points_{f}" for f in STATEMENT_FIGURES] == header[5:12]


def test_opening_and_each_flow_signed_add_up_to_closing(derived: Rederivation) -> None:
    """Every flow enters or leaves what is available, and its sign balances each statement."""
    assert {f.sign for f in FLOWS} == {1, -1}
    for statement in statements(derived):
        for unit in UNIT_NAMES:
            figures = statement[unit]
            balance = figures["opening"] + sum(f.sign * figures[f.name] for f in FLOWS)
            assert balance == figures["closing"]


def revenue_rows(side: Any) -> list[dict[str, Any]]:
    """Every revenue row of every month and term that a side gives."""
    return [r for window in WINDOWS for r in side.revenue(**window)]


def test_every_declared_revenue_figure_is_rederived_and_agrees_with_the_view(
    derived: Rederivation, db: ViewDatabase, app: SupportLedger
) -> None:
    """Each revenue figure has a value other than zero somewhere, as re-derived from the
    export; the view gives the same rows; the check against the events finds nothing."""
    mine, theirs = revenue_rows(RederivedRevenue(derived)), revenue_rows(RevenueView(db))
    for figure in REVENUE_FIGURE_NAMES:
        assert any(r[figure] != 0 for r in mine), figure
    assert mine == theirs
    assert all(identity_holds(r) for r in mine)
    for window in WINDOWS:
        assert reconcile_revenue(app, RevenueView(db), **window) == []


def test_audit_reconcile_names_each_declared_revenue_figure_that_differs(
    derived: Rederivation,
) -> None:
    """A view that differs in any one revenue figure shows that figure (and the identity the
    export keeps is not what is reported)."""
    (row, *_) = RederivedRevenue(derived).revenue(term=1)
    for figure in REVENUE_FIGURE_NAMES:
        view = {**row, figure: row[figure] + 1}
        assert [f for _, f, _, _ in compare_revenue([row], [view])] == [figure]
