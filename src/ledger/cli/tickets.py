"""Support requests and their response clocks (`ledger ticket ...`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click
from rich.markup import escape

from ledger.cli.support import (
    EXIT_DECLINED,
    Runtime,
    at_option,
    done,
    emit,
    json_option,
    pass_runtime,
    resolve_at,
    wall,
)
from ledger.parsing import parse_instant
from ledger.render import console, fmt, kv, percent

if TYPE_CHECKING:
    from collections.abc import Callable

    from ledger.application import SupportLedger


@click.group()
def ticket() -> None:
    """Support requests and their response clocks."""


@ticket.command("open")
@click.option(
    "--contract",
    "contract_ref",
    help="The contract: its id or customer's name (default: the agreement naming --reporter).",
)
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
@pass_runtime
def ticket_open(
    runtime: Runtime,
    *,
    contract_ref: str | None,
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
    from ledger.presenters import opening_view  # noqa: PLC0415 - not needed at start-up

    received = resolve_at(at_text)
    opening = runtime.ledger.open_ticket(
        contract_id=None
        if contract_ref is None
        else runtime.ledger.contract_id(contract_ref, "--contract"),
        reporter=reporter,
        severity=severity,
        version=product_version,
        platform=platform,
        license_kind=license_kind,
        key=key,
        at=received,
    )
    data = opening_view(opening)
    if opening.declined:
        done(
            data,
            as_json,
            f"declined [{opening.reason}] {opening.message} (ticket {opening.ticket_id})",
        )
        return EXIT_DECLINED
    opened = {} if as_json else _ticket_data(runtime, str(opening.ticket_id), received)
    done(data, as_json, "" if as_json else _said(runtime, "open", opened, received))
    return 0


def _ticket_data(runtime: Runtime, reference: str, at: datetime) -> dict[str, Any]:
    from ledger.presenters import counted_ticket_view  # noqa: PLC0415 - not needed at start-up

    app = runtime.ledger
    return counted_ticket_view(app, app.get_ticket(reference), at)


def _said(runtime: Runtime, command: str, data: dict[str, Any], at: datetime) -> str:
    """What a ticket command did, in words, times in the ticket's contract's zone."""
    from ledger.presenters import ticket_said  # noqa: PLC0415 - not needed at start-up

    contract_id = data.get("contract_id")
    zone = runtime.ledger.get_contract(contract_id).timezone if contract_id else None
    return ticket_said(command, data, at, datetime.now(UTC), zone)


def _ticket_step(
    name: str, help_text: str, run: Callable[[SupportLedger, str, datetime], Any]
) -> None:
    @ticket.command(name, help=help_text)
    @click.argument("reference", metavar="TICKET")
    @at_option()
    @json_option
    @pass_runtime
    def command(runtime: Runtime, *, reference: str, at_text: str | None, as_json: bool) -> None:
        at = resolve_at(at_text)
        outcome = run(runtime.ledger, reference, at)
        data = _ticket_data(runtime, reference, at)
        if outcome is not None:
            data["result"] = outcome
        done(data, as_json, _said(runtime, name, data, at))


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
    "priority",
    "Request priority troubleshooting (Premium and Advanced).",
    lambda app, ref, at: app.request_priority_troubleshooting(ref, at=at),
)
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
@pass_runtime
def ticket_severity(
    runtime: Runtime, *, reference: str, severity: str, at_text: str | None, as_json: bool
) -> None:
    """Change the severity: same start, new target, new deadline (the original stays on record)."""
    at = resolve_at(at_text)
    runtime.ledger.change_severity(reference, severity=severity, at=at)
    data = _ticket_data(runtime, reference, at)
    done(data, as_json, _said(runtime, "severity", data, at))


@ticket.command("waive")
@click.argument("reference", metavar="TICKET")
@click.option("--reason", required=True, help="Why the breach is waived.")
@click.option("--actor", required=True, help="Who decided.")
@at_option()
@json_option
@pass_runtime
def ticket_waive(
    runtime: Runtime, *, reference: str, reason: str, actor: str, at_text: str | None, as_json: bool
) -> None:
    """Waive a breach (a correction: the breach stays on record)."""
    at = resolve_at(at_text)
    runtime.ledger.waive_breach(reference, reason=reason, actor=actor, at=at)
    data = _ticket_data(runtime, reference, at)
    done(data, as_json, _said(runtime, "waive", data, at))


@ticket.command("history")
@click.argument("reference", metavar="TICKET")
@json_option
@pass_runtime
def ticket_history_command(runtime: Runtime, *, reference: str, as_json: bool) -> None:
    """Every event of a ticket with the ticket after it and how its deadline was counted."""
    from ledger.display import duration_text  # noqa: PLC0415 - not needed at start-up
    from ledger.presenters import ticket_history  # noqa: PLC0415 - not needed at start-up

    app = runtime.ledger
    steps = ticket_history(app, reference)

    def render() -> None:
        first = steps[0]["ticket"]
        zone = ZoneInfo(
            "UTC"
            if first["contract_id"] is None  # a request no agreement names
            else app.get_contract(first["contract_id"]).timezone
        )
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
@pass_runtime
def ticket_show(
    runtime: Runtime,
    *,
    reference: str,
    version: int | None,
    as_of: str | None,
    at_text: str | None,
    as_json: bool,
) -> None:
    """A ticket (by id or external key) and its clock."""
    from ledger.display import (  # noqa: PLC0415 - not needed at start-up
        deadline_text,
        duration_text,
    )
    from ledger.presenters import counted_ticket_view  # noqa: PLC0415 - not needed at start-up

    app = runtime.ledger
    when = resolve_at(at_text) if at_text else resolve_at(as_of, "--as-of")
    found = app.get_ticket(
        reference, version=version, as_of=parse_instant(as_of, "--as-of") if as_of else None
    )
    data = counted_ticket_view(app, found, when)
    # Times of a ticket are shown in its contract's zone (the display zone without one).
    zone = app.get_contract(found.contract_id).timezone if found.contract_id else None

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
                ("tier / target", f"{data['tier']} / {duration_text(data['target_seconds'])}"),
                ("clock", data["clock"]),
                ("due", deadline_text(data["due_at"], when, zone)),
                ("original due", data["original_due_at"]),
                ("business time left", duration_text(data["business_seconds_left"])),
                (
                    "warnings",
                    ", ".join(
                        f"{percent(w['share'])} {fmt(w['at'], zone)}"
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
                (
                    "priority troubleshooting",
                    ", ".join(fmt(t) for t in data["priority_troubleshooting"]) or "-",
                ),
            ]
        title = f"ticket {data['key']} ({data['ticket_id']}, version {data['version']})"
        console.print(kv(title, rows, zone))

    emit(data, as_json, render)
