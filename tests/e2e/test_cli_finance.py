"""`ledger` as a subprocess on a SQLite file: a contract's currency, money in the credit
statements, and `report revenue` (table, JSON, CSV, --check and refusals)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from ledger.application import SupportLedger
from ledger.settings import parse_database_url
from tests.e2e.test_cli_reports import Reports, record_history

if TYPE_CHECKING:
    from pathlib import Path

D = Decimal
SIGN = (
    *("contract", "sign", "--customer", "Dollar Inc", "--tier", "advanced", "--licenses", "1"),
    *("--list-price", "12500", "--start", "2025-01-01", "--at", "2025-01-02T09:00:00Z"),
)


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Reports:
    """The history of tests/e2e/test_cli_reports.py: Basic bought 20 points for 1,500.00 in
    March and used 8 of them."""
    database = tmp_path_factory.mktemp("finance") / "ledger.db"
    app = SupportLedger(settings=parse_database_url(f"sqlite:///{database}"))
    try:
        world = record_history(app)
    finally:
        app.close()
    return Reports(database, world)


def test_a_contract_signed_in_dollars_keeps_its_currency(tmp_path: Path) -> None:
    """`--currency usd` is USD on the contract and on its fees; without it, EUR."""
    ledger = Reports(tmp_path / "ledger.db", None)  # type: ignore[arg-type]
    signed = ledger.json(*SIGN, "--currency", "usd")
    shown = ledger.json("contract", "show", signed["contract_id"])
    assert shown["currency"] == "USD"
    statement = ledger.json("report", "credits", "--term", "1")
    assert statement["totals"] == [{"currency": "USD", "fees_total": "5000",
                                    "packages_total": "0"}]  # fmt: skip


@pytest.mark.parametrize("currency", ["EURO", "XXX", "12"], ids=repr)
def test_a_currency_that_is_no_iso_code_is_refused_and_nothing_recorded(
    tmp_path: Path, currency: str
) -> None:
    """Exit 1 with `unknown_currency`; the contract list stays empty."""
    ledger = Reports(tmp_path / "ledger.db", None)  # type: ignore[arg-type]
    refused = ledger(*SIGN, "--currency", currency, "--json")
    assert refused.code == 1
    assert refused.error["code"] == "unknown_currency"
    assert repr(currency) in refused.error["message"]
    assert ledger.json("report", "credits", "--period", "2025-01")["statements"] == []


def test_the_statement_table_shows_money_local_windows_and_totals(reports: Reports) -> None:
    """Thousands separators, the month as local dates in the zone, packages and totals."""
    shown = reports("report", "credits", "--period", "2025-03")
    assert shown.code == 0, shown.err
    assert "2025-03-01 - 2025-03-31 Europe/Berlin" in shown.out
    assert "1,500.00 EUR" in shown.out  # Basic's package
    assert "fees charged in the month" not in shown.out  # none charged in March
    term = reports("report", "credits", "--term", "1")
    assert "fees paying for the term, whenever charged" in term.out
    assert "26,000.00 EUR" in term.out  # Premium's fee
    assert "totals" in term.out
    assert "35,500.00 EUR" in term.out  # every contract's fee: 26,000 + 8,000 + 1,500


def test_revenue_as_json_has_the_declared_figures_and_ties_out(reports: Reports) -> None:
    """March: Basic's package billed 1,500.00, 8 of 20 points used (600.00), 900.00 deferred;
    each contract's fee earns 31/365 of itself; the check agrees with the events."""
    data = reports.json("report", "revenue", "--period", "2025-03", "--check")
    assert data["differences"] == []
    rows = {r["customer"]: r for r in data["revenue"]}
    basic = rows["Basic Customer"]
    assert (D(basic["packages_billed"]), D(basic["packages_recognised_consumed"])) == (1500, 600)
    assert (D(basic["packages_deferred_closing"]), D(basic["packages_breakage"])) == (900, 0)
    premium = rows["Premium Customer"]  # 26,000.00 over 365 days: 59 before, 90 by the end
    assert D(premium["fees_recognised"]) == D("6410.96") - D("4202.74")
    (total,) = data["totals"]
    assert D(total["packages_billed"]) == 1500


def test_revenue_as_a_table_and_as_csv(reports: Reports) -> None:
    """The table shows money with separators and the window's local dates; the CSV exact
    figures and a totals row per currency."""
    table = reports("report", "revenue", "--term", "1", "--check")
    assert table.code == 0, table.err
    assert "2025-01-01 - 2025-12-31 Europe/Berlin" in table.out
    assert "26,000.00 EUR" in table.out
    assert "every figure agrees with the events (3 contracts)" in table.err
    as_csv = reports("report", "revenue", "--term", "1", "--csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.out)))
    assert [r["customer"] for r in rows][-1] == "TOTAL"
    assert sum(D(r["fees_billed"]) for r in rows[:-1]) == D(rows[-1]["fees_billed"]) == 35500


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ((), "give --period YYYY-MM or --term N"),
        (("--period", "2025-03", "--term", "1"), "give --period YYYY-MM or --term N"),
        (("--period", "2025-13"), "not a month"),
        (("--term", "0"), "--term"),
        (("--period", "2025-03", "--json", "--csv"), "not both"),
        (("--period", "2025-03", "--contract", "nope"), "--contract"),
        (("--period", "2025-03", "--check", "--no-catch-up"), "cannot read a view"),
    ],
    ids=["none", "both", "month", "term", "formats", "contract", "check"],
)
def test_revenue_refuses_bad_requests(
    reports: Reports, args: tuple[str, ...], fragment: str
) -> None:
    """Exit 1 and a message naming what was wrong."""
    result = reports("report", "revenue", *args)
    assert result.code == 1
    assert fragment in result.err


def test_credits_expiring_and_renewals_due_on_the_command_line(reports: Reports) -> None:
    """`report credits expiring --within 32d` lists the term lots ending the year, soonest
    first; `report renewals --within 60d` each contract with its renewal fee."""
    lots = reports.json(
        "report", "credits", "expiring", "--within", "32d", "--at", "2025-12-01T00:00:00+01:00"
    )
    assert {r["lot_id"] for r in lots["lots"]} == {"term-1-points", "term-1-sessions"}
    due = reports("report", "renewals", "--within", "60d", "--at", "2025-11-15T00:00:00Z")
    assert due.code == 0, due.err
    assert "26,000.00 EUR" in due.out  # Premium: 65 % of 40,000.00
    assert "32,000.00 EUR" in due.out  # after a lapse: 80 %
    as_csv = reports("report", "renewals", "--within", "60d", "--csv")
    assert as_csv.out.splitlines()[0].startswith("customer,contract_id,term_number")
    refused = reports("report", "credits", "expiring", "--within", "a month")
    assert refused.code == 1
    assert "--within" in refused.err


def test_the_customer_statement_is_written_and_its_digest_verifies(
    reports: Reports, tmp_path: Path
) -> None:
    """`ledger statement C --period 2025-03 --output FILE`: the document names the customer,
    the movements with their tickets, the package's price; its digest passes `audit verify`."""
    document = tmp_path / "statement.html"
    written = reports(
        "statement", str(reports.world.basic), "--period", "2025-03", "--output", str(document)
    )
    assert written.code == 0, written.err
    html = document.read_text(encoding="utf-8")
    assert "Basic Customer" in html
    assert "1,500.00 EUR" in html
    assert "2025-03-06 09:00" in html  # the consumption of 8 points, in Berlin time
    digest = html.split('<code class="digest">')[1].split("</code>")[0]
    verified = reports("audit", "verify", "--digest", digest)
    assert verified.code == 0, verified.err
    refused = reports("statement", str(reports.world.basic))
    assert refused.code == 1
    assert "--period" in refused.err
