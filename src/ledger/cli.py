"""The `ledger` command.

Exit codes: 0 done; 1 refused (a LedgerError: its code and message are printed); 2 usage
error; 3 a support request was declined (and recorded); 4 the database could not be reached.
Every command that prints data takes `--json`; errors are printed to standard error, as JSON
(`{"error": {"code": ..., "message": ...}}`) when `--json` was given.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ledger import __version__
from ledger.calendars import default_calendar, load_calendar_file
from ledger.domain.errors import InvalidInputError, LedgerError
from ledger.domain.sla import compute_deadline
from ledger.domain.terms import Tier, parse_severity
from ledger.parsing import format_instant, parse_hours, parse_instant, parse_int
from ledger.serialize import dumps, format_decimal
from ledger.terms import DEFAULT_VERSION, available_versions, load_terms, terms_as_dict

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ledger.domain.calendar import BusinessCalendar, Explanation
    from ledger.domain.sla import Deadline
    from ledger.domain.terms import Terms

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_DECLINED = 3
EXIT_UNAVAILABLE = 4

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON (a stable contract for scripts)."
)


def emit(data: Any, as_json: bool, render: Callable[[], None]) -> None:
    """Print `data` as JSON, or call `render` to print it for people."""
    if as_json:
        click.echo(dumps(data))
    else:
        render()


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="ledger")
def cli() -> None:
    """An event-sourced ledger of support contracts: SLA clocks and support credits."""


# -- terms ---------------------------------------------------------------------------------


@cli.group()
def terms() -> None:
    """The published support terms, as the ledger reads them."""


@terms.command("show")
@click.option(
    "--version",
    "version",
    default=DEFAULT_VERSION,
    show_default=True,
    help=f"Terms version; shipped: {', '.join(available_versions())}.",
)
@json_option
def terms_show(version: str, as_json: bool) -> None:
    """Print the matrix of the terms, tiers as columns."""
    loaded = load_terms(version)
    emit(terms_as_dict(loaded), as_json, lambda: render_terms(loaded))


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
    """`0.65` as `65%`."""
    return f"{format_decimal(share * 100)}%"


def describe_coverage(coverage: Any) -> str:
    """Weekly windows as `Mo-Fr 08:00-18:00`."""
    from ledger.domain.calendar import format_clock  # noqa: PLC0415 - keep the import local to rendering

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


# -- calendar ------------------------------------------------------------------------------


@cli.group()
def calendar() -> None:
    """Business-time arithmetic on a calendar file (JSON or TOML)."""


calendar_file_option = click.option(
    "--calendar",
    "calendar_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Calendar file: timezone, weekly, and optional holidays, holiday_region, extra_windows.",
)


@calendar.command("add")
@calendar_file_option
@click.option("--start", required=True, help="ISO 8601 instant with offset.")
@click.option("--seconds", help="Covered seconds to add.")
@click.option("--hours", help="Covered hours to add (decimals allowed).")
@json_option
def calendar_add(
    *, calendar_path: str, start: str, seconds: str | None, hours: str | None, as_json: bool
) -> None:
    """The earliest instant at which covered time since START equals the duration."""
    if (seconds is None) == (hours is None):
        raise InvalidInputError("give exactly one of --seconds or --hours")
    cal = load_calendar_file(calendar_path)
    begin = parse_instant(start, "--start")
    duration = (
        timedelta(seconds=parse_int(seconds, "--seconds", minimum=0))
        if seconds is not None
        else parse_hours(hours or "", "--hours")
    )
    end = cal.add(begin, duration)
    data = {
        "start": begin,
        "duration_seconds": duration.total_seconds(),
        "end": end,
        "end_local": end.astimezone(cal.zone).isoformat(),
    }
    emit(data, as_json, lambda: console.print(f"{format_instant(end)}  ({local(end, cal)})"))


@calendar.command("elapsed")
@calendar_file_option
@click.option("--from", "start", required=True, help="ISO 8601 instant with offset.")
@click.option("--to", "end", required=True, help="ISO 8601 instant with offset.")
@json_option
def calendar_elapsed(calendar_path: str, start: str, end: str, as_json: bool) -> None:
    """Covered time in [FROM, TO), zero when TO is not after FROM."""
    cal = load_calendar_file(calendar_path)
    covered = cal.elapsed(parse_instant(start, "--from"), parse_instant(end, "--to"))
    seconds = covered.total_seconds()
    data = {
        "seconds": int(seconds) if seconds == int(seconds) else seconds,
        "duration": str(covered),
    }
    emit(data, as_json, lambda: console.print(f"{data['seconds']} seconds ({covered})"))


def local(value: datetime, cal: BusinessCalendar) -> str:
    """An instant as local wall time with zone abbreviation and weekday."""
    return value.astimezone(cal.zone).strftime("%a %Y-%m-%d %H:%M:%S %Z")


# -- sla -----------------------------------------------------------------------------------


@cli.group()
def sla() -> None:
    """Response deadlines under the terms."""


@sla.command("deadline")
@click.option("--tier", required=True, help="premium, advanced or basic (any case).")
@click.option("--severity", required=True, help="1, 2 or 3.")
@click.option("--received", required=True, help="ISO 8601 instant the request was received.")
@click.option(
    "--calendar",
    "calendar_path",
    type=click.Path(dir_okay=False),
    help="Calendar file; default: the contract calendar of the terms (Europe/Berlin, DE).",
)
@click.option("--terms-version", default=DEFAULT_VERSION, show_default=True)
@json_option
def sla_deadline(
    *,
    tier: str,
    severity: str,
    received: str,
    calendar_path: str | None,
    terms_version: str,
    as_json: bool,
) -> None:
    """When a response is due, and why: the windows counted and the holidays skipped."""
    loaded = load_terms(terms_version)
    tier_terms = loaded.tier(Tier.parse(tier))
    level = parse_severity(severity)
    received_at = parse_instant(received, "--received")
    cal = (
        load_calendar_file(calendar_path) if calendar_path else default_calendar(loaded, tier_terms)
    )
    target = tier_terms.response_target(level)
    deadline = compute_deadline(cal, received_at, target, loaded.warning_thresholds)
    explanation = cal.explain(received_at, target)
    data = deadline_data(
        loaded,
        tier=tier_terms.tier,
        level=level,
        deadline=deadline,
        explanation=explanation,
        cal=cal,
    )
    emit(data, as_json, lambda: render_deadline(data, deadline, explanation, cal))


def deadline_data(
    loaded: Terms,
    *,
    tier: Tier,
    level: int,
    deadline: Deadline,
    explanation: Explanation,
    cal: BusinessCalendar,
) -> dict[str, Any]:
    """The deadline as JSON data, explanation included."""
    return {
        "tier": tier.value,
        "severity": level,
        "terms_version": loaded.version,
        "received_at": deadline.received_at,
        "counting_from": deadline.counting_from,
        "target_hours": int(deadline.target_hours)
        if deadline.target_hours == int(deadline.target_hours)
        else deadline.target_hours,
        "due_at": deadline.due_at,
        "due_at_local": deadline.due_at.astimezone(cal.zone).isoformat(),
        "warnings": [{"share": w.share, "label": w.label, "at": w.at} for w in deadline.warnings],
        "calendar": cal.describe(),
        "windows": [
            {"start": s.start, "end": s.end, "seconds": s.seconds, "appointment": s.appointment}
            for s in explanation.segments
        ],
        "skipped_holidays": [{"date": d, "name": n} for d, n in explanation.skipped],
    }


def render_deadline(
    data: dict[str, Any], deadline: Deadline, explanation: Explanation, cal: BusinessCalendar
) -> None:
    """The deadline for people: what was counted and what was skipped."""
    hours = format_decimal(deadline.target_hours)
    console.print(
        f"[bold]{data['tier'].title()}, severity {data['severity']}[/bold]: "
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
        console.print(f"  warning    {w.label:>4} at {local(w.at, cal)}")
    console.print("  windows counted:")
    for s in explanation.segments:
        mark = " (appointment)" if s.appointment else ""
        start, end = s.start.astimezone(cal.zone), s.end.astimezone(cal.zone)
        console.print(
            f"    {start:%a %Y-%m-%d %H:%M}-{end:%H:%M} {start:%Z}  "
            f"{timedelta(seconds=s.seconds)}{mark}"
        )
    if explanation.skipped:
        console.print("  skipped as holidays:")
        for day, name in explanation.skipped:
            console.print(f"    {day:%a %Y-%m-%d}  {name}")
    else:
        console.print("  skipped as holidays: none")


# -- demo ----------------------------------------------------------------------------------


@cli.command("demo")
def demo() -> None:
    """Show the terms and, for a request received now, every deadline with its explanation."""
    loaded = load_terms()
    render_terms(loaded)
    now = datetime.now(UTC).replace(microsecond=0)
    console.rule(f"Deadlines for a request received now ({format_instant(now)})")
    for tier_terms in loaded.tiers_by_rank():
        cal = default_calendar(loaded, tier_terms)
        for level in loaded.severities:
            target = tier_terms.response_target(level)
            deadline = compute_deadline(cal, now, target, loaded.warning_thresholds)
            explanation = cal.explain(now, target)
            data = deadline_data(
                loaded, tier=tier_terms.tier, level=level, deadline=deadline,
                explanation=explanation, cal=cal,
            )  # fmt: skip
            render_deadline(data, deadline, explanation, cal)
            console.print()


# -- entry point ---------------------------------------------------------------------------


def print_error(error: LedgerError, as_json: bool) -> None:
    """An error on standard error: code and message, as JSON when asked."""
    if as_json:
        click.echo(dumps({"error": error.as_dict()}), err=True)
    else:
        err_console.print(
            f"[bold red]error[/bold red] {escape(f'[{error.code}]')} {escape(error.message)}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and turn outcomes into exit codes."""
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in args
    try:
        result = cli.main(args=args, prog_name="ledger", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE
    except click.exceptions.Abort:
        err_console.print("aborted")
        return 130
    except LedgerError as exc:
        print_error(exc, as_json)
        return EXIT_REFUSED
    return result if isinstance(result, int) else 0
