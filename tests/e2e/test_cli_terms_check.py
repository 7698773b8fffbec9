"""`ledger terms check FILE`: a terms file is valid, or every problem is listed with its key."""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

import pytest

from tests.e2e.cli import run

if TYPE_CHECKING:
    from pathlib import Path

SHIPPED = resources.files("ledger.terms").joinpath("expecco-2025-02.toml").read_text("utf-8")
DRAFT = SHIPPED.replace('version = "expecco-2025-02"', 'version = "expecco-2026-01"')


def write(folder: Path, text: str, name: str = "expecco-2026-01.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_valid_file_prints_its_version_and_tiers(tmp_path: Path) -> None:
    """A valid draft of new terms exits 0 with a one-line summary."""
    path = write(tmp_path, DRAFT)
    result = run("terms", "check", str(path))
    assert result.code == 0, result.err
    assert (
        result.out.strip()
        == f"{path}: valid terms expecco-2026-01 (tiers premium, advanced, basic)"
    )


def test_a_valid_file_as_json(tmp_path: Path) -> None:
    """`--json` gives the version and the tiers, highest first."""
    path = write(tmp_path, DRAFT)
    result = run("terms", "check", str(path), "--json")
    assert result.code == 0, result.err
    assert result.json == {
        "file": str(path),
        "valid": True,
        "version": "expecco-2026-01",
        "tiers": ["premium", "advanced", "basic"],
    }


BROKEN = [
    pytest.param(
        DRAFT.replace("named_contacts = 5", 'named_contacts = "five"'),
        [("tiers.premium.named_contacts", "expected an integer >= 1, got 'five'")],
        id="wrong-type",
    ),
    pytest.param(
        DRAFT.replace('currency = "EUR"\n', ""),
        [("terms.currency", "missing")],
        id="missing-key",
    ),
    pytest.param(
        DRAFT.replace("prerelease_supported = false", "prerelease_supported = false\nbeta = 1"),
        [("eligibility.beta", "unknown key")],
        id="unknown-key",
    ),
    pytest.param(
        DRAFT.replace("rank = 1\n", 'rank = "low"\n').replace('weekend = "no"', "weekend = 0", 1),
        [
            ("tiers.advanced.weekend", "expected one of on_appointment, no, got 0"),
            ("tiers.basic.rank", "expected an integer >= 1, got 'low'"),
        ],
        id="every-problem",
    ),
]


@pytest.mark.parametrize(("text", "problems"), BROKEN)
def test_a_broken_file_lists_each_problem_by_key(
    tmp_path: Path, text: str, problems: list[tuple[str, str]]
) -> None:
    """Exit 1, and each problem names its key, for people and with `--json`."""
    path = write(tmp_path, text)
    result = run("terms", "check", str(path))
    assert result.code == 1
    assert "invalid_terms" in result.err
    for key, message in problems:
        assert f"  {key}: {message}" in result.err
    result = run("terms", "check", str(path), "--json")
    assert result.code == 1
    assert result.out == ""
    assert result.error["code"] == "invalid_terms"
    assert result.error["file"] == str(path)
    assert result.error["problems"] == [{"key": k, "message": m} for k, m in problems]


def test_a_file_that_is_not_toml(tmp_path: Path) -> None:
    """A file that is not TOML says so, with the line and column."""
    path = write(tmp_path, "[terms\nversion = 1\n")
    result = run("terms", "check", str(path), "--json")
    assert result.code == 1
    [problem] = result.error["problems"]
    assert problem["key"] == ""
    assert problem["message"].startswith("not valid TOML:")
    assert "line 1" in problem["message"]


def test_a_file_named_other_than_its_version(tmp_path: Path) -> None:
    """A terms file ships as `<version>.toml`, so a draft under another name is refused."""
    path = write(tmp_path, DRAFT, name="draft.toml")
    result = run("terms", "check", str(path), "--json")
    assert result.code == 1
    [problem] = result.error["problems"]
    assert problem["key"] == "terms.version"
    assert "expecco-2026-01.toml" in problem["message"]


def test_a_published_version_with_other_figures_is_refused(tmp_path: Path) -> None:
    """A published terms file is never edited: its version with other figures is an error."""
    path = write(
        tmp_path,
        SHIPPED.replace("annual_fee_share = 0.65", "annual_fee_share = 0.70"),
        name="expecco-2025-02.toml",
    )
    result = run("terms", "check", str(path), "--json")
    assert result.code == 1
    assert result.error["problems"] == [
        {
            "key": "terms.version",
            "message": "expecco-2025-02 is published with other figures; "
            "new terms need a new version",
        }
    ]


def test_the_shipped_terms_pass(tmp_path: Path) -> None:
    """The terms that ship with the package pass their own check."""
    path = write(tmp_path, SHIPPED, name="expecco-2025-02.toml")
    assert run("terms", "check", str(path)).code == 0


def test_a_missing_file_is_a_problem(tmp_path: Path) -> None:
    """A file that cannot be read is reported, not a crash."""
    result = run("terms", "check", str(tmp_path / "nope.toml"), "--json")
    assert result.code == 1
    [problem] = result.error["problems"]
    assert problem["message"].startswith("cannot read the terms file")


def test_check_has_help() -> None:
    """`ledger terms check --help` explains the command."""
    result = run("terms", "check", "--help")
    assert result.code == 0
    assert "Usage: ledger terms check [OPTIONS] PATH" in result.out
