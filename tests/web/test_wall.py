"""The wall board (/ops) and the finance page's revenue and charts, in process, on SQLite and
PostgreSQL: the counters (a waived breach apart), next to breach, the breach figures against the
API's, the fragment refreshed; revenue, its CSV, the points per month, the statement links."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from ledger.display import duration_text
from ledger.presenters import money
from ledger.web.charts import Series, bar_chart
from tests.scenario import build_world
from tests.web.test_pages import current_contract, sign_in

if TYPE_CHECKING:
    from collections.abc import Iterator
    from uuid import UUID

    from tests.web.conftest import Api


@pytest.fixture
def client(api: Api) -> Iterator[Api]:
    """The API on either store with the standard world (contracts of 2025, no tickets now)."""
    build_world(api.ledger)
    yield api
    api.client.cookies.clear()


def counter(page: str, key: str) -> int:
    found = re.search(rf'data-counter="{key}"><b>(\d+)</b>', page)
    assert found, f"no counter {key}"
    return int(found.group(1))


def chart_cell(page: str, chart: str, row: str) -> list[str]:
    """The figures of a row of a chart's table (its text alternative)."""
    part = page.split(f'<figure class="chart" id="{chart}">', 1)[1].split("</figure>", 1)[0]
    found = re.search(rf"<tr><th scope='row'>{re.escape(row)}</th>(.*?)</tr>", part)
    assert found, f"no row {row} in {chart}"
    return re.findall(r"<td class='num'>([^<]*)</td>", found.group(1))


def open_ticket(client: Api, contract: UUID, key: str, received: datetime, severity: int) -> None:
    client.ledger.open_ticket(
        contract_id=contract, reporter="ops@dynamo.example", severity=severity,
        version="24.2.1", platform="linux", at=received, key=key,
    )  # fmt: skip


def test_the_wall_counts_a_waived_breach_apart_and_shows_the_figures(client: Api) -> None:
    """Counters per state with the waived breach apart (and not red on the board), the next to
    breach linked to their ticket page, breaches, rate and response times per tier equal to the
    API's breach statistics of the last 7 and 30 days."""
    now = datetime.now(UTC)
    contract = current_contract(client.ledger, "Dynamo", "premium", "ops@dynamo.example")
    three_days = now - timedelta(days=3)
    for key in ("WAIVED-1", "LATE-1", "MET-1"):
        open_ticket(client, contract, key, three_days, 1)
    client.ledger.record_first_response("MET-1", at=three_days + timedelta(minutes=10))
    client.ledger.record_breach("WAIVED-1", at=now, late=False)
    client.ledger.waive_breach("WAIVED-1", reason="outage upstream", actor="lead", at=now)
    open_ticket(client, contract, "NEW-1", now, 3)
    sign_in(client, "agent")
    page = client.client.get("/ops").text
    assert counter(page, "breached") == 1
    assert counter(page, "waived") == 1
    assert counter(page, "on_track") + counter(page, "at_risk") == 1
    assert counter(page, "paused") == 0
    assert counter(page, "alerts_failed") == 0
    waived_row = page.split('data-ticket="WAIVED-1"', 1)[0].rsplit("<tr", 1)[1]
    assert 'class="state-breached waived"' in waived_row
    assert re.search(r'data-ticket="WAIVED-1".*?<td class="state">waived</td>', page, re.DOTALL)
    assert re.search(r'data-ticket="LATE-1".*?<td class="state">breached</td>', page, re.DOTALL)
    assert '<a href="/tickets/LATE-1">LATE-1</a>' in page
    assert 'data-next="NEW-1"' in page
    assert 'data-next="LATE-1"' not in page  # already breached: not next
    assert '<a href="/tickets/NEW-1">NEW-1</a>' in page
    stats = client.get(
        "agent", "/reports/breach-stats",
        params={"by": "tier", "since": (now - timedelta(days=7)).isoformat()},
    ).json()["rows"]  # fmt: skip
    premium = next(row for row in stats if row["key"] == "premium")
    assert (premium["breached"], premium["waived"], premium["met"]) == (1, 1, 1)
    assert chart_cell(page, "breaches-per-tier", "premium") == ["1", "1"]
    assert chart_cell(page, "breaches-per-tier", "basic") == ["0", "0"]
    assert chart_cell(page, "breach-rate-per-tier", "premium") == ["50%", "50%"]
    assert chart_cell(page, "breach-rate-per-tier", "basic") == ["-", "-"]  # no clock ended
    response = re.search(r'<tr data-tier="premium">.*?</tr>', page, re.DOTALL)
    assert response
    assert duration_text(premium["median_response_seconds"]) in response.group(0)
    assert duration_text(premium["p90_response_seconds"]) in response.group(0)
    for chart in ("breaches-per-tier", "breach-rate-per-tier"):
        assert f'role="img" aria-labelledby="{chart}-title {chart}-desc"' in page
        assert f'<title id="{chart}-title">' in page
    assert 'data-source="/ops/wall"' in page


def test_the_wall_fragment_follows_the_ledger_and_checks_its_tier(
    client: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/ops/wall: the counters as they are now (a new breach counted at the next refresh), the
    breach figures as drawn up to a minute ago, then drawn again; one tier's wall, a bad tier
    named; no session: 401 (the page signs in again)."""
    now = datetime.now(UTC)
    contract = current_contract(client.ledger, "Dynamo", "premium", "ops@dynamo.example")
    assert client.client.get("/ops/wall").status_code == 401
    sign_in(client, "agent")
    before = client.client.get("/ops/wall")
    assert before.status_code == 200
    assert counter(before.text, "breached") == 0
    assert "<html" not in before.text
    open_ticket(client, contract, "LATE-2", now - timedelta(days=3), 1)
    after = client.client.get("/ops/wall").text
    assert counter(after, "breached") == 1
    assert chart_cell(after, "breaches-per-tier", "premium") == ["0", "0"]  # as drawn before
    monkeypatch.setattr("ledger.web.wall.FIGURES_SECONDS", 0)
    drawn = client.client.get("/ops/wall").text
    assert chart_cell(drawn, "breaches-per-tier", "premium") == ["1", "1"]
    basic = client.client.get("/ops/wall", params={"tier": "basic"}).text
    assert counter(basic, "breached") == 0
    assert "<th scope='row'>premium</th>" not in basic
    page = client.client.get("/ops", params={"tier": "basic"}).text
    assert 'data-source="/ops/wall?tier=basic"' in page
    bad = client.client.get("/ops/wall", params={"tier": "gold"})
    assert bad.status_code == 400
    assert "not a tier" in bad.text
    sign_in(client, "finance")
    assert client.client.get("/ops/wall").status_code == 403


def test_the_finance_page_shows_revenue_points_per_month_and_statement_links(
    client: Api,
) -> None:
    """The month's revenue with totals per currency and its CSV equal to the API's; points
    bought and consumed now in the charts (expiring in their month, consumed in this one);
    each statement row links to the customer's statement of the same window."""
    now = datetime.now(UTC)
    month = now.strftime("%Y-%m")
    contract = current_contract(client.ledger, "Dynamo", "premium", "ops@dynamo.example")
    sign_in(client, "finance")
    before = client.client.get("/finance", params={"period": month}).text
    expires = now + timedelta(days=45)
    expiry_month = expires.strftime("%Y-%m")
    expiring_before = int(chart_cell(before, "points-expiring", expiry_month)[0])
    consumed_before = int(chart_cell(before, "points-per-month", month)[0])
    client.ledger.purchase_credits(
        contract, points=Decimal(40), price=Decimal("1234.50"), key="pkg-1", at=now,
        expires_at=expires,
    )  # fmt: skip
    bought = client.client.get("/finance", params={"period": month}).text
    assert int(chart_cell(bought, "points-expiring", expiry_month)[0]) == expiring_before + 40
    client.ledger.consume_credits(
        contract, points=Decimal(7), activity="support", key="use-1", at=now
    )
    page = client.client.get("/finance", params={"period": month})
    assert page.status_code == 200
    assert int(chart_cell(page.text, "points-per-month", month)[0]) == consumed_before + 7
    for chart in ("points-per-month", "points-expiring"):
        assert f'role="img" aria-labelledby="{chart}-title {chart}-desc"' in page.text
        assert "<caption>" in page.text
    revenue = client.get("finance", "/reports/revenue", params={"period": month}).json()
    totals = {t["currency"]: t for t in revenue["totals"]}
    row = re.search(rf'<tr data-contract="{contract}"><td>Dynamo.*?</tr>', page.text, re.DOTALL)
    assert row
    currency = next(r["currency"] for r in revenue["revenue"] if r["contract_id"] == str(contract))
    assert money(Decimal("1234.50"), currency) in row.group(0)  # packages billed
    total = re.search(
        rf'<tr class="totals" data-currency="{currency}">.*?</tr>', page.text, re.DOTALL
    )
    assert total
    assert money(Decimal(totals[currency]["packages_billed"]), currency) in total.group(0)
    assert f'href="/finance/revenue.csv?period={month}"' in page.text
    download = client.client.get("/finance/revenue.csv", params={"period": month})
    assert (
        download.headers["content-disposition"]
        == f'attachment; filename="revenue-period-{month}.csv"'
    )
    api_csv = client.get("finance", "/reports/revenue", params={"period": month, "format": "csv"})
    assert download.text == api_csv.text
    link = f'href="/finance/statements/{contract}?period={month}"'
    assert link in page.text
    statement = client.client.get(f"/finance/statements/{contract}", params={"period": month})
    assert statement.status_code == 200
    assert "Dynamo" in statement.text
    term = client.client.get("/finance", params={"term": "1"}).text
    assert f'href="/finance/statements/{contract}?term=1"' in term
    assert "Revenue, term 1" in term
    assert (
        client.client.get("/finance/revenue.csv", params={"period": "2025-13"}).status_code == 400
    )


def test_a_chart_escapes_its_text_and_keeps_its_figures_as_a_table() -> None:
    """Every text escaped; one rect per figure given; the table lists every figure; a series
    without a value per category is refused."""
    chart = str(
        bar_chart(
            "x", "<b>title</b>", "a & b", ["<one>", "two"],
            [Series("s1", [3, None]), Series("s2", [Decimal("1.5"), 12])], unit="%",
        )
    )  # fmt: skip
    assert "<b>" not in chart
    assert "&lt;b&gt;title&lt;/b&gt;" in chart
    assert "a &amp; b" in chart
    assert chart.count("<rect x=") == 3
    assert chart_cell(chart, "x", "&lt;one&gt;") == ["3%", "1.5%"]
    assert chart_cell(chart, "x", "two") == ["-", "12%"]
    assert 'viewBox="0 0 640 260"' in chart
    assert "width=" not in chart.split("<svg", 2)[1].split(">", 1)[0].replace("stroke-width", "")
    assert ">100%</text>" in str(bar_chart("r", "t", "d", ["a"], [Series("s", [100])], unit="%"))
    assert ">80</text>" in str(bar_chart("n", "t", "d", ["a"], [Series("s", [64])]))
    with pytest.raises(ValueError, match="one value per category"):
        bar_chart("y", "t", "d", ["a", "b"], [Series("s", [1])])
