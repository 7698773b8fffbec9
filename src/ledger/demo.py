"""`ledger demo`: the terms, deadlines explained, and two weeks of business on a SQLite file.

The business part is anchored to the week it runs in (Europe/Berlin): its ten business days
end on the last Friday evening up to now, the scheduler then records what fell due until now,
and two requests arrive now, so the agreements (whose year began two months before) take new tickets
at once and the board has live clocks. A fake clock drives both the scheduler and the
recording time of every event (`open_ledger(recording_clock=...)`), so `audit replay --as-of`
an instant of the story shows it as it stood then. Given the same `now`, the output is the
same on every run: commands are entered at their instants and, between them, the scheduler
records warnings, breaches, lapses and expiries as they fall due. Refused commands are shown
with their error codes: they record nothing. At the end the projections run once and the
reports show the SLA board, breach statistics and this month's statement.
"""

from __future__ import annotations

import os
import shlex
import sys
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from rich.table import Table

from ledger.calendars import default_calendar
from ledger.display import duration_text, percent_text
from ledger.domain.errors import LedgerError
from ledger.logs import configure_logging
from ledger.parsing import format_instant
from ledger.presenters import (
    account_view,
    current_contract_view,
    explain_deadline,
    stats_row_text,
)
from ledger.projections import PROJECTIONS
from ledger.projections.credit_usage import CreditUsageView, reconcile
from ledger.projections.db import ViewDatabase
from ledger.projections.runner import run_projections
from ledger.projections.sla_breaches import SlaBreachView
from ledger.render import fmt, render_deadline, render_terms, statement_table
from ledger.scheduler.clock import FakeClock
from ledger.scheduler.service import Scheduler, recordable_from
from ledger.settings import parse_database_url
from ledger.terms import load_terms
from ledger.wiring import open_ledger

if TYPE_CHECKING:
    from collections.abc import Callable
    from uuid import UUID

    from rich.console import Console

    from ledger.application import SupportLedger
    from ledger.settings import DatabaseSettings

BERLIN = ZoneInfo("Europe/Berlin")
FIRST_TOLD = date(2025, 3, 3)  # the Monday the story was first told on; its days are numbered so


def _wall(day: date, hour: int, minute: int = 0) -> datetime:
    """Berlin wall time on `day`, as an instant."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN).astimezone(UTC)


@dataclass(frozen=True)
class StoryDates:
    """Where the story falls: week 1's Monday, and the instant the demo runs at (`now`)."""

    monday: date
    now: datetime

    @classmethod
    def ending(cls, now: datetime) -> StoryDates:
        """The story whose second Friday is the last one whose 18:00 (Berlin) is not after
        `now`: today on a Friday evening or a weekend, else the Friday before."""
        now = now.astimezone(UTC).replace(second=0, microsecond=0)
        friday = now.astimezone(BERLIN).date()
        friday -= timedelta(days=(friday.weekday() - 4) % 7)
        if _wall(friday, 18) > now:
            friday -= timedelta(days=7)
        return cls(friday - timedelta(days=11), now)

    def at(self, day: int, hour: int, minute: int = 0) -> datetime:
        """An instant of the story as Berlin wall time; `day` 3 is week 1's Monday and 14 week
        2's Friday (the story was first told on 3-14 March 2025)."""
        return _wall(self.monday + timedelta(days=day - 3), hour, minute)

    @property
    def start(self) -> datetime:
        """Week 1's Monday, 07:00."""
        return self.at(3, 7)

    @property
    def end(self) -> datetime:
        """Week 2's Friday, 18:00."""
        return self.at(14, 18)

    @property
    def shift(self) -> timedelta:
        """Whole weeks from the first telling (release dates move by as much)."""
        return self.monday - FIRST_TOLD

    @property
    def contracts_start(self) -> date:
        """The first day of the month two months before week 1's: the agreements' start (their
        year runs 8 to 10 months past now)."""
        month = self.monday.year * 12 + self.monday.month - 1 - 2
        return date(month // 12, month % 12 + 1, 1)

    def after_start(self, days: int, hour: int) -> datetime:
        """An instant `days` after the agreements' start, at `hour` Berlin time."""
        return _wall(self.contracts_start + timedelta(days=days), hour)

    @property
    def unrenewed_start(self) -> date:
        """A year before week 2's Tuesday: the unrenewed agreement lapses that midnight."""
        tuesday = self.monday + timedelta(days=8)
        with suppress(ValueError):
            return tuesday.replace(year=tuesday.year - 1)
        return date(tuesday.year - 1, 3, 1)  # 29 February: a year before it is 1 March

    @property
    def period(self) -> str:
        """The month of `now`, whose statement the demo shows."""
        return f"{self.now.astimezone(BERLIN):%Y-%m}"


@dataclass(frozen=True)
class Demo:
    """What a run of the demo left: its store, where its story fell, its contracts' ids."""

    path: Path
    dates: StoryDates
    contracts: dict[str, UUID]  # premium, advanced, basic, dynamo


def run_demo(database: str, console: Console, *, now: datetime | None = None) -> Demo:
    """Run the whole demo as of `now` (default: the wall clock), printing to `console` (info
    logs stay quiet unless asked for)."""
    if "LEDGER_LOG_LEVEL" not in os.environ:
        configure_logging(os.environ.get("LEDGER_LOG_FORMAT", "auto"), "warning")
    dates = StoryDates.ending(now or datetime.now(UTC))
    now = dates.now
    terms = load_terms()
    render_terms(terms)
    console.rule(f"Deadlines for a request received now ({format_instant(now)})")
    for tier_terms in terms.tiers_by_rank():
        cal = default_calendar(terms, tier_terms)
        for level in terms.severities:
            render_deadline(explain_deadline(terms, tier_terms, level, now, cal))
            console.print()
    path = Path(database)
    return Demo(path, dates, _two_weeks(path, console, dates))


def _two_weeks(path: Path, console: Console, dates: StoryDates) -> dict[str, UUID]:
    for suffix in ("", "-wal", "-shm"):
        with suppress(FileNotFoundError):
            Path(f"{path}{suffix}").unlink()
    settings = parse_database_url(f"sqlite:///{path.resolve()}")
    # One clock drives the scheduler and stamps the recording time of every event.
    clock = FakeClock(FIRST_RELEASE + dates.shift)
    app = open_ledger(settings, recording_clock=clock.now)
    scheduler = Scheduler(app, settings, clock=clock)
    console.rule()  # the heading whole (a rule's title is cut to the terminal's width)
    console.print(
        f"Two weeks of business, recorded in {path} (SQLite): "
        f"{dates.start.astimezone(BERLIN):%a %d %b} to {dates.end.astimezone(BERLIN):%a %d %b %Y}"
        ", then today",
        soft_wrap=True,
        markup=False,
        highlight=False,
    )
    story = _Story(app, console, scheduler, clock)
    try:
        _releases(app, story, dates)
        contracts = _contracts(app, story, dates)
        story.customers = {
            str(cid): app.get_contract(cid).customer for cid in contracts.values() if cid
        }
        story.run(_timeline(app, story, contracts, dates) + _today(app, story, contracts, dates),
                  until=dates.now)  # fmt: skip
        scheduler.close()
        _read_models(app, settings, console, dates)
        _states(app, console, contracts, at=dates.now)
    finally:
        scheduler.close()
        app.close()
    return contracts


def next_steps(
    console: Console, demo: Demo, *, url: str | None = None, tokens: dict[str, str] | None = None
) -> None:
    """How to go on: the commands to type on the demo's store (and, when serving, the pages'
    address and a token per role)."""
    venv = Path(sys.prefix)
    lines = []
    if sys.prefix != sys.base_prefix and (venv / "bin" / "ledger").exists():
        with suppress(ValueError):
            venv = venv.relative_to(Path.cwd())
        lines.append(f". {venv}/bin/activate    # or call {venv}/bin/ledger")
    acme = demo.contracts["premium"]
    ended, then = demo.dates.end, demo.dates.at(5, 13)
    lines += [
        f"export LEDGER_DATABASE_URL={shlex.quote(f'sqlite:///{demo.path}')}",
        "ledger report breaches                     # the live clocks now",
        f"ledger ticket open --contract {acme} --reporter ops@acme.example \\",
        "    --severity 2 --version 24.2.1 --platform linux --key ACME-7",
        "ledger ticket show ACME-7",
        f"ledger report breaches --state all --at {format_instant(ended)}",
        f"ledger audit replay --as-of {format_instant(then)}   # the board as it stood then",
        f"ledger report credits --period {demo.dates.period} --check",
        f"ledger contract show {acme}",
        f"ledger events {acme}",
    ]
    if url is None:
        lines.append("ledger demo --serve    # (make demo SERVE=1) the pages, a token per role")
    console.rule("How to go on")
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    if url is not None and tokens:
        console.print(
            f"\nPages on the demo's store at {url}/signin (Ctrl-C stops); sign in with a token:",
            markup=False,
            highlight=False,
        )
        for role, text in tokens.items():
            console.print(f"  {role:<8} {text}", markup=False, highlight=False, soft_wrap=True)
        console.print(
            f'  API: curl -H "Authorization: Bearer <token>" {url}/api/v1/whoami',
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


def _today(
    app: SupportLedger, story: _Story, contracts: dict[str, UUID], dates: StoryDates
) -> list[_Step]:
    """Now: two requests arrive (their clocks run when the demo ends), Acme draws points, and
    the three agreements signed for the story order their next terms, so the board is alive,
    this month's statement has movements and fees, and the agreements run through next year."""
    acme, cobalt = contracts["premium"], contracts["basic"]
    renewing = (acme, contracts["advanced"], cobalt)
    now = dates.now
    steps = [
        (now, "", story.open_ticket(acme, "ACME-6", "ops@acme.example", sev=2, on="24.2.1/linux")),
        (now, "", story.open_ticket(cobalt, "COB-4", "it@cobalt.example", sev=3,
                                    on="24.2.1/windows")),
        (now, "Acme: 3 points for a health check",
         lambda: app.consume_credits(acme, points=Decimal(3), activity="health check",
                                     key="acme-c3", at=story.clock.now())),
        (now, "Acme, Borealis and Cobalt order their next terms (through next year)",
         lambda: [app.renew_contract(c, at=story.clock.now()) for c in renewing]),
    ]  # fmt: skip
    return [_Step(at, text, action) for at, text, action in steps]


@dataclass(frozen=True)
class _Step:
    """Something that happens at an instant of the timeline."""

    at: datetime
    text: str
    action: Callable[[], Any]


class _Story:
    """Plays the timeline: before each step, the scheduler records what fell due meanwhile
    (each fact at its own instant, on a fake clock); each step is printed, refusals with
    their code."""

    def __init__(
        self, app: SupportLedger, console: Console, scheduler: Scheduler, clock: FakeClock
    ) -> None:
        self.app = app
        self.console = console
        self.scheduler = scheduler
        self.clock = clock
        self.customers: dict[str, str] = {}
        self.tickets: dict[str, str] = {}  # ticket id -> key
        self._tried: set[tuple[str, str, str, datetime]] = set()
        self._day: date | None = None

    def __call__(self, text: str, action: Callable[[], Any], at: datetime | None = None) -> Any:
        """Do one thing now, or at `at` (set-up before the timeline, recorded then), printing
        it or why it was refused."""
        if at is not None and at > self.clock.now():
            self.clock.set(at)
        try:
            result = action()
        except LedgerError as error:
            self.console.print(f"  [red]refused[/red] {text}: \\[{error.code}] {error.message}")
            return None
        if text:  # steps without a text print their own line
            self.console.print(f"  {text}")
        return result

    def run(self, steps: list[_Step], *, until: datetime) -> None:
        for step in sorted(steps, key=lambda s: s.at):
            self.advance(step.at)
            self._when(step.at)
            self(step.text, step.action)
        self.advance(until)

    def advance(self, until: datetime) -> None:
        """Let the scheduler record every fact due by `until`, each when it falls due."""
        while True:
            self.scheduler.refresh()
            due = [
                d
                for d in self.scheduler.view.due(until, limit=100)
                if (d.kind, d.aggregate_id, d.detail, d.due_at) not in self._tried
            ]
            if not due:
                break
            self.clock.set(max(recordable_from(due[0]), self.clock.now()))
            for outcome in self.scheduler.tick():
                fact = outcome.fact
                self._tried.add((fact.kind, str(fact.aggregate_id), fact.detail, fact.due_at))
                if outcome.recorded:
                    self._when(fact.due_at)
                    self.console.print(f"  [cyan]scheduler[/cyan] {self._describe(fact)}")
        if until > self.clock.now():
            self.clock.set(until)

    def _when(self, at: datetime) -> None:
        local = at.astimezone(BERLIN)
        if local.date() != self._day:
            self._day = local.date()
            self.console.print(f"[bold]{local:%A %d %B %Y}[/bold]")
        self.console.print(f"[dim]{local:%H:%M}[/dim]", end="")

    def _describe(self, fact: Any) -> str:
        customer = self.customers.get(str(fact.contract_id), str(fact.contract_id))
        if fact.kind == "warning":
            ticket = self.tickets.get(str(fact.aggregate_id), str(fact.aggregate_id))
            share = percent_text(Decimal(fact.detail))
            return f"{ticket}: {share} of the response time used, no response yet"
        if fact.kind == "breach":
            ticket = self.tickets.get(str(fact.aggregate_id), str(fact.aggregate_id))
            return f"{ticket}: [red]response deadline breached[/red]"
        if fact.kind == "lapse":
            return f"{customer}: the term ended without renewal, the agreement lapsed"
        if fact.kind == "term_grant":
            return f"{customer}: term {fact.detail} began, its credits granted"
        remaining = next(
            (
                e.amount
                for e in reversed(self.app.list_events(fact.aggregate_id))
                if type(e).__name__ == "LotExpired" and e.lot_id == fact.detail
            ),
            None,
        )
        return f"{customer}: lot {fact.detail} expired ({fmt(remaining)} left unused)"

    def open_ticket(
        self, contract_id: UUID, key: str, reporter: str, *, sev: int, on: str
    ) -> Callable[[], None]:
        """A step opening a ticket of severity `sev` on `on` (VERSION/PLATFORM), printing its
        deadline or why it was declined."""
        version, platform = on.split("/")
        severity = sev

        def action() -> None:
            opening = self.app.open_ticket(
                contract_id=contract_id, reporter=reporter, severity=severity, version=version,
                platform=platform, key=key, at=self.clock.now(),
            )  # fmt: skip
            self.tickets[str(opening.ticket_id)] = key
            if opening.declined:
                self.console.print(
                    f"  {key}: [yellow]declined[/yellow] \\[{opening.reason}] {opening.message}"
                )
            else:
                due = opening.due_at.astimezone(BERLIN) if opening.due_at else None
                self.console.print(
                    f"  {key}: opened, severity {severity}, response due {due:%a %d %b %H:%M %Z}"
                )

        return action


# The releases as first told (their dates move with the story by whole weeks).
RELEASES = [
    ("24.1.0", False, datetime(2024, 6, 3, 9, tzinfo=UTC)),
    ("24.1.3", False, datetime(2024, 9, 2, 9, tzinfo=UTC)),
    ("24.2.0", False, datetime(2024, 12, 2, 9, tzinfo=UTC)),
    ("24.2.1", False, datetime(2025, 2, 3, 9, tzinfo=UTC)),
    ("25.1.0-beta1", True, datetime(2025, 2, 20, 9, tzinfo=UTC)),
]
FIRST_RELEASE = RELEASES[0][2]


def _releases(app: SupportLedger, story: _Story, dates: StoryDates) -> None:
    story.console.print("[bold]Releases[/bold]")
    for version, beta, when in RELEASES:
        at = when + dates.shift
        story(
            f"publish {version}{' (beta)' if beta else ''} on {at:%d %B %Y}",
            partial(app.publish_release, version, prerelease=beta, at=at),
            at=at,
        )


def _contracts(app: SupportLedger, story: _Story, dates: StoryDates) -> dict[str, UUID]:
    story.console.print("[bold]Contracts[/bold]")
    signed = dates.after_start(1, 10)
    start = dates.contracts_start
    old = dates.unrenewed_start
    specs = [
        ("premium", "Acme Automotive", 3, "commercial", "48000", start, signed),
        ("advanced", "Borealis Rail", 2, "commercial", "20000", start, signed),
        ("basic", "Cobalt Labs", 1, "educational", "6000", start, signed),
        # a year's agreement signed a year before that nobody renews (entered afterwards)
        ("dynamo", "Dynamo Systems", 1, "commercial", "12000", old,
         _wall(old - timedelta(days=10), 10)),
    ]  # fmt: skip
    contracts: dict[str, UUID] = {}
    for name, customer, licenses, kind, price, begins, at in specs:
        tier = "advanced" if name == "dynamo" else name
        contracts[name] = story(
            f"sign {customer}: {tier}, {licenses} license(s), list price {price} EUR, "
            f"from {begins:%d %B %Y}",
            partial(
                app.sign_contract, customer=customer, tier=tier, licenses=licenses,
                license_kind=kind, list_price=Decimal(price), start=begins, at=at,
            ),
            at=at,
        )  # fmt: skip
    story(
        "sign a free license",
        lambda: app.sign_contract(
            customer="Freeloader", tier="basic", licenses=1, license_kind="free",
            list_price=Decimal(1000), start=start, at=signed,
        ),
    )  # fmt: skip
    contacts = {
        "premium": ["ops@acme.example", "qa@acme.example", "cto@acme.example"],
        "advanced": ["support@borealis.example", "lead@borealis.example"],
        "basic": ["it@cobalt.example", "intern@cobalt.example"],
        "dynamo": ["dev@dynamo.example"],
    }
    named, assigned = dates.after_start(2, 8), dates.after_start(2, 9)
    for name, emails in contacts.items():
        for email in emails:
            story(
                f"name {email}",
                partial(app.add_contact, contracts[name], email=email, at=named),
                at=named,
            )
    story(
        "assign Dana Vogel as Acme's technical account representative",
        lambda: app.assign_representative(contracts["premium"], name="Dana Vogel", at=assigned),
        at=assigned,
    )
    story(
        "assign a representative to Borealis (Advanced)",
        lambda: app.assign_representative(contracts["advanced"], name="Dana Vogel", at=assigned),
    )
    return contracts


def _timeline(
    app: SupportLedger, story: _Story, contracts: dict[str, UUID], dates: StoryDates
) -> list[_Step]:
    """The two weeks (days 3-14, as first told in March 2025): tickets, credits and contract
    changes, each at its instant."""
    berlin = dates.at
    acme, borealis = contracts["premium"], contracts["advanced"]
    cobalt, dynamo = contracts["basic"], contracts["dynamo"]
    open_ = story.open_ticket
    D = Decimal  # noqa: N806 - short for the amounts below

    def consume(contract: UUID, points: int, activity: str, key: str, **more: Any) -> Any:
        return lambda: app.consume_credits(
            contract, points=D(points), activity=activity, key=key, at=story.clock.now(), **more
        )

    def now(method: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[[], Any]:
        return lambda: method(*args, **kwargs, at=story.clock.now())

    until = f"{berlin(12, 0).astimezone(BERLIN):%d %B}"
    steps = [
        # week 1
        (berlin(3, 9, 15), "", open_(acme, "ACME-1", "ops@acme.example", sev=1, on="24.2.1/linux")),
        (berlin(3, 9, 40), "ACME-1: remote assistance requested",
         now(app.request_remote_assistance, "ACME-1")),
        (berlin(3, 10), "", open_(acme, "ACME-2", "qa@acme.example", sev=3, on="24.1.3/windows")),
        (berlin(3, 11), "ACME-2: on hold at the customer's request",
         now(app.hold_ticket, "ACME-2")),
        (berlin(3, 12), "ACME-1: first response", now(app.record_first_response, "ACME-1")),
        (berlin(3, 13), "ACME-1: patch requested for 24.2.1", now(app.request_patch, "ACME-1")),
        (berlin(3, 16), "",
         open_(borealis, "BOR-1", "support@borealis.example", sev=2, on="24.2.0/linux")),
        (berlin(3, 17), "BOR-1: severity raised to 1",
         now(app.change_severity, "BOR-1", severity=1)),
        (berlin(4, 9), "ACME-2: hold ended", now(app.resume_ticket, "ACME-2")),
        (berlin(4, 9, 30), "ACME-2: patch requested (severity 3)",
         now(app.request_patch, "ACME-2")),
        (berlin(4, 11), "",
         open_(cobalt, "COB-1", "it@cobalt.example", sev=3, on="24.2.1/windows")),
        (berlin(4, 11, 30), "COB-1: remote assistance requested",
         now(app.request_remote_assistance, "COB-1")),
        (berlin(4, 12), "",
         open_(cobalt, "COB-2", "boss@cobalt.example", sev=1, on="24.2.1/windows")),
        (berlin(4, 13), "",
         open_(borealis, "BOR-2", "lead@borealis.example", sev=3, on="23.2.0/linux")),
        (berlin(4, 14), "",
         open_(acme, "ACME-3", "cto@acme.example", sev=2, on="25.1.0-beta1/linux")),
        (berlin(4, 15), "", open_(cobalt, "COB-3", "it@cobalt.example", sev=3, on="24.2.1/macos")),
        (berlin(5, 10), "ACME-2: first response", now(app.record_first_response, "ACME-2")),
        (berlin(5, 15), "BOR-1: first response, after its deadline",
         now(app.record_first_response, "BOR-1")),
        (berlin(5, 15, 30), "ACME-1: resolved", now(app.resolve_ticket, "ACME-1")),
        (berlin(5, 16), "Acme: 8 points for root-cause analysis on ACME-1",
         consume(acme, 8, "root-cause analysis", "acme-c1", ticket="ACME-1")),
        (berlin(6, 9), "ACME-1: closed", now(app.close_ticket, "ACME-1")),
        (berlin(6, 9, 15),
         f"Cobalt (Basic, no points included) buys 20 points for 1,500 EUR, until {until}",
         now(app.purchase_credits, cobalt, points=D(20), price=D(1500), key="cob-p1",
             expires_at=berlin(12, 0))),
        (berlin(6, 10), "ACME-1: first response again", now(app.record_first_response, "ACME-1")),
        (berlin(6, 10, 15), "Borealis: 100 points for a migration",
         consume(borealis, 100, "migration", "bor-c1")),
        (berlin(6, 10, 30), "Cobalt: 5 points for an installation review",
         consume(cobalt, 5, "installation review", "cob-c1", ticket="COB-1")),
        (berlin(6, 11), "Acme: 6 points for a configuration review",
         consume(acme, 6, "configuration review", "acme-c2")),
        (berlin(6, 12), "Acme: the same consumption sent again (same key: nothing recorded)",
         consume(acme, 6, "configuration review", "acme-c2")),
        (berlin(6, 14), "Acme: 2 of those points reversed (goodwill)",
         now(app.reverse_consumption, acme, key="acme-c2", points=D(2), reason="goodwill")),
        (berlin(6, 15), "Acme: a 30-minute training session",
         now(app.hold_training, acme, key="acme-t1", topic="test design")),
        (berlin(6, 16), "Borealis books a Saturday appointment (Advanced: weekday nights only)",
         now(app.book_appointment, borealis, starts_at=berlin(8, 10), ends_at=berlin(8, 14))),
        (berlin(7, 9), "Borealis upgrades to Premium (pro rata for the rest of the term)",
         now(app.change_tier, borealis, tier="premium")),
        (berlin(7, 9, 5), "Cobalt asks to move down from Basic",
         now(app.change_tier, cobalt, tier="basic")),
        (berlin(7, 16), "", open_(acme, "ACME-4", "ops@acme.example", sev=3, on="24.2.1/linux")),
        (berlin(7, 17), "Acme books a Saturday appointment 10:00-14:00 (ACME-4's clock runs then)",
         now(app.book_appointment, acme, starts_at=berlin(8, 10), ends_at=berlin(8, 14))),
        # week 2
        (berlin(10, 8, 30), "",
         open_(dynamo, "DYN-1", "dev@dynamo.example", sev=2, on="24.2.1/linux")),
        (berlin(10, 9), "ACME-4: first response", now(app.record_first_response, "ACME-4")),
        (berlin(10, 10), "Dynamo: 4 points for a code review",
         consume(dynamo, 4, "code review", "dyn-c1", ticket="DYN-1")),
        (berlin(10, 14), "DYN-1: first response", now(app.record_first_response, "DYN-1")),
        (berlin(11, 9), "", open_(dynamo, "DYN-2", "dev@dynamo.example", sev=2, on="24.2.1/linux")),
        (berlin(11, 10), "",
         open_(borealis, "BOR-3", "support@borealis.example", sev=2, on="24.2.1/linux")),
        (berlin(11, 11), "", open_(acme, "ACME-5", "qa@acme.example", sev=1, on="24.2.1/windows")),
        (berlin(11, 12, 30), "ACME-5: first response", now(app.record_first_response, "ACME-5")),
        (berlin(12, 10), "Dynamo renews after the lapse: reinstated at 80 % of the fee",
         now(app.reinstate_contract, dynamo)),
        (berlin(13, 10), "BOR-3: breach waived (the customer could not be reached)",
         now(app.waive_breach, "BOR-3", reason="customer unreachable", actor="Dana Vogel")),
        (berlin(14, 12), "COB-1: first response", now(app.record_first_response, "COB-1")),
    ]  # fmt: skip
    return [_Step(at, text, action) for at, text, action in steps]


def _read_models(
    app: SupportLedger, settings: DatabaseSettings, console: Console, dates: StoryDates
) -> None:
    """The projections, caught up once: the SLA board, breach statistics and this month's
    statement, now."""
    at, period = dates.now, dates.period
    outcomes = run_projections(settings, app, list(PROJECTIONS.values()), once=True)
    head = app.recorder.max_notification_id() or 0
    console.rule(
        "Read models (ledger projections run --once): "
        + ", ".join(f"{o.name} at {o.position}" for o in outcomes)
        + f" of {head} events"
    )
    db = ViewDatabase(settings)
    try:
        board = SlaBreachView(db).board(at, states={"all"})
        stats = SlaBreachView(db).stats("tier", at)
        credits_view = CreditUsageView(db)
        statements = credits_view.statement(period=period)
        differences = reconcile(app, credits_view, period=period)
    finally:
        db.close()
    table = Table(
        "ticket", "customer", "sev", "state", "received", "due", "responded", "business time left",
        title=f"ledger report breaches --state all (at {at.astimezone(BERLIN):%a %d %b %H:%M})",
        title_justify="left",
    )  # fmt: skip
    for row in board:
        left = row["business_seconds_left"]
        table.add_row(
            row["key"], row["customer"], str(row["severity"]), _state(row["state"]),
            _local(row["received_at"]), _local(row["due_at"]), _local(row["responded_at"]),
            duration_text(left),
        )  # fmt: skip
    console.print(table)
    table = Table(
        "tier", "tickets", "met", "breached", "waived", "breach rate", "median", "p90",
        title="ledger report breach-stats --by tier", title_justify="left",
    )  # fmt: skip
    for row in stats:
        rate = row["breach_rate"]
        table.add_row(
            row["key"], str(row["tickets"]), str(row["met"]), str(row["breached"]),
            str(row["waived"]), percent_text(rate),
            *[stats_row_text(row)[k] for k in ("median_response_seconds", "p90_response_seconds")],
        )  # fmt: skip
    console.print(table)
    console.print(statement_table(statements, f"ledger report credits --period {period}"))
    verdict = (
        "every figure agrees with the contracts' and accounts' events"
        if not differences
        else f"[red]{len(differences)} figure(s) differ from the events[/red]"
    )
    console.print(f"--check: {verdict}")
    if statements:  # revenue of the statement's month (issue 15)
        _revenue(app, settings, console, period=statements[0]["period"])


def _revenue(
    app: SupportLedger, settings: DatabaseSettings, console: Console, *, period: str
) -> None:
    """`ledger report revenue --period P --check`: fees and packages, billed, recognised,
    deferred and breakage, with totals per currency, tied out against the events."""
    from ledger.figures import REVENUE_FIGURES  # noqa: PLC0415 - the demo's last step only
    from ledger.projections.revenue import (  # noqa: PLC0415 - the demo's last step only
        RevenueView,
        reconcile_revenue,
    )
    from ledger.render import money_table  # noqa: PLC0415 - the demo's last step only

    db = ViewDatabase(settings)
    try:
        view = RevenueView(db)
        rows = view.revenue(period=period)
        differences = reconcile_revenue(app, view, period=period)
    finally:
        db.close()
    for part in ("fees", "packages"):
        columns = [(f.name, f.label) for f in REVENUE_FIGURES if f.name.startswith(part)]
        console.print(
            money_table(rows, columns, f"ledger report revenue --period {period}: {part}")
        )
    verdict = (
        "every revenue figure agrees with the events"
        if not differences
        else f"[red]{len(differences)} revenue figure(s) differ from the events[/red]"
    )
    console.print(f"--check: {verdict}")


def last_day(ends_at: datetime) -> str:
    """The last day of a term ending at a local midnight."""
    return f"{(ends_at.astimezone(BERLIN) - timedelta(days=1)):%Y-%m-%d}"


def _state(state: str) -> str:
    colour = {"breached": "red", "at_risk": "yellow", "met": "green"}.get(state)
    return f"[{colour}]{state}[/{colour}]" if colour else state


def _local(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(BERLIN).strftime("%a %d %H:%M")


def _states(
    app: SupportLedger,
    console: Console,
    contracts: dict[str, UUID],
    *,
    at: datetime,
) -> None:
    console.rule(f"States at {at.astimezone(BERLIN):%a %d %b %Y %H:%M %Z}")
    table = Table("contract", "tier", "status", "term", "fee", "contacts", "open clocks")
    for contract_id in contracts.values():
        c = current_contract_view(app, contract_id, at)
        term = next((t for t in c["terms"] if t["number"] == c["current_term"]), c["terms"][-1])
        table.add_row(
            c["customer"],
            c["tier"],
            c["status"],
            f"{term['number']} to {last_day(term['ends_at'])}",
            f"{fmt(term['fee'])} {c['currency']}",
            str(len(c["named_contacts"])),
            str(c["open_clocks"]),
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
