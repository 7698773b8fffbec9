"""The `ledger` command for people at a terminal: times in one display zone, words with the key
typed, a pending lapse said as such, a scheduler tick that says what it found, quiet logs
unless `-v`, colours only where they can be seen, tables within 100 columns."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.cli import Result, run
from tests.e2e.test_cli_core import SIGNED_AT, Ledger, publish_releases

if TYPE_CHECKING:
    from pathlib import Path

# Monday 3 March 2025, 09:15 in Berlin (CET).
MONDAY = "2025-03-03T08:15:00Z"
ANSI_COLOUR = re.compile(r"\x1b\[(?:\d+;)*(?:3[0-7]|9[0-7])m")
MICROSECONDS = re.compile(r"\d{2}:\d{2}:\d{2}\.\d")


class People(Ledger):
    """The `ledger` command without `--json`, as a person runs it, on one SQLite file."""

    def said(self, *args: str, **env: str) -> Result:
        """`ledger ARGS...` for people (no --json); it must succeed."""
        result = run(*args, env={**self.env, **env})
        assert result.code == 0, result.err
        return result

    def contract(self, customer: str, *, today: bool = False) -> str:
        """A Premium contract naming ann@acme.example: through 2025, or from today on."""
        start, signed = "2025-01-01", SIGNED_AT
        if today:
            start, signed = datetime.now(UTC).date().isoformat(), "2025-12-31T00:00:00Z"
        data = self.ok(
            "contract", "sign", "--customer", customer, "--tier", "premium", "--licenses", "2",
            "--list-price", "10000", "--start", start, "--at", signed,
        )  # fmt: skip
        contract_id = str(data["contract_id"])
        named = max(signed, f"{start}T00:00:00Z")
        self.ok("contract", "contacts", "add", contract_id, "ann@acme.example", "--at", named)
        return contract_id


@pytest.fixture
def people(tmp_path: Path) -> People:
    shared = People(tmp_path / "ledger.db")
    publish_releases(shared)
    return shared


def open_ticket(people: People, contract_id: str, key: str, at: str = MONDAY) -> Any:
    return people.ok(
        "ticket", "open", "--contract", contract_id, "--reporter", "ann@acme.example",
        "--severity", "1", "--version", "24.2.1", "--platform", "linux", "--key", key,
        "--at", at,
    )  # fmt: skip


# -- contract show: a lapse pending -----------------------------------------------------------


def test_an_agreement_whose_term_ended_unrenewed_shows_its_lapse_pending(people: People) -> None:
    """Never `active` after the term's end: `lapse_pending` until the lapse is recorded."""
    contract_id = people.contract("Ended GmbH")
    during = people.ok("contract", "show", contract_id, "--at", "2025-06-01T00:00:00Z")
    assert (during["status"], during["recorded_status"], during["valid"]) == (
        "active",
        "active",
        True,
    )
    now = people.ok("contract", "show", contract_id)
    assert (now["status"], now["recorded_status"], now["valid"]) == (
        "lapse_pending",
        "active",
        False,
    )
    at_the_end = people.ok("contract", "show", contract_id, "--at", "2025-12-31T23:00:00Z")
    assert at_the_end["status"] == "lapse_pending"
    text = people.said("contract", "show", contract_id, LEDGER_DISPLAY_TZ="UTC").out
    assert "lapse pending: term 1 ended at 2026-01-01 00:00 CET without renewal" in text
    assert "contract Ended GmbH" in text

    people.ok("contract", "lapse", contract_id, "--at", "2026-01-02T00:00:00Z")
    lapsed = people.ok("contract", "show", contract_id)
    assert (lapsed["status"], lapsed["recorded_status"]) == ("lapsed", "lapsed")


def test_an_agreement_in_its_term_is_active(people: People) -> None:
    """A term running now: `active`, no lapse pending."""
    contract_id = people.contract("Renewed GmbH", today=True)
    assert people.ok("contract", "show", contract_id)["status"] == "active"


# -- scheduler tick: what it found ------------------------------------------------------------


def test_a_tick_with_nothing_due_says_so(people: People) -> None:
    """A fresh store: "nothing due", never "another scheduler leads"."""
    result = people.said("scheduler", "tick", "--at", MONDAY, LEDGER_DISPLAY_TZ="Europe/Berlin")
    assert "nothing due at 2025-03-03 09:15:00 CET" in result.out
    assert "another scheduler" not in result.out + result.err
    again = people.said("scheduler", "tick")
    assert "nothing due" in again.out


def test_a_tick_that_records_says_how_many(people: People) -> None:
    """Facts due: their table, then how many of them were recorded."""
    contract_id = people.contract("Due GmbH")
    open_ticket(people, contract_id, "DUE-1")
    result = people.said("scheduler", "tick", "--at", "2025-03-04T12:00:00Z")
    assert "recorded 3 of 3 due fact(s)" in result.out
    assert "breach" in result.out
    assert "nothing due" in people.said("scheduler", "tick", "--at", "2025-03-04T12:00:00Z").out


def test_a_tick_while_another_scheduler_leads_says_who_leads(people: People) -> None:
    """Only when another process holds the lead does the tick say so, naming it."""
    from ledger.application import SupportLedger  # noqa: PLC0415 - in-process leader
    from ledger.scheduler.service import Scheduler  # noqa: PLC0415 - in-process leader
    from ledger.settings import Settings  # noqa: PLC0415 - in-process leader

    settings = Settings.from_env({"LEDGER_DATABASE_URL": people.env["LEDGER_DATABASE_URL"]})
    app = SupportLedger(settings=settings.database)
    leader = Scheduler(app, settings.database, owner="the-other-one")
    try:
        assert leader.try_lead()
        result = people.said("scheduler", "tick")
        assert "another scheduler leads (the-other-one); nothing recorded here" in result.out
    finally:
        leader.close()
        app.close()
    assert "nothing due" in people.said("scheduler", "tick").out


# -- words, times and zones -------------------------------------------------------------------


def test_each_ticket_command_says_what_it_did_with_the_key_typed(people: People) -> None:
    """`ACME-1 on hold since 10:04`: the key, what happened, when, in the contract's zone."""
    contract_id = people.contract("Words GmbH")
    berlin = {"LEDGER_DISPLAY_TZ": "America/New_York"}  # the contract's zone wins
    opened = run(
        "ticket", "open", "--contract", contract_id, "--reporter", "ann@acme.example",
        "--severity", "1", "--version", "24.2.1", "--platform", "linux", "--key", "W-1",
        "--at", MONDAY, env={**people.env, **berlin},
    )  # fmt: skip
    assert opened.code == 0, opened.err
    assert "W-1 open, severity 1; response due 2025-03-03 17:15 CET" in opened.out
    steps = [
        (("ticket", "hold", "W-1", "--at", "2025-03-03T09:04:00Z"),
         "W-1 on hold since 2025-03-03 10:04 (the response clock is paused)"),
        (("ticket", "resume", "W-1", "--at", "2025-03-03T10:04:00Z"),
         "W-1 open again since 2025-03-03 11:04; response due 2025-03-04 08:15 CET"),
        (("ticket", "respond", "W-1", "--at", "2025-03-03T11:00:00Z"),
         "W-1 answered at 2025-03-03 12:00: met"),
        (("ticket", "resolve", "W-1", "--at", "2025-03-03T12:00:00Z"),
         "W-1 resolved at 2025-03-03 13:00"),
    ]  # fmt: skip
    for args, words in steps:
        result = people.said(*args, **berlin)
        assert words in result.out, result.out
        assert MICROSECONDS.search(result.out) is None


def test_an_action_today_is_said_by_its_time_of_day(people: People) -> None:
    """An instant of today needs no date."""
    contract_id = people.contract("Today GmbH", today=True)
    received = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0)
    open_ticket(people, contract_id, "T-1", at=received.isoformat())
    held = people.said("ticket", "hold", "T-1", LEDGER_DISPLAY_TZ="Europe/Berlin").out
    assert re.search(r"T-1 on hold since \d{2}:\d{2} \(", held), held


def test_times_for_people_are_in_the_display_zone_to_the_minute(people: People) -> None:
    """LEDGER_DISPLAY_TZ moves every time on the board; JSON stays UTC with Z."""
    contract_id = people.contract("Zone GmbH")
    open_ticket(people, contract_id, "Z-1")
    board = ("report", "breaches", "--at", "2025-03-03T09:00:00Z", "--state", "all")
    tokyo = people.said(*board, LEDGER_DISPLAY_TZ="Asia/Tokyo").out
    berlin = people.said(*board, LEDGER_DISPLAY_TZ="Europe/Berlin").out
    assert "SLA board at 2025-03-03 18:00 JST" in tokyo
    assert "03-03 17:15" in tokyo  # received 09:15 CET
    assert "03-03 09:15" in berlin
    assert MICROSECONDS.search(tokyo + berlin) is None
    rows = people.ok(*board)["rows"]
    assert rows[0]["received_at"] == "2025-03-03T08:15:00Z"


def test_an_unknown_display_zone_is_refused_by_name(people: People) -> None:
    """A typo in LEDGER_DISPLAY_TZ: exit 1, the variable named."""
    contract_id = people.contract("Typo GmbH")
    result = run("contract", "history", contract_id,
                 env={**people.env, "LEDGER_DISPLAY_TZ": "Mars/Olympus"})  # fmt: skip
    assert result.code == 1
    assert "LEDGER_DISPLAY_TZ 'Mars/Olympus'" in result.err


def test_durations_and_percentages_have_one_format_in_reports_and_replay(people: People) -> None:
    """Business time left as `7h 15m`, a breach rate as `100%`, on the board, the statistics
    and their replay alike."""
    contract_id = people.contract("Formats GmbH")
    open_ticket(people, contract_id, "F-1")
    board = people.said("report", "breaches", "--at", "2025-03-03T09:00:00Z").out
    assert "7h 15m" in board
    stats = ("--by", "tier", "--at", "2025-03-05T00:00:00Z")
    live = people.said("report", "breach-stats", *stats).out
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    replayed = people.said("audit", "replay", "--as-of", now, "--report", "breach-stats", *stats)
    for text in (live, replayed.out):
        assert "100%" in text
        assert "1.0" not in text
    people.ok("ticket", "respond", "F-1", "--at", "2025-03-03T10:45:00Z")  # 11:45 CET
    answered = people.said("report", "breach-stats", *stats).out
    assert "2h 30m" in answered  # the median response time, 9000 business seconds in JSON
    [row] = people.ok("report", "breach-stats", *stats)["rows"]
    assert row["median_response_seconds"] == 9000


# -- logs, colours, widths --------------------------------------------------------------------


def test_an_interactive_command_logs_warnings_only_unless_asked(people: People) -> None:
    """No info lines on standard error by default; -v shows them."""
    contract_id = people.contract("Quiet GmbH")
    args = ("ticket", "open", "--contract", contract_id, "--reporter", "ann@acme.example",
            "--version", "24.2.1", "--platform", "linux", "--at", MONDAY)  # fmt: skip
    quiet = people.said(*args, "--key", "Q-1")
    assert "ticket_opened" not in quiet.err
    loud = people.said("-v", *args, "--key", "Q-2")
    assert "ticket_opened" in loud.err
    told = people.said(*args, "--key", "Q-3", LEDGER_LOG_LEVEL="info")
    assert "ticket_opened" in told.err


def test_states_are_coloured_only_on_a_terminal_and_never_with_no_color(
    people: People,
) -> None:
    """Piped: no colour; a terminal (FORCE_COLOR stands in for one): colour; NO_COLOR: none."""
    contract_id = people.contract("Colour GmbH")
    open_ticket(people, contract_id, "C-1")
    board = ("report", "breaches", "--at", "2025-03-04T09:00:00Z", "--state", "all")
    assert ANSI_COLOUR.search(people.said(*board).out) is None
    assert ANSI_COLOUR.search(people.said(*board, FORCE_COLOR="1").out) is not None
    plain = people.said(*board, FORCE_COLOR="1", NO_COLOR="1").out
    assert ANSI_COLOUR.search(plain) is None


def test_tables_fit_100_columns_and_keep_the_time_of_day(people: People) -> None:
    """Piped tables are at most 100 characters wide; every instant keeps its hh:mm whole."""
    contract_id = people.contract("A Customer With A Rather Long Name International GmbH & Co. KG")
    for n in range(3):
        open_ticket(people, contract_id, f"LONG-KEY-{n}")
    board = ("report", "breaches", "--at", "2025-03-03T16:00:00Z", "--state", "all")
    out = people.said(*board, LEDGER_DISPLAY_TZ="Europe/Berlin").out
    assert max(len(line) for line in out.splitlines()) <= 100
    assert out.count("03-03 09:15") == 3


def test_a_credit_statement_fits_100_columns_with_its_figures_right_aligned(
    people: People,
) -> None:
    """The statement's table: at most 100 characters wide, each figure under its heading's
    right edge."""
    contract_id = people.contract("Statement GmbH")
    people.ok("credits", "consume", contract_id, "--points", "12.5", "--activity", "analysis",
              "--key", "S-1", "--at", "2025-03-04T10:00:00Z")  # fmt: skip
    out = people.said("report", "credits", "--period", "2025-03").out
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 100
    heading = next(line for line in lines if "consumed" in line and "opening" in line)
    points = next(line for line in lines if " points " in line)
    right_edge = heading.index("consumed") + len("consumed")
    assert points[:right_edge].endswith("12.5")


def test_credit_commands_say_what_they_did_with_the_key_typed(people: People) -> None:
    """Purchases, consumptions and reversals name their idempotency key and what moved."""
    contract_id = people.contract("Credits GmbH")
    at = "2025-03-04T10:00:00Z"
    bought = people.said("credits", "purchase", contract_id, "--points", "10", "--price", "900",
                         "--key", "PO-7", "--at", at).out  # fmt: skip
    assert "PO-7: bought 10 points (lot " in bought
    used = people.said("credits", "consume", contract_id, "--points", "8", "--activity",
                       "analysis", "--key", "W-1", "--at", at).out  # fmt: skip
    assert "W-1: consumed 8 points for analysis; 66 left" in used
    back = people.said("credits", "reverse", contract_id, "--key", "W-1", "--points", "3",
                       "--reason", "billed twice", "--at", at).out  # fmt: skip
    assert "W-1: reversed 3 points; 69 available" in back
