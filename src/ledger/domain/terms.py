"""The published support terms as frozen data: tiers, severities, eligibility and fees.

The values come from a versioned terms file (see `ledger.terms`); this module only defines
their shape and the lookups the rules need, so the domain never reads a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from ledger.domain.errors import UnknownSeverityError, UnknownTierError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from decimal import Decimal

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Seconds since local midnight: (start, end) with 0 <= start < end <= 86400.
DayWindows = tuple[tuple[int, int], ...]
WeeklyWindows = tuple[
    DayWindows, DayWindows, DayWindows, DayWindows, DayWindows, DayWindows, DayWindows
]


class Tier(StrEnum):
    """A support tier; the value is the name used on the command line and in events."""

    PREMIUM = "premium"
    ADVANCED = "advanced"
    BASIC = "basic"

    @classmethod
    def parse(cls, text: str) -> Tier:
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


@dataclass(frozen=True)
class SeverityTerms:
    """One severity level as the terms define it."""

    level: int
    name: str
    description: str
    critical: bool


@dataclass(frozen=True)
class TierTerms:
    """Everything one tier grants and costs."""

    tier: Tier
    title: str
    rank: int
    updates_per_year: int
    response_hours: Mapping[int, int]
    coverage: WeeklyWindows
    outside_hours_appointments: bool
    weekend_appointments: bool
    named_contacts: int
    customer_service_portal: bool
    installation_upgrade_configuration: bool
    remote_assistance: bool
    priority_troubleshooting: bool
    support_credits_per_license: Decimal
    training_sessions_per_license: int
    technical_account_representative: bool
    annual_fee_share: Decimal

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

    license_kinds: tuple[str, ...]
    refused_license_kinds: tuple[str, ...]
    named_contacts_only: bool
    supported_release_lines: int
    prerelease_supported: bool
    platforms: tuple[str, ...]
    patch_severities: tuple[int, ...]


@dataclass(frozen=True)
class Terms:
    """One published version of the support terms."""

    version: str
    title: str
    status: str
    currency: str
    term_months: int
    session_minutes: int
    reinstatement_fee_share: Decimal
    warning_thresholds: tuple[Decimal, ...]
    default_timezone: str
    default_holiday_region: str
    appointment_max_days: int
    tiers: Mapping[Tier, TierTerms]
    severities: Mapping[int, SeverityTerms]
    default_severity: int
    eligibility: EligibilityTerms

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
