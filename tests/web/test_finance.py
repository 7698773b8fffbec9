"""Money over HTTP on SQLite and PostgreSQL: a contract's currency, the statements' money and
totals, and the revenue report (JSON, CSV, its check and its refusals)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from tests.scenario import at, build_world
from tests.web.test_pages import sign_in

if TYPE_CHECKING:
    from tests.scenario import World
    from tests.web.conftest import Api

D = Decimal
SIGNING = {"customer": "Dollar Inc", "tier": "advanced", "licenses": 1, "list_price": "10000",
           "start": "2025-01-01", "at": "2025-01-02T09:00:00Z"}  # fmt: skip


@pytest.fixture
def world(api: Api) -> World:
    world = build_world(api.ledger)
    api.ledger.purchase_credits(
        world.premium, points=D(20), price=D("1500.00"), key="p1", at=at(3, 3, 10)
    )
    api.ledger.consume_credits(world.premium, points=D(70), activity="work", key="w1",
                               at=at(3, 4, 10))  # fmt: skip
    return world


def test_a_contract_is_signed_in_the_currency_given_and_its_fees_are_in_it(api: Api) -> None:
    """`currency` (any case) is the contract's; without it the terms' EUR."""
    dollars = api.post("admin", "/contracts", {**SIGNING, "currency": " usd "})
    assert dollars.status_code == 201
    assert dollars.json()["currency"] == "USD"
    euros = api.post("admin", "/contracts", {**SIGNING, "customer": "Euro GmbH"})
    assert euros.json()["currency"] == "EUR"


@pytest.mark.parametrize("currency", ["EURO", "XXX", "eu", "", "€"], ids=repr)
def test_a_currency_that_is_no_iso_code_is_refused_and_nothing_recorded(
    api: Api, currency: str
) -> None:
    """A 400 naming the currency; the log does not grow."""
    before = api.recorded()
    refused = api.post("admin", "/contracts", {**SIGNING, "currency": currency})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] in {"unknown_currency", "invalid_input"}
    assert "currency" in refused.json()["error"]["message"]
    assert api.recorded() == before


def test_statements_show_packages_fees_by_term_and_totals_per_currency(
    api: Api, world: World
) -> None:
    """March shows the 1,500.00 package; term 1 the signing fees; totals sum every contract."""
    march = api.get("finance", "/reports/credits", params={"period": "2025-03"}).json()
    premium = next(s for s in march["statements"] if s["customer"] == "Premium Customer")
    assert (D(premium["packages_total"]), premium["fees_basis"]) == (1500, "charged_in_period")
    assert premium["timezone"] == "Europe/Berlin"
    (total,) = march["totals"]
    assert (total["currency"], D(total["fees_total"]), D(total["packages_total"])) == (
        "EUR",
        0,
        1500,
    )
    term = api.get("finance", "/reports/credits", params={"term": 1, "check": True}).json()
    assert term["differences"] == []
    assert {s["fees_basis"] for s in term["statements"]} == {"paying_for_term"}
    assert D(term["totals"][0]["fees_total"]) == 35500  # 26,000 + 8,000 + 1,500 (65/40/25 %)


def test_revenue_answers_every_figure_with_totals_and_ties_out(api: Api, world: World) -> None:
    """March: per contract the declared figures, totals per currency that sum the rows, and
    `check=true` finds no difference."""
    answer = api.get(
        "finance", "/reports/revenue", params={"period": "2025-03", "check": True}
    ).json()
    assert answer["differences"] == []
    rows = {r["customer"]: r for r in answer["revenue"]}
    assert set(rows) == {"Premium Customer", "Advanced Customer", "Basic Customer"}
    premium = rows["Premium Customer"]
    assert D(premium["packages_billed"]) == 1500
    billed = sum(D(r["fees_billed"]) + D(r["packages_billed"]) for r in rows.values())
    (total,) = answer["totals"]
    assert D(total["fees_billed"]) + D(total["packages_billed"]) == billed
    recognised = sum(D(r["fees_recognised"]) for r in rows.values())
    assert D(total["fees_recognised"]) == recognised > 0
    as_csv = api.get("finance", "/reports/revenue", params={"term": 1, "format": "csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [r["customer"] for r in lines if not r["contract_id"]] == ["TOTAL"]
    assert lines[0]["fees_billed"] != ""


def test_revenue_refuses_bad_requests(api: Api, world: World) -> None:
    """A window is required, well formed, and check needs JSON and a caught-up view."""
    for params, fragment in [
        ({}, "give period=YYYY-MM or term=N"),
        ({"period": "2025-03", "term": 1}, "give period=YYYY-MM or term=N"),
        ({"period": "2025-13"}, "period: '2025-13' is not a month"),
        ({"term": 1, "check": True, "catch_up": False}, "cannot read a view"),
        ({"term": 1, "check": True, "format": "csv"}, "differences come as JSON"),
        ({"term": 3, "contract": str(world.basic)}, "has no term 3"),
    ]:
        answer = api.get("finance", "/reports/revenue", params=params)
        assert answer.status_code == 400, params
        assert fragment in answer.json()["error"]["message"]
    unknown = api.get(
        "finance", "/reports/revenue",
        params={"period": "2025-03", "contract": "6f1c1c1e-0000-4000-8000-000000000000"},
    )  # fmt: skip
    assert unknown.status_code == 404


def test_the_finance_page_shows_local_windows_money_and_totals(sqlite_api: Api) -> None:
    """The /finance statements: the month as local dates, money with separators, packages, and
    a totals row per currency under the table."""
    world = build_world(sqlite_api.ledger)
    sqlite_api.ledger.purchase_credits(
        world.basic, points=D(20), price=D("1500.00"), key="p1", at=at(3, 3, 10)
    )
    sign_in(sqlite_api, "finance")
    page = sqlite_api.client.get("/finance", params={"period": "2025-03"})
    assert page.status_code == 200
    assert "2025-03-01 - 2025-03-31 Europe/Berlin" in page.text
    assert "1,500.00 EUR" in page.text
    assert 'class="totals"' in page.text
    assert "total EUR" in page.text
    term = sqlite_api.client.get("/finance", params={"term": "1"})
    assert "35,500.00 EUR" in term.text  # 26,000 + 8,000 + 1,500: the fees paying for term 1


def test_lots_expiring_and_renewals_due_over_http(api: Api, world: World) -> None:
    """The premium package (no expiry) is not listed; the terms' lots expiring at the year's
    end are; every contract's renewal is due in the 60 days before it, with both fees."""
    soon = api.get("finance", "/reports/credits/expiring",
                   params={"within": "32d", "at": "2025-12-01T00:00:00+01:00"}).json()  # fmt: skip
    assert {r["lot_id"] for r in soon["lots"]} == {"term-1-points", "term-1-sessions"}
    assert soon["totals"] == []  # term lots carry no price
    assert soon["until"] == "2026-01-01T23:00:00Z"
    due = api.get("finance", "/reports/renewals",
                  params={"within": "60d", "at": "2025-11-15T00:00:00Z"}).json()  # fmt: skip
    fees = {
        r["customer"]: (D(r["renewal_fee"]), D(r["reinstatement_fee"])) for r in due["renewals"]
    }
    assert fees == {
        "Premium Customer": (26000, 32000),
        "Advanced Customer": (8000, 16000),
        "Basic Customer": (1500, 4800),
    }
    csv_params = {"within": "60d", "format": "csv", "at": "2025-11-15T00:00:00Z"}
    as_csv = api.get("finance", "/reports/renewals", params=csv_params)
    assert as_csv.text.splitlines()[0].startswith("customer,contract_id,term_number,ends_at")
    for path in ("/reports/renewals", "/reports/credits/expiring"):
        refused = api.get("finance", path, params={"within": "soon"})
        assert refused.status_code == 400
        assert "within" in refused.json()["error"]["message"]
        missing = api.get("finance", path)
        assert missing.status_code == 400


def test_the_customer_statement_page_is_a_printable_document_with_its_digest(
    sqlite_api: Api,
) -> None:
    """Finance opens one contract's month: agreement, movements in local time, the package with
    its price, totals, the digest and how to verify it; its own stylesheet allowed by hash."""
    world = build_world(sqlite_api.ledger)
    sqlite_api.ledger.purchase_credits(
        world.basic, points=D(20), price=D("1500.00"), key="p1", at=at(3, 3, 10)
    )
    sign_in(sqlite_api, "finance")
    page = sqlite_api.client.get(f"/finance/statements/{world.basic}", params={"period": "2025-03"})
    assert page.status_code == 200
    text = page.text
    assert "Basic Customer" in text
    assert "2025-03-01 - 2025-03-31 Europe/Berlin" in text
    assert "2025-03-03 10:00" in text  # the purchase, in Berlin time
    assert "1,500.00 EUR" in text
    assert "@page { size: A4" in text
    assert "ledger audit verify --digest " in text
    assert "style-src 'sha256-" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    # a text that is not an id is a customer's name; nobody has this one
    bad = sqlite_api.client.get("/finance/statements/not-an-id", params={"period": "2025-03"})
    assert (bad.status_code, "unknown_contract" in bad.text) == (404, True)
    by_name = sqlite_api.client.get("/finance/statements/basic", params={"period": "2025-03"})
    assert (by_name.status_code, "Basic Customer" in by_name.text) == (200, True)
    unknown = sqlite_api.client.get(
        "/finance/statements/6f1c1c1e-0000-4000-8000-000000000000", params={"period": "2025-03"}
    )
    assert unknown.status_code == 404
    sign_in(sqlite_api, "agent")
    refused = sqlite_api.client.get(f"/finance/statements/{world.basic}", params={"term": "1"})
    assert refused.status_code == 403
