"""Deadline and warnings computed together give exactly what one-at-a-time computation gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain.sla import clock_figures, clock_instants, share_of
from tests.unit.test_calendar import CALENDARS, DURATIONS, NAMES, STARTS

if TYPE_CHECKING:
    from ledger.domain.calendar import BusinessCalendar
    from ledger.domain.sla import Period


def one_at_a_time(
    calendar: BusinessCalendar, periods: list[Period], amount: timedelta
) -> datetime | None:
    """The clock instant computed period by period for one amount, as `add` and `elapsed` say."""
    used = timedelta(0)
    for start, end in periods:
        if end is None:
            return calendar.add(start, amount - used)
        covered = calendar.elapsed(start, end)
        if used + covered >= amount:
            return calendar.add(start, amount - used)
        used += covered
    return None


@settings(max_examples=300, deadline=None)
@given(name=NAMES, start=STARTS, durations=st.lists(DURATIONS, min_size=0, max_size=5))
def test_add_all_is_add_for_every_duration(
    name: str, start: datetime, durations: list[timedelta]
) -> None:
    """add_all(s, [d1, d2, ...]) == [add(s, d1), add(s, d2), ...], zero durations included."""
    calendar = CALENDARS[name]
    assert calendar.add_all(start, durations) == [calendar.add(start, d) for d in durations]


def test_add_all_reaches_into_years_not_indexed_yet() -> None:
    """A duration longer than the indexed years extends the index as add does."""
    calendar = CALENDARS["berlin-de"]
    start = datetime(2031, 6, 1, tzinfo=UTC)
    durations = [timedelta(hours=8), timedelta(hours=6000), timedelta(0)]
    assert calendar.add_all(start, durations) == [calendar.add(start, d) for d in durations]


LENGTHS = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=20))


@settings(max_examples=300, deadline=None)
@given(
    name=NAMES,
    first=STARTS,
    spans=st.lists(st.tuples(LENGTHS, LENGTHS), min_size=1, max_size=4),
    open_end=st.booleans(),
    amounts=st.lists(DURATIONS, min_size=1, max_size=4),
)
def test_clock_instants_match_the_period_by_period_computation(
    name: str,
    first: datetime,
    spans: list[tuple[timedelta, timedelta]],
    open_end: bool,
    amounts: list[timedelta],
) -> None:
    """Every amount reaches the instant the one-amount computation finds, or None when paused."""
    calendar = CALENDARS[name]
    periods: list[Period] = []
    start = first
    for length, hold in spans:  # running periods separated by holds
        periods.append((start, start + length))
        start += length + hold
    if open_end:
        periods[-1] = (periods[-1][0], None)
    expected = [one_at_a_time(calendar, periods, amount) for amount in amounts]
    assert clock_instants(calendar, periods, amounts) == expected


def test_clock_figures_give_the_deadline_and_each_warning() -> None:
    """The 50 % and 75 % warnings of an 8-hour target fall where a separate add puts them."""
    calendar = CALENDARS["berlin-de"]
    start = datetime(2025, 3, 3, 16, tzinfo=UTC)
    shares = (Decimal("0.50"), Decimal("0.75"))
    figures = clock_figures(calendar, [(start, None)], timedelta(hours=8), shares)
    assert figures.due_at == calendar.add(start, timedelta(hours=8))
    assert [w.at for w in figures.warnings] == [
        calendar.add(start, share_of(timedelta(hours=8), s)) for s in shares
    ]
    assert [w.share for w in figures.warnings] == list(shares)
