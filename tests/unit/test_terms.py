"""The terms file holds every figure of the published terms, and a malformed file names its key."""

from __future__ import annotations

import copy as copy_module
import dataclasses
import re
import tomllib
from collections.abc import Mapping
from dataclasses import field, make_dataclass
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from ledger.domain.errors import (
    InvalidTermsError,
    UnknownSeverityError,
    UnknownTermsVersionError,
    UnknownTierError,
)
from ledger.domain.terms import PositiveCount, Terms, Tier, TierTerms, figure, parse_severity
from ledger.terms import (
    DEFAULT_VERSION,
    available_versions,
    check_terms_file,
    describe_keys,
    load_terms,
    parse_terms,
    read_terms,
    terms_as_dict,
)
from ledger.terms.schema import SchemaReader

SOURCE = Path(__file__).parents[2] / "docs" / "reference" / "support-terms-source.txt"
TIERS = [Tier.PREMIUM, Tier.ADVANCED, Tier.BASIC]  # the column order of the source table


def source_lines() -> list[str]:
    return [line.strip() for line in SOURCE.read_text(encoding="utf-8").splitlines()]


def row(label: str) -> list[str]:
    """The three column values of the source table row starting with `label`."""
    for line in source_lines():
        if line.startswith(label):
            values = line[len(label) :].split()
            return values[-3:]
    raise AssertionError(f"no row {label!r} in the source terms")


@pytest.fixture(scope="module")
def terms():  # type: ignore[no-untyped-def]
    return load_terms()


def test_the_default_version_ships_and_is_listed() -> None:
    """The package ships the 2025-02 terms as its default version."""
    assert DEFAULT_VERSION in available_versions()
    assert load_terms().version == DEFAULT_VERSION


def test_updates_per_year_match_the_source(terms) -> None:  # type: ignore[no-untyped-def]
    """Updates/Year: 2 for every tier."""
    expected = [int(v) for v in row("Updates/Year")]
    assert [terms.tier(t).updates_per_year for t in TIERS] == expected


@pytest.mark.parametrize("level", [1, 2, 3])
def test_response_times_match_the_source(terms, level: int) -> None:  # type: ignore[no-untyped-def]
    """Response Time Sev. N: hours per tier as published."""
    line = next(x for x in source_lines() if x.startswith(f"Response Time Sev. {level}"))
    expected = [int(h) for h in re.findall(r"(\d+) h", line)]
    assert [terms.tier(t).response_hours[level] for t in TIERS] == expected


def test_coverage_and_appointments_match_the_source(terms) -> None:  # type: ignore[no-untyped-def]
    """Mo-Fr 8:00-18:00 everywhere; outside hours on appointment for Premium and Advanced,
    weekends on appointment for Premium only."""
    lines = source_lines()
    start = lines.index("Weekend") + 1
    cells = lines[start : start + 6]
    # The source lists the column cells one after another: Premium has three, Advanced two,
    # Basic one, each beginning with its coverage time.
    assert cells == [
        "8:00 \u2013 18:00",
        "24 h on appointment",
        "On appointment",
        "8:00 \u2013 18:00",
        "24 h on appointment",
        "8:00 \u2013 18:00",
    ]
    for t in TIERS:
        coverage = terms.tier(t).coverage
        assert coverage[:5] == (((8 * 3600, 18 * 3600),),) * 5
        assert coverage[5:] == ((), ())
    assert [terms.tier(t).outside_hours_appointments for t in TIERS] == [True, True, False]
    assert [terms.tier(t).weekend_appointments for t in TIERS] == [True, False, False]


@pytest.mark.parametrize(
    ("label", "attribute"),
    [
        ("Customer Service Portal", "customer_service_portal"),
        ("Installation, Upgrade, Configuration", "installation_upgrade_configuration"),
        ("Remote Assistance", "remote_assistance"),
        ("Priority Troubleshooting", "priority_troubleshooting"),
        ("Assigned Technical Account Representative", "technical_account_representative"),
    ],
    ids=["portal", "installation", "remote-assistance", "priority", "technical-account-rep"],
)
def test_yes_no_rows_match_the_source(terms, label: str, attribute: str) -> None:  # type: ignore[no-untyped-def]
    """Each yes/no row of the table is the tier's boolean."""
    expected = [v == "yes" for v in row(label)]
    assert [getattr(terms.tier(t), attribute) for t in TIERS] == expected


@pytest.mark.parametrize(
    ("label", "attribute"),
    [
        ("Assigned Customer Representative", "named_contacts"),
        ("Support Credits per developer license", "support_credits_per_license"),
        (
            "Training sessions (online) 30 mins per developer license",
            "training_sessions_per_license",
        ),
    ],
    ids=["named-contacts", "credits", "training"],
)
def test_number_rows_match_the_source(terms, label: str, attribute: str) -> None:  # type: ignore[no-untyped-def]
    """Named contacts, credits and training sessions per developer license."""
    expected = [Decimal(v) for v in row(label)]
    assert [Decimal(getattr(terms.tier(t), attribute)) for t in TIERS] == expected


def test_training_sessions_last_thirty_minutes(terms) -> None:  # type: ignore[no-untyped-def]
    """The training row says sessions are 30 minutes long."""
    assert "30 mins" in next(x for x in source_lines() if x.startswith("Training sessions"))
    assert terms.session_minutes == 30


def test_fees_match_the_source(terms) -> None:  # type: ignore[no-untyped-def]
    """Annual fee 65 / 40 / 25 % of the list price; 80 % in the year after a lapse."""
    expected = [Decimal(v.rstrip("%")) / 100 for v in row("Annual fee (of the list price)")]
    assert [terms.tier(t).annual_fee_share for t in TIERS] == expected
    text = SOURCE.read_text(encoding="utf-8")
    assert "the fee is 80% of the list price" in text
    assert terms.reinstatement_fee_share == Decimal("0.80")


def test_severity_definitions_match_the_source(terms) -> None:  # type: ignore[no-untyped-def]
    """Each severity's name and definition are the published text."""
    text = SOURCE.read_text(encoding="utf-8").replace("\u2019", "'")
    for level, severity in terms.severities.items():
        line = next(
            x for x in text.splitlines() if f"Severity Level {level} \u2013 {severity.name}" in x
        )
        assert line
        assert severity.description in text
    assert terms.default_severity == 3
    assert [level for level, s in terms.severities.items() if s.critical] == [1, 2]


def test_eligibility_matches_the_source(terms) -> None:  # type: ignore[no-untyped-def]
    """Free licenses excluded, current release line and one back, no betas, Windows and Linux,
    patches for critical bugs only."""
    text = SOURCE.read_text(encoding="utf-8")
    e = terms.eligibility
    assert "free licenses do not include support" in text
    assert e.refused_license_kinds == ("free",)
    assert "current release of 24.2.x and one major version back 24.1.x" in text
    assert e.supported_release_lines == 2
    assert "Beta or pre-GA releases" in text
    assert e.prerelease_supported is False
    assert "System Requirements: Windows" in text
    assert "System Requirements: Linux" in text
    assert e.platforms == ("windows", "linux")
    assert "for critical priority bugs only" in text
    assert e.patch_severities == (1, 2)
    assert "Support is provided to the Named Contact(s)" in text
    assert e.named_contacts_only is True


def test_warning_thresholds_and_defaults(terms) -> None:  # type: ignore[no-untyped-def]
    """Warnings at 50 % and 75 %; Europe/Berlin and DE by default; one-year terms."""
    assert terms.warning_thresholds == (Decimal("0.50"), Decimal("0.75"))
    assert terms.default_timezone == "Europe/Berlin"
    assert terms.default_holiday_region == "DE"
    assert terms.term_months == 12
    assert terms.appointment_max_days == 14


def test_tier_and_severity_names_parse_in_any_case() -> None:
    """Tier names are case-insensitive; severities are 1, 2, 3."""
    assert Tier.parse("PREMIUM") is Tier.PREMIUM
    assert Tier.parse(" advanced ") is Tier.ADVANCED
    assert parse_severity("2") == 2
    with pytest.raises(UnknownTierError, match="'gold'"):
        Tier.parse("gold")
    with pytest.raises(UnknownSeverityError, match="'4'"):
        parse_severity("4")


def test_an_unknown_version_is_refused() -> None:
    """Only shipped versions load."""
    with pytest.raises(UnknownTermsVersionError, match="expecco-1999"):
        load_terms("expecco-1999")


# -- malformed files -------------------------------------------------------------------------

TEXT = resources.files("ledger.terms").joinpath(f"{DEFAULT_VERSION}.toml").read_text("utf-8")

MALFORMED = [
    pytest.param(
        TEXT.replace(
            "response_hours = { 1 = 8, 2 = 12, 3 = 24 }", "response_hours = { 1 = 8, 2 = 12 }"
        ),
        "tiers.premium.response_hours.3: missing",
        id="missing-response-hours",
    ),
    pytest.param(
        TEXT.replace("named_contacts = 5", 'named_contacts = "five"'),
        "tiers.premium.named_contacts: expected an integer",
        id="text-for-number",
    ),
    pytest.param(
        TEXT.replace("annual_fee_share = 0.65", "annual_fee_share = 65"),
        "tiers.premium.annual_fee_share: expected a share between 0 and 1",
        id="percent-not-share",
    ),
    pytest.param(
        TEXT.replace("remote_assistance = true\n", 'remote_assistance = "yes"\n', 1),
        "tiers.premium.remote_assistance: expected true or false",
        id="yes-for-bool",
    ),
    pytest.param(
        TEXT.replace("[tiers.basic]", "[tiers.gold]"),
        "tiers.gold: unknown tier",
        id="unknown-tier",
    ),
    pytest.param(
        TEXT.replace('weekend = "no"', 'weekend = "sometimes"', 1),
        "tiers.advanced.weekend: expected one of on_appointment, no",
        id="unknown-choice",
    ),
    pytest.param(
        TEXT.replace('mon = [["08:00", "18:00"]]', 'mon = [["18:00", "08:00"]]', 1),
        "tiers.premium.coverage.mon[0]: window 18:00-08:00 ends before it starts",
        id="reversed-coverage",
    ),
    pytest.param(
        TEXT.replace("warning_thresholds = [0.50, 0.75]", "warning_thresholds = [0.75, 0.50]"),
        "terms.warning_thresholds: expected increasing shares",
        id="thresholds-unordered",
    ),
    pytest.param(
        TEXT.replace("session_minutes = 30", "session_minutes = 30\nsession_minute = 30"),
        "terms.session_minute: unknown key",
        id="unknown-key",
    ),
    pytest.param(TEXT.replace("[eligibility]", "[eligibility"), "not valid TOML", id="bad-toml"),
    pytest.param(
        TEXT.replace("patch_severities = [1, 2]", "patch_severities = [1, 5]"),
        "eligibility.patch_severities: expected severity levels",
        id="unknown-patch-severity",
    ),
]


@pytest.mark.parametrize(("text", "message"), MALFORMED)
def test_a_malformed_terms_file_names_the_key(text: str, message: str) -> None:
    """Loading a broken terms file raises InvalidTermsError naming the offending key."""
    assert text != TEXT or message == "not valid TOML"
    with pytest.raises(InvalidTermsError, match=re.escape(message)):
        parse_terms(text, source="draft.toml")


# -- the declarative loader: the dataclasses are the schema ---------------------------------

SHIPPED = tomllib.loads(TEXT, parse_float=Decimal)
TERMS_FIELDS = {f.name: f for f in dataclasses.fields(Terms)}


def every_key(data: dict[str, Any], path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The path of every key and table of a terms document (coverage may leave out a weekday)."""
    keys = []
    for key, value in data.items():
        here = (*path, key)
        keys.append(here)
        if isinstance(value, dict) and key != "coverage":
            keys.extend(every_key(value, here))
    return keys


def without(data: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    """A deep copy of `data` without the key at `path`."""
    copy = copy_module.deepcopy(data)
    table = copy
    for key in path[:-1]:
        table = table[key]
    del table[path[-1]]
    return copy


def problems_of(data: dict[str, Any], shape: type = Terms) -> list[str]:
    """Every problem of a parsed terms document, as `key: message`."""
    reader = SchemaReader()
    reader.read(shape, data)
    return [str(p) for p in reader.problems]


@pytest.mark.parametrize("path", every_key(SHIPPED), ids=".".join)
def test_every_key_of_the_file_is_required(path: tuple[str, ...]) -> None:
    """Removing any key or table of the shipped file is refused, naming it and nothing else."""
    assert problems_of(without(SHIPPED, path)) == [f"{'.'.join(path)}: missing"]


@pytest.mark.parametrize(
    "table",
    [(), ("terms",), ("eligibility",), ("severities", "2"), ("tiers", "basic")],
    ids=lambda t: ".".join(t) or "top",
)
def test_an_unknown_key_is_refused_in_every_table(table: tuple[str, ...]) -> None:
    """A key that no field declares is refused, naming it."""
    data = copy_module.deepcopy(SHIPPED)
    target = data
    for key in table:
        target = target[key]
    target["surprise"] = 1
    assert problems_of(data) == [f"{'.'.join((*table, 'surprise'))}: unknown key"]


def test_every_problem_of_a_file_is_listed() -> None:
    """Reading goes on past a problem, so a check lists them all, each with its key."""
    text = (
        TEXT.replace('currency = "EUR"\n', "")
        .replace("rank = 2\n", "rank = 0\n")
        .replace("platforms = [", "platform = [")
        .replace("default_severity = 3", "default_severity = 4")
    )
    terms, problems = read_terms(text)
    assert terms is None
    assert [str(p) for p in problems] == [
        "terms.currency: missing",
        "terms.default_severity: expected a severity level (1, 2, 3), got 4",
        "eligibility.platform: unknown key",
        "eligibility.platforms: missing",
        "tiers.advanced.rank: expected an integer >= 1, got 0",
    ]


ESCALATION = field(
    metadata=figure("Hours until a manager is told of an open ticket.", unit="business hours")
)
DraftTierTerms = make_dataclass(
    "DraftTierTerms",
    [("escalation_hours", PositiveCount, ESCALATION)],
    bases=(TierTerms,),
    frozen=True,
)
DraftTerms = make_dataclass(
    "DraftTerms",
    [
        ("tiers", Mapping[Tier, DraftTierTerms], field(metadata=TERMS_FIELDS["tiers"].metadata)),
        ("hotline", str, field(metadata=figure("The support hotline.", table="terms"))),
    ],
    bases=(Terms,),
    frozen=True,
)
DRAFT = TEXT.replace('currency = "EUR"', 'currency = "EUR"\nhotline = "+49 69 000"').replace(
    "annual_fee_share = ", "escalation_hours = 4\nannual_fee_share = "
)


def test_a_new_figure_is_a_field_and_a_key() -> None:
    """A field added to the dataclasses and a key in the file load with no other change."""
    draft = parse_terms(DRAFT, shape=DraftTerms)
    assert draft.hotline == "+49 69 000"  # type: ignore[attr-defined]
    assert [draft.tier(t).escalation_hours for t in TIERS] == [4, 4, 4]  # type: ignore[attr-defined]
    assert draft.tier(Tier.BASIC).annual_fee_share == Decimal("0.25")
    shown = terms_as_dict(draft)
    assert shown["hotline"] == "+49 69 000"
    assert shown["tiers"]["basic"]["escalation_hours"] == 4
    del shown["hotline"]
    for tier in shown["tiers"].values():
        del tier["escalation_hours"]
    assert shown == terms_as_dict(load_terms())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            DRAFT.replace("escalation_hours = 4", "escalation_hours = 0", 1),
            "tiers.premium.escalation_hours: expected an integer >= 1, got 0",
        ),
        (DRAFT.replace("escalation_hours = 4\n", "", 1), "tiers.premium.escalation_hours: missing"),
        (TEXT, "terms.hotline: missing"),
    ],
    ids=["out-of-bounds", "missing-in-one-tier", "missing-everywhere"],
)
def test_a_new_figure_is_validated_by_its_declared_type(text: str, message: str) -> None:
    """The new key is checked by its field's type and bounds like every other key."""
    terms, problems = read_terms(text, DraftTerms)
    assert terms is None
    assert message in [str(p) for p in problems]


def test_a_new_figure_with_a_default_loads_terms_written_before_it() -> None:
    """A field with a default takes it where a file has no key: published files stay as they are."""
    later = make_dataclass(
        "LaterTerms",
        [("hotline", str, field(default="none", metadata=figure("Hotline.", table="terms")))],
        bases=(Terms,),
        frozen=True,
    )
    assert parse_terms(TEXT, shape=later).hotline == "none"  # type: ignore[attr-defined]
    assert parse_terms(DRAFT.replace("escalation_hours = 4\n", ""), shape=later).hotline == (
        "+49 69 000"
    )


def test_every_figure_says_what_it_means() -> None:
    """Each key of the terms has a one-line meaning, and the how-to names every key."""
    how_to = (Path(__file__).parents[2] / "docs" / "terms.md").read_text(encoding="utf-8")
    rows = describe_keys(Terms)
    assert len(rows) == len({key for key, _, _ in rows}) == 38
    for key, _unit, doc in rows:
        assert doc.endswith("."), key
        assert f"| `{key}` |" in how_to, key


def test_the_shipped_file_passes_its_check(tmp_path: Path) -> None:
    """The shipped terms, copied as they are, have no problem; under another name, one."""
    (tmp_path / f"{DEFAULT_VERSION}.toml").write_text(TEXT, encoding="utf-8")
    assert check_terms_file(tmp_path / f"{DEFAULT_VERSION}.toml") == []
    (tmp_path / "draft.toml").write_text(TEXT, encoding="utf-8")
    [problem] = check_terms_file(tmp_path / "draft.toml")
    assert problem.key == "terms.version"
