"""What a maintenance agreement holds, as values, and the rules that decide on them.

A contract's terms, tier changes, lapses, upgrades, named contacts and appointments are frozen
value objects; the rules of signing, ordering a term, upgrading pro rata and booking covered
time outside regular hours are functions of those values and the published terms.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Self

from ledger.domain.base import clean_text, money, non_negative_money, points, within_years
from ledger.domain.calendar import load_zone
from ledger.domain.currencies import currency_code
from ledger.domain.errors import (
    AppointmentError,
    ContactLimitError,
    ContractStateError,
    FreeLicenseError,
    InvalidAmountError,
    InvalidInputError,
    NotIncludedInTierError,
    TierChangeError,
    UnknownAppointmentError,
    UnknownLicenseKindError,
)
from ledger.domain.values import Value

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ledger.domain.calendar import BusinessCalendar
    from ledger.domain.terms import Terms, Tier, TierTerms

SHARE_PLACES = Decimal("0.000001")
MAX_LICENSES = 100_000


class ContractStatus(StrEnum):
    """Where an agreement stands."""

    ACTIVE = "active"
    LAPSED = "lapsed"
    TERMINATED = "terminated"


# Not a recorded status: shown for an `active` agreement whose latest term ended without
# renewal, until the scheduler records its lapse (`ledger.presenters.contract_status`).
LAPSE_PENDING = "lapse_pending"


class TermKind(StrEnum):
    """How a term came about."""

    INITIAL = "initial"
    RENEWAL = "renewal"
    REINSTATEMENT = "reinstatement"


@dataclass(frozen=True, slots=True)
class Term(Value):
    """One year of the agreement: its tier, licenses and the fee assessed for it."""

    number: int
    kind: TermKind
    starts_at: datetime
    ends_at: datetime
    tier: str
    licenses: int
    list_price: Decimal
    terms_version: str
    fee_share: Decimal
    fee: Decimal
    recorded_at: datetime

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """The term of `as_dict`'s dict."""
        return cls(**{**data, "kind": TermKind(data["kind"])})

    def covers(self, at: datetime) -> bool:
        """Whether `at` falls within the term."""
        return self.starts_at <= at < self.ends_at

    def remaining_share(self, at: datetime) -> Decimal:
        """The share of the term still to come at `at` (all of it before it begins)."""
        span = (self.ends_at - self.starts_at) // timedelta(microseconds=1)
        rest = (self.ends_at - max(self.starts_at, at)) // timedelta(microseconds=1)
        return (Decimal(rest) / Decimal(span)).quantize(SHARE_PLACES, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class TierChange(Value):
    """A tier in force from `at` on."""

    at: datetime
    tier: str


@dataclass(frozen=True, slots=True)
class Lapse(Value):
    """A term that ended without renewal."""

    term_number: int
    ended_at: datetime
    late: bool


@dataclass(frozen=True, slots=True)
class Adjustment(Value):
    """What an upgrade changed for one term: fee assessed, points and sessions granted now."""

    term_number: int
    remaining_share: Decimal
    fee: Decimal
    points: Decimal
    sessions: int
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Upgrade(Value):
    """A tier raised at once, with the adjustment of each term from then on."""

    from_tier: str
    to_tier: str
    at: datetime
    adjustments: tuple[Adjustment, ...]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """The upgrade of `as_dict`'s dict (or of an event's fields)."""
        adjustments = tuple(Adjustment.from_dict(a) for a in data["adjustments"])
        return cls(**{**data, "adjustments": adjustments})


@dataclass(frozen=True, slots=True)
class Contact(Value):
    """A named contact, from when it was added until it was removed."""

    email: str
    added_at: datetime
    removed_at: datetime | None

    def named_at(self, at: datetime) -> bool:
        """Whether the contact is named at `at`."""
        return self.added_at <= at and (self.removed_at is None or self.removed_at > at)


@dataclass(frozen=True, slots=True)
class Appointment(Value):
    """A booked window of covered time outside regular hours."""

    starts_at: datetime
    ends_at: datetime
    booked_at: datetime
    cancelled_at: datetime | None

    def is_window(self, start: datetime, end: datetime) -> bool:
        """Whether this is the active appointment from `start` to `end`."""
        return (self.starts_at, self.ends_at, self.cancelled_at) == (start, end, None)


def with_tier(terms: Sequence[Term], numbers: set[int], tier: str) -> list[Term]:
    """`terms` with those numbered `numbers` raised to `tier`."""
    return [t.but(tier=tier) if t.number in numbers else t for t in terms]


# -- rules -------------------------------------------------------------------------------------


def one_year_later(day: date) -> date:
    """The same day a year later; 29 February becomes 1 March."""
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return date(day.year + 1, 3, 1)


def local_midnight(day: date, timezone: str) -> datetime:
    """The UTC instant of local midnight starting `day` in `timezone`."""
    return datetime(day.year, day.month, day.day, tzinfo=load_zone(timezone)).astimezone(UTC)


def typed_state(state: dict[str, Any]) -> None:
    """A contract's state of dicts (version 1, a snapshot's plain form) in value objects."""
    state["status"] = ContractStatus(state["status"])
    state["terms"] = [Term.from_dict(t) for t in state["terms"]]
    state["tier_changes"] = [TierChange.from_dict(t) for t in state["tier_changes"]]
    state["lapses"] = [Lapse.from_dict(lapse) for lapse in state["lapses"]]
    state["upgrades"] = [Upgrade.from_dict(u) for u in state["upgrades"]]
    state["contacts"] = [Contact.from_dict(c) for c in state["contacts"]]
    state["appointments"] = [Appointment.from_dict(a) for a in state["appointments"]]


def signing(
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
    currency: str | None = None,
) -> dict[str, Any]:
    """The checked fields of a signing: customer, tier, licenses, price and its currency (the
    terms' by default), zone and first term."""
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
    region = (terms.default_holiday_region if holiday_region is None else holiday_region).strip()
    region = "" if region.lower() in {"", "none"} else region.upper()
    if not isinstance(start, date) or isinstance(start, datetime):
        raise InvalidInputError(f"start: expected a date, got {start!r}")
    within_years(start.year, "start", start.isoformat())
    if licenses > MAX_LICENSES:
        raise InvalidAmountError(f"licenses: at most {MAX_LICENSES}, got {licenses}")
    share = tier_terms.annual_fee_share
    return {
        "customer": name,
        "tier": tier_terms.tier.value,
        "licenses": licenses,
        "license_kind": kind,
        "list_price": price,
        "currency": currency_code(terms.currency if currency is None else currency),
        "terms_version": terms.version,
        "timezone": zone,
        "holiday_region": region,
        "starts_at": local_midnight(start, zone),
        "ends_at": local_midnight(one_year_later(start), zone),
        "fee_share": share,
        "fee": money(share * price),
    }


def ordered_licenses(count: int, given: int | None) -> int:
    """The licenses of a term ordered with `given` (None: the `count` the contract has)."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InvalidAmountError(f"licenses: at least one developer license, got {given!r}")
    if count > MAX_LICENSES:
        raise InvalidAmountError(f"licenses: at most {MAX_LICENSES}, got {count}")
    return count


def ordered_price(current: Decimal, given: Decimal | None) -> Decimal:
    """The list price of a term ordered with `given` (None: the `current` one)."""
    price = current if given is None else non_negative_money(given, "list price")
    if price <= 0:
        raise InvalidAmountError(f"list price must be greater than zero, got {given}")
    return price


def upgrade_adjustments(
    terms: Terms, target: TierTerms, below: Sequence[Term], when: datetime
) -> list[dict[str, Any]]:
    """What raising `below` (the terms under the target from `when` on) to `target` changes.

    Each term pays the difference to its own tier: pro rata for the running term, in full
    for one that has not begun. Points and sessions of the running term were granted at its
    start, so its difference is granted now; a later term is granted at its start.
    """
    adjustments = []
    for t in below:
        own = terms.tier(t.tier)
        share = t.remaining_share(when)
        current_now = t.starts_at <= when
        fee_share = target.annual_fee_share - own.annual_fee_share
        more_points = target.support_credits_per_license - own.support_credits_per_license
        more_sessions = target.training_sessions_per_license - own.training_sessions_per_license
        sessions = (Decimal(more_sessions) * t.licenses * share).to_integral_value(
            rounding=ROUND_FLOOR
        )
        adjustments.append(
            {
                "term_number": t.number,
                "remaining_share": share,
                "fee": money(fee_share * t.list_price * share),
                "points": points(more_points * t.licenses * share) if current_now else Decimal(0),
                "sessions": int(sessions) if current_now else 0,
                "expires_at": t.ends_at,
            }
        )
    return adjustments


def check_fits(
    target: TierTerms, contacts: Sequence[str], representative: str | None, what: str
) -> None:
    """A lower tier must hold what the contract has: contacts and representative.

    Appointments need no check: they are booked within the recorded terms, and a downgrade
    takes effect only after the last of them.
    """
    if len(contacts) > target.named_contacts:
        raise TierChangeError(
            f"{what} to {target.title}: it allows {target.named_contacts} named contact(s) and "
            f"the contract names {len(contacts)}; remove contacts first"
        )
    if representative and not target.technical_account_representative:
        raise TierChangeError(
            f"{what} to {target.title}: it includes no technical account representative; "
            f"unassign {representative} first"
        )


def check_contact_room(
    tier_terms: TierTerms, pending: TierTerms | None, current: Sequence[str]
) -> None:
    """One more named contact must fit the tier, and a scheduled downgrade's tier."""
    if len(current) >= tier_terms.named_contacts:
        raise ContactLimitError(
            f"the {tier_terms.title} tier allows {tier_terms.named_contacts} named contact(s), "
            f"all named: {', '.join(current)}; remove one first or upgrade"
        )
    if pending is not None and len(current) >= pending.named_contacts:
        raise ContactLimitError(
            f"a downgrade to {pending.title} is scheduled, which allows "
            f"{pending.named_contacts} named contact(s)"
        )


def check_representative(tier_terms: TierTerms, pending: TierTerms | None) -> None:
    """A representative needs a tier that includes one, and so does a scheduled downgrade."""
    if not tier_terms.technical_account_representative:
        raise NotIncludedInTierError(
            f"the {tier_terms.title} tier includes no technical account representative"
        )
    if pending is not None and not pending.technical_account_representative:
        raise NotIncludedInTierError(
            "a downgrade is scheduled to a tier without a technical account representative"
        )


def check_appointment(
    *,
    start: datetime,
    end: datetime,
    when: datetime,
    last_term_ends_at: datetime,
    terms: Terms,
    regular: BusinessCalendar,
    booked: Sequence[Appointment],
) -> None:
    """A window must be ahead, short enough, within the terms, outside regular coverage and
    clear of the active appointments `booked`."""
    if end <= start:
        raise AppointmentError(f"the window ends ({end.isoformat()}) before it starts")
    if start <= when:
        raise AppointmentError(
            f"appointments are booked in advance: {start.isoformat()} is not in the future"
        )
    if end - start > timedelta(days=terms.appointment_max_days):
        raise AppointmentError(f"an appointment lasts at most {terms.appointment_max_days} days")
    if end > last_term_ends_at:
        raise AppointmentError(
            f"the window ends after the agreement's last term ({last_term_ends_at.isoformat()})"
        )
    overlap = next(iter(regular.intervals(start, end)), None)
    if overlap is not None:
        local = overlap[0].astimezone(regular.zone)
        raise AppointmentError(
            f"the window overlaps regular coverage ({local:%a %Y-%m-%d %H:%M %Z}); "
            "appointments are for time outside regular hours"
        )
    for entry in booked:
        if entry.starts_at < end and start < entry.ends_at:
            raise AppointmentError(
                f"the window overlaps the appointment booked for {entry.starts_at.isoformat()}"
            )


def check_appointment_tier(
    tier_terms: TierTerms, regular: BusinessCalendar, start: datetime, end: datetime
) -> None:
    """Weekday nights need outside-hours appointments; weekends and holidays weekend ones."""
    needs_weekend, needs_nights = _appointment_needs(regular, start, end)
    allowed = [(needs_weekend, tier_terms.weekend_appointments, "weekends and public holidays")]
    allowed.append((needs_nights, tier_terms.outside_hours_appointments, "weekday nights"))
    for needed, included, what in allowed:
        if needed and not included:
            raise NotIncludedInTierError(
                f"the {tier_terms.title} tier includes no appointments on {what}"
            )


def check_renewal(latest: Term, when: datetime) -> None:
    """The next term is ordered while the latest runs: not after it ended, not twice."""
    if when >= latest.ends_at:
        raise ContractStateError(
            f"term {latest.number} ended at {latest.ends_at.isoformat()} without "
            "renewal, so the agreement has lapsed; reinstate it instead (80 % of list price)"
        )
    if latest.starts_at > when:
        raise ContractStateError(
            f"already renewed: term {latest.number} runs from "
            f"{latest.starts_at.isoformat()} to {latest.ends_at.isoformat()}"
        )


def check_lapse(latest: Term, when: datetime) -> None:
    """A term lapses only once it has ended."""
    if when < latest.ends_at:
        raise ContractStateError(
            f"term {latest.number} runs until {latest.ends_at.isoformat()}; it cannot "
            "lapse before it ends"
        )


def check_cancellation(
    appointments: Sequence[Appointment], start: datetime, end: datetime, when: datetime
) -> None:
    """An appointment is cancelled only if it is booked and has not begun."""
    if not any(a.is_window(start, end) for a in appointments):
        raise UnknownAppointmentError(
            f"no appointment is booked from {start.isoformat()} to {end.isoformat()}"
        )
    if start <= when:
        raise AppointmentError(
            f"the appointment began at {start.isoformat()}; it can no longer be cancelled"
        )


def validity_problem(
    terms: Sequence[Term], status: ContractStatus, terminated_at: datetime | None, at: datetime
) -> str:
    """Why an agreement of `terms` is not valid at `at`, in words."""
    if terminated_at is not None and at >= terminated_at:
        return f"the agreement was terminated at {terminated_at.isoformat()}"
    first, latest = terms[0], terms[-1]
    if at < first.starts_at:
        return f"the agreement starts at {first.starts_at.isoformat()}"
    if status == ContractStatus.LAPSED or at >= latest.ends_at:
        return f"the agreement's last term ended at {latest.ends_at.isoformat()} without renewal"
    return "no term of the agreement covers that instant"


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
