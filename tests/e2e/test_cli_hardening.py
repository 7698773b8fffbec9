"""The `ledger` command as a subprocess against hostile input: CSV cells that would be formulas,
an unreachable or broken store, and paths that cannot be written."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from tests.e2e.cli import free_port, run

if TYPE_CHECKING:
    from pathlib import Path

HOSTILE = ('=HYPERLINK("http://x","y")', "@SUM(1)", "+1", "-1+2")
SIGNED_AT = "2025-01-02T09:00:00Z"


def test_the_statements_csv_neutralises_hostile_customer_names(tmp_path: Path) -> None:
    """`report credits --csv` writes each hostile name with a leading `'`, the figures as
    numbers."""
    env = {"LEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}"}
    for name in HOSTILE:
        signed = run("contract", "sign", f"--customer={name}", "--tier", "premium",
                     "--licenses", "1", "--list-price", "1000", "--start", "2025-01-01",
                     "--at", SIGNED_AT, env=env)  # fmt: skip
        assert signed.code == 0, signed.err

    result = run("report", "credits", "--term", "1", "--csv", env=env)

    assert result.code == 0, result.err
    rows = [r for r in csv.DictReader(io.StringIO(result.out)) if r["contract_id"]]  # no totals
    assert {row["customer"]: row["points_granted"] for row in rows} == {
        f"'{name}": "32" for name in HOSTILE
    }


# A closed port, and a user, database and schema nobody has.
UNREACHABLE = (
    "postgresql://made_up_user:made_up_pw@127.0.0.1:{port}/made_up_db?schema=made_up_schema"
)


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_an_unreachable_database_is_named_by_its_host_only(as_json: bool) -> None:
    """Exit 4, `store_unavailable`, naming the host and none of user, password, port,
    database or schema."""
    port = free_port()
    env = {"LEDGER_DATABASE_URL": UNREACHABLE.format(port=port)}

    result = run("report", "breaches", *(["--json"] if as_json else []), env=env)

    assert result.code == 4, result.err
    assert "store_unavailable" in result.err
    assert "127.0.0.1" in result.err
    shown = [p for p in ("made_up_user", "made_up_pw", str(port), "made_up_db", "made_up_schema")
             if p in result.err]  # fmt: skip
    assert shown == []
    assert "Traceback" not in result.err


def test_serve_with_the_database_down_exits_4_in_one_line() -> None:
    """`ledger serve` on an unreachable store exits 4 with one error line, no traceback."""
    env = {"LEDGER_DATABASE_URL": UNREACHABLE.format(port=free_port())}

    result = run("serve", "--port", str(free_port()), env=env, timeout=60)

    assert result.code == 4, result.err
    assert "Traceback" not in result.err
    errors = [line for line in result.err.splitlines() if "store_unavailable" in line]
    assert len(errors) == 1
    assert "made_up" not in result.err


@pytest.mark.parametrize("command", [["report", "breaches"], ["serve"]], ids=" ".join)
def test_a_sqlite_file_that_is_not_a_database_exits_4(tmp_path: Path, command: list[str]) -> None:
    """A text file given as the SQLite store is `store_unavailable`, exit 4, no traceback."""
    text = tmp_path / "notes.txt"
    text.write_text("this is not a database\n" * 100)

    result = run(*command, env={"LEDGER_DATABASE_URL": f"sqlite:///{text}"})

    assert result.code == 4, result.err
    assert "file is not a database" in result.err
    assert "Traceback" not in result.err


def test_an_export_into_a_missing_folder_exits_1_naming_the_path(tmp_path: Path) -> None:
    """`audit export --output` into a folder that does not exist is refused (1), not an
    outage (4), and the message names the path."""
    env = {"LEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}"}
    target = tmp_path / "missing" / "events.jsonl"

    result = run("audit", "export", "--output", str(target), env=env)

    assert result.code == 1, result.err
    assert str(target) in result.err
    assert "invalid_input" in result.err


@pytest.mark.parametrize(
    "args",
    [
        ["credits", "purchase", "X", "--points", "1e26", "--price", "1", "--key", "k"],
        ["credits", "purchase", "X", "--points", "1", "--price", "1e26", "--key", "k"],
        ["contract", "sign", "--customer", "A", "--tier", "premium", "--licenses", "1",
         "--list-price", "1e26", "--start", "2025-01-01"],
        ["calendar", "add", "--calendar", "CAL", "--start", "2025-03-03T08:00:00Z",
         "--hours", "1e30"],
    ],
    ids=["points", "price", "list-price", "hours"],
)  # fmt: skip
def test_huge_numbers_are_refused_with_exit_1(tmp_path: Path, args: list[str]) -> None:
    """Decimals of 1e26 and more, and 1e30 hours, are refused (exit 1) without a traceback."""
    env = {"LEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}"}
    calendar = tmp_path / "calendar.json"
    calendar.write_text('{"timezone": "Europe/Berlin", "weekly": {"mon": [["08:00", "18:00"]]}}')
    signed = run("contract", "sign", "--customer", "X", "--tier", "premium", "--licenses", "1",
                 "--list-price", "1000", "--start", "2025-01-01", "--key", "X",
                 env=env)  # fmt: skip
    assert signed.code == 0, signed.err
    args = [str(calendar) if a == "CAL" else a for a in args]

    result = run(*args, env=env)

    assert result.code == 1, result.err
    assert "Traceback" not in result.err
    assert "[invalid_" in result.err


def test_the_board_csv_and_its_replay_neutralise_a_hostile_customer(tmp_path: Path) -> None:
    """`report breaches --csv` and `audit replay --csv` write the customer's name as text."""
    env = {"LEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}"}
    name = HOSTILE[0]
    assert run("releases", "publish", "24.2.1", "--at", SIGNED_AT, env=env).code == 0
    signed = run("contract", "sign", f"--customer={name}", "--tier", "premium", "--licenses",
                 "1", "--list-price", "1000", "--start", "2025-01-01", "--at", SIGNED_AT,
                 "--json", env=env)  # fmt: skip
    contract = signed.json["contract_id"]
    steps = [
        ["contract", "contacts", "add", contract, "ann@acme.example", "--at", SIGNED_AT],
        ["ticket", "open", "--contract", contract, "--reporter", "ann@acme.example",
         "--version", "24.2.1", "--platform", "linux", "--key", "H-1",
         "--at", "2025-03-03T08:15:00Z"],
    ]  # fmt: skip
    for step in steps:
        done = run(*step, env=env)
        assert done.code == 0, done.err

    board = run("report", "breaches", "--state", "all", "--csv", env=env)
    as_of = datetime.now(UTC).isoformat()
    replay = run("audit", "replay", "--as-of", as_of, "--report", "breaches",
                 "--state", "all", "--csv", env=env)  # fmt: skip

    for result in (board, replay):
        assert result.code == 0, result.err
        rows = list(csv.DictReader(io.StringIO(result.out)))
        assert [row["customer"] for row in rows] == [f"'{name}"]
