"""Every page, for every role that may open it, at 1440 and 390 px wide, in headless Chromium
against a real `ledger serve`: nothing scrolls sideways or is clipped at 390 px, axe-core
(vendored in tests/e2e/vendor, injected by Playwright) finds no serious or critical
violation, and the links and filters of the contract and ticket pages lead where they say.

Each page is photographed into `$LEDGER_SCREENSHOTS` (default: a folder of the test run) as
`<page>-<role>-<width>.png`; `make screenshots` writes the admin's into docs/screenshots/.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.test_pages_browser import browser, ledger, sign_in

if TYPE_CHECKING:
    from collections.abc import Iterator

    from playwright.sync_api import Browser, Page

    from tests.e2e.test_pages_browser import Ledger

__all__ = ["browser", "ledger"]  # the fixtures: a served ledger and Chromium
pytestmark = pytest.mark.slow

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
WIDTHS = {"wide": (1440, 900), "phone": (390, 844)}
BLOCKING = {"serious", "critical"}
# page name → path, and the roles that may open it (as README's page table says)
PAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "ops": ("/ops", ("agent", "auditor", "admin")),
    "finance": ("/finance", ("finance", "auditor", "admin")),
    "audit": ("/audit", ("auditor", "admin")),
    "contracts": ("/contracts", ("agent", "finance", "auditor", "admin")),
    "contract": ("/contracts/Acme", ("agent", "finance", "auditor", "admin")),
    "ticket": ("/tickets/ACME-7", ("agent", "auditor", "admin")),
}
CASES = [(name, role, width) for name, (_, roles) in PAGES.items() for role in roles
         for width in WIDTHS]  # fmt: skip


@pytest.fixture(scope="module")
def served(ledger: Ledger) -> Ledger:
    """The served ledger with an open ticket on Acme's contract, received a day ago, held for
    half an hour, and 3 points drawn for it."""
    received = datetime.now(UTC) - timedelta(days=1)
    ledger.open_ticket("acme", "ACME-7", received)
    for step, minutes in (("hold", 30), ("resume", 60)):
        answer = ledger.api("agent", "POST", f"/tickets/ACME-7/{step}",
                            {"at": iso(received + timedelta(minutes=minutes))})  # fmt: skip
        assert answer.status_code == 200, answer.text
    consumptions = f"/contracts/{ledger.contracts['acme']}/credits/consumptions"
    drawn = ledger.api("finance", "POST", consumptions, {
        "points": "3", "activity": "analysis", "key": "acme-7-analysis", "ticket": "ACME-7",
        "at": iso(received + timedelta(hours=2)),
    })  # fmt: skip
    assert drawn.status_code in (200, 201), drawn.text
    return ledger


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go: `$LEDGER_SCREENSHOTS`, or a folder of this test run."""
    chosen = os.environ.get("LEDGER_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def sized(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page in a context of its own, at the width the test asks for."""
    width, height = WIDTHS[request.param]
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(30_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def overflow(page: Page) -> dict[str, Any]:
    """How far the document, and the shared header, reach past the window's width."""
    return page.evaluate(
        """() => {
            const doc = document.documentElement, header = document.querySelector('header.top');
            const clipped = [...document.querySelectorAll('header.top *')]
                .filter(e => { const r = e.getBoundingClientRect(), w = doc.clientWidth;
                               return r.width > 0 && (r.right > w + 1 || r.left < -1); })
                .map(e => e.outerHTML.slice(0, 80));
            return {width: doc.clientWidth, scroll: doc.scrollWidth,
                    header: header ? header.scrollWidth : 0, clipped};
        }"""
    )


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    # evaluated, not added as a <script>: the page's Content-Security-Policy stays as served
    page.evaluate(AXE.read_text(encoding="utf-8") + "\n;void 0")
    found: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))"
    )
    return [v for v in found if v["impact"] in BLOCKING]


@pytest.mark.parametrize(("name", "role", "sized"), CASES,
                         ids=["-".join(case) for case in CASES], indirect=["sized"])  # fmt: skip
def test_a_page_fits_the_screen_and_passes_axe(
    name: str, role: str, sized: Page, served: Ledger, shots: Path
) -> None:
    """The page at this width: no sideways scroll, the header whole, no serious axe finding."""
    path, _ = PAGES[name]
    sign_in(sized, served, role, path)
    sized.wait_for_load_state("networkidle")
    width = sized.viewport_size["width"] if sized.viewport_size else 0
    sized.screenshot(path=str(shots / f"{name}-{role}-{width}.png"), full_page=True)
    measured = overflow(sized)
    assert measured["scroll"] <= measured["width"], measured
    assert measured["header"] <= measured["width"], measured
    assert measured["clipped"] == [], measured
    assert axe_violations(sized) == []


def test_the_contract_search_and_links_lead_to_the_contract_and_its_tickets(
    browser: Browser, served: Ledger
) -> None:
    """On a phone: search by part of the name in another case, open the contract, follow its
    open ticket to the ticket page, and the ticket's customer back to the contract."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        sign_in(page, served, "agent", "/ops")
        page.click('header.top nav a[href="/contracts"]')
        page.wait_for_url(f"{served.base}/contracts")
        page.fill("#customer", "bOREAL")
        page.click("#search")
        page.wait_for_url(f"{served.base}/contracts?customer=bOREAL")
        shown = page.eval_on_selector_all("#contracts tbody tr td:first-child",
                                          "cells => cells.map(c => c.innerText)")  # fmt: skip
        assert shown == ["Borealis"]
        page.fill("#customer", "acme")
        page.click("#search")
        page.click('#contracts a:text("Acme")')
        page.wait_for_url(f"{served.base}/contracts/{served.contracts['acme']}")
        assert page.inner_text("h1") == "Acme"
        page.click('#open-tickets a:text("ACME-7")')
        page.wait_for_url(f"{served.base}/tickets/ACME-7")
        assert page.inner_text("h1") == "Ticket ACME-7"
        kinds = page.eval_on_selector_all(
            "#timeline-marks li", "items => items.map(i => i.dataset.kind)"
        )
        assert kinds[0] == "received"
        assert "hold" in kinds
        assert page.is_visible("svg.timeline")
        assert "3" in page.inner_text("#credits")
        page.click('#ticket-facts a:text("Acme")')
        page.wait_for_url(f"{served.base}/contracts/{served.contracts['acme']}")
        page.goto(f"{served.base}/ops")
        page.click('tr[data-ticket="ACME-7"] a')
        page.wait_for_url(f"{served.base}/tickets/ACME-7")
    finally:
        context.close()
