"""A support request: eligibility decided, response clock kept, lifecycle recorded.

The response clock starts when the request is received (counting from the next covered
instant) and stops at the first response. It pauses while the ticket is on hold at the
customer's request. Every change to the clock (hold, resume, severity, calendar) recomputes the
deadline and warning instants from the clock's running periods and writes them into the event.
Met or breached is decided by the times: a first response after the deadline is a breach even
if no breach event was recorded in time; a recorded breach is never rewritten, only waived.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import Aggregate

from ledger.domain.base import (
    LedgerAggregate,
    deterministic_id,
    email_address,
    instant,
    later,
)
from ledger.domain.clock import (
    ClockPeriod,
    ClockWarning,
    PatchRequest,
    TicketStatus,
    check_clock_order,
    check_lifecycle,
    check_patch,
    check_response,
    check_severity_change,
    clock_warnings,
    ended,
    first_response,
    keep_reached,
    opening,
    reached_at,
    typed_state,
    waiver_of,
    warnings_data,
)
from ledger.domain.errors import (
    NotIncludedInTierError,
    OutOfOrderError,
    TicketDeclinedError,
    TicketStateError,
)
from ledger.domain.sla import clock_figures
from ledger.domain.values import PlainSnapshot

if TYPE_CHECKING:
    from collections.abc import Sequence
    from decimal import Decimal
    from uuid import UUID

    from ledger.domain.calendar import BusinessCalendar
    from ledger.domain.releases import Version
    from ledger.domain.sla import ClockFigures
    from ledger.domain.terms import TierTerms

OPEN = TicketStatus.OPEN
ON_HOLD = TicketStatus.ON_HOLD
RESOLVED = TicketStatus.RESOLVED
CLOSED = TicketStatus.CLOSED
DECLINED = TicketStatus.DECLINED


class Ticket(LedgerAggregate):
    """One support request and its response clock."""

    class_version = 2  # the state in value objects; version 1 kept dicts (see upcast_v1_v2)
    Snapshot = PlainSnapshot
    upcast_v1_v2 = staticmethod(typed_state)  # a snapshot's state of dicts, in value objects

    @staticmethod
    def create_id(external_key: str) -> UUID:
        """Tickets are identified by their external key, so ingestion is idempotent."""
        return deterministic_id("ticket", external_key)

    # -- creation ------------------------------------------------------------------------------

    class Opened(Aggregate.Created):
        """An eligible request was received; its clock and deadline were computed."""

        external_key: str
        contract_id: UUID
        customer: str
        tier: str
        terms_version: str
        reporter: str
        severity: int
        product_version: str
        release_line: str
        platform: str
        license_kind: str
        received_at: datetime
        target_seconds: int
        due_at: datetime
        warnings: list[dict[str, Any]]
        calendar_revision: int

        def apply(self, aggregate: Ticket) -> None:
            t = aggregate
            _common(t, self)
            t.status = OPEN
            t.tier = self.tier
            t.terms_version = self.terms_version
            t.release_line = self.release_line
            t.target_seconds = self.target_seconds
            t.periods = [ClockPeriod(start=self.received_at, end=None)]
            t.due_at = self.due_at
            t.original_due_at = self.due_at
            t.warnings = clock_warnings(self.warnings)
            t.calendar_revision = self.calendar_revision
            t.clock_at = self.received_at
            t.responded_at = None
            t.outcome = None
            t.breach_recorded = False
            t.breach_waived = False
            t.resolved_at = None
            t.closed_at = None
            t.remote_assistance = []
            t.priority_troubleshooting = []
            t.patches = []
            t.reopened = 0

    class RequestDeclined(Aggregate.Created):
        """A request was declined under the eligibility rules, and who asked and why is kept."""

        external_key: str
        contract_id: UUID
        customer: str
        reporter: str
        severity: int
        product_version: str
        platform: str
        license_kind: str
        received_at: datetime
        reason: str
        message: str
        details: dict[str, Any]

        def apply(self, aggregate: Ticket) -> None:
            _declined(aggregate, self)

    class UnmatchedRequestDeclined(Aggregate.Created):
        """A request came from an address no agreement names: it was declined
        (`no_valid_agreement`), and who asked is kept. It belongs to no contract."""

        external_key: str
        reporter: str
        severity: int
        product_version: str
        platform: str
        license_kind: str
        received_at: datetime
        reason: str
        message: str
        details: dict[str, Any]

        def apply(self, aggregate: Ticket) -> None:
            _declined(aggregate, self)

    # -- the clock -----------------------------------------------------------------------------

    class Held(Aggregate.Event):
        """The ticket went on hold at the customer's request; the clock pauses."""

        held_at: datetime
        due_at: datetime | None
        warnings: list[dict[str, Any]]

        def apply(self, aggregate: Ticket) -> None:
            aggregate.periods = ended(aggregate.periods, self.held_at)
            _set_figures(aggregate, self.due_at, self.warnings)
            aggregate.status = ON_HOLD
            aggregate.clock_at = self.held_at
            aggregate.last_at = later(aggregate.last_at, self.held_at)

    class Resumed(Aggregate.Event):
        """The hold ended; the clock runs again, with a new deadline."""

        resumed_at: datetime
        due_at: datetime | None
        warnings: list[dict[str, Any]]

        def apply(self, aggregate: Ticket) -> None:
            aggregate.periods.append(ClockPeriod(start=self.resumed_at, end=None))
            _set_figures(aggregate, self.due_at, self.warnings)
            aggregate.status = OPEN
            aggregate.clock_at = self.resumed_at
            aggregate.last_at = later(aggregate.last_at, self.resumed_at)

    class SeverityChanged(Aggregate.Event):
        """The severity changed: same start, new target, new deadline ; the old one is kept."""

        severity: int
        previous_severity: int
        target_seconds: int
        previous_due_at: datetime | None
        due_at: datetime | None
        warnings: list[dict[str, Any]]
        changed_at: datetime

        def apply(self, aggregate: Ticket) -> None:
            aggregate.severity = self.severity
            aggregate.target_seconds = self.target_seconds
            if aggregate.responded_at is None:
                _set_figures(aggregate, self.due_at, self.warnings)
                aggregate.clock_at = later(aggregate.clock_at, self.changed_at)
            aggregate.last_at = later(aggregate.last_at, self.changed_at)

    class DeadlineRecalculated(Aggregate.Event):
        """The contract's calendar changed; the open clock was recomputed."""

        reason: str
        previous_due_at: datetime | None
        due_at: datetime | None
        warnings: list[dict[str, Any]]
        calendar_revision: int
        recalculated_at: datetime

        def apply(self, aggregate: Ticket) -> None:
            _set_figures(aggregate, self.due_at, self.warnings)
            aggregate.calendar_revision = self.calendar_revision

    class WarningReached(Aggregate.Event):
        """A share of the response target was used up without a response."""

        share: Decimal
        warning_at: datetime
        recorded_at: datetime
        late: bool

        def apply(self, aggregate: Ticket) -> None:
            aggregate.warnings = reached_at(aggregate.warnings, self.share)

    class ResponseDeadlineBreached(Aggregate.Event):
        """The deadline passed without a first response."""

        due_at: datetime
        recorded_at: datetime
        late: bool

        def apply(self, aggregate: Ticket) -> None:
            aggregate.breach_recorded = True

    class FirstResponseRecorded(Aggregate.Event):
        """The first response was given; the clock stopped; met or breached by the times."""

        responded_at: datetime
        due_at: datetime | None
        outcome: str
        used_seconds: int
        overdue_seconds: int

        def apply(self, aggregate: Ticket) -> None:
            if aggregate.periods[-1].end is None:
                aggregate.periods = ended(aggregate.periods, self.responded_at)
            aggregate.responded_at = self.responded_at
            aggregate.outcome = self.outcome
            aggregate.clock_at = self.responded_at
            aggregate.last_at = later(aggregate.last_at, self.responded_at)

    class BreachWaived(Aggregate.Event):
        """A recorded breach was waived (a correction, with reason and actor)."""

        reason: str
        actor: str
        waived_at: datetime

        def apply(self, aggregate: Ticket) -> None:
            aggregate.breach_waived = True
            aggregate.last_at = later(aggregate.last_at, self.waived_at)

    # -- the lifecycle -------------------------------------------------------------------------

    class RemoteAssistanceRequested(Aggregate.Event):
        """Remote assistance was requested (Premium and Advanced)."""

        requested_at: datetime

        def apply(self, aggregate: Ticket) -> None:
            aggregate.remote_assistance.append(self.requested_at)
            aggregate.last_at = later(aggregate.last_at, self.requested_at)

    class PriorityTroubleshootingRequested(Aggregate.Event):
        """Priority troubleshooting was requested (Premium and Advanced); the clock is the same."""

        tier: str
        requested_at: datetime

        def apply(self, aggregate: Ticket) -> None:
            aggregate.priority_troubleshooting.append(self.requested_at)
            aggregate.last_at = later(aggregate.last_at, self.requested_at)

    class PatchRequested(Aggregate.Event):
        """A patch was requested for a critical defect on a supported line."""

        product_version: str
        release_line: str
        severity: int
        requested_at: datetime

        def apply(self, aggregate: Ticket) -> None:
            aggregate.patches.append(
                PatchRequest(release_line=self.release_line, requested_at=self.requested_at)
            )
            aggregate.last_at = later(aggregate.last_at, self.requested_at)

    class Resolved(Aggregate.Event):
        """The request was resolved."""

        resolved_at: datetime

        def apply(self, aggregate: Ticket) -> None:
            aggregate.status = RESOLVED
            aggregate.resolved_at = self.resolved_at
            aggregate.last_at = later(aggregate.last_at, self.resolved_at)

    class Reopened(Aggregate.Event):
        """A resolved request was reopened (the response clock does not restart)."""

        reopened_at: datetime

        def apply(self, aggregate: Ticket) -> None:
            aggregate.status = OPEN
            aggregate.resolved_at = None
            aggregate.reopened += 1
            aggregate.last_at = later(aggregate.last_at, self.reopened_at)

    class Closed(Aggregate.Event):
        """A resolved request was closed; only corrections (waivers) come after it."""

        closed_at: datetime

        def apply(self, aggregate: Ticket) -> None:
            aggregate.status = CLOSED
            aggregate.closed_at = self.closed_at
            aggregate.last_at = later(aggregate.last_at, self.closed_at)

    # -- state ---------------------------------------------------------------------------------

    if TYPE_CHECKING:  # declared for readers and mypy; eventsourcing would make annotations fields
        external_key: str
        contract_id: UUID | None  # None: a request no agreement names
        customer: str
        reporter: str
        severity: int
        opened_severity: int
        product_version: str
        platform: str
        license_kind: str
        received_at: datetime
        status: TicketStatus
        last_at: datetime
        # opened tickets only
        tier: str
        terms_version: str
        release_line: str
        target_seconds: int
        periods: list[ClockPeriod]
        due_at: datetime | None
        original_due_at: datetime
        warnings: list[ClockWarning]
        calendar_revision: int
        clock_at: datetime
        responded_at: datetime | None
        outcome: str | None
        breach_recorded: bool
        breach_waived: bool
        resolved_at: datetime | None
        closed_at: datetime | None
        remote_assistance: list[datetime]
        priority_troubleshooting: list[datetime]
        patches: list[PatchRequest]
        reopened: int
        # declined tickets only
        reason: str
        message: str
        details: dict[str, Any]

    # -- creation commands ---------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        *,
        external_key: str,
        contract_id: UUID,
        customer: str,
        tier_terms: TierTerms,
        terms_version: str,
        thresholds: Sequence[Decimal],
        reporter: str,
        severity: int,
        version: Version,
        platform: str,
        license_kind: str,
        received_at: datetime,
        calendar: BusinessCalendar,
        calendar_revision: int,
    ) -> Ticket:
        """Open an eligible request: compute its deadline and warnings once."""
        received = instant(received_at, "received_at")
        return cls._create(
            cls.Opened, id=cls.create_id(external_key), external_key=external_key,
            contract_id=contract_id, customer=customer, terms_version=terms_version,
            reporter=email_address(reporter, "reporter"), severity=severity,
            product_version=version.text, release_line=version.line, platform=platform,
            license_kind=license_kind, calendar_revision=calendar_revision,
            **opening(tier_terms, severity, received, calendar, thresholds),
        )  # fmt: skip

    @classmethod
    def decline(
        cls, *, external_key: str, contract_id: UUID | None, customer: str, **request: Any
    ) -> Ticket:
        """Record a declined request: who asked, and why it was declined (`request`: the fields
        of `declined_request`). Without a contract, no agreement names the reporter."""
        under = {"contract_id": contract_id, "customer": customer} if contract_id else {}
        return cls._create(
            cls.RequestDeclined if contract_id else cls.UnmatchedRequestDeclined,
            id=cls.create_id(external_key), external_key=external_key, **under,
            **declined_request(**request),
        )  # fmt: skip

    # -- clock commands ------------------------------------------------------------------------

    def hold(
        self, *, at: datetime, calendar: BusinessCalendar, thresholds: Sequence[Decimal]
    ) -> None:
        """Pause the clock at the customer's request."""
        when = self._clock_command(at, "put on hold")
        self._require_status((OPEN,), "only an open ticket can go on hold")
        periods = [*self._periods()[:-1], (self.periods[-1].start, when)]
        figures = clock_figures(calendar, periods, self.target, thresholds)
        self.trigger_event(self.Held, held_at=when, **self._figures(figures))

    def resume(
        self, *, at: datetime, calendar: BusinessCalendar, thresholds: Sequence[Decimal]
    ) -> None:
        """Run the clock again after a hold."""
        when = self._clock_command(at, "resume")
        self._require_status((ON_HOLD,), "only a ticket on hold can resume")
        figures = clock_figures(calendar, [*self._periods(), (when, None)], self.target, thresholds)
        self.trigger_event(self.Resumed, resumed_at=when, **self._figures(figures))

    def change_severity(
        self,
        *,
        severity: int,
        tier_terms: TierTerms,
        at: datetime,
        calendar: BusinessCalendar,
        thresholds: Sequence[Decimal],
    ) -> None:
        """Change the severity: same start, the new severity's target, a new deadline."""
        self.require_opened("change the severity")
        when = instant(at)
        check_severity_change(self.status, self.severity, severity)
        if self.responded_at is None:
            when = self._clock_command(at, "change the severity")
        elif when < self.received_at:
            raise OutOfOrderError("the severity cannot change before the request was received")
        target = tier_terms.response_target(severity)
        if self.responded_at is None:
            clock = self._figures(clock_figures(calendar, self._periods(), target, thresholds))
        else:
            clock = {"due_at": self.due_at, "warnings": [w.as_dict() for w in self.warnings]}
        self.trigger_event(
            self.SeverityChanged,
            severity=severity,
            previous_severity=self.severity,
            target_seconds=int(target.total_seconds()),
            previous_due_at=self.due_at,
            changed_at=when,
            **clock,
        )

    def recalculate(
        self,
        *,
        reason: str,
        at: datetime,
        calendar: BusinessCalendar,
        calendar_revision: int,
        thresholds: Sequence[Decimal],
    ) -> bool:
        """Recompute an open clock after a calendar change; True if anything moved.

        Closed clocks and recorded breaches never move.
        """
        if self.status == DECLINED or self.responded_at is not None or self.breach_recorded:
            return False
        figures = clock_figures(calendar, self._periods(), self.target, thresholds)
        warnings = keep_reached(self.warnings, warnings_data(figures, self._reached()))
        if figures.due_at == self.due_at and warnings == [w.as_dict() for w in self.warnings]:
            return False
        self.trigger_event(
            self.DeadlineRecalculated,
            reason=reason,
            previous_due_at=self.due_at,
            due_at=figures.due_at,
            warnings=warnings,
            calendar_revision=calendar_revision,
            recalculated_at=instant(at),
        )
        return True

    def record_first_response(self, *, at: datetime, calendar: BusinessCalendar) -> str:
        """Stop the clock; met or breached is decided by the times. Returns the outcome.

        If a breach was recorded but the response came by the deadline (entered late), the
        breach is waived in the same step, so exactly one outcome holds.
        """
        self.require_opened("record a response")
        when = check_response(self.responded_at, self.status, at, self.clock_at)
        figures = first_response(calendar, self._periods(), when, self.due_at, self.target)
        self.trigger_event(self.FirstResponseRecorded, **figures)
        breached = figures["outcome"] == "breached"
        if self.breach_recorded and not breached and not self.breach_waived:
            self.trigger_event(
                self.BreachWaived,
                reason=f"the first response at {when.isoformat()} came by the deadline",
                actor="ledger",
                waived_at=when,
            )
        return "breached" if breached else "met"

    def record_warning(self, *, share: Decimal, at: datetime, late: bool) -> bool:
        """Record a reached warning share; False if it no longer applies or is recorded already."""
        if self.status == DECLINED or self.responded_at is not None:
            return False
        warning = next((w for w in self.warnings if w.share == share), None)
        if warning is None or warning.at is None or not warning.due(instant(at)):
            return False
        self.trigger_event(
            self.WarningReached,
            share=share,
            warning_at=warning.at,
            recorded_at=instant(at),
            late=late,
        )
        return True

    def record_breach(self, *, at: datetime, late: bool) -> bool:
        """Record that the deadline passed without response; False if it no longer applies."""
        if self.status == DECLINED or self.responded_at is not None or self.breach_recorded:
            return False
        when = instant(at)
        if self.due_at is None or when <= self.due_at:
            return False
        self.trigger_event(
            self.ResponseDeadlineBreached, due_at=self.due_at, recorded_at=when, late=late
        )
        return True

    def waive_breach(self, *, reason: str, actor: str, at: datetime) -> None:
        """Waive a breach (recorded or by the times), with a reason and who decided.

        A waiver is a correction, so it is accepted on a closed ticket too.
        """
        self.require_opened("waive a breach")
        waiver = waiver_of(
            breached=self.breach_recorded or self.outcome == "breached", waived=self.breach_waived,
            reason=reason, actor=actor, at=at, received_at=self.received_at,
        )  # fmt: skip
        self.trigger_event(self.BreachWaived, **waiver)

    # -- lifecycle commands --------------------------------------------------------------------

    def request_remote_assistance(self, *, tier_terms: TierTerms, at: datetime) -> None:
        """Ask for remote assistance, as the contract's tier allows."""
        when = self._lifecycle(at, "request remote assistance")
        included(tier_terms, tier_terms.remote_assistance, "remote assistance")
        self.trigger_event(self.RemoteAssistanceRequested, requested_at=when)

    def request_priority_troubleshooting(self, *, tier_terms: TierTerms, at: datetime) -> None:
        """Ask for priority troubleshooting, as the contract's tier allows (once per ticket)."""
        when = self._lifecycle(at, "request priority troubleshooting")
        included(tier_terms, tier_terms.priority_troubleshooting, "priority troubleshooting")
        if self.priority_troubleshooting:
            raise TicketStateError("priority troubleshooting was already requested on it")
        tier = str(tier_terms.tier)
        self.trigger_event(self.PriorityTroubleshootingRequested, tier=tier, requested_at=when)

    def request_patch(
        self, *, supported_lines: Sequence[str], patch_severities: Sequence[int], at: datetime
    ) -> None:
        """Ask for a patch: only for critical severities on a supported release line."""
        when = self._lifecycle(at, "request a patch")
        check_patch(
            severity=self.severity, release_line=self.release_line,
            product_version=self.product_version, supported_lines=supported_lines,
            patch_severities=patch_severities,
        )  # fmt: skip
        self.trigger_event(
            self.PatchRequested,
            product_version=self.product_version,
            release_line=self.release_line,
            severity=self.severity,
            requested_at=when,
        )

    def resolve(self, *, at: datetime, calendar: BusinessCalendar) -> str | None:
        """Resolve the request; if no response was recorded, the resolution is the first one.

        Returns the SLA outcome when the resolution stopped the clock.
        """
        self.require_opened("resolve")
        self._require_status((OPEN, ON_HOLD), "only an open ticket can be resolved")
        when = self._lifecycle(at, "resolve")  # every check before the first event
        outcome = None
        if self.responded_at is None:
            outcome = self.record_first_response(at=when, calendar=calendar)
        self.trigger_event(self.Resolved, resolved_at=when)
        return outcome

    def reopen(self, *, at: datetime) -> None:
        """Reopen a resolved request."""
        self.require_opened("reopen")
        self._require_status((RESOLVED,), "only a resolved ticket can be reopened")
        self.trigger_event(self.Reopened, reopened_at=self._lifecycle(at, "reopen"))

    def close(self, *, at: datetime) -> None:
        """Close a resolved request."""
        self.require_opened("close")
        self._require_status((RESOLVED,), "only a resolved ticket can be closed")
        self.trigger_event(self.Closed, closed_at=self._lifecycle(at, "close"))

    # -- questions -----------------------------------------------------------------------------

    @property
    def target(self) -> timedelta:
        """The response target in covered time."""
        return timedelta(seconds=self.target_seconds)

    @property
    def clock_state(self) -> str:
        """`running`, `paused`, `stopped`, or `none` for a declined request."""
        if self.status == DECLINED:
            return "none"
        if self.responded_at is not None:
            return "stopped"
        return "paused" if self.periods[-1].end is not None else "running"

    def breached_by(self, at: datetime) -> bool:
        """Whether, by the times, the clock is breached at `at` (waivers aside)."""
        when = instant(at)
        if self.status == DECLINED:
            return False
        if self.outcome is not None:
            return self.outcome == "breached"
        return self.due_at is not None and when > self.due_at

    # -- helpers -------------------------------------------------------------------------------

    def _periods(self) -> list[tuple[datetime, datetime | None]]:
        return [(p.start, p.end) for p in self.periods]

    def _reached(self) -> list[Decimal]:
        return [w.share for w in self.warnings if w.reached]

    def _figures(self, figures: ClockFigures) -> dict[str, Any]:
        """The deadline and warnings of `figures` as events record them (reached ones kept)."""
        return {"due_at": figures.due_at, "warnings": warnings_data(figures, self._reached())}

    def _require_status(self, allowed: tuple[TicketStatus, ...], refusal: str) -> None:
        if self.status not in allowed:
            raise TicketStateError(f"{refusal}; this one is {self.status}")

    def require_opened(self, what: str) -> None:
        """Refuse `what` on a declined request (TicketDeclinedError, naming why)."""
        if self.status == DECLINED:
            raise TicketDeclinedError(f"cannot {what}: the request was declined ({self.reason})")

    def _clock_command(self, at: datetime, what: str) -> datetime:
        self.require_opened(what)
        if self.responded_at is not None:
            raise TicketStateError(
                f"cannot {what}: the response clock stopped at {self.responded_at.isoformat()}"
            )
        when = instant(at)
        check_clock_order(when, self.clock_at, what)
        return when

    def _lifecycle(self, at: datetime, what: str) -> datetime:
        self.require_opened(what)
        return check_lifecycle(self.status, at, self.last_at, what)


def _common(ticket: Ticket, event: Any) -> None:
    ticket.external_key = event.external_key
    ticket.contract_id = getattr(event, "contract_id", None)  # none: no agreement names them
    ticket.customer = getattr(event, "customer", "")
    ticket.reporter = event.reporter
    ticket.severity = event.severity
    ticket.opened_severity = event.severity
    ticket.product_version = event.product_version
    ticket.platform = event.platform
    ticket.license_kind = event.license_kind
    ticket.received_at = event.received_at
    ticket.last_at = event.received_at


def _declined(ticket: Ticket, event: Any) -> None:
    _common(ticket, event)
    ticket.status = DECLINED
    ticket.reason = event.reason
    ticket.message = event.message
    ticket.details = event.details


def declined_request(
    *,
    reporter: str,
    severity: int,
    product_version: str,
    platform: str,
    license_kind: str,
    received_at: datetime,
    reason: str,
    message: str,
    details: dict[str, Any],
) -> dict[str, Any]:
    """The fields of a declined request's event: who asked, for what, and why it was declined."""
    return {
        "reporter": email_address(reporter, "reporter"), "severity": severity,
        "product_version": product_version, "platform": platform, "license_kind": license_kind,
        "received_at": instant(received_at, "received_at"), "reason": reason,
        "message": message, "details": details,
    }  # fmt: skip


def included(tier_terms: TierTerms, allowed: bool, what: str) -> None:
    """Refuse what the tier does not include (`not_included_in_tier`)."""
    if not allowed:
        raise NotIncludedInTierError(f"the {tier_terms.title} tier includes no {what}")


def _set_figures(ticket: Ticket, due_at: datetime | None, warnings: list[dict[str, Any]]) -> None:
    ticket.due_at = due_at
    ticket.warnings = clock_warnings(warnings)
