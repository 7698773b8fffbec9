"""Who and what is eligible for support, checked in a fixed order with stable reason codes.

1. `no_valid_agreement`: no term of the contract covers the instant the request was received.
2. `free_license`: the installation runs under a free license.
3. `not_a_named_contact`: the reporter is not named; the answer lists whom to redirect to.
4. `unsupported_version`: the version's line is not among the supported lines (or the version
   was never released); the answer names the supported lines.
5. `prerelease_version`: a beta or pre-GA release (including one of a line newer than the
   supported ones).
6. `unsupported_platform`: a platform the terms do not support.
The catalog is read as it stood when the request was received.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ledger.domain.releases import line_key, parse_version

if TYPE_CHECKING:
    from datetime import datetime

    from ledger.domain.contract import Contract
    from ledger.domain.releases import ReleaseCatalog, Version
    from ledger.domain.terms import Terms

NO_VALID_AGREEMENT = "no_valid_agreement"
FREE_LICENSE = "free_license"
NOT_A_NAMED_CONTACT = "not_a_named_contact"
UNSUPPORTED_VERSION = "unsupported_version"
PRERELEASE_VERSION = "prerelease_version"
UNSUPPORTED_PLATFORM = "unsupported_platform"
REASONS = (
    NO_VALID_AGREEMENT,
    FREE_LICENSE,
    NOT_A_NAMED_CONTACT,
    UNSUPPORTED_VERSION,
    PRERELEASE_VERSION,
    UNSUPPORTED_PLATFORM,
)


@dataclass(frozen=True)
class Decline:
    """Why a request is declined: a stable reason code, words for people, and details."""

    reason: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)


def check_eligibility(
    *,
    contract: Contract,
    catalog: ReleaseCatalog | None,
    terms: Terms,
    reporter: str,
    version: Version | str,
    platform: str,
    license_kind: str,
    received_at: datetime,
) -> Decline | None:
    """The first rule the request breaks, or None when it is eligible."""
    if contract.term_at(received_at) is None:
        return Decline(NO_VALID_AGREEMENT, contract.validity_problem(received_at))

    kind = license_kind.strip().lower()
    if kind in terms.eligibility.refused_license_kinds:
        return Decline(
            FREE_LICENSE, f"{kind} licenses do not include support", {"license_kind": kind}
        )

    contacts = contract.contacts_at(received_at)
    if terms.eligibility.named_contacts_only and reporter not in contacts:
        message = (
            f"{reporter} is not a named contact; please ask one of: {', '.join(contacts)}"
            if contacts
            else f"{reporter} is not a named contact, and the contract names none yet"
        )
        return Decline(NOT_A_NAMED_CONTACT, message, {"named_contacts": contacts})

    parsed = version if not isinstance(version, str) else parse_version(version)
    lines = (
        catalog.supported_lines(received_at, terms.eligibility.supported_release_lines)
        if catalog
        else []
    )
    release = catalog.available_at(parsed.text, received_at) if catalog else None
    prerelease = parsed.tagged_prerelease or bool(release and release["prerelease"])
    if parsed.line not in lines and not (
        prerelease and (not lines or parsed.line_key > max(line_key(x) for x in lines))
    ):
        return Decline(
            UNSUPPORTED_VERSION,
            f"version {parsed.text} is not supported; supported lines: {_lines_text(lines)}. "
            "Please update as a prerequisite to receive assistance.",
            {"supported_lines": lines},
        )
    if release is None and parsed.patch is not None and not prerelease:
        known = catalog.releases.get(parsed.text) if catalog else None
        if known is None:
            why = "is not a published release"
        elif known["published_at"] > received_at:
            why = (
                "was not yet published when the request was received "
                f"(published {known['published_at'].isoformat()})"
            )
        else:
            why = f"was withdrawn at {known['withdrawn_at'].isoformat()}"
        return Decline(
            UNSUPPORTED_VERSION,
            f"version {parsed.text} {why}; supported lines: {_lines_text(lines)}",
            {"supported_lines": lines},
        )
    if prerelease and not terms.eligibility.prerelease_supported:
        return Decline(
            PRERELEASE_VERSION,
            f"version {parsed.text} is a beta or pre-GA release, which support does not include",
            {"supported_lines": lines},
        )

    name = platform.strip().lower()
    if name not in terms.eligibility.platforms:
        return Decline(
            UNSUPPORTED_PLATFORM,
            f"platform {platform!r} is not supported; supported platforms: "
            f"{', '.join(terms.eligibility.platforms)}",
            {"platforms": list(terms.eligibility.platforms)},
        )
    return None


def _lines_text(lines: list[str]) -> str:
    return ", ".join(f"{x}.x" for x in lines) or "none (no GA release is published)"
