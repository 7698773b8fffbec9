"""Reports read from the projections (`ledger report ...`): the breach board, breach
statistics, credit statements."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape
from rich.table import Table

from ledger.cli.support import (
    EXIT_REFUSED,
    Runtime,
    at_option,
    csv_option,
    emit_rows,
    json_option,
    optional_instant,
    parse_id,
    pass_runtime,
    resolve_at,
)
from ledger.domain.errors import InvalidInputError
from ledger.domain.terms import Tier
from ledger.figures import (
    ALL,
    BREACH_STAT_LABELLED_COLUMNS,
    GROUPINGS,
    STATEMENT_LABELLED_COLUMNS,
    STATES,
)
from ledger.parsing import format_instant, parse_int
from ledger.render import console, err_console, fmt, percent, statement_table
from ledger.serialize import dumps

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ledger.projections.db import ViewDatabase


def read_model(
    runtime: Runtime, name: str, catch_up: bool, *, on_primary: bool = False
) -> tuple[ViewDatabase, int, int]:
    """The read model's database, its position and the head of the primary's log (see
    `ledger.reports.caught_up`): on the read database when one is set (nothing caught up
    there) unless `on_primary`."""
    from ledger.projections.db import ViewDatabase  # noqa: PLC0415 - not needed at start-up
    from ledger.reports import caught_up  # noqa: PLC0415 - not needed at start-up

    reads = None if on_primary else runtime.read_database
    position, head = caught_up(
        runtime.database, runtime.ledger, name, catch_up=catch_up, reads=reads
    )
    return ViewDatabase(reads or runtime.database), position, head


def source_of(runtime: Runtime, *, on_primary: bool = False) -> str:
    """Where a report reads: `replica` (the read database) or `primary`."""
    return "replica" if runtime.read_database is not None and not on_primary else "primary"


def report_position(name: str, position: int, head: int, source: str = "primary") -> str:
    behind = f", {head - position} event(s) behind the log" if head > position else ""
    if source == "replica":
        return (
            f"{name} read model read on the read database (a standby) at position {position}; "
            f"the primary's log is at {head}, {max(head - position, 0)} event(s) behind"
        )
    return f"{name} read model at position {position} of {head}{behind}"


def emit_report(
    name: str,
    position: int,
    head: int,
    rows: list[dict[str, Any]],
    columns: Sequence[tuple[str, str]],
    *,
    as_json: bool,
    as_csv: bool,
    title: str,
    source: str = "primary",
) -> None:
    """A report: JSON with the read model's position, CSV rows, or a table and its position."""
    if as_json and as_csv:
        raise InvalidInputError("give --json or --csv, not both")
    if as_json:
        from ledger.reports import position_fields  # noqa: PLC0415 - not needed at start-up

        where = position_fields(position, head, source)
        click.echo(dumps({"projection": name, **where, "rows": rows}))
        return
    emit_rows(rows, columns, as_json=False, as_csv=as_csv, title=title)
    if not as_csv:
        err_console.print(report_position(name, position, head, source))


catch_up_option = click.option(
    "--no-catch-up",
    "catch_up",
    is_flag=True,
    flag_value=False,
    default=True,
    help="Read the read model as it stands (by default it first takes in the newest events).",
)
since_option = click.option(
    "--since", "since_text", help="Only tickets received at or after this ISO 8601 instant."
)
until_option = click.option(
    "--until", "until_text", help="Only tickets received before this ISO 8601 instant."
)


@click.group()
def report() -> None:
    """Reports read from the projections: the breach board, breach statistics, credit usage."""


BOARD_COLUMNS = [
    ("key", "ticket"), ("customer", "customer"), ("tier", "tier"), ("severity", "sev"),
    ("state", "state"), ("received_at", "received"), ("due_at", "due"),
    ("business_seconds_left", "business time left"), ("responded_at", "responded"),
    ("ticket_id", "ticket id"), ("contract_id", "contract"), ("status", "status"),
    ("clock", "clock"), ("warning_at", "warning"), ("original_due_at", "first due"),
    ("used_seconds", "business s used"), ("breach_recorded", "breach recorded"),
    ("breach_waived", "waived"), ("declined_reason", "declined because"),
]  # fmt: skip
BOARD_TABLE = 9  # the columns a table shows; CSV and JSON carry all of them


@report.command("breaches")
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice([*STATES, ALL]),
    help="Clocks in this state (repeatable; default: the live ones, 'all' for every clock).",
)
@click.option("--tier", type=click.Choice([t.value for t in Tier]), help="Only this tier.")
@click.option("--customer", help="Only this customer (case does not matter).")
@since_option
@until_option
@at_option("The instant the board is drawn for (default: now).")
@catch_up_option
@csv_option
@json_option
@pass_runtime
def report_breaches(
    runtime: Runtime,
    *,
    states: tuple[str, ...],
    tier: str | None,
    customer: str | None,
    since_text: str | None,
    until_text: str | None,
    at_text: str | None,
    catch_up: bool,
    as_csv: bool,
    as_json: bool,
) -> None:
    """The SLA board: each response clock, its state and business time left, soonest first."""
    from ledger.presenters import board_row_text  # noqa: PLC0415 - not needed at start-up
    from ledger.projections.sla_breaches import (  # noqa: PLC0415 - not needed at start-up
        SlaBreachProjection,
        SlaBreachView,
    )

    at = resolve_at(at_text)
    since, until = optional_instant(since_text, "--since"), optional_instant(until_text, "--until")
    db, position, head = read_model(runtime, SlaBreachProjection.name, catch_up)
    try:
        rows = SlaBreachView(db).board(
            at, states=set(states) or None, tier=tier, customer=customer, since=since, until=until
        )
    finally:
        db.close()
    columns = BOARD_COLUMNS if as_csv or as_json else BOARD_COLUMNS[:BOARD_TABLE]
    if not (as_csv or as_json):
        rows = [board_row_text(r) for r in rows]
    emit_report(
        SlaBreachProjection.name, position, head, rows, columns, as_json=as_json, as_csv=as_csv,
        title=f"SLA board at {format_instant(at)}", source=source_of(runtime),
    )  # fmt: skip


STATS_COLUMNS = BREACH_STAT_LABELLED_COLUMNS  # (key, label) of each figure, as declared


@report.command("breach-stats")
@click.option(
    "--by", "by", required=True, type=click.Choice(list(GROUPINGS)), help="Group the tickets by."
)
@since_option
@until_option
@at_option("Count breaches as they stand at this instant (default: now).")
@catch_up_option
@csv_option
@json_option
@pass_runtime
def report_breach_stats(
    runtime: Runtime,
    *,
    by: str,
    since_text: str | None,
    until_text: str | None,
    at_text: str | None,
    catch_up: bool,
    as_csv: bool,
    as_json: bool,
) -> None:
    """Responses met and breached, breach rate and response times, by a grouping."""
    from ledger.projections.sla_breaches import (  # noqa: PLC0415 - not needed at start-up
        SlaBreachProjection,
        SlaBreachView,
    )

    at = resolve_at(at_text)
    since, until = optional_instant(since_text, "--since"), optional_instant(until_text, "--until")
    db, position, head = read_model(runtime, SlaBreachProjection.name, catch_up)
    try:
        rows = SlaBreachView(db).stats(by, at, since=since, until=until)
    finally:
        db.close()
    if not (as_json or as_csv):
        rows = [
            {**r, "breach_rate": None if r["breach_rate"] is None else percent(r["breach_rate"])}
            for r in rows
        ]
    emit_report(
        SlaBreachProjection.name, position, head, rows, STATS_COLUMNS, as_json=as_json,
        as_csv=as_csv, title=f"SLA breaches by {by} at {format_instant(at)}",
        source=source_of(runtime),
    )  # fmt: skip


STATEMENT_COLUMNS = STATEMENT_LABELLED_COLUMNS  # (key, label) of each figure, as declared


def render_statements(statements: list[dict[str, Any]], title: str) -> None:
    """Per contract: a line for points and one for sessions, then the fees assessed."""
    table = statement_table(statements, title)
    console.print(table)
    if not statements:
        console.print("(none)")
    fees = [(s, f) for s in statements for f in s["fees"]]
    if fees:
        lines = Table("customer", "term", "fee", "amount", "assessed", title="fees assessed")
        for s, f in fees:
            lines.add_row(
                escape(s["customer"]), str(f["term_number"]), f["kind"],
                f"{fmt(f['fee'])} {s['currency']}", fmt(f["assessed_at"]),
            )  # fmt: skip
        console.print(lines)


@report.command("credits")
@click.option("--period", help="A calendar month, YYYY-MM (in each contract's timezone).")
@click.option("--term", "term_text", help="A term number: each contract's term N.")
@click.option("--contract", "contract_ref", help="Only this contract (id).")
@click.option(
    "--check",
    is_flag=True,
    help="Recompute every figure from the events; exit 1 and list them if any differs.",
)
@catch_up_option
@csv_option
@json_option
@pass_runtime
def report_credits(
    runtime: Runtime,
    *,
    period: str | None,
    term_text: str | None,
    contract_ref: str | None,
    check: bool,
    catch_up: bool,
    as_csv: bool,
    as_json: bool,
) -> int:
    """Credit statements: opening, granted, purchased, consumed, reversed, expired, closing."""
    from ledger.projections.credit_usage import (  # noqa: PLC0415 - not needed at start-up
        CreditUsageProjection,
        CreditUsageView,
        reconcile,
    )
    from ledger.reports import (  # noqa: PLC0415 - not needed at start-up
        position_fields,
        statement_row,
    )

    if (period is None) == (term_text is None):
        raise InvalidInputError("give --period YYYY-MM or --term N (one of them)")
    term = None if term_text is None else parse_int(term_text, "--term", minimum=1)
    contract_id = None if contract_ref is None else parse_id(contract_ref, "--contract")
    if check and not catch_up:
        raise InvalidInputError(
            "--check compares with the whole log: it cannot read a view that is not caught up"
        )
    # --check compares with the whole log: it reads the primary's view, caught up.
    db, position, head = read_model(runtime, CreditUsageProjection.name, catch_up, on_primary=check)
    source = source_of(runtime, on_primary=check)
    try:
        view = CreditUsageView(db)
        statements = view.statement(period=period, term=term, contract_id=contract_id)
        differences = (
            reconcile(runtime.ledger, view, period=period, term=term, contract_id=contract_id)
            if check
            else []
        )
    finally:
        db.close()
    window = f"period {period}" if period else f"term {term}"
    if as_json:
        if as_csv:
            raise InvalidInputError("give --json or --csv, not both")
        data: dict[str, Any] = {
            "projection": CreditUsageProjection.name, **position_fields(position, head, source),
            "statements": statements,
        }  # fmt: skip
        if check:
            data["differences"] = [vars(d) for d in differences]
        click.echo(dumps(data))
    elif as_csv:
        emit_rows(
            [statement_row(s) for s in statements], STATEMENT_COLUMNS, as_json=False, as_csv=True,
            title="",
        )  # fmt: skip
    else:
        render_statements(statements, f"credit statements, {window}")
        err_console.print(report_position(CreditUsageProjection.name, position, head, source))
    if check:
        for d in differences:
            unit = f" {d.unit}" if d.unit else ""
            err_console.print(
                f"[bold red]difference[/bold red] {d.contract_id}{unit} {d.figure}: "
                f"view {escape(fmt(d.view))}, events {escape(fmt(d.recomputed))}"
            )
        if not differences:
            err_console.print(f"every figure agrees with the events ({len(statements)} statements)")
    return EXIT_REFUSED if differences else 0
