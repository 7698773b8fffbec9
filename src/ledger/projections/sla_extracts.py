"""What the SLA-breach fold reads of each event it follows: an extract of plain values.

`extract(event)` turns a followed domain event into a small named tuple of text, numbers and
microseconds: ids as text, instants as microseconds since the epoch, a deadline's warnings as
the instant of the highest (75 %) one. That is all the decoding and converting the fold
(`sla_clocks`) needs, done once per event, and the fold reads nothing else. So a rebuild can
make the extracts in a process of its own (`projections/reader.py`) while it folds the batch
before: an extract is a tenth of an event's cost to ship between processes and read back.

Every extract starts with `key` (its aggregate's id as text) and `recorded_at` (the event's
recording time, what a checkpoint's figures are made of). A ticket's events after it was
opened are all `Changed`, with the event class's name as `kind` and the instant it took effect
as `effective_at` (which is also the instant a hold, resumption, response or request names).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from ledger.domain.calendar import to_us
from ledger.domain.contract import Contract
from ledger.domain.ticket import Ticket
from ledger.projections.db import us

if TYPE_CHECKING:
    from collections.abc import Callable


class Signed(NamedTuple):
    """A contract signed: the calendar its clocks count in."""

    key: str
    recorded_at: int
    customer: str
    timezone: str
    holiday_region: str


class Appointment(NamedTuple):
    """An appointment booked (`booked`) or cancelled on a contract's calendar."""

    key: str
    recorded_at: int
    booked: bool
    starts_at: int
    ends_at: int


class Opened(NamedTuple):
    """A ticket opened: its clock starts when it was received."""

    key: str
    recorded_at: int
    contract: str
    external_key: str
    customer: str
    tier: str
    terms_version: str
    severity: int
    reporter: str
    received_at: int
    target_seconds: int | None
    due_at: int | None
    warning_at: int | None


class Declined(NamedTuple):
    """A request declined: a row without a clock."""

    key: str
    recorded_at: int
    contract: str
    external_key: str
    customer: str
    severity: int
    reporter: str
    received_at: int
    reason: str


class Changed(NamedTuple):
    """Any later event of a ticket: `kind` is its class's name; the fields it does not carry
    are None."""

    key: str
    recorded_at: int
    kind: str
    effective_at: int
    due_at: int | None = None
    warning_at: int | None = None
    severity: int | None = None
    target_seconds: int | None = None
    outcome: str | None = None
    used_seconds: int | None = None


Extract = Signed | Appointment | Opened | Declined | Changed


def _warning_at(warnings: list[dict[str, Any]]) -> int | None:
    """The instant of the highest warning threshold (75 %), None while paused before it.

    The terms list thresholds in increasing order, so the highest is the last."""
    return us(warnings[-1]["at"]) if warnings else None


def _opened(event: Any, key: str, recorded: int) -> Opened:
    return Opened(
        key, recorded, str(event.contract_id), event.external_key, event.customer, event.tier,
        event.terms_version, event.severity, event.reporter, to_us(event.received_at),
        event.target_seconds, us(event.due_at), _warning_at(event.warnings),
    )  # fmt: skip


def _declined(event: Any, key: str, recorded: int) -> Declined:
    return Declined(
        key, recorded, str(event.contract_id), event.external_key, event.customer,
        event.severity, event.reporter, to_us(event.received_at), event.reason,
    )  # fmt: skip


def _signed(event: Any, key: str, recorded: int) -> Signed:
    return Signed(key, recorded, event.customer, event.timezone, event.holiday_region or "")


def _appointment(event: Any, key: str, recorded: int) -> Appointment:
    booked = type(event) is Contract.AppointmentBooked
    return Appointment(key, recorded, booked, to_us(event.starts_at), to_us(event.ends_at))


def _figures(event: Any, key: str, recorded: int) -> Changed:
    """A hold, resumption or recalculation: the deadline and warning it leaves."""
    return Changed(
        key, recorded, type(event).__name__, effective_at(event), us(event.due_at),
        _warning_at(event.warnings),
    )  # fmt: skip


def _severity(event: Any, key: str, recorded: int) -> Changed:
    return Changed(
        key, recorded, type(event).__name__, effective_at(event), us(event.due_at),
        _warning_at(event.warnings), event.severity, event.target_seconds,
    )  # fmt: skip


def _responded(event: Any, key: str, recorded: int) -> Changed:
    return Changed(
        key, recorded, type(event).__name__, effective_at(event),
        outcome=event.outcome, used_seconds=event.used_seconds,
    )  # fmt: skip


def _instant(event: Any, key: str, recorded: int) -> Changed:
    """An event that carries nothing but the instant it took effect."""
    return Changed(key, recorded, type(event).__name__, effective_at(event))


# The business instant each of a ticket's later events takes effect at (a board for an instant
# knows only the events effective by then); Opened and RequestDeclined take effect when received.
_EFFECTIVE = {
    Ticket.Held: "held_at",
    Ticket.Resumed: "resumed_at",
    Ticket.SeverityChanged: "changed_at",
    Ticket.DeadlineRecalculated: "recalculated_at",
    Ticket.WarningReached: "warning_at",
    Ticket.ResponseDeadlineBreached: "recorded_at",
    Ticket.FirstResponseRecorded: "responded_at",
    Ticket.BreachWaived: "waived_at",
    Ticket.PriorityTroubleshootingRequested: "requested_at",
    Ticket.Resolved: "resolved_at",
    Ticket.Reopened: "reopened_at",
    Ticket.Closed: "closed_at",
}


def effective_at(event: Any) -> int:
    """The instant (microseconds) a ticket's later event took effect."""
    return to_us(getattr(event, _EFFECTIVE[type(event)]))


_EXTRACTORS: dict[type, Callable[[Any, str, int], Extract]] = {
    Contract.Signed: _signed,
    Contract.AppointmentBooked: _appointment,
    Contract.AppointmentCancelled: _appointment,
    Ticket.Opened: _opened,
    Ticket.RequestDeclined: _declined,
    Ticket.Held: _figures,
    Ticket.Resumed: _figures,
    Ticket.DeadlineRecalculated: _figures,
    Ticket.SeverityChanged: _severity,
    Ticket.FirstResponseRecorded: _responded,
    **dict.fromkeys(
        (
            Ticket.WarningReached,
            Ticket.ResponseDeadlineBreached,
            Ticket.BreachWaived,
            Ticket.PriorityTroubleshootingRequested,
            Ticket.Resolved,
            Ticket.Reopened,
            Ticket.Closed,
        ),
        _instant,
    ),
}
FOLLOWS = tuple(_EXTRACTORS)  # the events the view follows: those it has an extract of


def extract(event: Any) -> Extract:
    """The extract of a followed event (KeyError for an event the view does not follow)."""
    return _EXTRACTORS[type(event)](event, str(event.originator_id), to_us(event.timestamp))
