"""The shapes of the API's reports (the board, breach statistics, statements, revenue, what
is coming due, projection status, replays): the read side's answers, documented in the OpenAPI
document from the figures declared in `ledger.figures`."""

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from ledger.figures import (
    AMOUNT,
    BREACH_STAT_KEY,
    BREACH_STATS,
    CLOSING,
    COUNT,
    FEE_FIELDS,
    FEES_CHARGED_IN_PERIOD,
    FEES_FOR_TERM,
    FEES_TOTAL,
    FLOWS,
    GROUP,
    ID,
    INSTANT,
    MONEY_TOTALS,
    OPENING,
    OPTIONAL_AMOUNT,
    OPTIONAL_COUNT,
    PACKAGES_TOTAL,
    REVENUE_FIGURES,
    REVENUE_HEADING,
    STATEMENT_HEADING,
    TEXT,
    UNITS,
    Figure,
)
from ledger.web.schemas import Out, ReadAt


class Report(ReadAt):
    """Rows of a read model and the position in the log it had read."""

    projection: str
    rows: list[dict[str, Any]]


class BoardReport(Report):
    """A page of the SLA board, the cursor of the next page and the counts of every state."""

    next: str | None = Field(description="The cursor of the next page (`after`); null: last.")
    next_url: str | None = Field(description="This request for the next page; null: last.")
    counts: dict[str, int] = Field(
        description="Clocks in each state (on_track, at_risk, breached, met, paused, declined) "
        "that the filters other than `state` select."
    )


# The JSON schema of a figure's values, by its kind (ledger.figures).
_DECIMAL = {"type": "string", "examples": ["12.5"]}
KIND_SCHEMAS: dict[str, dict[str, Any]] = {
    AMOUNT: _DECIMAL,
    OPTIONAL_AMOUNT: {"anyOf": [_DECIMAL, {"type": "null"}]},
    COUNT: {"type": "integer"},
    OPTIONAL_COUNT: {"anyOf": [{"type": "integer"}, {"type": "null"}]},
    TEXT: {"type": "string"},
    ID: {"type": "string", "format": "uuid"},
    INSTANT: {"type": "string", "format": "date-time"},
    GROUP: {"anyOf": [{"type": "string"}, {"type": "integer"}]},
}


def figures_schema(figures: Iterable[Figure], **more: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema of an object holding each figure (and the properties in `more`)."""
    chosen = list(figures)
    return {
        "type": "object",
        "properties": {
            **{f.name: {**KIND_SCHEMAS[f.kind], "description": f.meaning} for f in chosen},
            **more,
        },
        "required": [f.name for f in chosen] + list(more),
    }


STATEMENT_SCHEMA = figures_schema(
    [*STATEMENT_HEADING, FEES_TOTAL, PACKAGES_TOTAL],
    period={"anyOf": [{"type": "string"}, {"type": "null"}], "description": "YYYY-MM asked"},
    term={"anyOf": [{"type": "integer"}, {"type": "null"}], "description": "The term asked"},
    **{
        unit.name: {**figures_schema([OPENING, *FLOWS, CLOSING]), "description": unit.meaning}
        for unit in UNITS
    },
    fees={
        "type": "array",
        "items": {"type": "object", "required": list(FEE_FIELDS)},
        "description": "The fees of the window (see fees_basis)",
    },
    fees_basis={
        "type": "string",
        "enum": [FEES_FOR_TERM, FEES_CHARGED_IN_PERIOD],
        "description": "Which fees: those paying for the term, or those charged in the month",
    },
    timezone={"type": "string", "description": "The contract's zone, of the window's dates"},
    packages={
        "type": "array",
        "items": {"type": "object", "required": ["lot_id", "points", "price", "purchased_at"]},
        "description": "The packages bought within the window, with their prices",
    },
)
MONEY_TOTALS_SCHEMA = figures_schema(MONEY_TOTALS, currency={"type": "string"})
BREACH_STATS_SCHEMA = figures_schema([BREACH_STAT_KEY, *BREACH_STATS])


class BreachStatsReport(Report):
    """Breach statistics by group and the position in the log they were read at."""

    rows: list[dict[str, Any]] = Field(json_schema_extra={"items": BREACH_STATS_SCHEMA})


class StatementReport(ReadAt):
    """Credit statements; with `check=true` the figures that differ from the events."""

    projection: str
    statements: list[dict[str, Any]] = Field(json_schema_extra={"items": STATEMENT_SCHEMA})
    totals: list[dict[str, Any]] = Field(
        default_factory=list, json_schema_extra={"items": MONEY_TOTALS_SCHEMA}
    )
    differences: list[dict[str, Any]] | None = None


REVENUE_SCHEMA = figures_schema(
    [*REVENUE_HEADING, *REVENUE_FIGURES],
    timezone={"type": "string", "description": "The contract's zone, of the window's dates"},
    period={"anyOf": [{"type": "string"}, {"type": "null"}], "description": "YYYY-MM asked"},
    term={"anyOf": [{"type": "integer"}, {"type": "null"}], "description": "The term asked"},
)


class RevenueReport(ReadAt):
    """Revenue per contract and its totals per currency; with `check=true` the figures that
    differ from the events."""

    projection: str
    revenue: list[dict[str, Any]] = Field(json_schema_extra={"items": REVENUE_SCHEMA})
    totals: list[dict[str, Any]]
    differences: list[dict[str, Any]] | None = None


class ExpiringReport(ReadAt):
    """Lots expiring in [at, until) with what is left and its value, and the value per
    currency; read from the contracts and accounts at `position` of the log."""

    at: datetime
    until: datetime
    lots: list[dict[str, Any]]
    totals: list[dict[str, Any]]


class RenewalsReport(ReadAt):
    """Terms ending in [at, until) with no renewal ordered, and the fees a renewal and a
    reinstatement would assess; read from the contracts at `position` of the log."""

    at: datetime
    until: datetime
    renewals: list[dict[str, Any]]


class ProjectionStatus(Out):
    """Where a read model stands."""

    name: str
    position: int
    head: int
    lag: int
    updated_at: datetime | None
    owner: str | None
    error: str | None
    error_position: int | None
    error_at: datetime | None


class Replay(Out):
    """A report as it stood at `as_of` (`rows`, or `statements` for credits)."""

    as_of: datetime
    report: str
    applied: int = Field(description="Events applied after the checkpoints the views started from.")
    last_position: int
    head: int
    started_from: dict[str, int] = Field(
        description="Per view, the position of the verified checkpoint it started from (0: the "
        "log's start)."
    )
    rejected_checkpoints: int = Field(
        description="Checkpoints that failed their verification and were not used."
    )
    checked_from: dict[str, int] = Field(
        description="Per view, the position after which the rows of the checkpoint it started "
        "from were digested (0: every row; else the rows below are as the sealed checkpoint "
        "before it claims them; verify_all=true checks every row)."
    )
    read_from: Literal["primary", "replica"] = Field(
        description="primary, or replica: the events read on LEDGER_READ_DATABASE_URL."
    )
