"""The pages in process: signing in and out, who opens what, escaping, CSV, audit, headers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from ledger.audit.chain import digest
from ledger.projections.db import ViewDatabase
from ledger.settings import Settings
from ledger.web.app import create_app
from ledger.web.sessions import COOKIE
from ledger.web.tokens import ROLES, revoke_token
from tests.scenario import at, build_world
from tests.web.conftest import TestClient, issue_tokens

if TYPE_CHECKING:
    from collections.abc import Iterator
    from uuid import UUID

    import httpx

    from ledger.application import SupportLedger
    from ledger.settings import DatabaseSettings
    from tests.scenario import World
    from tests.web.conftest import Api

ORIGIN = "http://testserver"
PAGES = {"/ops": {"agent", "auditor", "admin"}, "/finance": {"finance", "auditor", "admin"},
         "/audit": {"auditor", "admin"}}  # fmt: skip
HOSTILE = '<script>alert("x")</script>&'


def current_contract(app: SupportLedger, customer: str, tier: str, contact: str) -> UUID:
    """A contract in force now (signed ten days ago) naming `contact`."""
    signed = datetime.now(UTC) - timedelta(days=10)
    contract = app.sign_contract(
        customer=customer, tier=tier, licenses=1, license_kind="commercial",
        list_price=Decimal(1000), start=signed.date(), at=signed,
    )  # fmt: skip
    app.add_contact(contract, email=contact, at=signed)
    return contract


def sign_in(api: Api, role: str, next_page: str = "") -> httpx.Response:
    """Post the sign-in form from the ledger's own page with the token of `role`."""
    return api.client.post(
        "/signin",
        data={"token": api.tokens[role], "next": next_page},
        headers={"Origin": ORIGIN},
        follow_redirects=False,
    )


def sign_out(api: Api) -> httpx.Response:
    return api.client.post("/signout", headers={"Origin": ORIGIN}, follow_redirects=False)


@pytest.fixture
def world(sqlite_api: Api) -> World:
    """The standard world on the API's SQLite store."""
    return build_world(sqlite_api.ledger)


@pytest.fixture
def client(sqlite_api: Api, world: World) -> Iterator[Api]:
    """The API on SQLite with the standard world; cookies cleared after the test."""
    yield sqlite_api
    sqlite_api.client.cookies.clear()


def test_a_page_without_a_session_sends_the_browser_to_sign_in(client: Api) -> None:
    """No cookie: 303 to the sign-in page remembering the page; the board's fragment is 401."""
    answer = client.client.get("/ops", follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/signin?next=%2Fops")
    assert client.client.get("/ops/board").status_code == 401
    form = client.client.get("/signin?next=/ops")
    assert form.status_code == 200
    assert 'name="token" type="password"' in form.text
    assert 'name="next" value="/ops"' in form.text


def test_signing_in_sets_a_strict_http_only_cookie_and_goes_to_the_page(client: Api) -> None:
    """A valid token: 303 to the page asked for, with the cookie HttpOnly and SameSite=Strict."""
    answer = sign_in(client, "agent", "/ops")
    assert (answer.status_code, answer.headers["location"]) == (303, "/ops")
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}={client.tokens['agent']};")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Max-Age=28800" in cookie
    assert "Secure" not in cookie  # plain http
    board = client.client.get("/ops")
    assert board.status_code == 200
    assert "Breach board" in board.text


def test_over_https_the_cookie_is_secure(sqlite_settings: DatabaseSettings) -> None:
    """Served over https, the session cookie is only ever sent back over https."""
    with TestClient(
        create_app(Settings(database=sqlite_settings)), base_url="https://ledger.example"
    ) as client:
        token = issue_tokens(sqlite_settings)["agent"]
        answer = client.post("/signin", data={"token": token},
                             headers={"Origin": "https://ledger.example"},
                             follow_redirects=False)  # fmt: skip
        assert answer.status_code == 303
        assert "Secure" in answer.headers["set-cookie"]


def test_a_bad_token_is_refused_without_being_shown_back(client: Api) -> None:
    """An unknown or malformed token: 401, the form again with why, no cookie, no echo."""
    wrong = "ldg_0123456789abcdef_" + "A" * 43
    for token, message in ((wrong, "not known"), ("hunter2", "not a ledger token")):
        answer = client.client.post("/signin", data={"token": token},
                                    headers={"Origin": ORIGIN})  # fmt: skip
        assert answer.status_code == 401
        assert message in answer.text
        assert token not in answer.text
        assert "set-cookie" not in answer.headers


def test_a_sign_in_from_another_site_or_from_nowhere_is_refused(client: Api) -> None:
    """CSRF: a POST whose Origin (or, without one, Referer) is not the ledger's is 403."""
    token = client.tokens["admin"]
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"}, {},
                    {"Referer": "https://evil.example/form"}):  # fmt: skip
        answer = client.client.post("/signin", data={"token": token}, headers=headers,
                                    follow_redirects=False)  # fmt: skip
        assert answer.status_code == 403, headers
        assert "set-cookie" not in answer.headers
    by_referer = client.client.post("/signin", data={"token": token},
                                    headers={"Referer": f"{ORIGIN}/signin"},
                                    follow_redirects=False)  # fmt: skip
    assert by_referer.status_code == 303


def test_after_sign_in_the_browser_goes_only_to_a_page_of_the_ledger(client: Api) -> None:
    """`next` names one of the pages, or is ignored (no open redirect); a page the role may
    not open is replaced by its first page."""
    for wanted, landed in (("https://evil.example/", "/ops"), ("//evil.example", "/ops"),
                           ("/finance", "/ops"), ("/ops", "/ops")):  # fmt: skip
        assert sign_in(client, "agent", wanted).headers["location"] == landed
    assert sign_in(client, "finance", "").headers["location"] == "/finance"
    assert sign_in(client, "auditor", "/audit").headers["location"] == "/audit"


@pytest.mark.parametrize("role", ROLES)
def test_each_role_opens_its_pages_and_gets_403_for_the_others(client: Api, role: str) -> None:
    """ops: agent, auditor, admin; finance: finance, auditor, admin; audit: auditor, admin."""
    sign_in(client, role)
    for path, roles in PAGES.items():
        answer = client.client.get(path, follow_redirects=False)
        expected = 200 if role in roles else 403
        assert answer.status_code == expected, (role, path, answer.text[:300])
        if expected == 403:
            assert f"Your role ({role}) may not open" in answer.text
    navigation = client.client.get("/", follow_redirects=False)
    first = next(path for path, roles in PAGES.items() if role in roles)
    assert navigation.headers["location"] == first


def test_signing_out_forgets_the_cookie(client: Api) -> None:
    """Sign-out clears the cookie; the next page request goes to sign-in again."""
    sign_in(client, "agent")
    assert client.client.get("/ops").status_code == 200
    cross = client.client.post("/signout", headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403
    assert client.client.get("/ops").status_code == 200
    out = sign_out(client)
    assert (out.status_code, out.headers["location"]) == (303, "/signin?reason=signed_out")
    assert f'{COOKIE}=""' in out.headers["set-cookie"]
    assert "Max-Age=0" in out.headers["set-cookie"]
    again = client.client.get("/ops", follow_redirects=False)
    assert again.headers["location"] == "/signin?next=%2Fops"


def test_a_revoked_token_ends_the_session_at_the_next_request(client: Api) -> None:
    """Revoking the token signs its browser out: sign-in page saying why, cookie cleared."""
    sign_in(client, "agent")
    db = ViewDatabase(client.settings)
    try:
        token_id = client.tokens["agent"].split("_")[1]
        revoke_token(db, token_id, at=datetime.now(UTC))
    finally:
        db.close()
    answer = client.client.get("/ops", follow_redirects=False)
    assert answer.headers["location"] == "/signin?next=%2Fops&reason=revoked_token"
    assert "Max-Age=0" in answer.headers["set-cookie"]
    form = client.client.get(answer.headers["location"])
    assert "Your token was revoked" in form.text


def test_pages_take_the_cookie_only_and_the_api_the_header_only(client: Api) -> None:
    """A bearer header does not open a page; a session cookie does not authorize the API."""
    header = {"Authorization": f"Bearer {client.tokens['admin']}"}
    assert client.client.get("/ops", headers=header, follow_redirects=False).status_code == 303
    sign_in(client, "admin")
    assert client.client.get("/api/v1/whoami").status_code == 401


def test_every_value_is_escaped(client: Api) -> None:
    """A customer named like markup is shown as text on the board and the statements."""
    contract = current_contract(client.ledger, HOSTILE, "premium", "x@hostile.example")
    client.ledger.open_ticket(
        contract_id=contract, reporter="x@hostile.example", severity=1, version="24.2.1",
        platform="linux", at=datetime.now(UTC), key="<b>KEY</b>",
    )  # fmt: skip
    sign_in(client, "admin")
    escaped = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;"
    board = client.client.get("/ops")
    assert escaped in board.text
    assert "&lt;b&gt;KEY&lt;/b&gt;" in board.text
    assert HOSTILE not in board.text
    fragment = client.client.get("/ops/board")
    assert escaped in fragment.text
    assert HOSTILE not in fragment.text
    month = datetime.now(UTC).strftime("%Y-%m")
    statements = client.client.get(f"/finance?period={month}")
    assert escaped in statements.text
    assert HOSTILE not in statements.text
    customer = client.client.get("/ops", params={"customer": HOSTILE})
    assert 'value="&lt;script&gt;' in customer.text


def test_pages_forbid_framing_and_foreign_scripts(client: Api) -> None:
    """Every page: a CSP allowing only the ledger's own files, no framing, no caching."""
    sign_in(client, "admin")
    for path in ("/signin", "/ops", "/finance", "/audit", "/ops/board"):
        answer = client.client.get(path)
        csp = answer.headers["content-security-policy"]
        assert "default-src 'none'" in csp
        assert "script-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert answer.headers["cache-control"] == "no-store"
        assert "http://" not in answer.text
        assert "https://" not in answer.text
    script = client.client.get("/static/ledger.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert client.client.get("/static/nope.js").status_code == 404


def test_the_board_lists_open_clocks_breached_first_and_filters(client: Api, world: World) -> None:
    """Breached before on track; the filters by tier and state."""
    sign_in(client, "agent")
    client.ledger.open_ticket(
        contract_id=world.premium, reporter="ops@acme.example", severity=1,
        version="24.2.1", platform="linux", at=at(3, 3, 9), key="OLD-1",
    )  # fmt: skip
    basic = current_contract(client.ledger, "Cobalt", "basic", "it@cobalt.example")
    client.ledger.open_ticket(
        contract_id=basic, reporter="it@cobalt.example", severity=3,
        version="24.2.1", platform="linux", at=datetime.now(UTC), key="NEW-1",
    )  # fmt: skip
    page = client.client.get("/ops").text
    assert page.index('data-ticket="OLD-1"') < page.index('data-ticket="NEW-1"')
    assert 'data-ticket="OLD-1" data-state="breached"' in page
    assert "not recorded yet" in page
    only_basic = client.client.get("/ops", params={"tier": "basic"}).text
    assert "NEW-1" in only_basic
    assert "OLD-1" not in only_basic
    breached = client.client.get("/ops/board", params=[("state", "breached")]).text
    assert "OLD-1" in breached
    assert "NEW-1" not in breached
    bad = client.client.get("/ops", params={"tier": "gold"})
    assert bad.status_code == 400
    assert "not a tier" in bad.text


def test_the_board_flags_priority_troubleshooting_and_filters_by_part_of_a_name(
    client: Api, world: World
) -> None:
    """A ticket with priority troubleshooting carries the flag; `customer` matches any part."""
    sign_in(client, "agent")
    for key in ("PRI-1", "PRI-2"):
        client.ledger.open_ticket(
            contract_id=world.premium, reporter="ops@acme.example", severity=2,
            version="24.2.1", platform="linux", at=at(3, 3, 9), key=key,
        )  # fmt: skip
    client.ledger.request_priority_troubleshooting("PRI-1", at=at(3, 3, 10))
    page = client.client.get("/ops", params={"customer": "EMIUM cust"}).text
    assert 'data-ticket="PRI-1"' in page
    assert 'data-priority="yes"' in page
    assert page.count('data-priority="no"') == 1
    assert "priority troubleshooting" in page
    none = client.client.get("/ops", params={"customer": "cobalt"}).text
    assert "PRI-1" not in none


def test_the_board_page_shows_a_page_the_counts_and_a_pager(
    client: Api, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages of two rows: `more` leads to the next page, `first page` back; the counts of every
    state are those of the whole board; the refresh fetches only the page shown."""
    monkeypatch.setattr("ledger.web.pages.BOARD_PAGE", 2)
    sign_in(client, "agent")
    for n, hour in enumerate((9, 10, 11)):
        client.ledger.open_ticket(
            contract_id=world.premium, reporter="ops@acme.example", severity=1,
            version="24.2.1", platform="linux", at=at(3, 3, hour), key=f"K-{n}",
        )  # fmt: skip
    client.ledger.record_first_response("K-0", at=at(3, 3, 12))
    page = client.client.get("/ops").text
    assert ('data-ticket="K-1"' in page, 'data-ticket="K-2"' in page) == (True, True)
    assert 'data-ticket="K-0"' not in page  # answered: not on the live board
    assert 'data-state="met">met <b>1</b>' in page
    assert 'data-state="breached">breached <b>2</b>' in page
    assert 'class="more"' not in page
    two = client.client.get("/ops", params=[("state", "breached")])
    assert two.status_code == 200
    monkeypatch.setattr("ledger.web.pages.BOARD_PAGE", 1)
    first = client.client.get("/ops").text
    assert 'data-ticket="K-1"' in first
    assert 'data-ticket="K-2"' not in first
    more = first.split('class="more" rel="next" href="', 1)[1].split('"', 1)[0]
    assert more.startswith("/ops?after=")
    second = client.client.get(more.replace("&amp;", "&")).text
    assert 'data-ticket="K-2"' in second
    assert 'data-ticket="K-1"' not in second
    assert 'class="first" href="/ops"' in second
    assert f'data-source="/ops/board?{more[5:]}"' in second  # the refresh asks for this page
    fragment = client.client.get("/ops/board" + more[4:].replace("&amp;", "&")).text
    assert 'data-ticket="K-2"' in fragment
    assert 'data-ticket="K-1"' not in fragment


def test_the_board_page_for_an_instant_and_a_bad_cursor(client: Api, world: World) -> None:
    """?at=: tickets received by then as they stood, not refreshed; a bad cursor is named."""
    sign_in(client, "agent")
    client.ledger.open_ticket(
        contract_id=world.premium, reporter="ops@acme.example", severity=1,
        version="24.2.1", platform="linux", at=at(3, 3, 9), key="EARLY-1",
    )  # fmt: skip
    client.ledger.open_ticket(
        contract_id=world.premium, reporter="ops@acme.example", severity=1,
        version="24.2.1", platform="linux", at=at(3, 3, 11), key="LATE-1",
    )  # fmt: skip
    client.ledger.record_first_response("EARLY-1", at=at(3, 3, 10, 30))
    then = client.client.get("/ops", params={"at": "2025-03-03T10:00:00+01:00"}).text
    assert 'data-ticket="EARLY-1" data-state="on_track"' in then
    assert "LATE-1" not in then
    assert 'data-refresh="0"' in then
    assert "as it stood at" in then
    bad = client.client.get("/ops", params={"after": "bm90LWEtY3Vyc29y"})
    assert bad.status_code == 400
    assert "is not a cursor of the board" in bad.text
    assert client.client.get("/ops/board", params={"at": "noon"}).status_code == 400


def test_the_statement_page_and_its_csv_match_the_api(client: Api) -> None:
    """The month's statements as a table and a CSV download equal to the API's CSV."""
    sign_in(client, "finance")
    page = client.client.get("/finance", params={"period": "2025-01"})
    assert page.status_code == 200
    for customer in ("Premium Customer", "Advanced Customer", "Basic Customer"):
        assert customer in page.text
    assert 'href="/finance/statements.csv?period=2025-01"' in page.text
    download = client.client.get("/finance/statements.csv", params={"period": "2025-01"})
    assert download.status_code == 200
    assert download.headers["content-disposition"] == (
        'attachment; filename="credit-statements-period-2025-01.csv"'
    )
    api_csv = client.get("finance", "/reports/credits", params={"period": "2025-01",
                                                                 "format": "csv"})  # fmt: skip
    assert download.text == api_csv.text
    checked = client.client.get("/finance", params={"term": "1", "check": "1"})
    assert "Every figure agrees with the events." in checked.text
    bad = client.client.get("/finance", params={"period": "2025-13"})
    assert bad.status_code == 400
    assert "is not a month" in bad.text


def test_the_audit_page_verifies_the_chain_and_shows_a_report_as_recorded(client: Api) -> None:
    """The chain verified with its digest; a wrong digest named; the board as of an instant
    holds what was recorded by then and nothing later."""
    premium = current_contract(client.ledger, "Early", "premium", "ops@acme.example")
    advanced = current_contract(client.ledger, "Late", "advanced", "support@borealis.example")
    client.ledger.open_ticket(
        contract_id=premium, reporter="ops@acme.example", severity=1,
        version="24.2.1", platform="linux", at=datetime.now(UTC), key="EARLY-1",
    )  # fmt: skip
    between = datetime.now(UTC)
    client.ledger.open_ticket(
        contract_id=advanced, reporter="support@borealis.example",
        severity=1, version="24.2.1", platform="linux", at=datetime.now(UTC), key="LATE-1",
    )  # fmt: skip
    sign_in(client, "auditor")
    page = client.client.get("/audit")
    assert page.status_code == 200
    assert 'data-ok="true"' in page.text
    head = digest(client.settings)  # every event linked as it was recorded
    assert f"{head.position}:{head.hash}" in page.text
    wrong = f"{head.position}:{'0' * 64}"
    mismatch = client.client.get("/audit", params={"digest": wrong})
    assert 'data-ok="false"' in mismatch.text
    assert "digest_mismatch" in mismatch.text
    as_of = between.isoformat()
    replay = client.client.get("/audit", params={"as_of": as_of, "report": "breaches"})
    assert replay.status_code == 200
    assert 'data-ticket="EARLY-1"' in replay.text
    assert 'data-ticket="LATE-1"' not in replay.text
    statement = client.client.get(
        "/audit", params={"as_of": as_of, "report": "credits", "period": "2025-01"}
    )
    assert "Premium Customer" in statement.text
    bad = client.client.get("/audit", params={"as_of": "yesterday"})
    assert bad.status_code == 400
    assert "is not an ISO 8601 instant" in bad.text


def test_the_board_shows_times_in_the_display_zone_to_the_minute(
    client: Api, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LEDGER_DISPLAY_TZ sets the zone of the board's times; never seconds for a deadline
    hours away, never microseconds; the time left as a duration."""
    client.ledger.open_ticket(
        contract_id=world.premium, reporter="ops@acme.example", severity=1,
        version="24.2.1", platform="linux", at=at(3, 3, 9, 15), key="TZ-1",
    )  # fmt: skip
    assert sign_in(client, "agent", "/ops").status_code == 303
    monkeypatch.setenv("LEDGER_DISPLAY_TZ", "Asia/Tokyo")
    tokyo = client.client.get("/ops").text
    monkeypatch.setenv("LEDGER_DISPLAY_TZ", "Europe/Berlin")
    berlin = client.client.get("/ops").text
    assert "2025-03-03 17:15 JST" in tokyo  # received 09:15 CET
    assert "2025-03-04 01:15 JST" in tokyo  # due 17:15 CET
    assert "2025-03-03 09:15 CET" in berlin
    assert "2025-03-03 17:15 CET" in berlin
    assert ":00.0" not in berlin + tokyo
    assert "UTC" not in berlin
