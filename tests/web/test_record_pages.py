"""The pages of one ticket and of the contracts, in process, on SQLite: who opens them, what
they show (timeline, deadline explanation, history, credits; terms, lots, open tickets,
breach figures), search and paging, and every bad reference answered with a page saying so."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from ledger.web import records
from tests.scenario import BERLIN, build_world
from tests.web.test_pages import HOSTILE, client, current_contract, sign_in, world

if TYPE_CHECKING:
    from uuid import UUID

    import pytest

    from tests.web.conftest import Api

__all__ = ["client", "world"]  # the fixtures, shared with the other page tests
TICKET_ROLES = {"agent", "auditor", "admin"}


def ticket_with_a_story(api: Api) -> UUID:
    """A premium contract in force; ticket DOC-7 received three days ago, held and resumed,
    its severity changed, 2 points drawn for it; and an open ticket DOC-8 received now."""
    app = api.ledger
    contract = current_contract(app, "Docklands Freight", "premium", "ops@docklands.example")
    received = datetime.now(UTC) - timedelta(days=3)
    app.open_ticket(
        contract_id=contract, reporter="ops@docklands.example", severity=2, version="24.2.1",
        platform="linux", at=received, key="DOC-7",
    )  # fmt: skip
    app.hold_ticket("DOC-7", at=received + timedelta(minutes=30))
    app.resume_ticket("DOC-7", at=received + timedelta(hours=1))
    app.change_severity("DOC-7", severity=1, at=received + timedelta(hours=2))
    app.consume_credits(
        contract, points=Decimal(2), activity="analysis", key="doc-7-analysis",
        at=received + timedelta(hours=3), ticket="DOC-7",
    )  # fmt: skip
    app.open_ticket(
        contract_id=contract, reporter="ops@docklands.example", severity=3, version="24.2.1",
        platform="linux", at=datetime.now(UTC), key="DOC-8",
    )  # fmt: skip
    return contract


def texts(html: str, pattern: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", m).strip() for m in re.findall(pattern, html, re.DOTALL)]


def test_the_ticket_page_draws_the_clock_and_explains_it(client: Api) -> None:
    """The ticket's facts, its timeline (SVG with a text alternative listing every mark),
    the business windows counted, the history step by step and the credits drawn for it."""
    ticket_with_a_story(client)
    sign_in(client, "agent")
    answer = client.client.get("/tickets/DOC-7")
    assert answer.status_code == 200, answer.text
    html = answer.text
    assert "<h1>Ticket DOC-7</h1>" in html
    assert '<svg class="timeline"' in html
    assert 'role="img"' in html
    assert '<title id="timeline-title">Response clock of DOC-7</title>' in html
    marks = texts(html, r'<ol class="marks" id="timeline-marks">(.*?)</ol>')[0]
    for label in ("received", "put on hold", "resumed", "severity 2 → 1", "response due",
                  "now (no response yet)"):  # fmt: skip
        assert label in marks, label
    kinds = re.findall(r'<li data-kind="([a-z ]+)">', html)
    assert kinds[0] == "received"
    assert html.count('<g class="mark"') == len(kinds)
    assert html.count('class="hold"') == 1  # one hold, between two running stretches
    windows = re.findall(r"<tr(?: class=\"to-come\")?><td>", html.split('id="windows"')[1])
    assert windows  # the business stretches counted
    assert "Holidays skipped" in html or "No holiday fell" in html
    history = client.ledger.list_events(client.ledger.get_ticket("DOC-7").id)
    section = html.split('id="history"')[1].split("</section>")[0]
    assert section.count('<tr><td class="num">') == len(history)
    assert "SeverityChanged" in section
    drawn = html.split('id="credits"')[1].split("</section>")[0]
    assert "consum" in drawn
    assert '<td class="num">2' in drawn
    assert '<a href="/contracts/' in html  # the customer links to the contract


def test_the_ticket_page_by_id_and_the_roles_that_may_open_it(client: Api) -> None:
    """By id as by key; agent, auditor and admin; finance gets the 403 page; a ticket
    without credits says so."""
    ticket_with_a_story(client)
    ticket_id = client.ledger.get_ticket("DOC-8").id
    for role in ("agent", "auditor", "admin", "finance"):
        client.client.cookies.clear()
        sign_in(client, role)
        answer = client.client.get(f"/tickets/{ticket_id}")
        if role in TICKET_ROLES:
            assert answer.status_code == 200, (role, answer.text)
            assert "<h1>Ticket DOC-8</h1>" in answer.text
            assert "No credits were drawn for this ticket." in answer.text
        else:
            assert answer.status_code == 403
            assert "may not open Ticket" in answer.text


def test_a_ticket_page_for_an_unknown_or_malformed_key_says_so(client: Api) -> None:
    """An unknown key: 404 naming it; a key of control characters: 400; nothing else shown."""
    sign_in(client, "agent")
    unknown = client.client.get("/tickets/NOPE-1")
    assert unknown.status_code == 404
    assert "unknown_ticket" in unknown.text
    assert "NOPE-1" in unknown.text
    for bad in ("A%07B", "K" * 201):
        refused = client.client.get(f"/tickets/{bad}")
        assert refused.status_code == 400, bad
        assert "invalid_input" in refused.text
        assert "ticket: one line of at most 200 characters" in refused.text


def test_a_key_like_markup_is_escaped_on_the_ticket_page(client: Api) -> None:
    contract = current_contract(client.ledger, HOSTILE, "premium", "x@hostile.example")
    client.ledger.open_ticket(
        contract_id=contract, reporter="x@hostile.example", severity=1, version="24.2.1",
        platform="linux", at=datetime.now(UTC), key="<b>KEY</b>",
    )  # fmt: skip
    sign_in(client, "admin")
    answer = client.client.get("/tickets/%3Cb%3EKEY%3C%2Fb%3E")
    assert answer.status_code == 200
    assert "&lt;b&gt;KEY&lt;/b&gt;" in answer.text
    assert "<b>KEY</b>" not in answer.text
    assert HOSTILE not in answer.text


def test_contracts_are_searched_by_any_part_of_the_name_in_any_case(client: Api) -> None:
    """Every role opens /contracts; `customer` keeps the contracts whose name contains it."""
    ticket_with_a_story(client)
    for role in ("agent", "finance", "auditor", "admin"):
        client.client.cookies.clear()
        sign_in(client, role)
        every = client.client.get("/contracts")
        assert every.status_code == 200, role
        assert '<a href="/contracts" aria-current="page">Contracts</a>' in every.text
        names = texts(every.text, r'<tr data-contract="[^"]+">\s*<td>(.*?)</td>')
        assert sorted(names) == sorted(["Premium Customer", "Advanced Customer",
                                        "Basic Customer", "Docklands Freight"])  # fmt: skip
    found = client.client.get("/contracts", params={"customer": "LANDS fr"})
    assert texts(found.text, r'<tr data-contract="[^"]+">\s*<td>(.*?)</td>') == [
        "Docklands Freight"
    ]
    none = client.client.get("/contracts", params={"customer": "zzz"})
    assert "No contract of a customer named like" in none.text


def test_contracts_come_a_page_at_a_time(client: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The next page follows the last of the one before; the last page has no next link."""
    monkeypatch.setattr(records, "PAGE_SIZE", 2)
    sign_in(client, "finance")
    seen: list[str] = []
    url: str | None = "/contracts?customer=customer"
    while url is not None:
        answer = client.client.get(url)
        assert answer.status_code == 200
        rows = texts(answer.text, r'<tr data-contract="[^"]+">\s*<td>(.*?)</td>')
        assert 0 < len(rows) <= 2
        seen += rows
        following = re.search(r'<a href="([^"]+)" id="next-page"', answer.text)
        url = following.group(1).replace("&amp;", "&") if following else None
    assert sorted(seen) == ["Advanced Customer", "Basic Customer", "Premium Customer"]


def test_a_bad_page_cursor_or_search_is_refused(client: Api) -> None:
    sign_in(client, "finance")
    cursor = client.client.get("/contracts", params={"after": "not-a-cursor"})
    assert cursor.status_code == 400
    assert "after: &#39;not-a-cursor&#39; is not a page cursor" in cursor.text
    long = client.client.get("/contracts", params={"customer": "x" * 201})
    assert long.status_code == 400
    assert "customer: one line of at most 200 characters" in long.text


def test_the_contract_page_shows_terms_lots_open_tickets_and_breaches(client: Api) -> None:
    """By customer's name (any case): tier, terms and fees, contacts, lots with expiry, its
    open tickets linking to their pages, its breach figures (its own tickets only)."""
    contract = ticket_with_a_story(client)
    sign_in(client, "agent")
    answer = client.client.get("/contracts/docklands freight")
    assert answer.status_code == 200, answer.text
    html = answer.text
    assert "<h1>Docklands Freight</h1>" in html
    assert '<dd id="contract-tier">premium' in html
    assert "ops@docklands.example" in html
    terms = html.split('id="terms"')[1].split("</section>")[0]
    assert '<td class="num">1</td><td>signed</td>' in terms or '<td class="num">1</td>' in terms
    account = client.ledger.get_account(contract)
    lots = html.split('id="lots"')[1].split("</table>")[0]
    assert lots.count("<tr><td>") == len(account.lots)
    open_tickets = html.split('id="open-tickets"')[1].split("</section>")[0]
    assert '<a href="/tickets/DOC-7">DOC-7</a>' in open_tickets
    assert '<a href="/tickets/DOC-8">DOC-8</a>' in open_tickets
    stats = html.split('id="breach-stats"')[1].split("</section>")[0]
    row = texts(stats, r"<tbody>\s*<tr>(.*?)</tr>")[0]
    assert row.startswith("premium")
    assert re.search(r"premium\s*2", row)  # two tickets, both this contract's
    by_id = client.client.get(f"/contracts/{contract}")
    assert "<h1>Docklands Freight</h1>" in by_id.text


def test_finance_sees_the_open_tickets_without_links(client: Api) -> None:
    """Finance may open the contract but not ticket pages: the keys are shown, not linked."""
    ticket_with_a_story(client)
    sign_in(client, "finance")
    html = client.client.get("/contracts/Docklands Freight").text
    assert "<td>DOC-7</td>" in html
    assert 'href="/tickets/' not in html


def test_an_unknown_or_ambiguous_contract_is_answered_with_a_page(client: Api) -> None:
    sign_in(client, "auditor")
    unknown = client.client.get("/contracts/Nobody Ltd")
    assert unknown.status_code == 404
    assert "unknown_contract" in unknown.text
    for bad in ("A%07B", "x" * 201):
        refused = client.client.get(f"/contracts/{bad}")
        assert refused.status_code == 400, bad
        assert "contract: one line of at most 200 characters" in refused.text
    ambiguous = client.client.get("/contracts/b")  # Basic... only: a unique prefix
    assert ambiguous.status_code == 200
    current_contract(client.ledger, "Basalt Works", "basic", "it@basalt.example")
    ambiguous = client.client.get("/contracts/ba")
    assert ambiguous.status_code == 400
    assert "ambiguous_contract" in ambiguous.text
    assert "Basic Customer" in ambiguous.text
    assert "Basalt Works" in ambiguous.text


def test_signing_in_returns_to_the_ticket_page_asked_for(client: Api) -> None:
    """A link to a ticket opened without a session comes back to it after signing in."""
    ticket_with_a_story(client)
    first = client.client.get("/tickets/DOC-7", follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == "/signin?next=%2Ftickets%2FDOC-7"
    answer = sign_in(client, "agent", "/tickets/DOC-7")
    assert answer.headers["location"] == "/tickets/DOC-7"
    client.client.cookies.clear()
    finance = sign_in(client, "finance", "/tickets/DOC-7")  # not finance's: its first page
    assert finance.headers["location"] == "/finance"
    client.client.cookies.clear()
    elsewhere = sign_in(client, "agent", "/tickets/a/../../evil")
    assert elsewhere.headers["location"] == "/ops"


def test_both_pages_read_the_same_from_either_store(api: Api) -> None:
    """On SQLite and PostgreSQL: the contract's breach figures count its own tickets only,
    its open tickets are listed, and the ticket's credits come from the credit view."""
    build_world(api.ledger)
    other = current_contract(api.ledger, "Other Freight", "premium", "ops@other.example")
    api.ledger.open_ticket(
        contract_id=other, reporter="ops@other.example", severity=1, version="24.2.1",
        platform="linux", at=datetime.now(UTC) - timedelta(days=5), key="OTH-1",
    )  # fmt: skip
    ticket_with_a_story(api)
    sign_in(api, "admin")
    html = api.client.get("/contracts/Docklands Freight").text
    stats = html.split('id="breach-stats"')[1].split("</section>")[0]
    assert re.search(r"premium\s*2", texts(stats, r"<tbody>\s*<tr>(.*?)</tr>")[0])
    assert "OTH-1" not in html
    assert 'href="/tickets/DOC-8"' in html
    drawn = api.client.get("/tickets/DOC-7").text.split('id="credits"')[1]
    assert '<td class="num">2' in drawn.split("</section>")[0]
    api.client.cookies.clear()


def test_an_appointment_counts_on_the_ticket_page(client: Api) -> None:
    """A ticket received during an appointment booked for last Sunday: the deadline
    explanation lists the appointment's time as counted."""
    app = client.ledger
    contract = current_contract(app, "Sunday Works", "premium", "ops@sunday.example")
    today = datetime.now(BERLIN).date()
    sunday = today - timedelta(days=(today.weekday() + 1) % 7 or 7)
    starts = datetime(sunday.year, sunday.month, sunday.day, 10, tzinfo=BERLIN)
    app.book_appointment(
        contract, starts_at=starts, ends_at=starts + timedelta(hours=2),
        at=starts - timedelta(days=1),
    )  # fmt: skip
    app.open_ticket(
        contract_id=contract, reporter="ops@sunday.example", severity=1, version="24.2.1",
        platform="linux", at=starts + timedelta(minutes=30), key="SUN-1",
    )  # fmt: skip
    sign_in(client, "agent")
    html = client.client.get("/tickets/SUN-1").text
    windows = html.split('id="windows"')[1].split("</table>")[0]
    rows = texts(windows, r"<tbody>(.*?)</tbody>")[0]
    assert "appointment" in rows
    assert "1h 30m" in rows  # 10:30 to 12:00 of the appointment
    assert "appointment(s) add business time" in html


def test_a_declined_request_has_a_page_without_a_clock(client: Api) -> None:
    """A request from someone not named on the contract is declined: its page says why and
    draws no clock."""
    contract = current_contract(client.ledger, "Strict Ltd", "premium", "ops@strict.example")
    opened = client.ledger.open_ticket(
        contract_id=contract, reporter="stranger@else.example", severity=1, version="24.2.1",
        platform="linux", at=datetime.now(UTC), key="STR-1",
    )  # fmt: skip
    assert opened.status == "declined"
    sign_in(client, "auditor")
    answer = client.client.get("/tickets/STR-1")
    assert answer.status_code == 200
    assert '<dd id="ticket-status">declined</dd>' in answer.text
    assert opened.reason is not None
    assert opened.reason in answer.text
    assert 'id="deadline"' not in answer.text
    assert "now (no response yet)" not in answer.text
