"""Every view of the ledger as plain data, the one source for the CLI (its `--json` and its
tables), the HTTP API and the demo: contracts, tickets and their clocks, accounts, releases,
events, histories, response deadlines with how they were counted, and report rows.

Rendering for a terminal (rich tables) stays with the CLI (`ledger.render`, `ledger.cli`).

A history step replays the aggregate up to the event's version. The business instant of a
step is the instant the event happened at (`received_at`, `held_at`, ... or, for a
scheduler's fact, `recorded_at`), so a back-office entry made months later still shows the
clock as it stood when the fact happened. A ticket's clock is explained with the calendar its
contract had when the event was recorded (appointments booked later did not count yet).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ledger.calendars import default_calendar
from ledger.display import (
    deadline_text,
    duration_text,
    moment_text,
    percent_text,
    time_text,
)
from ledger.domain.agreement import LAPSE_PENDING
from ledger.domain.credit_account import POINTS, SESSIONS, CreditAccount
from ledger.domain.sla import compute_deadline

if TYPE_CHECKING:
    from decimal import Decimal
    from uuid import UUID

    from ledger.application import SupportLedger, TicketOpening
    from ledger.domain.calendar import BusinessCalendar, Explanation
    from ledger.domain.contract import Contract
    from ledger.domain.releases import ReleaseCatalog
    from ledger.domain.sla import Deadline
    from ledger.domain.terms import Terms, Tier, TierTerms
    from ledger.domain.ticket import Ticket

_EVENT_META = {"originator_id", "originator_version", "timestamp", "originator_topic"}
# The field holding the business instant an event happened at (the first one an event has).
OCCURRED_FIELDS = (
    "received_at", "held_at", "resumed_at", "changed_at", "recalculated_at", "responded_at",
    "waived_at", "requested_at", "resolved_at", "reopened_at", "closed_at", "signed_at",
    "renewed_at", "reinstated_at", "terminated_at", "upgraded_at", "scheduled_at",
    "cancelled_at", "added_at", "removed_at", "assigned_at", "unassigned_at", "booked_at",
    "stopped_at", "recorded_at",
)  # fmt: skip


# -- contracts -----------------------------------------------------------------------------


def contract_view(
    contract: Contract, at: datetime, *, open_clocks: int | None = None
) -> dict[str, Any]:
    """A contract as of now (`at`): terms, tier, contacts, appointments, validity.

    `open_clocks`, the number of its tickets whose response clock runs, is not part of the
    contract's own state (see `SupportLedger.open_clocks`): given for the contract as it
    stands now, None for an earlier version.
    """
    current = contract.term_at(at)
    return {
        "contract_id": contract.id,
        "customer": contract.customer,
        "account_id": CreditAccount.create_id(contract.id),
        "status": contract_status(contract, at),
        "recorded_status": contract.status,
        "valid": current is not None,
        "validity": None if current is not None else contract.validity_problem(at),
        "tier": contract.tier_at(at),
        "pending_tier": contract.pending_tier,
        "license_kind": contract.license_kind,
        "licenses": contract.licenses,
        "list_price": contract.list_price,
        "currency": contract.currency,
        "timezone": contract.timezone,
        "holiday_region": contract.holiday_region or None,
        "current_term": current.number if current else None,
        "terms": [t.as_dict() for t in contract.terms],
        "named_contacts": contract.contacts_at(at),
        "representative": contract.representative,
        "appointments": [
            {"starts_at": a.starts_at, "ends_at": a.ends_at, "booked_at": a.booked_at}
            for a in contract.active_appointments()
        ],
        "open_clocks": open_clocks,
        "lapses": [lapse.as_dict() for lapse in contract.lapses],
        "upgrades": [u.as_dict() for u in contract.upgrades],
        "terminated_at": contract.terminated_at,
        "termination_reason": contract.termination_reason,
        "calendar_revision": contract.calendar_revision,
        "version": contract.version,
    }


def contract_status(contract: Contract, at: datetime) -> str:
    """Where an agreement stands at `at`: its recorded status, except that an agreement whose
    latest term ended by `at` without renewal is `lapse_pending` (never `active`) until the
    scheduler records its lapse."""
    return LAPSE_PENDING if contract.ended_without_renewal(at) else str(contract.status)


def status_text(view: dict[str, Any]) -> str:
    """A contract view's status for people: a pending lapse says which term ended when."""
    if view["status"] != LAPSE_PENDING:
        return str(view["status"])
    latest = view["terms"][-1]
    ended = time_text(latest["ends_at"], view["timezone"])
    return (
        f"lapse pending: term {latest['number']} ended at {ended} without renewal "
        "(not valid; the scheduler records the lapse)"
    )


def current_contract_view(app: SupportLedger, contract_id: UUID, at: datetime) -> dict[str, Any]:
    """`contract_view` of the contract as it stands now, with the number of its open clocks."""
    return contract_view(
        app.get_contract(contract_id), at, open_clocks=len(app.open_clocks(contract_id))
    )


def tier_change_view(contract: Contract, outcome: str, at: datetime) -> dict[str, Any]:
    """What a tier change did (`outcome` as `change_tier` returns it), on the contract after it."""
    data: dict[str, Any] = {
        "contract_id": contract.id,
        "outcome": outcome,
        "tier": contract.tier_at(at),
        "pending_tier": contract.pending_tier,
    }
    if outcome == "upgraded":
        data["adjustments"] = [a.as_dict() for a in contract.upgrades[-1].adjustments]
    return data


# -- tickets -------------------------------------------------------------------------------


def ticket_view(
    ticket: Ticket, at: datetime, calendar: BusinessCalendar | None = None
) -> dict[str, Any]:
    """A ticket and its clock as of `at`; business time left when a calendar is given."""
    data: dict[str, Any] = {
        "ticket_id": ticket.id,
        "key": ticket.external_key,
        "contract_id": ticket.contract_id,
        "customer": ticket.customer,
        "status": ticket.status,
        "reporter": ticket.reporter,
        "severity": ticket.severity,
        "product_version": ticket.product_version,
        "platform": ticket.platform,
        "license_kind": ticket.license_kind,
        "received_at": ticket.received_at,
        "version": ticket.version,
    }
    if ticket.status == "declined":
        data.update(reason=ticket.reason, message=ticket.message, details=ticket.details)
        return data
    left = None
    if calendar is not None and ticket.due_at is not None and ticket.responded_at is None:
        if at <= ticket.due_at:
            left = calendar.elapsed(at, ticket.due_at).total_seconds()
        else:
            left = -calendar.elapsed(ticket.due_at, at).total_seconds()
    data.update(
        tier=ticket.tier,
        terms_version=ticket.terms_version,
        release_line=ticket.release_line,
        target_seconds=ticket.target_seconds,
        clock=ticket.clock_state,
        due_at=ticket.due_at,
        original_due_at=ticket.original_due_at,
        business_seconds_left=left,
        breached=ticket.breached_by(at),
        warnings=[w.as_dict() for w in ticket.warnings],
        periods=[p.as_dict() for p in ticket.periods],
        responded_at=ticket.responded_at,
        outcome=ticket.outcome,
        breach_recorded=ticket.breach_recorded,
        breach_waived=ticket.breach_waived,
        remote_assistance=ticket.remote_assistance,
        priority_troubleshooting=ticket.priority_troubleshooting,
        patches=[p.as_dict() for p in ticket.patches],
        resolved_at=ticket.resolved_at,
        closed_at=ticket.closed_at,
        calendar_revision=ticket.calendar_revision,
    )
    return data


def ticket_calendar(
    app: SupportLedger, ticket: Ticket, *, as_of: datetime | None = None
) -> BusinessCalendar | None:
    """The calendar a ticket's clock counts in: its contract's (as recorded at `as_of`, default
    now); none for a declined request, which has no clock."""
    if ticket.status == "declined" or ticket.contract_id is None:
        return None
    return app.calendar_of(app.get_contract(ticket.contract_id, as_of=as_of))


def counted_ticket_view(app: SupportLedger, ticket: Ticket, at: datetime) -> dict[str, Any]:
    """`ticket_view` with the business time left counted in its contract's calendar."""
    return ticket_view(ticket, at, ticket_calendar(app, ticket))


def opening_view(opening: TicketOpening) -> dict[str, Any]:
    """The answer to `ticket open`."""
    return {
        "ticket_id": opening.ticket_id,
        "status": opening.status,
        "reason": opening.reason,
        "message": opening.message,
        "details": opening.details,
        "due_at": opening.due_at,
        "recorded": opening.recorded,
        "contract_id": opening.contract_id,
        "customer": opening.customer,
    }


# -- response deadlines --------------------------------------------------------------------


@dataclass(frozen=True)
class ExplainedDeadline:
    """A response deadline under the terms, how it was counted, and the calendar it counts in."""

    terms: Terms
    tier: Tier
    severity: int
    deadline: Deadline
    explanation: Explanation
    calendar: BusinessCalendar


def explain_deadline(
    terms: Terms,
    tier_terms: TierTerms,
    severity: int,
    received_at: datetime,
    calendar: BusinessCalendar | None = None,
) -> ExplainedDeadline:
    """When a response to a request received at `received_at` is due, and why (in `calendar`,
    by default the contract calendar of the terms)."""
    cal = calendar if calendar is not None else default_calendar(terms, tier_terms)
    target = tier_terms.response_target(severity)
    return ExplainedDeadline(
        terms=terms,
        tier=tier_terms.tier,
        severity=severity,
        deadline=compute_deadline(cal, received_at, target, terms.warning_thresholds),
        explanation=cal.explain(received_at, target),
        calendar=cal,
    )


def deadline_view(explained: ExplainedDeadline) -> dict[str, Any]:
    """A response deadline with its explanation: the windows counted, the holidays skipped."""
    deadline, cal = explained.deadline, explained.calendar
    return {
        "tier": explained.tier.value,
        "severity": explained.severity,
        "terms_version": explained.terms.version,
        "received_at": deadline.received_at,
        "counting_from": deadline.counting_from,
        "target_seconds": int(deadline.target.total_seconds()),
        "due_at": deadline.due_at,
        "due_at_local": deadline.due_at.astimezone(cal.zone).isoformat(),
        "warnings": [{"share": w.share, "label": w.label, "at": w.at} for w in deadline.warnings],
        "calendar": cal.describe(),
        "windows": [
            {"start": s.start, "end": s.end, "seconds": s.seconds, "appointment": s.appointment}
            for s in explained.explanation.segments
        ],
        "skipped_holidays": [{"date": d, "name": n} for d, n in explained.explanation.skipped],
    }


# -- accounts, releases, events ------------------------------------------------------------


def account_view(account: CreditAccount, at: datetime) -> dict[str, Any]:
    """Balances at `at` and every lot with what is left of it."""
    lots = []
    for lot_id, lot in account.held_lots():
        if lot.expired or (lot.expires_at is not None and lot.expires_at <= at):
            state = "expired"
        elif lot.available_from > at:
            state = "not yet available"
        elif lot.remaining == 0:
            state = "used up"
        else:
            state = "available"
        lots.append({"lot_id": lot_id, **lot.as_dict(), "state": state})
    return {
        "contract_id": account.contract_id,
        "customer": account.customer,
        "account_id": account.id,
        "at": at,
        "points_available": account.available(POINTS, at),
        "sessions_available": account.available(SESSIONS, at),
        "lots": lots,
        "terms": [t.as_dict() for t in sorted(account.terms.values(), key=lambda t: t.number)],
        "version": account.version,
    }


def catalog_view(catalog: ReleaseCatalog | None, at: datetime, lines: int) -> dict[str, Any]:
    """Every release and the lines supported at `at`."""
    if catalog is None:
        return {"supported_lines": [], "releases": []}
    return {"supported_lines": catalog.supported_lines(at, lines), "releases": catalog.listing()}


def event_view(event: Any) -> dict[str, Any]:
    """One stored event: version, recording time, type and its own fields."""
    data = {
        name: value
        for name, value in (
            {f.name: getattr(event, f.name) for f in fields(event)}
            if is_dataclass(event)
            else vars(event)
        ).items()
        if name not in _EVENT_META
    }
    return {
        "aggregate_id": event.originator_id,
        "version": event.originator_version,
        "recorded_at": event.timestamp,
        "type": type(event).__qualname__,
        "data": data,
    }


# -- histories -----------------------------------------------------------------------------


def occurred_at(event: Any) -> datetime:
    """The business instant an event happened at (its recording time if it names none)."""
    for name in OCCURRED_FIELDS:
        value = getattr(event, name, None)
        if isinstance(value, datetime):
            return value
    return event.timestamp  # type: ignore[no-any-return]


def ticket_history(app: SupportLedger, reference: str | UUID) -> list[dict[str, Any]]:
    """Every event of a ticket (by id or key) with the ticket and its clock after it."""
    ticket_id = app.get_ticket(reference).id
    steps = []
    for event in app.list_events(ticket_id):
        ticket = app.get_ticket(ticket_id, version=event.originator_version)
        at = occurred_at(event)
        calendar = ticket_calendar(app, ticket, as_of=event.timestamp)
        steps.append(
            {
                "event": event_view(event),
                "at": at,
                "ticket": ticket_view(ticket, at, calendar),
                "clock": None if calendar is None else clock_explanation(ticket, calendar, at),
            }
        )
    return steps


def contract_history(app: SupportLedger, contract_id: UUID) -> list[dict[str, Any]]:
    """Every event of a contract with the contract after it."""
    steps = []
    for event in app.list_events(contract_id):
        contract = app.get_contract(contract_id, version=event.originator_version)
        steps.append(
            {
                "event": event_view(event),
                "at": occurred_at(event),
                "contract": contract_view(contract, occurred_at(event)),
            }
        )
    return steps


def clock_explanation(ticket: Ticket, calendar: BusinessCalendar, at: datetime) -> dict[str, Any]:
    """How the response time is counted at `at`: the covered stretches of each running
    period (used), and while the clock runs, the stretches still to come up to the deadline."""
    target = timedelta(seconds=ticket.target_seconds)
    used = timedelta(0)
    counted: list[dict[str, Any]] = []
    skipped: dict[Any, str] = {}
    running_from: datetime | None = None
    for period in ticket.periods:
        start, end = period.start, period.end
        if end is None:
            running_from = start
            continue
        spent = calendar.elapsed(start, end)
        if spent > timedelta(0):
            _count(calendar.explain(start, spent), at, counted, skipped)
        used += spent
    if running_from is not None:
        remaining = target - used
        if remaining > timedelta(0):
            _count(calendar.explain(running_from, remaining), at, counted, skipped)
        used += calendar.elapsed(running_from, at)
    if ticket.responded_at is not None:
        state = "stopped"
    elif running_from is None:
        state = "paused"
    else:
        state = "running"
    return {
        "state": state,
        "target_seconds": ticket.target_seconds,
        "used_seconds": int(used.total_seconds()),
        "left_seconds": None if state == "stopped" else int((target - used).total_seconds()),
        "due_at": ticket.due_at,
        "counted": counted,
        "skipped": [{"date": day, "holiday": name} for day, name in sorted(skipped.items())],
    }


def _count(
    explanation: Any, at: datetime, counted: list[dict[str, Any]], skipped: dict[Any, str]
) -> None:
    """The explanation's stretches, split at `at` into used and to come."""
    for segment in explanation.segments:
        pieces = (
            [(segment.start, at, False), (at, segment.end, True)]
            if segment.start < at < segment.end
            else [(segment.start, segment.end, segment.start >= at)]
        )
        for start, end, to_come in pieces:
            counted.append(
                {
                    "from": start,
                    "to": end,
                    "seconds": int((end - start).total_seconds()),
                    "appointment": segment.appointment,
                    "to_come": to_come,
                }
            )
    skipped.update(dict(explanation.skipped))


# -- what a ticket command did, in words ----------------------------------------------------

# Per ticket command, what it did: `{ticket}` is the key the person typed (or the id), `{at}`
# the instant it happened, `{due}` the response deadline after it.
TICKET_SAID = {
    "respond": "{ticket} answered at {at}: {outcome}",
    "hold": "{ticket} on hold since {at} (the response clock is paused)",
    "resume": "{ticket} open again since {at}; response due {due}",
    "resolve": "{ticket} resolved at {at}",
    "reopen": "{ticket} reopened at {at}",
    "close": "{ticket} closed at {at}",
    "remote-assistance": "{ticket}: remote assistance requested at {at}",
    "patch": "{ticket}: a patch requested at {at}",
    "priority": "{ticket}: priority troubleshooting requested at {at}",
    "severity": "{ticket} now severity {severity}; response due {due}",
    "waive": "{ticket}: breach waived at {at}",
    "open": "{ticket} open, severity {severity}; response due {due}",
}


def ticket_said(
    command: str, view: dict[str, Any], at: datetime, now: datetime, zone: str | None
) -> str:
    """What a ticket command did (`TICKET_SAID`), in the ticket's contract's zone."""
    outcome = view.get("outcome") or ("breached" if view.get("breached") else "in time")
    return TICKET_SAID[command].format(
        ticket=view.get("key") or view["ticket_id"],
        at=moment_text(at, now, zone),
        due=deadline_text(view.get("due_at"), now, zone),
        severity=view.get("severity"),
        outcome=outcome,
    )


# -- report rows, as text for people --------------------------------------------------------


def money(value: Decimal, currency: str) -> str:
    """An amount for people: thousands separators, two places, its currency (`1,500.00 EUR`)."""
    return f"{value:,.2f} {currency}"


def local_window(start: datetime, end: datetime, timezone: str) -> str:
    """A window of whole local days as its first and last date in `timezone`
    (`2025-03-01 - 2025-03-31 Europe/Berlin`); a window that does not start or end at a local
    midnight shows its local times."""
    zone = ZoneInfo(timezone)
    first, after = start.astimezone(zone), end.astimezone(zone)
    if first.time() == after.time() == datetime.min.time():
        last = (after - timedelta(days=1)).date()
        return f"{first.date().isoformat()} - {last.isoformat()} {timezone}"
    return f"{first:%Y-%m-%d %H:%M} - {after:%Y-%m-%d %H:%M} {timezone}"


def stats_row_text(row: dict[str, Any]) -> dict[str, Any]:
    """A row of breach statistics for a table: the breach rate as a percentage, the response
    times (business seconds in JSON and CSV) as durations."""
    return {
        **row,
        "breach_rate": percent_text(row["breach_rate"]),
        **{
            key: duration_text(row[key])
            for key in ("median_response_seconds", "p90_response_seconds")
        },
    }


def board_row_text(row: dict[str, Any], at: datetime) -> dict[str, Any]:
    """A row of the SLA board for a table drawn at `at`: instants as month, day and wall time
    in the display zone (the title names the date and zone), the due instant to the second
    within the hour of `at`, and the business time left as a duration."""
    return {
        **row,
        "received_at": time_text(row["received_at"], with_zone=False, short=True),
        "due_at": deadline_text(row["due_at"], at, with_zone=False, short=True),
        "responded_at": time_text(row["responded_at"], with_zone=False, short=True),
        "business_seconds_left": duration_text(row["business_seconds_left"]),
    }
