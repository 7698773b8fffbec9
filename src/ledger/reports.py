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
from typing import TYPE_CHECKING, Any

from ledger.figures import (
    FEES_TOTAL,
    STATEMENT_COLUMNS,
    STATEMENT_FIGURES,
    STATEMENT_HEADING,
    UNIT_NAMES,
    unit_column,
)
from ledger.projections import projections_named
from ledger.projections.base import states_as_stored
from ledger.projections.db import ViewDatabase
from ledger.projections.runner import ProjectionFailedError, run_projections, status
from ledger.serialize import jsonable

__all__ = [
    "STATEMENT_COLUMNS",  # declared in ledger.figures; read here by the CLI and the pages
    "STATEMENT_FIGURES",
    "caught_up",
    "csv_table",
    "csv_text",
    "csv_value",
    "position_fields",
    "read_from",
    "statement_row",
    "statements_csv",
]

# A cell a spreadsheet would read as a formula starts with one of these (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from ledger.application import SupportLedger
    from ledger.settings import DatabaseSettings


def caught_up(
    settings: DatabaseSettings,
    app: SupportLedger,
    name: str,
    *,
    catch_up: bool,
    reads: DatabaseSettings | None = None,
) -> tuple[int, int]:
    """Bring the projection `name` up to the head of the log (unless a runner owns it, or
    `catch_up` is false); return the position it has applied and the head of the log.

    With `reads` (a standby) nothing is caught up or written: the position is the one the
    standby's copy of the view holds, the head is the primary's (from `app`).
    """
    chosen = projections_named([name])
    if reads is not None:
        db = ViewDatabase(reads)
        try:
            states = {state.name: state for state in states_as_stored(db)}
        finally:
            db.close()
        state = states.get(chosen[0].name)
        return (state.position if state else 0), int(app.recorder.max_notification_id() or 0)
    if catch_up:
        outcome = run_projections(settings, app, chosen, once=True)[0]
        if outcome.status == "failed":
            raise ProjectionFailedError(
                f"projection {name} stopped at position {outcome.position}: {outcome.error}"
            )
    row = status(settings, app, chosen)[0]
    return row.position, row.head


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
    return row


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
    """Credit statements as CSV: a header row, then one row per contract."""
    return csv_table(STATEMENT_COLUMNS, (statement_row(s) for s in statements))
