"""The terms, business-time arithmetic on a calendar file and response deadlines
(`ledger terms`, `ledger calendar`, `ledger sla`)."""

from __future__ import annotations

from datetime import timedelta

import click

from ledger.cli.support import emit, json_option
from ledger.domain.errors import InvalidDurationError, InvalidInputError, InvalidTermsError
from ledger.domain.terms import Tier, parse_severity
from ledger.parsing import format_instant, parse_hours, parse_instant, parse_int
from ledger.render import console, local, render_deadline, render_terms
from ledger.terms import (
    DEFAULT_VERSION,
    available_versions,
    check_terms_file,
    load_terms,
    load_terms_file,
    terms_as_dict,
)


@click.group()
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
def terms_show(*, version: str, as_json: bool) -> None:
    """Print the matrix of the terms, tiers as columns."""
    loaded = load_terms(version)
    emit(terms_as_dict(loaded), as_json, lambda: render_terms(loaded))


@terms.command("check")
@click.argument("path", type=click.Path(dir_okay=False))
@json_option
def terms_check(*, path: str, as_json: bool) -> None:
    """Validate a terms file before publishing it: every problem, each naming its key."""
    problems = check_terms_file(path)
    if problems:
        listed = "".join(f"\n  {p}" for p in problems)
        raise InvalidTermsError(
            f"{path}: {len(problems)} problem{'s' if len(problems) > 1 else ''}{listed}",
            file=path,
            problems=[p.as_dict() for p in problems],
        )
    checked = load_terms_file(path)
    tiers = [t.tier.value for t in checked.tiers_by_rank()]
    data = {"file": path, "valid": True, "version": checked.version, "tiers": tiers}
    summary = f"{path}: valid terms {checked.version} (tiers {', '.join(tiers)})"
    emit(data, as_json, lambda: click.echo(summary))


# -- calendar ------------------------------------------------------------------------------


@click.group()
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
    from ledger.calendars import load_calendar_file  # noqa: PLC0415 - not needed at start-up

    if (seconds is None) == (hours is None):
        raise InvalidInputError("give exactly one of --seconds or --hours")
    cal = load_calendar_file(calendar_path)
    begin = parse_instant(start, "--start")
    whole = None if seconds is None else parse_int(seconds, "--seconds")
    if whole is not None and whole < 0:  # refused before a timedelta could overflow
        raise InvalidDurationError(f"the duration must not be negative, got {seconds}")
    duration = (
        timedelta(seconds=whole) if whole is not None else parse_hours(hours or "", "--hours")
    )
    if duration < timedelta(0):
        raise InvalidDurationError(f"the duration must not be negative, got {seconds or hours}")
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
def calendar_elapsed(*, calendar_path: str, start: str, end: str, as_json: bool) -> None:
    """Covered time in [FROM, TO), zero when TO is not after FROM."""
    from ledger.calendars import load_calendar_file  # noqa: PLC0415 - not needed at start-up

    cal = load_calendar_file(calendar_path)
    covered = cal.elapsed(parse_instant(start, "--from"), parse_instant(end, "--to"))
    seconds = covered.total_seconds()
    data = {
        "seconds": int(seconds) if seconds == int(seconds) else seconds,
        "duration": str(covered),
    }
    emit(data, as_json, lambda: console.print(f"{data['seconds']} seconds ({covered})"))


# -- sla -----------------------------------------------------------------------------------


@click.group()
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
    from ledger.calendars import load_calendar_file  # noqa: PLC0415 - not needed at start-up
    from ledger.presenters import (  # noqa: PLC0415 - not needed at start-up
        deadline_view,
        explain_deadline,
    )

    loaded = load_terms(terms_version)
    tier_terms = loaded.tier(Tier.parse(tier))
    level = parse_severity(severity)
    received_at = parse_instant(received, "--received")
    cal = load_calendar_file(calendar_path) if calendar_path else None
    explained = explain_deadline(loaded, tier_terms, level, received_at, cal)
    emit(deadline_view(explained), as_json, lambda: render_deadline(explained))


COMMANDS = (terms, calendar, sla)
