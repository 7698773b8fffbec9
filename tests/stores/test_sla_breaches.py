"""The SLA-breach view on SQLite and PostgreSQL: clock states, business time left, statistics.

Every figure is worked out by hand on the standard contracts (Mo-Fr 08:00-18:00 Europe/Berlin,
no public holiday in the weeks used). Premium answers severity 1 / 2 / 3 within 8 / 12 / 24
business hours, Advanced within 16 / 24 / 36, Basic within 24 / 48 / 72.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from ledger.domain.errors import InvalidInputError
from ledger.projections.runner import run_projections, verify
from ledger.projections.sla_breaches import SlaBreachProjection, SlaBreachView
from tests.scenario import World, at

if TYPE_CHECKING:
    from datetime import datetime

    from ledger.application import SupportLedger
    from ledger.projections.db import ViewDatabase
    from ledger.settings import DatabaseSettings

HOUR = 3600
MINUTE = 60

REPORTERS = {
    "premium": "ops@acme.example",
    "advanced": "support@borealis.example",
    "basic": "it@cobalt.example",
}


@pytest.fixture
def view(db: ViewDatabase) -> SlaBreachView:
    return SlaBreachView(db)


@dataclass
class Ledger:
    """The store under test: the application, its contracts, and the view read from it."""

    settings: DatabaseSettings
    app: SupportLedger
    world: World
    view: SlaBreachView

    def open(
        self,
        key: str,
        received: datetime,
        *,
        tier: str = "premium",
        severity: int = 1,
        reporter: str | None = None,
    ) -> None:
        """Receive a request on the contract of `tier` from its named contact."""
        self.app.open_ticket(
            contract_id=self.world.by_tier(tier), reporter=reporter or REPORTERS[tier],
            version="24.2.1", platform="linux", severity=severity, at=received, key=key,
        )  # fmt: skip

    def project(self, batch_size: int = 1000) -> None:
        """Bring the view up to the head of the log."""
        outcomes = run_projections(
            self.settings, self.app, [SlaBreachProjection], once=True, batch_size=batch_size
        )
        assert [o.status for o in outcomes] == ["caught_up"]

    def row(self, key: str, when: datetime) -> dict[str, Any]:
        """The board row of one ticket at `when`, whatever its state."""
        found = [r for r in self.view.board(when, states={"all"}) if r["key"] == key]
        assert len(found) == 1
        return found[0]

    def board(self, when: datetime, **filters: Any) -> list[str]:
        """The keys on the board at `when`, in the board's order."""
        return [r["key"] for r in self.view.board(when, **filters)]


@pytest.fixture
def ledger(
    store_settings: DatabaseSettings, app: SupportLedger, world: World, view: SlaBreachView
) -> Ledger:
    return Ledger(store_settings, app, world, view)


def build_month(ledger: Ledger) -> None:
    """Eight requests in March and April 2025, their responses, and one waiver.

    S1 premium sev 1, Mon 3 Mar 09:15, due 17:15, answered 11:15: met, 2 h.
    S2 premium sev 2, Mon 09:00, due Tue 11:00, answered Tue 12:00: breached, 13 h.
    S3 premium sev 3, Mon 10:00, due Wed 14:00, never answered: breached from Wed 14:00.
    S4 advanced sev 1, Mon 08:00, due Tue 14:00, answered Mon 12:00: met, 4 h.
    S5 advanced sev 2, Tue 08:00, due Thu 12:00, answered Thu 13:00: breached, 25 h, waived.
    S6 basic sev 3, Mon 08:00, due Wed 12 Mar 10:00, answered Mon 10 Mar 09:00: met, 51 h.
    S7 basic, a reporter who is not named: declined.
    S8 premium sev 1, Tue 1 Apr 00:30 Berlin (still 31 Mar in UTC), counted from 08:00, due
    16:00, answered 09:30: met, 1.5 h.
    """
    app = ledger.app
    ledger.open("S1", at(3, 3, 9, 15))
    ledger.open("S2", at(3, 3, 9), severity=2)
    ledger.open("S3", at(3, 3, 10), severity=3)
    ledger.open("S4", at(3, 3, 8), tier="advanced")
    ledger.open("S5", at(3, 4, 8), tier="advanced", severity=2)
    ledger.open("S6", at(3, 3, 8), tier="basic", severity=3)
    ledger.open("S7", at(3, 3, 8), tier="basic", reporter="boss@cobalt.example")
    ledger.open("S8", at(4, 1, 0, 30))
    app.record_first_response("S1", at=at(3, 3, 11, 15))
    app.record_first_response("S2", at=at(3, 4, 12))
    app.record_first_response("S4", at=at(3, 3, 12))
    app.record_first_response("S5", at=at(3, 6, 13))
    app.waive_breach("S5", reason="customer's own outage", actor="lead@vendor", at=at(3, 6, 14))
    app.record_first_response("S6", at=at(3, 10, 9))
    app.record_first_response("S8", at=at(4, 1, 9, 30))


def figures(key: Any, line: str) -> dict[str, Any]:
    """A statistics row from `tickets met breached waived rate responses median p90` (- = None;
    the response times in business seconds)."""
    tickets, met, breached, waived, rate, responses, median, p90 = line.split()
    return {
        "key": key,
        "tickets": int(tickets),
        "met": int(met),
        "breached": int(breached),
        "waived": int(waived),
        "breach_rate": None if rate == "-" else Decimal(rate),
        "responses": int(responses),
        "median_response_seconds": None if median == "-" else int(median),
        "p90_response_seconds": None if p90 == "-" else int(p90),
    }


# -- the state of a clock --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "state", "left"),
    [
        (at(3, 3, 12), "on_track", 5 * HOUR + 15 * MINUTE),
        (at(3, 3, 15, 14), "on_track", 2 * HOUR + MINUTE),
        (at(3, 3, 15, 15), "at_risk", 2 * HOUR),
        (at(3, 3, 17, 15), "at_risk", 0),
        (at(3, 3, 17, 16), "breached", -MINUTE),
        (at(3, 3, 22), "breached", -45 * MINUTE),
        (at(3, 4, 8, 30), "breached", -75 * MINUTE),
    ],
    ids=["noon", "before-75%", "at-75%", "at-deadline", "a-minute-late", "night", "next-day"],
)
def test_an_unanswered_clock_goes_from_on_track_to_at_risk_to_breached(
    ledger: Ledger, when: datetime, state: str, left: int
) -> None:
    """Premium sev 1 received Mon 09:15 is due 17:15; at risk from 15:15 (75 % of 8 h)."""
    ledger.open("P-1", at(3, 3, 9, 15))
    ledger.project()
    found = ledger.row("P-1", when)
    assert (found["state"], found["business_seconds_left"]) == (state, left)
    assert found["due_at"] == found["original_due_at"] == at(3, 3, 17, 15)
    assert found["warning_at"] == at(3, 3, 15, 15)
    assert (found["clock"], found["responded_at"]) == ("running", None)
    assert ledger.board(when) == ["P-1"]  # live in every one of these states


def test_a_timely_response_is_met_and_leaves_the_live_board(
    ledger: Ledger, app: SupportLedger
) -> None:
    """A response by the deadline stops the clock as met, whatever the instant asked about."""
    ledger.open("P-1", at(3, 3, 9, 15))
    app.record_first_response("P-1", at=at(3, 3, 16))
    ledger.project()
    for when in (at(3, 3, 16, 30), at(3, 4, 12)):
        found = ledger.row("P-1", when)
        assert (found["state"], found["business_seconds_left"]) == ("met", None)
        assert (found["clock"], found["responded_at"]) == ("stopped", at(3, 3, 16))
        assert found["used_seconds"] == 6 * HOUR + 45 * MINUTE
        assert ledger.board(when) == []
    assert ledger.board(at(3, 4, 12), states={"met"}) == ["P-1"]


def test_a_late_response_is_breached_but_no_longer_live(ledger: Ledger, app: SupportLedger) -> None:
    """Answered Tue 09:00 for a deadline of Mon 17:15: breached after 9 h 45 min of business."""
    ledger.open("P-1", at(3, 3, 9, 15))
    app.record_breach("P-1", at=at(3, 3, 17, 20), late=False)
    app.record_first_response("P-1", at=at(3, 4, 9))
    ledger.project()
    found = ledger.row("P-1", at(3, 4, 10))
    assert (found["state"], found["business_seconds_left"]) == ("breached", None)
    assert (found["breach_recorded"], found["breach_waived"]) == (True, False)
    assert found["used_seconds"] == 9 * HOUR + 45 * MINUTE
    assert ledger.board(at(3, 4, 10)) == []
    assert ledger.board(at(3, 4, 10), states={"breached"}) == ["P-1"]


def test_a_clock_on_hold_is_paused_without_a_deadline_until_it_resumes(
    ledger: Ledger, app: SupportLedger
) -> None:
    """Held at 10:15 after 1 h; resumed at 12:15 the 7 h left run to Tue 09:15."""
    ledger.open("P-1", at(3, 3, 9, 15))
    app.hold_ticket("P-1", at=at(3, 3, 10, 15))
    ledger.project()
    paused = ledger.row("P-1", at(3, 3, 17, 30))
    assert (paused["state"], paused["clock"], paused["status"]) == ("paused", "paused", "on_hold")
    assert (paused["due_at"], paused["business_seconds_left"]) == (None, None)
    assert paused["original_due_at"] == at(3, 3, 17, 15)
    assert ledger.board(at(3, 3, 17, 30)) == ["P-1"]

    app.resume_ticket("P-1", at=at(3, 3, 12, 15))
    ledger.project()
    running = ledger.row("P-1", at(3, 3, 14, 15))
    assert (running["state"], running["business_seconds_left"]) == ("on_track", 5 * HOUR)
    assert (running["due_at"], running["warning_at"]) == (at(3, 4, 9, 15), at(3, 3, 17, 15))
    assert ledger.row("P-1", at(3, 3, 17, 15))["state"] == "at_risk"


def test_a_hold_after_the_deadline_keeps_the_clock_breached_and_its_overdue_time_still(
    ledger: Ledger, app: SupportLedger
) -> None:
    """Held at 17:30, 15 min past the 17:15 deadline: breached, 15 min overdue while on hold."""
    ledger.open("P-1", at(3, 3, 9, 15))
    app.hold_ticket("P-1", at=at(3, 3, 17, 30))
    ledger.project()
    for when in (at(3, 3, 17, 45), at(3, 5, 12)):
        found = ledger.row("P-1", when)
        assert (found["state"], found["clock"]) == ("breached", "paused")
        assert found["business_seconds_left"] == -15 * MINUTE
    assert ledger.board(at(3, 5, 12)) == ["P-1"]  # breached and unanswered is live


def test_a_declined_request_is_on_record_but_never_on_the_live_board(ledger: Ledger) -> None:
    """A request from someone who is not a named contact has no clock and is `declined`."""
    ledger.open("C-1", at(3, 3, 9), tier="basic", reporter="boss@cobalt.example")
    ledger.project()
    found = ledger.row("C-1", at(3, 5, 12))
    assert (found["state"], found["clock"], found["status"]) == ("declined", "none", "declined")
    assert found["declined_reason"] == "not_a_named_contact"
    assert (found["customer"], found["reporter"]) == ("Basic Customer", "boss@cobalt.example")
    assert (found["due_at"], found["business_seconds_left"]) == (None, None)
    assert ledger.board(at(3, 5, 12)) == []
    assert ledger.board(at(3, 5, 12), states={"declined"}) == ["C-1"]


def test_a_severity_change_keeps_the_original_deadline_on_record(
    ledger: Ledger, app: SupportLedger
) -> None:
    """Premium sev 3 at Mon 09:00 (due Wed 13:00) raised to sev 1 at 10:00 is due Mon 17:00."""
    ledger.open("P-1", at(3, 3, 9), severity=3)
    app.change_severity("P-1", severity=1, at=at(3, 3, 10))
    ledger.project()
    found = ledger.row("P-1", at(3, 3, 12))
    assert found["severity"] == 1
    assert (found["due_at"], found["original_due_at"]) == (at(3, 3, 17), at(3, 5, 13))
    assert found["business_seconds_left"] == 5 * HOUR


# -- appointments ----------------------------------------------------------------------------------


def test_an_appointment_moves_the_deadline_and_the_business_time_left(
    ledger: Ledger, app: SupportLedger, world: World
) -> None:
    """Received Mon 14:00, due Tue 12:00; with 19:00-22:00 booked, due Tue 09:00."""
    ledger.open("P-1", at(3, 3, 14))
    ledger.project()
    before = ledger.row("P-1", at(3, 3, 20))
    assert (before["due_at"], before["business_seconds_left"]) == (at(3, 4, 12), 4 * HOUR)

    window = {"starts_at": at(3, 3, 19), "ends_at": at(3, 3, 22)}
    app.book_appointment(world.premium, **window, at=at(3, 3, 15))
    ledger.project()
    after = ledger.row("P-1", at(3, 3, 20))  # an hour of the appointment used by 20:00
    assert (after["due_at"], after["business_seconds_left"]) == (at(3, 4, 9), 3 * HOUR)
    assert (after["original_due_at"], after["state"]) == (at(3, 4, 12), "on_track")
    assert ledger.row("P-1", at(3, 3, 21))["state"] == "at_risk"  # 6 of 8 h used at 21:00

    app.cancel_appointment(world.premium, **window, at=at(3, 3, 16))
    ledger.project()
    cancelled = ledger.row("P-1", at(3, 3, 20))
    assert (cancelled["due_at"], cancelled["business_seconds_left"]) == (at(3, 4, 12), 4 * HOUR)


def test_an_appointment_after_the_deadline_counts_as_overdue_business_time(
    ledger: Ledger, app: SupportLedger, world: World
) -> None:
    """Due Mon 17:15; with 19:00-22:00 booked, at 21:00 it is 45 min + 2 h overdue."""
    ledger.open("P-1", at(3, 3, 9, 15))
    app.book_appointment(
        world.premium, starts_at=at(3, 3, 19), ends_at=at(3, 3, 22), at=at(3, 3, 10)
    )
    ledger.project()
    found = ledger.row("P-1", at(3, 3, 21))
    assert found["due_at"] == at(3, 3, 17, 15)
    assert found["business_seconds_left"] == -(2 * HOUR + 45 * MINUTE)


# -- the board: order and filters ------------------------------------------------------------------


@pytest.fixture
def board(ledger: Ledger) -> Ledger:
    """Five requests of Mon 3 Mar, open at 12:00 that day, and a declined one.

    B1 basic sev 1 at 08:00: due Wed 12:00. B2 premium sev 1 at 10:00: due 18:00.
    B3 advanced sev 1 at 09:00: due Tue 15:00. B4 premium sev 2 at 08:00, held at 09:00: no
    deadline. B5 premium sev 1 at 08:30: due 16:30. D1 basic at 09:00: declined.
    """
    ledger.open("B1", at(3, 3, 8), tier="basic")
    ledger.open("B2", at(3, 3, 10))
    ledger.open("B3", at(3, 3, 9), tier="advanced")
    ledger.open("B4", at(3, 3, 8), severity=2)
    ledger.app.hold_ticket("B4", at=at(3, 3, 9))
    ledger.open("B5", at(3, 3, 8, 30))
    ledger.open("D1", at(3, 3, 9), tier="basic", reporter="boss@cobalt.example")
    ledger.project()
    return ledger


def test_the_board_shows_the_soonest_breach_first_and_clocks_without_a_deadline_last(
    board: Ledger,
) -> None:
    """Ordered by deadline; a paused clock has none and comes after every running one."""
    rows = board.view.board(at(3, 3, 12))
    assert [r["key"] for r in rows] == ["B5", "B2", "B3", "B1", "B4"]
    assert [r["state"] for r in rows] == ["on_track"] * 4 + ["paused"]
    assert [r["business_seconds_left"] for r in rows] == [
        4 * HOUR + 30 * MINUTE,
        6 * HOUR,
        13 * HOUR,
        20 * HOUR,
        None,
    ]
    assert [r["tier"] for r in rows] == ["premium", "premium", "advanced", "basic", "premium"]
    assert board.board(at(3, 3, 12), states={"all"}) == ["B5", "B2", "B3", "B1", "B4", "D1"]
    assert board.board(at(3, 3, 15), states={"at_risk"}) == ["B5"]  # from 16:30 - 2 h
    assert board.board(at(3, 3, 17), states={"breached", "paused"}) == ["B5", "B4"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"tier": "premium"}, ["B5", "B2", "B4"]),
        ({"tier": "Advanced"}, ["B3"]),
        ({"customer": "basic customer"}, ["B1"]),
        ({"customer": "Nobody"}, []),
        ({"since": at(3, 3, 9)}, ["B2", "B3"]),
        ({"until": at(3, 3, 9)}, ["B5", "B1", "B4"]),
        ({"since": at(3, 3, 8, 30), "until": at(3, 3, 10)}, ["B5", "B3"]),
        ({"tier": "premium", "states": {"paused"}}, ["B4"]),
        ({"customer": "Basic Customer", "states": {"all"}}, ["B1", "D1"]),
    ],
    ids=[
        "tier",
        "tier-any-case",
        "customer-any-case",
        "unknown-customer",
        "since",
        "until",
        "since-until",
        "tier-and-state",
        "customer-all-states",
    ],
)
def test_the_board_filters_by_tier_customer_state_and_instant_received(
    board: Ledger, filters: dict[str, Any], expected: list[str]
) -> None:
    """Filters combine; `since` is inclusive and `until` exclusive on the instant received."""
    assert board.board(at(3, 3, 12), **filters) == expected


def test_an_unknown_state_is_refused(view: SlaBreachView) -> None:
    """A state the board does not know is bad input, not an empty board."""
    with pytest.raises(InvalidInputError, match="late"):
        view.board(at(3, 3, 12), states={"late"})


def test_the_view_is_empty_before_the_projection_first_ran(view: SlaBreachView) -> None:
    """Reading before any projection run finds an empty view, not an error."""
    assert view.board(at(3, 3, 12), states={"all"}) == []
    assert view.stats("tier", at(3, 3, 12)) == []


# -- statistics ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        (
            "tier",
            [
                figures("advanced", "2 1 0 1 0.0000 2 14400 90000"),
                figures("basic", "1 1 0 0 0.0000 1 183600 183600"),
                figures("premium", "4 2 2 0 0.5000 3 7200 46800"),
            ],
        ),
        (
            "customer",
            [
                figures("Advanced Customer", "2 1 0 1 0.0000 2 14400 90000"),
                figures("Basic Customer", "1 1 0 0 0.0000 1 183600 183600"),
                figures("Premium Customer", "4 2 2 0 0.5000 3 7200 46800"),
            ],
        ),
        (
            "severity",
            [
                figures(1, "3 3 0 0 0.0000 3 7200 14400"),
                figures(2, "2 0 1 1 1.0000 2 46800 90000"),
                figures(3, "2 1 1 0 0.5000 1 183600 183600"),
            ],
        ),
        (
            "month",
            [
                figures("2025-03", "6 3 2 1 0.4000 5 46800 183600"),
                figures("2025-04", "1 1 0 0 0.0000 1 5400 5400"),
            ],
        ),
    ],
    ids=["tier", "customer", "severity", "month"],
)
def test_breach_statistics_per_group_match_the_figures_worked_out_by_hand(
    ledger: Ledger, by: str, expected: list[dict[str, Any]]
) -> None:
    """Met, breached (late, or unanswered past due), waived apart; nearest-rank business hours."""
    build_month(ledger)
    ledger.project()
    assert ledger.view.stats(by, at(4, 7, 12)) == expected


def test_statistics_count_an_unanswered_clock_as_breached_once_its_deadline_passed(
    ledger: Ledger,
) -> None:
    """S3 (premium sev 3) is due Wed 5 Mar 14:00: not breached at 14:00, breached at 14:01."""
    build_month(ledger)
    ledger.project()
    premium = ledger.view.stats("tier", at(3, 5, 14))[2]
    assert (premium["key"], premium["met"], premium["breached"]) == ("premium", 2, 1)
    assert ledger.view.stats("tier", at(3, 5, 14, 1))[2]["breached"] == 2


def test_statistics_take_the_requests_received_in_the_period_asked(ledger: Ledger) -> None:
    """S8 was received 1 Apr 00:30 Berlin: within an April period; the rest are March's."""
    build_month(ledger)
    ledger.project()
    april = ledger.view.stats("tier", at(4, 7, 12), since=at(4, 1, 0, 0))
    assert april == [figures("premium", "1 1 0 0 0.0000 1 5400 5400")]
    march = ledger.view.stats("severity", at(4, 7, 12), since=at(3, 1, 0), until=at(4, 1, 0))
    assert [(r["key"], r["tickets"]) for r in march] == [(1, 2), (2, 2), (3, 2)]


def test_statistics_refuse_an_unknown_grouping(view: SlaBreachView) -> None:
    """Groupings are tier, customer, severity and month."""
    with pytest.raises(InvalidInputError, match="week"):
        view.stats("week", at(3, 3, 12))


# -- waivers ---------------------------------------------------------------------------------------


def test_a_waived_breach_stays_breached_on_the_board_and_counts_apart(
    ledger: Ledger, app: SupportLedger
) -> None:
    """An unanswered breach waived: still `breached` by the times, flagged, and not a breach."""
    ledger.open("P-1", at(3, 3, 9, 15))
    app.record_breach("P-1", at=at(3, 3, 17, 20), late=False)
    app.waive_breach("P-1", reason="agreed extension", actor="lead@vendor", at=at(3, 3, 17, 30))
    ledger.project()
    found = ledger.row("P-1", at(3, 3, 18))
    assert (found["state"], found["breach_recorded"], found["breach_waived"]) == (
        "breached",
        True,
        True,
    )
    assert ledger.view.stats("tier", at(3, 3, 18)) == [figures("premium", "1 0 0 1 - 0 - -")]


def test_a_recorded_breach_answered_in_time_after_all_counts_as_met(
    ledger: Ledger, app: SupportLedger
) -> None:
    """A response dated by the deadline but entered after the breach: met, the breach waived."""
    ledger.open("P-1", at(3, 3, 9, 15))
    app.record_breach("P-1", at=at(3, 3, 17, 20), late=False)
    app.record_first_response("P-1", at=at(3, 3, 17, 15))
    ledger.project()
    found = ledger.row("P-1", at(3, 3, 18))
    assert (found["state"], found["breach_recorded"], found["breach_waived"]) == (
        "met",
        True,
        True,
    )
    assert ledger.view.stats("tier", at(3, 3, 18)) == [
        figures("premium", "1 1 0 0 0.0000 1 28800 28800")
    ]


# -- equal to a rebuild ----------------------------------------------------------------------------


def busy_week(ledger: Ledger) -> None:
    """The month's requests plus appointments, holds, a severity change and a whole lifecycle."""
    app, premium = ledger.app, ledger.world.premium
    build_month(ledger)
    ledger.open("W1", at(3, 3, 14))
    app.book_appointment(premium, starts_at=at(3, 3, 19), ends_at=at(3, 3, 22), at=at(3, 3, 15))
    app.book_appointment(premium, starts_at=at(3, 4, 19), ends_at=at(3, 4, 21), at=at(3, 3, 15))
    app.cancel_appointment(premium, starts_at=at(3, 4, 19), ends_at=at(3, 4, 21), at=at(3, 3, 16))
    app.hold_ticket("W1", at=at(3, 3, 16))
    app.resume_ticket("W1", at=at(3, 3, 17))
    app.change_severity("W1", severity=2, at=at(3, 3, 17, 30))
    app.record_warning("W1", share=Decimal("0.50"), at=at(3, 3, 22, 30), late=False)
    app.resolve_ticket("W1", at=at(3, 4, 10))
    app.reopen_ticket("W1", at=at(3, 4, 11))
    app.resolve_ticket("W1", at=at(3, 4, 12))
    app.close_ticket("W1", at=at(3, 4, 13))
    ledger.open("W2", at(3, 4, 9), tier="advanced", severity=3)
    app.hold_ticket("W2", at=at(3, 4, 10))


def test_the_view_equals_a_rebuild_when_projected_as_things_happen(
    ledger: Ledger, app: SupportLedger, world: World
) -> None:
    """Projected in several runs between commands, the view equals a rebuild from the log."""
    build_month(ledger)
    ledger.project()
    ledger.open("W1", at(3, 3, 14))
    app.book_appointment(
        world.premium, starts_at=at(3, 3, 19), ends_at=at(3, 3, 22), at=at(3, 3, 15)
    )
    app.hold_ticket("W1", at=at(3, 3, 16))
    ledger.project()
    app.resume_ticket("W1", at=at(3, 3, 17))
    app.resolve_ticket("W1", at=at(3, 4, 10))
    ledger.project()
    position, differences = verify(ledger.settings, app, SlaBreachProjection)
    assert position == app.recorder.max_notification_id()
    assert differences == []
    resolved = ledger.row("W1", at(3, 5, 12))
    assert (resolved["status"], resolved["state"]) == ("resolved", "met")
    assert resolved["used_seconds"] == 8 * HOUR  # 14-16, 17-18, 19-22, Tue 08-10


@pytest.mark.parametrize("batch_size", [1, 3], ids=["batch-1", "batch-3"])
def test_small_batches_give_the_same_view_as_one_big_batch(
    ledger: Ledger, app: SupportLedger, batch_size: int
) -> None:
    """Projected a few events at a time, the tables equal one batch over the whole log."""
    busy_week(ledger)
    ledger.project(batch_size=batch_size)
    position, differences = verify(ledger.settings, app, SlaBreachProjection, batch_size=100_000)
    assert position == app.recorder.max_notification_id()
    assert differences == []
    assert len(ledger.view.board(at(3, 5, 12), states={"all"})) == 10
    closed = ledger.row("W1", at(3, 5, 12))
    assert (closed["status"], closed["state"], closed["severity"]) == ("closed", "met", 2)
    assert ledger.row("W2", at(3, 5, 12))["state"] == "paused"
