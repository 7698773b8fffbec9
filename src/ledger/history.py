"""The history of one ticket or contract: every event, the state after it, and for a ticket
how its deadline was counted at that point.

Each step replays the aggregate up to the event's version. The business instant of a step is
the instant the event happened at (`received_at`, `held_at`, ... or, for a scheduler's fact,
`recorded_at`), so a back-office entry made months later still shows the clock as it stood
when the fact happened. A ticket's clock
is explained with the calendar its contract had when the event was recorded (appointments
booked later did not count yet).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ledger.presenters import contract_view, event_view, occurred_at, ticket_view

if TYPE_CHECKING:
    from datetime import datetime
    from uuid import UUID

    from ledger.application import SupportLedger
    from ledger.domain.calendar import BusinessCalendar
    from ledger.domain.ticket import Ticket


def ticket_history(app: SupportLedger, reference: str | UUID) -> list[dict[str, Any]]:
    """Every event of a ticket (by id or key) with the ticket and its clock after it."""
    ticket_id = app.get_ticket(reference).id
    steps = []
    for event in app.list_events(ticket_id):
        ticket = app.get_ticket(ticket_id, version=event.originator_version)
        at = occurred_at(event)
        calendar = None
        if ticket.status != "declined":
            contract = app.get_contract(ticket.contract_id, as_of=event.timestamp)
            calendar = app.calendar_of(contract)
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
