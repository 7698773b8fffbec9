"""The business calendar: covered time, exact to the microsecond, across DST and holidays."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ledger.calendars import calendar_from_mapping, holiday_source
from ledger.domain.calendar import BusinessCalendar, parse_weekly
from ledger.domain.errors import (
    CalendarExhaustedError,
    InvalidCalendarError,
    InvalidDurationError,
    LedgerError,
    NaiveDatetimeError,
    UnknownHolidayRegionError,
    UnknownTimezoneError,
)
from tests.conftest import berlin, utc

WORKDAYS = ["mon", "tue", "wed", "thu", "fri"]
EVERY_DAY = [*WORKDAYS, "sat", "sun"]


def weekly(days: list[str], *windows: tuple[str, str]) -> dict[str, list[list[str]]]:
    return {d: [list(w) for w in windows] for d in days}


def make(spec: dict[str, object]) -> BusinessCalendar:
    return calendar_from_mapping(spec)


BERLIN_DE = make(
    {
        "timezone": "Europe/Berlin",
        "weekly": weekly(WORKDAYS, ("08:00", "18:00")),
        "holiday_region": "DE",
    }
)
LUNCH = make(
    {
        "timezone": "Europe/Berlin",
        "weekly": weekly(WORKDAYS, ("08:00", "12:00"), ("13:00", "17:00")),
    }
)
ALWAYS_BERLIN = make({"timezone": "Europe/Berlin", "weekly": weekly(EVERY_DAY, ("00:00", "24:00"))})
ALWAYS_SAO_PAULO = make(
    {"timezone": "America/Sao_Paulo", "weekly": weekly(EVERY_DAY, ("00:00", "24:00"))}
)
SAO_PAULO = make(
    {
        "timezone": "America/Sao_Paulo",
        "weekly": weekly(WORKDAYS, ("08:00", "18:00")),
        "holiday_region": "BR",
    }
)
SPARSE = make(
    {
        "timezone": "Asia/Kolkata",
        "weekly": {"wed": [["22:30", "24:00"]], "thu": [["00:00", "00:45"]]},
        "holidays": ["2025-01-01", "2025-01-02"],
    }
)
CALENDARS = {
    "berlin-de": BERLIN_DE,
    "lunch": LUNCH,
    "always-berlin": ALWAYS_BERLIN,
    "always-sao-paulo": ALWAYS_SAO_PAULO,
    "sao-paulo-br": SAO_PAULO,
    "sparse-kolkata": SPARSE,
}

ADD_CASES = [
    pytest.param(
        BERLIN_DE,
        berlin(2025, 12, 24, 16),
        8,
        utc(2025, 12, 29, 13),
        id="christmas-holidays-skipped",
    ),
    pytest.param(
        BERLIN_DE, berlin(2025, 3, 28, 16), 8, utc(2025, 3, 31, 12), id="dst-spring-weekend"
    ),
    pytest.param(
        BERLIN_DE, berlin(2025, 10, 24, 16), 8, utc(2025, 10, 27, 13), id="dst-autumn-weekend"
    ),
    pytest.param(BERLIN_DE, utc(2025, 3, 1, 10), 1, utc(2025, 3, 3, 8), id="start-on-saturday"),
    pytest.param(
        BERLIN_DE, berlin(2025, 3, 3, 6), 2, berlin(2025, 3, 3, 10), id="start-before-hours"
    ),
    pytest.param(
        BERLIN_DE, berlin(2025, 3, 3, 18), 1, berlin(2025, 3, 4, 9), id="start-at-window-end"
    ),
    pytest.param(
        BERLIN_DE, berlin(2025, 3, 3, 17), 1, berlin(2025, 3, 3, 18), id="ends-at-window-end"
    ),
    pytest.param(BERLIN_DE, berlin(2025, 1, 6, 8), 1000, utc(2025, 5, 28, 16), id="several-months"),
    pytest.param(LUNCH, berlin(2025, 3, 3, 11), 2, berlin(2025, 3, 3, 14), id="lunch-gap"),
    pytest.param(LUNCH, berlin(2025, 3, 3, 12, 30), 1, berlin(2025, 3, 3, 14), id="start-in-lunch"),
    pytest.param(
        ALWAYS_BERLIN, berlin(2025, 3, 30, 0), 24, utc(2025, 3, 30, 23), id="24x7-spring-day-is-23h"
    ),
    pytest.param(
        ALWAYS_BERLIN,
        berlin(2025, 10, 26, 0),
        24,
        utc(2025, 10, 26, 22),
        id="24x7-autumn-day-is-25h",
    ),
    pytest.param(
        ALWAYS_BERLIN, berlin(2025, 12, 31, 23), 2, utc(2026, 1, 1, 0), id="24x7-across-new-year"
    ),
    pytest.param(
        SAO_PAULO,
        datetime(2025, 11, 14, 17, tzinfo=ZoneInfo("America/Sao_Paulo")),
        4,
        utc(2025, 11, 17, 14),
        id="sao-paulo-weekend-and-holiday",
    ),
    pytest.param(
        ALWAYS_SAO_PAULO,
        utc(2018, 11, 3, 15),
        24,
        utc(2018, 11, 4, 15),
        id="sao-paulo-dst-starts-at-midnight",
    ),
    pytest.param(
        SAO_PAULO,
        datetime(2018, 11, 1, 17, tzinfo=ZoneInfo("America/Sao_Paulo")),
        2,
        utc(2018, 11, 5, 11),
        id="sao-paulo-across-dst-and-all-souls-day",
    ),
    pytest.param(
        SPARSE, utc(2025, 1, 1, 0), 2, utc(2025, 1, 8, 19), id="sparse-across-midnight-closed-dates"
    ),
]


@pytest.mark.parametrize(("calendar", "start", "hours", "expected"), ADD_CASES)
def test_add_ends_where_covered_time_reaches_the_target(
    calendar: BusinessCalendar, start: datetime, hours: int, expected: datetime
) -> None:
    """add() returns the earliest instant with the target of covered time since start."""
    assert calendar.add(start, timedelta(hours=hours)) == expected


@pytest.mark.parametrize(("calendar", "start", "hours", "expected"), ADD_CASES)
def test_elapsed_inverts_add_in_the_cases(
    calendar: BusinessCalendar, start: datetime, hours: int, expected: datetime
) -> None:
    """elapsed(start, add(start, d)) == d for each tabled case."""
    assert calendar.elapsed(start, expected) == timedelta(hours=hours)


def test_adding_zero_returns_the_start_itself() -> None:
    """A zero duration ends where it starts, covered or not."""
    saturday = utc(2025, 3, 1, 10)
    assert BERLIN_DE.add(saturday, timedelta(0)) == saturday


def test_results_are_utc_and_exact_to_the_microsecond() -> None:
    """Sub-second durations are counted exactly and the result is in UTC."""
    start = berlin(2025, 3, 3, 17, 59, 59, 999_999)
    end = BERLIN_DE.add(start, timedelta(microseconds=2))
    assert end == berlin(2025, 3, 4, 8, 0, 0, 1)
    assert end.tzinfo is UTC


def test_elapsed_is_zero_when_the_end_is_not_after_the_start() -> None:
    """elapsed(a, b) is zero for b <= a."""
    assert BERLIN_DE.elapsed(berlin(2025, 3, 4, 12), berlin(2025, 3, 3, 12)) == timedelta(0)


def test_elapsed_counts_a_whole_working_week() -> None:
    """A Monday-to-Monday week holds five 10-hour days."""
    assert BERLIN_DE.elapsed(berlin(2025, 3, 3), berlin(2025, 3, 10)) == timedelta(hours=50)


def test_subdivision_holidays_apply_only_in_their_region() -> None:
    """Epiphany (6 January) closes Baden-Wuerttemberg but not Germany as a whole."""
    spec = {"timezone": "Europe/Berlin", "weekly": weekly(WORKDAYS, ("08:00", "18:00"))}
    bw = make({**spec, "holiday_region": "DE-BW"})
    de = make({**spec, "holiday_region": "DE"})
    monday = berlin(2025, 1, 6, 8)
    assert de.add(monday, timedelta(hours=1)) == berlin(2025, 1, 6, 9)
    assert bw.add(monday, timedelta(hours=1)) == berlin(2025, 1, 7, 9)


def test_us_california_region_closes_its_holidays() -> None:
    """US-CA closes Cesar Chavez Day (31 March 2025)."""
    cal = make(
        {
            "timezone": "America/Los_Angeles",
            "weekly": weekly(WORKDAYS, ("09:00", "17:00")),
            "holiday_region": "us-ca",
        }
    )
    la = ZoneInfo("America/Los_Angeles")
    assert cal.add(datetime(2025, 3, 31, 9, tzinfo=la), timedelta(hours=1)) == datetime(
        2025, 4, 1, 10, tzinfo=la
    )


def test_extra_windows_add_covered_time_outside_the_week() -> None:
    """An appointment on a Saturday is covered time; overlap with regular hours counts once."""
    cal = make(
        {
            "timezone": "Europe/Berlin",
            "weekly": weekly(WORKDAYS, ("08:00", "18:00")),
            "extra_windows": [
                ["2025-03-01T10:00:00+01:00", "2025-03-01T12:00:00+01:00"],
                ["2025-03-03T17:00:00+01:00", "2025-03-03T20:00:00+01:00"],
            ],
        }
    )
    assert cal.add(berlin(2025, 3, 1, 9), timedelta(hours=3)) == berlin(2025, 3, 3, 9)
    assert cal.elapsed(berlin(2025, 3, 3, 0), berlin(2025, 3, 4, 0)) == timedelta(hours=12)


def test_explain_lists_windows_counted_and_holidays_skipped() -> None:
    """The explanation names each stretch counted and each open weekday skipped as a holiday."""
    explanation = BERLIN_DE.explain(berlin(2025, 12, 24, 16), timedelta(hours=8))
    assert [(s.start, s.end) for s in explanation.segments] == [
        (berlin(2025, 12, 24, 16), berlin(2025, 12, 24, 18)),
        (berlin(2025, 12, 29, 8), berlin(2025, 12, 29, 14)),
    ]
    assert [d for d, _ in explanation.skipped] == [date(2025, 12, 25), date(2025, 12, 26)]
    assert sum(s.seconds for s in explanation.segments) == 8 * 3600


def test_far_future_and_past_years_are_computed_on_demand() -> None:
    """The calendar works for any year, not only the ones it has seen."""
    assert BERLIN_DE.add(berlin(2091, 3, 5, 17), timedelta(hours=2)) == berlin(2091, 3, 6, 9)
    assert BERLIN_DE.add(berlin(1999, 12, 31, 17), timedelta(hours=2)) == berlin(2000, 1, 3, 9)


# -- bad input -------------------------------------------------------------------------------


def test_a_naive_start_is_refused() -> None:
    """A datetime without offset is an error, not silently local or UTC."""
    with pytest.raises(NaiveDatetimeError, match="no UTC offset"):
        BERLIN_DE.add(datetime(2025, 3, 3, 9), timedelta(hours=1))


def test_a_negative_duration_is_refused() -> None:
    """Negative durations are errors."""
    with pytest.raises(InvalidDurationError, match="negative"):
        BERLIN_DE.add(berlin(2025, 3, 3, 9), timedelta(hours=-1))


BAD_CALENDARS = [
    pytest.param(
        {"timezone": "Europe/Berlin", "weekly": {"mon": [["18:00", "08:00"]]}},
        InvalidCalendarError,
        "ends before it starts",
        id="reversed-window",
    ),
    pytest.param(
        {"timezone": "Europe/Berlin", "weekly": {"mon": [["08:00", "12:00"], ["11:00", "13:00"]]}},
        InvalidCalendarError,
        "overlap",
        id="overlapping-windows",
    ),
    pytest.param(
        {"timezone": "Europe/Berlin", "weekly": {"mon": [["24:00", "24:00"]]}},
        InvalidCalendarError,
        "only as the end",
        id="24-as-start",
    ),
    pytest.param(
        {"timezone": "Europe/Berlin", "weekly": {"mon": [["8am", "18:00"]]}},
        InvalidCalendarError,
        "not a time of day",
        id="malformed-time",
    ),
    pytest.param(
        {"timezone": "Europe/Berlin", "weekly": {"monday": [["08:00", "18:00"]]}},
        InvalidCalendarError,
        "unknown weekday 'monday'",
        id="unknown-weekday",
    ),
    pytest.param(
        {"timezone": "Mars/Olympus", "weekly": {"mon": [["08:00", "18:00"]]}},
        UnknownTimezoneError,
        "Mars/Olympus",
        id="unknown-zone",
    ),
    pytest.param(
        {
            "timezone": "Europe/Berlin",
            "weekly": {"mon": [["08:00", "18:00"]]},
            "holiday_region": "XX",
        },
        UnknownHolidayRegionError,
        "'XX'",
        id="unknown-country",
    ),
    pytest.param(
        {
            "timezone": "Europe/Berlin",
            "weekly": {"mon": [["08:00", "18:00"]]},
            "holiday_region": "DE-ZZ",
        },
        UnknownHolidayRegionError,
        "'DE-ZZ'",
        id="unknown-subdivision",
    ),
    pytest.param(
        {"timezone": "Europe/Berlin", "weekly": {}},
        InvalidCalendarError,
        "no covered time",
        id="nothing-covered",
    ),
    pytest.param(
        {
            "timezone": "Europe/Berlin",
            "weekly": {"mon": [["08:00", "18:00"]]},
            "holidays": ["24.12."],
        },
        LedgerError,
        "not a date",
        id="malformed-holiday",
    ),
    pytest.param(
        {
            "timezone": "Europe/Berlin",
            "weekly": {},
            "extra_windows": [["2025-03-01T10:00:00", "2025-03-01T12:00:00+01:00"]],
        },
        NaiveDatetimeError,
        "extra_windows",
        id="naive-extra-window",
    ),
    pytest.param(
        {
            "timezone": "Europe/Berlin",
            "weekly": {},
            "extra_windows": [
                ["2025-03-01T10:00:00Z", "2025-03-01T12:00:00Z"],
                ["2025-03-01T11:00:00Z", "2025-03-01T13:00:00Z"],
            ],
        },
        InvalidCalendarError,
        "overlap",
        id="overlapping-extra-windows",
    ),
    pytest.param(
        {"timezone": "Europe/Berlin", "weekly": {}, "extra": []},
        InvalidCalendarError,
        "unknown key 'extra'",
        id="unknown-key",
    ),
    pytest.param({"weekly": {}}, InvalidCalendarError, "missing 'timezone'", id="no-timezone"),
]


@pytest.mark.parametrize(("spec", "error", "message"), BAD_CALENDARS)
def test_bad_calendars_are_refused_with_the_problem_named(
    spec: dict[str, object], error: type[LedgerError], message: str
) -> None:
    """Each malformed calendar raises a LedgerError whose message names the problem."""
    with pytest.raises(error, match=message):
        make(spec)


def test_a_target_beyond_finite_coverage_is_an_error_not_a_loop() -> None:
    """With only extra windows, a duration past their end raises instead of searching forever."""
    cal = make(
        {
            "timezone": "Europe/Berlin",
            "weekly": {},
            "extra_windows": [["2025-03-01T10:00:00Z", "2025-03-01T12:00:00Z"]],
        }
    )
    assert cal.add(utc(2025, 1, 1), timedelta(hours=2)) == utc(2025, 3, 1, 12)
    with pytest.raises(CalendarExhaustedError, match="covered time ends"):
        cal.add(utc(2025, 1, 1), timedelta(hours=3))


def test_holiday_source_of_none_means_no_holidays() -> None:
    """An empty or 'none' region closes nothing."""
    assert holiday_source(None) is None
    assert holiday_source("none") is None


def test_weekly_parser_sorts_windows_within_a_day() -> None:
    """Windows may be listed in any order within a day."""
    parsed = parse_weekly({"mon": [["13:00", "17:00"], ["08:00", "12:00"]]})
    assert parsed[0] == ((8 * 3600, 12 * 3600), (13 * 3600, 17 * 3600))


# -- properties ------------------------------------------------------------------------------

STARTS = st.datetimes(
    min_value=datetime(2015, 1, 1),
    max_value=datetime(2030, 12, 31),
    timezones=st.just(UTC),
)
DURATIONS = st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=3000))
NAMES = st.sampled_from(sorted(CALENDARS))


@settings(max_examples=300, deadline=None)
@given(name=NAMES, start=STARTS, duration=DURATIONS)
def test_result_lies_in_covered_time_or_at_a_window_end(
    name: str, start: datetime, duration: timedelta
) -> None:
    """For a positive duration, the instant just before the result is covered."""
    assume(duration > timedelta(0))
    cal = CALENDARS[name]
    end = cal.add(start, duration)
    assert end > start
    assert cal.is_covered(end - timedelta(microseconds=1))


@settings(max_examples=300, deadline=None)
@given(name=NAMES, start=STARTS, a=DURATIONS, b=DURATIONS)
def test_add_is_monotonic_in_start_and_duration(
    name: str, start: datetime, a: timedelta, b: timedelta
) -> None:
    """A later start or a longer duration never gives an earlier result."""
    cal = CALENDARS[name]
    short, long_ = sorted([a, b])
    assert cal.add(start, short) <= cal.add(start, long_)
    assert cal.add(start, a) <= cal.add(start + b, a)


@settings(max_examples=300, deadline=None)
@given(name=NAMES, start=STARTS, a=DURATIONS, b=DURATIONS)
def test_adding_in_two_steps_equals_adding_the_sum(
    name: str, start: datetime, a: timedelta, b: timedelta
) -> None:
    """add(add(s, a), b) == add(s, a + b)."""
    cal = CALENDARS[name]
    assert cal.add(cal.add(start, a), b) == cal.add(start, a + b)


@settings(max_examples=300, deadline=None)
@given(name=NAMES, start=STARTS, duration=DURATIONS)
def test_elapsed_is_the_inverse_of_add(name: str, start: datetime, duration: timedelta) -> None:
    """elapsed(s, add(s, d)) == d."""
    cal = CALENDARS[name]
    assert cal.elapsed(start, cal.add(start, duration)) == duration


def reference_elapsed(
    zone: ZoneInfo,
    windows: tuple[tuple[int, int], ...],
    closed: set[date],
    a: datetime,
    b: datetime,
) -> timedelta:
    """Covered time summed day by day with zoneinfo, independently of the calendar's index."""
    total = timedelta(0)
    day = a.astimezone(zone).date() - timedelta(days=1)
    last = b.astimezone(zone).date() + timedelta(days=1)
    while day <= last:
        if day.weekday() < 5 and day not in closed:
            for s, e in windows:
                midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
                ws, we = midnight + timedelta(seconds=s), midnight + timedelta(seconds=e)
                lo, hi = max(ws, a), min(we, b)
                if lo < hi:
                    total += hi - lo
        day += timedelta(days=1)
    return total


@settings(max_examples=300, deadline=None)
@given(start=STARTS, length=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=60)))
def test_elapsed_agrees_with_a_day_by_day_reference(start: datetime, length: timedelta) -> None:
    """The indexed calendar and a naive day-by-day sum agree on covered time."""
    zone = ZoneInfo("Europe/Berlin")
    source = holiday_source("DE")
    assert source is not None
    closed = {d for y in range(2014, 2032) for d in source.holidays(y)}
    for cal, windows in [
        (BERLIN_DE, ((8 * 3600, 18 * 3600),)),
        (
            make(
                {
                    "timezone": "Europe/Berlin",
                    "weekly": weekly(WORKDAYS, ("08:00", "12:00"), ("13:00", "17:00")),
                    "holiday_region": "DE",
                }
            ),
            ((8 * 3600, 12 * 3600), (13 * 3600, 17 * 3600)),
        ),
    ]:
        expected = reference_elapsed(zone, windows, closed, start, start + length)
        assert cal.elapsed(start, start + length) == expected
