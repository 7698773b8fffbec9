"""A credit statement checked against the events: every figure recomputed from the event store.

`reconcile` reads the contract's and its account's events and folds them in plain Python (no
view table is read), then lists each figure the view shows otherwise. The fold is its own; the
figures compared are those `ledger.figures` declares.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from eventsourcing.utils import get_topic

from ledger.domain.contract import Contract
from ledger.domain.credit_account import POINTS, SESSIONS, CreditAccount
from ledger.domain.errors import InvalidInputError, UnknownContractError
from ledger.figures import (
    FEE_FIELDS,
    FEES_CHARGED_IN_PERIOD,
    FEES_FOR_TERM,
    FEES_TOTAL,
    FLOWS,
    PACKAGES_TOTAL,
    STATEMENT_FIGURES,
    UNIT_NAMES,
)
from ledger.projections.credit_windows import (
    INITIAL,
    REINSTATEMENT,
    RENEWAL,
    UPGRADE,
    StatementRequest,
    contract_key,
    month_window,
    statement_request,
)

if TYPE_CHECKING:
    from datetime import datetime

    from ledger.application import SupportLedger

# The sign of each flow in the balance of what is available.
SIGNS = {f.name: f.sign for f in FLOWS}
# The fields of a statement compared besides its figures and fees.
COMPARED = ("customer", "currency", "timezone", "start", "end", "fees_basis")
# A finding that is no difference: a statement closing below zero, whatever the views say.
NEGATIVE_CLOSING = "negative_closing"


class StatementSource(Protocol):
    """What gives statements: the credit-usage view."""

    def statement(
        self,
        *,
        period: str | None = None,
        term: int | None = None,
        contract_id: UUID | str | None = None,
    ) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class Discrepancy:
    """A figure of a statement that differs from the same figure recomputed from the events."""

    figure: str
    contract_id: UUID
    unit: str | None
    view: Any
    recomputed: Any


def reconcile(
    app: SupportLedger,
    view: StatementSource,
    *,
    period: str | None = None,
    term: int | None = None,
    contract_id: UUID | str | None = None,
) -> list[Discrepancy]:
    """Recompute every figure of the statement from the events and list where the view differs.

    The recomputation reads the contract's and its account's events from the event store and
    folds them in plain Python (no view table is read); an empty list means the view is right.
    It compares with the log as it is now: run the projection up to the head first, or a view
    that lags shows as differences.
    """
    request = statement_request(period, term)
    key = contract_key(contract_id)
    ids = [UUID(key)] if key else signed_contracts(app)
    expected: dict[UUID, dict[str, Any]] = {}
    for cid in ids:
        recomputed = _recompute(app, cid, request)
        if recomputed is None:
            if key:
                raise InvalidInputError(f"contract {key} has no term {request.term}")
            continue
        expected[cid] = recomputed
    try:
        actual = {s["contract_id"]: s for s in view.statement(
            period=period, term=term, contract_id=contract_id
        )}  # fmt: skip
    except (UnknownContractError, InvalidInputError):
        if not key:
            raise
        actual = {}  # the log has this contract (and term), the view does not
    found: list[Discrepancy] = []
    for cid in sorted(expected.keys() | actual.keys(), key=str):
        mine, theirs = actual.get(cid), expected.get(cid)
        if mine is None or theirs is None:
            found.append(
                Discrepancy(
                    "statement",
                    cid,
                    None,
                    "missing" if mine is None else "present",
                    "missing" if theirs is None else "present",
                )
            )
            continue
        found.extend(_compare(cid, mine, theirs))
    for cid, theirs in sorted(expected.items(), key=lambda item: str(item[0])):
        found.extend(negative_closings(cid, theirs))
    return found


def negative_closings(cid: UUID, statement: dict[str, Any]) -> list[Discrepancy]:
    """A finding for each unit of a statement (folded from the events) that closes below zero:
    the ledger never lets a balance go negative, so the log itself is wrong."""
    return [
        Discrepancy(NEGATIVE_CLOSING, cid, unit, statement[unit]["closing"], Decimal(0))
        for unit in UNIT_NAMES
        if statement[unit]["closing"] < 0
    ]


def _compare(cid: UUID, mine: dict[str, Any], theirs: dict[str, Any]) -> list[Discrepancy]:
    found = [
        Discrepancy(name, cid, None, mine[name], theirs[name])
        for name in (*COMPARED, FEES_TOTAL.name, PACKAGES_TOTAL.name)
        if mine[name] != theirs[name]
    ]
    for unit in UNIT_NAMES:
        found.extend(
            Discrepancy(figure, cid, unit, mine[unit][figure], theirs[unit][figure])
            for figure in STATEMENT_FIGURES
            if mine[unit][figure] != theirs[unit][figure]
        )
    mine_fees, their_fees = _fee_lines(mine["fees"]), _fee_lines(theirs["fees"])
    if mine_fees != their_fees:
        found.append(Discrepancy("fees", cid, None, mine_fees, their_fees))
    if mine["packages"] != theirs["packages"]:
        found.append(Discrepancy("packages", cid, None, mine["packages"], theirs["packages"]))
    return found


def _fee_lines(fees: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    lines = [tuple(f[name] for name in FEE_FIELDS) for f in fees]
    return sorted(lines, key=repr)


def signed_contracts(app: SupportLedger) -> list[UUID]:
    """Every contract signed, from the notification log."""
    topic = get_topic(Contract.Signed)
    ids: list[UUID] = []
    start = 1
    while True:
        page = app.recorder.select_notifications(start=start, limit=1000, topics=[topic])
        ids.extend(UUID(str(n.originator_id)) for n in page)
        if len(page) < 1000:
            return ids
        start = page[-1].id + 1


def _recompute(
    app: SupportLedger, contract_id: UUID, request: StatementRequest
) -> dict[str, Any] | None:
    """A contract's statement folded from its events; None when it has no such term."""
    contract_events = list(app.events.get(contract_id))
    if not contract_events or not isinstance(contract_events[0], Contract.Signed):
        raise UnknownContractError(f"no contract {contract_id}")
    signed = contract_events[0]
    terms: dict[int, tuple[datetime, datetime]] = {}
    fees: list[dict[str, Any]] = []

    def assessed(number: int, kind: str, fee: Decimal, at: datetime, **shares: Any) -> None:
        fees.append({"term_number": number, "kind": kind, "fee": fee, "fee_share": None,
                     "remaining_share": None, **shares, "assessed_at": at})  # fmt: skip

    for event in contract_events:
        if isinstance(event, Contract.Signed):
            terms[1] = (event.starts_at, event.ends_at)
            assessed(1, INITIAL, event.fee, event.signed_at, fee_share=event.fee_share)
        elif isinstance(event, Contract.Renewed | Contract.Reinstated):
            terms[event.term_number] = (event.starts_at, event.ends_at)
            kind, at = (
                (RENEWAL, event.renewed_at)
                if isinstance(event, Contract.Renewed)
                else (REINSTATEMENT, event.reinstated_at)
            )
            assessed(event.term_number, kind, event.fee, at, fee_share=event.fee_share)
        elif isinstance(event, Contract.Upgraded):
            for a in event.adjustments:
                if a["fee"] != 0:
                    assessed(a["term_number"], UPGRADE, a["fee"], event.upgraded_at,
                             remaining_share=a["remaining_share"])  # fmt: skip
    if request.month is not None:
        start, end = month_window(*request.month, signed.timezone)
    elif request.term in terms:
        start, end = terms[request.term]
    else:
        return None
    figures = {unit: dict.fromkeys(STATEMENT_FIGURES, Decimal(0)) for unit in UNIT_NAMES}
    packages: list[dict[str, Any]] = []

    def flow(unit: str, figure: str, value: Decimal, at: datetime) -> None:
        sign = SIGNS[figure]
        if at < start:
            figures[unit]["opening"] += sign * value
        elif at < end:
            figures[unit][figure] += value
        if at < end:
            figures[unit]["closing"] += sign * value

    for event in app.events.get(CreditAccount.create_id(contract_id)):
        if isinstance(event, CreditAccount.PointsGranted):
            flow(POINTS, "granted", event.points, event.available_from)
        elif isinstance(event, CreditAccount.SessionsGranted):
            flow(SESSIONS, "granted", Decimal(event.sessions), event.available_from)
        elif isinstance(event, CreditAccount.PackagePurchased):
            flow(POINTS, "purchased", event.points, event.purchased_at)
            if start <= event.purchased_at < end:
                bought = {"lot_id": event.lot_id, "points": event.points, "price": event.price}
                packages.append({**bought, "purchased_at": event.purchased_at})
        elif isinstance(event, CreditAccount.PointsConsumed):
            flow(POINTS, "consumed", event.points, event.consumed_at)
        elif isinstance(event, CreditAccount.TrainingSessionHeld):
            used = sum((d["amount"] for d in event.draws), Decimal(0))
            flow(SESSIONS, "consumed", used, event.held_at)
        elif isinstance(event, CreditAccount.ConsumptionReversed):
            flow(POINTS, "reversed", event.points, event.reversed_at)
            lost = sum((r["amount"] for r in event.returns if r["expired"]), Decimal(0))
            flow(POINTS, "expired", lost, event.reversed_at)
        elif isinstance(event, CreditAccount.LotExpired):
            flow(event.unit, "expired", event.amount, event.expires_at)
    if request.term is not None:  # the fees paying for the term, whenever charged
        within = [f for f in fees if f["term_number"] == request.term]
    else:  # the fees charged within the month
        within = [f for f in fees if start <= f["assessed_at"] < end]
    return {
        "contract_id": contract_id,
        "customer": signed.customer,
        "currency": signed.currency,
        "timezone": signed.timezone,
        "start": start,
        "end": end,
        **figures,
        "fees_basis": FEES_FOR_TERM if request.term is not None else FEES_CHARGED_IN_PERIOD,
        "fees": within,
        "fees_total": sum((f["fee"] for f in within), Decimal(0)),
        "packages": packages,
        "packages_total": sum((p["price"] for p in packages), Decimal(0)),
    }
