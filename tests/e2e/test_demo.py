"""`ledger demo`: two weeks of business on SQLite up to now, the scheduler's facts, the reports,
the recording instants, how to go on, and `--serve`.

The story's exact lines are checked as first told (`--now` a Friday evening in March 2025, so
the output never depends on today); the live run (no `--now`) is checked for what must hold
whenever it runs: the agreements take new tickets at once, the board has live clocks, and the
commands the demo prints work.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.e2e.cli import LEDGER, Result, free_port, run, wait_until_serving

if TYPE_CHECKING:
    from pathlib import Path

FIRST_TOLD = "2025-03-14T18:00:00+01:00"  # Friday 14 March 2025, 18:00 in Berlin
BERLIN = ZoneInfo("Europe/Berlin")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Result]:
    database = tmp_path_factory.mktemp("demo") / "demo.db"
    result = run(
        "demo", "--database", str(database), "--now", FIRST_TOLD,
        env={"COLUMNS": "200"}, timeout=120,
    )  # fmt: skip
    return database, result


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Result, datetime]:
    """The demo as `make demo` runs it: up to now, in a fresh directory."""
    folder = tmp_path_factory.mktemp("live")
    before = datetime.now(UTC)
    result = run("demo", env={"COLUMNS": "200"}, cwd=folder, timeout=120)
    return folder, result, before


def business(output: str) -> str:
    """The demo's output from the two weeks on (what comes before depends on today)."""
    return output[output.index("Two weeks of business") :]


def how_to_go_on(output: str) -> list[str]:
    """The lines the demo prints after its 'How to go on' rule."""
    return output[output.index("How to go on") :].splitlines()[1:]


def contract_id(output: str) -> str:
    found = re.search(r"ledger contract show (\S+)", output)
    assert found, output
    return found.group(1)


def test_the_demo_runs_the_story_and_the_scheduler_records_as_facts_fall_due(
    demo: tuple[Path, Result],
) -> None:
    _, result = demo
    assert result.code == 0, result.err
    out = business(result.out)
    assert "Mon 03 Mar to Fri 14 Mar 2025, then today" in out
    for line in [
        "ACME-1: opened, severity 1, response due Mon 03 Mar 17:15 CET",
        "14:00  scheduler BOR-1: 50% of the response time used",
        "12:00  scheduler BOR-1: response deadline breached",
        "COB-2: declined [not_a_named_contact]",
        "00:00  scheduler Dynamo Systems: the term ended without renewal, the agreement lapsed",
        "00:00  scheduler Cobalt Labs: lot purchase-1 expired (15 left unused)",
        "DYN-2: declined [no_valid_agreement]",
        "refused Borealis: 100 points for a migration: [insufficient_credits]",
        "18:00  ACME-6: opened, severity 2, response due Tue 18 Mar 10:00 CET",
        "ledger report credits --period 2025-03",
        "--check: every figure agrees with the contracts' and accounts' events",
        "ledger report revenue --period 2025-03: fees",
        "--check: every revenue figure agrees with the events",
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


def test_the_demo_records_each_event_at_its_instant_of_the_story(
    demo: tuple[Path, Result],
) -> None:
    """The clock the demo drives stamps recording time: a replay as of Wednesday 13:00 of
    week 1 shows the board as it stood then, and the export says when each fact was recorded."""
    database, _ = demo
    env = {"LEDGER_DATABASE_URL": f"sqlite:///{database}"}
    then = run(
        "audit", "replay", "--as-of", "2025-03-05T13:00:00+01:00", "--report", "breaches",
        "--state", "all", "--json", env=env,
    )  # fmt: skip
    assert then.code == 0, then.err
    rows = {row["key"]: row for row in then.json["rows"]}
    assert rows["BOR-1"]["state"] == "breached"
    assert rows["BOR-1"]["responded_at"] is None  # answered at 15:00, after the instant
    assert rows["ACME-2"]["state"] == "met"
    assert "ACME-4" not in rows  # opened on the Friday
    assert 0 < then.json["applied"] < then.json["head"]
    exported = run("audit", "export", env=env)
    assert exported.code == 0, exported.err
    events = [json.loads(line) for line in exported.out.splitlines()]
    first = next(e for e in events if "ACME-1" in json.dumps(e["payload"]))["recorded_at"]
    assert first == "2025-03-03T08:15:00Z"  # Monday 09:15 in Berlin, when ACME-1 came in


def test_the_demo_tells_the_same_story_every_time(
    tmp_path: Path, demo: tuple[Path, Result]
) -> None:
    """Apart from the file, the ids and the deadlines of a request received now, the output
    for the same `--now` is the same."""
    database, first = demo
    again = run(
        "demo", "--database", str(tmp_path / "again.db"), "--now", FIRST_TOLD,
        env={"COLUMNS": "200"}, timeout=120,
    )  # fmt: skip
    assert again.code == 0, again.err

    def story(output: str, path: Path) -> list[str]:
        lines = UUID.sub("<id>", business(output).replace(str(path), "<file>")).splitlines()
        return lines[1:]  # the first names the file (and is cut to the terminal's width)

    assert story(again.out, tmp_path / "again.db") == story(first.out, database)


def test_a_refused_now_is_named(tmp_path: Path) -> None:
    result = run("demo", "--database", str(tmp_path / "x.db"), "--now", "friday", "--json")
    assert result.code == 2  # --json is no option of the demo: a usage error
    result = run("demo", "--database", str(tmp_path / "x.db"), "--now", "friday")
    assert result.code == 1
    assert "now" in result.err
    assert not (tmp_path / "x.db").exists()


def last_friday_evening(now: datetime) -> date:
    """The story's second Friday: the last one whose 18:00 in Berlin is not after `now`."""
    day = now.astimezone(BERLIN).date()
    while day.weekday() != 4 or datetime(
        day.year, day.month, day.day, 18, tzinfo=BERLIN
    ) > now.astimezone(BERLIN):
        day -= timedelta(days=1)
    return day


def test_the_live_demo_ends_now_and_its_agreements_take_tickets_at_once(
    live: tuple[Path, Result, datetime],
) -> None:
    folder, result, before = live
    assert result.code == 0, result.err
    friday = last_friday_evening(before)
    monday = friday - timedelta(days=11)
    assert f"{monday:%a %d %b} to {friday:%a %d %b %Y}, then today" in result.out
    env = {"LEDGER_DATABASE_URL": f"sqlite:///{folder / 'ledger-demo.db'}"}
    acme = contract_id(result.out)
    shown = run("contract", "show", acme, "--json", env=env)
    assert shown.code == 0, shown.err
    assert shown.json["status"] == "active"
    ends = max(datetime.fromisoformat(term["ends_at"]) for term in shown.json["terms"])
    assert ends > before + timedelta(days=240)  # its year began two months before the story
    board = run("report", "breaches", "--json", env=env)
    assert board.code == 0, board.err
    live_clocks = {row["key"]: row["state"] for row in board.json["rows"]}
    assert {"ACME-6", "COB-4"} <= set(live_clocks)  # arrived now, their clocks run
    statement = run("report", "credits", "--period", f"{before:%Y-%m}", "--check", "--json",
                    env=env)  # fmt: skip
    assert statement.code == 0, statement.err
    assert statement.json["differences"] == []


def test_the_commands_the_demo_prints_to_go_on_work_as_printed(
    live: tuple[Path, Result, datetime],
) -> None:
    """The 'How to go on' lines, run by bash as a person would paste them (the activate line
    too); only the last, which serves until Ctrl-C, is left out."""
    folder, result, _ = live
    lines = how_to_go_on(result.out)
    assert any(
        line.startswith(". ") and line.split()[1].endswith("/bin/activate") for line in lines
    )
    assert lines[-1].startswith("ledger demo --serve")
    script = "\n".join(["set -e", *lines[:-1]])
    done = subprocess.run(
        ["bash", "-c", script], cwd=folder, capture_output=True, text=True, timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")},
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    env = {"LEDGER_DATABASE_URL": f"sqlite:///{folder / 'ledger-demo.db'}"}
    ticket = run("ticket", "show", "ACME-7", "--json", env=env)
    assert ticket.code == 0, ticket.err
    board = run("report", "breaches", "--json", env=env)
    assert "ACME-7" in {row["key"] for row in board.json["rows"]}


def test_demo_serve_prints_a_token_per_role_and_serves_the_pages_on_its_store(
    tmp_path: Path,
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    output = tmp_path / "out.txt"
    with output.open("w") as out:
        server = subprocess.Popen(
            [LEDGER, "demo", "--serve", "--port", str(port)], cwd=tmp_path, stdout=out,
            stderr=subprocess.DEVNULL, env={**os.environ, "COLUMNS": "200"},
        )  # fmt: skip
    try:
        wait_until_serving(base, server, timeout=120)
        text = output.read_text()
        assert f"{base}/signin" in text
        tokens = dict(
            re.findall(r"^  (agent|finance|auditor|admin) +(ldg_\S+)$", text, re.MULTILINE)
        )
        assert set(tokens) == {"agent", "finance", "auditor", "admin"}
        for role, token in tokens.items():
            whoami = httpx.get(
                f"{base}/api/v1/whoami", headers={"Authorization": f"Bearer {token}"}
            )
            assert whoami.status_code == 200
            assert whoami.json()["role"] == role
        agent = {"Authorization": f"Bearer {tokens['agent']}"}
        opened = httpx.post(
            f"{base}/api/v1/tickets", headers={**agent, "Idempotency-Key": "ACME-8"},
            json={"contract_id": contract_id(text), "reporter": "qa@acme.example",
                  "version": "24.2.1", "platform": "linux", "severity": 2},
        )  # fmt: skip
        assert opened.status_code == 201, opened.text
        assert opened.json()["status"] == "open"
        board = httpx.get(f"{base}/api/v1/reports/breaches", headers=agent)
        assert board.status_code == 200
        assert "ACME-8" in {row["key"] for row in board.json()["rows"]}
        with httpx.Client(base_url=base) as browser:
            signed = browser.post(
                "/signin", data={"token": tokens["admin"]}, headers={"Origin": base}
            )
            assert signed.status_code in (200, 303), signed.text
            ops = browser.get("/ops")
            assert ops.status_code == 200
            assert "ACME-6" in ops.text  # a live clock
            assert "ACME-8" in ops.text  # the ticket just opened through the API
            finance = browser.get("/finance")  # this month's statement, by default
            assert finance.status_code == 200
            assert "Acme Automotive" in finance.text
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
