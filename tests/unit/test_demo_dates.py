"""Where the demo's story falls: its second Friday is the last one whose 18:00 (Berlin) is not
after now; its agreements start two months before it, so their year runs 8-10 months past
now."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ledger.demo import FIRST_TOLD, StoryDates

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN).astimezone(UTC)


@pytest.mark.parametrize(
    ("now", "friday"),
    [
        (berlin(2026, 12, 4, 18, 0), date(2026, 12, 4)),  # Friday at 18:00: today
        (berlin(2026, 12, 4, 17, 59), date(2026, 11, 27)),  # Friday before 18:00: a week ago
        (berlin(2026, 12, 5, 9, 0), date(2026, 12, 4)),  # Saturday: yesterday
        (berlin(2026, 12, 6, 23, 59), date(2026, 12, 4)),  # Sunday night
        (berlin(2026, 12, 7, 0, 30), date(2026, 12, 4)),  # Monday just after midnight
        (berlin(2026, 12, 10, 12, 0), date(2026, 12, 4)),  # Thursday
        (berlin(2026, 1, 2, 20, 0), date(2026, 1, 2)),  # across the new year
    ],
)
def test_the_story_ends_on_the_last_friday_evening_up_to_now(now: datetime, friday: date) -> None:
    dates = StoryDates.ending(now)
    assert dates.monday == friday - timedelta(days=11)
    assert dates.monday.weekday() == 0
    assert dates.end == berlin(friday.year, friday.month, friday.day, 18)
    assert dates.start < dates.end <= now
    assert dates.now == now.replace(second=0, microsecond=0)


def test_as_first_told_the_story_is_3_to_14_march_2025() -> None:
    dates = StoryDates.ending(datetime.fromisoformat("2025-03-14T18:00:00+01:00"))
    assert dates.monday == FIRST_TOLD
    assert dates.shift == timedelta(0)
    assert dates.at(5, 12) == berlin(2025, 3, 5, 12)
    assert dates.contracts_start == date(2025, 1, 1)
    assert dates.unrenewed_start == date(2024, 3, 11)
    assert dates.period == "2025-03"


@pytest.mark.parametrize(
    ("now", "start"),
    [
        (berlin(2026, 12, 4, 20), date(2026, 9, 1)),
        (berlin(2027, 1, 8, 20), date(2026, 10, 1)),  # story from 28 December
        (berlin(2027, 2, 19, 20), date(2026, 12, 1)),
        (berlin(2027, 3, 5, 20), date(2026, 12, 1)),  # story from 22 February
        (berlin(2027, 3, 19, 20), date(2027, 1, 1)),
    ],
)
def test_the_agreements_start_two_months_before_the_story_and_run_for_months_after_now(
    now: datetime, start: date
) -> None:
    dates = StoryDates.ending(now)
    assert dates.contracts_start == start
    assert start.replace(year=start.year + 1) > now.date() + timedelta(days=240)  # a year's term
    assert dates.shift.days % 7 == 0  # releases move by whole weeks: weekdays stay


def test_the_unrenewed_agreement_lapses_on_the_second_tuesday() -> None:
    dates = StoryDates.ending(berlin(2026, 12, 4, 20))
    tuesday = dates.monday + timedelta(days=8)
    assert dates.unrenewed_start == tuesday.replace(year=tuesday.year - 1)
    leap = StoryDates.ending(berlin(2028, 3, 3, 20))  # its second Tuesday is 29 February 2028
    assert leap.monday + timedelta(days=8) == date(2028, 2, 29)
    assert leap.unrenewed_start == date(2027, 3, 1)
