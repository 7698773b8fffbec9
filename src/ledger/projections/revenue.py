"""Revenue per contract for a month or a term: fees and packages billed, recognised, deferred.

A query over the credit-usage view's tables (`ledger.projections.credit_usage`: its fees,
terms, contracts, packages bought and lot movements), so it is as current as that view; the
recognition rules are `ledger.domain.revenue`'s (docs/decisions.md, "Revenue"):
- each fee (signing, renewal, reinstatement: its term; an upgrade: from the upgrade to its
  term's end) is recognised evenly over its service period's local days, once billed;
- each package's price over its points: consumed (net of reversals) is recognised, expired
  is breakage, the rest deferred; points granted with a term carry no price.
`reconcile_revenue` (`report revenue --check`) folds the same figures from the events
themselves and lists every one that differs, and any row whose identity does not hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID
from zoneinfo import ZoneInfo

from ledger.domain.calendar import from_us
from ledger.domain.contract import Contract
from ledger.domain.credit_account import CreditAccount
from ledger.domain.errors import InvalidInputError, UnknownContractError
from ledger.domain.revenue import (
    CONSUMED,
    EXPIRED,
    BilledFee,
    PackageLot,
    identity_holds,
    revenue_figures,
)
from ledger.figures import REVENUE_FIGURE_NAMES
from ledger.projections.credit_reconcile import Discrepancy, signed_contracts
from ledger.projections.credit_windows import (
    UPGRADE,
    StatementRequest,
    contract_key,
    month_window,
    statement_request,
)
from ledger.projections.db import amount

if TYPE_CHECKING:
    from datetime import datetime

    from ledger.application import SupportLedger
    from ledger.projections.db import Transaction, ViewDatabase

# The movements of a package lot that move its value: kind -> (revenue move, sign).
LOT_MOVES = {
    "consumption": (CONSUMED, 1),
    "reversal": (CONSUMED, -1),
    "reversal_expiry": (EXPIRED, 1),
    "expiry": (EXPIRED, 1),
}
IDENTITY = "identity"  # the finding of a row whose identity does not hold


@dataclass
class _Facts:
    """What the revenue of one contract is computed from."""

    contract_id: UUID
    customer: str
    currency: str
    timezone: str
    terms: dict[int, tuple[datetime, datetime]]
    fees: list[BilledFee]
    packages: dict[str, PackageLot]


def revenue_row(facts: _Facts, request: StatementRequest) -> dict[str, Any] | None:
    """The revenue of a contract for the month or term asked (None: it has no such term)."""
    if request.month is not None:
        start, end = month_window(*request.month, facts.timezone)
    elif request.term in facts.terms:
        start, end = facts.terms[request.term]
    else:
        return None
    figures = revenue_figures(
        facts.fees, list(facts.packages.values()), start, end, ZoneInfo(facts.timezone)
    )
    return {
        "contract_id": facts.contract_id,
        "customer": facts.customer,
        "currency": facts.currency,
        "timezone": facts.timezone,
        "period": request.period,
        "term": request.term,
        "start": start,
        "end": end,
        **{name: figures[name] for name in REVENUE_FIGURE_NAMES},
    }


def service_period(
    kind: str, billed_at: datetime, term: tuple[datetime, datetime]
) -> tuple[datetime, datetime]:
    """What a fee pays for: its term, or for an upgrade the rest of the term from the upgrade."""
    starts_at, ends_at = term
    if kind == UPGRADE:
        return max(starts_at, min(billed_at, ends_at)), ends_at
    return starts_at, ends_at


class RevenueView:
    """Revenue read from the credit-usage view's tables."""

    def __init__(self, db: ViewDatabase, *, prefix: str = "") -> None:
        self.db = db
        self.prefix = prefix

    def revenue(
        self,
        *,
        period: str | None = None,
        term: int | None = None,
        contract_id: UUID | str | None = None,
    ) -> list[dict[str, Any]]:
        """The revenue of each contract (or of the one given) for a month (`YYYY-MM`, in each
        contract's zone) or a term, ordered by customer, then contract id. With `term` and no
        contract, the contracts that have that term."""
        request = statement_request(period, term)
        key = contract_key(contract_id)
        with self.db.transaction() as tx:
            if self.db.backend == "postgresql":  # one snapshot for every query below
                tx.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            facts = self._facts(tx, key)
        rows = []
        for one in sorted(facts, key=lambda f: (f.customer, str(f.contract_id))):
            row = revenue_row(one, request)
            if row is None and key is not None:
                raise InvalidInputError(f"contract {key} has no term {request.term}")
            if row is not None:
                rows.append(row)
        return rows

    def _facts(self, tx: Transaction, key: str | None) -> list[_Facts]:
        p = self.prefix
        where, params = ("WHERE contract_id = ?", [key]) if key else ("", [])
        found: dict[str, _Facts] = {}
        for r in tx.fetchall(
            f"SELECT contract_id, customer, currency, timezone FROM {p}credit_contracts {where}",
            params,
        ):
            found[r[0]] = _Facts(UUID(r[0]), r[1], r[2], r[3], {}, [], {})
        if key and not found:
            raise UnknownContractError(f"no contract {key} in the credit-usage view")
        for r in tx.fetchall(
            f"SELECT contract_id, term_number, starts_at, ends_at FROM {p}credit_terms {where}",
            params,
        ):
            if r[0] in found:  # (a contract missing from the view has no revenue)
                found[r[0]].terms[int(r[1])] = (from_us(int(r[2])), from_us(int(r[3])))
        for r in tx.fetchall(
            f"SELECT contract_id, term_number, kind, fee, assessed_at FROM {p}credit_fees "
            f"{where} ORDER BY position, seq",
            params,
        ):
            if r[0] not in found:
                continue
            facts, billed_at = found[r[0]], from_us(int(r[4]))
            starts_at, ends_at = service_period(r[2], billed_at, facts.terms[int(r[1])])
            facts.fees.append(BilledFee(amount(r[3]), billed_at, starts_at, ends_at))
        for r in tx.fetchall(
            f"SELECT contract_id, lot_id, points, price, purchased_at FROM {p}credit_packages "
            f"{where} ORDER BY position",
            params,
        ):
            if r[0] in found:
                lot = PackageLot(amount(r[3]), amount(r[2]), from_us(int(r[4])))
                found[r[0]].packages[r[1]] = lot
        kinds = ", ".join("?" * len(LOT_MOVES))
        only = "AND contract_id = ?" if key else ""
        for r in tx.fetchall(
            f"SELECT contract_id, lot_id, kind, amount, at FROM {p}credit_movements "
            f"WHERE unit = 'points' AND kind IN ({kinds}) {only} ORDER BY position, seq",
            [*LOT_MOVES, *params],
        ):
            held = found[r[0]].packages.get(r[1]) if r[0] in found else None
            if held is not None:  # a package's lot; term and upgrade grants carry no price
                move, sign = LOT_MOVES[r[2]]
                held.move(from_us(int(r[4])), move, sign * amount(r[3]))
        return list(found.values())


# -- the check against the events -----------------------------------------------------------


def _folded(app: SupportLedger, contract_id: UUID) -> _Facts:
    """A contract's revenue facts folded from its and its account's events (no view read)."""
    events = list(app.events.get(contract_id))
    if not events or not isinstance(events[0], Contract.Signed):
        raise UnknownContractError(f"no contract {contract_id}")
    signed = events[0]
    facts = _Facts(contract_id, signed.customer, signed.currency, signed.timezone, {}, [], {})
    billed: list[tuple[str, int, Any, datetime]] = []
    for e in events:
        if isinstance(e, Contract.Signed):
            facts.terms[1] = (e.starts_at, e.ends_at)
            billed.append(("initial", 1, e.fee, e.signed_at))
        elif isinstance(e, Contract.Renewed):
            facts.terms[e.term_number] = (e.starts_at, e.ends_at)
            billed.append(("renewal", e.term_number, e.fee, e.renewed_at))
        elif isinstance(e, Contract.Reinstated):
            facts.terms[e.term_number] = (e.starts_at, e.ends_at)
            billed.append(("reinstatement", e.term_number, e.fee, e.reinstated_at))
        elif isinstance(e, Contract.Upgraded):
            billed.extend(
                (UPGRADE, a["term_number"], a["fee"], e.upgraded_at)
                for a in e.adjustments
                if a["fee"] != 0
            )
    for kind, number, fee, at in billed:
        starts_at, ends_at = service_period(kind, at, facts.terms[number])
        facts.fees.append(BilledFee(fee, at, starts_at, ends_at))
    for e in app.events.get(CreditAccount.create_id(contract_id)):
        if isinstance(e, CreditAccount.PackagePurchased):
            facts.packages[e.lot_id] = PackageLot(e.price, e.points, e.purchased_at)
        elif isinstance(e, CreditAccount.PointsConsumed):
            for d in e.draws:
                if d["lot_id"] in facts.packages:
                    facts.packages[d["lot_id"]].move(e.consumed_at, CONSUMED, d["amount"])
        elif isinstance(e, CreditAccount.ConsumptionReversed):
            for back in e.returns:
                lot = facts.packages.get(back["lot_id"])
                if lot is not None:
                    lot.move(e.reversed_at, CONSUMED, -back["amount"])
                    if back["expired"]:
                        lot.move(e.reversed_at, EXPIRED, back["amount"])
        elif isinstance(e, CreditAccount.LotExpired) and e.lot_id in facts.packages:
            facts.packages[e.lot_id].move(e.expires_at, EXPIRED, e.amount)
    return facts


def reconcile_revenue(
    app: SupportLedger,
    view: RevenueView,
    *,
    period: str | None = None,
    term: int | None = None,
    contract_id: UUID | str | None = None,
) -> list[Discrepancy]:
    """Every revenue figure folded from the events, compared with the view's; and each row
    whose identity (opening + billed - recognised - breakage = closing) does not hold."""
    request = statement_request(period, term)
    key = contract_key(contract_id)
    ids = [UUID(key)] if key else signed_contracts(app)
    expected = {}
    for cid in ids:
        row = revenue_row(_folded(app, cid), request)
        if row is None and key:
            raise InvalidInputError(f"contract {key} has no term {request.term}")
        if row is not None:
            expected[cid] = row
    try:
        actual = {
            r["contract_id"]: r
            for r in view.revenue(period=period, term=term, contract_id=contract_id)
        }
    except (UnknownContractError, InvalidInputError):
        if not key:
            raise
        actual = {}
    found: list[Discrepancy] = []
    for cid in sorted(expected.keys() | actual.keys(), key=str):
        mine, theirs = actual.get(cid), expected.get(cid)
        if mine is None or theirs is None:
            shown = ["missing" if side is None else "present" for side in (mine, theirs)]
            found.append(Discrepancy("revenue", cid, None, *shown))
            continue
        found.extend(
            Discrepancy(name, cid, None, mine[name], theirs[name])
            for name in ("customer", "currency", "start", "end", *REVENUE_FIGURE_NAMES)
            if mine[name] != theirs[name]
        )
        if not identity_holds(mine):
            found.append(Discrepancy(IDENTITY, cid, None, "does not hold", "holds"))
    return found
