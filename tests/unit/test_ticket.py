"""The Ticket aggregate on its own: response clock, deadlines, breaches, waivers and lifecycle.

Expected instants are worked out by hand on the Premium/Advanced/Basic coverage (Mo-Fr
08:00-18:00 Europe/Berlin, German public holidays). March 2025 before the 30th is CET (UTC+1).
Monday 2025-03-03 is the usual day of receipt.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from ledger.calendars import calendar_from_mapping, contract_calendar
from ledger.domain.clock import ClockWarning, PatchRequest
from ledger.domain.errors import (
    InvalidInputError,
    LedgerError,
    NaiveDatetimeError,
    NotIncludedInTierError,
    OutOfOrderError,
    PatchNotEligibleError,
    TicketDeclinedError,
    TicketStateError,
)
from ledger.domain.releases import parse_version
from ledger.domain.ticket import Ticket
from ledger.terms import load_terms
from tests.conftest import berlin, utc
from tests.unit.aggregate_case import aggregate_case, event, given, refused

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ledger.domain.calendar import BusinessCalendar
    from ledger.domain.terms import TierTerms

    Command = Callable[[Ticket, datetime], Any]
    Steps = tuple[tuple[Command, datetime], ...]

TERMS = load_terms()
THRESHOLDS = TERMS.warning_thresholds
HALF = Decimal("0.50")
THREE_QUARTERS = Decimal("0.75")
PREMIUM = TERMS.tier("premium")
ADVANCED = TERMS.tier("advanced")
BASIC = TERMS.tier("basic")
PATCH_SEVERITIES = TERMS.eligibility.patch_severities
SUPPORTED_LINES = ("24.2", "24.1")
CONTRACT_ID = uuid.UUID("0b9d7a52-1f43-4a3e-9c55-6f2f0d1e7a11")
WORKDAYS = ["mon", "tue", "wed", "thu", "fri"]

MONDAY_0915 = berlin(2025, 3, 3, 9, 15)
NAIVE = datetime(2025, 3, 4, 12)


def calendar_for(
    tier: TierTerms = PREMIUM, appointments: Sequence[tuple[datetime, datetime]] = ()
) -> BusinessCalendar:
    """The contract calendar of a tier in Berlin with German holidays."""
    return contract_calendar(
        tier, timezone="Europe/Berlin", holiday_region="DE", appointments=tuple(appointments)
    )


CALENDAR = calendar_for()
# The same coverage as the tiers' with a few more dates closed (a calendar change).
CLOSED_FRIDAY_0307 = calendar_from_mapping(
    {
        "timezone": "Europe/Berlin",
        "weekly": {day: [["08:00", "18:00"]] for day in WORKDAYS},
        "holiday_region": "DE",
        "holidays": ["2025-03-07"],
    }
)
CLOSED_MONDAY_0303 = calendar_from_mapping(
    {
        "timezone": "Europe/Berlin",
        "weekly": {day: [["08:00", "18:00"]] for day in WORKDAYS},
        "holiday_region": "DE",
        "holidays": ["2025-03-03"],
    }
)
# An appointment on Saturday 2025-03-08, 10:00-13:00 Berlin (Premium allows weekends).
SATURDAY_APPOINTMENT = calendar_for(appointments=[(berlin(2025, 3, 8, 10), berlin(2025, 3, 8, 13))])
# An appointment long after any deadline in these tests.
LATE_APPOINTMENT = calendar_for(appointments=[(berlin(2025, 3, 15, 10), berlin(2025, 3, 15, 13))])

# -- helpers ---------------------------------------------------------------------------------


def open_ticket(
    *,
    tier: TierTerms = PREMIUM,
    severity: int = 1,
    received_at: datetime = MONDAY_0915,
    version: str = "24.2.1",
    reporter: str = "anna@acme.example",
    calendar: BusinessCalendar | None = None,
) -> Ticket:
    """A freshly opened ticket, its Opened event still pending."""
    return Ticket.open(
        external_key="T-1",
        contract_id=CONTRACT_ID,
        customer="ACME",
        tier_terms=tier,
        terms_version=TERMS.version,
        thresholds=THRESHOLDS,
        reporter=reporter,
        severity=severity,
        version=parse_version(version),
        platform="windows",
        license_kind="commercial",
        received_at=received_at,
        calendar=calendar or calendar_for(tier),
        calendar_revision=1,
    )


def given_ticket(*steps: tuple[Command, datetime], **opening: Any) -> Ticket:
    """An opened ticket after `steps` (command, at), with every pending event collected."""
    ticket = open_ticket(**opening)
    for command, at in steps:
        command(ticket, at)
    ticket.collect_events()
    return ticket


def ticket_history(*steps: tuple[Command, datetime], **opening: Any) -> list[Any]:
    """The events of a ticket opened (as `open_ticket`) and then changed by `steps`."""
    return given(lambda: open_ticket(**opening), *(on(command, at) for command, at in steps))


def on(command: Command, at: datetime) -> Callable[[Ticket], Any]:
    """`command` given at `at`."""
    return lambda ticket: command(ticket, at)


def given_declined() -> Ticket:
    """A declined request, with its pending event collected."""
    ticket = decline_request()
    ticket.collect_events()
    return ticket


def decline_request(received_at: datetime = MONDAY_0915) -> Ticket:
    """A request declined because it came under a free license."""
    return Ticket.decline(
        external_key="T-9",
        contract_id=CONTRACT_ID,
        customer="ACME",
        reporter="Someone@ACME.example",
        severity=1,
        product_version="24.2.1",
        platform="windows",
        license_kind="free",
        received_at=received_at,
        reason="free_license",
        message="free licenses include no support",
        details={"license_kind": "free"},
    )


def kinds(events: Sequence[object]) -> list[type]:
    """The classes of the events, in order."""
    return [type(event) for event in events]


def warning_instants(ticket: Ticket) -> list[datetime | None]:
    """The instants of the ticket's warnings, 50 % first."""
    return [warning.at for warning in ticket.warnings]


def hold(ticket: Ticket, at: datetime) -> None:
    ticket.hold(at=at, calendar=CALENDAR, thresholds=THRESHOLDS)


def resume(ticket: Ticket, at: datetime) -> None:
    ticket.resume(at=at, calendar=CALENDAR, thresholds=THRESHOLDS)


def respond(ticket: Ticket, at: datetime) -> str:
    return ticket.record_first_response(at=at, calendar=CALENDAR)


def change_severity_to(severity: int) -> Callable[[Ticket, datetime], None]:
    def change(ticket: Ticket, at: datetime) -> None:
        ticket.change_severity(
            severity=severity,
            tier_terms=PREMIUM,
            at=at,
            calendar=CALENDAR,
            thresholds=THRESHOLDS,
        )

    return change


def recalculate_with(calendar: BusinessCalendar) -> Callable[[Ticket, datetime], bool]:
    def recalculate(ticket: Ticket, at: datetime) -> bool:
        return ticket.recalculate(
            reason="calendar changed",
            at=at,
            calendar=calendar,
            calendar_revision=2,
            thresholds=THRESHOLDS,
        )

    return recalculate


def record_breach(ticket: Ticket, at: datetime) -> bool:
    return ticket.record_breach(at=at, late=False)


def record_half_warning(ticket: Ticket, at: datetime) -> bool:
    return ticket.record_warning(share=HALF, at=at, late=False)


def waive(ticket: Ticket, at: datetime) -> None:
    ticket.waive_breach(reason="customer agreed", actor="ops@vendor.example", at=at)


def resolve(ticket: Ticket, at: datetime) -> str | None:
    return ticket.resolve(at=at, calendar=CALENDAR)


def reopen(ticket: Ticket, at: datetime) -> None:
    ticket.reopen(at=at)


def close(ticket: Ticket, at: datetime) -> None:
    ticket.close(at=at)


def request_remote_assistance(ticket: Ticket, at: datetime) -> None:
    ticket.request_remote_assistance(tier_terms=PREMIUM, at=at)


def request_patch(ticket: Ticket, at: datetime) -> None:
    ticket.request_patch(supported_lines=SUPPORTED_LINES, patch_severities=PATCH_SEVERITIES, at=at)


# -- opening ---------------------------------------------------------------------------------


def test_opening_records_the_request_with_its_deadline_and_warnings() -> None:
    """Opened carries the received instant, the target and the deadline and warnings in UTC."""
    ticket = open_ticket(reporter="Anna@ACME.example")

    events = ticket.collect_events()

    assert kinds(events) == [Ticket.Opened]
    opened = events[0]
    assert opened.received_at == MONDAY_0915
    assert opened.received_at.tzinfo is UTC
    assert opened.target_seconds == 8 * 3600
    assert opened.due_at == berlin(2025, 3, 3, 17, 15)
    assert opened.due_at.tzinfo is UTC
    assert opened.warnings == [
        {"share": HALF, "at": berlin(2025, 3, 3, 13, 15), "reached": False},
        {"share": THREE_QUARTERS, "at": berlin(2025, 3, 3, 15, 15), "reached": False},
    ]
    assert opened.tier == "premium"
    assert opened.terms_version == TERMS.version
    assert opened.severity == 1
    assert opened.product_version == "24.2.1"
    assert opened.release_line == "24.2"
    assert opened.reporter == "anna@acme.example"
    assert opened.calendar_revision == 1
    assert ticket.id == Ticket.create_id("T-1")
    assert ticket.status == "open"
    assert ticket.clock_state == "running"
    assert ticket.due_at == ticket.original_due_at == berlin(2025, 3, 3, 17, 15)
    assert ticket.responded_at is None
    assert ticket.outcome is None


DEADLINES = [
    pytest.param(
        PREMIUM,
        1,
        berlin(2025, 3, 3, 17, 15),
        berlin(2025, 3, 3, 13, 15),
        berlin(2025, 3, 3, 15, 15),
        id="premium-sev1-8h",
    ),
    pytest.param(
        PREMIUM,
        2,
        berlin(2025, 3, 4, 11, 15),
        berlin(2025, 3, 3, 15, 15),
        berlin(2025, 3, 4, 8, 15),
        id="premium-sev2-12h",
    ),
    pytest.param(
        PREMIUM,
        3,
        berlin(2025, 3, 5, 13, 15),
        berlin(2025, 3, 4, 11, 15),
        berlin(2025, 3, 4, 17, 15),
        id="premium-sev3-24h",
    ),
    pytest.param(
        ADVANCED,
        1,
        berlin(2025, 3, 4, 15, 15),
        berlin(2025, 3, 3, 17, 15),
        berlin(2025, 3, 4, 11, 15),
        id="advanced-sev1-16h",
    ),
    pytest.param(
        ADVANCED,
        3,
        berlin(2025, 3, 6, 15, 15),
        berlin(2025, 3, 4, 17, 15),
        berlin(2025, 3, 5, 16, 15),
        id="advanced-sev3-36h",
    ),
    pytest.param(
        BASIC,
        2,
        berlin(2025, 3, 7, 17, 15),
        berlin(2025, 3, 5, 13, 15),
        berlin(2025, 3, 6, 15, 15),
        id="basic-sev2-48h",
    ),
    pytest.param(
        BASIC,
        3,
        berlin(2025, 3, 12, 11, 15),
        berlin(2025, 3, 6, 15, 15),
        berlin(2025, 3, 10, 13, 15),
        id="basic-sev3-72h-over-a-weekend",
    ),
]


@pytest.mark.parametrize(("tier", "severity", "due", "half", "three_quarters"), DEADLINES)
def test_opening_counts_the_target_and_its_shares_in_business_hours(
    tier: TierTerms, severity: int, due: datetime, half: datetime, three_quarters: datetime
) -> None:
    """The deadline and the 50 %/75 % warnings are the tier's target counted in covered time."""
    ticket = open_ticket(tier=tier, severity=severity)

    assert ticket.due_at == due
    assert warning_instants(ticket) == [half, three_quarters]


OUTSIDE_HOURS = [
    pytest.param(
        berlin(2025, 3, 1, 10),
        berlin(2025, 3, 3, 16),
        berlin(2025, 3, 3, 12),
        berlin(2025, 3, 3, 14),
        id="saturday-counts-from-monday-0800",
    ),
    pytest.param(
        berlin(2025, 3, 3, 6, 30),
        berlin(2025, 3, 3, 16),
        berlin(2025, 3, 3, 12),
        berlin(2025, 3, 3, 14),
        id="before-hours-counts-from-0800",
    ),
    pytest.param(
        berlin(2025, 3, 3, 18),
        berlin(2025, 3, 4, 16),
        berlin(2025, 3, 4, 12),
        berlin(2025, 3, 4, 14),
        id="at-1800-counts-from-next-morning",
    ),
    pytest.param(
        berlin(2025, 3, 7, 18, 30),
        berlin(2025, 3, 10, 16),
        berlin(2025, 3, 10, 12),
        berlin(2025, 3, 10, 14),
        id="friday-evening-counts-from-monday",
    ),
    pytest.param(
        berlin(2025, 4, 17, 14),
        berlin(2025, 4, 22, 12),
        berlin(2025, 4, 17, 18),
        berlin(2025, 4, 22, 10),
        id="easter-good-friday-and-monday-skipped",
    ),
    pytest.param(
        berlin(2025, 4, 21, 10),
        berlin(2025, 4, 22, 16),
        berlin(2025, 4, 22, 12),
        berlin(2025, 4, 22, 14),
        id="received-on-easter-monday",
    ),
    pytest.param(
        berlin(2025, 4, 30, 15),
        berlin(2025, 5, 2, 13),
        berlin(2025, 5, 2, 9),
        berlin(2025, 5, 2, 11),
        id="labour-day-skipped",
    ),
    pytest.param(
        berlin(2025, 3, 28, 16),
        utc(2025, 3, 31, 12),
        utc(2025, 3, 31, 8),
        utc(2025, 3, 31, 10),
        id="across-the-spring-dst-weekend",
    ),
]


@pytest.mark.parametrize(("received", "due", "half", "three_quarters"), OUTSIDE_HOURS)
def test_a_request_received_outside_hours_counts_from_the_next_covered_instant(
    received: datetime, due: datetime, half: datetime, three_quarters: datetime
) -> None:
    """Premium severity 1 (8 h) counts from the next covered instant and skips German holidays."""
    ticket = open_ticket(received_at=received)

    assert ticket.received_at == received
    assert ticket.due_at == due
    assert warning_instants(ticket) == [half, three_quarters]


def test_an_appointment_window_counts_as_covered_time_at_opening() -> None:
    """A booked Saturday appointment counts toward the target from the start."""
    ticket = open_ticket(received_at=berlin(2025, 3, 7, 16), calendar=SATURDAY_APPOINTMENT)

    assert ticket.due_at == berlin(2025, 3, 10, 11)
    assert warning_instants(ticket) == [berlin(2025, 3, 8, 12), berlin(2025, 3, 10, 9)]


# -- hold and resume -------------------------------------------------------------------------


def test_a_hold_pauses_the_clock_and_leaves_no_deadline() -> None:
    """While paused before the target is reached there is no deadline and no pending warning."""
    ticket = given_ticket()

    hold(ticket, berlin(2025, 3, 3, 11, 15))

    events = ticket.collect_events()
    assert kinds(events) == [Ticket.Held]
    assert events[0].held_at == berlin(2025, 3, 3, 11, 15)
    assert events[0].due_at is None
    assert [w["at"] for w in events[0].warnings] == [None, None]
    assert ticket.status == "on_hold"
    assert ticket.clock_state == "paused"
    assert ticket.due_at is None
    assert ticket.original_due_at == berlin(2025, 3, 3, 17, 15)


@pytest.mark.parametrize(
    "held_at",
    [
        pytest.param(berlin(2025, 3, 3, 17, 15), id="exactly-at-the-deadline"),
        pytest.param(berlin(2025, 3, 3, 17, 45), id="after-the-deadline"),
    ],
)
def test_a_hold_after_the_target_was_reached_keeps_the_deadline(held_at: datetime) -> None:
    """A clock paused after using its whole target keeps its deadline and warnings."""
    ticket = given_ticket()

    hold(ticket, held_at)

    assert ticket.clock_state == "paused"
    assert ticket.due_at == berlin(2025, 3, 3, 17, 15)
    assert warning_instants(ticket) == [berlin(2025, 3, 3, 13, 15), berlin(2025, 3, 3, 15, 15)]


def test_a_hold_between_the_warnings_keeps_only_the_warning_already_due() -> None:
    """Paused at 14:00, the 50 % instant (13:15) stays; the 75 % one and the deadline are open."""
    ticket = given_ticket()

    hold(ticket, berlin(2025, 3, 3, 14))

    assert ticket.due_at is None
    assert warning_instants(ticket) == [berlin(2025, 3, 3, 13, 15), None]


def test_resume_recomputes_the_deadline_from_the_remaining_target() -> None:
    """Held after 2 h of 8 h and resumed Tuesday 10:00, the remaining 6 h end Tuesday 16:00."""
    ticket = given_ticket((hold, berlin(2025, 3, 3, 11, 15)))

    resume(ticket, berlin(2025, 3, 4, 10))

    events = ticket.collect_events()
    assert kinds(events) == [Ticket.Resumed]
    assert events[0].resumed_at == berlin(2025, 3, 4, 10)
    assert events[0].due_at == berlin(2025, 3, 4, 16)
    assert ticket.status == "open"
    assert ticket.clock_state == "running"
    assert ticket.due_at == berlin(2025, 3, 4, 16)
    assert warning_instants(ticket) == [berlin(2025, 3, 4, 12), berlin(2025, 3, 4, 14)]
    assert ticket.original_due_at == berlin(2025, 3, 3, 17, 15)


def test_several_holds_add_up() -> None:
    """Each resume counts only the covered time the running periods have not used yet."""
    ticket = given_ticket()

    hold(ticket, berlin(2025, 3, 3, 10, 15))  # 1 h used
    assert ticket.due_at is None
    resume(ticket, berlin(2025, 3, 3, 12))  # 7 h left: 6 h on Monday, 1 h on Tuesday
    assert ticket.due_at == berlin(2025, 3, 4, 9)
    assert warning_instants(ticket) == [berlin(2025, 3, 3, 15), berlin(2025, 3, 3, 17)]
    hold(ticket, berlin(2025, 3, 3, 13))  # 2 h used
    assert ticket.due_at is None
    resume(ticket, berlin(2025, 3, 4, 9))  # 6 h left

    assert ticket.due_at == berlin(2025, 3, 4, 15)
    assert warning_instants(ticket) == [berlin(2025, 3, 4, 11), berlin(2025, 3, 4, 13)]
    assert kinds(ticket.collect_events()) == [
        Ticket.Held,
        Ticket.Resumed,
        Ticket.Held,
        Ticket.Resumed,
    ]


def test_a_hold_outside_covered_time_does_not_move_the_deadline() -> None:
    """Held Monday 19:00 and resumed Tuesday 07:00, a severity 2 clock still ends Tuesday 11:15."""
    ticket = given_ticket(severity=2)

    hold(ticket, berlin(2025, 3, 3, 19))
    resume(ticket, berlin(2025, 3, 4, 7))

    assert ticket.due_at == berlin(2025, 3, 4, 11, 15)


CLOCK_STATE_REFUSALS = [
    pytest.param((), resume, berlin(2025, 3, 3, 12), id="resume-when-not-on-hold"),
    pytest.param(
        ((hold, berlin(2025, 3, 3, 11)),), hold, berlin(2025, 3, 3, 12), id="hold-when-on-hold"
    ),
    pytest.param(
        ((respond, berlin(2025, 3, 3, 11)),),
        hold,
        berlin(2025, 3, 3, 12),
        id="hold-after-the-response",
    ),
    pytest.param(
        ((hold, berlin(2025, 3, 3, 11)), (respond, berlin(2025, 3, 3, 11, 30))),
        resume,
        berlin(2025, 3, 3, 12),
        id="resume-after-a-response-while-paused",
    ),
    pytest.param((), change_severity_to(1), berlin(2025, 3, 3, 12), id="same-severity"),
]


@pytest.mark.parametrize(("steps", "command", "at"), CLOCK_STATE_REFUSALS)
def test_clock_commands_in_the_wrong_state_are_refused_and_record_nothing(
    steps: Steps,
    command: Command,
    at: datetime,
) -> None:
    """Hold needs a running clock, resume a paused one, a severity change a new severity."""
    ticket = given_ticket(*steps)

    with pytest.raises(TicketStateError):
        command(ticket, at)

    assert ticket.collect_events() == []


# -- severity --------------------------------------------------------------------------------

SEVERITY_CHANGES = [
    pytest.param(
        3,
        1,
        berlin(2025, 3, 5, 13, 15),
        berlin(2025, 3, 3, 17, 15),
        [berlin(2025, 3, 3, 13, 15), berlin(2025, 3, 3, 15, 15)],
        id="raised-3-to-1",
    ),
    pytest.param(
        1,
        2,
        berlin(2025, 3, 3, 17, 15),
        berlin(2025, 3, 4, 11, 15),
        [berlin(2025, 3, 3, 15, 15), berlin(2025, 3, 4, 8, 15)],
        id="lowered-1-to-2",
    ),
    pytest.param(
        1,
        3,
        berlin(2025, 3, 3, 17, 15),
        berlin(2025, 3, 5, 13, 15),
        [berlin(2025, 3, 4, 11, 15), berlin(2025, 3, 4, 17, 15)],
        id="lowered-1-to-3",
    ),
]


@pytest.mark.parametrize(
    ("opened_as", "changed_to", "previous_due", "due", "warnings"), SEVERITY_CHANGES
)
def test_a_severity_change_keeps_the_start_and_applies_the_new_target(
    opened_as: int,
    changed_to: int,
    previous_due: datetime,
    due: datetime,
    warnings: list[datetime],
) -> None:
    """The new target counts from the original start; the original deadline stays on record."""
    ticket = given_ticket(severity=opened_as)

    change_severity_to(changed_to)(ticket, berlin(2025, 3, 3, 10))

    events = ticket.collect_events()
    assert kinds(events) == [Ticket.SeverityChanged]
    changed = events[0]
    assert changed.severity == changed_to
    assert changed.previous_severity == opened_as
    assert changed.target_seconds == PREMIUM.response_hours[changed_to] * 3600
    assert changed.previous_due_at == previous_due
    assert changed.due_at == due
    assert changed.changed_at == berlin(2025, 3, 3, 10)
    assert ticket.severity == changed_to
    assert ticket.opened_severity == opened_as
    assert ticket.due_at == due
    assert warning_instants(ticket) == warnings
    assert ticket.original_due_at == previous_due


def test_a_severity_change_while_on_hold_takes_effect_when_the_clock_resumes() -> None:
    """Raised to severity 1 after 2 h, paused, then resumed Tuesday 08:00: due Tuesday 14:00."""
    ticket = given_ticket((hold, berlin(2025, 3, 3, 11, 15)), severity=3)

    change_severity_to(1)(ticket, berlin(2025, 3, 3, 12))
    assert ticket.due_at is None
    resume(ticket, berlin(2025, 3, 4, 8))

    assert ticket.due_at == berlin(2025, 3, 4, 14)
    assert warning_instants(ticket) == [berlin(2025, 3, 4, 10), berlin(2025, 3, 4, 12)]


def test_a_smaller_target_already_used_during_a_hold_puts_the_deadline_in_the_past() -> None:
    """8.5 h used before a hold, raised to 8 h: due Monday 17:15, and a later response breaches."""
    ticket = given_ticket((hold, berlin(2025, 3, 3, 17, 45)), severity=3)

    change_severity_to(1)(ticket, berlin(2025, 3, 4, 9))
    outcome = respond(ticket, berlin(2025, 3, 4, 10))

    assert ticket.due_at == berlin(2025, 3, 3, 17, 15)
    assert outcome == "breached"
    response = ticket.collect_events()[-1]
    assert response.used_seconds == 8 * 3600 + 30 * 60
    assert response.overdue_seconds == 30 * 60


def test_a_severity_change_after_the_first_response_does_not_move_the_deadline() -> None:
    """Once the clock stopped, a new severity is recorded but the deadline and outcome stay."""
    ticket = given_ticket((respond, berlin(2025, 3, 3, 10)), severity=3)

    change_severity_to(1)(ticket, berlin(2025, 3, 3, 11))

    events = ticket.collect_events()
    assert kinds(events) == [Ticket.SeverityChanged]
    assert events[0].previous_due_at == berlin(2025, 3, 5, 13, 15)
    assert events[0].due_at == berlin(2025, 3, 5, 13, 15)
    assert ticket.severity == 1
    assert ticket.target_seconds == 8 * 3600
    assert ticket.due_at == berlin(2025, 3, 5, 13, 15)
    assert ticket.outcome == "met"
    assert ticket.clock_state == "stopped"


def test_a_warning_already_recorded_stays_recorded_after_a_severity_change() -> None:
    """Each warning share is emitted once per ticket, also across a severity change."""
    ticket = given_ticket((record_half_warning, berlin(2025, 3, 3, 13, 15)))

    change_severity_to(2)(ticket, berlin(2025, 3, 3, 14))

    assert [w.reached for w in ticket.warnings] == [True, False]
    assert record_half_warning(ticket, berlin(2025, 3, 3, 15, 15)) is False


# -- recalculation ---------------------------------------------------------------------------


def test_recalculating_with_a_booked_appointment_moves_the_deadline_earlier() -> None:
    """A Saturday appointment adds 3 h of covered time; the event records the reason."""
    ticket = given_ticket(received_at=berlin(2025, 3, 7, 16))
    assert ticket.due_at == berlin(2025, 3, 10, 14)

    moved = ticket.recalculate(
        reason="appointment booked for 2025-03-08",
        at=berlin(2025, 3, 7, 17),
        calendar=SATURDAY_APPOINTMENT,
        calendar_revision=2,
        thresholds=THRESHOLDS,
    )

    assert moved is True
    events = ticket.collect_events()
    assert kinds(events) == [Ticket.DeadlineRecalculated]
    recalculated = events[0]
    assert recalculated.reason == "appointment booked for 2025-03-08"
    assert recalculated.previous_due_at == berlin(2025, 3, 10, 14)
    assert recalculated.due_at == berlin(2025, 3, 10, 11)
    assert recalculated.calendar_revision == 2
    assert recalculated.recalculated_at == berlin(2025, 3, 7, 17)
    assert ticket.due_at == berlin(2025, 3, 10, 11)
    assert warning_instants(ticket) == [berlin(2025, 3, 8, 12), berlin(2025, 3, 10, 9)]
    assert ticket.calendar_revision == 2
    assert ticket.original_due_at == berlin(2025, 3, 10, 14)


def test_recalculating_keeps_the_instant_of_a_warning_already_reached() -> None:
    """A reached warning keeps its instant; the deadline and the open warning move."""
    ticket = given_ticket(
        (record_half_warning, berlin(2025, 3, 7, 11)),
        severity=3,
        received_at=berlin(2025, 3, 6, 9),
    )

    moved = recalculate_with(CLOSED_FRIDAY_0307)(ticket, berlin(2025, 3, 7, 11, 30))

    assert moved is True
    assert ticket.due_at == berlin(2025, 3, 11, 13)
    assert ticket.warnings == [
        ClockWarning(share=HALF, at=berlin(2025, 3, 7, 11), reached=True),
        ClockWarning(share=THREE_QUARTERS, at=berlin(2025, 3, 10, 17), reached=False),
    ]


UNCHANGED_RECALCULATIONS = [
    pytest.param((), CALENDAR, id="same-calendar"),
    pytest.param((), LATE_APPOINTMENT, id="appointment-after-the-deadline"),
    pytest.param(
        ((hold, berlin(2025, 3, 7, 17)),), SATURDAY_APPOINTMENT, id="paused-before-the-appointment"
    ),
    pytest.param(((respond, berlin(2025, 3, 7, 17)),), SATURDAY_APPOINTMENT, id="clock-stopped"),
    pytest.param(
        ((record_breach, berlin(2025, 3, 10, 14, 0, 1)),),
        SATURDAY_APPOINTMENT,
        id="breach-recorded",
    ),
]


@pytest.mark.parametrize(("steps", "calendar"), UNCHANGED_RECALCULATIONS)
def test_recalculating_returns_false_and_records_nothing_when_nothing_may_move(
    steps: Steps,
    calendar: BusinessCalendar,
) -> None:
    """No recalculation event when the figures are equal, the clock stopped or a breach stands."""
    ticket = given_ticket(*steps, received_at=berlin(2025, 3, 7, 16))
    due_before = ticket.due_at

    moved = recalculate_with(calendar)(ticket, berlin(2025, 3, 11, 9))

    assert moved is False
    assert ticket.collect_events() == []
    assert ticket.due_at == due_before
    assert ticket.calendar_revision == 1


# -- first response --------------------------------------------------------------------------

RESPONSES = [
    pytest.param(berlin(2025, 3, 3, 12, 15), "met", 3 * 3600, 0, id="well-before"),
    pytest.param(berlin(2025, 3, 3, 17, 15), "met", 8 * 3600, 0, id="exactly-at-the-deadline"),
    pytest.param(berlin(2025, 3, 3, 17, 15, 1), "breached", 8 * 3600 + 1, 1, id="one-second-late"),
    pytest.param(
        berlin(2025, 3, 3, 19), "breached", 8 * 3600 + 45 * 60, 45 * 60, id="same-evening"
    ),
    pytest.param(
        berlin(2025, 3, 4, 9),
        "breached",
        9 * 3600 + 45 * 60,
        3600 + 45 * 60,
        id="next-morning",
    ),
]


@pytest.mark.parametrize(("at", "outcome", "used", "overdue"), RESPONSES)
def test_the_first_response_is_met_at_or_before_the_deadline_and_breached_after(
    at: datetime, outcome: str, used: int, overdue: int
) -> None:
    """Met when at or before due_at, breached after; used and overdue are covered seconds."""
    ticket = given_ticket()

    result = respond(ticket, at)

    assert result == outcome
    events = ticket.collect_events()
    assert kinds(events) == [Ticket.FirstResponseRecorded]
    response = events[0]
    assert response.responded_at == at
    assert response.due_at == berlin(2025, 3, 3, 17, 15)
    assert response.outcome == outcome
    assert response.used_seconds == used
    assert response.overdue_seconds == overdue
    assert ticket.responded_at == at
    assert ticket.outcome == outcome
    assert ticket.clock_state == "stopped"


def test_a_response_while_paused_counts_only_the_running_time() -> None:
    """Responding during a hold that began after 2 h is met with 2 h used and no deadline."""
    ticket = given_ticket((hold, berlin(2025, 3, 3, 11, 15)))

    result = respond(ticket, berlin(2025, 3, 3, 14))

    assert result == "met"
    response = ticket.collect_events()[0]
    assert response.due_at is None
    assert response.used_seconds == 2 * 3600
    assert response.overdue_seconds == 0
    assert ticket.clock_state == "stopped"


def test_a_response_while_paused_after_the_deadline_is_breached() -> None:
    """Held at 17:45 after the 17:15 deadline, a response on Tuesday is breached by 30 min."""
    ticket = given_ticket((hold, berlin(2025, 3, 3, 17, 45)))

    result = respond(ticket, berlin(2025, 3, 4, 9))

    assert result == "breached"
    response = ticket.collect_events()[0]
    assert response.used_seconds == 8 * 3600 + 30 * 60
    assert response.overdue_seconds == 30 * 60


def test_a_second_first_response_is_refused() -> None:
    """The first response is recorded once."""
    ticket = given_ticket((respond, berlin(2025, 3, 3, 10)))

    with pytest.raises(TicketStateError, match="already recorded"):
        respond(ticket, berlin(2025, 3, 3, 11))

    assert ticket.collect_events() == []
    assert ticket.responded_at == berlin(2025, 3, 3, 10)


def test_breached_by_follows_the_times_until_the_outcome_is_known() -> None:
    """Before a response the deadline decides; after it, the recorded outcome does."""
    ticket = given_ticket()

    assert ticket.breached_by(berlin(2025, 3, 3, 17, 15)) is False
    assert ticket.breached_by(berlin(2025, 3, 3, 17, 15, 1)) is True
    respond(ticket, berlin(2025, 3, 3, 17))
    assert ticket.breached_by(berlin(2025, 3, 10)) is False


# -- recorded breaches -----------------------------------------------------------------------


def test_a_breach_is_recorded_strictly_after_the_deadline_and_once() -> None:
    """record_breach records the deadline it passed, the instant and whether it came late."""
    ticket = given_ticket()

    recorded = ticket.record_breach(at=berlin(2025, 3, 3, 17, 15, 1), late=True)

    assert recorded is True
    events = ticket.collect_events()
    assert kinds(events) == [Ticket.ResponseDeadlineBreached]
    assert events[0].due_at == berlin(2025, 3, 3, 17, 15)
    assert events[0].recorded_at == berlin(2025, 3, 3, 17, 15, 1)
    assert events[0].late is True
    assert ticket.breach_recorded is True
    assert record_breach(ticket, berlin(2025, 3, 4, 9)) is False
    assert ticket.collect_events() == []


NO_BREACH = [
    pytest.param((), berlin(2025, 3, 3, 17), id="before-the-deadline"),
    pytest.param((), berlin(2025, 3, 3, 17, 15), id="exactly-at-the-deadline"),
    pytest.param(((respond, berlin(2025, 3, 3, 16)),), berlin(2025, 3, 4, 9), id="after-met"),
    pytest.param(
        ((respond, berlin(2025, 3, 3, 18)),), berlin(2025, 3, 4, 9), id="after-a-late-response"
    ),
    pytest.param(((hold, berlin(2025, 3, 3, 11)),), berlin(2025, 3, 4, 9), id="while-paused"),
]


@pytest.mark.parametrize(("steps", "at"), NO_BREACH)
def test_no_breach_is_recorded_by_the_deadline_after_a_response_or_while_paused(
    steps: Steps, at: datetime
) -> None:
    """record_breach returns False and records nothing when the deadline has not passed."""
    ticket = given_ticket(*steps)

    assert record_breach(ticket, at) is False
    assert ticket.collect_events() == []
    assert ticket.breach_recorded is False


# -- warnings --------------------------------------------------------------------------------


def test_a_warning_is_recorded_from_its_instant_on_and_marks_the_share_reached() -> None:
    """The 50 % warning is recorded at 13:15 exactly, with the instant it was due."""
    ticket = given_ticket()

    recorded = ticket.record_warning(share=HALF, at=berlin(2025, 3, 3, 13, 15), late=False)

    assert recorded is True
    events = ticket.collect_events()
    assert kinds(events) == [Ticket.WarningReached]
    assert events[0].share == HALF
    assert events[0].warning_at == berlin(2025, 3, 3, 13, 15)
    assert events[0].recorded_at == berlin(2025, 3, 3, 13, 15)
    assert events[0].late is False
    assert [w.reached for w in ticket.warnings] == [True, False]


def test_each_warning_share_is_recorded_on_its_own() -> None:
    """The 75 % warning is independent of the 50 % one and may be recorded late."""
    ticket = given_ticket((record_half_warning, berlin(2025, 3, 3, 13, 15)))

    recorded = ticket.record_warning(share=THREE_QUARTERS, at=berlin(2025, 3, 3, 16), late=True)

    assert recorded is True
    event = ticket.collect_events()[0]
    assert event.warning_at == berlin(2025, 3, 3, 15, 15)
    assert event.late is True
    assert [w.reached for w in ticket.warnings] == [True, True]


NO_WARNING = [
    pytest.param((), HALF, berlin(2025, 3, 3, 13, 14, 59), id="before-its-instant"),
    pytest.param(
        ((record_half_warning, berlin(2025, 3, 3, 13, 15)),),
        HALF,
        berlin(2025, 3, 3, 14),
        id="already-recorded",
    ),
    pytest.param(
        ((respond, berlin(2025, 3, 3, 12)),), HALF, berlin(2025, 3, 3, 14), id="after-a-response"
    ),
    pytest.param(
        ((hold, berlin(2025, 3, 3, 11)),), HALF, berlin(2025, 3, 4, 14), id="paused-before-it"
    ),
    pytest.param((), Decimal("0.9"), berlin(2025, 3, 3, 17), id="unknown-share"),
]


@pytest.mark.parametrize(("steps", "share", "at"), NO_WARNING)
def test_a_warning_that_does_not_apply_returns_false_and_records_nothing(
    steps: Steps,
    share: Decimal,
    at: datetime,
) -> None:
    """A warning is recorded once per share, not before its instant and not after a response."""
    ticket = given_ticket(*steps)

    assert ticket.record_warning(share=share, at=at, late=False) is False
    assert ticket.collect_events() == []


# -- waivers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "responded_at",
    [
        pytest.param(berlin(2025, 3, 3, 17), id="before-the-deadline"),
        pytest.param(berlin(2025, 3, 3, 17, 15), id="exactly-at-the-deadline"),
    ],
)
def test_a_response_entered_late_but_made_in_time_waives_the_recorded_breach(
    responded_at: datetime,
) -> None:
    """Breach recorded, then a response dated by the deadline: met, and the breach is waived."""
    ticket = given_ticket((record_breach, berlin(2025, 3, 3, 17, 20)))

    outcome = respond(ticket, responded_at)

    assert outcome == "met"
    events = ticket.collect_events()
    assert kinds(events) == [Ticket.FirstResponseRecorded, Ticket.BreachWaived]
    assert events[0].outcome == "met"
    assert events[1].actor == "ledger"
    assert events[1].waived_at == responded_at
    assert events[1].reason
    assert ticket.outcome == "met"
    assert ticket.breach_recorded is True
    assert ticket.breach_waived is True
    assert ticket.breached_by(berlin(2025, 3, 4, 9)) is False


def test_a_late_response_after_a_recorded_breach_is_breached_and_not_waived() -> None:
    """A response after the deadline confirms the recorded breach."""
    ticket = given_ticket((record_breach, berlin(2025, 3, 3, 17, 20)))

    outcome = respond(ticket, berlin(2025, 3, 3, 17, 30))

    assert outcome == "breached"
    assert kinds(ticket.collect_events()) == [Ticket.FirstResponseRecorded]
    assert ticket.breach_waived is False


def test_a_recorded_breach_is_waived_with_reason_and_actor() -> None:
    """A waiver is a new event with the reason and who decided; the breach stays recorded."""
    ticket = given_ticket((record_breach, berlin(2025, 3, 3, 17, 20)))

    ticket.waive_breach(
        reason="  outage on our side  ", actor=" lead@vendor.example ", at=berlin(2025, 3, 4, 9)
    )

    events = ticket.collect_events()
    assert kinds(events) == [Ticket.BreachWaived]
    assert events[0].reason == "outage on our side"
    assert events[0].actor == "lead@vendor.example"
    assert events[0].waived_at == berlin(2025, 3, 4, 9)
    assert ticket.breach_recorded is True
    assert ticket.breach_waived is True


def test_a_breach_by_the_times_can_be_waived_and_the_outcome_stays() -> None:
    """A late response with no recorded breach can be waived; the outcome is not rewritten."""
    ticket = given_ticket((respond, berlin(2025, 3, 4, 9)))

    waive(ticket, berlin(2025, 3, 4, 10))

    assert kinds(ticket.collect_events()) == [Ticket.BreachWaived]
    assert ticket.outcome == "breached"
    assert ticket.breach_waived is True


WAIVER_REFUSALS = [
    pytest.param((), "customer agreed", "ops@vendor.example", TicketStateError, id="no-breach"),
    pytest.param(
        ((respond, berlin(2025, 3, 3, 12)),),
        "customer agreed",
        "ops@vendor.example",
        TicketStateError,
        id="response-met",
    ),
    pytest.param(
        ((record_breach, berlin(2025, 3, 3, 18)),),
        "   ",
        "ops@vendor.example",
        InvalidInputError,
        id="blank-reason",
    ),
    pytest.param(
        ((record_breach, berlin(2025, 3, 3, 18)),),
        "customer agreed",
        "",
        InvalidInputError,
        id="blank-actor",
    ),
    pytest.param(
        ((record_breach, berlin(2025, 3, 3, 18)), (waive, berlin(2025, 3, 3, 19))),
        "customer agreed",
        "ops@vendor.example",
        TicketStateError,
        id="already-waived",
    ),
    pytest.param(
        ((record_breach, berlin(2025, 3, 3, 18)), (respond, berlin(2025, 3, 3, 17))),
        "customer agreed",
        "ops@vendor.example",
        TicketStateError,
        id="already-waived-by-the-response",
    ),
]


@pytest.mark.parametrize(("steps", "reason", "actor", "error"), WAIVER_REFUSALS)
def test_a_waiver_needs_a_breach_a_reason_and_an_actor_and_happens_once(
    steps: Steps,
    reason: str,
    actor: str,
    error: type[LedgerError],
) -> None:
    """waive_breach refuses without a breach, a reason or an actor, and a second time."""
    ticket = given_ticket(*steps)

    with pytest.raises(error):
        ticket.waive_breach(reason=reason, actor=actor, at=berlin(2025, 3, 4, 12))

    assert ticket.collect_events() == []


# -- lifecycle -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "outcome"),
    [
        pytest.param(berlin(2025, 3, 3, 15), "met", id="in-time"),
        pytest.param(berlin(2025, 3, 4, 9), "breached", id="late"),
    ],
)
def test_resolving_without_a_response_records_the_first_response_too(
    at: datetime, outcome: str
) -> None:
    """The resolution is the first response when none was recorded, with its SLA outcome."""
    case = aggregate_case(
        given=ticket_history(),
        when=on(resolve, at),
        then=[
            event(Ticket.FirstResponseRecorded, responded_at=at, outcome=outcome),
            event(Ticket.Resolved, resolved_at=at),
        ],
    )
    ticket = case.aggregate
    assert case.result == outcome
    assert ticket.status == "resolved"
    assert ticket.resolved_at == at
    assert ticket.clock_state == "stopped"


def test_resolving_after_a_response_records_only_the_resolution() -> None:
    """With a first response on record, resolve returns no outcome and stops nothing."""
    case = aggregate_case(
        given=ticket_history((respond, berlin(2025, 3, 3, 10))),
        when=on(resolve, berlin(2025, 3, 4, 9)),
        then=[event(Ticket.Resolved)],
    )
    assert case.result is None
    assert case.aggregate.responded_at == berlin(2025, 3, 3, 10)
    assert case.aggregate.outcome == "met"


def test_resolving_a_ticket_on_hold_counts_the_time_before_the_hold() -> None:
    """A ticket on hold can be resolved; the clock used only the time before the hold."""
    case = aggregate_case(
        given=ticket_history((hold, berlin(2025, 3, 3, 11, 15))),
        when=on(resolve, berlin(2025, 3, 5, 9)),
        then=[event(Ticket.FirstResponseRecorded, used_seconds=2 * 3600), event(Ticket.Resolved)],
    )
    assert case.result == "met"
    assert case.aggregate.status == "resolved"


def test_a_resolved_ticket_is_reopened_without_restarting_the_clock() -> None:
    """Reopen returns a resolved ticket to open; the response and deadline stay as they were."""
    case = aggregate_case(
        given=ticket_history((respond, berlin(2025, 3, 3, 10)), (resolve, berlin(2025, 3, 3, 11))),
        when=on(reopen, berlin(2025, 3, 4, 9)),
        then=[event(Ticket.Reopened, reopened_at=berlin(2025, 3, 4, 9))],
    )
    ticket = case.aggregate
    assert ticket.status == "open"
    assert ticket.resolved_at is None
    assert ticket.reopened == 1
    assert ticket.clock_state == "stopped"
    assert ticket.outcome == "met"
    assert ticket.due_at == berlin(2025, 3, 3, 17, 15)


def test_a_resolved_ticket_is_closed() -> None:
    """Close records the closing instant and the closed status."""
    case = aggregate_case(
        given=ticket_history((resolve, berlin(2025, 3, 3, 11))),
        when=on(close, berlin(2025, 3, 4, 9)),
        then=[event(Ticket.Closed, closed_at=berlin(2025, 3, 4, 9))],
    )
    assert case.aggregate.status == "closed"
    assert case.aggregate.closed_at == berlin(2025, 3, 4, 9)


LIFECYCLE_REFUSALS = [
    pytest.param((), reopen, id="reopen-an-open-ticket"),
    pytest.param((), close, id="close-an-open-ticket"),
    pytest.param(((hold, berlin(2025, 3, 3, 10)),), close, id="close-a-ticket-on-hold"),
    pytest.param(((resolve, berlin(2025, 3, 3, 10)),), resolve, id="resolve-twice"),
    pytest.param(
        ((resolve, berlin(2025, 3, 3, 10)), (reopen, berlin(2025, 3, 3, 11))),
        close,
        id="close-a-reopened-ticket",
    ),
]


@pytest.mark.parametrize(("steps", "command"), LIFECYCLE_REFUSALS)
def test_reopen_and_close_need_a_resolved_ticket_and_resolve_an_open_one(
    steps: Steps,
    command: Command,
) -> None:
    """Reopen and close only from resolved; resolve only from open or on hold."""
    aggregate_case(
        given=ticket_history(*steps),
        when=on(command, berlin(2025, 3, 4, 9)),
        then=refused(TicketStateError),
    )


CLOSED_TICKET_COMMANDS = [
    pytest.param(hold, id="hold"),
    pytest.param(resume, id="resume"),
    pytest.param(change_severity_to(2), id="change-severity"),
    pytest.param(respond, id="first-response"),
    pytest.param(resolve, id="resolve"),
    pytest.param(reopen, id="reopen"),
    pytest.param(close, id="close"),
    pytest.param(request_remote_assistance, id="remote-assistance"),
    pytest.param(request_patch, id="patch"),
]


@pytest.mark.parametrize("command", CLOSED_TICKET_COMMANDS)
def test_a_closed_ticket_takes_no_further_commands(
    command: Command,
) -> None:
    """Every command on a closed ticket is refused and records nothing."""
    case = aggregate_case(
        given=ticket_history(
            (respond, berlin(2025, 3, 3, 10)),
            (resolve, berlin(2025, 3, 3, 11)),
            (close, berlin(2025, 3, 3, 12)),
        ),
        when=on(command, berlin(2025, 3, 4, 9)),
        then=refused(TicketStateError),
    )
    assert case.aggregate.status == "closed"


@pytest.mark.parametrize("tier", [PREMIUM, ADVANCED], ids=["premium", "advanced"])
def test_remote_assistance_is_recorded_for_premium_and_advanced(tier: TierTerms) -> None:
    """Premium and Advanced include remote assistance."""
    case = aggregate_case(
        given=ticket_history(tier=tier),
        when=lambda t: t.request_remote_assistance(tier_terms=tier, at=berlin(2025, 3, 3, 10)),
        then=[event(Ticket.RemoteAssistanceRequested, requested_at=berlin(2025, 3, 3, 10))],
    )
    assert case.aggregate.remote_assistance == [berlin(2025, 3, 3, 10)]


def test_remote_assistance_is_refused_for_basic() -> None:
    """Basic includes no remote assistance."""
    case = aggregate_case(
        given=ticket_history(tier=BASIC),
        when=lambda t: t.request_remote_assistance(tier_terms=BASIC, at=berlin(2025, 3, 3, 10)),
        then=refused(NotIncludedInTierError),
    )
    assert "Basic" in case.error.message  # type: ignore[union-attr]
    assert case.aggregate.remote_assistance == []


@pytest.mark.parametrize(
    ("severity", "version", "line"),
    [
        pytest.param(1, "24.2.1", "24.2", id="sev1-current-line"),
        pytest.param(2, "24.1.3", "24.1", id="sev2-previous-line"),
    ],
)
def test_a_patch_is_recorded_for_a_critical_defect_on_a_supported_line(
    severity: int, version: str, line: str
) -> None:
    """Severity 1 and 2 tickets on a supported release line may ask for a patch."""
    case = aggregate_case(
        given=ticket_history(severity=severity, version=version),
        when=on(request_patch, berlin(2025, 3, 3, 10)),
        then=[
            event(
                Ticket.PatchRequested,
                product_version=version,
                release_line=line,
                severity=severity,
                requested_at=berlin(2025, 3, 3, 10),
            )
        ],
    )
    assert case.aggregate.patches == [
        PatchRequest(release_line=line, requested_at=berlin(2025, 3, 3, 10))
    ]


@pytest.mark.parametrize(
    ("severity", "version", "message"),
    [
        pytest.param(3, "24.2.1", "severity 3", id="severity-3"),
        pytest.param(1, "23.2.0", "line 23.2", id="unsupported-line"),
    ],
)
def test_a_patch_is_refused_for_severity_3_or_an_unsupported_line(
    severity: int, version: str, message: str
) -> None:
    """Patches are for severities 1 and 2 on the supported release lines only."""
    case = aggregate_case(
        given=ticket_history(severity=severity, version=version),
        when=on(request_patch, berlin(2025, 3, 3, 10)),
        then=refused(PatchNotEligibleError),
    )
    assert message in case.error.message  # type: ignore[union-attr]
    assert case.aggregate.patches == []


def test_a_patch_follows_the_current_severity() -> None:
    """A ticket raised from severity 3 to 2 becomes eligible for a patch."""
    aggregate_case(
        given=ticket_history((change_severity_to(2), berlin(2025, 3, 3, 10)), severity=3),
        when=on(request_patch, berlin(2025, 3, 3, 11)),
        then=[event(Ticket.PatchRequested)],
    )


# -- order of facts --------------------------------------------------------------------------

OUT_OF_ORDER = [
    pytest.param((), hold, berlin(2025, 3, 3, 9), id="hold-before-received"),
    pytest.param(
        ((hold, berlin(2025, 3, 3, 11, 15)),),
        resume,
        berlin(2025, 3, 3, 11),
        id="resume-before-the-hold",
    ),
    pytest.param(
        ((hold, berlin(2025, 3, 3, 11)), (resume, berlin(2025, 3, 3, 13))),
        hold,
        berlin(2025, 3, 3, 12),
        id="hold-before-the-last-resume",
    ),
    pytest.param((), respond, berlin(2025, 3, 3, 9), id="response-before-received"),
    pytest.param(
        ((hold, berlin(2025, 3, 3, 11)), (resume, berlin(2025, 3, 3, 13))),
        respond,
        berlin(2025, 3, 3, 12),
        id="response-before-the-last-clock-change",
    ),
    pytest.param(
        ((hold, berlin(2025, 3, 3, 11)),),
        change_severity_to(2),
        berlin(2025, 3, 3, 10),
        id="severity-change-before-the-hold",
    ),
    pytest.param(
        ((respond, berlin(2025, 3, 3, 10)),),
        change_severity_to(2),
        berlin(2025, 3, 3, 9),
        id="severity-change-after-response-but-before-received",
    ),
    pytest.param(
        ((respond, berlin(2025, 3, 3, 12)),),
        request_remote_assistance,
        berlin(2025, 3, 3, 11),
        id="remote-assistance-before-the-last-fact",
    ),
    pytest.param(
        ((respond, berlin(2025, 3, 3, 12)),),
        request_patch,
        berlin(2025, 3, 3, 11),
        id="patch-before-the-last-fact",
    ),
    pytest.param(
        ((respond, berlin(2025, 3, 3, 12)),),
        resolve,
        berlin(2025, 3, 3, 11),
        id="resolve-before-the-response",
    ),
    pytest.param(
        ((resolve, berlin(2025, 3, 3, 12)),),
        close,
        berlin(2025, 3, 3, 11),
        id="close-before-the-resolution",
    ),
    pytest.param(
        ((resolve, berlin(2025, 3, 3, 12)),),
        reopen,
        berlin(2025, 3, 3, 11),
        id="reopen-before-the-resolution",
    ),
]


@pytest.mark.parametrize(("steps", "command", "at"), OUT_OF_ORDER)
def test_a_fact_dated_before_the_facts_it_must_follow_is_refused(
    steps: Steps,
    command: Command,
    at: datetime,
) -> None:
    """Commands dated before the receipt, the last clock change or the last fact are refused."""
    ticket = given_ticket(*steps)

    with pytest.raises(OutOfOrderError):
        command(ticket, at)

    assert ticket.collect_events() == []


def test_a_resolution_refused_as_out_of_order_records_no_first_response() -> None:
    """A resolve dated before the last fact records nothing, not even the first response."""
    ticket = given_ticket((request_remote_assistance, berlin(2025, 3, 3, 13)))

    with pytest.raises(OutOfOrderError):
        resolve(ticket, berlin(2025, 3, 3, 12))

    assert ticket.collect_events() == []
    assert ticket.responded_at is None
    assert ticket.clock_state == "running"


def test_facts_at_the_same_instant_as_the_last_change_are_in_order() -> None:
    """An instant equal to the last clock change is not before it."""
    ticket = given_ticket()

    hold(ticket, MONDAY_0915)
    resume(ticket, MONDAY_0915)
    respond(ticket, MONDAY_0915)
    resolve(ticket, MONDAY_0915)
    close(ticket, MONDAY_0915)

    assert ticket.status == "closed"
    assert ticket.outcome == "met"


# -- declined requests -----------------------------------------------------------------------


def test_a_declined_request_is_recorded_with_who_asked_and_why() -> None:
    """RequestDeclined keeps the reporter, the reason and the details, and starts no clock."""
    ticket = decline_request()

    events = ticket.collect_events()

    assert kinds(events) == [Ticket.RequestDeclined]
    declined = events[0]
    assert declined.reporter == "someone@acme.example"
    assert declined.reason == "free_license"
    assert declined.message == "free licenses include no support"
    assert declined.details == {"license_kind": "free"}
    assert declined.received_at == MONDAY_0915
    assert ticket.id == Ticket.create_id("T-9")
    assert ticket.status == "declined"
    assert ticket.clock_state == "none"


DECLINED_COMMANDS = [
    pytest.param(hold, id="hold"),
    pytest.param(resume, id="resume"),
    pytest.param(change_severity_to(2), id="change-severity"),
    pytest.param(respond, id="first-response"),
    pytest.param(waive, id="waive-breach"),
    pytest.param(request_remote_assistance, id="remote-assistance"),
    pytest.param(request_patch, id="patch"),
    pytest.param(resolve, id="resolve"),
    pytest.param(reopen, id="reopen"),
    pytest.param(close, id="close"),
]


@pytest.mark.parametrize("command", DECLINED_COMMANDS)
def test_a_declined_request_refuses_every_command(
    command: Command,
) -> None:
    """A declined request takes no further commands."""
    ticket = given_declined()

    with pytest.raises(TicketDeclinedError, match="declined"):
        command(ticket, berlin(2025, 3, 4, 9))

    assert ticket.collect_events() == []
    assert ticket.clock_state == "none"


@pytest.mark.parametrize(
    "question",
    [
        pytest.param(record_breach, id="record-breach"),
        pytest.param(record_half_warning, id="record-warning"),
        pytest.param(recalculate_with(SATURDAY_APPOINTMENT), id="recalculate"),
    ],
)
def test_a_declined_request_has_no_deadline_to_record_or_move(
    question: Command,
) -> None:
    """Scheduler and calendar commands on a declined request return False and record nothing."""
    ticket = given_declined()

    assert question(ticket, berlin(2025, 3, 10, 9)) is False
    assert ticket.collect_events() == []
    assert ticket.breached_by(berlin(2025, 3, 10, 9)) is False


# -- naive datetimes -------------------------------------------------------------------------


def test_opening_with_a_naive_instant_is_refused() -> None:
    """received_at must carry a UTC offset."""
    with pytest.raises(NaiveDatetimeError, match="received_at"):
        open_ticket(received_at=datetime(2025, 3, 3, 9, 15))


def test_declining_with_a_naive_instant_is_refused() -> None:
    """A declined request's received_at must carry a UTC offset too."""
    with pytest.raises(NaiveDatetimeError, match="received_at"):
        decline_request(received_at=datetime(2025, 3, 3, 9, 15))


NAIVE_COMMANDS = [
    pytest.param((), hold, id="hold"),
    pytest.param(((hold, berlin(2025, 3, 3, 11)),), resume, id="resume"),
    pytest.param((), change_severity_to(2), id="change-severity"),
    pytest.param((), respond, id="first-response"),
    pytest.param((), record_breach, id="record-breach"),
    pytest.param((), record_half_warning, id="record-warning"),
    pytest.param((), recalculate_with(CLOSED_MONDAY_0303), id="recalculate"),
    pytest.param(((record_breach, berlin(2025, 3, 3, 18)),), waive, id="waive-breach"),
    pytest.param((), request_remote_assistance, id="remote-assistance"),
    pytest.param((), request_patch, id="patch"),
    pytest.param((), resolve, id="resolve"),
    pytest.param(((resolve, berlin(2025, 3, 3, 11)),), reopen, id="reopen"),
    pytest.param(((resolve, berlin(2025, 3, 3, 11)),), close, id="close"),
]


@pytest.mark.parametrize(("steps", "command"), NAIVE_COMMANDS)
def test_a_command_with_a_naive_instant_is_refused(
    steps: Steps,
    command: Command,
) -> None:
    """Every `at=` must carry a UTC offset; a naive one records nothing."""
    ticket = given_ticket(*steps)

    with pytest.raises(NaiveDatetimeError, match="no UTC offset"):
        command(ticket, NAIVE)

    assert ticket.collect_events() == []


def test_instants_with_any_offset_are_stored_in_utc() -> None:
    """An instant given with another offset is the same instant, stored in UTC."""
    kolkata = timezone(timedelta(hours=5, minutes=30))
    ticket = open_ticket(received_at=datetime(2025, 3, 3, 13, 45, tzinfo=kolkata))
    assert ticket.due_at == berlin(2025, 3, 3, 17, 15)

    hold(ticket, utc(2025, 3, 3, 10, 15))

    assert ticket.received_at == utc(2025, 3, 3, 8, 15)
    assert ticket.received_at.tzinfo is UTC
    assert ticket.periods[0].end.tzinfo is UTC
    assert ticket.periods[0].end == berlin(2025, 3, 3, 11, 15)
