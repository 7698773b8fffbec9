"""The maintenance agreement: terms (one year each), tier, named contacts, appointments.

Its calendar (tier coverage, zone, holidays, appointments) has a revision: a ticket is opened
on the calendar as it stands, and a change of it recomputes the open clocks of the contract's
tickets in the same transaction (see SupportLedger.open_clocks; the contract does not keep a
list of its tickets).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from ledger.domain.base import (
    LedgerAggregate,
    clean_text,
    deterministic_id,
    email_address,
    instant,
    later,
    money,
    non_negative_money,
    not_before,
    points,
    within_years,
)
from ledger.domain.calendar import load_zone, require_aware
from ledger.domain.errors import (
    AgreementNotValidError,
    AppointmentError,
    ContactLimitError,
    ContractStateError,
    DuplicateContactError,
    FreeLicenseError,
    InvalidAmountError,
    InvalidInputError,
    NotIncludedInTierError,
    TierChangeError,
    UnknownAppointmentError,
    UnknownContactError,
    UnknownLicenseKindError,
)

if TYPE_CHECKING:
    from ledger.domain.calendar import BusinessCalendar
    from ledger.domain.terms import Terms, Tier, TierTerms

SHARE_PLACES = Decimal("0.000001")
MAX_LICENSES = 100_000


def one_year_later(day: date) -> date:
    """The same day a year later; 29 February becomes 1 March."""
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return date(day.year + 1, 3, 1)


def local_midnight(day: date, timezone: str) -> datetime:
    """The UTC instant of local midnight starting `day` in `timezone`."""
    return datetime(day.year, day.month, day.day, tzinfo=load_zone(timezone)).astimezone(UTC)


class Contract(LedgerAggregate):
    """A customer's maintenance agreement under the published terms."""

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

        def apply(self, aggregate: Any) -> None:
            c = aggregate
            c.customer = self.customer
            c.tier = self.tier
            c.licenses = self.licenses
            c.license_kind = self.license_kind
            c.list_price = self.list_price
            c.currency = self.currency
            c.timezone = self.timezone
            c.holiday_region = self.holiday_region
            c.status = "active"
            c.terms = [
                {
                    "number": 1,
                    "kind": "initial",
                    "starts_at": self.starts_at,
                    "ends_at": self.ends_at,
                    "tier": self.tier,
                    "licenses": self.licenses,
                    "list_price": self.list_price,
                    "terms_version": self.terms_version,
                    "fee_share": self.fee_share,
                    "fee": self.fee,
                    "recorded_at": self.signed_at,
                }
            ]
            c.tier_changes = [{"at": self.starts_at, "tier": self.tier}]
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

        def apply(self, aggregate: Any) -> None:
            _add_term(aggregate, self, "renewal", self.renewed_at)

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

        def apply(self, aggregate: Any) -> None:
            _add_term(aggregate, self, "reinstatement", self.reinstated_at)
            aggregate.status = "active"

    class Lapsed(Aggregate.Event):
        """A term ended without renewal."""

        term_number: int
        ended_at: datetime
        recorded_at: datetime
        late: bool

        def apply(self, aggregate: Any) -> None:
            aggregate.status = "lapsed"
            aggregate.lapses.append(
                {"term_number": self.term_number, "ended_at": self.ended_at, "late": self.late}
            )
            aggregate.last_at = later(aggregate.last_at, self.recorded_at)

    class Terminated(Aggregate.Event):
        """The agreement was ended; no support from `terminated_at` on."""

        reason: str
        terminated_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.status = "terminated"
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

        def apply(self, aggregate: Any) -> None:
            c = aggregate
            c.tier = self.to_tier
            c.pending_tier = None
            c.calendar_revision = self.calendar_revision
            c.tier_changes.append({"at": self.upgraded_at, "tier": self.to_tier})
            c.upgrades.append(
                {
                    "from_tier": self.from_tier,
                    "to_tier": self.to_tier,
                    "at": self.upgraded_at,
                    "adjustments": self.adjustments,
                }
            )
            numbers = {a["term_number"] for a in self.adjustments}
            for term in c.terms:
                if term["number"] in numbers:
                    term["tier"] = self.to_tier
            c.last_at = later(c.last_at, self.upgraded_at)

    class DowngradeScheduled(Aggregate.Event):
        """A lower tier was ordered; it takes effect at the next renewal."""

        to_tier: str
        effective_at: datetime
        scheduled_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.pending_tier = self.to_tier
            aggregate.last_at = later(aggregate.last_at, self.scheduled_at)

    class DowngradeCancelled(Aggregate.Event):
        """A scheduled downgrade was called off."""

        to_tier: str
        cancelled_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.pending_tier = None
            aggregate.last_at = later(aggregate.last_at, self.cancelled_at)

    class ContactAdded(Aggregate.Event):
        """A named contact was added."""

        email: str
        added_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.contacts.append(
                {"email": self.email, "added_at": self.added_at, "removed_at": None}
            )
            aggregate.last_at = later(aggregate.last_at, self.added_at)

    class ContactRemoved(Aggregate.Event):
        """A named contact was removed."""

        email: str
        removed_at: datetime

        def apply(self, aggregate: Any) -> None:
            for entry in aggregate.contacts:
                if entry["email"] == self.email and entry["removed_at"] is None:
                    entry["removed_at"] = self.removed_at
            aggregate.last_at = later(aggregate.last_at, self.removed_at)

    class RepresentativeAssigned(Aggregate.Event):
        """A technical account representative was assigned (Premium)."""

        name: str
        assigned_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.representative = self.name
            aggregate.last_at = later(aggregate.last_at, self.assigned_at)

    class RepresentativeUnassigned(Aggregate.Event):
        """The technical account representative was unassigned."""

        name: str
        unassigned_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.representative = None
            aggregate.last_at = later(aggregate.last_at, self.unassigned_at)

    class AppointmentBooked(Aggregate.Event):
        """Covered time outside regular hours was booked for a window."""

        starts_at: datetime
        ends_at: datetime
        calendar_revision: int
        booked_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.appointments.append(
                {
                    "starts_at": self.starts_at,
                    "ends_at": self.ends_at,
                    "booked_at": self.booked_at,
                    "cancelled_at": None,
                }
            )
            aggregate.calendar_revision = self.calendar_revision
            aggregate.last_at = later(aggregate.last_at, self.booked_at)

    class AppointmentCancelled(Aggregate.Event):
        """A booked appointment window was cancelled before it began."""

        starts_at: datetime
        ends_at: datetime
        calendar_revision: int
        cancelled_at: datetime

        def apply(self, aggregate: Any) -> None:
            for entry in aggregate.appointments:
                if (
                    entry["starts_at"] == self.starts_at
                    and entry["ends_at"] == self.ends_at
                    and entry["cancelled_at"] is None
                ):
                    entry["cancelled_at"] = self.cancelled_at
            aggregate.calendar_revision = self.calendar_revision
            aggregate.last_at = later(aggregate.last_at, self.cancelled_at)

    # No longer recorded: a contract kept the list of its running clocks until tickets were
    # opened without writing to their contract (see SupportLedger.open_clocks). Stores that
    # hold these events still read; the list they kept is not state any more.

    class TicketRegistered(Aggregate.Event):
        """A ticket was opened under this contract (no longer recorded)."""

        ticket_id: UUID
        received_at: datetime

        def apply(self, aggregate: Any) -> None:
            pass

    class TicketClockStopped(Aggregate.Event):
        """A registered ticket's response clock stopped (no longer recorded)."""

        ticket_id: UUID
        stopped_at: datetime

        def apply(self, aggregate: Any) -> None:
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
        status: str
        terms: list[dict[str, Any]]
        tier_changes: list[dict[str, Any]]
        lapses: list[dict[str, Any]]
        upgrades: list[dict[str, Any]]
        contacts: list[dict[str, Any]]
        representative: str | None
        appointments: list[dict[str, Any]]
        calendar_revision: int
        pending_tier: str | None
        terminated_at: datetime | None
        termination_reason: str | None
        signed_at: datetime
        last_at: datetime

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
    ) -> Contract:
        """Sign an agreement whose first term starts on `start` (local midnight)."""
        name = clean_text(customer, "customer")
        if not name:
            raise InvalidInputError("customer: a name is required")
        if len(name) > 200:
            raise InvalidInputError("customer: at most 200 characters")
        tier_terms = terms.tier(tier)
        if isinstance(licenses, bool) or not isinstance(licenses, int) or licenses < 1:
            raise InvalidAmountError(f"licenses: at least one developer license, got {licenses!r}")
        kind = _license_kind(terms, license_kind)
        price = non_negative_money(list_price, "list price")
        if price <= 0:
            raise InvalidAmountError(f"list price must be greater than zero, got {list_price}")
        zone = timezone or terms.default_timezone
        load_zone(zone)
        region = (
            terms.default_holiday_region if holiday_region is None else holiday_region
        ).strip()
        region = "" if region.lower() in {"", "none"} else region.upper()
        if not isinstance(start, date) or isinstance(start, datetime):
            raise InvalidInputError(f"start: expected a date, got {start!r}")
        within_years(start.year, "start", start.isoformat())
        if licenses > MAX_LICENSES:
            raise InvalidAmountError(f"licenses: at most {MAX_LICENSES}, got {licenses}")
        share = tier_terms.annual_fee_share
        return cls._create(
            cls.Signed,
            id=contract_id or uuid4(),
            customer=name,
            tier=tier_terms.tier.value,
            licenses=licenses,
            license_kind=kind,
            list_price=price,
            currency=terms.currency,
            terms_version=terms.version,
            timezone=zone,
            holiday_region=region,
            starts_at=local_midnight(start, zone),
            ends_at=local_midnight(one_year_later(start), zone),
            fee_share=share,
            fee=money(share * price),
            signed_at=instant(at),
        )

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
        self._require_status("active", "renew")
        latest = self.latest_term
        if when >= latest["ends_at"]:
            raise ContractStateError(
                f"term {latest['number']} ended at {latest['ends_at'].isoformat()} without "
                "renewal, so the agreement has lapsed; reinstate it instead (80 % of list price)"
            )
        if latest["starts_at"] > when:
            raise ContractStateError(
                f"already renewed: term {latest['number']} runs from "
                f"{latest['starts_at'].isoformat()} to {latest['ends_at'].isoformat()}"
            )
        self._new_term(
            self.Renewed,
            terms=terms,
            starts_at=latest["ends_at"],
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
        if self.status != "lapsed":
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
            lapsed_term_number=self.latest_term["number"],
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
        tier_terms = terms.tier(self.pending_tier or self.latest_term["tier"])
        count = self.licenses if licenses is None else licenses
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise InvalidAmountError(f"licenses: at least one developer license, got {licenses!r}")
        if count > MAX_LICENSES:
            raise InvalidAmountError(f"licenses: at most {MAX_LICENSES}, got {count}")
        price = (
            self.list_price if list_price is None else non_negative_money(list_price, "list price")
        )
        if price <= 0:
            raise InvalidAmountError(f"list price must be greater than zero, got {list_price}")
        fee_share = tier_terms.annual_fee_share if share is None else share
        coverage_changes = tier_terms.coverage != terms.tier(self.latest_term["tier"]).coverage
        start_day = starts_at.astimezone(load_zone(self.timezone)).date()
        self.trigger_event(
            event_class,
            term_number=self.latest_term["number"] + 1,
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
        self._require_status("active", "lapse")
        latest = self.latest_term
        if when < latest["ends_at"]:
            raise ContractStateError(
                f"term {latest['number']} runs until {latest['ends_at'].isoformat()}; it cannot "
                "lapse before it ends"
            )
        self.trigger_event(
            self.Lapsed,
            term_number=latest["number"],
            ended_at=latest["ends_at"],
            recorded_at=when,
            late=bool(late),
        )

    def terminate(self, *, reason: str, at: datetime) -> None:
        """End the agreement now."""
        when = self._check(at, "terminate")
        if self.status == "terminated":
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
            t
            for t in self.terms
            if t["ends_at"] > when and terms.tier(t["tier"]).rank < target.rank
        ]
        if target.rank > current.rank or (target.rank == current.rank and below):
            self._upgrade(terms, current, target, below, when)
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
        self._check_fits(target, when, "downgrade")
        self.trigger_event(
            self.DowngradeScheduled,
            to_tier=target.tier.value,
            effective_at=self.latest_term["ends_at"],
            scheduled_at=when,
        )
        return "downgrade_scheduled"

    def _upgrade(
        self,
        terms: Terms,
        current: TierTerms,
        target: TierTerms,
        below: list[dict[str, Any]],
        when: datetime,
    ) -> None:
        """Raise `below` (the terms under the target from now on) to the target tier.

        Each term pays the difference to its own tier: pro rata for the running term, in full
        for one that has not begun. Points and sessions of the running term were granted at its
        start, so its difference is granted now; a later term is granted at its start.
        """
        adjustments = []
        for t in below:
            own = terms.tier(t["tier"])
            span = (t["ends_at"] - t["starts_at"]) // timedelta(microseconds=1)
            rest = (t["ends_at"] - max(t["starts_at"], when)) // timedelta(microseconds=1)
            share = (Decimal(rest) / Decimal(span)).quantize(SHARE_PLACES, rounding=ROUND_HALF_UP)
            current_now = t["starts_at"] <= when
            fee_share = target.annual_fee_share - own.annual_fee_share
            adjustments.append(
                {
                    "term_number": t["number"],
                    "remaining_share": share,
                    "fee": money(fee_share * t["list_price"] * share),
                    "points": points(
                        (target.support_credits_per_license - own.support_credits_per_license)
                        * t["licenses"]
                        * share
                    )
                    if current_now
                    else Decimal(0),
                    "sessions": int(
                        (
                            Decimal(
                                target.training_sessions_per_license
                                - own.training_sessions_per_license
                            )
                            * t["licenses"]
                            * share
                        ).to_integral_value(rounding=ROUND_FLOOR)
                    )
                    if current_now
                    else 0,
                    "expires_at": t["ends_at"],
                }
            )
        self.trigger_event(
            self.Upgraded,
            from_tier=current.tier.value,
            to_tier=target.tier.value,
            adjustments=adjustments,
            calendar_revision=self.calendar_revision
            + (1 if current.coverage != target.coverage else 0),
            upgraded_at=when,
        )

    def _check_fits(self, target: TierTerms, when: datetime, what: str) -> None:
        """A lower tier must hold what the contract has: contacts and representative.

        Appointments need no check: they are booked within the recorded terms, and a downgrade
        takes effect only after the last of them.
        """
        contacts = self.contacts_at(when)
        if len(contacts) > target.named_contacts:
            raise TierChangeError(
                f"{what} to {target.title}: it allows {target.named_contacts} named contact(s) and "
                f"the contract names {len(contacts)}; remove contacts first"
            )
        if self.representative and not target.technical_account_representative:
            raise TierChangeError(
                f"{what} to {target.title}: it includes no technical account representative; "
                f"unassign {self.representative} first"
            )

    def add_contact(self, *, email: str, terms: Terms, at: datetime) -> None:
        """Name a contact, within the tier's limit."""
        when = self._check(at, "add a contact")
        self._require_valid(when, "add a contact")
        address = email_address(email)
        current = self.contacts_at(when)
        if address in current:
            raise DuplicateContactError(f"{address} is already a named contact")
        tier_terms = terms.tier(self.tier_at(when))
        if len(current) >= tier_terms.named_contacts:
            raise ContactLimitError(
                f"the {tier_terms.title} tier allows {tier_terms.named_contacts} named contact(s), "
                f"all named: {', '.join(current)}; remove one first or upgrade"
            )
        if self.pending_tier is not None:
            pending = terms.tier(self.pending_tier)
            if len(current) >= pending.named_contacts:
                raise ContactLimitError(
                    f"a downgrade to {pending.title} is scheduled, which allows "
                    f"{pending.named_contacts} named contact(s)"
                )
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
        tier_terms = terms.tier(self.tier_at(when))
        if not tier_terms.technical_account_representative:
            raise NotIncludedInTierError(
                f"the {tier_terms.title} tier includes no technical account representative"
            )
        if (
            self.pending_tier is not None
            and not terms.tier(self.pending_tier).technical_account_representative
        ):
            raise NotIncludedInTierError(
                "a downgrade is scheduled to a tier without a technical account representative"
            )
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
        if end <= start:
            raise AppointmentError(f"the window ends ({end.isoformat()}) before it starts")
        if start <= when:
            raise AppointmentError(
                f"appointments are booked in advance: {start.isoformat()} is not in the future"
            )
        if end - start > timedelta(days=terms.appointment_max_days):
            raise AppointmentError(
                f"an appointment lasts at most {terms.appointment_max_days} days"
            )
        if end > self.latest_term["ends_at"]:
            raise AppointmentError(
                "the window ends after the agreement's last term "
                f"({self.latest_term['ends_at'].isoformat()})"
            )
        overlap = next(iter(regular.intervals(start, end)), None)
        if overlap is not None:
            local = overlap[0].astimezone(regular.zone)
            raise AppointmentError(
                f"the window overlaps regular coverage ({local:%a %Y-%m-%d %H:%M %Z}); "
                "appointments are for time outside regular hours"
            )
        for entry in self.active_appointments():
            if entry["starts_at"] < end and start < entry["ends_at"]:
                raise AppointmentError(
                    "the window overlaps the appointment booked for "
                    f"{entry['starts_at'].isoformat()}"
                )
        tier_terms = terms.tier(self.tier_at(start))  # the tier in force when the window comes
        needs_weekend, needs_nights = _appointment_needs(regular, start, end)
        allowed = [(needs_weekend, tier_terms.weekend_appointments, "weekends and public holidays")]
        allowed.append((needs_nights, tier_terms.outside_hours_appointments, "weekday nights"))
        for needed, included, what in allowed:
            if needed and not included:
                raise NotIncludedInTierError(
                    f"the {tier_terms.title} tier includes no appointments on {what}"
                )
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
        for entry in self.active_appointments():
            if entry["starts_at"] == start and entry["ends_at"] == end:
                if start <= when:
                    raise AppointmentError(
                        f"the appointment began at {start.isoformat()}; "
                        "it can no longer be cancelled"
                    )
                self.trigger_event(
                    self.AppointmentCancelled,
                    starts_at=start,
                    ends_at=end,
                    calendar_revision=self.calendar_revision + 1,
                    cancelled_at=when,
                )
                return
        raise UnknownAppointmentError(
            f"no appointment is booked from {start.isoformat()} to {end.isoformat()}"
        )

    # -- questions -----------------------------------------------------------------------------

    @property
    def latest_term(self) -> dict[str, Any]:
        """The last term recorded (possibly one that has not begun yet)."""
        return self.terms[-1]

    def term_at(self, at: datetime) -> dict[str, Any] | None:
        """The term in force at `at`, if the agreement is valid then."""
        if self.terminated_at is not None and at >= self.terminated_at:
            return None
        for term in self.terms:
            if term["starts_at"] <= at < term["ends_at"]:
                return term
        return None

    def tier_at(self, at: datetime) -> str:
        """The tier in force at `at` (upgrades apply at once)."""
        tier = self.tier_changes[0]["tier"]
        for change in self.tier_changes:
            if change["at"] <= at:
                tier = change["tier"]
        return str(tier)

    def contacts_at(self, at: datetime) -> list[str]:
        """The named contacts at `at`."""
        return [
            c["email"]
            for c in self.contacts
            if c["added_at"] <= at and (c["removed_at"] is None or c["removed_at"] > at)
        ]

    def active_appointments(self) -> list[dict[str, Any]]:
        """Appointments booked and not cancelled."""
        return [a for a in self.appointments if a["cancelled_at"] is None]

    def appointment_windows(self) -> tuple[tuple[datetime, datetime], ...]:
        """The booked windows, for the contract calendar."""
        return tuple((a["starts_at"], a["ends_at"]) for a in self.active_appointments())

    def ended_without_renewal(self, at: datetime) -> bool:
        """Whether the latest term has ended by `at` with no term after it (lapse pending)."""
        return self.status == "active" and at >= self.latest_term["ends_at"]

    # -- helpers -------------------------------------------------------------------------------

    def _check(self, at: datetime, what: str) -> datetime:
        when = instant(at)
        not_before(when, self.last_at, f"cannot {what} at that time")
        return when

    def _require_status(self, status: str, what: str) -> None:
        if self.status != status:
            hint = "; reinstate it instead (80 % of list price)" if self.status == "lapsed" else ""
            raise ContractStateError(f"cannot {what}: the agreement is {self.status}{hint}")

    def _require_valid(self, at: datetime, what: str) -> dict[str, Any]:
        term = self.term_at(at)
        if term is None:
            raise AgreementNotValidError(f"cannot {what}: {self.validity_problem(at)}")
        return term

    def validity_problem(self, at: datetime) -> str:
        """Why the agreement is not valid at `at`, in words."""
        if self.terminated_at is not None and at >= self.terminated_at:
            return f"the agreement was terminated at {self.terminated_at.isoformat()}"
        first = self.terms[0]
        if at < first["starts_at"]:
            return f"the agreement starts at {first['starts_at'].isoformat()}"
        if self.status == "lapsed" or at >= self.latest_term["ends_at"]:
            return (
                f"the agreement's last term ended at {self.latest_term['ends_at'].isoformat()} "
                "without renewal"
            )
        return "no term of the agreement covers that instant"


def _add_term(aggregate: Any, event: Any, kind: str, recorded_at: datetime) -> None:
    aggregate.terms.append(
        {
            "number": event.term_number,
            "kind": kind,
            "starts_at": event.starts_at,
            "ends_at": event.ends_at,
            "tier": event.tier,
            "licenses": event.licenses,
            "list_price": event.list_price,
            "terms_version": event.terms_version,
            "fee_share": event.fee_share,
            "fee": event.fee,
            "recorded_at": recorded_at,
        }
    )
    if event.tier != aggregate.tier:
        aggregate.tier_changes.append({"at": event.starts_at, "tier": event.tier})
    aggregate.tier = event.tier
    aggregate.licenses = event.licenses
    aggregate.list_price = event.list_price
    aggregate.pending_tier = None
    aggregate.calendar_revision = event.calendar_revision
    aggregate.last_at = later(aggregate.last_at, recorded_at)


def _license_kind(terms: Terms, kind: str) -> str:
    value = str(kind).strip().lower()
    if value in terms.eligibility.refused_license_kinds:
        raise FreeLicenseError(f"{value} licenses do not include support")
    if value not in terms.eligibility.license_kinds:
        raise UnknownLicenseKindError(
            f"unknown license kind {kind!r}; expected {', '.join(terms.eligibility.license_kinds)}"
        )
    return value


def _appointment_needs(
    regular: BusinessCalendar, start: datetime, end: datetime
) -> tuple[bool, bool]:
    """Whether a window touches weekend/holiday dates, and whether it touches weekday nights."""
    zone = regular.zone
    first = start.astimezone(zone).date()
    last = (end - timedelta(microseconds=1)).astimezone(zone).date()
    closed = {d for d, _ in regular.closed_between(first, last)}
    weekend = nights = False
    day = first
    while day <= last:
        if day.weekday() >= 5 or day in closed:
            weekend = True
        else:
            nights = True
        day += timedelta(days=1)
    return weekend, nights
