"""The maintenance agreement: terms (one year each), tier, named contacts, appointments.

Its calendar (tier coverage, zone, holidays, appointments) has a revision: a ticket is opened
on the calendar as it stands, and a change of it recomputes the open clocks of the contract's
tickets in the same transaction (see SupportLedger.open_clocks; the contract does not keep a
list of its tickets). Its state is held in the value objects of `ledger.domain.agreement`,
where the rules of signing, ordering terms, upgrading and booking appointments live too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from ledger.domain.agreement import (
    Appointment,
    Contact,
    ContractStatus,
    Lapse,
    Term,
    TermKind,
    TierChange,
    Upgrade,
    check_appointment,
    check_appointment_tier,
    check_cancellation,
    check_contact_room,
    check_fits,
    check_lapse,
    check_renewal,
    check_representative,
    local_midnight,
    one_year_later,
    ordered_licenses,
    ordered_price,
    signing,
    typed_state,
    upgrade_adjustments,
    validity_problem,
    with_tier,
)
from ledger.domain.base import (
    LedgerAggregate,
    clean_text,
    deterministic_id,
    email_address,
    instant,
    later,
    money,
    not_before,
)
from ledger.domain.calendar import load_zone, require_aware
from ledger.domain.errors import (
    AgreementNotValidError,
    ContractStateError,
    DuplicateContactError,
    InvalidInputError,
    TierChangeError,
    UnknownContactError,
)
from ledger.domain.values import PlainSnapshot

if TYPE_CHECKING:
    from datetime import date, datetime
    from decimal import Decimal

    from ledger.domain.calendar import BusinessCalendar
    from ledger.domain.terms import Terms, Tier

__all__ = ["Contract", "local_midnight", "one_year_later"]  # the last two: re-exported


class Contract(LedgerAggregate):
    """A customer's maintenance agreement under the published terms."""

    class_version = 2  # the state in value objects; version 1 kept dicts (see upcast_v1_v2)
    Snapshot = PlainSnapshot

    @staticmethod
    def create_id(key: str) -> UUID:
        """The id of the contract signed under external key `key`."""
        return deterministic_id("contract", key)

    # -- events ------------------------------------------------------------------------------

    class Signed(Aggregate.Created):
        """The agreement was signed: the first term, its tier, licenses and fee."""

        customer: str
        tier: str
        licenses: int
        license_kind: str
        list_price: Decimal
        currency: str
        terms_version: str
        timezone: str
        holiday_region: str
        starts_at: datetime
        ends_at: datetime
        fee_share: Decimal
        fee: Decimal
        signed_at: datetime

        def apply(self, aggregate: Contract) -> None:
            c = aggregate
            c.customer = self.customer
            c.tier = self.tier
            c.licenses = self.licenses
            c.license_kind = self.license_kind
            c.list_price = self.list_price
            c.currency = self.currency
            c.timezone = self.timezone
            c.holiday_region = self.holiday_region
            c.status = ContractStatus.ACTIVE
            c.terms = [
                Term(
                    number=1,
                    kind=TermKind.INITIAL,
                    starts_at=self.starts_at,
                    ends_at=self.ends_at,
                    tier=self.tier,
                    licenses=self.licenses,
                    list_price=self.list_price,
                    terms_version=self.terms_version,
                    fee_share=self.fee_share,
                    fee=self.fee,
                    recorded_at=self.signed_at,
                )
            ]
            c.tier_changes = [TierChange(at=self.starts_at, tier=self.tier)]
            c.lapses = []
            c.upgrades = []
            c.contacts = []
            c.representative = None
            c.appointments = []
            c.calendar_revision = 1
            c.pending_tier = None
            c.terminated_at = None
            c.termination_reason = None
            c.signed_at = self.signed_at
            c.last_at = self.signed_at

    class Renewed(Aggregate.Event):
        """The next term was ordered, at the tier's share of the list price."""

        term_number: int
        starts_at: datetime
        ends_at: datetime
        tier: str
        licenses: int
        list_price: Decimal
        terms_version: str
        fee_share: Decimal
        fee: Decimal
        calendar_revision: int
        renewed_at: datetime

        def apply(self, aggregate: Contract) -> None:
            _add_term(aggregate, self, TermKind.RENEWAL, self.renewed_at)

    class Reinstated(Aggregate.Event):
        """A lapsed agreement was taken up again, at the reinstatement share (80 %)."""

        term_number: int
        lapsed_term_number: int
        starts_at: datetime
        ends_at: datetime
        tier: str
        licenses: int
        list_price: Decimal
        terms_version: str
        fee_share: Decimal
        fee: Decimal
        calendar_revision: int
        reinstated_at: datetime

        def apply(self, aggregate: Contract) -> None:
            _add_term(aggregate, self, TermKind.REINSTATEMENT, self.reinstated_at)
            aggregate.status = ContractStatus.ACTIVE

    class Lapsed(Aggregate.Event):
        """A term ended without renewal."""

        term_number: int
        ended_at: datetime
        recorded_at: datetime
        late: bool

        def apply(self, aggregate: Contract) -> None:
            aggregate.status = ContractStatus.LAPSED
            aggregate.lapses.append(
                Lapse(term_number=self.term_number, ended_at=self.ended_at, late=self.late)
            )
            aggregate.last_at = later(aggregate.last_at, self.recorded_at)

    class Terminated(Aggregate.Event):
        """The agreement was ended; no support from `terminated_at` on."""

        reason: str
        terminated_at: datetime

        def apply(self, aggregate: Contract) -> None:
            aggregate.status = ContractStatus.TERMINATED
            aggregate.terminated_at = self.terminated_at
            aggregate.termination_reason = self.reason
            aggregate.last_at = later(aggregate.last_at, self.terminated_at)

    class Upgraded(Aggregate.Event):
        """The tier went up at once; differences are assessed and granted pro rata.

        `adjustments` has one entry per term from the upgrade on: the remaining share of the
        term, the fee difference assessed, and the points and sessions granted now.
        """

        from_tier: str
        to_tier: str
        adjustments: list[dict[str, Any]]
        calendar_revision: int
        upgraded_at: datetime

        def apply(self, aggregate: Contract) -> None:
            c = aggregate
            c.tier = self.to_tier
            c.pending_tier = None
            c.calendar_revision = self.calendar_revision
            c.tier_changes.append(TierChange(at=self.upgraded_at, tier=self.to_tier))
            upgrade = Upgrade.from_dict(
                {
                    "from_tier": self.from_tier,
                    "to_tier": self.to_tier,
                    "at": self.upgraded_at,
                    "adjustments": self.adjustments,
                }
            )
            c.upgrades.append(upgrade)
            numbers = {a.term_number for a in upgrade.adjustments}
            c.terms = with_tier(c.terms, numbers, self.to_tier)
            c.last_at = later(c.last_at, self.upgraded_at)

    class DowngradeScheduled(Aggregate.Event):
        """A lower tier was ordered; it takes effect at the next renewal."""

        to_tier: str
        effective_at: datetime
        scheduled_at: datetime

        def apply(self, aggregate: Contract) -> None:
            aggregate.pending_tier = self.to_tier
            aggregate.last_at = later(aggregate.last_at, self.scheduled_at)

    class DowngradeCancelled(Aggregate.Event):
        """A scheduled downgrade was called off."""

        to_tier: str
        cancelled_at: datetime

        def apply(self, aggregate: Contract) -> None:
            aggregate.pending_tier = None
            aggregate.last_at = later(aggregate.last_at, self.cancelled_at)

    class ContactAdded(Aggregate.Event):
        """A named contact was added."""

        email: str
        added_at: datetime

        def apply(self, aggregate: Contract) -> None:
            aggregate.contacts.append(
                Contact(email=self.email, added_at=self.added_at, removed_at=None)
            )
            aggregate.last_at = later(aggregate.last_at, self.added_at)

    class ContactRemoved(Aggregate.Event):
        """A named contact was removed."""

        email: str
        removed_at: datetime

        def apply(self, aggregate: Contract) -> None:
            aggregate.contacts = [
                c.but(removed_at=self.removed_at)
                if c.email == self.email and c.removed_at is None
                else c
                for c in aggregate.contacts
            ]
            aggregate.last_at = later(aggregate.last_at, self.removed_at)

    class RepresentativeAssigned(Aggregate.Event):
        """A technical account representative was assigned (Premium)."""

        name: str
        assigned_at: datetime

        def apply(self, aggregate: Contract) -> None:
            aggregate.representative = self.name
            aggregate.last_at = later(aggregate.last_at, self.assigned_at)

    class RepresentativeUnassigned(Aggregate.Event):
        """The technical account representative was unassigned."""

        name: str
        unassigned_at: datetime

        def apply(self, aggregate: Contract) -> None:
            aggregate.representative = None
            aggregate.last_at = later(aggregate.last_at, self.unassigned_at)

    class AppointmentBooked(Aggregate.Event):
        """Covered time outside regular hours was booked for a window."""

        starts_at: datetime
        ends_at: datetime
        calendar_revision: int
        booked_at: datetime

        def apply(self, aggregate: Contract) -> None:
            aggregate.appointments.append(
                Appointment(
                    starts_at=self.starts_at,
                    ends_at=self.ends_at,
                    booked_at=self.booked_at,
                    cancelled_at=None,
                )
            )
            aggregate.calendar_revision = self.calendar_revision
            aggregate.last_at = later(aggregate.last_at, self.booked_at)

    class AppointmentCancelled(Aggregate.Event):
        """A booked appointment window was cancelled before it began."""

        starts_at: datetime
        ends_at: datetime
        calendar_revision: int
        cancelled_at: datetime

        def apply(self, aggregate: Contract) -> None:
            aggregate.appointments = [
                a.but(cancelled_at=self.cancelled_at)
                if a.is_window(self.starts_at, self.ends_at)
                else a
                for a in aggregate.appointments
            ]
            aggregate.calendar_revision = self.calendar_revision
            aggregate.last_at = later(aggregate.last_at, self.cancelled_at)

    # No longer recorded: a contract kept the list of its running clocks until tickets were
    # opened without writing to their contract (see SupportLedger.open_clocks). Stores that
    # hold these events still read; the list they kept is not state any more.

    class TicketRegistered(Aggregate.Event):
        """A ticket was opened under this contract (no longer recorded)."""

        ticket_id: UUID
        received_at: datetime

        def apply(self, aggregate: Contract) -> None:
            pass

    class TicketClockStopped(Aggregate.Event):
        """A registered ticket's response clock stopped (no longer recorded)."""

        ticket_id: UUID
        stopped_at: datetime

        def apply(self, aggregate: Contract) -> None:
            pass

    # -- state (declared for readers; assigned by the events) ---------------------------------

    if TYPE_CHECKING:  # declared for readers and mypy; eventsourcing would make annotations fields
        customer: str
        tier: str
        licenses: int
        license_kind: str
        list_price: Decimal
        currency: str
        timezone: str
        holiday_region: str
        status: ContractStatus
        terms: list[Term]
        tier_changes: list[TierChange]
        lapses: list[Lapse]
        upgrades: list[Upgrade]
        contacts: list[Contact]
        representative: str | None
        appointments: list[Appointment]
        calendar_revision: int
        pending_tier: str | None
        terminated_at: datetime | None
        termination_reason: str | None
        signed_at: datetime
        last_at: datetime

    upcast_v1_v2 = staticmethod(typed_state)  # a snapshot's state of dicts, in value objects

    # -- commands ------------------------------------------------------------------------------

    @classmethod
    def sign(
        cls,
        *,
        terms: Terms,
        customer: str,
        tier: Tier | str,
        licenses: int,
        license_kind: str,
        list_price: Decimal,
        start: date,
        timezone: str | None,
        holiday_region: str | None,
        at: datetime,
        contract_id: UUID | None = None,
        currency: str | None = None,
    ) -> Contract:
        """Sign an agreement whose first term starts on `start` (local midnight)."""
        fields = signing(
            terms=terms, customer=customer, tier=tier, licenses=licenses,
            license_kind=license_kind, list_price=list_price, start=start, timezone=timezone,
            holiday_region=holiday_region, currency=currency,
        )  # fmt: skip
        return cls._create(cls.Signed, id=contract_id or uuid4(), **fields, signed_at=instant(at))

    def renew(
        self,
        *,
        terms: Terms,
        at: datetime,
        licenses: int | None = None,
        list_price: Decimal | None = None,
    ) -> None:
        """Order the next term, starting when the latest one ends, at the tier's share."""
        when = self._check(at, "renew")
        self._require_status(ContractStatus.ACTIVE, "renew")
        check_renewal(self.latest_term, when)
        self._new_term(
            self.Renewed,
            terms=terms,
            starts_at=self.latest_term.ends_at,
            share=None,
            licenses=licenses,
            list_price=list_price,
            at=when,
        )

    def reinstate(
        self,
        *,
        terms: Terms,
        at: datetime,
        licenses: int | None = None,
        list_price: Decimal | None = None,
    ) -> None:
        """Take up a lapsed agreement again: a new term from the day of reinstatement at 80 %."""
        when = self._check(at, "reinstate")
        if self.status != ContractStatus.LAPSED:
            raise ContractStateError(
                f"only a lapsed agreement can be reinstated; this one is {self.status}"
            )
        day = when.astimezone(load_zone(self.timezone)).date()
        self._new_term(
            self.Reinstated,
            terms=terms,
            starts_at=local_midnight(day, self.timezone),
            share=terms.reinstatement_fee_share,
            licenses=licenses,
            list_price=list_price,
            at=when,
            lapsed_term_number=self.latest_term.number,
        )

    def _new_term(
        self,
        event_class: Any,
        *,
        terms: Terms,
        starts_at: datetime,
        share: Decimal | None,
        licenses: int | None,
        list_price: Decimal | None,
        at: datetime,
        **extra: Any,
    ) -> None:
        tier_terms = terms.tier(self.pending_tier or self.latest_term.tier)
        count = ordered_licenses(self.licenses if licenses is None else licenses, licenses)
        price = ordered_price(self.list_price, list_price)
        fee_share = tier_terms.annual_fee_share if share is None else share
        coverage_changes = tier_terms.coverage != terms.tier(self.latest_term.tier).coverage
        start_day = starts_at.astimezone(load_zone(self.timezone)).date()
        self.trigger_event(
            event_class,
            term_number=self.latest_term.number + 1,
            starts_at=starts_at,
            ends_at=local_midnight(one_year_later(start_day), self.timezone),
            tier=tier_terms.tier.value,
            licenses=count,
            list_price=price,
            terms_version=terms.version,
            fee_share=fee_share,
            fee=money(fee_share * price),
            calendar_revision=self.calendar_revision + (1 if coverage_changes else 0),
            **{
                ("renewed_at" if event_class is self.Renewed else "reinstated_at"): at,
                **extra,
            },
        )

    def lapse(self, *, at: datetime, late: bool = False) -> None:
        """Record that the latest term ended without renewal."""
        when = self._check(at, "lapse")
        self._require_status(ContractStatus.ACTIVE, "lapse")
        latest = self.latest_term
        check_lapse(latest, when)
        self.trigger_event(
            self.Lapsed,
            term_number=latest.number,
            ended_at=latest.ends_at,
            recorded_at=when,
            late=bool(late),
        )

    def terminate(self, *, reason: str, at: datetime) -> None:
        """End the agreement now."""
        when = self._check(at, "terminate")
        if self.status == ContractStatus.TERMINATED:
            raise ContractStateError(
                f"the agreement was already terminated at {self.terminated_at.isoformat()}"  # type: ignore[union-attr]
            )
        text = clean_text(reason, "reason")
        if not text:
            raise InvalidInputError("reason: say why the agreement is terminated")
        self.trigger_event(self.Terminated, reason=text, terminated_at=when)

    def change_tier(self, *, terms: Terms, to_tier: Tier | str, at: datetime) -> str:
        """Upgrade at once (pro rata) or schedule a downgrade for the next renewal.

        Returns what happened: `upgraded`, `downgrade_scheduled` or `downgrade_cancelled`.
        """
        when = self._check(at, "change the tier")
        self._require_valid(when, "change the tier")
        target = terms.tier(to_tier)
        current = terms.tier(self.tier_at(when))
        # Terms from now on below the target: the current one, and any renewed in advance
        # (possibly into a downgrade) that has not begun yet.
        below = [
            t for t in self.terms if t.ends_at > when and terms.tier(t.tier).rank < target.rank
        ]
        if target.rank > current.rank or (target.rank == current.rank and below):
            self.trigger_event(
                self.Upgraded,
                from_tier=current.tier.value,
                to_tier=target.tier.value,
                adjustments=upgrade_adjustments(terms, target, below, when),
                calendar_revision=self.calendar_revision
                + (1 if current.coverage != target.coverage else 0),
                upgraded_at=when,
            )
            return "upgraded"
        if target.rank == current.rank:
            if self.pending_tier is not None:
                self.trigger_event(
                    self.DowngradeCancelled, to_tier=self.pending_tier, cancelled_at=when
                )
                return "downgrade_cancelled"
            raise TierChangeError(f"the contract is already on the {current.title} tier")
        if self.pending_tier == target.tier.value:
            raise TierChangeError(f"a downgrade to {target.title} is already scheduled")
        check_fits(target, self.contacts_at(when), self.representative, "downgrade")
        self.trigger_event(
            self.DowngradeScheduled,
            to_tier=target.tier.value,
            effective_at=self.latest_term.ends_at,
            scheduled_at=when,
        )
        return "downgrade_scheduled"

    def add_contact(self, *, email: str, terms: Terms, at: datetime) -> None:
        """Name a contact, within the tier's limit."""
        when = self._check(at, "add a contact")
        self._require_valid(when, "add a contact")
        address = email_address(email)
        current = self.contacts_at(when)
        if address in current:
            raise DuplicateContactError(f"{address} is already a named contact")
        pending = terms.tier(self.pending_tier) if self.pending_tier is not None else None
        check_contact_room(terms.tier(self.tier_at(when)), pending, current)
        self.trigger_event(self.ContactAdded, email=address, added_at=when)

    def remove_contact(self, *, email: str, at: datetime) -> None:
        """Remove a named contact."""
        when = self._check(at, "remove a contact")
        address = email_address(email)
        if address not in self.contacts_at(when):
            raise UnknownContactError(f"{address} is not a named contact of this contract")
        self.trigger_event(self.ContactRemoved, email=address, removed_at=when)

    def assign_representative(self, *, name: str, terms: Terms, at: datetime) -> None:
        """Assign the technical account representative (Premium only)."""
        when = self._check(at, "assign a representative")
        self._require_valid(when, "assign a representative")
        pending = terms.tier(self.pending_tier) if self.pending_tier is not None else None
        check_representative(terms.tier(self.tier_at(when)), pending)
        text = clean_text(name, "name")
        if not text:
            raise InvalidInputError("name: the representative's name is required")
        if self.representative == text:
            raise ContractStateError(f"{text} is already the technical account representative")
        if self.representative is not None:
            self.trigger_event(
                self.RepresentativeUnassigned, name=self.representative, unassigned_at=when
            )
        self.trigger_event(self.RepresentativeAssigned, name=text, assigned_at=when)

    def unassign_representative(self, *, at: datetime) -> None:
        """Unassign the technical account representative."""
        when = self._check(at, "unassign the representative")
        if self.representative is None:
            raise ContractStateError("no technical account representative is assigned")
        self.trigger_event(
            self.RepresentativeUnassigned, name=self.representative, unassigned_at=when
        )

    def book_appointment(
        self,
        *,
        starts_at: datetime,
        ends_at: datetime,
        terms: Terms,
        regular: BusinessCalendar,
        at: datetime,
    ) -> None:
        """Book covered time outside regular hours, as the tier allows.

        `regular` is the contract's calendar without appointments: the window must not overlap
        its covered time. Weekday nights need a tier with outside-hours appointments; weekends
        and public holidays need one with weekend appointments.
        """
        when = self._check(at, "book an appointment")
        self._require_valid(when, "book an appointment")
        start = instant(require_aware(starts_at, "from"), "from")
        end = instant(require_aware(ends_at, "to"), "to")
        check_appointment(
            start=start,
            end=end,
            when=when,
            last_term_ends_at=self.latest_term.ends_at,
            terms=terms,
            regular=regular,
            booked=self.active_appointments(),
        )
        # the tier in force when the window comes
        check_appointment_tier(terms.tier(self.tier_at(start)), regular, start, end)
        self.trigger_event(
            self.AppointmentBooked,
            starts_at=start,
            ends_at=end,
            calendar_revision=self.calendar_revision + 1,
            booked_at=when,
        )

    def cancel_appointment(self, *, starts_at: datetime, ends_at: datetime, at: datetime) -> None:
        """Cancel a booked appointment that has not begun."""
        when = self._check(at, "cancel an appointment")
        start = instant(require_aware(starts_at, "from"), "from")
        end = instant(require_aware(ends_at, "to"), "to")
        check_cancellation(self.appointments, start, end, when)
        self.trigger_event(
            self.AppointmentCancelled,
            starts_at=start,
            ends_at=end,
            calendar_revision=self.calendar_revision + 1,
            cancelled_at=when,
        )

    # -- questions -----------------------------------------------------------------------------

    @property
    def latest_term(self) -> Term:
        """The last term recorded (possibly one that has not begun yet)."""
        return self.terms[-1]

    def term_at(self, at: datetime) -> Term | None:
        """The term in force at `at`, if the agreement is valid then."""
        if self.terminated_at is not None and at >= self.terminated_at:
            return None
        return next((term for term in self.terms if term.covers(at)), None)

    def tier_at(self, at: datetime) -> str:
        """The tier in force at `at` (upgrades apply at once)."""
        tier = self.tier_changes[0].tier
        for change in self.tier_changes:
            if change.at <= at:
                tier = change.tier
        return str(tier)

    def contacts_at(self, at: datetime) -> list[str]:
        """The named contacts at `at`."""
        return [c.email for c in self.contacts if c.named_at(at)]

    def active_appointments(self) -> list[Appointment]:
        """Appointments booked and not cancelled."""
        return [a for a in self.appointments if a.cancelled_at is None]

    def appointment_windows(self) -> tuple[tuple[datetime, datetime], ...]:
        """The booked windows, for the contract calendar."""
        return tuple((a.starts_at, a.ends_at) for a in self.active_appointments())

    def ended_without_renewal(self, at: datetime) -> bool:
        """Whether the latest term has ended by `at` with no term after it (lapse pending)."""
        return self.status == ContractStatus.ACTIVE and at >= self.latest_term.ends_at

    # -- helpers -------------------------------------------------------------------------------

    def _check(self, at: datetime, what: str) -> datetime:
        when = instant(at)
        not_before(when, self.last_at, f"cannot {what} at that time")
        return when

    def _require_status(self, status: ContractStatus, what: str) -> None:
        if self.status != status:
            hint = "; reinstate it instead (80 % of list price)" if self.status == "lapsed" else ""
            raise ContractStateError(f"cannot {what}: the agreement is {self.status}{hint}")

    def _require_valid(self, at: datetime, what: str) -> Term:
        term = self.term_at(at)
        if term is None:
            raise AgreementNotValidError(f"cannot {what}: {self.validity_problem(at)}")
        return term

    def validity_problem(self, at: datetime) -> str:
        """Why the agreement is not valid at `at`, in words."""
        return validity_problem(self.terms, self.status, self.terminated_at, at)


def _add_term(
    aggregate: Contract,
    event: Contract.Renewed | Contract.Reinstated,
    kind: TermKind,
    recorded_at: datetime,
) -> None:
    aggregate.terms.append(
        Term(
            number=event.term_number,
            kind=kind,
            starts_at=event.starts_at,
            ends_at=event.ends_at,
            tier=event.tier,
            licenses=event.licenses,
            list_price=event.list_price,
            terms_version=event.terms_version,
            fee_share=event.fee_share,
            fee=event.fee,
            recorded_at=recorded_at,
        )
    )
    if event.tier != aggregate.tier:
        aggregate.tier_changes.append(TierChange(at=event.starts_at, tier=event.tier))
    aggregate.tier = event.tier
    aggregate.licenses = event.licenses
    aggregate.list_price = event.list_price
    aggregate.pending_tier = None
    aggregate.calendar_revision = event.calendar_revision
    aggregate.last_at = later(aggregate.last_at, recorded_at)
