"""`ledger demo`: the terms, deadlines explained, and a week of business on a SQLite file.

The business part runs on a fixed calendar (the week of 3 March 2025, Europe/Berlin) so the
output is the same on every run; every fact is entered with its instant, as back-office entry
would. Refused commands are shown with their error codes: they record nothing.
"""

from __future__ import annotations

import os
from contextlib import suppress
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from rich.table import Table

from ledger.application import SupportLedger
from ledger.calendars import default_calendar
from ledger.domain.errors import LedgerError
from ledger.domain.sla import compute_deadline
from ledger.logs import configure_logging
from ledger.parsing import format_instant
from ledger.presenters import account_view, ticket_view
from ledger.render import deadline_data, fmt, render_deadline, render_terms
from ledger.settings import parse_database_url
from ledger.terms import load_terms

if TYPE_CHECKING:
    from collections.abc import Callable
    from uuid import UUID

    from rich.console import Console

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    """An instant in the demo week, given as Berlin wall time."""
    return datetime(2025, month, day, hour, minute, tzinfo=BERLIN).astimezone(UTC)


def run_demo(database: str, console: Console) -> None:
    """Run the whole demo, printing to `console` (info logs stay quiet unless asked for)."""
    if "LEDGER_LOG_LEVEL" not in os.environ:
        configure_logging(os.environ.get("LEDGER_LOG_FORMAT", "auto"), "warning")
    terms = load_terms()
    render_terms(terms)
    now = datetime.now(UTC).replace(microsecond=0)
    console.rule(f"Deadlines for a request received now ({format_instant(now)})")
    for tier_terms in terms.tiers_by_rank():
        cal = default_calendar(terms, tier_terms)
        for level in terms.severities:
            target = tier_terms.response_target(level)
            deadline = compute_deadline(cal, now, target, terms.warning_thresholds)
            explanation = cal.explain(now, target)
            data = deadline_data(
                terms,
                tier=tier_terms.tier,
                level=level,
                deadline=deadline,
                explanation=explanation,
                cal=cal,
            )
            render_deadline(data, deadline, explanation, cal)
            console.print()
    _business_week(Path(database), console)


def _business_week(path: Path, console: Console) -> None:
    for suffix in ("", "-wal", "-shm"):
        with suppress(FileNotFoundError):
            Path(f"{path}{suffix}").unlink()
    settings = parse_database_url(f"sqlite:///{path.resolve()}")
    app = SupportLedger(settings=settings)
    console.rule(f"A week of business, recorded in {path} (SQLite)")
    step = _Steps(console)
    try:
        _releases(app, step)
        contracts = _contracts(app, step)
        tickets = _tickets(app, step, contracts)
        _credits(app, step, contracts)
        _states(app, console, contracts, tickets, at=berlin(7, 18))
    finally:
        app.close()
    console.print(
        f"\nExplore it: LEDGER_DATABASE_URL=sqlite:///{path} ledger contract show "
        f"{contracts['premium']}  |  ledger ticket show ACME-1  |  ledger credits balance ..."
    )


class _Steps:
    """Prints each step, and each refusal with its code."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def __call__(self, text: str, action: Callable[[], Any]) -> Any:
        try:
            result = action()
        except LedgerError as error:
            self.console.print(f"  [red]refused[/red] {text}: \\[{error.code}] {error.message}")
            return None
        self.console.print(f"  {text}")
        return result


def _releases(app: SupportLedger, step: _Steps) -> None:
    step.console.print("[bold]Releases[/bold]")
    for version, beta, when in [
        ("24.1.0", False, datetime(2024, 6, 3, 9, tzinfo=UTC)),
        ("24.1.3", False, datetime(2024, 9, 2, 9, tzinfo=UTC)),
        ("24.2.0", False, datetime(2024, 12, 2, 9, tzinfo=UTC)),
        ("24.2.1", False, datetime(2025, 2, 3, 9, tzinfo=UTC)),
        ("25.1.0-beta1", True, datetime(2025, 2, 20, 9, tzinfo=UTC)),
    ]:
        step(
            f"publish {version}{' (beta)' if beta else ''}",
            partial(app.publish_release, version, prerelease=beta, at=when),
        )


def _contracts(app: SupportLedger, step: _Steps) -> dict[str, UUID]:
    step.console.print("[bold]Contracts[/bold] (signed 2 January 2025, terms from 1 January)")
    signed = berlin(2, 10, month=1)
    specs = [
        ("premium", "Acme Automotive", 3, "commercial", "48000"),
        ("advanced", "Borealis Rail", 2, "commercial", "20000"),
        ("basic", "Cobalt Labs", 1, "educational", "6000"),
    ]
    contracts: dict[str, UUID] = {}
    for tier, customer, licenses, kind, price in specs:
        contracts[tier] = step(
            f"sign {customer}: {tier}, {licenses} license(s), list price {price} EUR",
            partial(
                app.sign_contract,
                customer=customer,
                tier=tier,
                licenses=licenses,
                license_kind=kind,
                list_price=Decimal(price),
                start=date(2025, 1, 1),
                at=signed,
            ),
        )
    step(
        "sign a free license",
        lambda: app.sign_contract(
            customer="Freeloader", tier="basic", licenses=1, license_kind="free",
            list_price=Decimal(1000), start=date(2025, 1, 1), at=signed,
        ),
    )  # fmt: skip
    contacts = {
        "premium": ["ops@acme.example", "qa@acme.example", "cto@acme.example"],
        "advanced": ["support@borealis.example", "lead@borealis.example"],
        "basic": ["it@cobalt.example", "intern@cobalt.example"],
    }
    for tier, emails in contacts.items():
        for email in emails:
            step(
                f"name {email}",
                partial(app.add_contact, contracts[tier], email=email, at=berlin(3, 8, month=1)),
            )
    step(
        "assign Dana Vogel as Acme's technical account representative",
        lambda: app.assign_representative(
            contracts["premium"], name="Dana Vogel", at=berlin(3, 9, month=1)
        ),
    )
    step(
        "assign a representative to Borealis (Advanced)",
        lambda: app.assign_representative(
            contracts["advanced"], name="Dana Vogel", at=berlin(3, 9, month=1)
        ),
    )
    return contracts


def _tickets(app: SupportLedger, step: _Steps, contracts: dict[str, UUID]) -> list[str]:
    step.console.print("[bold]Tickets[/bold] (week of 3 March 2025)")
    opened: list[str] = []

    def open_(
        key: str,
        tier: str,
        reporter: str,
        severity: int,
        *,
        version: str,
        platform: str,
        at: datetime,
    ) -> None:
        opening = app.open_ticket(
            contract_id=contracts[tier], reporter=reporter, severity=severity, version=version,
            platform=platform, key=key, at=at,
        )  # fmt: skip
        opened.append(key)
        if opening.declined:
            step.console.print(
                f"  {key}: [yellow]declined[/yellow] \\[{opening.reason}] {opening.message}"
            )
        else:
            due = opening.due_at.astimezone(BERLIN) if opening.due_at else None
            step.console.print(f"  {key}: open, severity {severity}, due {due:%a %d %b %H:%M %Z}")

    open_(
        "ACME-1",
        "premium",
        "ops@acme.example",
        1,
        version="24.2.1",
        platform="linux",
        at=berlin(3, 9, 15),
    )
    open_(
        "ACME-2",
        "premium",
        "qa@acme.example",
        3,
        version="24.1.3",
        platform="windows",
        at=berlin(3, 10),
    )
    open_(
        "BOR-1",
        "advanced",
        "support@borealis.example",
        2,
        version="24.2.0",
        platform="linux",
        at=berlin(3, 16),
    )
    open_(
        "COB-1",
        "basic",
        "it@cobalt.example",
        3,
        version="24.2.1",
        platform="windows",
        at=berlin(4, 11),
    )
    open_(
        "COB-2",
        "basic",
        "boss@cobalt.example",
        1,
        version="24.2.1",
        platform="windows",
        at=berlin(4, 12),
    )
    open_(
        "BOR-2",
        "advanced",
        "lead@borealis.example",
        3,
        version="23.2.0",
        platform="linux",
        at=berlin(4, 13),
    )
    open_(
        "ACME-3",
        "premium",
        "cto@acme.example",
        2,
        version="25.1.0-beta1",
        platform="linux",
        at=berlin(4, 14),
    )
    open_(
        "COB-3",
        "basic",
        "it@cobalt.example",
        3,
        version="24.2.1",
        platform="macos",
        at=berlin(4, 15),
    )
    open_(
        "ACME-4",
        "premium",
        "ops@acme.example",
        3,
        version="24.2.1",
        platform="linux",
        at=berlin(7, 16),
    )

    step(
        "ACME-1: remote assistance requested",
        lambda: app.request_remote_assistance("ACME-1", at=berlin(3, 9, 40)),
    )
    step("ACME-1: first response", lambda: app.record_first_response("ACME-1", at=berlin(3, 12)))
    step(
        "ACME-1: patch requested for 24.2.1", lambda: app.request_patch("ACME-1", at=berlin(3, 13))
    )
    step(
        "ACME-2: on hold at the customer's request",
        lambda: app.hold_ticket("ACME-2", at=berlin(3, 11)),
    )
    step("ACME-2: hold ended", lambda: app.resume_ticket("ACME-2", at=berlin(4, 9)))
    step(
        "ACME-2: patch requested (severity 3)",
        lambda: app.request_patch("ACME-2", at=berlin(4, 9, 30)),
    )
    step(
        "BOR-1: severity raised to 1",
        lambda: app.change_severity("BOR-1", severity=1, at=berlin(3, 17)),
    )
    step(
        "COB-1: remote assistance requested",
        lambda: app.request_remote_assistance("COB-1", at=berlin(4, 11, 30)),
    )
    step(
        "Acme books a Saturday appointment 10:00-14:00",
        lambda: app.book_appointment(
            contracts["premium"], starts_at=berlin(8, 10), ends_at=berlin(8, 14), at=berlin(7, 17)
        ),
    )
    step(
        "Borealis books a Saturday appointment (Advanced: weekday nights only)",
        lambda: app.book_appointment(
            contracts["advanced"], starts_at=berlin(8, 10), ends_at=berlin(8, 14), at=berlin(7, 17)
        ),
    )
    step(
        "BOR-1: first response (after its deadline)",
        lambda: app.record_first_response("BOR-1", at=berlin(5, 15)),
    )
    step("ACME-2: first response", lambda: app.record_first_response("ACME-2", at=berlin(5, 10)))
    step("ACME-1: resolved", lambda: app.resolve_ticket("ACME-1", at=berlin(5, 15)))
    step("ACME-1: closed", lambda: app.close_ticket("ACME-1", at=berlin(6, 9)))
    step(
        "ACME-1: first response again",
        lambda: app.record_first_response("ACME-1", at=berlin(6, 10)),
    )
    return opened


def _credits(app: SupportLedger, step: _Steps, contracts: dict[str, UUID]) -> None:
    step.console.print("[bold]Credits[/bold]")
    acme, borealis, cobalt = contracts["premium"], contracts["advanced"], contracts["basic"]
    step(
        "Acme: 8 points for root-cause analysis on ACME-1",
        lambda: app.consume_credits(
            acme,
            points=Decimal(8),
            activity="root-cause analysis",
            key="acme-c1",
            ticket="ACME-1",
            at=berlin(5, 16),
        ),
    )
    step(
        "Acme: 6 points for a configuration review",
        lambda: app.consume_credits(
            acme,
            points=Decimal(6),
            activity="configuration review",
            key="acme-c2",
            at=berlin(6, 11),
        ),
    )
    step(
        "Acme: the same consumption sent again (same key: nothing recorded)",
        lambda: app.consume_credits(
            acme,
            points=Decimal(6),
            activity="configuration review",
            key="acme-c2",
            at=berlin(6, 12),
        ),
    )
    step(
        "Acme: 2 of those points reversed (goodwill)",
        lambda: app.reverse_consumption(
            acme, key="acme-c2", points=Decimal(2), reason="goodwill", at=berlin(6, 14)
        ),
    )
    step(
        "Acme: a 30-minute training session",
        lambda: app.hold_training(acme, key="acme-t1", topic="test design", at=berlin(6, 15)),
    )
    step(
        "Borealis: 100 points for a migration",
        lambda: app.consume_credits(
            borealis, points=Decimal(100), activity="migration", key="bor-c1", at=berlin(6, 10)
        ),
    )
    step(
        "Cobalt (Basic, no points included) buys a 20-point package for 1,500 EUR",
        lambda: app.purchase_credits(
            cobalt, points=Decimal(20), price=Decimal(1500), key="cob-p1", at=berlin(6, 9)
        ),
    )
    step(
        "Cobalt: 5 points for an installation review",
        lambda: app.consume_credits(
            cobalt,
            points=Decimal(5),
            activity="installation review",
            key="cob-c1",
            ticket="COB-1",
            at=berlin(6, 10),
        ),
    )
    step(
        "Borealis upgrades to Premium (pro rata for the rest of the term)",
        lambda: app.change_tier(borealis, tier="premium", at=berlin(7, 9)),
    )
    step(
        "Cobalt asks to move down from Basic",
        lambda: app.change_tier(cobalt, tier="basic", at=berlin(7, 9)),
    )


def _states(
    app: SupportLedger,
    console: Console,
    contracts: dict[str, UUID],
    tickets: list[str],
    *,
    at: datetime,
) -> None:
    console.rule(f"States at {at.astimezone(BERLIN):%a %d %b %Y %H:%M %Z}")
    table = Table("contract", "tier", "status", "term", "fee", "contacts", "open clocks")
    for contract_id in contracts.values():
        c = app.get_contract(contract_id)
        term = c.term_at(at) or c.latest_term
        table.add_row(
            c.customer,
            c.tier_at(at),
            c.status,
            f"{term['number']} to {term['ends_at']:%Y-%m-%d}",
            f"{fmt(term['fee'])} {c.currency}",
            str(len(c.contacts_at(at))),
            str(len(c.open_clocks)),
        )
    console.print(table)

    table = Table(
        "ticket", "customer", "sev", "status", "clock", "due", "responded", "outcome / reason"
    )
    for key in tickets:
        t = app.get_ticket(key)
        view = ticket_view(t, at)
        if t.status == "declined":
            table.add_row(key, t.customer, str(t.severity), "declined", "-", "-", "-", t.reason)
            continue
        due = t.due_at.astimezone(BERLIN).strftime("%a %d %H:%M") if t.due_at else "-"
        responded = (
            t.responded_at.astimezone(BERLIN).strftime("%a %d %H:%M") if t.responded_at else "-"
        )
        outcome = t.outcome or ("breached" if view["breached"] else "on track")
        table.add_row(
            key, t.customer, str(t.severity), t.status, view["clock"], due, responded, outcome
        )
    console.print(table)

    table = Table("account", "points available", "sessions available", "lots")
    for contract_id in contracts.values():
        view = account_view(app.get_account(contract_id), at)
        lots = ", ".join(
            f"{lot['lot_id']} {fmt(lot['remaining'])}/{fmt(lot['amount'])}" for lot in view["lots"]
        )
        table.add_row(
            view["customer"], fmt(view["points_available"]), fmt(view["sessions_available"]), lots
        )
    console.print(table)
