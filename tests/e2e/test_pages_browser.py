"""The pages in a real browser: headless Chromium against a real `ledger serve` process.

Tokens come from `ledger tokens create`, data from the HTTP API, breaches from `ledger
scheduler tick`; the browser signs in through the form. Skipped, with the reason, when
Chromium (or Playwright) is missing, unless `LEDGER_REQUIRE_BROWSER=1` (CI) makes that a
failure.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from ledger.figures import STATEMENT_COLUMNS
from tests.e2e.cli import LEDGER, free_port, run, wait_until_serving

if TYPE_CHECKING:
    from collections.abc import Iterator

    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("LEDGER_TEST_CHROMIUM", "/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("LEDGER_REQUIRE_BROWSER", "") not in {"", "0", "no", "false"}
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
REFRESHED = 30_000  # ms to wait for the board's own refresh (every 5 s) to show a change


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Ledger:
    """A `ledger serve` process on a SQLite file, its tokens, and contracts in force now."""

    base: str
    env: dict[str, str]
    tokens: dict[str, str]
    contracts: dict[str, str]

    def api(self, role: str, method: str, path: str, body: Any = None) -> httpx.Response:
        return httpx.request(
            method, f"{self.base}/api/v1{path}", json=body, timeout=30,
            headers={"Authorization": f"Bearer {self.tokens[role]}"},
        )  # fmt: skip

    def open_ticket(self, contract: str, key: str, at: datetime) -> None:
        answer = self.api("agent", "POST", "/tickets", {
            "contract_id": self.contracts[contract], "reporter": f"ops@{contract}.example",
            "severity": 1, "version": "24.2.1", "platform": "linux", "key": key, "at": iso(at),
        })  # fmt: skip
        assert answer.status_code == 201, answer.text
        assert answer.json()["status"] == "open", answer.text


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    """`ledger serve` on a fresh SQLite file, a token per role, four contracts in force."""
    folder = tmp_path_factory.mktemp("browser")
    env = {"LEDGER_DATABASE_URL": f"sqlite:///{folder / 'ledger.db'}", "LEDGER_LOG_FORMAT": "json"}
    tokens = {}
    for role in ("agent", "finance", "auditor", "admin"):
        made = run("tokens", "create", "--role", role, "--name", f"browser {role}", env=env)
        assert made.code == 0, made.err
        tokens[role] = made.out.strip()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (folder / "server.log").open("wb") as log:
        server = subprocess.Popen(
            [LEDGER, "serve", "--port", str(port)], env={**os.environ, **env}, stdout=log,
            stderr=log,
        )  # fmt: skip
    try:
        wait_until_serving(base, server)
        world = Ledger(base, env, tokens, {})
        signed = datetime.now(UTC) - timedelta(days=30)
        published = world.api(
            "admin",
            "POST",
            "/releases",
            {"version": "24.2.1", "at": iso(signed - timedelta(days=30))},
        )
        assert published.status_code == 201, published.text
        for name in ("acme", "borealis", "cobalt", "delta"):
            answer = world.api("admin", "POST", "/contracts", {
                "customer": name.title(), "tier": "premium", "licenses": 2,
                "list_price": "40000", "start": signed.date().isoformat(), "at": iso(signed),
            })  # fmt: skip
            assert answer.status_code == 201, answer.text
            world.contracts[name] = answer.json()["contract_id"]
            named = world.api("admin", "POST", f"/contracts/{world.contracts[name]}/contacts",
                              {"email": f"ops@{name}.example", "at": iso(signed)})  # fmt: skip
            assert named.status_code == 200, named.text
        yield world
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium (Debian's), driven by Playwright."""
    problem = None
    if not Path(CHROMIUM).exists():
        problem = f"no Chromium at {CHROMIUM} (set LEDGER_TEST_CHROMIUM)"
    try:
        from playwright.sync_api import sync_playwright  # noqa: PLC0415 - only here
    except ImportError as exc:
        problem = f"Playwright is not installed: {exc}"
    if problem is not None:
        if REQUIRE_BROWSER:
            pytest.fail(f"LEDGER_REQUIRE_BROWSER=1 but {problem}")
        pytest.skip(problem)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a browser context of its own (no cookies from other tests)."""
    context = browser.new_context(accept_downloads=True)
    context.set_default_timeout(REFRESHED)
    try:
        yield context.new_page()
    finally:
        context.close()


def sign_in(page: Page, ledger: Ledger, role: str, path: str) -> None:
    """Open `path`, be sent to the sign-in form, sign in with the token of `role`."""
    page.goto(f"{ledger.base}{path}")
    assert page.url.startswith(f"{ledger.base}/signin?next=")
    page.fill("#token", ledger.tokens[role])
    page.click("form.signin button[type=submit]")
    page.wait_for_url(f"{ledger.base}{path}")
    assert ledger.tokens[role] not in page.url


def test_without_a_session_a_page_shows_the_sign_in_form(page: Page, ledger: Ledger) -> None:
    """No token: the sign-in page; a wrong token: the form again, saying why."""
    for path in ("/ops", "/finance", "/audit", "/"):
        page.goto(f"{ledger.base}{path}")
        assert "/signin" in page.url
        assert page.is_visible("#token")
    page.fill("#token", "ldg_0123456789abcdef_" + "A" * 43)
    page.click("form.signin button[type=submit]")
    assert page.inner_text("p.error") == "That token is not known."
    assert page.context.cookies() == []


def test_the_board_shows_a_new_ticket_and_its_breach_without_being_reloaded(
    page: Page, ledger: Ledger
) -> None:
    """An agent's board takes in a ticket opened over the API, then a breach recorded by the
    scheduler, by refreshing itself; breached tickets come first."""
    sign_in(page, ledger, "agent", "/ops")
    cookie = page.context.cookies()[0]
    assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"]) == (
        "ledger_token", True, "Strict",
    )  # fmt: skip
    page.evaluate("window.notReloaded = true")
    assert page.is_visible("text=No open tickets here.")

    ledger.open_ticket("acme", "ACME-1", datetime.now(UTC))
    page.wait_for_selector('tr[data-ticket="ACME-1"]')
    # received two weeks ago: its 8 business hours are long gone, the breach not recorded yet
    ledger.open_ticket("borealis", "BOR-1", datetime.now(UTC) - timedelta(days=14))
    page.wait_for_selector('tr[data-ticket="BOR-1"][data-state="breached"][data-breach="pending"]')
    assert page.inner_text('tr[data-ticket="BOR-1"] td.state') == "breached"

    ticked = run("scheduler", "tick", "--at", iso(datetime.now(UTC)), "--json", env=ledger.env)
    assert ticked.code == 0, ticked.err
    page.wait_for_selector('tr[data-ticket="BOR-1"][data-breach="recorded"]')
    # the wall above the board follows too: its counter, and ACME-1 next to breach, linked
    page.wait_for_selector('[data-counter="breached"] b:text-is("1")')
    assert page.get_attribute('tr[data-next="ACME-1"] a', "href") == "/tickets/ACME-1"

    order = page.eval_on_selector_all("tr[data-ticket]", "rows => rows.map(r => r.dataset.ticket)")
    assert order.index("BOR-1") < order.index("ACME-1")
    assert page.evaluate("window.notReloaded") is True
    left = page.inner_text('tr[data-ticket="BOR-1"] td.num >> nth=1')
    assert left.startswith("-")  # overdue: business time left is negative


def test_the_board_shows_a_page_and_its_counts_and_refreshes_only_that_page(
    page: Page, ledger: Ledger
) -> None:
    """One row a page: `more` leads to the second page; a ticket that sorts first, opened
    meanwhile, raises the counts on the refreshed second page without landing on it;
    `first page` shows it."""
    now = datetime.now(UTC)
    ledger.open_ticket("delta", "PG-0", now - timedelta(days=3))
    ledger.open_ticket("delta", "PG-1", now - timedelta(minutes=2))
    sign_in(page, ledger, "agent", "/ops")
    page.goto(f"{ledger.base}/ops?customer=Delta&limit=1")
    assert page.eval_on_selector_all("tr[data-ticket]", "r => r.map(x => x.dataset.ticket)") == [
        "PG-0"
    ]
    assert page.inner_text('span.count[data-state="breached"] b') == "1"
    assert page.inner_text('span.count[data-state="on_track"] b') == "1"
    page.click("nav.pager a.more")
    page.wait_for_selector('tr[data-ticket="PG-1"]')
    assert "after=" in page.url
    assert not page.is_visible('tr[data-ticket="PG-0"]')
    page.evaluate("window.notReloaded = true")

    ledger.open_ticket("delta", "PG-2", now - timedelta(days=10))  # the soonest deadline
    page.wait_for_selector('span.count[data-state="breached"] b:text-is("2")')
    assert page.evaluate("window.notReloaded") is True
    shown = page.eval_on_selector_all("tr[data-ticket]", "r => r.map(x => x.dataset.ticket)")
    assert shown == ["PG-1"]  # the page after PG-0 is still the page after PG-0
    page.click("nav.pager a.first")
    page.wait_for_selector('tr[data-ticket="PG-2"]')
    assert page.is_visible("nav.pager a.more")


def no_sideways_scroll(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def charts_described(page: Page) -> list[str]:
    """The ids of the charts whose SVG is an image labelled by its own <title> and <desc>, and
    whose figures are a table beside it."""
    return list(
        page.eval_on_selector_all(
            "figure.chart",
            """figures => figures.filter(f => {
                const svg = f.querySelector('svg[role="img"]');
                const ids = (svg && svg.getAttribute('aria-labelledby') || '').split(' ');
                return ids.length === 2 && ids.every(id => document.getElementById(id))
                    && svg.querySelector('title').textContent.length > 0
                    && f.querySelectorAll('table.chart-data tbody tr').length > 0
                    && svg.getBoundingClientRect().width <= window.innerWidth;
            }).map(f => f.id)""",
        )
    )


@pytest.mark.parametrize("width", [1440, 390])
def test_the_wall_and_finance_fit_the_screen_with_their_charts(
    page: Page, ledger: Ledger, width: int
) -> None:
    """At 1440 and 390 px: /ops and /finance do not scroll sideways; the wall's counters are
    shown; every chart is there with its text alternative."""
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, ledger, "admin", "/ops")
    assert page.is_visible('[data-counter="breached"]')
    assert page.is_visible('[data-counter="waived"]')
    assert charts_described(page) == ["breaches-per-tier", "breach-rate-per-tier"]
    assert no_sideways_scroll(page), page.evaluate("document.documentElement.scrollWidth")
    page.goto(f"{ledger.base}/finance")
    assert charts_described(page) == ["points-per-month", "points-expiring"]
    assert page.is_visible("#revenue")
    assert no_sideways_scroll(page), page.evaluate("document.documentElement.scrollWidth")


def test_an_agent_gets_the_403_page_for_finance(page: Page, ledger: Ledger) -> None:
    """Signed in as an agent, /finance answers 403 with a page saying whose it is."""
    sign_in(page, ledger, "agent", "/ops")
    response = page.goto(f"{ledger.base}/finance")
    assert response is not None
    assert response.status == 403
    assert "Your role (agent) may not open Credit statements" in page.inner_text("p.error")
    assert page.inner_text("nav").split() == ["Breach", "board", "Contracts"]


def test_the_finance_page_shows_the_statement_and_downloads_its_csv(
    page: Page, ledger: Ledger
) -> None:
    """The month of signing lists every contract's statement; the CSV download matches it."""
    sign_in(page, ledger, "finance", "/finance")
    month = (datetime.now(UTC) - timedelta(days=30)).astimezone(UTC).strftime("%Y-%m")
    page.fill('input[name="period"]', month)
    page.click("text=Show month")
    page.wait_for_selector(f"h2:has-text('Month {month}')")
    customers = page.eval_on_selector_all(
        "table.statements tbody tr", "rows => rows.map(r => r.cells[0].innerText.split('\\n')[0])"
    )
    assert sorted(customers) == ["Acme", "Borealis", "Cobalt", "Delta"]
    with page.expect_download() as started:
        page.click("#csv")
    download = started.value
    assert download.suggested_filename == f"credit-statements-period-{month}.csv"
    every = list(csv.DictReader(Path(download.path()).read_text().splitlines()))
    rows = [r for r in every if r["contract_id"]]  # the last row: the totals per currency
    assert list(rows[0]) == STATEMENT_COLUMNS
    assert sorted(r["customer"] for r in rows) == customers
    assert {r["points_granted"] for r in rows} == {"64"}  # 2 premium licenses x 32
    assert [r["customer"] for r in every if not r["contract_id"]] == ["TOTAL"]
    assert "total EUR" in page.inner_text("table.statements tfoot")


def test_the_audit_page_shows_the_chain_verified_and_the_board_as_recorded(
    page: Page, ledger: Ledger
) -> None:
    """An auditor sees the chain verified with the digest `ledger audit digest` prints, and
    the board as recorded at an instant: what came later is not on it."""
    ledger.open_ticket("cobalt", "COB-1", datetime.now(UTC))
    between = datetime.now(UTC)
    time.sleep(0.01)  # recording instants are the server's clock: keep them apart
    ledger.open_ticket("delta", "DEL-1", datetime.now(UTC))
    sign_in(page, ledger, "auditor", "/audit")
    assert page.get_attribute("#chain-result", "data-ok") == "true"
    digest = run("audit", "digest", env=ledger.env)
    assert digest.code == 0, digest.err
    assert page.inner_text("#digest") == digest.out.strip()

    page.fill("#as_of", iso(between))
    page.select_option("#report", "breaches")
    page.click("#replay")
    page.wait_for_selector("#replay-result")
    assert page.is_visible('#replay-result tr[data-ticket="COB-1"]')
    assert not page.is_visible('#replay-result tr[data-ticket="DEL-1"]')
    assert page.get_attribute("#chain-result", "data-ok") == "true"


def test_the_api_docs_render_with_every_other_host_blocked(page: Page, ledger: Ledger) -> None:
    """/docs needs no internet: Swagger UI's files come from `ledger serve` itself, and the page
    renders the API's operations with every request to another host refused."""
    asked: list[str] = []
    blocked: list[str] = []

    def only_this_server(route: Any) -> None:
        url = route.request.url
        asked.append(url)
        if url.startswith(f"{ledger.base}/"):
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    page.route("**/*", only_this_server)
    page.goto(f"{ledger.base}/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "ledger" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_selector(".swagger-ui .opblock")
    assert page.locator(".swagger-ui .opblock").count() > 20
    assert blocked == []
    assert any("/static/swagger-ui/swagger-ui-bundle.js" in url for url in asked)
    assert any(url.startswith(f"{ledger.base}/openapi.json") for url in asked)


def test_signing_out_returns_to_the_sign_in_page(page: Page, ledger: Ledger) -> None:
    """After signing out the cookie is gone and every page asks to sign in again."""
    sign_in(page, ledger, "admin", "/audit")
    page.click("#sign-out")
    page.wait_for_url(f"{ledger.base}/signin?reason=signed_out")
    assert page.inner_text("p.note") == "You signed out."
    assert page.context.cookies() == []
    page.goto(f"{ledger.base}/ops")
    assert page.url == f"{ledger.base}/signin?next=%2Fops"
