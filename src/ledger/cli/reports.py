"""Reports read from the projections (`ledger report ...`): the breach board, breach
statistics, credit statements, revenue."""

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
    REVENUE_FIGURES,
    REVENUE_LABELLED_COLUMNS,
    STATEMENT_LABELLED_COLUMNS,
    STATES,
)
from ledger.parsing import parse_int
from ledger.render import console, err_console, fmt, statement_table
from ledger.serialize import dumps

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import datetime
    from uuid import UUID

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


BOARD_COLUMNS = BOARD_LABELLED_COLUMNS  # (key, label) of each column, as declared
# The columns a table shows (to fit 100 columns); CSV and JSON carry all of them.
BOARD_TABLE = [
    ("key", "ticket"), ("customer", "customer"), ("severity", "sev"), ("priority", "prio"),
    ("state", "state"),
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
@click.option("--customer", help="Only customers whose name contains this (any case).")
@since_option
@until_option
@at_option(
    "The board as it stood at this instant: tickets received by then, each as it stood "
    "(default: now)."
)
@click.option(
    "--limit", "limit_text", default="100", show_default=True, metavar="N",
    help="Rows of one page (1 to 1,000).",
)  # fmt: skip
@click.option(
    "--after", "after", metavar="CURSOR", help="The page after this cursor (printed by a page)."
)
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
    limit_text: str,
    after: str | None,
    catch_up: bool,
    as_csv: bool,
    as_json: bool,
) -> None:
    """The SLA board: each response clock, its state and business time left, soonest first,
    a page at a time, with the count of clocks in every state."""
    from ledger.presenters import board_row_text  # noqa: PLC0415 - not needed at start-up
    from ledger.projections.sla_breaches import (  # noqa: PLC0415 - not needed at start-up
        MAX_PAGE,
        SlaBreachProjection,
        SlaBreachView,
    )
    from ledger.reports import position_fields  # noqa: PLC0415 - not needed at start-up

    if as_json and as_csv:
        raise InvalidInputError("give --json or --csv, not both")
    at = resolve_at(at_text)
    since, until = optional_instant(since_text, "--since"), optional_instant(until_text, "--until")
    limit = parse_int(limit_text, "--limit", minimum=1, maximum=MAX_PAGE)
    db, position, head = read_model(runtime, SlaBreachProjection.name, catch_up)
    try:
        page = SlaBreachView(db).page(
            at, limit=limit, after=after, states=set(states) or None, tier=tier,
            customer=customer, since=since, until=until, as_it_stood=at_text is not None,
        )  # fmt: skip
    finally:
        db.close()
    name, rows, more = SlaBreachProjection.name, page["rows"], page["next"]
    if as_json:
        where = position_fields(position, head, source_of(runtime))
        click.echo(dumps({"projection": name, **where, **page}))
        return
    columns = BOARD_COLUMNS if as_csv else BOARD_TABLE
    if not as_csv:
        rows = [board_row_text(r, at) for r in rows]
    emit_report(
        name, position, head, rows, columns, as_json=False, as_csv=as_csv,
        title=board_title(at), source=source_of(runtime),
    )  # fmt: skip
    if not as_csv:
        counts = ", ".join(f"{state.replace('_', ' ')} {n}" for state, n in page["counts"].items())
        err_console.print(f"clocks by state: {counts}", highlight=False)
    if more is not None:
        err_console.print(f"more: --after {more}", highlight=False, soft_wrap=True)


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
        source=source_of(runtime),
    )  # fmt: skip


STATEMENT_COLUMNS = STATEMENT_LABELLED_COLUMNS  # (key, label) of each figure, as declared


def render_statements(statements: list[dict[str, Any]], title: str) -> None:
    """Per contract: a line for points and one for sessions, then the fees assessed."""
    table = statement_table(statements, title)
    console.print(table)
    if not statements:
        console.print("(none)")
    from ledger.presenters import money  # noqa: PLC0415 - not needed at start-up
    from ledger.render import totals_table  # noqa: PLC0415 - not needed at start-up
    from ledger.reports import money_totals  # noqa: PLC0415 - not needed at start-up

    fees = [(s, f) for s in statements for f in s["fees"]]
    if fees:
        which = (
            "fees paying for the term, whenever charged"
            if statements[0]["term"] is not None
            else "fees charged in the month"
        )
        lines = Table("customer", "term", "fee", "amount", "assessed", title=which)
        for s, f in fees:
            lines.add_row(
                escape(s["customer"]), str(f["term_number"]), f["kind"],
                money(f["fee"], s["currency"]), fmt(f["assessed_at"]),
            )  # fmt: skip
        console.print(lines)
    bought = [(s, p) for s in statements for p in s["packages"]]
    if bought:
        lines = Table("customer", "points", "price", "unit value", "bought", title="packages")
        for s, p in bought:
            unit = p["price"] / p["points"] if p["points"] else p["price"]
            lines.add_row(
                escape(s["customer"]), fmt(p["points"]), money(p["price"], s["currency"]),
                f"{unit:,.4f} {s['currency']}", fmt(p["purchased_at"]),
            )  # fmt: skip
        console.print(lines)
    if statements:
        console.print(totals_table(money_totals(statements)))


def credit_window(
    runtime: Runtime,
    period: str | None,
    term_text: str | None,
    contract_ref: str | None,
    *,
    check: bool,
    catch_up: bool,
) -> tuple[int | None, UUID | None, tuple[ViewDatabase, int, int], str]:
    """What `report credits` and `report revenue` read: the term, the contract, the credit-usage
    view (its connection, position and the log's head) and where it was read. `--check`
    compares with the whole log, so it reads the primary's view, caught up."""
    from ledger.projections.credit_usage import (  # noqa: PLC0415 - not needed at start-up
        CreditUsageProjection,
    )

    if (period is None) == (term_text is None):
        raise InvalidInputError("give --period YYYY-MM or --term N (one of them)")
    term = None if term_text is None else parse_int(term_text, "--term", minimum=1)
    contract_id = (
        None if contract_ref is None else runtime.ledger.contract_id(contract_ref, "--contract")
    )
    if check and not catch_up:
        raise InvalidInputError(
            "--check compares with the whole log: it cannot read a view that is not caught up"
        )
    read = read_model(runtime, CreditUsageProjection.name, catch_up, on_primary=check)
    return term, contract_id, read, source_of(runtime, on_primary=check)


@report.group("credits", invoke_without_command=True)
@click.option("--period", help="A calendar month, YYYY-MM (in each contract's timezone).")
@click.option("--term", "term_text", help="A term number: each contract's term N.")
@click.option("--contract", "contract_ref", help="Only this contract (id or customer's name).")
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
    """Credit statements: opening, granted, purchased, consumed, reversed, expired, closing.

    `ledger report credits expiring --within 30d`: the lots about to expire."""
    if click.get_current_context().invoked_subcommand is not None:
        return 0  # the subcommand answers
    from ledger.projections.credit_usage import (  # noqa: PLC0415 - not needed at start-up
        CreditUsageProjection,
        CreditUsageView,
        reconcile,
    )
    from ledger.reports import (  # noqa: PLC0415 - not needed at start-up
        money_totals,
        position_fields,
        statement_rows,
    )

    term, contract_id, (db, position, head), source = credit_window(
        runtime, period, term_text, contract_ref, check=check, catch_up=catch_up
    )
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
            "statements": statements, "totals": money_totals(statements),
        }  # fmt: skip
        if check:
            names = runtime.ledger.customers_of([d.contract_id for d in differences])
            data["differences"] = [
                {**vars(d), "customer": names.get(d.contract_id)} for d in differences
            ]
        click.echo(dumps(data))
    elif as_csv:
        emit_rows(
            statement_rows(statements), STATEMENT_COLUMNS, as_json=False, as_csv=True,
            title="",
        )  # fmt: skip
    else:
        render_statements(statements, f"credit statements, {window}")
        err_console.print(report_position(CreditUsageProjection.name, position, head, source))
    if check:
        names = runtime.ledger.customers_of([d.contract_id for d in differences])
        for d in differences:
            unit = f" {d.unit}" if d.unit else ""
            who = escape(names.get(d.contract_id, "?"))
            err_console.print(
                f"[bold red]difference[/bold red] {who} {d.contract_id}{unit} {d.figure}: "
                f"view {escape(fmt(d.view))}, events {escape(fmt(d.recomputed))}"
            )
        if not differences:
            err_console.print(f"every figure agrees with the events ({len(statements)} statements)")
    return EXIT_REFUSED if differences else 0


REVENUE_COLUMNS = REVENUE_LABELLED_COLUMNS  # (key, label) of each field and figure, as declared


@report.command("revenue")
@click.option("--period", help="A calendar month, YYYY-MM (in each contract's timezone).")
@click.option("--term", "term_text", help="A term number: each contract's term N.")
@click.option("--contract", "contract_ref", help="Only this contract (id or customer's name).")
@click.option(
    "--check",
    is_flag=True,
    help="Recompute every figure from the events; exit 1 and list them if any differs.",
)
@catch_up_option
@csv_option
@json_option
@pass_runtime
def report_revenue(
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
    """Fees and packages billed, recognised, deferred, and breakage, per contract."""
    from ledger.projections.credit_usage import (  # noqa: PLC0415 - not needed at start-up
        CreditUsageProjection,
    )
    from ledger.projections.revenue import (  # noqa: PLC0415 - not needed at start-up
        RevenueView,
        reconcile_revenue,
    )
    from ledger.render import money_table  # noqa: PLC0415 - not needed at start-up
    from ledger.reports import (  # noqa: PLC0415 - as above
        position_fields,
        revenue_rows,
        revenue_totals,
    )

    if (period is None) == (term_text is None):
        raise InvalidInputError("give --period YYYY-MM or --term N (one of them)")
    if as_json and as_csv:
        raise InvalidInputError("give --json or --csv, not both")
    term, contract_id, (db, position, head), source = credit_window(
        runtime, period, term_text, contract_ref, check=check, catch_up=catch_up
    )
    try:
        view = RevenueView(db)
        rows = view.revenue(period=period, term=term, contract_id=contract_id)
        differences = (
            reconcile_revenue(
                runtime.ledger, view, period=period, term=term, contract_id=contract_id
            )
            if check
            else []
        )
    finally:
        db.close()
    if as_json:
        data: dict[str, Any] = {
            "projection": CreditUsageProjection.name, **position_fields(position, head, source),
            "revenue": rows, "totals": revenue_totals(rows),
        }  # fmt: skip
        if check:
            data["differences"] = [vars(d) for d in differences]
        click.echo(dumps(data))
    elif as_csv:
        emit_rows(revenue_rows(rows), REVENUE_COLUMNS, as_json=False, as_csv=True, title="")
    else:
        window = f"period {period}" if period else f"term {term}"
        for part in ("fees", "packages"):
            columns = [(f.name, f.label) for f in REVENUE_FIGURES if f.name.startswith(part)]
            console.print(money_table(rows, columns, f"revenue from {part}, {window}"))
        if not rows:
            console.print("(none)")
        err_console.print(report_position(CreditUsageProjection.name, position, head, source))
    if check:
        for d in differences:
            err_console.print(
                f"[bold red]difference[/bold red] {d.contract_id} {d.figure}: "
                f"view {escape(fmt(d.view))}, events {escape(fmt(d.recomputed))}"
            )
        if not differences:
            err_console.print(f"every figure agrees with the events ({len(rows)} contracts)")
    return EXIT_REFUSED if differences else 0


@report_credits.command("expiring")
@click.option("--within", "within_text", required=True, help="Days ahead, e.g. 30d.")
@at_option("The window starts at this instant (default: now).")
@csv_option
@json_option
@pass_runtime
def report_credits_expiring(
    runtime: Runtime, *, within_text: str, at_text: str | None, as_csv: bool, as_json: bool
) -> None:
    """Lots that expire within the window, with what is left and its value, soonest first."""
    from ledger.lookahead import (  # noqa: PLC0415 - not needed at start-up
        EXPIRING_COLUMNS,
        expiring_report,
    )

    emit_lookahead(
        runtime, expiring_report, "lots", within_text, at_text, as_csv=as_csv, as_json=as_json,
        columns=EXPIRING_COLUMNS, money=("unit_value", "value"),
        hidden={"contract_id", "currency"}, title="credits expiring",
    )  # fmt: skip


@report.command("renewals")
@click.option("--within", "within_text", required=True, help="Days ahead, e.g. 60d.")
@at_option("The window starts at this instant (default: now).")
@csv_option
@json_option
@pass_runtime
def report_renewals(
    runtime: Runtime, *, within_text: str, at_text: str | None, as_csv: bool, as_json: bool
) -> None:
    """Terms ending within the window with no renewal ordered: the renewal fee, and the 80 %."""
    from ledger.lookahead import (  # noqa: PLC0415 - not needed at start-up
        RENEWAL_COLUMNS,
        renewals_report,
    )

    # a table within 100 columns: the list price and fee share are in CSV and JSON
    emit_lookahead(
        runtime, renewals_report, "renewals", within_text, at_text, as_csv=as_csv,
        as_json=as_json, columns=RENEWAL_COLUMNS,
        money=("list_price", "renewal_fee", "reinstatement_fee"),
        hidden={"contract_id", "currency", "licenses", "list_price", "fee_share"},
        title="renewals due",
    )  # fmt: skip


def emit_lookahead(
    runtime: Runtime,
    report_of: Callable[..., dict[str, Any]],
    key: str,
    within_text: str,
    at_text: str | None,
    *,
    as_csv: bool,
    as_json: bool,
    columns: Sequence[tuple[str, str]],
    money: Sequence[str],
    hidden: set[str],
    title: str,
) -> None:
    """A look-ahead (`ledger.lookahead`) over `--within` from `--at`, read where the reports
    read (the standby when one is set): JSON, CSV, or a table (its amounts of `money` with
    separators and currency, the `hidden` columns left to CSV and JSON) and where it was read."""
    from ledger.lookahead import parse_within  # noqa: PLC0415 - not needed at start-up

    within = parse_within(within_text)
    at = resolve_at(at_text)
    if as_json and as_csv:
        raise InvalidInputError("give --json or --csv, not both")
    data = report_of(runtime.ledger, runtime.reader, at=at, within=within)
    if as_json:
        click.echo(dumps(data))
        return
    rows = data[key]
    if not as_csv:
        rows = [_money_cells(r, money) for r in rows]
        columns = [c for c in columns if c[0] not in hidden]
    heading = f"{title} from {time_text(at)} within {within.days} days"
    emit_rows(rows, columns, as_json=False, as_csv=as_csv, title=heading)
    if not as_csv:
        err_console.print(log_position(data["position"], data["head"], data["read_from"]))


def log_position(position: int, head: int, source: str) -> str:
    """Where a read of the aggregates stood: the log's position it read, and on a standby the
    primary's head and how far behind it that is."""
    if source == "replica":
        return (
            f"read on the read database (a standby) at position {position} of the log; "
            f"the primary's log is at {head}, {max(head - position, 0)} event(s) behind"
        )
    return f"read at position {position} of the log"


def _money_cells(row: dict[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """A row for a table: its amounts of money with separators and currency."""
    from ledger.presenters import money  # noqa: PLC0415 - not needed at start-up

    shown = {k: None if row[k] is None else money(row[k], row["currency"]) for k in keys}
    return {**row, **shown}
