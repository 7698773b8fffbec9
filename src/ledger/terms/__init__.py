"""Load the versioned support terms shipped with the package into frozen dataclasses.

Each `<version>.toml` beside this module is one published version of the terms. Loading
validates every key and names the offending one (`tiers.premium.response_hours.1: ...`) so a
malformed file never half-loads. Floats in the file are read as exact decimals.
"""

from __future__ import annotations

import tomllib
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ledger.domain.calendar import format_clock, parse_weekly
from ledger.domain.errors import InvalidCalendarError, InvalidTermsError, UnknownTermsVersionError
from ledger.domain.terms import (
    WEEKDAY_NAMES,
    EligibilityTerms,
    SeverityTerms,
    Terms,
    Tier,
    TierTerms,
    parse_severity,
)

DEFAULT_VERSION = "expecco-2025-02"

__all__ = [
    "DEFAULT_VERSION",
    "available_versions",
    "load_terms",
    "load_terms_file",
    "parse_terms",
    "terms_as_dict",
]


def available_versions() -> list[str]:
    """The versions of the terms that ship with the package, oldest first."""
    folder = resources.files(__name__)
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


@cache
def load_terms(version: str = DEFAULT_VERSION) -> Terms:
    """The terms of `version` (cached: a published terms file never changes)."""
    if version not in available_versions():
        raise UnknownTermsVersionError(
            f"no terms version {version!r}; available: {', '.join(available_versions())}"
        )
    text = resources.files(__name__).joinpath(f"{version}.toml").read_text(encoding="utf-8")
    terms = parse_terms(text, source=f"{version}.toml")
    if terms.version != version:
        raise InvalidTermsError(
            f"{version}.toml: terms.version is {terms.version!r}, expected {version!r}"
        )
    return terms


def terms_as_dict(terms: Terms) -> dict[str, Any]:
    """The terms as plain JSON data (decimals as strings, windows as HH:MM pairs)."""
    return {
        "version": terms.version,
        "title": terms.title,
        "status": terms.status,
        "currency": terms.currency,
        "term_months": terms.term_months,
        "session_minutes": terms.session_minutes,
        "reinstatement_fee_share": str(terms.reinstatement_fee_share),
        "warning_thresholds": [str(t) for t in terms.warning_thresholds],
        "default_timezone": terms.default_timezone,
        "default_holiday_region": terms.default_holiday_region,
        "appointment_max_days": terms.appointment_max_days,
        "default_severity": terms.default_severity,
        "severities": {
            str(level): {"name": s.name, "description": s.description, "critical": s.critical}
            for level, s in terms.severities.items()
        },
        "eligibility": {
            "license_kinds": list(terms.eligibility.license_kinds),
            "refused_license_kinds": list(terms.eligibility.refused_license_kinds),
            "named_contacts_only": terms.eligibility.named_contacts_only,
            "supported_release_lines": terms.eligibility.supported_release_lines,
            "prerelease_supported": terms.eligibility.prerelease_supported,
            "platforms": list(terms.eligibility.platforms),
            "patch_severities": list(terms.eligibility.patch_severities),
        },
        "tiers": {
            t.tier.value: {
                "title": t.title,
                "rank": t.rank,
                "updates_per_year": t.updates_per_year,
                "response_hours": {str(k): v for k, v in t.response_hours.items()},
                "coverage": {
                    name: [[format_clock(s), format_clock(e)] for s, e in day]
                    for name, day in zip(WEEKDAY_NAMES, t.coverage, strict=True)
                    if day
                },
                "outside_hours": "on_appointment" if t.outside_hours_appointments else "no",
                "weekend": "on_appointment" if t.weekend_appointments else "no",
                "named_contacts": t.named_contacts,
                "customer_service_portal": t.customer_service_portal,
                "installation_upgrade_configuration": t.installation_upgrade_configuration,
                "remote_assistance": t.remote_assistance,
                "priority_troubleshooting": t.priority_troubleshooting,
                "support_credits_per_license": str(t.support_credits_per_license),
                "training_sessions_per_license": t.training_sessions_per_license,
                "technical_account_representative": t.technical_account_representative,
                "annual_fee_share": str(t.annual_fee_share),
            }
            for t in terms.tiers_by_rank()
        },
    }


def load_terms_file(path: str | Path) -> Terms:
    """Terms read from a file outside the package (for checking a draft of new terms)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidTermsError(f"{file}: cannot read the terms file ({exc.strerror})") from None
    return parse_terms(text, source=str(file))


def parse_terms(text: str, *, source: str = "terms") -> Terms:
    """Terms parsed from TOML text, every key validated."""
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidTermsError(f"{source}: not valid TOML: {exc}") from None
    return _Reader(source).terms(data)


class _Reader:
    """Reads one terms document, naming the key path in every error."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, problem: str) -> InvalidTermsError:
        return InvalidTermsError(f"{self.source}: {path}: {problem}")

    def table(self, data: Any, path: str, keys: set[str]) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.fail(path, f"expected a table, got {type(data).__name__}")
        missing = sorted(keys - set(data))
        if missing:
            raise self.fail(f"{path}.{missing[0]}" if path else missing[0], "missing")
        unknown = sorted(set(data) - keys)
        if unknown:
            raise self.fail(f"{path}.{unknown[0]}" if path else unknown[0], "unknown key")
        return data

    def string(self, data: dict[str, Any], key: str, path: str) -> str:
        value = data[key]
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{path}.{key}", f"expected a non-empty string, got {value!r}")
        return value

    def integer(self, data: dict[str, Any], key: str, path: str, *, minimum: int = 0) -> int:
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(f"{path}.{key}", f"expected an integer >= {minimum}, got {value!r}")
        return value

    def boolean(self, data: dict[str, Any], key: str, path: str) -> bool:
        value = data[key]
        if not isinstance(value, bool):
            raise self.fail(f"{path}.{key}", f"expected true or false, got {value!r}")
        return value

    def share(self, value: Any, path: str) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, Decimal | int):
            raise self.fail(path, f"expected a share between 0 and 1, got {value!r}")
        share = Decimal(value)
        if not Decimal(0) <= share <= Decimal(1):
            raise self.fail(path, f"expected a share between 0 and 1, got {value}")
        return share

    def choice(self, data: dict[str, Any], key: str, path: str, options: tuple[str, ...]) -> str:
        value = data[key]
        if value not in options:
            raise self.fail(f"{path}.{key}", f"expected one of {', '.join(options)}, got {value!r}")
        return str(value)

    def strings(self, data: dict[str, Any], key: str, path: str) -> tuple[str, ...]:
        value = data[key]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(f"{path}.{key}", f"expected a list of strings, got {value!r}")
        return tuple(value)

    def terms(self, data: dict[str, Any]) -> Terms:
        self.table(data, "", {"terms", "severities", "eligibility", "tiers"})
        head = self.table(
            data["terms"],
            "terms",
            {
                "version",
                "title",
                "status",
                "currency",
                "term_months",
                "session_minutes",
                "reinstatement_fee_share",
                "warning_thresholds",
                "default_timezone",
                "default_holiday_region",
                "appointment_max_days",
                "default_severity",
            },
        )
        thresholds = head["warning_thresholds"]
        if not isinstance(thresholds, list) or not thresholds:
            raise self.fail("terms.warning_thresholds", "expected a list of shares")
        warning_thresholds = tuple(
            self.share(v, f"terms.warning_thresholds[{i}]") for i, v in enumerate(thresholds)
        )
        if (
            list(warning_thresholds) != sorted(set(warning_thresholds))
            or Decimal(1) in warning_thresholds
        ):
            raise self.fail(
                "terms.warning_thresholds", "expected increasing shares below 1, e.g. [0.5, 0.75]"
            )
        severities = self.severities(data["severities"])
        default_severity = self.integer(head, "default_severity", "terms", minimum=1)
        if default_severity not in severities:
            raise self.fail("terms.default_severity", f"severity {default_severity} is not defined")
        tiers = self.tiers(data["tiers"], severities)
        return Terms(
            version=self.string(head, "version", "terms"),
            title=self.string(head, "title", "terms"),
            status=self.string(head, "status", "terms"),
            currency=self.string(head, "currency", "terms"),
            term_months=self.integer(head, "term_months", "terms", minimum=1),
            session_minutes=self.integer(head, "session_minutes", "terms", minimum=1),
            reinstatement_fee_share=self.share(
                head["reinstatement_fee_share"], "terms.reinstatement_fee_share"
            ),
            warning_thresholds=warning_thresholds,
            default_timezone=self.string(head, "default_timezone", "terms"),
            default_holiday_region=self.string(head, "default_holiday_region", "terms"),
            appointment_max_days=self.integer(head, "appointment_max_days", "terms", minimum=1),
            tiers=MappingProxyType(tiers),
            severities=MappingProxyType(severities),
            default_severity=default_severity,
            eligibility=self.eligibility(data["eligibility"], severities),
        )

    def severities(self, data: Any) -> dict[int, SeverityTerms]:
        if not isinstance(data, dict) or not data:
            raise self.fail("severities", "expected a table of severity levels")
        result: dict[int, SeverityTerms] = {}
        for key, value in data.items():
            path = f"severities.{key}"
            try:
                level = parse_severity(key)
            except Exception:  # noqa: BLE001 - any unreadable key is reported the same way
                raise self.fail(path, "severity levels are 1, 2 and 3") from None
            entry = self.table(value, path, {"name", "description", "critical"})
            result[level] = SeverityTerms(
                level=level,
                name=self.string(entry, "name", path),
                description=self.string(entry, "description", path),
                critical=self.boolean(entry, "critical", path),
            )
        missing = sorted({1, 2, 3} - set(result))
        if missing:
            raise self.fail(f"severities.{missing[0]}", "missing")
        return dict(sorted(result.items()))

    def eligibility(self, data: Any, severities: dict[int, SeverityTerms]) -> EligibilityTerms:
        path = "eligibility"
        entry = self.table(
            data,
            path,
            {
                "license_kinds",
                "refused_license_kinds",
                "named_contacts_only",
                "supported_release_lines",
                "prerelease_supported",
                "platforms",
                "patch_severities",
            },
        )
        patch = entry["patch_severities"]
        if not isinstance(patch, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v in severities for v in patch
        ):
            raise self.fail(f"{path}.patch_severities", f"expected severity levels, got {patch!r}")
        kinds = self.strings(entry, "license_kinds", path)
        refused = self.strings(entry, "refused_license_kinds", path)
        if set(kinds) & set(refused):
            raise self.fail(f"{path}.refused_license_kinds", "overlaps license_kinds")
        return EligibilityTerms(
            license_kinds=kinds,
            refused_license_kinds=refused,
            named_contacts_only=self.boolean(entry, "named_contacts_only", path),
            supported_release_lines=self.integer(entry, "supported_release_lines", path, minimum=1),
            prerelease_supported=self.boolean(entry, "prerelease_supported", path),
            platforms=tuple(p.lower() for p in self.strings(entry, "platforms", path)),
            patch_severities=tuple(patch),
        )

    def tiers(self, data: Any, severities: dict[int, SeverityTerms]) -> dict[Tier, TierTerms]:
        if not isinstance(data, dict):
            raise self.fail("tiers", "expected a table of tiers")
        unknown = sorted(set(data) - {t.value for t in Tier})
        if unknown:
            raise self.fail(f"tiers.{unknown[0]}", "unknown tier")
        missing = [t.value for t in Tier if t.value not in data]
        if missing:
            raise self.fail(f"tiers.{missing[0]}", "missing")
        result = {tier: self.tier(tier, data[tier.value], severities) for tier in Tier}
        ranks = sorted(t.rank for t in result.values())
        if len(set(ranks)) != len(ranks):
            raise self.fail("tiers", "every tier needs a distinct rank")
        return result

    def tier(self, tier: Tier, data: Any, severities: dict[int, SeverityTerms]) -> TierTerms:
        path = f"tiers.{tier.value}"
        entry = self.table(
            data,
            path,
            {
                "title",
                "rank",
                "updates_per_year",
                "response_hours",
                "coverage",
                "outside_hours",
                "weekend",
                "named_contacts",
                "customer_service_portal",
                "installation_upgrade_configuration",
                "remote_assistance",
                "priority_troubleshooting",
                "support_credits_per_license",
                "training_sessions_per_license",
                "technical_account_representative",
                "annual_fee_share",
            },
        )
        hours = self.table(
            entry["response_hours"], f"{path}.response_hours", {str(level) for level in severities}
        )
        response_hours = {
            int(level): self.integer(hours, level, f"{path}.response_hours", minimum=1)
            for level in sorted(hours)
        }
        try:
            coverage = parse_weekly(entry["coverage"], where=f"{path}.coverage")
        except InvalidCalendarError as exc:
            raise InvalidTermsError(f"{self.source}: {exc.message}") from None
        credits_value = entry["support_credits_per_license"]
        if (
            isinstance(credits_value, bool)
            or not isinstance(credits_value, int | Decimal)
            or credits_value < 0
        ):
            raise self.fail(
                f"{path}.support_credits_per_license",
                f"expected a number >= 0, got {credits_value!r}",
            )
        appointment = ("on_appointment", "no")
        return TierTerms(
            tier=tier,
            title=self.string(entry, "title", path),
            rank=self.integer(entry, "rank", path, minimum=1),
            updates_per_year=self.integer(entry, "updates_per_year", path),
            response_hours=MappingProxyType(response_hours),
            coverage=coverage,
            outside_hours_appointments=self.choice(entry, "outside_hours", path, appointment)
            == "on_appointment",
            weekend_appointments=self.choice(entry, "weekend", path, appointment)
            == "on_appointment",
            named_contacts=self.integer(entry, "named_contacts", path, minimum=1),
            customer_service_portal=self.boolean(entry, "customer_service_portal", path),
            installation_upgrade_configuration=self.boolean(
                entry, "installation_upgrade_configuration", path
            ),
            remote_assistance=self.boolean(entry, "remote_assistance", path),
            priority_troubleshooting=self.boolean(entry, "priority_troubleshooting", path),
            support_credits_per_license=Decimal(credits_value),
            training_sessions_per_license=self.integer(
                entry, "training_sessions_per_license", path
            ),
            technical_account_representative=self.boolean(
                entry, "technical_account_representative", path
            ),
            annual_fee_share=self.share(entry["annual_fee_share"], f"{path}.annual_fee_share"),
        )
