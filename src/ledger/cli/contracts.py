"""Maintenance agreements (`ledger contract ...`): sign, show, history, renew, reinstate, lapse,
terminate, tier, named contacts, the representative and appointments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click
from rich.markup import escape
from rich.table import Table

from ledger.cli.support import (
    Runtime,
    at_option,
    csv_option,
    details,
    done,
    emit,
    emit_rows,
    json_option,
    pass_runtime,
    resolve_at,
    wall,
)
from ledger.parsing import parse_date, parse_decimal, parse_instant, parse_int
from ledger.render import console, err_console, fmt, kv, percent

if TYPE_CHECKING:
    from datetime import datetime
    from uuid import UUID


@click.group()
def contract() -> None:
    """Maintenance agreements: sign, renew, contacts, appointments, tier."""


@contract.command("sign")
@click.option("--customer", required=True, help="The customer's name.")
@click.option("--tier", required=True, help="premium, advanced or basic.")
@click.option("--licenses", required=True, help="Developer licenses (at least 1).")
@click.option("--list-price", required=True, help="List price in the currency (decimal).")
@click.option(
    "--currency", help="ISO 4217 code of the fees and package prices (default from the terms: EUR)."
)
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
@pass_runtime
def contract_sign(
    runtime: Runtime,
    *,
    customer: str,
    tier: str,
    licenses: str,
    list_price: str,
    currency: str | None,
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
    contract_id = runtime.ledger.sign_contract(
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
        currency=currency,
    )
    if as_json:
        done({"contract_id": contract_id}, as_json, "signed")
        return
    # the words for people on standard error, the id alone on standard output: C=$(ledger ...)
    err_console.print(escape(_said(runtime, contract_id, as_json, "signed")), highlight=False)
    click.echo(str(contract_id))


def _said(runtime: Runtime, contract_id: UUID, as_json: bool, message: str) -> str:
    """A contract command's words for people: the customer, what it did, and the id."""
    if as_json:
        return message
    customer = runtime.ledger.get_contract(contract_id).customer
    return f"{customer}: {message} (contract {contract_id})"


@contract.command("list")
@click.option("--customer", help="Only customers whose name contains this text (any case).")
@click.option("--tier", help="Only contracts of this tier now: premium, advanced or basic.")
@click.option(
    "--status",
    type=click.Choice(["active", "lapse_pending", "lapsed", "terminated"]),
    help="Only contracts in this state now (lapse_pending: the term ended, the lapse not yet "
    "recorded).",
)
@at_option("The tier, term, status and balance at this instant (default: now).")
@json_option
@csv_option
@pass_runtime
def contract_list_command(
    runtime: Runtime,
    *,
    customer: str | None,
    tier: str | None,
    status: str | None,
    at_text: str | None,
    as_json: bool,
    as_csv: bool,
) -> None:
    """Every contract by customer: tier, licenses, term, status, contacts, credit balance."""
    from ledger.cli.reports import report_position  # noqa: PLC0415 - not needed at start-up
    from ledger.reports import (  # noqa: PLC0415 - not needed at start-up
        CONTRACT_LIST_COLUMNS,
        contract_list,
    )

    at = resolve_at(at_text)
    rows: list[dict[str, Any]] = []
    after = None
    first: dict[str, Any] | None = None
    while True:
        page = contract_list(
            runtime.database, runtime.ledger, at, customer=customer, tier=tier, status=status,
            limit=1000, after=after, catch_up=after is None, reads=runtime.read_database,
        )  # fmt: skip
        first = first or page
        rows.extend(page["rows"])
        after = page["next"]
        if after is None:
            break
    for row in rows:
        row["named_contacts"] = (
            row["named_contacts"] if as_json else ", ".join(row["named_contacts"])
        )
    columns = CONTRACT_LIST_COLUMNS if as_csv else CONTRACT_LIST_COLUMNS[:10]
    emit_rows(rows, columns, as_json=as_json, as_csv=as_csv, title="contracts")
    if first is not None and not (as_json or as_csv):
        where = (first["projection"], first["position"], first["head"], first["read_from"])
        err_console.print(report_position(*where))


def _contract_result(
    runtime: Runtime, contract_id: UUID, at: datetime, as_json: bool, message: str
) -> None:
    from ledger.presenters import current_contract_view  # noqa: PLC0415 - not needed at start-up

    app = runtime.ledger
    done(
        current_contract_view(app, contract_id, at),
        as_json,
        _said(runtime, contract_id, as_json, message),
    )


@contract.command("show")
@click.argument("contract_ref", metavar="CONTRACT")
@click.option("--version", "version", type=int, help="The contract as of this event version.")
@click.option(
    "--as-of", "as_of", metavar="ISO8601", help="The contract as recorded at this instant."
)
@at_option("Validity, tier and contacts in force at this instant (default: now, or --as-of).")
@json_option
@pass_runtime
def contract_show(
    runtime: Runtime,
    *,
    contract_ref: str,
    version: int | None,
    as_of: str | None,
    at_text: str | None,
    as_json: bool,
) -> None:
    """A contract now, at an earlier version, or as of an instant."""
    from ledger.presenters import (  # noqa: PLC0415 - not needed at start-up
        contract_view,
        current_contract_view,
        status_text,
    )

    contract_id = runtime.ledger.contract_id(contract_ref, "CONTRACT")
    when = resolve_at(at_text) if at_text else resolve_at(as_of, "--as-of")
    app = runtime.ledger
    if version is None and as_of is None:
        data = current_contract_view(app, contract_id, when)
    else:
        found = app.get_contract(
            contract_id, version=version, as_of=parse_instant(as_of, "--as-of") if as_of else None
        )
        data = contract_view(found, when)

    zone = data["timezone"]  # times about one contract are shown in its own zone

    def render() -> None:
        console.print(
            kv(
                f"contract {data['customer']} ({contract_id}, version {data['version']})",
                [
                    ("customer", data["customer"]),
                    ("credit account", data["account_id"]),
                    ("status", status_text(data)),
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
                zone,
            )
        )
        table = Table(
            "term", "kind", "from", "to", "tier", "licenses", "fee share", "fee", title="terms"
        )
        for t in data["terms"]:
            table.add_row(
                str(t["number"]),
                t["kind"],
                fmt(t["starts_at"], zone),
                fmt(t["ends_at"], zone),
                t["tier"],
                str(t["licenses"]),
                percent(t["fee_share"]),
                f"{fmt(t['fee'])} {data['currency']}",
            )
        console.print(table)
        if data["appointments"]:
            booked = Table("from", "to", "booked", title="appointments")
            for a in data["appointments"]:
                booked.add_row(
                    fmt(a["starts_at"], zone), fmt(a["ends_at"], zone), fmt(a["booked_at"], zone)
                )
            console.print(booked)

    emit(data, as_json, render)


@contract.command("history")
@click.argument("contract_ref", metavar="CONTRACT")
@json_option
@pass_runtime
def contract_history_command(runtime: Runtime, *, contract_ref: str, as_json: bool) -> None:
    """Every event of a contract with the contract as it stood after it."""
    from ledger.presenters import contract_history  # noqa: PLC0415 - not needed at start-up

    contract_id = runtime.ledger.contract_id(contract_ref, "CONTRACT")
    steps = contract_history(runtime.ledger, contract_id)

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
@pass_runtime
def contract_renew(
    runtime: Runtime,
    *,
    contract_ref: str,
    licenses: str | None,
    list_price: str | None,
    at_text: str | None,
    as_json: bool,
) -> None:
    """Order the next term (a lapsed agreement is reinstated at 80 % instead)."""
    contract_id = runtime.ledger.contract_id(contract_ref, "CONTRACT")
    term = runtime.ledger.renew_contract(
        contract_id,
        at=resolve_at(at_text),
        licenses=parse_int(licenses, "--licenses", minimum=1) if licenses else None,
        list_price=parse_decimal(list_price, "--list-price", positive=True) if list_price else None,
    )
    done(
        {"contract_id": contract_id, "term": term},
        as_json,
        _said(
            runtime, contract_id, as_json,
            f"term {term['number']} ({term['kind']}) "
            f"from {fmt(term['starts_at'])} to {fmt(term['ends_at'])}, "
            f"fee {fmt(term['fee'])} ({percent(term['fee_share'])})",
        ),
    )  # fmt: skip


@contract.command("reinstate")
@click.argument("contract_ref", metavar="CONTRACT")
@click.option("--licenses", help="Developer licenses for the new term (default: unchanged).")
@click.option("--list-price", help="List price for the new term (default: unchanged).")
@at_option()
@json_option
@pass_runtime
def contract_reinstate(
    runtime: Runtime,
    *,
    contract_ref: str,
    licenses: str | None,
    list_price: str | None,
    at_text: str | None,
    as_json: bool,
) -> None:
    """Take up a lapsed agreement again: a new term from today at 80 % of list price."""
    contract_id = runtime.ledger.contract_id(contract_ref, "CONTRACT")
    term = runtime.ledger.reinstate_contract(
        contract_id,
        at=resolve_at(at_text),
        licenses=parse_int(licenses, "--licenses", minimum=1) if licenses else None,
        list_price=parse_decimal(list_price, "--list-price", positive=True) if list_price else None,
    )
    done(
        {"contract_id": contract_id, "term": term},
        as_json,
        _said(
            runtime, contract_id, as_json,
            f"term {term['number']} (reinstatement) "
            f"fee {fmt(term['fee'])} ({percent(term['fee_share'])})",
        ),
    )  # fmt: skip


@contract.command("lapse")
@click.argument("contract_ref", metavar="CONTRACT")
@at_option()
@json_option
@pass_runtime
def contract_lapse(
    runtime: Runtime, *, contract_ref: str, at_text: str | None, as_json: bool
) -> None:
    """Record that the latest term ended without renewal (the scheduler does this too)."""
    contract_id = runtime.ledger.contract_id(contract_ref, "CONTRACT")
    lapse = runtime.ledger.lapse_contract(contract_id, at=resolve_at(at_text))
    said = _said(runtime, contract_id, as_json, f"term {lapse['term_number']} lapsed")
    done({"contract_id": contract_id, **lapse}, as_json, said)


@contract.command("terminate")
@click.argument("contract_ref", metavar="CONTRACT")
@click.option("--reason", default="terminated", show_default=True, help="Why the agreement ends.")
@at_option()
@json_option
@pass_runtime
def contract_terminate(
    runtime: Runtime, *, contract_ref: str, reason: str, at_text: str | None, as_json: bool
) -> None:
    """End the agreement: no support from --at on."""
    contract_id = runtime.ledger.contract_id(contract_ref, "CONTRACT")
    at = resolve_at(at_text)
    runtime.ledger.terminate_contract(contract_id, reason=reason, at=at)
    _contract_result(runtime, contract_id, at, as_json, "terminated")


@contract.command("upgrade")
@click.argument("contract_ref", metavar="CONTRACT")
@click.option("--tier", required=True, help="The new tier: higher applies now, lower at renewal.")
@at_option()
@json_option
@pass_runtime
def contract_upgrade(
    runtime: Runtime, *, contract_ref: str, tier: str, at_text: str | None, as_json: bool
) -> None:
    """Change the tier: an upgrade applies at once (pro rata), a downgrade at renewal."""
    from ledger.presenters import tier_change_view  # noqa: PLC0415 - not needed at start-up

    contract_id = runtime.ledger.contract_id(contract_ref, "CONTRACT")
    at = resolve_at(at_text)
    app = runtime.ledger
    outcome = app.change_tier(contract_id, tier=tier, at=at)
    found = app.get_contract(contract_id)
    data = tier_change_view(found, outcome, at)
    message = {
        "upgraded": f"upgraded to {found.tier_at(at)}",
        "downgrade_scheduled": f"downgrade to {found.pending_tier} scheduled for the next renewal",
        "downgrade_cancelled": "scheduled downgrade cancelled",
    }[outcome]
    done(data, as_json, _said(runtime, contract_id, as_json, message))


@contract.group("contacts")
def contract_contacts() -> None:
    """Named contacts (Premium 5, Advanced 2, Basic 1)."""


@contract_contacts.command("add")
@click.argument("contract_ref", metavar="CONTRACT")
@click.argument("email")
@at_option()
@json_option
@pass_runtime
def contacts_add(
    runtime: Runtime, *, contract_ref: str, email: str, at_text: str | None, as_json: bool
) -> None:
    """Name EMAIL as a contact."""
    contract_id = runtime.ledger.contract_id(contract_ref, "CONTRACT")
    contacts = runtime.ledger.add_contact(contract_id, email=email, at=resolve_at(at_text))
    said = _said(runtime, contract_id, as_json, f"{email} named; contacts {', '.join(contacts)}")
    done({"contract_id": contract_id, "named_contacts": contacts}, as_json, said)


@contract_contacts.command("remove")
@click.argument("contract_ref", metavar="CONTRACT")
@click.argument("email")
@at_option()
@json_option
@pass_runtime
def contacts_remove(
    runtime: Runtime, *, contract_ref: str, email: str, at_text: str | None, as_json: bool
) -> None:
    """Remove the named contact EMAIL."""
    contract_id = runtime.ledger.contract_id(contract_ref, "CONTRACT")
    contacts = runtime.ledger.remove_contact(contract_id, email=email, at=resolve_at(at_text))
    done(
        {"contract_id": contract_id, "named_contacts": contacts},
        as_json,
        _said(
            runtime, contract_id, as_json,
            f"{email} removed; contacts {', '.join(contacts) or '(none)'}",
        ),
    )  # fmt: skip


@contract.group("representative")
def contract_representative() -> None:
    """The technical account representative (Premium only)."""


@contract_representative.command("assign")
@click.argument("contract_ref", metavar="CONTRACT")
@click.argument("name")
@at_option()
@json_option
@pass_runtime
def representative_assign(
    runtime: Runtime, *, contract_ref: str, name: str, at_text: str | None, as_json: bool
) -> None:
    """Assign NAME as technical account representative."""
    contract_id = runtime.ledger.contract_id(contract_ref, "CONTRACT")
    at = resolve_at(at_text)
    runtime.ledger.assign_representative(contract_id, name=name, at=at)
    _contract_result(runtime, contract_id, at, as_json, f"{name} assigned")


@contract_representative.command("unassign")
@click.argument("contract_ref", metavar="CONTRACT")
@at_option()
@json_option
@pass_runtime
def representative_unassign(
    runtime: Runtime, *, contract_ref: str, at_text: str | None, as_json: bool
) -> None:
    """Unassign the technical account representative."""
    contract_id = runtime.ledger.contract_id(contract_ref, "CONTRACT")
    at = resolve_at(at_text)
    runtime.ledger.unassign_representative(contract_id, at=at)
    _contract_result(runtime, contract_id, at, as_json, "representative unassigned")


@contract.group("appointment")
def contract_appointment() -> None:
    """Covered time outside regular hours, booked in advance (as the tier allows)."""


def _appointment(
    runtime: Runtime,
    action: str,
    *,
    contract_ref: str,
    start: str,
    end: str,
    at_text: str | None,
    as_json: bool,
) -> None:
    contract_id = runtime.ledger.contract_id(contract_ref, "CONTRACT")
    app = runtime.ledger
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
        _said(
            runtime, contract_id, as_json,
            f"appointment {verb}; {len(moved)} open ticket deadline(s) recalculated",
        ),
    )  # fmt: skip


@contract_appointment.command("book")
@click.argument("contract_ref", metavar="CONTRACT")
@click.option("--from", "start", required=True, metavar="ISO8601")
@click.option("--to", "end", required=True, metavar="ISO8601")
@at_option()
@json_option
@pass_runtime
def appointment_book(
    runtime: Runtime, *, contract_ref: str, start: str, end: str, at_text: str | None, as_json: bool
) -> None:
    """Book an appointment window (weekday nights: Premium, Advanced; weekends: Premium)."""
    _appointment(
        runtime,
        "book",
        contract_ref=contract_ref,
        start=start,
        end=end,
        at_text=at_text,
        as_json=as_json,
    )


@contract_appointment.command("cancel")
@click.argument("contract_ref", metavar="CONTRACT")
@click.option("--from", "start", required=True, metavar="ISO8601")
@click.option("--to", "end", required=True, metavar="ISO8601")
@at_option()
@json_option
@pass_runtime
def appointment_cancel(
    runtime: Runtime, *, contract_ref: str, start: str, end: str, at_text: str | None, as_json: bool
) -> None:
    """Cancel a booked appointment window before it begins."""
    _appointment(
        runtime,
        "cancel",
        contract_ref=contract_ref,
        start=start,
        end=end,
        at_text=at_text,
        as_json=as_json,
    )
