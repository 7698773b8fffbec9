"""The board in pages, its counts, and the board for an instant, on SQLite and PostgreSQL.

The standard contracts of `tests.scenario` (Mo-Fr 08:00-18:00 Europe/Berlin): Premium
answers severity 1 / 2 within 8 / 12 business hours, Advanced severity 1 within 16, Basic 24.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from ledger.domain.errors import InvalidInputError
from ledger.figures import STATES
from ledger.projections.sla_breaches import MAX_PAGE
from tests.scenario import at
from tests.stores import test_sla_breaches as shared
from tests.stores.test_sla_breaches import HOUR, MINUTE, Ledger

if TYPE_CHECKING:
    from datetime import datetime

    from ledger.projections.sla_breaches import SlaBreachView

# the fixtures of the board's own tests
view = shared.view  # app, world and db come from tests/stores/conftest.py
ledger, board = shared.ledger, shared.board


def pages(view: SlaBreachView, when: datetime, limit: int, **filters: Any) -> list[list[str]]:
    """The keys of every page of the board, following each page's `next`."""
    found: list[list[str]] = []
    after = None
    while True:
        page = view.page(when, limit=limit, after=after, **filters)
        found.append([r["key"] for r in page["rows"]])
        after = page["next"]
        if after is None:
            return found
        assert len(found) < 20, "the cursor does not move on"


@pytest.mark.parametrize(
    "filters",
    [{}, {"states": {"all"}}, {"tier": "premium", "states": {"all"}}, {"since": at(3, 3, 8, 30)}],
    ids=["live", "all", "tier", "since"],
)
@pytest.mark.parametrize("limit", [1, 2, 5, 6])
def test_the_pages_of_the_board_are_the_board_in_its_order(
    board: Ledger, filters: dict[str, Any], limit: int
) -> None:
    """Following `next` gives every row once, in the board's order; the last page has none."""
    whole = board.board(at(3, 3, 12), **filters)
    found = pages(board.view, at(3, 3, 12), limit, **filters)
    assert [key for page in found for key in page] == whole
    assert all(len(page) == limit for page in found[:-1])
    assert 0 < len(found[-1]) <= limit or whole == []
    assert len(found) == max(1, -(-len(whole) // limit))


def test_a_page_is_stable_when_tickets_arrive_between_pages(board: Ledger) -> None:
    """Keyset, not offset: a ticket sorting before the cursor does not push a row onto the
    next page again; one sorting after it appears there."""
    first = board.view.page(at(3, 3, 12), limit=2)
    assert [r["key"] for r in first["rows"]] == ["B5", "B2"]
    board.open("N-early", at(3, 3, 8, 15))  # due 16:15: before B5
    board.open("N-late", at(3, 3, 11), tier="advanced")  # due Tue 17:00: after B3
    board.project()
    second = board.view.page(at(3, 3, 12), limit=10, after=first["next"])
    assert [r["key"] for r in second["rows"]] == ["B3", "N-late", "B1", "B4"]
    assert second["next"] is None


def counts_by_reading(view: SlaBreachView, when: datetime, **filters: Any) -> dict[str, int]:
    counts = dict.fromkeys(STATES, 0)
    for row in view.board(when, states={"all"}, **filters):
        counts[row["state"]] += 1
    return counts


@pytest.mark.parametrize(
    "when",
    [
        at(3, 3, 8, 45), at(3, 3, 12), at(3, 3, 14, 30), at(3, 3, 14, 45), at(3, 3, 15),
        at(3, 3, 16, 30), at(3, 3, 16, 45), at(3, 3, 17), at(3, 6, 12),
    ],
)  # fmt: skip
def test_the_counts_of_every_state_are_those_of_the_whole_board(
    board: Ledger, when: datetime
) -> None:
    """The kept counts and the indexed range counts agree with reading every clock."""
    board.app.record_first_response("B2", at=at(3, 3, 12, 30))  # met
    board.app.record_first_response("B5", at=at(3, 3, 17))  # breached, answered
    board.project()
    page = board.view.page(when, limit=1)
    assert page["counts"] == counts_by_reading(board.view, when)
    assert sum(page["counts"].values()) == 6
    premium = board.view.page(when, limit=1, tier="premium")["counts"]
    assert premium == counts_by_reading(board.view, when, tier="premium")


@pytest.mark.parametrize(
    "when", [at(3, 3, 8, 45), at(3, 3, 12), at(3, 3, 14, 45), at(3, 3, 16, 45), at(3, 6, 12)]
)
def test_the_open_clocks_of_the_metrics_are_those_of_the_live_board(
    board: Ledger, when: datetime
) -> None:
    board.app.record_first_response("B2", at=at(3, 3, 12, 30))
    board.project()
    live: dict[str, int] = {}
    for row in board.view.board(when):
        live[row["state"]] = live.get(row["state"], 0) + 1
    assert board.view.open_clocks(when) == live


def test_the_counts_at_noon(board: Ledger) -> None:
    """Worked by hand: four running on track, one paused, one declined."""
    counts = board.view.page(at(3, 3, 12), limit=1)["counts"]
    assert counts == {
        "on_track": 4, "at_risk": 0, "breached": 0, "met": 0, "paused": 1, "declined": 1
    }  # fmt: skip
    late = board.view.page(at(3, 3, 17), limit=1)["counts"]  # B5 due 16:30, B2 at risk
    assert (late["breached"], late["at_risk"], late["on_track"]) == (1, 1, 2)


@pytest.mark.parametrize(
    ("limit", "after", "message"),
    [
        (0, None, "limit: 0 is not between 1 and 1000"),
        (MAX_PAGE + 1, None, "limit: 1001"),
        (10, "not-a-cursor", "after: 'not-a-cursor' is not a cursor"),
        (10, "MTIzLjQ1Ni54eXo", "is not a cursor"),  # "123.456.xyz": no ticket id
        (10, "", "is not a cursor"),
    ],
)
def test_a_bad_limit_or_cursor_is_refused(
    view: SlaBreachView, limit: int, after: str | None, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        view.page(at(3, 3, 12), limit=limit, after=after)


# -- the board for an instant --------------------------------------------------------------------


@pytest.fixture
def story(ledger: Ledger) -> Ledger:
    """Monday 3 March; the board is asked about at 12:00 and at 17:30.

    A1 premium sev 1 at 09:15 (due 17:15), answered 16:00: met. A2 received 13:00.
    A3 premium sev 2 at 08:00 (due Tue 10:00), raised to sev 1 at 14:00. A4 basic at 10:00 (due Wed
    10:00), held at 13:00. A5 premium sev 1 at 08:00 (due 16:00), answered 17:00 (breached), the
    breach waived at 18:00.
    """
    ledger.open("A1", at(3, 3, 9, 15))
    ledger.open("A3", at(3, 3, 8), severity=2)
    ledger.open("A4", at(3, 3, 10), tier="basic")
    ledger.open("A5", at(3, 3, 8))
    ledger.open("A2", at(3, 3, 13))
    ledger.app.hold_ticket("A4", at=at(3, 3, 13))
    ledger.app.change_severity("A3", severity=1, at=at(3, 3, 14))
    ledger.app.record_first_response("A1", at=at(3, 3, 16))
    ledger.app.record_first_response("A5", at=at(3, 3, 17))
    ledger.app.waive_breach("A5", reason="their outage", actor="lead@vendor", at=at(3, 3, 18))
    ledger.project()
    return ledger


def then(ledger: Ledger, when: datetime, **filters: Any) -> dict[str, dict[str, Any]]:
    rows = ledger.view.board(when, states={"all"}, as_it_stood=True, **filters)
    return {r["key"]: r for r in rows}


def test_a_board_for_an_instant_knows_only_what_had_happened_by_then(story: Ledger) -> None:
    rows = then(story, at(3, 3, 12))
    assert list(rows) == ["A5", "A1", "A3", "A4"]  # A2 not received yet; by deadline then
    a1 = rows["A1"]  # the response at 16:00 is not known yet
    assert (a1["state"], a1["clock"], a1["responded_at"]) == ("on_track", "running", None)
    assert a1["business_seconds_left"] == 5 * HOUR + 15 * MINUTE
    a3 = rows["A3"]  # still severity 2, due Tuesday 10:00
    assert (a3["severity"], a3["due_at"]) == (2, at(3, 4, 10))
    assert (rows["A4"]["clock"], rows["A4"]["status"]) == ("running", "open")  # not held yet
    a5 = rows["A5"]
    assert (a5["state"], a5["breach_waived"], a5["responded_at"]) == ("on_track", False, None)
    # now, the view as it stands knows all of it
    current = {r["key"]: r for r in story.view.board(at(3, 3, 12), states={"all"})}
    assert current["A1"]["state"] == "met"
    assert current["A3"]["severity"] == 1


def test_a_board_for_an_instant_between_a_response_and_its_waiver(story: Ledger) -> None:
    rows = then(story, at(3, 3, 17, 30))
    assert set(rows) == {"A1", "A2", "A3", "A4", "A5"}
    a5 = rows["A5"]
    assert (a5["state"], a5["responded_at"], a5["breach_waived"]) == (
        "breached",
        at(3, 3, 17),
        False,
    )
    assert then(story, at(3, 3, 18))["A5"]["breach_waived"] is True
    assert (rows["A4"]["clock"], rows["A4"]["state"]) == ("paused", "paused")
    assert (rows["A3"]["severity"], rows["A1"]["state"]) == (1, "met")
    assert then(story, at(3, 3, 7)) == {}  # before anything was received


def test_a_page_and_its_counts_for_an_instant(story: Ledger) -> None:
    """Paging and counts follow the board as it stood; a filter still applies."""
    first = story.view.page(at(3, 3, 12), limit=3, as_it_stood=True)
    assert [r["key"] for r in first["rows"]] == ["A5", "A1", "A3"]
    rest = story.view.page(at(3, 3, 12), limit=3, after=first["next"], as_it_stood=True)
    assert ([r["key"] for r in rest["rows"]], rest["next"]) == (["A4"], None)
    assert first["counts"] == {
        "on_track": 4, "at_risk": 0, "breached": 0, "met": 0, "paused": 0, "declined": 0
    }  # fmt: skip
    basic = story.view.page(at(3, 3, 17, 30), limit=5, tier="basic", as_it_stood=True)
    assert [r["key"] for r in basic["rows"]] == ["A4"]
    assert basic["counts"]["paused"] == 1
