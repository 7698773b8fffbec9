"""The release catalog and the eligibility rules, checked in their published order."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain.contract import Contract
from ledger.domain.eligibility import check_eligibility
from ledger.domain.errors import InvalidVersionError, ReleaseExistsError, UnknownReleaseError
from ledger.domain.releases import ReleaseCatalog, parse_version
from ledger.terms import load_terms

TERMS = load_terms()
JAN = datetime(2025, 1, 2, 9, tzinfo=UTC)
MARCH = datetime(2025, 3, 3, 9, tzinfo=UTC)


def catalog() -> ReleaseCatalog:
    c = ReleaseCatalog.start()
    c.publish("23.2.0", prerelease=False, at=datetime(2023, 12, 1, tzinfo=UTC))
    c.publish("24.1.0", prerelease=False, at=datetime(2024, 6, 3, tzinfo=UTC))
    c.publish("24.2.0", prerelease=False, at=datetime(2024, 12, 2, tzinfo=UTC))
    c.publish("24.2.1", prerelease=True, at=datetime(2025, 1, 10, tzinfo=UTC))
    c.publish("25.1.0-rc1", prerelease=False, at=datetime(2025, 2, 20, tzinfo=UTC))
    return c


def contract(contacts: tuple[str, ...] = ("ops@acme.example",)) -> Contract:
    c = Contract.sign(
        terms=TERMS, customer="Acme", tier="premium", licenses=1, license_kind="commercial",
        list_price=Decimal(1000), start=date(2025, 1, 1), timezone=None, holiday_region=None,
        at=JAN,
    )  # fmt: skip
    for email in contacts:
        c.add_contact(email=email, terms=TERMS, at=JAN)
    return c


@pytest.mark.parametrize(
    ("text", "line", "tagged"),
    [
        ("24.2.1", "24.2", False),
        ("24.2", "24.2", False),
        (" 25.1.0-beta1 ", "25.1", True),
        ("25.1.0-rc.2", "25.1", True),
    ],
    ids=["patch", "line-only", "beta-tag", "rc-tag"],
)
def test_versions_parse_into_lines(text: str, line: str, tagged: bool) -> None:
    """A version names its release line; a tag marks a pre-release."""
    version = parse_version(text)
    assert (version.line, version.tagged_prerelease) == (line, tagged)


@pytest.mark.parametrize("text", ["24", "v24.2.1", "24.2.1.7", "24.x", "", "24.2.1-"], ids=repr)
def test_malformed_versions_are_refused(text: str) -> None:
    """Anything but MAJOR.MINOR[.PATCH][-TAG] is an InvalidVersionError."""
    with pytest.raises(InvalidVersionError):
        parse_version(text)


def test_publishing_needs_a_full_version_and_a_new_one() -> None:
    """Releases are MAJOR.MINOR.PATCH and published once."""
    c = catalog()
    c.collect_events()
    with pytest.raises(InvalidVersionError):
        c.publish("24.3", prerelease=False, at=MARCH)
    with pytest.raises(ReleaseExistsError):
        c.publish("24.2.0", prerelease=False, at=MARCH)
    with pytest.raises(UnknownReleaseError):
        c.withdraw("24.9.9", reason="x", at=MARCH)
    assert c.collect_events() == []


def test_supported_lines_are_the_newest_two_ga_lines_as_they_stood() -> None:
    """Pre-releases never count; a tag makes a release a pre-release even without --beta."""
    c = catalog()
    assert c.releases["25.1.0-rc1"]["prerelease"] is True
    assert c.supported_lines(datetime(2024, 1, 1, tzinfo=UTC), 2) == ["23.2"]
    assert c.supported_lines(datetime(2024, 7, 1, tzinfo=UTC), 2) == ["24.1", "23.2"]
    assert c.supported_lines(MARCH, 2) == ["24.2", "24.1"]


def test_a_withdrawn_release_stops_counting_from_its_withdrawal() -> None:
    """Withdrawing the only GA release of a line drops the line from then on."""
    c = catalog()
    c.withdraw("24.2.0", reason="regression", at=datetime(2025, 3, 1, tzinfo=UTC))
    assert c.supported_lines(datetime(2025, 2, 28, tzinfo=UTC), 2) == ["24.2", "24.1"]
    assert c.supported_lines(MARCH, 2) == ["24.1", "23.2"]


def eligibility(**change: object) -> tuple[str | None, str | None]:
    args: dict[str, object] = {
        "contract": contract(), "catalog": catalog(), "terms": TERMS,
        "reporter": "ops@acme.example", "version": "24.2.0", "platform": "linux",
        "license_kind": "commercial", "received_at": MARCH,
    }  # fmt: skip
    args.update(change)
    decline = check_eligibility(**args)  # type: ignore[arg-type]
    return (decline.reason, decline.message) if decline else (None, None)


CASES = [
    pytest.param({}, None, id="eligible"),
    pytest.param({"version": "24.1"}, None, id="line-only-of-supported-line"),
    pytest.param({"platform": "Windows"}, None, id="platform-any-case"),
    pytest.param(
        {"received_at": datetime(2024, 12, 31, 12, tzinfo=UTC)},
        "no_valid_agreement",
        id="before-term",
    ),
    pytest.param(
        {"received_at": datetime(2026, 1, 2, tzinfo=UTC)}, "no_valid_agreement", id="after-term"
    ),
    pytest.param({"license_kind": "free"}, "free_license", id="free"),
    pytest.param({"reporter": "other@acme.example"}, "not_a_named_contact", id="not-named"),
    pytest.param({"version": "23.2.0"}, "unsupported_version", id="old-line"),
    pytest.param({"version": "24.2.7"}, "unsupported_version", id="unpublished-patch"),
    pytest.param({"version": "23.2.0-beta"}, "unsupported_version", id="old-beta"),
    pytest.param({"version": "24.2.1"}, "prerelease_version", id="beta-of-supported-line"),
    pytest.param({"version": "25.1.0-rc1"}, "prerelease_version", id="rc-of-future-line"),
    pytest.param({"platform": "macos"}, "unsupported_platform", id="platform"),
    pytest.param(
        {"reporter": "other@acme.example", "version": "23.2.0", "platform": "macos"},
        "not_a_named_contact",
        id="order-contact-before-version",
    ),
    pytest.param(
        {"version": "23.2.0", "platform": "macos"},
        "unsupported_version",
        id="order-version-before-platform",
    ),
    pytest.param(
        {"license_kind": "free", "reporter": "other@acme.example"},
        "free_license",
        id="order-license-before-contact",
    ),
]


@pytest.mark.parametrize(("change", "reason"), CASES)
def test_eligibility_reasons_in_their_order(change: dict[str, object], reason: str | None) -> None:
    """The first broken rule, in the published order, is the reason."""
    assert eligibility(**change)[0] == reason


def test_the_unsupported_version_decline_names_the_supported_lines() -> None:
    """The message tells the customer which lines to update to."""
    _, message = eligibility(version="23.2.0")
    assert message is not None
    assert "24.2.x, 24.1.x" in message


def test_contacts_are_judged_as_of_the_received_instant() -> None:
    """A contact removed later was still named when the request came in."""
    c = contract()
    c.remove_contact(email="ops@acme.example", at=datetime(2025, 4, 1, tzinfo=UTC))
    assert eligibility(contract=c)[0] is None
    assert (
        eligibility(contract=c, received_at=datetime(2025, 4, 2, tzinfo=UTC))[0]
        == "not_a_named_contact"
    )


def test_without_any_ga_release_every_ga_version_is_unsupported() -> None:
    """An empty catalog supports no line."""
    reason, message = eligibility(catalog=None)
    assert reason == "unsupported_version"
    assert message is not None
    assert "no GA release" in message


def _lines_by_every_release(c: ReleaseCatalog, at: datetime, count: int) -> list[str]:
    """The supported lines by the definition: every GA release available at `at`."""
    lines = {
        r["line"]
        for version, r in c.releases.items()
        if not r["prerelease"] and c.available_at(version, at) is not None
    }
    return sorted(lines, key=lambda x: tuple(int(p) for p in x.split(".")), reverse=True)[:count]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(20, 26),
            st.integers(1, 3),
            st.booleans(),
            st.integers(0, 60),
            st.one_of(st.none(), st.integers(0, 40)),
        ),
        max_size=25,
    ),
    st.lists(st.integers(-5, 130), min_size=1, max_size=12),
)
def test_supported_lines_are_those_of_every_available_ga_release(
    releases: list[tuple[int, int, bool, int, int | None]], probes: list[int]
) -> None:
    """The timeline answers as a pass over every release would, at any instant, also at the
    very instant of a publication or a withdrawal, and again after the catalog changed."""
    c = ReleaseCatalog.start()
    day = datetime(2024, 1, 1, tzinfo=UTC)
    for patch, (major, minor, beta, published, withdrawn_after) in enumerate(releases):
        version = f"{major}.{minor}.{patch}"
        c.publish(version, prerelease=beta, at=day + timedelta(days=published))
        assert c.supported_lines(day + timedelta(days=published), 2) == _lines_by_every_release(
            c, day + timedelta(days=published), 2
        )  # asked between changes: the cached timeline follows the catalog
        if withdrawn_after is not None:
            c.withdraw(version, reason="bug", at=day + timedelta(days=published + withdrawn_after))
    for probe in probes:
        at = day + timedelta(days=probe)
        for count in (1, 2, 5):
            assert c.supported_lines(at, count) == _lines_by_every_release(c, at, count)
