"""The credit statements and breach statistics re-derived from an export alone, and compared.

`rederive` (ledger.audit.rederivation) folds the lines of an export (ledger.audit.export) in
plain Python: no event store, no database, no view table and no projection code, only the JSON
payloads. A figure that
agrees with the live view was therefore reached twice, independently. The rules are the read
models' own, restated here from their docs:

Credits (ledger.projections.credit_usage), per contract and unit, each movement at its
business instant: `PointsGranted` / `SessionsGranted` granted at `available_from`;
`PackagePurchased` purchased at `purchased_at`; `PointsConsumed` consumed at `consumed_at`
(the lots drawn); `TrainingSessionHeld` sessions consumed at `held_at`; `ConsumptionReversed`
reversed at `reversed_at` (the lots returned to), and what went back to an expired lot expired
at the same instant; `LotExpired` expired at `expires_at`. A statement's window is a month in
the contract's timezone or a term `[starts_at, ends_at)`; a movement belongs to the window
holding its instant; opening and closing are the balance of what is available before the
window and before its end. Fees: `Contract.Signed` (initial), `Renewed` (renewal),
`Reinstated` (reinstatement) and each adjustment of `Upgraded` with a fee (upgrade), at their
instants; a term's statement lists the fees paying for it, a month's those charged in it.
Packages: each `PackagePurchased` with its price, in the window of its instant. A statement
closing below zero is a difference of its own (`negative_closing`).

Revenue (ledger.projections.revenue), per contract: `ledger.audit.revenue` from the same fold
(fees, terms, packages and the movements of each lot), by the rules of docs/decisions.md
("Revenue").

Breaches (ledger.projections.sla_breaches), one clock per ticket: its tier, customer and
month of receipt (in the contract's timezone) from `Ticket.Opened`, its severity and deadline
as the clock events last set them (`Held`, `Resumed`, `SeverityChanged` before a response,
`DeadlineRecalculated`), the outcome and business seconds used from `FirstResponseRecorded`
(the business time is written into the event when it happens, so no calendar is needed
here), waived by `BreachWaived`; declined requests are not counted.

`reconcile` then asks the live views the same questions and lists every figure that differs,
and whether the export and the views stand at the same position of the log. The figures it
compares are those `ledger.figures` declares, so a figure declared there and not re-derived
is not skipped (tests/stores/test_report_figures.py fails first).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from ledger.audit.rederivation import (
    Rederivation,
    Window,
    contract_key,
    rederive,
    statement_window,
)
from ledger.audit.revenue import compare_revenue, revenue_rows
from ledger.domain.errors import InvalidInputError, LedgerError, UnknownContractError
from ledger.figures import (
    BREACH_STAT_FIGURES,
    FEE_FIELDS,
    FEES_TOTAL,
    GROUPINGS,
    PACKAGES_TOTAL,
    STATEMENT_FIGURES,
    UNIT_NAMES,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from uuid import UUID

    from ledger.projections.revenue import RevenueView
    from ledger.settings import DatabaseSettings

__all__ = [  # rederive and Rederivation: read from here by the CLI and the tests
    "Difference",
    "Reconciliation",
    "Rederivation",
    "compare_statements",
    "compare_stats",
    "reconcile",
    "reconcile_export",
    "rederive",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The fields of a statement compared besides its figures and fees.
COMPARED = ("customer", "currency", "timezone", "start", "end", "fees_basis")


@dataclass(frozen=True)
class Difference:
    """A figure on which the export and a live view disagree.

    `report` is `position` (where the export ends vs where a view stands in the log),
    `statement` (`window` a month or `term N`, `subject` a contract id, `unit` points or
    sessions or None for customer, currency, start, end, fees and fees_total), `revenue`
    (the same, `unit` None) or
    `breach_stats` (`window` `by <grouping>`, `subject` a group key). `figure` names the
    figure (`statement` / `group` when one side has no such statement or group at all).
    """

    report: str
    window: str | None
    subject: str
    unit: str | None
    figure: str
    export: Any
    view: Any

    def describe(self) -> str:
        """One line for people."""
        if self.report == "position":
            relation = (
                "the export is older than the view: export again, or reconcile the view as it was"
                if self.export < self.view
                else "the view has not caught up with the export: run the projections"
            )
            return (
                f"{self.subject}: the export ends at position {self.export}, the view stands "
                f"at {self.view} ({relation})"
            )
        where = " ".join(p for p in (self.report, self.window, self.subject, self.unit) if p)
        return f"{where} {self.figure}: export {self.export}, view {self.view}"


@dataclass(frozen=True)
class Reconciliation:
    """What was compared, and every difference found (none: the views agree with the export)."""

    events: int
    export_position: int
    recorded_at: datetime | None
    view_positions: dict[str, int]
    at: datetime
    windows: list[str]
    groupings: list[str]
    differences: list[Difference]

    @property
    def ok(self) -> bool:
        """Whether no figure and no position differs."""
        return not self.differences

    @property
    def outdated(self) -> bool:
        """Whether the export ends before where a view stands (it misses later events)."""
        return any(p > self.export_position for p in self.view_positions.values())


def reconcile_export(
    lines: Iterable[str],
    settings: DatabaseSettings,
    *,
    period: str | None = None,
    term: int | None = None,
    contract_id: UUID | str | None = None,
    by: str | None = None,
    at: datetime | None = None,
) -> Reconciliation:
    """Re-derive from `lines` alone, then compare with the live views in `settings`' database.

    See `reconcile` for what is compared; bring the views up to date first.
    """
    return reconcile(
        rederive(lines), settings, period=period, term=term, contract_id=contract_id, by=by,
        at=at,
    )  # fmt: skip


def reconcile(
    derived: Rederivation,
    settings: DatabaseSettings,
    *,
    period: str | None = None,
    term: int | None = None,
    contract_id: UUID | str | None = None,
    by: str | None = None,
    at: datetime | None = None,
) -> Reconciliation:
    """Compare a re-derivation with the credit-usage and SLA-breach views.

    Statements: the month `period` or the term `term` (of one contract or of all); with
    neither, every month from the first to the last with credit activity in the export and
    every term. Breach statistics: by the grouping `by`, or by each of tier, customer,
    severity and month; at `at`, by default the instant the export's last event was recorded
    (as the log stood when it was exported; the statistics depend on it only for clocks
    without a response). Positions: where each view stands against the export's last
    position, so that an outdated export is not mistaken for a wrong view.
    """
    from ledger.projections.base import read_state  # noqa: PLC0415 - only the comparison needs it
    from ledger.projections.credit_usage import (  # noqa: PLC0415 - same
        CreditUsageProjection,
        CreditUsageView,
    )
    from ledger.projections.db import ViewDatabase  # noqa: PLC0415 - same
    from ledger.projections.revenue import RevenueView  # noqa: PLC0415 - same
    from ledger.projections.sla_breaches import (  # noqa: PLC0415 - same
        SlaBreachProjection,
        SlaBreachView,
    )

    if period is not None or term is not None:
        windows = [statement_window(period, term)]
    else:
        windows = [statement_window(m, None) for m in derived.months()]
        windows += [statement_window(None, t) for t in derived.terms()]
    key = contract_key(contract_id)
    if by is not None and by not in GROUPINGS:
        raise InvalidInputError(f"by: {by!r} is not a grouping; use {', '.join(GROUPINGS)}")
    groupings = [by] if by is not None else list(GROUPINGS)
    if at is not None and at.utcoffset() is None:
        raise InvalidInputError("at: the instant needs a UTC offset")
    when = (at or derived.recorded_at or EPOCH).astimezone(UTC)

    db = ViewDatabase(settings)
    try:
        positions = {}
        for name in (CreditUsageProjection.name, SlaBreachProjection.name):
            state = read_state(db, name)
            positions[name] = state.position if state is not None else 0
        CreditUsageProjection(db).create()  # an empty view before its projection first ran
        credit_view, breach_view = CreditUsageView(db), SlaBreachView(db)
        found = [
            Difference("position", None, name, None, "position", derived.position, position)
            for name, position in positions.items()
            if position != derived.position
        ]
        for window in windows:
            mine, problem = _statements(derived, window, key)
            theirs, _ = _statements(credit_view, window, key)
            if problem is not None and theirs is None:
                raise problem  # neither the export nor the view knows the contract (or term)
            found.extend(compare_statements(window.label, mine or [], theirs or []))
            found.extend(_revenue_differences(derived, RevenueView(db), window, key))
        for grouping in groupings:
            found.extend(
                compare_stats(
                    f"by {grouping}",
                    derived.stats(grouping, when),
                    breach_view.stats(grouping, when),
                )
            )
    finally:
        db.close()
    return Reconciliation(
        events=derived.events,
        export_position=derived.position,
        recorded_at=derived.recorded_at,
        view_positions=positions,
        at=when,
        windows=[w.label for w in windows],
        groupings=groupings,
        differences=found,
    )


def _revenue_differences(
    derived: Rederivation, view: RevenueView, window: Window, key: UUID | None
) -> list[Difference]:
    """The revenue of the window re-derived from the export against the view's."""
    mine = revenue_rows(derived, window.period, window.term, key)
    try:
        theirs = view.revenue(period=window.period, term=window.term, contract_id=key)
    except (UnknownContractError, InvalidInputError):
        if key is None:
            raise
        theirs = []
    return [
        Difference("revenue", window.label, cid, None, figure, export, shown)
        for cid, figure, export, shown in compare_revenue(mine or [], theirs)
    ]


class _Statements(Protocol):
    def statement(
        self,
        *,
        period: str | None = None,
        term: int | None = None,
        contract_id: UUID | str | None = None,
    ) -> list[dict[str, Any]]: ...


def _statements(
    side: _Statements, window: Window, key: UUID | None
) -> tuple[list[dict[str, Any]] | None, LedgerError | None]:
    """The statements one side gives; None (and why) when it does not know the contract asked
    (or its term)."""
    try:
        return side.statement(period=window.period, term=window.term, contract_id=key), None
    except (UnknownContractError, InvalidInputError) as exc:
        if key is None:
            raise
        return None, exc


def _compare_rows(
    kind: str,
    window: str,
    mine: list[dict[str, Any]],
    theirs: list[dict[str, Any]],
    compare: Callable[[str, dict[str, Any], dict[str, Any]], Iterable[Difference]],
    *,
    field: str,
    what: str,
) -> list[Difference]:
    """The rows of both sides matched by `field`, in its order: a row found on one side only is
    a difference of its presence (named `what`); a matched pair is compared by `compare`."""
    exported = {s[field]: s for s in mine}
    viewed = {s[field]: s for s in theirs}
    found: list[Difference] = []
    for key in sorted(exported.keys() | viewed.keys(), key=str):
        ours, view = exported.get(key), viewed.get(key)
        if ours is None or view is None:
            found.append(
                Difference(kind, window, str(key), None, what,
                           "missing" if ours is None else "present",
                           "missing" if view is None else "present")
            )  # fmt: skip
        else:
            found.extend(compare(str(key), ours, view))
    return found


def compare_statements(
    window: str, mine: list[dict[str, Any]], theirs: list[dict[str, Any]]
) -> list[Difference]:
    def compare(cid: str, ours: dict[str, Any], view: dict[str, Any]) -> list[Difference]:
        found = [
            Difference("statement", window, cid, None, name, ours[name], view[name])
            for name in (*COMPARED, FEES_TOTAL.name, PACKAGES_TOTAL.name)
            if ours[name] != view[name]
        ]
        # a balance closing below zero is a finding, whatever the view says
        found.extend(
            Difference("statement", window, cid, unit, "negative_closing",
                       ours[unit]["closing"], view[unit]["closing"])
            for unit in UNIT_NAMES
            if ours[unit]["closing"] < 0
        )  # fmt: skip
        for unit in UNIT_NAMES:
            found.extend(
                Difference("statement", window, cid, unit, figure, ours[unit][figure],
                           view[unit][figure])
                for figure in STATEMENT_FIGURES
                if ours[unit][figure] != view[unit][figure]
            )  # fmt: skip
        our_fees, view_fees = _fee_lines(ours["fees"]), _fee_lines(view["fees"])
        if our_fees != view_fees:
            found.append(Difference("statement", window, cid, None, "fees", our_fees, view_fees))
        if ours["packages"] != view["packages"]:
            found.append(Difference("statement", window, cid, None, "packages", ours["packages"],
                                    view["packages"]))  # fmt: skip
        return found

    return _compare_rows(
        "statement", window, mine, theirs, compare, field="contract_id", what="statement"
    )


def _fee_lines(fees: list[dict[str, Any]]) -> list[dict[str, Any]]:
    lines = [{name: f[name] for name in FEE_FIELDS} for f in fees]
    return sorted(lines, key=lambda f: (f["assessed_at"], f["term_number"], f["kind"]))


def compare_stats(
    window: str, mine: list[dict[str, Any]], theirs: list[dict[str, Any]]
) -> list[Difference]:
    def compare(key: str, ours: dict[str, Any], view: dict[str, Any]) -> list[Difference]:
        return [
            Difference("breach_stats", window, key, None, figure, ours[figure], view[figure])
            for figure in BREACH_STAT_FIGURES
            if ours[figure] != view[figure]
        ]

    return _compare_rows("breach_stats", window, mine, theirs, compare, field="key", what="group")
