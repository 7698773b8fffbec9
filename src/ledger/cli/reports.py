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
from ledger.display import display_zone, time_text, zone_name
from ledger.domain.errors import InvalidInputError
from ledger.domain.terms import Tier
from ledger.figures import (
    ALL,
    BOARD_LABELLED_COLUMNS,
    BREACH_STAT_LABELLED_COLUMNS,
    GROUPINGS,
    STATEMENT_LABELLED_COLUMNS,
    STATES,
)
from ledger.parsing import parse_int
from ledger.render import console, err_console, fmt, statement_table
from ledger.serialize import dumps

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from ledger.projections.db import ViewDatabase


def read_model(runtime: Runtime, name: str, catch_up: bool) -> tuple[ViewDatabase, int, int]:
    """The read model's database, its position and the head of the log (see
    `ledger.reports.caught_up`)."""
    from ledger.projections.db import ViewDatabase  # noqa: PLC0415 - not needed at start-up
    from ledger.reports import caught_up  # noqa: PLC0415 - not needed at start-up

    settings = runtime.database
    position, head = caught_up(settings, runtime.ledger, name, catch_up=catch_up)
    return ViewDatabase(settings), position, head


def report_position(name: str, position: int, head: int) -> str:
    behind = f", {head - position} event(s) behind the log" if head > position else ""
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
) -> None:
    """A report: JSON with the read model's position, CSV rows, or a table and its position."""
    if as_json and as_csv:
        raise InvalidInputError("give --json or --csv, not both")
    if as_json:
        click.echo(dumps({"projection": name, "position": position, "head": head, "rows": rows}))
        return
    emit_rows(rows, columns, as_json=False, as_csv=as_csv, title=title)
    if not as_csv:
        err_console.print(report_position(name, position, head))


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


BOARD_COLUMNS = BOARD_LABELLED_COLUMNS  # (key, label) of each column, as declared
# The columns a table shows (to fit 100 columns); CSV and JSON carry all of them.
BOARD_TABLE = [
    ("key", "ticket"), ("customer", "customer"), ("severity", "sev"), ("state", "state"),
    ("received_at", "received"), ("due_at", "due"), ("business_seconds_left", "left"),
    ("responded_at", "responded"),
]  # fmt: skip


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
    columns = BOARD_COLUMNS if as_csv or as_json else BOARD_TABLE
    if not (as_csv or as_json):
        rows = [board_row_text(r, at) for r in rows]
    emit_report(
        SlaBreachProjection.name, position, head, rows, columns, as_json=as_json, as_csv=as_csv,
        title=board_title(at),
    )  # fmt: skip


def board_title(at: datetime) -> str:
    """The title of a board drawn at `at`, naming the zone its times are shown in."""
    return f"SLA board at {time_text(at)} (times MM-DD HH:MM, {zone_name(display_zone())})"


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
    from ledger.presenters import stats_row_text  # noqa: PLC0415 - not needed at start-up
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
        rows = [stats_row_text(r) for r in rows]
    emit_report(
        SlaBreachProjection.name, position, head, rows, STATS_COLUMNS, as_json=as_json,
        as_csv=as_csv, title=f"SLA breaches by {by} at {time_text(at)}",
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
    from ledger.reports import statement_row  # noqa: PLC0415 - not needed at start-up

    if (period is None) == (term_text is None):
        raise InvalidInputError("give --period YYYY-MM or --term N (one of them)")
    term = None if term_text is None else parse_int(term_text, "--term", minimum=1)
    contract_id = None if contract_ref is None else parse_id(contract_ref, "--contract")
    if check and not catch_up:
        raise InvalidInputError(
            "--check compares with the whole log: it cannot read a view that is not caught up"
        )
    db, position, head = read_model(runtime, CreditUsageProjection.name, catch_up)
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
            "projection": CreditUsageProjection.name, "position": position, "head": head,
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
        err_console.print(report_position(CreditUsageProjection.name, position, head))
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
