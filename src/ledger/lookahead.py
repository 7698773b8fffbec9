"""Looking ahead (issue 15 §3): credit lots about to expire, and terms about to end unrenewed.

Both read the contracts and credit accounts as the ledger stands now (the aggregates, not a
view), for a window `[at, at + within)`: `ledger report credits expiring --within 30d` and
`ledger report renewals --within 60d`, and the API's `/reports/credits/expiring` and
`/reports/renewals`. With a read database (`LEDGER_READ_DATABASE_URL`, a standby) the
aggregates are read from the standby's log, and the answer says the position it held and how
far behind the primary's head that is (`expiring_report`, `renewals_report`).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ledger.domain.base import money
from ledger.domain.errors import InvalidInputError
from ledger.projections.credit_reconcile import signed_contracts
from ledger.reports import log_fields, money_totals
from ledger.terms import DEFAULT_VERSION, load_terms

if TYPE_CHECKING:
    from ledger.application import SupportLedger

_WITHIN = re.compile(r"(\d{1,4})\s*d")
MAX_DAYS = 3660

# The fields of each row, in order (the CSV's columns and the tables').
EXPIRING_COLUMNS = [
    ("customer", "customer"), ("contract_id", "contract"), ("lot_id", "lot"), ("unit", "unit"),
    ("kind", "kind"), ("expires_at", "expires"), ("left", "left"), ("currency", "currency"),
    ("unit_value", "unit value"), ("value", "value"),
]  # fmt: skip
RENEWAL_COLUMNS = [
    ("customer", "customer"), ("contract_id", "contract"), ("term_number", "term"),
    ("ends_at", "ends"), ("tier", "renewal tier"), ("licenses", "licenses"),
    ("list_price", "list price"), ("currency", "currency"), ("fee_share", "share"),
    ("renewal_fee", "renewal fee"), ("reinstatement_fee", "fee if it lapses"),
]  # fmt: skip


def parse_within(text: str | None, name: str = "--within") -> timedelta:
    """A look-ahead as a number of days: `30d` (1 to 3660 days)."""
    match = _WITHIN.fullmatch(str(text or "").strip().lower())
    days = int(match.group(1)) if match else 0
    if not 1 <= days <= MAX_DAYS:
        raise InvalidInputError(
            f"{name}: expected a number of days from 1d to {MAX_DAYS}d (e.g. 30d), got {text!r}"
        )
    return timedelta(days=days)


def expiring_lots(app: SupportLedger, *, at: datetime, within: timedelta) -> list[dict[str, Any]]:
    """Every lot with something left that expires in `[at, at + within)`, soonest first (then
    by customer): points or sessions left and, for a bought package, their value at its unit
    value (price / points); lots granted with a term carry no price (value None)."""
    end = at + within
    rows = []
    for contract_id in signed_contracts(app):
        contract = app.get_contract(contract_id)
        account = app.get_account(contract_id)
        for lot_id, lot in account.lots.items():
            if lot.expired or lot.remaining <= 0 or lot.expires_at is None:
                continue
            if not at <= lot.expires_at < end:
                continue
            unit_value = lot.price / lot.amount if lot.price is not None and lot.amount else None
            rows.append(
                {
                    "customer": contract.customer, "contract_id": contract_id, "lot_id": lot_id,
                    "unit": lot.unit, "kind": lot.kind, "expires_at": lot.expires_at,
                    "left": lot.remaining, "currency": contract.currency,
                    "unit_value": None if unit_value is None else unit_value.quantize(
                        Decimal("0.0001")),
                    "value": None if unit_value is None else money(unit_value * lot.remaining),
                }
            )  # fmt: skip
    return sorted(rows, key=lambda r: (r["expires_at"], r["customer"], r["lot_id"]))


def renewals_due(app: SupportLedger, *, at: datetime, within: timedelta) -> list[dict[str, Any]]:
    """Every active agreement whose latest term ends in `[at, at + within)` with no renewal
    ordered, soonest first: the fee a renewal would assess now (the tier it would renew at, a
    scheduled downgrade included, at the current terms' share) and the reinstatement fee if
    it lapses (the current terms' share, 80 %)."""
    terms = load_terms(DEFAULT_VERSION)
    end = at + within
    rows = []
    for contract_id in signed_contracts(app):
        contract = app.get_contract(contract_id)
        latest = contract.latest_term
        if contract.status != "active" or not at <= latest.ends_at < end:
            continue
        tier = terms.tier(contract.pending_tier or latest.tier)
        share = tier.annual_fee_share
        rows.append(
            {
                "customer": contract.customer, "contract_id": contract_id,
                "term_number": latest.number, "ends_at": latest.ends_at,
                "tier": tier.tier.value, "licenses": contract.licenses,
                "list_price": contract.list_price, "currency": contract.currency,
                "fee_share": share, "renewal_fee": money(share * contract.list_price),
                "reinstatement_fee": money(terms.reinstatement_fee_share * contract.list_price),
            }
        )  # fmt: skip
    return sorted(rows, key=lambda r: (r["ends_at"], r["customer"]))


def expiring_report(
    app: SupportLedger, reader: SupportLedger, *, at: datetime, within: timedelta
) -> dict[str, Any]:
    """The lots expiring in the window (`expiring_lots`) read from `reader`'s log, where they
    were read, and the value of the priced ones per currency."""
    where = log_fields(app, reader)
    rows = expiring_lots(reader, at=at, within=within)
    totals = money_totals([r for r in rows if r["value"] is not None], ("value",))
    return {"at": at, "until": at + within, **where, "lots": rows, "totals": totals}


def renewals_report(
    app: SupportLedger, reader: SupportLedger, *, at: datetime, within: timedelta
) -> dict[str, Any]:
    """The renewals due in the window (`renewals_due`) read from `reader`'s log, and where
    they were read."""
    where = log_fields(app, reader)
    rows = renewals_due(reader, at=at, within=within)
    return {"at": at, "until": at + within, **where, "renewals": rows}
