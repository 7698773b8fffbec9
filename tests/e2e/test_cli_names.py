"""The `ledger` command names contracts by their customer: list, look-ups, intake by e-mail,
priority troubleshooting and the credit history (a SQLite file, dates relative to today)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.cli import Result, run

if TYPE_CHECKING:
    from pathlib import Path

NOW = datetime.now(UTC)
START = (NOW - timedelta(days=30)).date().isoformat()
VERSION = f"{NOW.year % 100}.1.0"


class Ledger:
    """`ledger` on one SQLite file."""

    def __init__(self, database: Path) -> None:
        self.env = {"LEDGER_DATABASE_URL": f"sqlite:///{database}"}

    def __call__(self, *args: str) -> Result:
        return run(*args, env=self.env)

    def ok(self, *args: str) -> Any:
        result = self(*args, "--json")
        assert result.code == 0, result.err
        return result.json


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Ledger:
    """Acme GmbH (Premium, ops@), Acme Labs (Basic, lab@), a release of this year."""
    cli = Ledger(tmp_path_factory.mktemp("names") / "ledger.db")
    cli.ok("releases", "publish", VERSION, "--at", (NOW - timedelta(days=40)).isoformat())
    for customer, tier, contact in (
        ("Acme GmbH", "premium", "ops@acme.example"),
        ("Acme Labs", "basic", "lab@acme.example"),
    ):
        cli.ok("contract", "sign", "--customer", customer, "--tier", tier, "--licenses", "1",
               "--list-price", "1000", "--start", START)  # fmt: skip
        cli.ok("contract", "contacts", "add", customer.lower(), contact)
    return cli


def test_contract_list_prints_every_contract_as_a_table_json_and_csv(ledger: Ledger) -> None:
    """Rows by customer; --customer matches any part in any case; CSV has a header row."""
    table = ledger("contract", "list")
    assert table.code == 0, table.err
    assert "Acme GmbH" in table.out
    assert "Acme Labs" in table.out
    rows = ledger.ok("contract", "list", "--customer", "ME g")
    assert [r["customer"] for r in rows] == ["Acme GmbH"]
    assert rows[0]["named_contacts"] == ["ops@acme.example"]
    assert rows[0]["credit_balance"] == "32"
    listed = ledger("contract", "list", "--tier", "basic", "--csv")
    assert listed.code == 0, listed.err
    parsed = list(csv.DictReader(io.StringIO(listed.out)))
    assert [(r["customer"], r["status"]) for r in parsed] == [("Acme Labs", "active")]
    refused = ledger("contract", "list", "--status", "asleep")
    assert refused.code == 1


def test_a_name_stands_for_the_contract_id_and_an_ambiguous_one_is_refused(
    ledger: Ledger,
) -> None:
    """`contract show acme gmbh` is the contract; `acme` fits two: exit 1 listing both."""
    shown = ledger.ok("contract", "show", "ACME GMBH")
    assert shown["customer"] == "Acme GmbH"
    assert shown["account_id"]
    refused = ledger("contract", "show", "acme", "--json")
    assert refused.code == 1
    assert refused.error["code"] == "ambiguous_contract"
    assert "Acme GmbH" in refused.error["message"]
    assert "Acme Labs" in refused.error["message"]
    unknown = ledger("credits", "balance", "Globex", "--json")
    assert (unknown.code, unknown.error["code"]) == (1, "unknown_contract")


def test_ticket_open_by_reporter_opens_or_declines_and_records(ledger: Ledger) -> None:
    """The agreement naming the reporter takes the request; nobody's address is declined
    (exit 3) and kept as a ticket."""
    opened = ledger.ok("ticket", "open", "--reporter", "ops@acme.example", "--version", VERSION,
                       "--platform", "linux", "--key", "CLI-1")  # fmt: skip
    assert (opened["status"], opened["customer"]) == ("open", "Acme GmbH")
    declined = ledger("ticket", "open", "--reporter", "nobody@else.example", "--version",
                      VERSION, "--platform", "linux", "--key", "CLI-2", "--json")  # fmt: skip
    assert declined.code == 3
    assert declined.json["reason"] == "no_valid_agreement"
    kept = ledger.ok("ticket", "show", "CLI-2")
    assert (kept["status"], kept["contract_id"]) == ("declined", None)


def test_ticket_priority_is_premium_and_advanced_only(ledger: Ledger) -> None:
    """Premium: the flag shows on the ticket, its history and the board; Basic: exit 1."""
    ledger.ok("ticket", "open", "--contract", "acme gmbh", "--reporter", "ops@acme.example",
              "--version", VERSION, "--platform", "linux", "--key", "PRI-1")  # fmt: skip
    ledger.ok("ticket", "open", "--contract", "acme labs", "--reporter", "lab@acme.example",
              "--version", VERSION, "--platform", "linux", "--key", "PRI-2")  # fmt: skip
    flagged = ledger.ok("ticket", "priority", "PRI-1")
    assert len(flagged["priority_troubleshooting"]) == 1
    history = ledger.ok("ticket", "history", "PRI-1")
    assert history[-1]["event"]["type"] == "Ticket.PriorityTroubleshootingRequested"
    refused = ledger("ticket", "priority", "PRI-2", "--json")
    assert (refused.code, refused.error["code"]) == (1, "not_included_in_tier")
    assert ledger.ok("ticket", "history", "PRI-2")[-1]["event"]["type"] == "Ticket.Opened"
    board = ledger.ok("report", "breaches", "--customer", "acme")["rows"]
    flags = {r["key"]: r["priority"] for r in board}
    assert (flags["PRI-1"], flags["PRI-2"]) == (True, False)


def test_credits_history_and_the_accounts_events_by_name(ledger: Ledger) -> None:
    """The draw shows with its key; `events NAME --account` lists the account's events."""
    ledger.ok("credits", "consume", "acme gmbh", "--points", "2", "--activity", "analysis",
              "--key", "W-7")  # fmt: skip
    history = ledger.ok("credits", "history", "acme gmbh")
    drawn = [r for r in history["rows"] if r["key"] == "W-7"]
    assert [(r["kind"], r["amount"]) for r in drawn] == [("consumption", "2")]
    events = ledger.ok("events", "acme gmbh", "--account")
    assert {e["aggregate_id"] for e in events} == {history["account_id"]}
    assert ledger.ok("credits", "balance", "acme gmbh")["account_id"] == history["account_id"]


def test_scheduler_tables_name_the_customer_beside_the_contract(ledger: Ledger) -> None:
    """`scheduler tick` and `scheduler status` carry the customer's name of each fact."""
    ticked = ledger.ok("scheduler", "tick")
    assert all(row["customer"] in {"Acme GmbH", "Acme Labs"} for row in ticked)
    status = ledger.ok("scheduler", "status")
    assert status["next_due"] is not None
    assert status["next_due"]["customer"] in {"Acme GmbH", "Acme Labs"}
