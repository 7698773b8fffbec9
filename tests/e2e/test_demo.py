"""`ledger demo`: two weeks of business on SQLite, the scheduler's facts and the reports."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.e2e.cli import Result, run

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Result]:
    database = tmp_path_factory.mktemp("demo") / "demo.db"
    result = run("demo", "--database", str(database), env={"COLUMNS": "200"}, timeout=120)
    return database, result


def business(output: str) -> str:
    """The demo's output from the two weeks on (what comes before depends on today)."""
    return output[output.index("Two weeks of business") :]


def test_the_demo_runs_the_story_and_the_scheduler_records_as_facts_fall_due(
    demo: tuple[Path, Result],
) -> None:
    _, result = demo
    assert result.code == 0, result.err
    out = business(result.out)
    for line in [
        "ACME-1: opened, severity 1, response due Mon 03 Mar 17:15 CET",
        "14:00  scheduler BOR-1: 50% of the response time used",
        "12:00  scheduler BOR-1: response deadline breached",
        "COB-2: declined [not_a_named_contact]",
        "00:00  scheduler Dynamo Systems: the term ended without renewal, the agreement lapsed",
        "00:00  scheduler Cobalt Labs: lot purchase-1 expired (15 left unused)",
        "DYN-2: declined [no_valid_agreement]",
        "refused Borealis: 100 points for a migration: [insufficient_credits]",
        "--check: every figure agrees with the contracts' and accounts' events",
    ]:
        assert line in out, line


def test_the_demo_file_answers_the_reports_and_its_views_equal_a_rebuild(
    demo: tuple[Path, Result],
) -> None:
    database, _ = demo
    env = {"LEDGER_DATABASE_URL": f"sqlite:///{database}"}
    board = run(
        "report", "breaches", "--state", "all", "--at", "2025-03-14T17:00:00Z", "--json", env=env
    )
    assert board.code == 0, board.err
    states = {row["key"]: row["state"] for row in board.json["rows"]}
    assert states["BOR-1"] == "breached"
    assert states["ACME-1"] == "met"
    assert states["DYN-2"] == "declined"
    check = run("report", "credits", "--period", "2025-03", "--check", "--json", env=env)
    assert check.code == 0, check.err
    assert check.json["differences"] == []
    for name in ("sla_breaches", "credit_usage", "deadlines"):
        verified = run("projections", "verify", name, "--json", env=env)
        assert verified.code == 0, verified.err
        assert verified.json["equal"] is True


def test_the_demo_tells_the_same_story_every_time(
    tmp_path: Path, demo: tuple[Path, Result]
) -> None:
    """Apart from the file, the ids and the deadlines of a request received now, the output
    is the same."""
    _, first = demo
    again = run(
        "demo", "--database", str(tmp_path / "again.db"), env={"COLUMNS": "200"}, timeout=120
    )
    assert again.code == 0, again.err

    def story(output: str) -> list[str]:
        text = business(output)
        return [
            line
            for line in text.splitlines()
            if "contract show" not in line and "LEDGER_DATABASE_URL" not in line
        ]

    assert story(again.out)[1:] == story(first.out)[1:]  # the first line names the file
