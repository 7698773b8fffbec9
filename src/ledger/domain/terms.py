"""The published support terms as frozen data: tiers, severities, eligibility and fees.

The values come from a versioned terms file (see `ledger.terms`); this module only defines
their shape and the lookups the rules need, so the domain never reads a file. The shape is the
file's schema: each field declares its type and bounds (`Share`, `PositiveCount`, ...) and, in
its `figure` metadata, what it means, its unit and where its key sits in the file. The loader
reads nothing else, so a new figure is a field here and a key in the terms file.
"""

# No `from __future__ import annotations`: the loader reads these annotations at run time.

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from ledger.domain.errors import UnknownSeverityError, UnknownTierError

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SEVERITY_LEVELS = (1, 2, 3)

# Seconds since local midnight: (start, end) with 0 <= start < end <= 86400.
DayWindows = tuple[tuple[int, int], ...]
WeeklyWindows = tuple[
    DayWindows, DayWindows, DayWindows, DayWindows, DayWindows, DayWindows, DayWindows
]


@dataclass(frozen=True)
class Bounds:
    """The values a number of the terms may take, and what a value of it is called."""

    noun: str = ""
    minimum: int | Decimal | None = None
    maximum: int | Decimal | None = None
    values: tuple[int, ...] = ()
    plural: str = ""

    def admits(self, value: int | Decimal) -> bool:
        """Whether `value` lies within these bounds."""
        if self.values and value not in self.values:
            return False
        if self.minimum is not None and value < self.minimum:
            return False
        return self.maximum is None or value <= self.maximum


Count = Annotated[int, Bounds(minimum=0)]
PositiveCount = Annotated[int, Bounds(minimum=1)]
Points = Annotated[Decimal, Bounds(minimum=Decimal(0))]
Share = Annotated[
    Decimal, Bounds("share", minimum=Decimal(0), maximum=Decimal(1), plural="a list of shares")
]
SeverityLevel = Annotated[
    int, Bounds("severity level", values=SEVERITY_LEVELS, plural="severity levels")
]

# A rule across values: (the field's value, the fields read before it) -> a problem or None.
Check = Callable[[Any, Mapping[str, Any]], str | None]


@dataclass(frozen=True)
class Figure:
    """How one field of the terms is written in a terms file, what it means and its unit."""

    doc: str
    unit: str = ""
    key: str = ""
    table: str = ""
    choices: Mapping[str, object] | None = None
    from_parent_key: bool = False
    check: Check | None = None
    convert: Callable[[Any], Any] | None = None
    order: Callable[[Any], Any] | None = None


FIGURE = "ledger.figure"


def figure(
    doc: str,
    *,
    unit: str = "",
    key: str = "",
    table: str = "",
    choices: Mapping[str, object] | None = None,
    from_parent_key: bool = False,
    check: Check | None = None,
    convert: Callable[[Any], Any] | None = None,
    order: Callable[[Any], Any] | None = None,
) -> dict[str, Figure]:
    """Field metadata for a figure of the terms (`field(metadata=figure(...))`).

    `key` is its key in the file when that differs from the field's name; `table` the sub-table
    the key sits in; `choices` the words the file may use and the value each stands for;
    `from_parent_key` marks the field that takes the key its table stands under (`tiers.basic`);
    `check` is a rule across values, `convert` normalises the value read, and `order` sorts the
    entries of a table of tables.
    """
    return {
        FIGURE: Figure(
            doc,
            unit=unit,
            key=key,
            table=table,
            choices=choices,
            from_parent_key=from_parent_key,
            check=check,
            convert=convert,
            order=order,
        )
    }


class Tier(StrEnum):
    """A support tier; the value is the name used on the command line and in events."""

    PREMIUM = "premium"
    ADVANCED = "advanced"
    BASIC = "basic"

    @classmethod
    def parse(cls, text: str) -> "Tier":
        """The tier named by `text`, in any case."""
        try:
            return cls(str(text).strip().lower())
        except ValueError:
            names = ", ".join(t.value for t in cls)
            raise UnknownTierError(f"unknown tier {text!r}; expected one of {names}") from None


def parse_severity(value: object) -> int:
    """The severity level 1, 2 or 3 named by `value` (an int or its text)."""
    text = str(value).strip()
    if text in {"1", "2", "3"}:
        return int(text)
    raise UnknownSeverityError(f"unknown severity {value!r}; expected 1, 2 or 3")


def increasing_below_one(shares: tuple[Decimal, ...], _row: Mapping[str, Any]) -> str | None:
    """A problem unless the warning thresholds increase and stay below 1."""
    if shares and list(shares) == sorted(set(shares)) and Decimal(1) not in shares:
        return None
    return "expected increasing shares below 1, e.g. [0.5, 0.75]"


def disjoint_from_license_kinds(refused: tuple[str, ...], row: Mapping[str, Any]) -> str | None:
    """A problem when a refused license kind is also a supported one."""
    return "overlaps license_kinds" if set(refused) & set(row.get("license_kinds", ())) else None


def distinct_ranks(tiers: Mapping[Tier, "TierTerms"], _row: Mapping[str, Any]) -> str | None:
    """A problem when two tiers share a rank."""
    ranks = [t.rank for t in tiers.values()]
    return None if len(set(ranks)) == len(ranks) else "every tier needs a distinct rank"


def lower_case(names: tuple[str, ...]) -> tuple[str, ...]:
    """The names in lower case."""
    return tuple(name.lower() for name in names)


def highest_rank_first(tier: "TierTerms") -> int:
    """The sort key that lists the tiers from the highest rank down."""
    return -tier.rank


APPOINTMENT = {"on_appointment": True, "no": False}


@dataclass(frozen=True)
class SeverityTerms:
    """One severity level as the terms define it."""

    level: SeverityLevel = field(
        metadata=figure("The level: the key of its table (severities.1).", from_parent_key=True)
    )
    name: str = field(metadata=figure("The name of the level, as published."))
    description: str = field(metadata=figure("The published definition of the level."))
    critical: bool = field(
        metadata=figure("Whether the terms call defects of this level critical.")
    )


@dataclass(frozen=True)
class TierTerms:
    """Everything one tier grants and costs."""

    tier: Tier = field(
        metadata=figure("The tier: the key of its table (tiers.premium).", from_parent_key=True)
    )
    title: str = field(metadata=figure("The name of the tier, as published."))
    rank: PositiveCount = field(
        metadata=figure(
            "Order of the tiers, distinct per tier: higher grants more; an upgrade goes up.",
            unit="rank",
        )
    )
    updates_per_year: Count = field(
        metadata=figure("Updates of the product per year.", unit="updates per year")
    )
    response_hours: Mapping[SeverityLevel, PositiveCount] = field(
        metadata=figure(
            "Response target per severity level (keys 1, 2, 3), counted in covered time.",
            unit="business hours",
        )
    )
    coverage: WeeklyWindows = field(
        metadata=figure(
            "Covered hours per weekday (mon..sun), local time of the contract; 24:00 may end.",
            unit='["HH:MM", "HH:MM"] windows',
        )
    )
    outside_hours_appointments: bool = field(
        metadata=figure(
            "Whether weekday time outside the covered hours can be booked as an appointment.",
            unit='"on_appointment" or "no"',
            key="outside_hours",
            choices=APPOINTMENT,
        )
    )
    weekend_appointments: bool = field(
        metadata=figure(
            "Whether weekend time can be booked as an appointment.",
            unit='"on_appointment" or "no"',
            key="weekend",
            choices=APPOINTMENT,
        )
    )
    named_contacts: PositiveCount = field(
        metadata=figure(
            "Named contacts (assigned customer representatives) who may ask for support.",
            unit="people",
        )
    )
    customer_service_portal: bool = field(
        metadata=figure("Whether the customer service portal is included.")
    )
    installation_upgrade_configuration: bool = field(
        metadata=figure("Whether help with installation, upgrade and configuration is included.")
    )
    remote_assistance: bool = field(metadata=figure("Whether remote assistance can be asked for."))
    priority_troubleshooting: bool = field(
        metadata=figure("Whether priority troubleshooting can be asked for on a ticket.")
    )
    support_credits_per_license: Points = field(
        metadata=figure(
            "Support credits granted each term per developer license; they expire at term end.",
            unit="points per developer license per term",
        )
    )
    training_sessions_per_license: Count = field(
        metadata=figure(
            "Online training sessions granted each term per developer license.",
            unit="sessions per developer license per term",
        )
    )
    technical_account_representative: bool = field(
        metadata=figure("Whether a technical account representative is assigned.")
    )
    annual_fee_share: Share = field(
        metadata=figure(
            "Fee of each term (signing, renewal), as a share of the list price.",
            unit="share of the list price (0.65 = 65 %)",
        )
    )

    def response_target(self, severity: int) -> timedelta:
        """The response target for a severity, in covered (business) time."""
        level = (
            severity if type(severity) is int and 1 <= severity <= 3 else parse_severity(severity)
        )
        return timedelta(hours=self.response_hours[level])

    @property
    def any_appointments(self) -> bool:
        """Whether the tier allows booking any covered time outside regular hours."""
        return self.outside_hours_appointments or self.weekend_appointments


@dataclass(frozen=True)
class EligibilityTerms:
    """Who and what is eligible for support."""

    license_kinds: tuple[str, ...] = field(
        metadata=figure("License kinds whose holders get support.")
    )
    refused_license_kinds: tuple[str, ...] = field(
        metadata=figure(
            "License kinds that never include support (none of license_kinds).",
            check=disjoint_from_license_kinds,
        )
    )
    named_contacts_only: bool = field(
        metadata=figure("Whether only named contacts get support; others are redirected to them.")
    )
    supported_release_lines: PositiveCount = field(
        metadata=figure(
            "Release lines supported: the current one and the ones before it (2: 24.2 and 24.1).",
            unit="release lines",
        )
    )
    prerelease_supported: bool = field(
        metadata=figure("Whether beta and pre-GA releases are supported.")
    )
    platforms: tuple[str, ...] = field(
        metadata=figure("Supported platforms (read in lower case).", convert=lower_case)
    )
    patch_severities: tuple[SeverityLevel, ...] = field(
        metadata=figure("Severity levels whose defects get patches.", unit="severity levels")
    )


@dataclass(frozen=True)
class Terms:
    """One published version of the support terms."""

    version: str = field(
        metadata=figure("The name of this version; the file is named after it.", table="terms")
    )
    title: str = field(metadata=figure("The title of the published terms.", table="terms"))
    status: str = field(metadata=figure("The status the terms carry, as published.", table="terms"))
    currency: str = field(
        metadata=figure("Currency of fees and package prices.", unit="ISO 4217 code", table="terms")
    )
    term_months: PositiveCount = field(
        metadata=figure("Length of one contract term.", unit="months", table="terms")
    )
    session_minutes: PositiveCount = field(
        metadata=figure("Length of one online training session.", unit="minutes", table="terms")
    )
    reinstatement_fee_share: Share = field(
        metadata=figure(
            "Fee of the first term after a lapse, as a share of the list price.",
            unit="share of the list price (0.80 = 80 %)",
            table="terms",
        )
    )
    warning_thresholds: tuple[Share, ...] = field(
        metadata=figure(
            "When to warn before a breach, increasing and below 1.",
            unit="shares of the response target in business time",
            table="terms",
            check=increasing_below_one,
        )
    )
    default_timezone: str = field(
        metadata=figure(
            "Timezone of a contract's covered hours unless the contract names one.",
            unit="IANA name",
            table="terms",
        )
    )
    default_holiday_region: str = field(
        metadata=figure(
            "Public holidays of a contract unless it names a region.",
            unit="region of the holidays package",
            table="terms",
        )
    )
    appointment_max_days: PositiveCount = field(
        metadata=figure(
            "Longest appointment window a customer can book.", unit="days", table="terms"
        )
    )
    default_severity: SeverityLevel = field(
        metadata=figure(
            "Severity of a request that names none.", unit="severity level", table="terms"
        )
    )
    severities: Mapping[SeverityLevel, SeverityTerms] = field(
        metadata=figure("The severity levels 1, 2 and 3, each a table.")
    )
    eligibility: EligibilityTerms = field(metadata=figure("Who and what is eligible for support."))
    tiers: Mapping[Tier, TierTerms] = field(
        metadata=figure(
            "The tiers premium, advanced and basic, each a table.",
            check=distinct_ranks,
            order=highest_rank_first,
        )
    )

    def tier(self, tier: Tier | str) -> TierTerms:
        """The terms of one tier, by enum or name."""
        if isinstance(tier, str):  # a Tier is also its name, so "premium" finds Tier.PREMIUM
            found: TierTerms | None = self.tiers.get(tier)  # type: ignore[call-overload]
            if found is not None:
                return found
        return self.tiers[tier if isinstance(tier, Tier) else Tier.parse(tier)]

    def severity(self, level: int | str) -> SeverityTerms:
        """The definition of one severity level."""
        return self.severities[parse_severity(level)]

    def tiers_by_rank(self) -> list[TierTerms]:
        """The tiers from the highest to the lowest."""
        return sorted(self.tiers.values(), key=lambda t: t.rank, reverse=True)
