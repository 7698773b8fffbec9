"""`ledger audit ...` as processes on a SQLite file: replay as of an instant, export and
re-derivation from the export alone."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from ledger.application import SupportLedger
from ledger.domain.credit_account import CreditAccount
from ledger.settings import parse_database_url
from tests.e2e.cli import Result, run
from tests.scenario import World, at, build_world

if TYPE_CHECKING:
    from pathlib import Path

D = Decimal


class Audit:
    def __init__(self, database: Path) -> None:
        self.database = database
        self.env = {"LEDGER_DATABASE_URL": f"sqlite:///{database}"}

    def __call__(self, *args: str) -> Result:
        return run(*args, env=self.env)

    def json(self, *args: str) -> Any:
        result = self(*args, "--json")
        assert result.code == 0, result.err
        return result.json


@pytest.fixture
def history(tmp_path: Path) -> tuple[Audit, World, datetime]:
    """A week recorded in two sittings; returns the instant between them."""
    database = tmp_path / "ledger.db"
    app = SupportLedger(settings=parse_database_url(f"sqlite:///{database}"))
    try:
        world = build_world(app)
        app.open_ticket(
            contract_id=world.advanced, reporter="support@borealis.example", severity=1,
            version="24.2.1", platform="linux", key="A-1", at=at(3, 3, 9),
        )  # fmt: skip
        app.consume_credits(world.advanced, points=D(5), activity="a", key="c1", at=at(3, 4))
        between = datetime.now(UTC)
        app.record_first_response("A-1", at=at(3, 3, 11))
        app.consume_credits(world.advanced, points=D(7), activity="b", key="c2", at=at(3, 5))
    finally:
        app.close()
    return Audit(database), world, between


def test_replay_shows_the_reports_as_they_stood_at_an_instant(
    history: tuple[Audit, World, datetime],
) -> None:
    audit, world, between = history
    then = audit.json(
        "audit", "replay", "--as-of", between.isoformat(), "--report", "breaches",
        "--state", "all", "--at", "2025-03-10T12:00:00Z",
    )  # fmt: skip
    assert [(r["key"], r["state"]) for r in then["rows"]] == [("A-1", "breached")]
    assert then["last_position"] < then["head"]
    now = audit.json("report", "breaches", "--state", "all", "--at", "2025-03-10T12:00:00Z")
    assert [(r["key"], r["state"]) for r in now["rows"]] == [("A-1", "met")]
    statements = audit.json(
        "audit", "replay", "--as-of", between.isoformat(), "--report", "credits",
        "--period", "2025-03", "--contract", str(world.advanced),
    )  # fmt: skip
    (statement,) = statements["statements"]
    assert statement["points"]["consumed"] == "5"
    stats = audit.json(
        "audit", "replay", "--as-of", between.isoformat(), "--report", "breach-stats",
        "--by", "severity", "--at", "2025-03-10T12:00:00Z",
    )  # fmt: skip
    assert [(r["key"], r["breached"]) for r in stats["rows"]] == [(1, 1)]


def test_replay_at_an_instant_shows_the_board_as_it_stood_then(
    history: tuple[Audit, World, datetime],
) -> None:
    """Everything recorded, the board at Monday 10:00: A-1 received at 09:00 is on it, its
    response at 11:00 not known yet; at 08:00 it had not been received."""
    audit, _, _ = history
    now = datetime.now(UTC).isoformat()
    then = audit.json(
        "audit", "replay", "--as-of", now, "--report", "breaches", "--state", "all",
        "--at", "2025-03-03T10:00:00+01:00",
    )  # fmt: skip
    assert [(r["key"], r["state"], r["responded_at"]) for r in then["rows"]] == [
        ("A-1", "on_track", None)
    ]
    before = audit.json(
        "audit", "replay", "--as-of", now, "--report", "breaches", "--state", "all",
        "--at", "2025-03-03T08:00:00+01:00",
    )  # fmt: skip
    assert before["rows"] == []


def test_export_then_reconcile_agrees_and_finds_a_view_altered_behind_its_back(
    tmp_path: Path, history: tuple[Audit, World, datetime]
) -> None:
    audit, _, _ = history
    exported = tmp_path / "log.jsonl"
    result = audit("audit", "export", "--output", str(exported))
    assert result.code == 0, result.err
    lines = exported.read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    assert set(first) == {"position", "recorded_at", "aggregate", "type", "topic", "version",
                          "payload"}  # fmt: skip
    assert [json.loads(line)["position"] for line in lines] == list(range(1, len(lines) + 1))
    streamed = audit("audit", "export", "--since", str(len(lines) - 2))
    assert [json.loads(line)["position"] for line in streamed.out.splitlines()] == [
        len(lines) - 1,
        len(lines),
    ]
    agreed = audit.json("audit", "reconcile", str(exported))
    assert agreed["ok"] is True
    assert agreed["differences"] == []
    with sqlite3.connect(audit.database) as db:
        db.execute("UPDATE credit_movements SET amount = amount + 100 WHERE kind = 'consumption'")
    altered = audit("audit", "reconcile", str(exported), "--period", "2025-03", "--json")
    assert altered.code == 1
    figures = {(d["report"], d["unit"], d["figure"]) for d in altered.json["differences"]}
    assert ("statement", "points", "consumed") in figures
    shown = audit("audit", "reconcile", str(exported), "--period", "2025-03")
    assert shown.code == 1
    assert "difference" in shown.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["audit", "export", "--since", "-1"], "--since: a log position is 0 or more, got -1"),
        (["audit", "export", "--since", "x"], "--since"),
        (["audit", "replay", "--as-of", "2999-01-01T00:00:00Z"], "is in the future"),
        (["audit", "replay", "--as-of", "2025-03-01"], "has no UTC offset"),
        (["audit", "replay", "--as-of", "2025-03-01T00:00:00Z", "--report", "credits"],
         "give --period YYYY-MM or --term N"),
    ],
)  # fmt: skip
def test_bad_audit_requests_are_refused(
    history: tuple[Audit, World, datetime], args: list[str], message: str
) -> None:
    audit, _, _ = history
    result = audit(*args, "--json") if args[1] != "export" else audit(*args)
    assert result.code == 1, result.err
    assert message in result.err


def test_a_malformed_export_is_refused_naming_the_line(
    tmp_path: Path, history: tuple[Audit, World, datetime]
) -> None:
    audit, _, _ = history
    exported = tmp_path / "log.jsonl"
    assert audit("audit", "export", "--output", str(exported)).code == 0
    lines = exported.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2][:-5]
    exported.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = audit("audit", "reconcile", str(exported), "--json")
    assert result.code == 1
    assert result.error["code"] == "invalid_input"
    assert result.error["message"].startswith("line 3:")


def test_digest_then_verify_catches_an_event_altered_with_plain_sql(
    history: tuple[Audit, World, datetime],
) -> None:
    audit, _, _ = history
    kept = audit.json("audit", "digest")
    assert kept["digest"] == f"{kept['position']}:{kept['hash']}"
    clean = audit.json("audit", "verify", "--digest", kept["digest"])
    assert clean["ok"] is True
    assert clean["checked"] == kept["position"]
    with sqlite3.connect(audit.database) as db:
        db.execute("UPDATE stored_events SET state = CAST(state || ' ' AS BLOB) WHERE rowid = 7")
    result = audit("audit", "verify", "--digest", kept["digest"], "--json")
    assert result.code == 1
    problem = result.json["problem"]
    assert (problem["kind"], problem["position"]) == ("altered", 7)
    shown = audit("audit", "verify")
    assert shown.code == 1
    assert "position 7" in shown.out
    refused = audit("audit", "verify", "--digest", "12", "--json")
    assert refused.code == 1
    assert refused.error["code"] == "invalid_input"


def test_a_changed_snapshot_decides_no_command_and_audit_verify_names_it(tmp_path: Path) -> None:
    """The attack of issue 17 through the CLI: a lot raised by 10,000 points in a stored
    snapshot (its seal kept) leaves 5,000 points refused, and `audit verify` exits 1 naming
    the snapshot `snapshot_mismatch` (without a digest)."""
    database = tmp_path / "ledger.db"
    app = SupportLedger(settings=parse_database_url(f"sqlite:///{database}"))
    try:
        world = build_world(app)
        for n in range(60):
            app.consume_credits(
                world.premium, points=D(1), activity="a", key=f"k{n}", at=at(3, 3, 9, n)
            )
    finally:
        app.close()
    audit = Audit(database)
    assert audit.json("audit", "verify")["snapshots_checked"] >= 1
    with sqlite3.connect(database) as db:
        oid, version, state = db.execute(
            "SELECT originator_id, originator_version, state FROM stored_snapshots "
            "WHERE originator_id = ? ORDER BY originator_version DESC LIMIT 1",
            (CreditAccount.create_id(world.premium).hex,),
        ).fetchone()
        head, _, rest = bytes(state).partition(b'"remaining":{"_type_":"decimal_str","_data_":"')
        db.execute(
            "UPDATE stored_snapshots SET state = ? WHERE originator_id = ? "
            "AND originator_version = ?",
            (head + b'"remaining":{"_type_":"decimal_str","_data_":"1' + rest, oid, version),
        )
    refused = audit(
        "credits", "consume", str(world.premium), "--points", "5000", "--activity", "a",
        "--key", "big", "--at", "2025-03-05T09:00:00+01:00", "--json",
    )  # fmt: skip
    assert refused.code == 1
    assert refused.error["code"] == "insufficient_credits"
    found = audit("audit", "verify", "--json")
    assert found.code == 1
    assert found.json["problem"]["kind"] == "snapshot_mismatch"
    assert [(p["kind"], p["originator_version"]) for p in found.json["snapshot_problems"]] == [
        ("snapshot_mismatch", version)
    ]
    shown = audit("audit", "verify")
    assert shown.code == 1
    assert "snapshot_mismatch" in shown.out


def test_replay_says_which_checkpoint_it_started_from_and_can_start_from_zero(
    history: tuple[Audit, World, datetime],
) -> None:
    """With checkpoints kept (every 5 events here), `audit replay` names the checkpoint each
    view started from; `--from-start` replays the whole log to the same rows."""
    audit, _, _ = history
    audit.env["LEDGER_CHECKPOINT_EVERY"] = "5"
    assert audit("projections", "rebuild", "sla_breaches").code == 0
    now = datetime.now(UTC).isoformat()
    args = ("audit", "replay", "--as-of", now, "--report", "breaches", "--state", "all")
    fast, full = audit.json(*args), audit.json(*args, "--from-start")
    assert fast["started_from"]["sla_breaches"] > 0
    assert full["started_from"] == {"sla_breaches": 0, "credit_usage": 0}
    assert fast["rows"] == full["rows"]
    note = audit(*args).err
    assert f"sla_breaches from checkpoint {fast['started_from']['sla_breaches']}" in note
    checked = fast["checked_from"]["sla_breaches"]  # PostgreSQL: the newest interval's rows
    assert ("(every row checked)" if checked == 0 else f"(rows after {checked} checked") in note
    every = audit.json(*args, "--verify-all")
    assert every["rows"] == full["rows"]
    assert every["started_from"] == fast["started_from"]
    assert every["checked_from"] == {"sla_breaches": 0, "credit_usage": 0}
