"""`ledger report ...` and `ledger projections ...` as processes on a SQLite file.

The history is recorded through the application (what is under test here is reading it back):
the standard three contracts, four tickets in the first week of March 2025, and credits moved
on the Advanced and Basic contracts.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from ledger.application import SupportLedger
from ledger.settings import parse_database_url
from tests.e2e.cli import Result, run
from tests.scenario import World, at, build_world

if TYPE_CHECKING:
    from pathlib import Path

WEEK_AFTER = "2025-03-10T11:00:00Z"
D = Decimal


class Reports:
    """`ledger` on one SQLite file holding the history."""

    def __init__(self, database: Path, world: World) -> None:
        self.database = database
        self.world = world
        self.env = {"LEDGER_DATABASE_URL": f"sqlite:///{database}"}

    def __call__(self, *args: str) -> Result:
        return run(*args, env=self.env)

    def json(self, *args: str) -> Any:
        result = self(*args, "--json")
        assert result.code == 0, result.err
        return result.json


def record_history(app: SupportLedger) -> World:
    world = build_world(app)
    ticket = {"version": "24.2.1", "platform": "linux"}
    # Premium sev 1, answered after 1 h 45 of business time: met.
    app.open_ticket(
        contract_id=world.premium, reporter="ops@acme.example", severity=1, key="P-1",
        at=at(3, 3, 9, 15), **ticket,
    )  # fmt: skip
    app.record_first_response("P-1", at=at(3, 3, 11))
    # Premium sev 3, never answered.
    app.open_ticket(
        contract_id=world.premium, reporter="qa@acme.example", severity=3, key="P-2",
        at=at(3, 3, 10), **ticket,
    )  # fmt: skip
    # Advanced sev 1, answered four days later: breached.
    app.open_ticket(
        contract_id=world.advanced, reporter="support@borealis.example", severity=1, key="A-1",
        at=at(3, 3, 9), **ticket,
    )  # fmt: skip
    app.record_first_response("A-1", at=at(3, 7, 9))
    # Basic sev 3, open.
    app.open_ticket(
        contract_id=world.basic, reporter="it@cobalt.example", severity=3, key="B-1",
        at=at(3, 4, 10), **ticket,
    )  # fmt: skip
    app.consume_credits(world.advanced, points=D(5), activity="analysis", key="c1", at=at(3, 5))
    app.purchase_credits(
        world.basic, points=D(20), price=D("1500.00"), key="p1", at=at(3, 4), expires_at=None
    )
    app.consume_credits(world.basic, points=D(8), activity="analysis", key="c2", at=at(3, 6))
    return world


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Reports:
    database = tmp_path_factory.mktemp("reports") / "ledger.db"
    app = SupportLedger(settings=parse_database_url(f"sqlite:///{database}"))
    try:
        world = record_history(app)
    finally:
        app.close()
    return Reports(database, world)


def by_key(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["key"]: r for r in rows}


# -- the breach board ------------------------------------------------------------------------------


def test_the_board_lists_every_clock_with_its_state_once_caught_up(reports: Reports) -> None:
    """`--state all`: each ticket, its state a week later, and the view caught up to the log."""
    data = reports.json("report", "breaches", "--state", "all", "--at", WEEK_AFTER)
    assert data["projection"] == "sla_breaches"
    assert data["position"] == data["head"] > 0
    rows = by_key(data["rows"])
    assert set(rows) == {"P-1", "P-2", "A-1", "B-1"}
    assert rows["P-1"]["state"] == "met"
    assert rows["P-1"]["used_seconds"] == 6300
    assert rows["A-1"]["state"] == "breached"
    assert rows["A-1"]["responded_at"] == "2025-03-07T08:00:00Z"
    assert rows["P-2"]["customer"] == "Premium Customer"
    dues = [r["due_at"] for r in data["rows"] if r["due_at"] is not None]
    assert dues == sorted(dues)  # soonest breach first


def test_the_default_board_shows_the_live_clocks_only(reports: Reports) -> None:
    """Without --state: running or paused clocks, breached or not; answered ones drop out."""
    data = reports.json("report", "breaches", "--at", WEEK_AFTER)
    rows = by_key(data["rows"])
    assert set(rows) == {"P-2", "B-1"}
    assert all(r["responded_at"] is None for r in rows.values())
    for row in rows.values():
        overdue = row["state"] == "breached"
        assert (row["business_seconds_left"] < 0) == overdue, row


def test_the_board_filters_by_tier_customer_state_and_receipt(reports: Reports) -> None:
    """--tier, --customer (any case), repeated --state and --since/--until narrow the board."""
    premium = reports.json("report", "breaches", "--state", "all", "--tier", "premium")
    assert sorted(by_key(premium["rows"])) == ["P-1", "P-2"]
    borealis = reports.json(
        "report", "breaches", "--state", "all", "--customer", "advanced CUSTOMER"
    )
    assert sorted(by_key(borealis["rows"])) == ["A-1"]
    settled = reports.json(
        "report", "breaches", "--state", "met", "--state", "breached", "--at", WEEK_AFTER
    )
    assert {r["key"] for r in settled["rows"]} >= {"P-1", "A-1"}
    assert {r["state"] for r in settled["rows"]} <= {"met", "breached"}
    tuesday = reports.json(
        "report", "breaches", "--state", "all",
        "--since", "2025-03-04T00:00:00+01:00", "--until", "2025-03-05T00:00:00+01:00",
    )  # fmt: skip
    assert [r["key"] for r in tuesday["rows"]] == ["B-1"]


def test_the_board_as_a_table_and_as_csv(reports: Reports) -> None:
    """A table for people (with the view's position on stderr); CSV with every column."""
    table = reports("report", "breaches", "--state", "all", "--at", WEEK_AFTER)
    assert table.code == 0, table.err
    for key in ("P-1", "P-2", "A-1", "B-1"):
        assert key in table.out
    assert "sla_breaches read model at position" in table.err
    result = reports("report", "breaches", "--state", "all", "--at", WEEK_AFTER, "--csv")
    assert result.code == 0, result.err
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert {r["key"] for r in rows} == {"P-1", "P-2", "A-1", "B-1"}
    met = next(r for r in rows if r["key"] == "P-1")
    assert (met["state"], met["used_seconds"], met["business_seconds_left"]) == ("met", "6300", "")


def test_the_board_comes_in_pages_with_a_cursor_and_the_counts(reports: Reports) -> None:
    """--limit and --after walk the board in its order; JSON carries `next` and `counts`."""
    whole = reports.json("report", "breaches", "--state", "all", "--at", WEEK_AFTER)
    keys, after, pages = [], None, 0
    while True:
        more = ["--after", after] if after else []
        page = reports.json(
            "report", "breaches", "--state", "all", "--at", WEEK_AFTER, "--limit", "3", *more
        )
        assert len(page["rows"]) <= 3
        assert page["counts"] == {
            "on_track": 1, "at_risk": 0, "breached": 2, "met": 1, "paused": 0, "declined": 0
        }  # fmt: skip
        keys += [r["key"] for r in page["rows"]]
        pages += 1
        after = page["next"]
        if after is None:
            break
    assert (keys, pages) == ([r["key"] for r in whole["rows"]], 2)
    table = reports("report", "breaches", "--state", "all", "--at", WEEK_AFTER, "--limit", "2")
    assert table.code == 0, table.err
    assert "clocks by state: on track 1, at risk 0, breached 2, met 1" in table.err
    cursor = table.err.split("more: --after ", 1)[1].split()[0]
    rest = reports.json(
        "report", "breaches", "--state", "all", "--at", WEEK_AFTER, "--after", cursor
    )
    assert [r["key"] for r in rest["rows"]] == keys[2:]
    assert "more:" not in reports("report", "breaches", "--state", "all").err


def test_the_board_at_an_instant_shows_the_tickets_as_they_stood(reports: Reports) -> None:
    """Monday 10:30: B-1 not received yet, P-1's response at 11:00 not known yet."""
    then = by_key(reports.json("report", "breaches", "--at", "2025-03-03T10:30:00+01:00")["rows"])
    assert set(then) == {"P-1", "P-2", "A-1"}
    assert (then["P-1"]["state"], then["P-1"]["responded_at"]) == ("on_track", None)
    assert then["A-1"]["clock"] == "running"


# -- breach statistics -----------------------------------------------------------------------------


def test_breach_statistics_by_tier(reports: Reports) -> None:
    """Counts, breach rate and response times per tier, a week after the tickets came in."""
    data = reports.json("report", "breach-stats", "--by", "tier", "--at", WEEK_AFTER)
    rows = {r["key"]: r for r in data["rows"]}
    assert sorted(rows) == ["advanced", "basic", "premium"]
    advanced = rows["advanced"]
    assert (advanced["tickets"], advanced["met"], advanced["breached"]) == (1, 0, 1)
    assert advanced["breach_rate"] == "1"
    premium = rows["premium"]
    assert (premium["tickets"], premium["met"], premium["responses"]) == (2, 1, 1)
    assert premium["median_response_seconds"] == 6300  # 1h 45m


def test_breach_statistics_as_csv_by_severity(reports: Reports) -> None:
    """One CSV row per severity, with a header naming the columns."""
    result = reports("report", "breach-stats", "--by", "severity", "--at", WEEK_AFTER, "--csv")
    assert result.code == 0, result.err
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert [r["key"] for r in rows] == ["1", "3"]
    assert [int(r["tickets"]) for r in rows] == [2, 2]


# -- credit statements -----------------------------------------------------------------------------


def test_a_month_statement_and_its_check_against_the_events(reports: Reports) -> None:
    """March 2025: Advanced used 5 of its 32 points, Basic bought 20 and used 8; --check agrees."""
    data = reports.json("report", "credits", "--period", "2025-03", "--check")
    assert data["differences"] == []
    statements = {s["customer"]: s for s in data["statements"]}
    advanced = statements["Advanced Customer"]["points"]
    assert (advanced["opening"], advanced["consumed"], advanced["closing"]) == ("32", "5", "27")
    basic = statements["Basic Customer"]["points"]
    assert (basic["purchased"], basic["consumed"], basic["closing"]) == ("20", "8", "12")
    one = reports.json("report", "credits", "--term", "1", "--contract", str(reports.world.basic))
    assert [s["customer"] for s in one["statements"]] == ["Basic Customer"]


def test_statements_as_csv_have_one_row_per_contract(reports: Reports) -> None:
    result = reports("report", "credits", "--term", "1", "--csv")
    assert result.code == 0, result.err
    every = list(csv.DictReader(io.StringIO(result.out)))
    rows = [r for r in every if r["contract_id"]]
    assert sorted(r["customer"] for r in rows) == [
        "Advanced Customer",
        "Basic Customer",
        "Premium Customer",
    ]
    premium = next(r for r in rows if r["customer"] == "Premium Customer")
    assert premium["fees_total"] == "26000"  # 65 % of 40,000.00
    (total,) = [r for r in every if not r["contract_id"]]
    assert (total["customer"], total["currency"]) == ("TOTAL", "EUR")
    fees = sum(Decimal(r["fees_total"]) for r in rows)
    assert (Decimal(total["fees_total"]), total["points_closing"]) == (fees, "")


def test_a_figure_altered_in_the_view_is_found_by_the_check(
    tmp_path: Path, reports: Reports
) -> None:
    """--check recomputes from the events: a consumption inflated in the view exits 1."""
    copy = tmp_path / "copy.db"
    with sqlite3.connect(reports.database) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    altered = Reports(copy, reports.world)
    altered.json("projections", "run", "--once")
    with sqlite3.connect(copy) as db:
        db.execute("UPDATE credit_movements SET amount = amount + 100 WHERE kind = 'consumption'")
    result = altered("report", "credits", "--period", "2025-03", "--check", "--json")
    assert result.code == 1
    figures = {(d["unit"], d["figure"]) for d in result.json["differences"]}
    assert ("points", "consumed") in figures
    assert {d["customer"] for d in result.json["differences"]} <= {
        "Premium Customer", "Advanced Customer", "Basic Customer",
    }  # fmt: skip
    shown = altered("report", "credits", "--period", "2025-03", "--check")
    assert shown.code == 1
    assert "difference" in shown.err
    assert "consumed" in shown.err
    assert "Customer" in shown.err  # the customer's name beside the contract id


# -- reading without catching up -------------------------------------------------------------------


def test_no_catch_up_reads_the_view_as_it_stands(tmp_path: Path, reports: Reports) -> None:
    """A fact recorded after the view last ran shows only once the view takes it in."""
    copy = tmp_path / "copy.db"
    with sqlite3.connect(reports.database) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    later = Reports(copy, reports.world)
    later.json("projections", "run", "--once")
    app = SupportLedger(settings=parse_database_url(f"sqlite:///{copy}"))
    try:
        app.open_ticket(
            contract_id=reports.world.basic, reporter="it@cobalt.example", severity=3,
            version="24.2.1", platform="linux", key="B-2", at=at(3, 5, 10),
        )  # fmt: skip
    finally:
        app.close()
    stale = later.json("report", "breaches", "--state", "all", "--no-catch-up")
    assert stale["position"] < stale["head"]
    assert "B-2" not in by_key(stale["rows"])
    fresh = later.json("report", "breaches", "--state", "all")
    assert fresh["position"] == fresh["head"]
    assert "B-2" in by_key(fresh["rows"])


# -- bad requests ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code", "error", "message"),
    [
        pytest.param(["report", "credits"], 1, "invalid_input",
                     "give --period YYYY-MM or --term N (one of them)", id="neither"),
        pytest.param(["report", "credits", "--period", "2025-03", "--term", "1"], 1,
                     "invalid_input", "give --period YYYY-MM or --term N (one of them)",
                     id="both"),
        pytest.param(["report", "credits", "--period", "2025-13"], 1, "invalid_input",
                     "2025-13", id="month-13"),
        pytest.param(["report", "credits", "--term", "0"], 1, "invalid_input",
                     "--term: must be at least 1, got 0", id="term-0"),
        pytest.param(["report", "credits", "--term", "1", "--contract", "acme"], 1,
                     "unknown_contract", "--contract: no contract is an id or a customer named "
                     "'acme'", id="contract-name-of-no-customer"),
        pytest.param(["report", "credits", "--term", "1", "--contract",
                      "00000000-0000-0000-0000-000000000000"], 1, "unknown_contract",
                     "no contract 00000000-0000-0000-0000-000000000000", id="unknown-contract"),
        pytest.param(["report", "credits", "--term", "1", "--check", "--no-catch-up"], 1,
                     "invalid_input", "--check compares with the whole log", id="check-stale"),
        pytest.param(["report", "breaches", "--since", "2025-03-01"], 1, "naive_datetime",
                     "--since: '2025-03-01' has no UTC offset; add one, e.g. 2025-03-01T00:00:00Z",
                     id="naive-since"),
        pytest.param(["report", "breaches", "--at", "yesterday"], 1, "invalid_input",
                     "--at: 'yesterday' is not an ISO 8601 instant", id="bad-at"),
        pytest.param(["report", "breaches", "--csv"], 1, "invalid_input",
                     "give --json or --csv, not both", id="json-and-csv"),
        pytest.param(["report", "breaches", "--limit", "0"], 1, "invalid_input",
                     "--limit: must be at least 1, got 0", id="limit-0"),
        pytest.param(["report", "breaches", "--limit", "1001"], 1, "invalid_input",
                     "--limit: must be at most 1,000, got 1001", id="limit-1001"),
        pytest.param(["report", "breaches", "--limit", "ten"], 1, "invalid_input",
                     "--limit: 'ten' is not a whole number", id="limit-text"),
        pytest.param(["report", "breaches", "--after", "bm90LWEtY3Vyc29y"], 1, "invalid_input",
                     "after: 'bm90LWEtY3Vyc29y' is not a cursor of the board", id="bad-cursor"),
    ],
)  # fmt: skip
def test_bad_report_requests_are_refused_with_what_was_wrong(
    reports: Reports, args: list[str], code: int, error: str, message: str
) -> None:
    result = reports(*args, "--json")
    assert result.code == code, result.err
    assert result.out == ""
    assert result.error["code"] == error
    assert message in result.error["message"]


@pytest.mark.parametrize(
    ("args", "wrong"),
    [
        (["report", "breaches", "--state", "late"], "--state"),
        (["report", "breaches", "--tier", "gold"], "--tier"),
        (["report", "breach-stats", "--by", "week"], "--by"),
    ],
)
def test_unknown_choices_are_refused(reports: Reports, args: list[str], wrong: str) -> None:
    """Exit 1, `invalid_input`, with click's message naming the option (a malformed value
    exits 1 whatever the command)."""
    result = reports(*args)
    assert result.code == 1
    assert "invalid_input" in result.err
    assert wrong in result.err


def test_a_missing_choice_is_a_usage_error(reports: Reports) -> None:
    """Exit 2 with click's message naming the missing option."""
    result = reports("report", "breach-stats")
    assert result.code == 2
    assert "--by" in result.err


# -- the projections commands ----------------------------------------------------------------------


def test_projections_run_status_verify_and_rebuild(tmp_path: Path, reports: Reports) -> None:
    """run --once catches every view up; verify finds it equal to a rebuild; a view altered
    behind its back is found; rebuild repairs it."""
    copy = tmp_path / "copy.db"
    with sqlite3.connect(reports.database) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    ledger = Reports(copy, reports.world)
    outcomes = ledger.json("projections", "run", "--once")
    assert {o["name"]: o["status"] for o in outcomes} == {
        "sla_breaches": "caught_up",
        "credit_usage": "caught_up",
        "deadlines": "caught_up",
        "contracts": "caught_up",
    }
    states = {s["name"]: s for s in ledger.json("projections", "status")}
    assert all(s["lag"] == 0 and s["position"] == s["head"] for s in states.values())
    assert ledger.json("projections", "verify", "sla_breaches")["equal"] is True
    with sqlite3.connect(copy) as db:
        db.execute("UPDATE sla_clocks SET severity = 4 WHERE external_key = 'P-1'")
    broken = ledger("projections", "verify", "sla_breaches", "--json")
    assert broken.code == 1
    assert broken.json["equal"] is False
    assert [d["table"] for d in broken.json["differences"]] == ["sla_clocks"]
    rebuilt = ledger.json("projections", "rebuild", "sla_breaches")
    assert rebuilt["position"] == states["sla_breaches"]["head"]
    assert ledger.json("projections", "verify", "sla_breaches")["equal"] is True
    unknown = ledger("projections", "rebuild", "nonsense", "--json")
    assert unknown.code == 1
    assert unknown.error["code"] == "unknown_projection"


# -- histories -------------------------------------------------------------------------------------


def test_ticket_and_contract_history_from_the_cli(reports: Reports) -> None:
    """Each event with the state after it; a person's view names the stretches counted."""
    steps = reports.json("ticket", "history", "A-1")
    assert steps[0]["event"]["type"] == "Ticket.Opened"
    assert steps[-1]["clock"]["state"] == "stopped"
    assert steps[-1]["ticket"]["outcome"] == "breached"
    shown = reports("ticket", "history", "A-1")
    assert shown.code == 0, shown.err
    assert "v1 Opened" in shown.out
    assert "counted:" in shown.out
    contract = reports.json("contract", "history", str(reports.world.advanced))
    assert contract[0]["event"]["type"] == "Contract.Signed"
    missing = reports("ticket", "history", "NOPE-1", "--json")
    assert missing.code == 1
    assert missing.error["code"] == "unknown_ticket"
