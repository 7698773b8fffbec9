"""The `ledger` command: version, help, terms, calendar arithmetic and SLA deadlines."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from tests.e2e.cli import run

if TYPE_CHECKING:
    from pathlib import Path

CALENDAR = {
    "timezone": "Europe/Berlin",
    "weekly": {d: [["08:00", "18:00"]] for d in ["mon", "tue", "wed", "thu", "fri"]},
    "holiday_region": "DE",
}


@pytest.fixture
def calendar_json(tmp_path: Path) -> Path:
    path = tmp_path / "calendar.json"
    path.write_text(json.dumps(CALENDAR), encoding="utf-8")
    return path


@pytest.fixture
def calendar_toml(tmp_path: Path) -> Path:
    path = tmp_path / "calendar.toml"
    path.write_text(
        'timezone = "Europe/Berlin"\nholidays = ["2025-03-04"]\n'
        '[weekly]\nmon = [["08:00", "12:00"], ["13:00", "17:00"]]\ntue = [["08:00", "17:00"]]\n',
        encoding="utf-8",
    )
    return path


def test_version_is_printed() -> None:
    """`ledger --version` prints the package version."""
    result = run("--version")
    assert result.code == 0
    assert result.out.startswith("ledger, version ")


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["terms"],
        ["terms", "show"],
        ["calendar", "add"],
        ["calendar", "elapsed"],
        ["sla", "deadline"],
        ["demo"],
    ],
    ids=lambda c: " ".join(c) or "ledger",
)
def test_every_command_has_help(command: list[str]) -> None:
    """`--help` works on every command and group."""
    result = run(*command, "--help")
    assert result.code == 0
    assert "Usage:" in result.out


def test_terms_show_prints_the_tiers_as_columns() -> None:
    """The human table has a column per tier and the published figures."""
    result = run("terms", "show")
    assert result.code == 0
    header = next(line for line in result.out.splitlines() if "Premium" in line)
    assert header.index("Premium") < header.index("Advanced") < header.index("Basic")
    assert "65%" in result.out


def test_terms_show_json_is_the_whole_matrix() -> None:
    """`--json` gives every figure with exact decimals."""
    data = run("terms", "show", "--json").json
    assert data["version"] == "expecco-2025-02"
    assert data["tiers"]["premium"]["response_hours"] == {"1": 8, "2": 12, "3": 24}
    assert data["tiers"]["advanced"]["annual_fee_share"] == "0.40"
    assert data["reinstatement_fee_share"] == "0.80"
    assert list(data["tiers"]) == ["premium", "advanced", "basic"]


def test_terms_show_refuses_an_unknown_version() -> None:
    """An unknown version is an error with its code."""
    result = run("terms", "show", "--version", "nope", "--json")
    assert result.code == 1
    assert result.error["code"] == "unknown_terms_version"


def test_calendar_add_with_hours(calendar_json: Path) -> None:
    """Adding 8 business hours on Christmas Eve skips both Christmas days."""
    result = run(
        "calendar", "add", "--calendar", str(calendar_json),
        "--start", "2025-12-24T16:00:00+01:00", "--hours", "8", "--json",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert result.json["end"] == "2025-12-29T13:00:00Z"


def test_calendar_add_with_seconds_on_a_toml_calendar(calendar_toml: Path) -> None:
    """A TOML calendar with a lunch gap and an explicit closed date."""
    result = run(
        "calendar", "add", "--calendar", str(calendar_toml),
        "--start", "2025-03-03T11:00:00+01:00", "--seconds", "7200", "--json",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert result.json["end"] == "2025-03-03T13:00:00Z"


def test_calendar_elapsed(calendar_json: Path) -> None:
    """A Monday-to-Monday week holds 50 covered hours."""
    result = run(
        "calendar", "elapsed", "--calendar", str(calendar_json),
        "--from", "2025-03-03T00:00:00+01:00", "--to", "2025-03-10T00:00:00+01:00", "--json",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert result.json["seconds"] == 50 * 3600


def test_sla_deadline_json_contract() -> None:
    """The deadline carries due_at and target_seconds, with the default contract calendar."""
    result = run(
        "sla", "deadline", "--tier", "PREMIUM", "--severity", "1",
        "--received", "2025-12-23T17:30:00+01:00", "--json",
    )  # fmt: skip
    assert result.code == 0, result.err
    data = result.json
    assert data["due_at"] == "2025-12-24T14:30:00Z"
    assert data["target_seconds"] == 8 * 3600
    assert [w["at"] for w in data["warnings"]] == ["2025-12-24T10:30:00Z", "2025-12-24T12:30:00Z"]


def test_sla_deadline_explains_windows_and_holidays() -> None:
    """Without --json the windows counted and the holidays skipped are listed."""
    result = run(
        "sla", "deadline", "--tier", "basic", "--severity", "1",
        "--received", "2025-12-24T16:00:00+01:00",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "Wed 2025-12-24 16:00-18:00" in result.out
    assert "Christmas Day" in result.out
    assert "Second Day of Christmas" in result.out


def test_sla_deadline_with_a_calendar_file(calendar_toml: Path) -> None:
    """--calendar replaces the contract calendar."""
    result = run(
        "sla", "deadline", "--tier", "advanced", "--severity", "3",
        "--calendar", str(calendar_toml), "--received", "2025-03-03T08:00:00+01:00", "--json",
    )  # fmt: skip
    assert result.code == 0, result.err
    # 36 h: Mon 3 Mar 8 h, Tue 4 Mar closed, Mon 10 + Tue 11 17 h, Mon 17 8 h, Tue 18 3 h.
    assert result.json["due_at"] == "2025-03-18T10:00:00Z"


BAD = [
    pytest.param(
        [
            "sla",
            "deadline",
            "--tier",
            "gold",
            "--severity",
            "1",
            "--received",
            "2025-03-03T08:00:00Z",
        ],
        "unknown_tier",
        id="tier",
    ),
    pytest.param(
        [
            "sla",
            "deadline",
            "--tier",
            "basic",
            "--severity",
            "4",
            "--received",
            "2025-03-03T08:00:00Z",
        ],
        "unknown_severity",
        id="severity",
    ),
    pytest.param(
        [
            "sla",
            "deadline",
            "--tier",
            "basic",
            "--severity",
            "1",
            "--received",
            "2025-03-03T08:00:00",
        ],
        "naive_datetime",
        id="naive",
    ),
    pytest.param(
        ["sla", "deadline", "--tier", "basic", "--severity", "1", "--received", "yesterday"],
        "invalid_input",
        id="not-iso",
    ),
    pytest.param(
        [
            "calendar",
            "add",
            "--calendar",
            "CAL",
            "--start",
            "2025-03-03T08:00:00Z",
            "--hours",
            "-1",
        ],
        "invalid_duration",
        id="negative-hours",
    ),
    pytest.param(
        ["calendar", "add", "--calendar", "CAL", "--start", "2025-03-03T08:00:00Z"],
        "invalid_input",
        id="no-duration",
    ),
    pytest.param(
        [
            "calendar",
            "add",
            "--calendar",
            "CAL",
            "--start",
            "2025-03-03T08:00:00Z",
            "--hours",
            "1",
            "--seconds",
            "1",
        ],
        "invalid_input",
        id="two-durations",
    ),
    pytest.param(
        [
            "calendar",
            "add",
            "--calendar",
            "/no/such/file.json",
            "--start",
            "2025-03-03T08:00:00Z",
            "--hours",
            "1",
        ],
        "invalid_calendar",
        id="missing-file",
    ),
]


@pytest.mark.parametrize(("args", "code"), BAD)
def test_bad_input_exits_non_zero_with_the_error_code(
    args: list[str], code: str, calendar_json: Path
) -> None:
    """Each bad input prints its error code as JSON on standard error and exits 1."""
    result = run(*[str(calendar_json) if a == "CAL" else a for a in args], "--json")
    assert result.code == 1
    assert result.error["code"] == code
    assert result.out == ""


def test_a_malformed_calendar_file_names_the_problem(tmp_path: Path) -> None:
    """A reversed window in the file is reported with its place."""
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps({"timezone": "Europe/Berlin", "weekly": {"tue": [["18:00", "08:00"]]}})
    )
    result = run(
        "calendar",
        "elapsed",
        "--calendar",
        str(path),
        "--from",
        "2025-03-03T00:00:00Z",
        "--to",
        "2025-03-04T00:00:00Z",
    )
    assert result.code == 1
    assert "weekly.tue[0]" in result.err
    assert "invalid_calendar" in result.err


def test_a_usage_error_exits_2() -> None:
    """A missing required option is a usage error."""
    assert run("sla", "deadline").code == 2
