"""The `ledger` command.

Exit codes: 0 done; 1 refused (a LedgerError: its code and message are printed); 2 usage
error; 3 a support request was declined (and recorded); 4 the database could not be reached.
Every command that prints data takes `--json`; errors are printed to standard error, as JSON
(`{"error": {"code": ..., "message": ...}}`) when `--json` was given.
"""

from __future__ import annotations

import csv
import io
import signal
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo

import click
from eventsourcing.persistence import PersistenceError
from psycopg_pool import PoolTimeout
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from ledger import __version__
from ledger.audit.chain import catch_up_chain, digest, parse_digest, verify_chain
from ledger.audit.export import export_events, parse_since
from ledger.audit.rederive import reconcile as reconcile_views
from ledger.audit.rederive import rederive
from ledger.audit.replay import as_of_views
from ledger.calendars import default_calendar, load_calendar_file
from ledger.domain.contract import local_midnight
from ledger.domain.errors import (
    InvalidDurationError,
    InvalidInputError,
    LedgerError,
    StoreUnavailableError,
)
from ledger.domain.sla import compute_deadline
from ledger.domain.terms import Tier, parse_severity
from ledger.history import contract_history, ticket_history
from ledger.logs import configure_logging
from ledger.parsing import (
    format_instant,
    parse_date,
    parse_decimal,
    parse_hours,
    parse_instant,
    parse_int,
)
from ledger.presenters import (
    account_view,
    catalog_view,
    contract_view,
    current_contract_view,
    duration_text,
    event_view,
    opening_view,
    ticket_view,
    tier_change_view,
)
from ledger.projections import PROJECTIONS, projections_named
from ledger.projections.credit_usage import CreditUsageProjection, CreditUsageView, reconcile
from ledger.projections.db import ViewDatabase
from ledger.projections.runner import (
    ProjectionFailedError,
    rebuild,
    run_projections,
    status,
    verify,
)
from ledger.projections.sla_breaches import (
    ALL,
    GROUPINGS,
    STATES,
    SlaBreachProjection,
    SlaBreachView,
)
from ledger.render import (
    console,
    deadline_data,
    err_console,
    fmt,
    kv,
    local,
    percent,
    render_deadline,
    render_terms,
)
from ledger.reports import STATEMENT_FIGURES, caught_up, csv_value, statement_row
from ledger.scheduler.clock import FakeClock
from ledger.scheduler.service import Scheduler, run_scheduler
from ledger.serialize import dumps
from ledger.settings import Settings
from ledger.terms import DEFAULT_VERSION, available_versions, load_terms, terms_as_dict
from ledger.web.commands import serve, tokens
from ledger.wiring import open_ledger

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ledger.application import SupportLedger


F = TypeVar("F", bound="Callable[..., Any]")

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_DECLINED = 3
EXIT_UNAVAILABLE = 4


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON (a stable contract for scripts)."
)


def emit(data: Any, as_json: bool, render: Callable[[], None]) -> None:
    """Print `data` as JSON, or call `render` to print it for people."""
    if as_json:
        click.echo(dumps(data))
    else:
        render()


csv_option = click.option(
    "--csv", "as_csv", is_flag=True, help="Print CSV (a header row, then one row each)."
)


def emit_rows(
    rows: list[dict[str, Any]],
    columns: Sequence[tuple[str, str]],
    *,
    as_json: bool,
    as_csv: bool,
    title: str,
) -> None:
    """Rows as JSON, CSV (the given columns) or a table for people."""
    if as_json and as_csv:
        raise InvalidInputError("give --json or --csv, not both")
    if as_json:
        click.echo(dumps(rows))
        return
    if as_csv:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([key for key, _ in columns])
        for row in rows:
            writer.writerow([csv_value(row.get(key)) for key, _ in columns])
        click.echo(out.getvalue(), nl=False)
        return
    table = Table(*[label for _, label in columns], title=title, title_justify="left")
    for row in rows:
        table.add_row(*[escape(fmt(row.get(key))) for key, _ in columns])
    console.print(table)
    if not rows:
        console.print("(none)")


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
def terms_show(*, version: str, as_json: bool) -> None:
    """Print the matrix of the terms, tiers as columns."""
    loaded = load_terms(version)
    emit(terms_as_dict(loaded), as_json, lambda: render_terms(loaded))


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
        timedelta(seconds=parse_int(seconds, "--seconds"))
        if seconds is not None
        else parse_hours(hours or "", "--hours")
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
    cal = load_calendar_file(calendar_path)
    covered = cal.elapsed(parse_instant(start, "--from"), parse_instant(end, "--to"))
    seconds = covered.total_seconds()
    data = {
        "seconds": int(seconds) if seconds == int(seconds) else seconds,
        "duration": str(covered),
    }
    emit(data, as_json, lambda: console.print(f"{data['seconds']} seconds ({covered})"))


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


# -- the ledger and shared options ---------------------------------------------------------

_ledger: list[SupportLedger] = []


def ledger_app() -> SupportLedger:
    """The application on the configured store (built once per process)."""
    if not _ledger:
        settings = Settings.from_env()
        _ledger.append(open_ledger(settings.database))
    return _ledger[0]


def close_ledger() -> None:
    """Close the application's connections, if it was built."""
    while _ledger:
        _ledger.pop().close()


def at_option(help_text: str = "ISO 8601 instant of the fact (default: now).") -> Callable[[F], F]:
    """`--at`: back-office entry of a fact at an earlier (or given) instant."""
    return click.option("--at", "at_text", metavar="ISO8601", help=help_text)


def resolve_at(text: str | None, name: str = "--at") -> datetime:
    """The instant given, or now (the clock is read once per command)."""
    return parse_instant(text, name) if text else datetime.now(UTC)


def details(data: dict[str, Any]) -> str:
    """An event's plain fields (not its instants or nested data) as `name=value`."""
    return ", ".join(
        f"{name}={fmt(value)}"
        for name, value in data.items()
        if not isinstance(value, datetime | list | dict | UUID) and value not in (None, "")
    )


def wall(value: datetime, zone: ZoneInfo, pattern: str = "%a %Y-%m-%d %H:%M %Z") -> str:
    """An instant as wall time in a zone."""
    return value.astimezone(zone).strftime(pattern)


def parse_id(text: str, name: str) -> UUID:
    """A UUID argument."""
    try:
        return UUID(str(text).strip())
    except ValueError:
        raise InvalidInputError(f"{name}: {text!r} is not an id (a UUID)") from None


def parse_expiry(text: str, timezone: str) -> datetime:
    """`--expires`: a date (valid through that day, local time) or an instant."""
    value = text.strip()
    if "T" in value or " " in value:
        return parse_instant(value, "--expires")
    day = parse_date(value, "--expires")
    return local_midnight(day + timedelta(days=1), timezone)


def done(data: dict[str, Any], as_json: bool, message: str) -> None:
    """Print a command's result: its data as JSON, or one line for people."""
    emit(data, as_json, lambda: console.print(escape(message)))


# -- releases ------------------------------------------------------------------------------


@cli.group()
def releases() -> None:
    """The release catalog: which versions exist and which lines are supported."""


@releases.command("publish")
@click.argument("version")
@click.option("--beta", is_flag=True, help="A beta / pre-GA release (a -TAG implies it).")
@at_option("When the release was published (default: now).")
@json_option
def releases_publish(*, version: str, beta: bool, at_text: str | None, as_json: bool) -> None:
    """Publish VERSION (MAJOR.MINOR.PATCH, optional -TAG)."""
    release = ledger_app().publish_release(version, prerelease=beta, at=resolve_at(at_text))
    kind = "pre-release" if release["prerelease"] else "GA"
    done(release, as_json, f"published {release['version']} ({kind})")


@releases.command("withdraw")
@click.argument("version")
@click.option("--reason", required=True, help="Why the release is withdrawn.")
@at_option()
@json_option
def releases_withdraw(*, version: str, reason: str, at_text: str | None, as_json: bool) -> None:
    """Withdraw VERSION: it no longer counts from --at on."""
    release = ledger_app().withdraw_release(version, reason=reason, at=resolve_at(at_text))
    done(release, as_json, f"withdrew {release['version']}")


@releases.command("list")
@at_option("The instant to list the supported lines for (default: now).")
@json_option
def releases_list(*, at_text: str | None, as_json: bool) -> None:
    """Every release and the lines supported at --at."""
    at = resolve_at(at_text)
    data = catalog_view(
        ledger_app().get_catalog(), at, load_terms().eligibility.supported_release_lines
    )

    def render() -> None:
        lines = ", ".join(f"{x}.x" for x in data["supported_lines"]) or "none"
        console.print(f"supported lines at {format_instant(at)}: {lines}")
        table = Table("version", "line", "kind", "published", "withdrawn")
        for r in data["releases"]:
            table.add_row(
                r["version"],
                r["line"],
                "pre-release" if r["prerelease"] else "GA",
                fmt(r["published_at"]),
                fmt(r["withdrawn_at"]),
            )
        console.print(table)

    emit(data, as_json, render)


# -- contracts -----------------------------------------------------------------------------


@cli.group()
def contract() -> None:
    """Maintenance agreements: sign, renew, contacts, appointments, tier."""


@contract.command("sign")
@click.option("--customer", required=True, help="The customer's name.")
@click.option("--tier", required=True, help="premium, advanced or basic.")
@click.option("--licenses", required=True, help="Developer licenses (at least 1).")
@click.option("--list-price", required=True, help="List price in EUR (decimal).")
@click.option("--start", required=True, help="First day of the first term (YYYY-MM-DD).")
@click.option(
    "--license-kind", default="commercial", show_default=True, help="commercial or educational."
)
@click.option("--timezone", help="IANA timezone of the contract (default from the terms).")
@click.option("--holiday-region", help="Holiday region, e.g. DE, DE-BW, US-CA, or none.")
@click.option("--terms-version", help="Terms version (default: the current one).")
@click.option("--key", help="External key: signing again with it returns the same contract.")
@at_option("When the agreement was signed (default: now).")
@json_option
def contract_sign(
    *,
    customer: str,
    tier: str,
    licenses: str,
    list_price: str,
    start: str,
    license_kind: str,
    timezone: str | None,
    holiday_region: str | None,
    terms_version: str | None,
    key: str | None,
    at_text: str | None,
    as_json: bool,
) -> None:
    """Sign an agreement: the fee is assessed and the first term's credits granted."""
    contract_id = ledger_app().sign_contract(
        customer=customer,
        tier=tier,
        licenses=parse_int(licenses, "--licenses", minimum=1),
        license_kind=license_kind,
        list_price=parse_decimal(list_price, "--list-price", positive=True),
        start=parse_date(start, "--start"),
        timezone=timezone,
        holiday_region=holiday_region,
        terms_version=terms_version,
        key=key,
        at=resolve_at(at_text),
    )
    done({"contract_id": contract_id}, as_json, str(contract_id))


def _contract_result(contract_id: UUID, at: datetime, as_json: bool, message: str) -> None:
    app = ledger_app()
    done(current_contract_view(app, contract_id, at), as_json, message)


@contract.command("show")
@click.argument("contract_ref", metavar="CONTRACT")
@click.option("--version", "version", type=int, help="The contract as of this event version.")
@click.option(
    "--as-of", "as_of", metavar="ISO8601", help="The contract as recorded at this instant."
)
@at_option("Validity, tier and contacts in force at this instant (default: now, or --as-of).")
@json_option
def contract_show(
    *, contract_ref: str, version: int | None, as_of: str | None, at_text: str | None, as_json: bool
) -> None:
    """A contract now, at an earlier version, or as of an instant."""
    contract_id = parse_id(contract_ref, "CONTRACT")
    when = resolve_at(at_text) if at_text else resolve_at(as_of, "--as-of")
    app = ledger_app()
    if version is None and as_of is None:
        data = current_contract_view(app, contract_id, when)
    else:
        found = app.get_contract(
            contract_id, version=version, as_of=parse_instant(as_of, "--as-of") if as_of else None
        )
        data = contract_view(found, when)

    def render() -> None:
        console.print(
            kv(
                f"contract {contract_id} (version {data['version']})",
                [
                    ("customer", data["customer"]),
                    ("status", data["status"]),
                    ("valid", data["valid"] or data["validity"]),
                    (
                        "tier",
                        data["tier"]
                        + (
                            f" (downgrade to {data['pending_tier']} at renewal)"
                            if data["pending_tier"]
                            else ""
                        ),
                    ),
                    ("licenses", f"{data['licenses']} {data['license_kind']}"),
                    ("list price", f"{fmt(data['list_price'])} {data['currency']}"),
                    (
                        "calendar",
                        f"{data['timezone']}, holidays {data['holiday_region'] or 'none'}",
                    ),
                    ("named contacts", data["named_contacts"]),
                    ("technical account rep.", data["representative"]),
                    (
                        "open clocks",
                        "-" if data["open_clocks"] is None else data["open_clocks"],
                    ),
                ],
            )
        )
        table = Table(
            "term", "kind", "from", "to", "tier", "licenses", "fee share", "fee", title="terms"
        )
        for t in data["terms"]:
            table.add_row(
                str(t["number"]),
                t["kind"],
                fmt(t["starts_at"]),
                fmt(t["ends_at"]),
                t["tier"],
                str(t["licenses"]),
                percent(t["fee_share"]),
                f"{fmt(t['fee'])} {data['currency']}",
            )
        console.print(table)
        if data["appointments"]:
            booked = Table("from", "to", "booked", title="appointments")
            for a in data["appointments"]:
                booked.add_row(fmt(a["starts_at"]), fmt(a["ends_at"]), fmt(a["booked_at"]))
            console.print(booked)

    emit(data, as_json, render)


@contract.command("history")
@click.argument("contract_ref", metavar="CONTRACT")
@json_option
def contract_history_command(*, contract_ref: str, as_json: bool) -> None:
    """Every event of a contract with the contract as it stood after it."""
    contract_id = parse_id(contract_ref, "CONTRACT")
    steps = contract_history(ledger_app(), contract_id)

    def render() -> None:
        zone = ZoneInfo(steps[-1]["contract"]["timezone"])
        table = Table(
            "v", "event", "happened", "recorded", "status", "tier", "term", "contacts",
            "details", title=f"contract {contract_id}",
        )  # fmt: skip
        for step in steps:
            event, c = step["event"], step["contract"]
            table.add_row(
                str(event["version"]), event["type"].split(".")[-1], wall(step["at"], zone),
                fmt(event["recorded_at"]), c["status"], c["tier"], fmt(c["current_term"]),
                str(len(c["named_contacts"])),
                escape(details(event["data"])),
            )  # fmt: skip
        console.print(table)

    emit(steps, as_json, render)


@contract.command("renew")
@click.argument("contract_ref", metavar="CONTRACT")
@click.option("--licenses", help="Developer licenses for the new term (default: unchanged).")
@click.option("--list-price", help="List price for the new term (default: unchanged).")
@at_option()
@json_option
def contract_renew(
    *,
    contract_ref: str,
    licenses: str | None,
    list_price: str | None,
    at_text: str | None,
    as_json: bool,
) -> None:
    """Order the next term (a lapsed agreement is reinstated at 80 % instead)."""
    contract_id = parse_id(contract_ref, "CONTRACT")
    term = ledger_app().renew_contract(
        contract_id,
        at=resolve_at(at_text),
        licenses=parse_int(licenses, "--licenses", minimum=1) if licenses else None,
        list_price=parse_decimal(list_price, "--list-price", positive=True) if list_price else None,
    )
    done(
        {"contract_id": contract_id, "term": term},
        as_json,
        f"term {term['number']} ({term['kind']}) "
        f"from {fmt(term['starts_at'])} to {fmt(term['ends_at'])}, "
        f"fee {fmt(term['fee'])} ({percent(term['fee_share'])})",
    )


@contract.command("reinstate")
@click.argument("contract_ref", metavar="CONTRACT")
@click.option("--licenses", help="Developer licenses for the new term (default: unchanged).")
@click.option("--list-price", help="List price for the new term (default: unchanged).")
@at_option()
@json_option
def contract_reinstate(
    *,
    contract_ref: str,
    licenses: str | None,
    list_price: str | None,
    at_text: str | None,
    as_json: bool,
) -> None:
    """Take up a lapsed agreement again: a new term from today at 80 % of list price."""
    contract_id = parse_id(contract_ref, "CONTRACT")
    term = ledger_app().reinstate_contract(
        contract_id,
        at=resolve_at(at_text),
        licenses=parse_int(licenses, "--licenses", minimum=1) if licenses else None,
        list_price=parse_decimal(list_price, "--list-price", positive=True) if list_price else None,
    )
    done(
        {"contract_id": contract_id, "term": term},
        as_json,
        f"term {term['number']} (reinstatement) "
        f"fee {fmt(term['fee'])} ({percent(term['fee_share'])})",
    )


@contract.command("lapse")
@click.argument("contract_ref", metavar="CONTRACT")
@at_option()
@json_option
def contract_lapse(*, contract_ref: str, at_text: str | None, as_json: bool) -> None:
    """Record that the latest term ended without renewal (the scheduler does this too)."""
    contract_id = parse_id(contract_ref, "CONTRACT")
    lapse = ledger_app().lapse_contract(contract_id, at=resolve_at(at_text))
    done({"contract_id": contract_id, **lapse}, as_json, f"term {lapse['term_number']} lapsed")


@contract.command("terminate")
@click.argument("contract_ref", metavar="CONTRACT")
@click.option("--reason", default="terminated", show_default=True, help="Why the agreement ends.")
@at_option()
@json_option
def contract_terminate(
    *, contract_ref: str, reason: str, at_text: str | None, as_json: bool
) -> None:
    """End the agreement: no support from --at on."""
    contract_id = parse_id(contract_ref, "CONTRACT")
    at = resolve_at(at_text)
    ledger_app().terminate_contract(contract_id, reason=reason, at=at)
    _contract_result(contract_id, at, as_json, "terminated")


@contract.command("upgrade")
@click.argument("contract_ref", metavar="CONTRACT")
@click.option("--tier", required=True, help="The new tier: higher applies now, lower at renewal.")
@at_option()
@json_option
def contract_upgrade(*, contract_ref: str, tier: str, at_text: str | None, as_json: bool) -> None:
    """Change the tier: an upgrade applies at once (pro rata), a downgrade at renewal."""
    contract_id = parse_id(contract_ref, "CONTRACT")
    at = resolve_at(at_text)
    app = ledger_app()
    outcome = app.change_tier(contract_id, tier=tier, at=at)
    found = app.get_contract(contract_id)
    data = tier_change_view(found, outcome, at)
    message = {
        "upgraded": f"upgraded to {found.tier_at(at)}",
        "downgrade_scheduled": f"downgrade to {found.pending_tier} scheduled for the next renewal",
        "downgrade_cancelled": "scheduled downgrade cancelled",
    }[outcome]
    done(data, as_json, message)


@contract.group("contacts")
def contract_contacts() -> None:
    """Named contacts (Premium 5, Advanced 2, Basic 1)."""


@contract_contacts.command("add")
@click.argument("contract_ref", metavar="CONTRACT")
@click.argument("email")
@at_option()
@json_option
def contacts_add(*, contract_ref: str, email: str, at_text: str | None, as_json: bool) -> None:
    """Name EMAIL as a contact."""
    contract_id = parse_id(contract_ref, "CONTRACT")
    contacts = ledger_app().add_contact(contract_id, email=email, at=resolve_at(at_text))
    done({"contract_id": contract_id, "named_contacts": contacts}, as_json, ", ".join(contacts))


@contract_contacts.command("remove")
@click.argument("contract_ref", metavar="CONTRACT")
@click.argument("email")
@at_option()
@json_option
def contacts_remove(*, contract_ref: str, email: str, at_text: str | None, as_json: bool) -> None:
    """Remove the named contact EMAIL."""
    contract_id = parse_id(contract_ref, "CONTRACT")
    contacts = ledger_app().remove_contact(contract_id, email=email, at=resolve_at(at_text))
    done(
        {"contract_id": contract_id, "named_contacts": contacts},
        as_json,
        ", ".join(contacts) or "(none)",
    )


@contract.group("representative")
def contract_representative() -> None:
    """The technical account representative (Premium only)."""


@contract_representative.command("assign")
@click.argument("contract_ref", metavar="CONTRACT")
@click.argument("name")
@at_option()
@json_option
def representative_assign(
    *, contract_ref: str, name: str, at_text: str | None, as_json: bool
) -> None:
    """Assign NAME as technical account representative."""
    contract_id = parse_id(contract_ref, "CONTRACT")
    at = resolve_at(at_text)
    ledger_app().assign_representative(contract_id, name=name, at=at)
    _contract_result(contract_id, at, as_json, f"{name} assigned")


@contract_representative.command("unassign")
@click.argument("contract_ref", metavar="CONTRACT")
@at_option()
@json_option
def representative_unassign(*, contract_ref: str, at_text: str | None, as_json: bool) -> None:
    """Unassign the technical account representative."""
    contract_id = parse_id(contract_ref, "CONTRACT")
    at = resolve_at(at_text)
    ledger_app().unassign_representative(contract_id, at=at)
    _contract_result(contract_id, at, as_json, "representative unassigned")


@contract.group("appointment")
def contract_appointment() -> None:
    """Covered time outside regular hours, booked in advance (as the tier allows)."""


def _appointment(
    action: str, *, contract_ref: str, start: str, end: str, at_text: str | None, as_json: bool
) -> None:
    contract_id = parse_id(contract_ref, "CONTRACT")
    app = ledger_app()
    use_case = app.book_appointment if action == "book" else app.cancel_appointment
    moved = use_case(
        contract_id,
        starts_at=parse_instant(start, "--from"),
        ends_at=parse_instant(end, "--to"),
        at=resolve_at(at_text),
    )
    verb = "booked" if action == "book" else "cancelled"
    done(
        {"contract_id": contract_id, "action": verb, "recalculated_tickets": moved},
        as_json,
        f"appointment {verb}; {len(moved)} open ticket deadline(s) recalculated",
    )


@contract_appointment.command("book")
@click.argument("contract_ref", metavar="CONTRACT")
@click.option("--from", "start", required=True, metavar="ISO8601")
@click.option("--to", "end", required=True, metavar="ISO8601")
@at_option()
@json_option
def appointment_book(
    *, contract_ref: str, start: str, end: str, at_text: str | None, as_json: bool
) -> None:
    """Book an appointment window (weekday nights: Premium, Advanced; weekends: Premium)."""
    _appointment(
        "book", contract_ref=contract_ref, start=start, end=end, at_text=at_text, as_json=as_json
    )


@contract_appointment.command("cancel")
@click.argument("contract_ref", metavar="CONTRACT")
@click.option("--from", "start", required=True, metavar="ISO8601")
@click.option("--to", "end", required=True, metavar="ISO8601")
@at_option()
@json_option
def appointment_cancel(
    *, contract_ref: str, start: str, end: str, at_text: str | None, as_json: bool
) -> None:
    """Cancel a booked appointment window before it begins."""
    _appointment(
        "cancel", contract_ref=contract_ref, start=start, end=end, at_text=at_text, as_json=as_json
    )


# -- tickets -------------------------------------------------------------------------------


@cli.group()
def ticket() -> None:
    """Support requests and their response clocks."""


@ticket.command("open")
@click.option("--contract", "contract_ref", required=True, help="The contract id.")
@click.option("--reporter", required=True, help="Email of the person asking.")
@click.option("--severity", help="1, 2 or 3 (default 3).")
@click.option("--version", "product_version", required=True, help="Product version, e.g. 24.2.1.")
@click.option("--platform", required=True, help="windows, linux, ...")
@click.option(
    "--license-kind", help="License the installation runs under (default: the contract's)."
)
@click.option("--key", help="External key; the same key again returns the first answer.")
@at_option("When the request was received (default: now).")
@json_option
def ticket_open(
    *,
    contract_ref: str,
    reporter: str,
    severity: str | None,
    product_version: str,
    platform: str,
    license_kind: str | None,
    key: str | None,
    at_text: str | None,
    as_json: bool,
) -> int:
    """Receive a request: open it with its deadline, or decline it (exit 3) and record why."""
    opening = ledger_app().open_ticket(
        contract_id=parse_id(contract_ref, "--contract"),
        reporter=reporter,
        severity=severity,
        version=product_version,
        platform=platform,
        license_kind=license_kind,
        key=key,
        at=resolve_at(at_text),
    )
    data = opening_view(opening)
    if opening.declined:
        done(
            data,
            as_json,
            f"declined [{opening.reason}] {opening.message} (ticket {opening.ticket_id})",
        )
        return EXIT_DECLINED
    done(data, as_json, f"{opening.ticket_id} open, response due {fmt(opening.due_at)}")
    return 0


def _ticket_data(reference: str, at: datetime) -> dict[str, Any]:
    app = ledger_app()
    found = app.get_ticket(reference)
    calendar = (
        app.calendar_of(app.get_contract(found.contract_id)) if found.status != "declined" else None
    )
    return ticket_view(found, at, calendar)


def _ticket_step(
    name: str, help_text: str, run: Callable[[SupportLedger, str, datetime], Any]
) -> None:
    @ticket.command(name, help=help_text)
    @click.argument("reference", metavar="TICKET")
    @at_option()
    @json_option
    def command(*, reference: str, at_text: str | None, as_json: bool) -> None:
        at = resolve_at(at_text)
        outcome = run(ledger_app(), reference, at)
        data = _ticket_data(reference, at)
        if outcome is not None:
            data["result"] = outcome
        suffix = f" ({outcome})" if isinstance(outcome, str) else ""
        done(data, as_json, f"{data['ticket_id']} {data['status']}{suffix}")


_ticket_step(
    "respond",
    "Record the first response: the clock stops; met or breached by the times.",
    lambda app, ref, at: app.record_first_response(ref, at=at),
)
_ticket_step(
    "hold",
    "Put on hold at the customer's request (the clock pauses).",
    lambda app, ref, at: app.hold_ticket(ref, at=at),
)
_ticket_step(
    "resume",
    "End the hold (the clock runs again).",
    lambda app, ref, at: app.resume_ticket(ref, at=at),
)
_ticket_step(
    "resolve",
    "Resolve (without a response recorded, this is the first response).",
    lambda app, ref, at: app.resolve_ticket(ref, at=at),
)
_ticket_step(
    "reopen", "Reopen a resolved ticket.", lambda app, ref, at: app.reopen_ticket(ref, at=at)
)
_ticket_step("close", "Close a resolved ticket.", lambda app, ref, at: app.close_ticket(ref, at=at))
_ticket_step(
    "remote-assistance",
    "Request remote assistance (Premium and Advanced).",
    lambda app, ref, at: app.request_remote_assistance(ref, at=at),
)
_ticket_step(
    "patch",
    "Request a patch (severity 1 or 2 on a supported release line).",
    lambda app, ref, at: app.request_patch(ref, at=at),
)


@ticket.command("severity")
@click.argument("reference", metavar="TICKET")
@click.argument("severity")
@at_option()
@json_option
def ticket_severity(*, reference: str, severity: str, at_text: str | None, as_json: bool) -> None:
    """Change the severity: same start, new target, new deadline (the original stays on record)."""
    at = resolve_at(at_text)
    ledger_app().change_severity(reference, severity=severity, at=at)
    data = _ticket_data(reference, at)
    done(
        data, as_json, f"{data['ticket_id']} severity {data['severity']}, due {fmt(data['due_at'])}"
    )


@ticket.command("waive")
@click.argument("reference", metavar="TICKET")
@click.option("--reason", required=True, help="Why the breach is waived.")
@click.option("--actor", required=True, help="Who decided.")
@at_option()
@json_option
def ticket_waive(
    *, reference: str, reason: str, actor: str, at_text: str | None, as_json: bool
) -> None:
    """Waive a breach (a correction: the breach stays on record)."""
    at = resolve_at(at_text)
    ledger_app().waive_breach(reference, reason=reason, actor=actor, at=at)
    data = _ticket_data(reference, at)
    done(data, as_json, f"{data['ticket_id']} breach waived")


@ticket.command("history")
@click.argument("reference", metavar="TICKET")
@json_option
def ticket_history_command(*, reference: str, as_json: bool) -> None:
    """Every event of a ticket with the ticket after it and how its deadline was counted."""
    app = ledger_app()
    steps = ticket_history(app, reference)

    def render() -> None:
        first = steps[0]["ticket"]
        zone = ZoneInfo(app.get_contract(first["contract_id"]).timezone)
        console.print(f"[bold]ticket {first['key']}[/bold] ({first['ticket_id']}), {zone}")
        for step in steps:
            event, t, clock = step["event"], step["ticket"], step["clock"]
            console.print(
                f"[bold]v{event['version']} {event['type'].split('.')[-1]}[/bold]  "
                f"{wall(step['at'], zone)}  [dim](recorded {fmt(event['recorded_at'])})[/dim]"
            )
            if clock is None:
                console.print(f"    declined: {t['reason']}: {escape(t['message'] or '')}")
                continue
            due = wall(clock["due_at"], zone) if clock["due_at"] else "-"
            left = (
                f", {duration_text(clock['left_seconds'])} left"
                if clock["left_seconds"] is not None
                else ""
            )
            console.print(
                f"    {t['status']}, severity {t['severity']}, clock {clock['state']}, due {due}; "
                f"used {duration_text(clock['used_seconds'])} of "
                f"{duration_text(clock['target_seconds'])}{left}"
                + (f", outcome {t['outcome']}" if t["outcome"] else "")
                + (" (breach waived)" if t["breach_waived"] else "")
            )
            stretches = [
                f"{wall(c['from'], zone, '%a %d %b %H:%M')}-{wall(c['to'], zone, '%H:%M')}"
                + (" appointment" if c["appointment"] else "")
                + (" (to come)" if c["to_come"] else "")
                for c in clock["counted"]
            ]
            if stretches:
                console.print(f"    counted: {', '.join(stretches)}")
            if clock["skipped"]:
                holidays = ", ".join(f"{h['date']} {h['holiday']}" for h in clock["skipped"])
                console.print(f"    skipped: {escape(holidays)}")

    emit(steps, as_json, render)


@ticket.command("show")
@click.argument("reference", metavar="TICKET")
@click.option("--version", "version", type=int, help="The ticket as of this event version.")
@click.option("--as-of", "as_of", metavar="ISO8601", help="The ticket as recorded at this instant.")
@at_option("Business time left (or overdue) at this instant (default: now, or --as-of).")
@json_option
def ticket_show(
    *, reference: str, version: int | None, as_of: str | None, at_text: str | None, as_json: bool
) -> None:
    """A ticket (by id or external key) and its clock."""
    app = ledger_app()
    when = resolve_at(at_text) if at_text else resolve_at(as_of, "--as-of")
    found = app.get_ticket(
        reference, version=version, as_of=parse_instant(as_of, "--as-of") if as_of else None
    )
    calendar = (
        app.calendar_of(app.get_contract(found.contract_id)) if found.status != "declined" else None
    )
    data = ticket_view(found, when, calendar)

    def render() -> None:
        rows: list[tuple[str, Any]] = [
            ("key", data["key"]),
            ("status", data["status"]),
            ("customer", data["customer"]),
            ("reporter", data["reporter"]),
            ("severity", data["severity"]),
            ("version / platform", f"{data['product_version']} / {data['platform']}"),
            ("received", data["received_at"]),
        ]
        if data["status"] == "declined":
            rows += [("declined", data["reason"]), ("why", data["message"])]
        else:
            rows += [
                ("tier / target", f"{data['tier']} / {data['target_hours']:g} business hours"),
                ("clock", data["clock"]),
                ("due", data["due_at"]),
                ("original due", data["original_due_at"]),
                ("business time left", duration_text(data["business_seconds_left"])),
                (
                    "warnings",
                    ", ".join(
                        f"{percent(w['share'])} {fmt(w['at'])}"
                        + (" (reached)" if w["reached"] else "")
                        for w in data["warnings"]
                    ),
                ),
                ("first response", data["responded_at"]),
                ("outcome", data["outcome"] or ("breached" if data["breached"] else "-")),
                (
                    "breach recorded / waived",
                    f"{fmt(data['breach_recorded'])} / {fmt(data['breach_waived'])}",
                ),
            ]
        console.print(kv(f"ticket {data['ticket_id']} (version {data['version']})", rows))

    emit(data, as_json, render)


# -- credits -------------------------------------------------------------------------------


@cli.group("credits")
def credits_group() -> None:
    """Support points and training sessions."""


@credits_group.command("purchase")
@click.argument("contract_ref", metavar="CONTRACT")
@click.option("--points", required=True, help="Points in the package.")
@click.option("--price", required=True, help="Price paid, in the contract's currency.")
@click.option("--key", required=True, help="Idempotency key of the purchase.")
@click.option("--expires", help="Last day the points can be used (YYYY-MM-DD) or an instant.")
@at_option()
@json_option
def credits_purchase(
    *,
    contract_ref: str,
    points: str,
    price: str,
    key: str,
    expires: str | None,
    at_text: str | None,
    as_json: bool,
) -> None:
    """Buy a package of points."""
    contract_id = parse_id(contract_ref, "CONTRACT")
    app = ledger_app()
    expires_at = parse_expiry(expires, app.get_contract(contract_id).timezone) if expires else None
    result = app.purchase_credits(
        contract_id,
        points=parse_decimal(points, "--points", positive=True),
        price=parse_decimal(price, "--price"),
        key=key,
        expires_at=expires_at,
        at=resolve_at(at_text),
    )
    note = "" if result["recorded"] else " (already recorded under this key)"
    done(result, as_json, f"{result['lot_id']}: {fmt(result['amount'])} points{note}")


@credits_group.command("consume")
@click.argument("contract_ref", metavar="CONTRACT")
@click.option("--points", required=True, help="Points used.")
@click.option("--activity", required=True, help="What they were used for.")
@click.option("--key", required=True, help="Idempotency key of the consumption.")
@click.option("--ticket", "ticket_ref", help="The ticket (id or key) the work was for.")
@at_option()
@json_option
def credits_consume(
    *,
    contract_ref: str,
    points: str,
    activity: str,
    key: str,
    ticket_ref: str | None,
    at_text: str | None,
    as_json: bool,
) -> None:
    """Use points, drawn from the lot that expires first; never below zero."""
    result = ledger_app().consume_credits(
        parse_id(contract_ref, "CONTRACT"),
        points=parse_decimal(points, "--points", positive=True),
        activity=activity,
        key=key,
        ticket=ticket_ref,
        at=resolve_at(at_text),
    )
    note = "" if result["recorded"] else " (already recorded under this key)"
    done(
        result,
        as_json,
        f"consumed {fmt(result['points'])} points{note}; {fmt(result['balance'])} left",
    )


@credits_group.command("reverse")
@click.argument("contract_ref", metavar="CONTRACT")
@click.option("--key", required=True, help="Idempotency key of the consumption to reverse.")
@click.option("--points", help="Points to return (default: all that is left of it).")
@click.option("--reason", required=True, help="Why.")
@at_option()
@json_option
def credits_reverse(
    *,
    contract_ref: str,
    key: str,
    points: str | None,
    reason: str,
    at_text: str | None,
    as_json: bool,
) -> None:
    """Return points of a consumption to the lots they came from."""
    result = ledger_app().reverse_consumption(
        parse_id(contract_ref, "CONTRACT"),
        key=key,
        points=parse_decimal(points, "--points", positive=True) if points else None,
        reason=reason,
        at=resolve_at(at_text),
    )
    note = "" if result["recorded"] else " (already recorded)"
    done(
        result,
        as_json,
        f"reversed {fmt(result['points'])} points{note}; {fmt(result['balance'])} available",
    )


@credits_group.command("training")
@click.argument("contract_ref", metavar="CONTRACT")
@click.option("--key", help="Idempotency key of the session (default: a new one).")
@click.option("--topic", default="", help="What the session covered.")
@at_option()
@json_option
def credits_training(
    *, contract_ref: str, key: str | None, topic: str, at_text: str | None, as_json: bool
) -> None:
    """Hold one 30-minute online training session."""
    result = ledger_app().hold_training(
        parse_id(contract_ref, "CONTRACT"), key=key, topic=topic, at=resolve_at(at_text)
    )
    done(result, as_json, f"training session held; {fmt(result['sessions_left'])} left")


@credits_group.command("balance")
@click.argument("contract_ref", metavar="CONTRACT")
@click.option(
    "--as-of", "as_of", metavar="ISO8601", help="The account as recorded at this instant."
)
@at_option("Balances usable at this instant (default: now, or --as-of).")
@json_option
def credits_balance(
    *, contract_ref: str, as_of: str | None, at_text: str | None, as_json: bool
) -> None:
    """Points and training sessions available, lot by lot."""
    contract_id = parse_id(contract_ref, "CONTRACT")
    recorded_by = parse_instant(as_of, "--as-of") if as_of else None
    at = resolve_at(at_text) if at_text or recorded_by is None else recorded_by
    data = account_view(ledger_app().get_account(contract_id, as_of=recorded_by), at)

    def render() -> None:
        console.print(
            f"points available {fmt(data['points_available'])}, "
            f"training sessions available {fmt(data['sessions_available'])} "
            f"(at {format_instant(at)})"
        )
        table = Table(
            "lot", "unit", "kind", "granted", "left", "expired", "usable from", "expires", "state"
        )
        for lot in data["lots"]:
            table.add_row(
                lot["lot_id"],
                lot["unit"],
                lot["kind"],
                fmt(lot["amount"]),
                fmt(lot["remaining"]),
                fmt(lot["expired_amount"]),
                fmt(lot["available_from"]),
                fmt(lot["expires_at"]),
                lot["state"],
            )
        console.print(table)

    emit(data, as_json, render)


# -- events --------------------------------------------------------------------------------


@cli.command("events")
@click.argument("aggregate_ref", metavar="AGGREGATE_ID")
@json_option
def events(*, aggregate_ref: str, as_json: bool) -> None:
    """Every event recorded for one contract, ticket, credit account or the release catalog."""
    items = [
        event_view(e) for e in ledger_app().list_events(parse_id(aggregate_ref, "AGGREGATE_ID"))
    ]

    def render() -> None:
        table = Table("version", "recorded", "event", "data")
        for item in items:
            table.add_row(
                str(item["version"]),
                fmt(item["recorded_at"]),
                item["type"],
                escape(dumps(item["data"], indent=None)),
            )
        console.print(table)

    emit(items, as_json, render)


# -- projections ---------------------------------------------------------------------------


@cli.group()
def projections() -> None:
    """Read models built from the event log: run, status, rebuild, verify."""


@projections.command("run")
@click.argument("names", nargs=-1)
@click.option("--once", is_flag=True, help="Catch up to the head of the log, then exit.")
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(1, 100_000))
@click.option(
    "--poll", "poll_interval", default=1.0, show_default=True, type=click.FloatRange(0.05, 60)
)
@json_option
def projections_run(
    *, names: tuple[str, ...], once: bool, batch_size: int, poll_interval: float, as_json: bool
) -> int:
    """Keep the read models current (all of them, or NAMES). SIGTERM stops after the batch."""
    chosen = projections_named(names)
    settings = Settings.from_env().database
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    outcomes = run_projections(
        settings, ledger_app(), chosen, once=once, stop=stop, batch_size=batch_size,
        poll_interval=poll_interval,
    )  # fmt: skip
    data = [vars(o) for o in outcomes]

    def render() -> None:
        for o in outcomes:
            note = f": {o.error}" if o.error else ""
            console.print(f"{o.name}: {o.status} at position {o.position}{escape(note)}")

    emit(data, as_json, render)
    return EXIT_REFUSED if any(o.status == "failed" for o in outcomes) else 0


@projections.command("status")
@json_option
def projections_status(*, as_json: bool) -> None:
    """Position, head of the log, lag, owner and last error of every projection."""
    rows = status(Settings.from_env().database, ledger_app(), list(PROJECTIONS.values()))

    def render() -> None:
        table = Table("projection", "position", "head", "lag", "updated", "owner", "last error")
        for r in rows:
            error = f"at {r.error_position}: {r.error}" if r.error else "-"
            table.add_row(
                r.name,
                str(r.position),
                str(r.head),
                str(r.lag),
                fmt(r.updated_at),
                r.owner or "-",
                escape(error),
            )
        console.print(table)

    emit([vars(r) for r in rows], as_json, render)


@projections.command("rebuild")
@click.argument("name")
@click.option(
    "--wait", default=0.0, type=float, help="Seconds to wait for a running runner to stop."
)
@json_option
def projections_rebuild(*, name: str, wait: float, as_json: bool) -> None:
    """Drop a read model and replay the whole log into it."""
    chosen = projections_named([name])[0]
    app = ledger_app()
    with Progress(transient=True, disable=as_json, console=err_console) as bar:
        task = bar.add_task(f"rebuilding {name}", total=app.recorder.max_notification_id() or 0)
        position = rebuild(
            Settings.from_env().database, app, chosen, wait=wait,
            progress=lambda done, head: bar.update(task, completed=done, total=head),
        )  # fmt: skip
    done(
        {"projection": name, "position": position},
        as_json,
        f"{name} rebuilt to position {position}",
    )


@projections.command("verify")
@click.argument("name")
@click.option(
    "--wait", default=0.0, type=float, help="Seconds to wait for a running runner to stop."
)
@json_option
def projections_verify(*, name: str, wait: float, as_json: bool) -> int:
    """Rebuild a read model beside the live one at its position; exit 1 if they differ."""
    chosen = projections_named([name])[0]
    position, differences = verify(Settings.from_env().database, ledger_app(), chosen, wait=wait)
    data = {
        "projection": name,
        "position": position,
        "equal": not differences,
        "differences": [vars(d) for d in differences],
    }

    def render() -> None:
        if not differences:
            console.print(f"{name} at position {position} equals a rebuild")
            return
        for d in differences:
            console.print(
                f"{d.table}: {d.only_live} row(s) only live, {d.only_rebuilt} only in the rebuild"
            )

    emit(data, as_json, render)
    return 0 if not differences else EXIT_REFUSED


# -- reports -------------------------------------------------------------------------------


def read_model(name: str, catch_up: bool) -> tuple[ViewDatabase, int, int]:
    """The read model's database, its position and the head of the log (see
    `ledger.reports.caught_up`)."""
    settings = Settings.from_env().database
    position, head = caught_up(settings, ledger_app(), name, catch_up=catch_up)
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


def clock_text(seconds: int | None) -> str | None:
    """Business seconds as `13:00` (hours:minutes), negative when overdue."""
    if seconds is None:
        return None
    sign = "-" if seconds < 0 else ""
    minutes = abs(seconds) // 60
    return f"{sign}{minutes // 60}:{minutes % 60:02d}"


def optional_instant(text: str | None, name: str) -> datetime | None:
    return None if text is None else parse_instant(text, name)


@cli.group()
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
def report_breaches(
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
    at = resolve_at(at_text)
    since, until = optional_instant(since_text, "--since"), optional_instant(until_text, "--until")
    db, position, head = read_model(SlaBreachProjection.name, catch_up)
    try:
        rows = SlaBreachView(db).board(
            at, states=set(states) or None, tier=tier, customer=customer, since=since, until=until
        )
    finally:
        db.close()
    columns = BOARD_COLUMNS if as_csv or as_json else BOARD_COLUMNS[:BOARD_TABLE]
    if not (as_csv or as_json):
        rows = [
            {**r, "business_seconds_left": clock_text(r["business_seconds_left"])} for r in rows
        ]
    emit_report(
        SlaBreachProjection.name, position, head, rows, columns, as_json=as_json, as_csv=as_csv,
        title=f"SLA board at {format_instant(at)}",
    )  # fmt: skip


STATS_COLUMNS = [
    ("key", "group"), ("tickets", "tickets"), ("met", "met"), ("breached", "breached"),
    ("waived", "waived"), ("breach_rate", "breach rate"), ("responses", "responses"),
    ("median_response_hours", "median response h"), ("p90_response_hours", "p90 response h"),
]  # fmt: skip


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
def report_breach_stats(
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
    at = resolve_at(at_text)
    since, until = optional_instant(since_text, "--since"), optional_instant(until_text, "--until")
    db, position, head = read_model(SlaBreachProjection.name, catch_up)
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
    )  # fmt: skip


STATEMENT_COLUMNS = [
    ("customer", "customer"), ("contract_id", "contract"), ("currency", "currency"),
    ("start", "from"), ("end", "until"),
    *[(f"points_{f}", f"points {f}") for f in STATEMENT_FIGURES],
    *[(f"sessions_{f}", f"sessions {f}") for f in STATEMENT_FIGURES],
    ("fees_total", "fees"),
]  # fmt: skip


def render_statements(statements: list[dict[str, Any]], title: str) -> None:
    """Per contract: a line for points and one for sessions, then the fees assessed."""
    table = Table("customer", "unit", *STATEMENT_FIGURES, "fees", title=title, title_justify="left")
    for s in statements:
        for unit in ("points", "sessions"):
            first = unit == "points"
            table.add_row(
                escape(s["customer"]) if first else "",
                unit,
                *[fmt(s[unit][f]) for f in STATEMENT_FIGURES],
                f"{fmt(s['fees_total'])} {s['currency']}" if first else "",
            )
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
def report_credits(
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
    if (period is None) == (term_text is None):
        raise InvalidInputError("give --period YYYY-MM or --term N (one of them)")
    term = None if term_text is None else parse_int(term_text, "--term", minimum=1)
    contract_id = None if contract_ref is None else parse_id(contract_ref, "--contract")
    if check and not catch_up:
        raise InvalidInputError(
            "--check compares with the whole log: it cannot read a view that is not caught up"
        )
    db, position, head = read_model(CreditUsageProjection.name, catch_up)
    try:
        view = CreditUsageView(db)
        statements = view.statement(period=period, term=term, contract_id=contract_id)
        differences = (
            reconcile(ledger_app(), view, period=period, term=term, contract_id=contract_id)
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


# -- audit ---------------------------------------------------------------------------------


@cli.group()
def audit() -> None:
    """For auditors: replay as of an instant, the hash chain, export and re-derivation."""


@audit.command("replay")
@click.option("--as-of", "as_of_text", required=True, metavar="ISO8601",
              help="Replay the events recorded up to this instant.")  # fmt: skip
@click.option(
    "--report",
    "kind",
    default="breaches",
    show_default=True,
    type=click.Choice(["breaches", "breach-stats", "credits"]),
    help="Which report to print as it stood then.",
)
@click.option("--state", "states", multiple=True, type=click.Choice([*STATES, ALL]),
              help="breaches: clocks in this state (repeatable; default: live ones).")  # fmt: skip
@click.option("--tier", type=click.Choice([t.value for t in Tier]), help="breaches: one tier.")
@click.option("--customer", help="breaches: one customer.")
@click.option("--by", "by", type=click.Choice(list(GROUPINGS)), default="tier", show_default=True,
              help="breach-stats: group by.")  # fmt: skip
@since_option
@until_option
@click.option("--period", help="credits: a calendar month, YYYY-MM.")
@click.option("--term", "term_text", help="credits: a term number.")
@click.option("--contract", "contract_ref", help="credits: one contract (id).")
@at_option("breaches, breach-stats: the instant the figures are drawn for (default: --as-of).")
@csv_option
@json_option
def audit_replay(
    *,
    as_of_text: str,
    kind: str,
    states: tuple[str, ...],
    tier: str | None,
    customer: str | None,
    by: str,
    since_text: str | None,
    until_text: str | None,
    period: str | None,
    term_text: str | None,
    contract_ref: str | None,
    at_text: str | None,
    as_csv: bool,
    as_json: bool,
) -> None:
    """A report as it stood at an instant: the views rebuilt from the events recorded by then
    in a temporary store (the live views are not touched)."""
    as_of = parse_instant(as_of_text, "--as-of")
    at = parse_instant(at_text, "--at") if at_text else as_of
    since, until = optional_instant(since_text, "--since"), optional_instant(until_text, "--until")
    term = None if term_text is None else parse_int(term_text, "--term", minimum=1)
    contract_id = None if contract_ref is None else parse_id(contract_ref, "--contract")
    if kind == "credits" and (period is None) == (term is None):
        raise InvalidInputError("--report credits: give --period YYYY-MM or --term N (one of them)")
    if as_json and as_csv:
        raise InvalidInputError("give --json or --csv, not both")
    app = ledger_app()
    bar = Progress(transient=True, disable=as_json or as_csv, console=err_console)
    task = bar.add_task(f"replaying to {format_instant(as_of)}", total=None)
    with (
        bar,
        as_of_views(
            Settings.from_env().database, app, as_of,
            progress=lambda done, head: bar.update(task, completed=done, total=head),
        ) as then,
    ):  # fmt: skip
        if kind == "breaches":
            rows = then.breaches.board(
                at, states=set(states) or None, tier=tier, customer=customer, since=since,
                until=until,
            )  # fmt: skip
            columns, title = BOARD_COLUMNS, f"SLA board at {format_instant(at)}"
        elif kind == "breach-stats":
            rows = then.breaches.stats(by, at, since=since, until=until)
            columns, title = STATS_COLUMNS, f"SLA breaches by {by} at {format_instant(at)}"
        else:
            rows = then.credits.statement(period=period, term=term, contract_id=contract_id)
            columns, title = STATEMENT_COLUMNS, "credit statements"
    note = (
        f"as recorded by {format_instant(as_of)}: {then.applied} events up to position "
        f"{then.last_position} (the log now holds {then.head})"
    )
    if as_json:
        key = "statements" if kind == "credits" else "rows"
        click.echo(dumps({
            "as_of": as_of, "report": kind, "applied": then.applied,
            "last_position": then.last_position, "head": then.head, key: rows,
        }))  # fmt: skip
        return
    if kind == "credits" and not as_csv:
        render_statements(rows, f"{title} as recorded by {format_instant(as_of)}")
    else:
        if kind == "credits":
            rows = [statement_row(r) for r in rows]
        elif kind == "breaches" and not as_csv:
            columns = BOARD_COLUMNS[:BOARD_TABLE]
            rows = [{**r, "business_seconds_left": clock_text(r["business_seconds_left"])}
                    for r in rows]  # fmt: skip
        emit_rows(rows, columns, as_json=False, as_csv=as_csv, title=title)
    if not as_csv:
        err_console.print(note)


@audit.command("digest")
@json_option
def audit_digest(*, as_json: bool) -> None:
    """The head of the hash chain over the log (position and hash), brought up to the head of
    the log first: keep it outside the database and give it to `audit verify --digest`."""
    settings = Settings.from_env().database
    outcome = catch_up_chain(settings, ledger_app())
    if outcome.status == "failed":
        raise ProjectionFailedError(
            f"the audit chain stopped at position {outcome.position}: {outcome.error}"
        )
    head = digest(settings)
    emit(
        {"position": head.position, "hash": head.hash, "digest": str(head)},
        as_json,
        lambda: click.echo(str(head)),
    )


@audit.command("verify")
@click.option("--digest", "digest_text", metavar="POS:HASH",
              help="A digest kept outside the database (from `audit digest`).")  # fmt: skip
@json_option
def audit_verify(*, digest_text: str | None, as_json: bool) -> int:
    """Recompute the hash chain from the stored events; name the first altered, missing,
    inserted or reordered event and exit 1 (also when the chain itself was rewritten, given a
    digest kept outside)."""
    external = None if digest_text is None else parse_digest(digest_text)
    db = ViewDatabase(Settings.from_env().database)
    try:
        result = verify_chain(ledger_app(), db, digest=external)
    finally:
        db.close()
    data = result.as_dict()

    def render() -> None:
        head = data["head"]
        console.print(
            f"checked {data['checked']} event(s); chain head {head['position']}:{head['hash']}"
            + (f"; {data['unchained']} newer event(s) not chained yet" if data["unchained"] else "")
        )
        if result.ok:
            console.print("[green]the log is as it was chained[/green]")
        else:
            problem = data["problem"]
            console.print(f"[bold red]{problem['kind']}[/bold red] {escape(problem['message'])}")

    emit(data, as_json, render)
    return 0 if result.ok else EXIT_REFUSED


@audit.command("export")
@click.option("--since", "since_text", default="0", show_default=True, metavar="POSITION",
              help="Only events after this position of the log.")  # fmt: skip
@click.option("--output", "output", type=click.Path(dir_okay=False, writable=True),
              help="Write to this file instead of standard output.")  # fmt: skip
def audit_export(*, since_text: str, output: str | None) -> None:
    """Every event as JSON lines: position, recorded_at, aggregate, type, topic, version,
    payload (plain JSON), in log order."""
    since = parse_since(since_text, "--since")
    app = ledger_app()
    if output is None:
        count = export_events(app, sys.stdout, since=since)
    else:
        with Path(output).open("w", encoding="utf-8") as out:
            count = export_events(app, out, since=since)
    err_console.print(f"{count} event(s) exported after position {since}")


@audit.command("reconcile")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--period", help="Compare this month's statements (default: every month).")
@click.option("--term", "term_text", help="Compare term N's statements (default: every term).")
@click.option("--contract", "contract_ref", help="Only this contract's statements.")
@click.option("--by", "by", type=click.Choice(list(GROUPINGS)),
              help="Breach statistics by this grouping (default: every one).")  # fmt: skip
@at_option(
    "Breach statistics at this instant (default: when the export's last event was recorded)."
)
@json_option
def audit_reconcile(
    *,
    file: str,
    period: str | None,
    term_text: str | None,
    contract_ref: str | None,
    by: str | None,
    at_text: str | None,
    as_json: bool,
) -> int:
    """Re-derive the credit statements and breach statistics from an exported FILE alone and
    compare them with the live views; exit 1 on any difference."""
    term = None if term_text is None else parse_int(term_text, "--term", minimum=1)
    contract_id = None if contract_ref is None else parse_id(contract_ref, "--contract")
    at = parse_instant(at_text, "--at") if at_text else None
    with Path(file).open(encoding="utf-8") as lines:
        derived = rederive(lines)
    settings = Settings.from_env().database
    app = ledger_app()
    for name in (CreditUsageProjection.name, SlaBreachProjection.name):
        outcome = run_projections(settings, app, projections_named([name]), once=True)[0]
        if outcome.status == "failed":
            raise ProjectionFailedError(
                f"projection {name} stopped at position {outcome.position}: {outcome.error}"
            )
    result = reconcile_views(
        derived, settings, period=period, term=term, contract_id=contract_id, by=by, at=at
    )
    data = {**vars(result), "ok": result.ok, "outdated": result.outdated}
    data["differences"] = [vars(d) for d in result.differences]

    def render() -> None:
        console.print(
            f"{result.events} events up to position {result.export_position} re-derived; "
            f"compared {', '.join(result.windows) or 'no statement'} and breach statistics by "
            f"{', '.join(result.groupings)} at {fmt(result.at)}"
        )
        for d in result.differences:
            console.print(f"[bold red]difference[/bold red] {escape(d.describe())}")
        if result.ok:
            console.print("every figure agrees with the export")

    emit(data, as_json, render)
    return 0 if result.ok else EXIT_REFUSED


# -- scheduler -----------------------------------------------------------------------------


@cli.group()
def scheduler() -> None:
    """Records warnings, breaches, lapses, grants and expiries when they fall due."""


@scheduler.command("run")
@click.option(
    "--heartbeat",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.1, 60),
    help="Seconds between checks for new or changed deadlines.",
)
@click.option("--batch-size", default=200, show_default=True, type=click.IntRange(1, 10_000))
def scheduler_run(*, heartbeat: float, batch_size: int) -> None:
    """Run the scheduler until SIGTERM (the fact in flight is finished first)."""
    service = Scheduler(ledger_app(), Settings.from_env().database, batch_size=batch_size)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: service.stop.set())
    run_scheduler(service, heartbeat=heartbeat)


@scheduler.command("tick")
@at_option("Record what is due by this instant (default: now; not in the future).")
@json_option
def scheduler_tick(*, at_text: str | None, as_json: bool) -> None:
    """Record everything due by now (once), then exit."""
    now = datetime.now(UTC)
    at = resolve_at(at_text) if at_text else now
    if at > now:
        raise InvalidInputError("--at: facts cannot be recorded before they are due")
    service = Scheduler(ledger_app(), Settings.from_env().database, clock=FakeClock(at))
    try:
        outcomes = service.tick()
    finally:
        service.close()
    rows = [
        {
            "kind": o.fact.kind,
            "aggregate_id": o.fact.aggregate_id,
            "detail": o.fact.detail,
            "due_at": o.fact.due_at,
            "recorded": o.recorded,
            "late": o.late,
            "reason": o.reason,
        }
        for o in outcomes
    ]
    if not as_json and not service.leading and not outcomes:
        console.print("another scheduler leads; nothing recorded here")
    emit_rows(
        rows,
        [("kind", "kind"), ("aggregate_id", "aggregate"), ("detail", "detail"), ("due_at", "due"),
         ("recorded", "recorded"), ("late", "late"), ("reason", "why not")],
        as_json=as_json, as_csv=False, title="due facts",
    )  # fmt: skip


@scheduler.command("status")
@json_option
def scheduler_status(*, as_json: bool) -> None:
    """Pending facts by kind, the next one due, the last run and which process leads."""
    service = Scheduler(ledger_app(), Settings.from_env().database, keep_deadlines=False)
    try:
        state = service.status()
    finally:
        service.db.close()
    data = {
        "leader": state.leader,
        "heartbeat_at": state.heartbeat_at,
        "last_tick_at": state.last_tick_at,
        "last_fact_at": state.last_fact_at,
        "facts_recorded": state.facts_recorded,
        "pending": state.pending,
        "next_due": vars(state.next_due) if state.next_due else None,
    }

    def render() -> None:
        following = state.next_due
        upcoming = (
            f"{following.kind} {following.aggregate_id} at {fmt(following.due_at)}"
            if following
            else None
        )
        pending = ", ".join(f"{k} {v}" for k, v in state.pending.items())
        console.print(
            kv(
                "scheduler",
                [
                    ("leader", state.leader),
                    ("heartbeat", state.heartbeat_at),
                    ("last run", state.last_tick_at),
                    ("last fact recorded", state.last_fact_at),
                    ("facts recorded", state.facts_recorded),
                    ("pending", pending),
                    ("next due", upcoming),
                ],
            )
        )

    emit(data, as_json, render)


# -- demo ----------------------------------------------------------------------------------


@cli.command("demo")
@click.option(
    "--database",
    "database",
    default="ledger-demo.db",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="SQLite file for the demo; it is made anew on every run.",
)
def demo(database: str) -> None:
    """Show the terms, deadlines with their explanation, and a day of business on SQLite."""
    from ledger.demo import run_demo  # noqa: PLC0415 - the demo is only loaded when asked for

    run_demo(database, console)


cli.add_command(serve)
cli.add_command(tokens)


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
        try:
            settings = Settings.from_env()
            configure_logging(settings.log_format, settings.log_level)
            result = cli.main(args=args, prog_name="ledger", standalone_mode=False)
        finally:
            close_ledger()
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE
    except click.exceptions.Abort:
        err_console.print("aborted")
        return 130
    except StoreUnavailableError as exc:
        print_error(exc, as_json)
        return EXIT_UNAVAILABLE
    except LedgerError as exc:
        print_error(exc, as_json)
        return EXIT_REFUSED
    except (PersistenceError, PoolTimeout, OSError) as exc:
        problem = StoreUnavailableError(f"the database could not be reached or used: {exc}")
        print_error(problem, as_json)
        return EXIT_UNAVAILABLE
    return result if isinstance(result, int) else 0
