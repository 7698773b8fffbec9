"""Terminal rendering with rich, shared by the CLI and the demo (the data they render comes
from `ledger.presenters`)."""

from __future__ import annotations

import sys
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ledger.display import duration_text, percent_text, time_text
from ledger.domain.calendar import format_clock
from ledger.parsing import format_instant
from ledger.serialize import format_decimal

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ledger.domain.calendar import BusinessCalendar
    from ledger.domain.terms import Terms
    from ledger.presenters import ExplainedDeadline

# Tables fit 100 columns when piped (CI logs, files); a terminal's own width otherwise.
# Colours only on a terminal, and never with NO_COLOR set (rich reads both itself).
PIPED_WIDTH = 100
console = Console(
    highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else PIPED_WIDTH
)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

# The colour of each state of a clock or a ticket in a table (shown on a terminal only).
STATE_STYLES = {
    "on_track": "green", "met": "green", "at_risk": "yellow", "paused": "cyan",
    "on_hold": "cyan", "breached": "bold red", "declined": "magenta", "lapse_pending": "yellow",
    "lapsed": "red", "terminated": "red", "active": "green",
}  # fmt: skip
# Columns holding instants: never wrapped, so a narrow table keeps each time of day whole.
INSTANT_COLUMNS = frozenset({
    "received_at", "due_at", "responded_at", "warning_at", "original_due_at", "start", "end",
    "starts_at", "ends_at", "assessed_at", "at", "recorded_at", "expires_at",
})  # fmt: skip


def styled(key: str, text: str) -> Text:
    """A cell: a state in its colour, any other text as it is (never read as markup)."""
    return Text(text, style=STATE_STYLES.get(text, "") if key in {"state", "status"} else "")


def is_number(value: Any) -> bool:
    """Whether a cell holds a number (right-aligned in a table); a yes/no is not one."""
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def rows_table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[tuple[str, str]],
    title: str,
    *,
    numeric: frozenset[str] = frozenset(),
) -> Table:
    """Rows as a table for people: numbers (and the `numeric` columns) right-aligned, states
    coloured, instants never wrapped; compact, so that it fits 100 columns."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for key, label in columns:
        values = [row.get(key) for row in rows if row.get(key) is not None]
        right = key in numeric or (bool(values) and all(is_number(v) for v in values))
        table.add_column(
            label,
            justify="right" if right else "left",
            no_wrap=key in INSTANT_COLUMNS,
            overflow="fold",
        )
    for row in rows:
        table.add_row(*[styled(key, fmt(row.get(key))) for key, _ in columns])
    return table


def render_terms(loaded: Terms) -> None:
    """The terms matrix, severities and eligibility as tables."""
    tiers = loaded.tiers_by_rank()
    table = Table(title=f"{loaded.title} (terms {loaded.version}, status {loaded.status})")
    table.add_column("")
    for t in tiers:
        table.add_column(t.title, justify="center")

    def yes(value: bool) -> str:
        return "yes" if value else "no"

    def row(label: str, values: Sequence[str]) -> None:
        table.add_row(label, *values)

    row("Updates per year", [str(t.updates_per_year) for t in tiers])
    for level in loaded.severities:
        row(f"Response time, severity {level}", [f"{t.response_hours[level]} h" for t in tiers])
    row("Coverage", [describe_coverage(t.coverage) for t in tiers])
    row(
        "Outside business hours (weekdays)",
        ["24 h on appointment" if t.outside_hours_appointments else "no" for t in tiers],
    )
    row("Weekend", ["on appointment" if t.weekend_appointments else "no" for t in tiers])
    row("Named contacts", [str(t.named_contacts) for t in tiers])
    row("Customer service portal", [yes(t.customer_service_portal) for t in tiers])
    row(
        "Installation, upgrade, configuration",
        [yes(t.installation_upgrade_configuration) for t in tiers],
    )
    row("Remote assistance", [yes(t.remote_assistance) for t in tiers])
    row("Priority troubleshooting", [yes(t.priority_troubleshooting) for t in tiers])
    row(
        "Support credits per developer license",
        [format_decimal(t.support_credits_per_license) for t in tiers],
    )
    row(
        f"Training sessions ({loaded.session_minutes} min) per developer license",
        [str(t.training_sessions_per_license) for t in tiers],
    )
    row(
        "Technical account representative", [yes(t.technical_account_representative) for t in tiers]
    )
    row("Annual fee (of the list price)", [percent(t.annual_fee_share) for t in tiers])
    row("Fee after a lapse (reinstatement)", [percent(loaded.reinstatement_fee_share)] * len(tiers))
    console.print(table)

    severities = Table(title="Severity levels")
    severities.add_column("Level", justify="center")
    severities.add_column("Name")
    severities.add_column("Definition")
    for level, s in loaded.severities.items():
        default = " (default)" if level == loaded.default_severity else ""
        severities.add_row(str(level), s.name + default, s.description)
    console.print(severities)

    e = loaded.eligibility
    console.print("[bold]Eligibility[/bold]")
    console.print(
        f"  licenses supported: {', '.join(e.license_kinds)}; "
        f"refused: {', '.join(e.refused_license_kinds)}"
    )
    console.print(
        "  named contacts only; others are redirected to them"
        if e.named_contacts_only
        else "  anyone may ask"
    )
    console.print(f"  release lines supported: the newest {e.supported_release_lines} GA lines")
    console.print(
        f"  beta or pre-GA releases: {'supported' if e.prerelease_supported else 'not supported'}"
    )
    console.print(f"  platforms: {', '.join(e.platforms)}")
    console.print(
        "  patches: supported lines, severities "
        + ", ".join(str(s) for s in e.patch_severities)
        + " only"
    )
    console.print(
        f"  warnings before a breach at {', '.join(percent(t) for t in loaded.warning_thresholds)} "
        "of the response target"
    )


def percent(share: Any) -> str:
    """`0.65` as `65%` (the one format of a percentage, `ledger.display.percent_text`)."""
    return percent_text(share)


def describe_coverage(coverage: Any) -> str:
    """Weekly windows as `Mo-Fr 08:00-18:00`."""
    names = ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"]
    groups: list[tuple[list[str], str]] = []
    for name, day in zip(names, coverage, strict=True):
        text = ", ".join(f"{format_clock(s)}-{format_clock(e)}" for s, e in day)
        if not text:
            continue
        if groups and groups[-1][1] == text:
            groups[-1][0].append(name)
        else:
            groups.append(([name], text))
    parts = [
        (f"{days[0]}-{days[-1]}" if len(days) > 1 else days[0]) + f" {text}"
        for days, text in groups
    ]
    return "; ".join(parts) or "none"


def local(value: datetime, cal: BusinessCalendar) -> str:
    """An instant as local wall time with zone abbreviation and weekday."""
    return value.astimezone(cal.zone).strftime("%a %Y-%m-%d %H:%M %Z")


def render_deadline(explained: ExplainedDeadline) -> None:
    """The deadline for people: what was counted and what was skipped."""
    deadline, explanation, cal = explained.deadline, explained.explanation, explained.calendar
    hours = format_decimal(deadline.target_hours)
    console.print(
        f"[bold]{explained.tier.value.title()}, severity {explained.severity}[/bold]: "
        f"respond within {hours} business hours ({cal.timezone}"
        + (f", holidays {cal.holiday_region}" if cal.holiday_region else "")
        + ")"
    )
    console.print(f"  received   {local(deadline.received_at, cal)}")
    if deadline.counting_from != deadline.received_at:
        console.print(f"  counting   from {local(deadline.counting_from, cal)} (next covered time)")
    console.print(
        f"  [bold]due        {local(deadline.due_at, cal)}[/bold]  "
        f"= {format_instant(deadline.due_at)}"
    )
    for w in deadline.warnings:
        if w.at is not None:
            console.print(f"  warning    {w.label:>4} at {local(w.at, cal)}")
    console.print("  windows counted:")
    for s in explanation.segments:
        mark = " (appointment)" if s.appointment else ""
        start, end = s.start.astimezone(cal.zone), s.end.astimezone(cal.zone)
        console.print(
            f"    {start:%a %Y-%m-%d %H:%M}-{end:%H:%M} {start:%Z}  "
            f"{duration_text(s.seconds)}{mark}"
        )
    if explanation.skipped:
        console.print("  skipped as holidays:")
        for day, name in explanation.skipped:
            console.print(f"    {day:%a %Y-%m-%d}  {name}")
    else:
        console.print("  skipped as holidays: none")


def fmt(value: Any, zone: tzinfo | str | None = None) -> str:
    """A value for a human table; an instant as wall time in `zone` (default: the display
    zone, `LEDGER_DISPLAY_TZ`) to the minute."""
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return time_text(value, zone)
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(fmt(v, zone) for v in value) or "-"
    return str(value)


def kv(title: str, rows: Sequence[tuple[str, Any]], zone: tzinfo | str | None = None) -> Table:
    """A two-column table of labels and values (instants in `zone`, see `fmt`)."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for label, value in rows:
        table.add_row(label, escape(fmt(value, zone)))
    return table


def shared_window(rows: Sequence[dict[str, Any]]) -> str | None:
    """The window of every row as local dates (`2025-03-01 - 2025-03-31 Europe/Berlin`) when
    they all share it, else None (each row then shows its own)."""
    from ledger.presenters import local_window  # noqa: PLC0415 - not needed at start-up

    windows = {local_window(r["start"], r["end"], r["timezone"]) for r in rows}
    return windows.pop() if len(windows) == 1 else None


def statement_table(statements: Sequence[dict[str, Any]], title: str) -> Table:
    """Credit statements, per contract a line for points and one for sessions, with its fees
    and packages; the window as local dates in the title (or per contract when they differ)."""
    from ledger.presenters import local_window, money  # noqa: PLC0415 - not needed at start-up
    from ledger.reports import STATEMENT_FIGURES  # noqa: PLC0415 - the reports load the views

    window = shared_window(statements)
    heading = [] if window or not statements else ["window"]
    table = Table(
        title=f"{title}: {window}" if window else title, title_justify="left",
        box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True,
    )  # fmt: skip
    table.add_column("customer", overflow="fold", min_width=8)
    for name in heading:
        table.add_column(name, overflow="fold")
    table.add_column("unit", no_wrap=True)
    for figure in STATEMENT_FIGURES:
        table.add_column(figure, justify="right", no_wrap=True)
    table.add_column("fees", justify="right", no_wrap=True)
    table.add_column("packages", justify="right", no_wrap=True)
    for s in statements:
        for unit in ("points", "sessions"):
            first = unit == "points"
            own = [local_window(s["start"], s["end"], s["timezone"]) if first else ""]
            table.add_row(
                escape(s["customer"]) if first else "",
                *(own if heading else []),
                unit,
                *[fmt(s[unit][f]) for f in STATEMENT_FIGURES],
                money(s["fees_total"], s["currency"]) if first else "",
                money(s["packages_total"], s["currency"]) if first else "",
            )
    return table


def money_table(
    rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], title: str
) -> Table:
    """Money figures per contract (`columns`: key and label), in each row's currency, with a
    totals row per currency; the window as local dates in the title (or per row)."""
    from ledger.presenters import local_window, money  # noqa: PLC0415 - not needed at start-up
    from ledger.reports import money_totals  # noqa: PLC0415 - the reports load the views

    window = shared_window(rows)
    heading = [] if window or not rows else ["window"]
    table = Table(
        "customer", *heading, *[label for _, label in columns],
        title=f"{title}: {window}" if window else title, title_justify="left",
    )  # fmt: skip
    for r in rows:
        own = [local_window(r["start"], r["end"], r["timezone"])] if heading else []
        table.add_row(
            escape(r["customer"]), *own, *[money(r[key], r["currency"]) for key, _ in columns]
        )
    totals = money_totals(rows, tuple(key for key, _ in columns))
    for t in totals:
        table.add_row(
            f"total {t['currency']}", *([""] if heading else []),
            *[money(t[key], t["currency"]) for key, _ in columns], style="bold",
        )  # fmt: skip
    return table


def totals_table(totals: Sequence[dict[str, Any]], title: str = "totals") -> Table:
    """The money totals of a list of statements, one row per currency."""
    from ledger.figures import MONEY_TOTALS  # noqa: PLC0415 - not needed at start-up
    from ledger.presenters import money  # noqa: PLC0415 - not needed at start-up

    table = Table("currency", *[f.label for f in MONEY_TOTALS], title=title, title_justify="left")
    for row in totals:
        table.add_row(row["currency"], *[money(row[f.name], row["currency"]) for f in MONEY_TOTALS])
    return table
