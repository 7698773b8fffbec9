"""What the CLI and the HTTP API share when they read the read models for a report.

Before a report reads a view, the view takes in the events recorded since it last ran,
unless a runner owns it (`ledger projections run` keeps it current) or the caller asks for
the view as it stands. The answer says which position of the log it read. With a read
database (`LEDGER_READ_DATABASE_URL`, a standby) nothing is caught up: the view is read as the
standby holds it, and the answer says how far behind the primary's head that is. Credit
statements flatten to one row per contract for CSV, the same from both, in the columns that
`ledger.figures` declares.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ledger.figures import (
    FEES_TOTAL,
    MONEY_TOTALS,
    PACKAGES_TOTAL,
    REVENUE_FIGURE_NAMES,
    REVENUE_LABELLED_COLUMNS,
    STATEMENT_COLUMNS,
    STATEMENT_FIGURES,
    STATEMENT_HEADING,
    UNIT_NAMES,
    unit_column,
)
from ledger.projections import projections_named
from ledger.projections.base import states_as_stored
from ledger.projections.db import ViewDatabase
from ledger.projections.runner import ProjectionFailedError, run_projections, settled, status
from ledger.serialize import jsonable

__all__ = [
    "STATEMENT_COLUMNS",  # declared in ledger.figures; read here by the CLI and the pages
    "STATEMENT_FIGURES",
    "caught_up",
    "contract_list",
    "csv_table",
    "csv_text",
    "csv_value",
    "log_fields",
    "log_read",
    "money_totals",
    "position_fields",
    "read_from",
    "statement_row",
    "statements_csv",
]

MONEY_TOTAL_NAMES = tuple(f.name for f in MONEY_TOTALS)
TOTAL = "TOTAL"  # the customer of a CSV's totals rows

# A cell a spreadsheet would read as a formula starts with one of these (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from datetime import datetime
    from uuid import UUID

    from ledger.application import SupportLedger
    from ledger.settings import DatabaseSettings


def caught_up(
    settings: DatabaseSettings,
    app: SupportLedger,
    name: str,
    *,
    catch_up: bool,
    db: ViewDatabase | None = None,
    reads: DatabaseSettings | None = None,
) -> tuple[int, int]:
    """Bring the projection `name` up to the head of the log (unless a runner owns it, or
    `catch_up` is false); return the position it has applied and the head of the log.

    With `db` (a connection the caller already holds, the API's pool) a view that needs no
    catching up is answered from it, without a connection or a runner of its own. With `reads`
    (a standby) nothing is caught up or written: the position is the one the standby's copy of
    the view holds, the head is the primary's (from `app`).
    """
    chosen = projections_named([name])
    if reads is not None:
        standby = ViewDatabase(reads)
        try:
            states = {state.name: state for state in states_as_stored(standby)}
        finally:
            standby.close()
        state = states.get(chosen[0].name)
        return (state.position if state else 0), int(app.recorder.max_notification_id() or 0)
    if db is not None:
        found = settled(db, settings, app, chosen[0], catch_up=catch_up)
        if found is not None:
            return found
    if catch_up:
        outcome = run_projections(settings, app, chosen, once=True)[0]
        if outcome.status == "failed":
            raise ProjectionFailedError(
                f"projection {name} stopped at position {outcome.position}: {outcome.error}"
            )
    row = status(settings, app, chosen)[0]
    return row.position, row.head


CONTRACT_LIST_COLUMNS = [
    ("customer", "customer"), ("tier", "tier"), ("licenses", "licenses"), ("status", "status"),
    ("current_term", "term"), ("term_starts_at", "from"), ("term_ends_at", "to"),
    ("named_contacts", "named contacts"), ("credit_balance", "points"),
    ("contract_id", "contract"), ("account_id", "credit account"),
    ("license_kind", "license kind"),
]  # fmt: skip


def contract_list(
    settings: DatabaseSettings,
    app: SupportLedger,
    at: datetime,
    *,
    customer: str | None = None,
    tier: str | None = None,
    status: str | None = None,
    limit: int = 100,
    after: str | None = None,
    catch_up: bool = True,
    reads: DatabaseSettings | None = None,
) -> dict[str, Any]:
    """A page of the contract directory at `at` (customer: any part of the name, any case),
    after the views took in the newest events: rows, `next` (the cursor of the next page,
    None on the last), and the directory's position in the log (`position_fields`). With
    `reads` (a standby) the directory is read there as it stands, nothing caught up."""
    from ledger.domain.terms import Tier  # noqa: PLC0415 - the terms are heavy
    from ledger.projections.contracts import (  # noqa: PLC0415 - read when listing only
        ContractDirectoryProjection,
        ContractDirectoryView,
    )
    from ledger.projections.credit_usage import CreditUsageProjection  # noqa: PLC0415 - same
    from ledger.projections.db import ViewDatabase  # noqa: PLC0415 - same

    chosen_tier = None if tier is None else str(Tier.parse(tier))
    name = ContractDirectoryProjection.name
    if reads is None:  # the balances come from the credit-usage view: caught up too
        caught_up(settings, app, CreditUsageProjection.name, catch_up=catch_up)
    position, head = caught_up(settings, app, name, catch_up=catch_up, reads=reads)
    db = ViewDatabase(reads or settings)
    try:
        rows, following = ContractDirectoryView(db).listing(
            at, customer=customer, tier=chosen_tier, status=status, limit=limit, after=after
        )
    finally:
        db.close()
    where = position_fields(position, head, read_from(reads))
    return {"projection": name, **where, "rows": rows, "next": following}


CREDIT_HISTORY_COLUMNS = [
    ("at", "at"), ("unit", "unit"), ("kind", "movement"), ("amount", "amount"),
    ("available_after", "available after"), ("lot_id", "lot"), ("key", "key"),
    ("ticket", "ticket"), ("from_account", "from"), ("to_account", "to"),
    ("position", "position"), ("ticket_id", "ticket id"),
]  # fmt: skip


def credit_history(
    settings: DatabaseSettings,
    app: SupportLedger,
    contract_id: UUID,
    *,
    catch_up: bool = True,
    reads: DatabaseSettings | None = None,
    reader: SupportLedger | None = None,
) -> dict[str, Any]:
    """Every movement of a contract's credit account (grants, purchases, draws, reversals,
    expiries), by business instant, with the balance of its unit available after it, the
    idempotency key and the ticket (its key) it was for; from the credit-usage view.

    With `reads` (a standby) the view is read there as it stands, and the contract and the
    tickets come from `reader` (the application on the standby's log)."""
    from ledger.domain.credit_account import CreditAccount  # noqa: PLC0415 - listing only
    from ledger.figures import AVAILABLE  # noqa: PLC0415 - same
    from ledger.projections.credit_usage import (  # noqa: PLC0415 - same
        CreditUsageProjection,
        CreditUsageView,
    )
    from ledger.projections.db import ViewDatabase  # noqa: PLC0415 - same

    known = app if reads is None or reader is None else reader
    contract = known.get_contract(contract_id)
    name = CreditUsageProjection.name
    position, head = caught_up(settings, app, name, catch_up=catch_up, reads=reads)
    db = ViewDatabase(reads or settings)
    try:
        movements = CreditUsageView(db).movements(contract_id)
    finally:
        db.close()
    balances: dict[str, Decimal] = {}
    keys: dict[UUID, str] = {}
    rows = []
    for m in movements:
        change = (m.amount if m.to_account == AVAILABLE else Decimal(0)) - (
            m.amount if m.from_account == AVAILABLE else Decimal(0)
        )
        balances[m.unit] = balances.get(m.unit, Decimal(0)) + change
        if m.ticket_id is not None and m.ticket_id not in keys:
            keys[m.ticket_id] = known.get_ticket(m.ticket_id).external_key
        rows.append({
            "at": m.at, "unit": m.unit, "kind": m.kind, "amount": m.amount,
            "available_after": balances[m.unit], "lot_id": m.lot_id, "key": m.idempotency_key,
            "ticket": None if m.ticket_id is None else keys[m.ticket_id],
            "ticket_id": m.ticket_id, "from_account": m.from_account,
            "to_account": m.to_account, "position": m.position,
        })  # fmt: skip
    return {
        "projection": name, **position_fields(position, head, read_from(reads)),
        "contract_id": contract_id, "customer": contract.customer,
        "account_id": CreditAccount.create_id(contract_id), "rows": rows,
    }  # fmt: skip


def log_read(app: SupportLedger, reader: SupportLedger) -> tuple[int, int]:
    """Where a read of the aggregates stands: the head of the log `reader` reads (the
    standby's, taken before the aggregates are read: they hold at least that much) and the
    primary's head (from `app`); the same number twice when `reader` is `app`."""
    position = int(reader.recorder.max_notification_id() or 0)
    head = position if reader is app else int(app.recorder.max_notification_id() or 0)
    return position, head


def log_fields(app: SupportLedger, reader: SupportLedger) -> dict[str, Any]:
    """Where a read of the aggregates on `reader`'s log stands (`position_fields`): the
    standby's head (or the primary's when `reader` is `app`) against the primary's; call it
    before reading the aggregates."""
    position, head = log_read(app, reader)
    return position_fields(position, head, "primary" if reader is app else "replica")


def read_from(reads: DatabaseSettings | None) -> str:
    """Where a report was read, as its `read_from` field says: `replica` or `primary`."""
    return "primary" if reads is None else "replica"


def position_fields(position: int, head: int, source: str) -> dict[str, Any]:
    """What a report says of where it read: the view's position, the primary's head, how many
    events the view is behind that head, and `read_from` (`primary` or `replica`)."""
    return {
        "position": position,
        "head": head,
        "behind": max(head - position, 0),
        "read_from": source,
    }


def statement_row(statement: dict[str, Any]) -> dict[str, Any]:
    """A statement as one flat row: the figures of each unit side by side, and the fees."""
    row = {field.name: statement[field.name] for field in STATEMENT_HEADING}
    for unit in UNIT_NAMES:
        row.update({unit_column(unit, f): statement[unit][f] for f in STATEMENT_FIGURES})
    row[FEES_TOTAL.name] = statement[FEES_TOTAL.name]
    row[PACKAGES_TOTAL.name] = statement[PACKAGES_TOTAL.name]
    return row


def money_totals(
    rows: Iterable[Mapping[str, Any]], figures: Sequence[str] = MONEY_TOTAL_NAMES
) -> list[dict[str, Any]]:
    """The sums of money figures over rows (statements, revenue rows), one per currency, in
    currency order: `{"currency": "EUR", "fees_total": ..., ...}`."""
    totals: dict[str, dict[str, Any]] = {}
    for row in rows:
        zero = dict.fromkeys(figures, Decimal("0.00"))
        sums = totals.setdefault(row["currency"], {"currency": row["currency"], **zero})
        for figure in figures:
            sums[figure] += row[figure]
    return [totals[c] for c in sorted(totals)]


def csv_text(text: str) -> str:
    """Text for a CSV cell, prefixed with `'` when a spreadsheet would read it as a formula."""
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def csv_value(value: Any) -> str:
    """A value for CSV: instants in UTC with Z, decimals exact, nothing for None; text that
    could start a formula is neutralised, numbers (a negative figure too) are left as they are."""
    if value is None:
        return ""
    if isinstance(value, str):
        return csv_text(value)
    data = jsonable(value)
    if isinstance(data, str):
        return data
    return json.dumps(data) if isinstance(data, list | dict) else str(data)


def csv_table(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """Rows as CSV, the one writer of every CSV of the ledger: a header row of `columns`, then
    each row's values in those columns (`csv_value`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([csv_text(column) for column in columns])
    for row in rows:
        writer.writerow([csv_value(row.get(column)) for column in columns])
    return out.getvalue()


def statements_csv(statements: list[dict[str, Any]]) -> str:
    """Credit statements as CSV: a header row, one row per contract, then one totals row per
    currency (customer `TOTAL`, the money columns filled)."""
    return csv_table(STATEMENT_COLUMNS, statement_rows(statements))


def revenue_totals(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The revenue figures summed per currency."""
    return money_totals(rows, REVENUE_FIGURE_NAMES)


def revenue_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Revenue as CSV rows: one per contract, then one totals row per currency."""
    totals = [{"customer": TOTAL, **t} for t in revenue_totals(rows)]
    return [*rows, *totals]


def revenue_csv(rows: list[dict[str, Any]]) -> str:
    """Revenue as CSV: the declared fields and figures, totals rows last."""
    return csv_table([key for key, _ in REVENUE_LABELLED_COLUMNS], revenue_rows(rows))


def statement_rows(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The CSV's rows: one per contract, then one totals row per currency."""
    totals = [{"customer": TOTAL, **t} for t in money_totals(statements)]
    return [*(statement_row(s) for s in statements), *totals]
