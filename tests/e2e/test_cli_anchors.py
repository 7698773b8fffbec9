"""`ledger audit anchor / verify --anchors / chain` and the scheduler's anchoring, as processes on
a SQLite file: the chain dropped fails `audit verify` without a digest, anchors signed under
LEDGER_ANCHOR_KEY catch a history rewritten with its chain, and `ledger scheduler run` appends
anchors by itself when LEDGER_ANCHOR_TO is set."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest

from ledger.application import SupportLedger
from ledger.hashchain import GENESIS, links_of
from ledger.settings import parse_database_url
from tests.e2e.cli import LEDGER, Result, run
from tests.scenario import at, build_world

if TYPE_CHECKING:
    from pathlib import Path

KEY = "a-key-kept-outside-the-database-0123456789"


class Ledger:
    def __init__(self, database: Path, **env: str) -> None:
        self.database = database
        self.env = {"LEDGER_DATABASE_URL": f"sqlite:///{database}", **env}
        self.contract = ""

    def __call__(self, *args: str) -> Result:
        return run(*args, env=self.env)

    def json(self, *args: str) -> Any:
        result = self(*args, "--json")
        assert result.code == 0, result.err
        return result.json

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.database) as db:
            return db.execute(statement, params).fetchall()


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    """A SQLite file with the standard world and a few consumptions."""
    database = tmp_path / "ledger.db"
    app = SupportLedger(settings=parse_database_url(f"sqlite:///{database}"))
    try:
        world = build_world(app)
        for n in range(3):
            app.consume_credits(
                world.premium, points=Decimal(1), activity="a", key=f"k{n}", at=at(3, 3, 9, n)
            )
    finally:
        app.close()
    ledger = Ledger(database, LEDGER_ANCHOR_KEY=KEY)
    ledger.contract = str(world.premium)
    return ledger


def consume(ledger: Ledger, key: str) -> Result:
    return ledger(
        "credits", "consume", ledger.contract, "--points", "1", "--activity", "b", "--key", key,
        "--at", at(3, 5, 10).isoformat(), "--json",
    )  # fmt: skip


def test_a_dropped_chain_table_fails_audit_verify_and_refuses_commands(ledger: Ledger) -> None:
    """`DROP TABLE audit_chain`: `audit verify` (no digest) exits 1 naming `unchained` at
    position 1; a command is refused `chain_behind` (exit 1) and records nothing; `audit chain`
    links the log again, after which both pass."""
    events = ledger.sql("SELECT COUNT(*) FROM stored_events")[0][0]
    ledger.sql("DROP TABLE audit_chain")
    result = ledger("audit", "verify", "--json")
    assert result.code == 1, result.err
    assert (result.json["problem"]["kind"], result.json["problem"]["position"]) == ("unchained", 1)
    assert result.json["unchained"] == events
    shown = ledger("audit", "verify")
    assert shown.code == 1
    assert "unchained" in shown.out
    refused = consume(ledger, "after-drop")
    assert refused.code == 1
    assert refused.error["code"] == "chain_behind"
    assert ledger.sql("SELECT COUNT(*) FROM stored_events")[0][0] == events
    digest = ledger("audit", "digest", "--json")
    assert (digest.code, digest.error["code"]) == (1, "chain_behind")
    linked = ledger.json("audit", "chain")
    assert linked["linked"] == events
    assert ledger.json("audit", "verify")["ok"] is True
    assert consume(ledger, "after-repair").code == 0


def test_anchors_written_then_a_rewritten_history_is_named(ledger: Ledger, tmp_path: Path) -> None:
    """Two anchors appended by `audit anchor --to FILE`; `verify --anchors` passes; an event
    before the second anchor altered with its chain rewritten to match passes without anchors
    and fails with them, naming anchor 2 `anchor_contradicted`."""
    anchors = tmp_path / "anchors.jsonl"
    first = ledger.json("audit", "anchor", "--to", str(anchors))
    assert consume(ledger, "between").code == 0
    second = ledger.json("audit", "anchor", "--to", str(anchors))
    assert second["position"] > first["position"]
    lines = anchors.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["position"] for line in lines] == [
        first["position"],
        second["position"],
    ]
    clean = ledger.json("audit", "verify", "--anchors", str(anchors))
    assert (clean["ok"], clean["anchors_checked"]) == (True, 2)

    target = first["position"] + 1
    ledger.sql(
        "UPDATE stored_events SET state = CAST(state || ' ' AS BLOB) WHERE rowid = ?", (target,)
    )
    rewrite_chain(ledger)
    assert ledger.json("audit", "verify")["ok"] is True
    result = ledger("audit", "verify", "--anchors", str(anchors), "--json")
    assert result.code == 1
    problem = result.json["problem"]
    assert (problem["kind"], problem["position"]) == ("anchor_contradicted", second["position"])
    assert problem["message"].startswith(f"anchor 2 (position {second['position']}")


def test_anchoring_and_anchor_checks_refuse_without_a_key(ledger: Ledger, tmp_path: Path) -> None:
    """No LEDGER_ANCHOR_KEY: `audit anchor` and `verify --anchors` exit 1 naming it; nothing is
    written. A missing folder and a malformed anchors file are refused by name."""
    anchors = tmp_path / "anchors.jsonl"
    keyless = Ledger(ledger.database)
    for args in (("audit", "anchor", "--to", str(anchors)),):
        result = keyless(*args, "--json")
        assert result.code == 1
        assert result.error["code"] == "invalid_configuration"
        assert "LEDGER_ANCHOR_KEY" in result.error["message"]
    assert not anchors.exists()
    missing = ledger("audit", "anchor", "--to", str(tmp_path / "no" / "a.jsonl"), "--json")
    assert (missing.code, missing.error["code"]) == (1, "invalid_input")
    assert "does not exist" in missing.error["message"]
    anchors.write_text("{not json\n", encoding="utf-8")
    malformed = ledger("audit", "verify", "--anchors", str(anchors), "--json")
    assert (malformed.code, malformed.error["code"]) == (1, "invalid_input")
    assert "line 1" in malformed.error["message"]
    ledger.json("audit", "anchor", "--to", str(tmp_path / "good.jsonl"))
    unchecked = keyless("audit", "verify", "--anchors", str(tmp_path / "good.jsonl"), "--json")
    assert (unchecked.code, unchecked.error["code"]) == (1, "invalid_configuration")


def test_an_anchor_signed_under_another_key_is_forged(ledger: Ledger, tmp_path: Path) -> None:
    """Verified under another key, every anchor is `anchor_forged`: the first is named."""
    anchors = tmp_path / "anchors.jsonl"
    ledger.json("audit", "anchor", "--to", str(anchors))
    other = Ledger(ledger.database, LEDGER_ANCHOR_KEY="another-key-of-at-least-32-characters!")
    result = other("audit", "verify", "--anchors", str(anchors), "--json")
    assert result.code == 1
    assert result.json["problem"]["kind"] == "anchor_forged"


@pytest.mark.slow
def test_the_scheduler_appends_anchors_by_itself(ledger: Ledger, tmp_path: Path) -> None:
    """`ledger scheduler run` with LEDGER_ANCHOR_TO and LEDGER_ANCHOR_EVERY_MINUTES set
    appends a signed anchor shortly after it starts to lead; the anchors verify."""
    anchors = tmp_path / "anchors.jsonl"
    env = {
        **os.environ,
        **ledger.env,
        "LEDGER_LOG_FORMAT": "json",
        "LEDGER_ANCHOR_TO": str(anchors),
        "LEDGER_ANCHOR_EVERY_MINUTES": "60",
    }
    process = subprocess.Popen(
        [LEDGER, "scheduler", "run", "--heartbeat", "0.5"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not anchors.exists():
            assert process.poll() is None, process.communicate()
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    assert anchors.exists(), err
    assert process.returncode == 0, err
    assert "chain_anchored" in out + err
    lines = anchors.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    head = ledger.json("audit", "digest")
    assert json.loads(lines[0])["position"] == head["position"]
    assert ledger.json("audit", "verify", "--anchors", str(anchors))["ok"] is True


def rewrite_chain(ledger: Ledger) -> None:
    """Recompute every link from the log as it stands, as an attacker covering up."""
    rows = ledger.sql(
        "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events "
        "ORDER BY rowid"
    )
    links = links_of(GENESIS, [(r[0], r[1], r[2], r[3], bytes(r[4])) for r in rows])
    ledger.sql("DELETE FROM audit_chain")
    with sqlite3.connect(ledger.database) as db:
        db.executemany(
            "INSERT INTO audit_chain (position, originator_id, originator_version, topic, link) "
            "VALUES (?, ?, ?, ?, ?)",
            [
                (r[0], str(UUID(r[1])), r[2], r[3], link.hex())
                for r, link in zip(rows, links, strict=True)
            ],
        )
