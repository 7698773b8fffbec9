"""What a ticket holds, as values: its status, the clock's running periods, warnings, patches.

The response clock of a ticket runs in periods (a hold ends one, a resume starts the next) and
has a warning instant per share of the target; the rules that decide on them (the figures of a
first response, a patch's eligibility, the order of clock commands) are functions here, so the
`Ticket` aggregate only records what they decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from ledger.domain.base import clean_text, instant
from ledger.domain.errors import (
    InvalidInputError,
    OutOfOrderError,
    PatchNotEligibleError,
    TicketStateError,
)
from ledger.domain.sla import clock_figures, covered_used
from ledger.domain.values import Value

if TYPE_CHECKING:
    from collections.abc import Sequence
    from decimal import Decimal

    from ledger.domain.calendar import BusinessCalendar
    from ledger.domain.sla import ClockFigures, Period
    from ledger.domain.terms import TierTerms


class TicketStatus(StrEnum):
    """Where a ticket stands."""

    OPEN = "open"
    ON_HOLD = "on_hold"
    RESOLVED = "resolved"
    CLOSED = "closed"
    DECLINED = "declined"


@dataclass(frozen=True, slots=True)
class ClockPeriod(Value):
    """A stretch of time the response clock ran: from `start` until `end` (None: running)."""

    start: datetime
    end: datetime | None


@dataclass(frozen=True, slots=True)
class ClockWarning(Value):
    """The instant a share of the target is used up, and whether it was recorded as reached."""

    share: Decimal
    at: datetime | None
    reached: bool

    def due(self, at: datetime) -> bool:
        """Whether the warning is to be recorded at `at`: its instant has come, not recorded."""
        return not self.reached and self.at is not None and self.at <= at


@dataclass(frozen=True, slots=True)
class PatchRequest(Value):
    """A patch asked for on a release line."""

    release_line: str
    requested_at: datetime


def warnings_data(figures: ClockFigures, reached: Sequence[Decimal] = ()) -> list[dict[str, Any]]:
    """The warnings of `figures` as events record them, those of `reached` marked reached."""
    return [{"share": w.share, "at": w.at, "reached": w.share in reached} for w in figures.warnings]


def clock_warnings(recorded: Sequence[dict[str, Any]]) -> list[ClockWarning]:
    """The warnings an event recorded, as values."""
    return [ClockWarning.from_dict(w) for w in recorded]


def reached_at(warnings: Sequence[ClockWarning], share: Decimal) -> list[ClockWarning]:
    """`warnings` with the one of `share` marked reached."""
    return [w.but(reached=True) if w.share == share else w for w in warnings]


def keep_reached(old: Sequence[ClockWarning], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`new` warnings (as events record them) keeping the instant of each one reached already."""
    for before, after in zip(old, new, strict=True):
        if before.reached:
            after["at"] = before.at
    return new


def ended(periods: Sequence[ClockPeriod], at: datetime) -> list[ClockPeriod]:
    """`periods` with the running one ended at `at`."""
    return [*periods[:-1], periods[-1].but(end=at)]


def first_response(
    calendar: BusinessCalendar,
    periods: list[Period],
    when: datetime,
    due_at: datetime | None,
    target: timedelta,
) -> dict[str, Any]:
    """The figures of a first response at `when`: outcome, covered time used and overdue."""
    if periods[-1][1] is None:
        periods[-1] = (periods[-1][0], when)
    breached = due_at is not None and when > due_at
    used = covered_used(calendar, periods, when)
    overdue = max(used - target, timedelta(0))
    return {
        "responded_at": when,
        "due_at": due_at,
        "outcome": "breached" if breached else "met",
        "used_seconds": int(used.total_seconds()),
        "overdue_seconds": int(overdue.total_seconds()),
    }


def opening(
    tier_terms: TierTerms,
    severity: int,
    received: datetime,
    calendar: BusinessCalendar,
    thresholds: Sequence[Decimal],
) -> dict[str, Any]:
    """The clock of a request received at `received`: its target, deadline and warnings, as
    the opening event records them."""
    target = tier_terms.response_target(severity)
    figures = clock_figures(calendar, [(received, None)], target, thresholds)
    return {
        "tier": tier_terms.tier.value,
        "received_at": received,
        "target_seconds": int(target.total_seconds()),
        "due_at": figures.due_at,
        "warnings": warnings_data(figures),
    }


def waiver_of(
    *,
    breached: bool,
    waived: bool,
    reason: str,
    actor: str,
    at: datetime,
    received_at: datetime,
) -> dict[str, Any]:
    """The fields of a waiver of a breach (recorded or by the times), checked."""
    if not breached:
        raise TicketStateError("the ticket has no breach to waive")
    if waived:
        raise TicketStateError("the breach was already waived")
    why, who = clean_text(reason, "reason"), clean_text(actor, "actor", limit=200)
    if not why or not who:
        raise InvalidInputError("a waiver needs a reason and an actor")
    when = instant(at)
    if when < received_at:
        raise OutOfOrderError("a breach cannot be waived before the request was received")
    return {"reason": why, "actor": who, "waived_at": when}


def check_response(
    responded_at: datetime | None, status: TicketStatus, at: datetime, clock_at: datetime
) -> datetime:
    """A first response is recorded once, on an open ticket, not before the clock's last
    change; the instant it is recorded at."""
    if responded_at is not None:
        raise TicketStateError(
            f"the first response was already recorded at {responded_at.isoformat()}"
        )
    if status in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
        raise TicketStateError(f"the ticket is {status}")
    when = instant(at)
    if when < clock_at:
        raise OutOfOrderError(
            f"a response at {when.isoformat()} would come before the clock's last change "
            f"at {clock_at.isoformat()}"
        )
    return when


def check_severity_change(status: TicketStatus, current: int, severity: int) -> None:
    """A severity changes on a ticket that is not closed, to another severity."""
    if status == TicketStatus.CLOSED:
        raise TicketStateError("a closed ticket takes no further changes")
    if severity == current:
        raise TicketStateError(f"the ticket is already severity {severity}")


def check_clock_order(when: datetime, clock_at: datetime, what: str) -> None:
    """A clock command comes no earlier than the clock's last change."""
    if when < clock_at:
        raise OutOfOrderError(
            f"cannot {what} at {when.isoformat()}: the clock last changed at {clock_at.isoformat()}"
        )


def check_lifecycle(status: TicketStatus, at: datetime, last_at: datetime, what: str) -> datetime:
    """A lifecycle command needs a ticket that is not closed, and comes no earlier than its
    last fact; the instant it is recorded at."""
    if status == TicketStatus.CLOSED:
        raise TicketStateError(f"cannot {what}: the ticket is closed")
    when = instant(at)
    if when < last_at:
        raise OutOfOrderError(
            f"cannot {what} at {when.isoformat()}: "
            f"the ticket's last fact is at {last_at.isoformat()}"
        )
    return when


def check_patch(
    *,
    severity: int,
    release_line: str,
    product_version: str,
    supported_lines: Sequence[str],
    patch_severities: Sequence[int],
) -> None:
    """Patches are for critical severities on a supported release line."""
    if severity not in patch_severities:
        raise PatchNotEligibleError(
            f"patches are issued for severities {', '.join(map(str, patch_severities))} only; "
            f"this ticket is severity {severity}"
        )
    if release_line not in supported_lines:
        raise PatchNotEligibleError(
            "patches are issued for the supported lines "
            f"{', '.join(supported_lines) or '(none)'}; "
            f"{product_version} is on line {release_line}"
        )


def typed_state(state: dict[str, Any]) -> None:
    """A ticket's state of dicts (version 1, a snapshot's plain form) in value objects."""
    state["status"] = TicketStatus(state["status"])
    if "periods" in state:  # an opened ticket (a declined one has no clock)
        state["periods"] = [ClockPeriod.from_dict(p) for p in state["periods"]]
        state["warnings"] = clock_warnings(state["warnings"])
        state["patches"] = [PatchRequest.from_dict(p) for p in state["patches"]]
