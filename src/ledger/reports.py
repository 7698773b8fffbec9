"""What the CLI and the HTTP API share when they read the read models for a report.

Before a report reads a view, the view takes in the events recorded since it last ran,
unless a runner owns it (`ledger projections run` keeps it current) or the caller asks for
the view as it stands. The answer says which position of the log it read. Credit
statements flatten to one row per contract for CSV, the same from both.
"""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING, Any

from ledger.projections import projections_named
from ledger.projections.runner import ProjectionFailedError, run_projections, status
from ledger.serialize import jsonable

if TYPE_CHECKING:
    from ledger.application import SupportLedger
    from ledger.settings import DatabaseSettings


def caught_up(
    settings: DatabaseSettings, app: SupportLedger, name: str, *, catch_up: bool
) -> tuple[int, int]:
    """Bring the projection `name` up to the head of the log (unless a runner owns it, or
    `catch_up` is false); return the position it has applied and the head of the log."""
    chosen = projections_named([name])
    if catch_up:
        outcome = run_projections(settings, app, chosen, once=True)[0]
        if outcome.status == "failed":
            raise ProjectionFailedError(
                f"projection {name} stopped at position {outcome.position}: {outcome.error}"
            )
    row = status(settings, app, chosen)[0]
    return row.position, row.head


STATEMENT_FIGURES = (
    "opening",
    "granted",
    "purchased",
    "consumed",
    "reversed",
    "expired",
    "closing",
)
STATEMENT_COLUMNS = [
    "customer", "contract_id", "currency", "start", "end",
    *[f"points_{f}" for f in STATEMENT_FIGURES],
    *[f"sessions_{f}" for f in STATEMENT_FIGURES],
    "fees_total",
]  # fmt: skip


def statement_row(statement: dict[str, Any]) -> dict[str, Any]:
    """A statement as one flat row: the figures of each unit side by side, and the fees."""
    row = {key: statement[key] for key in ("customer", "contract_id", "currency", "start", "end")}
    for unit in ("points", "sessions"):
        row.update({f"{unit}_{f}": statement[unit][f] for f in STATEMENT_FIGURES})
    row["fees_total"] = statement["fees_total"]
    return row


def csv_value(value: Any) -> str:
    """A value for CSV: instants in UTC with Z, decimals exact, nothing for None."""
    if value is None:
        return ""
    data = jsonable(value)
    if isinstance(data, str):
        return data
    return json.dumps(data) if isinstance(data, list | dict) else str(data)


def statements_csv(statements: list[dict[str, Any]]) -> str:
    """Credit statements as CSV: a header row, then one row per contract."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(STATEMENT_COLUMNS)
    for statement in statements:
        row = statement_row(statement)
        writer.writerow([csv_value(row.get(column)) for column in STATEMENT_COLUMNS])
    return out.getvalue()
