"""Revenue re-derived from an export alone, and compared with the live view's.

The facts come from the re-derivation's fold of the export (`ledger.audit.rederivation`):
each contract's terms, fees (kind, term, amount, instant), packages (price, points, instant)
and the movements of its lots. The rules restated (docs/decisions.md, "Revenue"): a fee of
signing, renewal or reinstatement pays for its term, an upgrade's for the rest of its term
from the upgrade; a package's price is spread over its points. The recognition arithmetic is
the domain's (`ledger.domain.revenue`); no event store, view table or projection code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ledger.audit.rederivation import statement_window
from ledger.domain.errors import InvalidInputError, UnknownContractError
from ledger.domain.revenue import BilledFee, PackageLot, identity_holds, revenue_figures
from ledger.figures import REVENUE_FIGURE_NAMES

if TYPE_CHECKING:
    from datetime import datetime
    from uuid import UUID

    from ledger.audit.rederivation import Rederivation, _Contract

# The fields of a revenue row compared besides its figures.
COMPARED = ("customer", "currency", "start", "end")


class RederivedRevenue:
    """The revenue questions asked of a re-derivation, as `RevenueView` answers them."""

    def __init__(self, derived: Rederivation) -> None:
        self.derived = derived

    def revenue(
        self,
        *,
        period: str | None = None,
        term: int | None = None,
        contract_id: UUID | str | None = None,
    ) -> list[dict[str, Any]]:
        """The revenue of each contract (or of the one given) for a month or a term, ordered
        by customer, then contract id; the same fields and figures as `RevenueView.revenue`."""
        window = statement_window(period, term)
        rows = []
        for contract, heading in self.derived.windows(window, contract_id):
            start, end = heading["start"], heading["end"]
            figures = revenue_figures(_fees(contract), _packages(contract), start, end,
                                      contract.zone)  # fmt: skip
            rows.append({**heading, **{name: figures[name] for name in REVENUE_FIGURE_NAMES}})
        return rows


def _fees(contract: _Contract) -> list[BilledFee]:
    fees = []
    for fee in contract.fees:
        starts_at, ends_at = contract.terms[fee["term_number"]]
        billed_at: datetime = fee["assessed_at"]
        if fee["kind"] == "upgrade":  # the rest of the term, from the upgrade
            starts_at = max(starts_at, min(billed_at, ends_at))
        fees.append(BilledFee(fee["fee"], billed_at, starts_at, ends_at))
    return fees


def _packages(contract: _Contract) -> list[PackageLot]:
    lots = {
        p["lot_id"]: PackageLot(p["price"], p["points"], p["purchased_at"])
        for p in contract.packages
    }
    for at, lot_id, kind, points in contract.lot_moves:
        if lot_id in lots:
            lots[lot_id].move(at, kind, points)
    return list(lots.values())


def revenue_rows(
    derived: Rederivation, period: str | None, term: int | None, key: UUID | None
) -> list[dict[str, Any]] | None:
    """The rows of the export for the window; None when the contract asked has no such term."""
    try:
        return RederivedRevenue(derived).revenue(period=period, term=term, contract_id=key)
    except (UnknownContractError, InvalidInputError):
        if key is None:
            raise
        return None


def compare_revenue(
    mine: list[dict[str, Any]], theirs: list[dict[str, Any]]
) -> list[tuple[str, str, Any, Any]]:
    """(contract, figure, export, view) for each figure that differs, a row on one side only
    (figure `revenue`), and each exported row whose identity does not hold."""
    exported = {str(r["contract_id"]): r for r in mine}
    viewed = {str(r["contract_id"]): r for r in theirs}
    found: list[tuple[str, str, Any, Any]] = []
    for cid in sorted(exported.keys() | viewed.keys()):
        ours, view = exported.get(cid), viewed.get(cid)
        if ours is None or view is None:
            shown = ["missing" if side is None else "present" for side in (ours, view)]
            found.append((cid, "revenue", shown[0], shown[1]))
            continue
        found.extend(
            (cid, name, ours[name], view[name])
            for name in (*COMPARED, *REVENUE_FIGURE_NAMES)
            if ours[name] != view[name]
        )
        if not identity_holds(ours):
            found.append((cid, "identity", "does not hold", "-"))
    return found
