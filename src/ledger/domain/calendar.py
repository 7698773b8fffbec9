"""Business calendar: covered time as exact integer arithmetic over UTC instants.

A calendar is a timezone, weekly windows per weekday (several a day, `24:00` allowed as an
end), closed dates (public holidays and an explicit list) and extra covered windows given as
absolute instants (appointments). Covered time is the union of the weekly windows on open
dates and the extra windows.

The calendar turns its windows into sorted UTC intervals in microseconds, one local year at a
time and only for the years asked about, with a running total of covered time. `add` and
`elapsed` are then two binary searches and some integer arithmetic: exact to the microsecond,
and as cheap for a target of months as for one of hours. Wall-clock windows are converted with
the IANA rules of the calendar's zone, so elapsed time across DST is real elapsed time; a wall
time that does not exist or exists twice resolves as PEP 495 does with `fold=0`.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ledger.domain.errors import (
    CalendarExhaustedError,
    InvalidCalendarError,
    InvalidDurationError,
    NaiveDatetimeError,
    UnknownTimezoneError,
)
from ledger.domain.terms import WEEKDAY_NAMES, DayWindows, WeeklyWindows

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
SECOND_US = 1_000_000
DAY_SECONDS = 86_400
# How far beyond the instant asked about the calendar looks for covered time before giving up.
SEARCH_LIMIT_YEARS = 100


def require_aware(value: datetime, name: str = "instant") -> datetime:
    """`value` itself, or NaiveDatetimeError when it has no UTC offset."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetimeError(
            f"{name} {value.isoformat()} has no UTC offset; give one, e.g. Z or +01:00"
        )
    return value


def to_us(value: datetime) -> int:
    """Microseconds since the Unix epoch of an aware instant (a naive one cannot be taken from
    the aware epoch: it is refused as `require_aware` refuses it)."""
    try:
        return (value - EPOCH) // MICROSECOND
    except TypeError:
        require_aware(value)
        raise


def from_us(us: int) -> datetime:
    """The aware UTC instant `us` microseconds after the Unix epoch."""
    return EPOCH + timedelta(0, 0, us)  # positional: a third faster than by keyword


def parse_clock(text: str, *, allow_24: bool, where: str) -> int:
    """Seconds since midnight of a wall time `HH:MM` or `HH:MM:SS`; `24:00` only when allowed."""
    parts = str(text).strip().split(":")
    if len(parts) not in (2, 3) or not all(p.isdigit() and len(p) == 2 for p in parts):
        raise InvalidCalendarError(f"{where}: {text!r} is not a time of day like 08:00 or 17:30:00")
    hours, minutes, seconds = (int(p) for p in [*parts, "00"][:3])
    if hours == 24 and minutes == 0 and seconds == 0:
        if not allow_24:
            raise InvalidCalendarError(f"{where}: 24:00 is allowed only as the end of a window")
        return DAY_SECONDS
    if hours > 23 or minutes > 59 or seconds > 59:
        raise InvalidCalendarError(f"{where}: {text!r} is not a valid time of day")
    return hours * 3600 + minutes * 60 + seconds


def format_clock(seconds: int) -> str:
    """`HH:MM` (or `HH:MM:SS`) for seconds since midnight."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")


def parse_weekly(spec: Mapping[str, object], *, where: str = "weekly") -> WeeklyWindows:
    """Weekly windows from `{"mon": [["08:00", "18:00"], ...], ...}`, validated per day."""
    if not isinstance(spec, dict):
        raise InvalidCalendarError(f"{where}: expected a table of weekdays, got {spec!r}")
    unknown = sorted(set(spec) - set(WEEKDAY_NAMES))
    if unknown:
        raise InvalidCalendarError(
            f"{where}: unknown weekday {unknown[0]!r}; use {', '.join(WEEKDAY_NAMES)}"
        )
    days: list[DayWindows] = []
    for name in WEEKDAY_NAMES:
        raw = spec.get(name, [])
        if not isinstance(raw, list):
            raise InvalidCalendarError(f"{where}.{name}: expected a list of [start, end] pairs")
        windows: list[tuple[int, int]] = []
        for index, pair in enumerate(raw):
            here = f"{where}.{name}[{index}]"
            if not isinstance(pair, list | tuple) or len(pair) != 2:
                raise InvalidCalendarError(f"{here}: expected [start, end], got {pair!r}")
            start = parse_clock(str(pair[0]), allow_24=False, where=here)
            end = parse_clock(str(pair[1]), allow_24=True, where=here)
            if end <= start:
                raise InvalidCalendarError(
                    f"{here}: window {pair[0]}-{pair[1]} ends before it starts"
                )
            windows.append((start, end))
        days.append(validate_day_windows(windows, where=f"{where}.{name}"))
    return (days[0], days[1], days[2], days[3], days[4], days[5], days[6])


def validate_day_windows(windows: Iterable[tuple[int, int]], *, where: str) -> DayWindows:
    """The windows of one day sorted, refusing reversed or overlapping ones."""
    ordered = sorted(windows)
    for start, end in ordered:
        if not 0 <= start < end <= DAY_SECONDS:
            raise InvalidCalendarError(
                f"{where}: window {format_clock(start)}-{format_clock(end)} is not within a day"
            )
    for (s1, e1), (s2, e2) in pairwise(ordered):
        if s2 < e1:
            raise InvalidCalendarError(
                f"{where}: windows {format_clock(s1)}-{format_clock(e1)} and "
                f"{format_clock(s2)}-{format_clock(e2)} overlap"
            )
    return tuple(ordered)


def load_zone(name: str) -> ZoneInfo:
    """The IANA zone `name`, or UnknownTimezoneError."""
    problem = UnknownTimezoneError(
        f"unknown timezone {name!r}; use an IANA name such as Europe/Berlin"
    )
    if not name or name != name.strip() or name.startswith(("/", ".")) or ".." in name:
        raise problem
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise problem from None


class HolidaySource(Protocol):
    """Public holidays of a region, per year (provided outside the domain)."""

    @property
    def region(self) -> str:
        """The region code, e.g. DE or DE-BW."""
        ...

    def holidays(self, year: int) -> Mapping[date, str]:
        """The holidays in `year`, by local date, with their names."""
        ...


@dataclass(frozen=True)
class Segment:
    """A stretch of covered time counted toward a target."""

    start: datetime
    end: datetime
    seconds: float
    appointment: bool


@dataclass(frozen=True)
class Explanation:
    """Why an `add` ends where it ends: the covered stretches counted and the dates skipped."""

    start: datetime
    counted_from: datetime
    end: datetime
    duration: timedelta
    segments: tuple[Segment, ...]
    skipped: tuple[tuple[date, str], ...]


@dataclass(frozen=True)
class _Span:
    """Precomputed covered intervals for local years first_year..last_year (inclusive)."""

    first_year: int
    last_year: int
    lo: int  # UTC microseconds of the first year's local midnight of January 1st
    hi: int  # UTC microseconds of the local midnight after the last year
    starts: list[int]
    ends: list[int]
    cum: list[int]  # covered microseconds before starts[i], relative to lo
    cum_end: list[int]  # covered microseconds before ends[i], relative to lo

    def covered_before(self, us: int) -> int:
        """Covered microseconds in [lo, us); `us` must lie within [lo, hi]."""
        i = bisect_right(self.starts, us) - 1
        if i < 0:
            return 0
        end = self.ends[i]
        return self.cum[i] + (min(end, us)) - self.starts[i]

    @property
    def total(self) -> int:
        return self.cum_end[-1] if self.cum_end else 0


@dataclass
class _YearCache:
    intervals: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    bounds: dict[int, int] = field(default_factory=dict)


class BusinessCalendar:
    """Covered time of a timezone, weekly windows, closed dates and extra windows.

    Immutable from the outside; internally it extends its precomputed years on demand
    (thread-safe), so one instance can be shared and cached.
    """

    def __init__(
        self,
        *,
        timezone: str,
        weekly: WeeklyWindows,
        closed_dates: Mapping[date, str] | None = None,
        holiday_source: HolidaySource | None = None,
        extra_windows: Sequence[tuple[datetime, datetime]] = (),
    ) -> None:
        self.timezone = timezone
        self.zone = load_zone(timezone)
        if len(weekly) != 7:
            raise InvalidCalendarError("weekly windows must name all seven weekdays")
        self.weekly: WeeklyWindows = tuple(  # type: ignore[assignment]
            validate_day_windows(day, where=f"weekly.{name}")
            for name, day in zip(WEEKDAY_NAMES, weekly, strict=True)
        )
        self.closed_dates: dict[date, str] = dict(closed_dates or {})
        self.holiday_source = holiday_source
        windows = []
        for index, (start, end) in enumerate(extra_windows):
            require_aware(start, f"extra_windows[{index}] start")
            require_aware(end, f"extra_windows[{index}] end")
            if end <= start:
                raise InvalidCalendarError(
                    f"extra_windows[{index}]: {start.isoformat()} - {end.isoformat()} "
                    "ends before it starts"
                )
            windows.append((to_us(start), to_us(end)))
        windows.sort()
        for (s1, e1), (s2, _e2) in pairwise(windows):
            if s2 < e1:
                raise InvalidCalendarError(
                    f"extra windows overlap: {from_us(s1).isoformat()} - "
                    f"{from_us(e1).isoformat()} and one starting {from_us(s2).isoformat()}"
                )
        self.extra_windows: tuple[tuple[int, int], ...] = tuple(windows)
        self.has_weekly = any(self.weekly)
        if not self.has_weekly and not self.extra_windows:
            raise InvalidCalendarError("the calendar has no covered time at all")
        self._lock = threading.Lock()
        self._years = _YearCache()
        self._span: _Span | None = None

    # -- description -------------------------------------------------------------------------

    @property
    def holiday_region(self) -> str | None:
        """The region whose public holidays close the calendar, if any."""
        return self.holiday_source.region if self.holiday_source else None

    def describe(self) -> dict[str, object]:
        """The calendar as plain data, in the shape of a calendar file."""
        data: dict[str, object] = {
            "timezone": self.timezone,
            "weekly": {
                name: [[format_clock(s), format_clock(e)] for s, e in day]
                for name, day in zip(WEEKDAY_NAMES, self.weekly, strict=True)
                if day
            },
        }
        if self.closed_dates:
            data["holidays"] = [d.isoformat() for d in sorted(self.closed_dates)]
        if self.holiday_region:
            data["holiday_region"] = self.holiday_region
        if self.extra_windows:
            data["extra_windows"] = [
                [from_us(s).isoformat(), from_us(e).isoformat()] for s, e in self.extra_windows
            ]
        return data

    def with_extra_windows(self, windows: Sequence[tuple[datetime, datetime]]) -> BusinessCalendar:
        """The same calendar with `windows` as its extra covered windows."""
        return BusinessCalendar(
            timezone=self.timezone,
            weekly=self.weekly,
            closed_dates=self.closed_dates,
            holiday_source=self.holiday_source,
            extra_windows=windows,
        )

    # -- the arithmetic ----------------------------------------------------------------------

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The earliest instant at which covered time since `start` equals `duration` (UTC)."""
        return from_us(self._add_us(to_us(start), _duration_us(duration)))

    def add_all(self, start: datetime, durations: Sequence[timedelta]) -> list[datetime]:
        """`add(start, d)` for every d, in one pass: the start is located once for all."""
        start_us = to_us(start)
        wanted = [_duration_us(d) for d in durations]
        span = self._span_covering(start_us, start_us)
        base = span.covered_before(start_us)
        found = []
        for duration_us in wanted:
            if duration_us == 0:
                found.append(from_us(start_us))
                continue
            target = base + duration_us
            while not (span.cum_end and target <= span.cum_end[-1]):
                span = self._extend_forward(span, start_us, target - span.total)
                base = span.covered_before(start_us)
                target = base + duration_us
            j = bisect_left(span.cum_end, target)
            found.append(from_us(span.starts[j] + target - span.cum[j]))
        return found

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Covered time in [start, end); zero when end <= start."""
        return timedelta(microseconds=self.elapsed_us(to_us(start), to_us(end)))

    def elapsed_us(self, start_us: int, end_us: int) -> int:
        """Covered microseconds in [start_us, end_us); zero when end_us <= start_us."""
        if end_us <= start_us:
            return 0
        span = self._span_covering(start_us, end_us)
        return span.covered_before(end_us) - span.covered_before(start_us)

    def add_us(self, start_us: int, duration_us: int) -> int:
        """`add` on microseconds since the epoch."""
        if duration_us < 0:
            raise InvalidDurationError(f"duration must not be negative, got {duration_us} µs")
        return self._add_us(start_us, duration_us)

    def _add_us(self, start_us: int, duration_us: int) -> int:
        if duration_us == 0:
            return start_us
        span = self._span_covering(start_us, start_us)
        while True:
            target = span.covered_before(start_us) + duration_us
            if span.cum_end and target <= span.cum_end[-1]:
                j = bisect_left(span.cum_end, target)
                return span.starts[j] + target - span.cum[j]
            span = self._extend_forward(span, start_us, target - span.total)

    def is_covered(self, instant: datetime) -> bool:
        """Whether `instant` lies inside covered time (window starts included, ends excluded)."""
        us = to_us(instant)
        span = self._span_covering(us, us)
        i = bisect_right(span.starts, us) - 1
        return i >= 0 and us < span.ends[i]

    def next_covered(self, instant: datetime) -> datetime:
        """`instant` if it is covered, else the start of the next covered stretch."""
        us = to_us(instant)
        span = self._span_covering(us, us)
        while True:
            i = bisect_right(span.starts, us) - 1
            if i >= 0 and us < span.ends[i]:
                return from_us(us)
            if i + 1 < len(span.starts):
                return from_us(span.starts[i + 1])
            span = self._extend_forward(span, us, 1)

    def intervals(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The covered stretches within [start, end), clipped to it, in order."""
        for s, e in self._intervals_us(to_us(start), to_us(end)):
            yield from_us(s), from_us(e)

    def _intervals_us(self, start_us: int, end_us: int) -> Iterator[tuple[int, int]]:
        if end_us <= start_us:
            return
        span = self._span_covering(start_us, end_us)
        i = max(bisect_right(span.starts, start_us) - 1, 0)
        while i < len(span.starts) and span.starts[i] < end_us:
            s, e = max(span.starts[i], start_us), min(span.ends[i], end_us)
            if s < e:
                yield s, e
            i += 1

    def explain(self, start: datetime, duration: timedelta) -> Explanation:
        """The result of `add` with the stretches counted and the open weekdays skipped."""
        start_us = to_us(start)
        end_us = self._add_us(start_us, _duration_us(duration))
        segments = []
        for s, e in self._intervals_us(start_us, end_us):
            appointment = any(xs < e and s < xe for xs, xe in self.extra_windows)
            segments.append(
                Segment(from_us(s), from_us(e), (e - s) / SECOND_US, appointment=appointment)
            )
        counted_from = segments[0].start if segments else from_us(end_us)
        first = from_us(start_us).astimezone(self.zone).date()
        last = from_us(end_us).astimezone(self.zone).date()
        skipped = tuple(
            (day, name)
            for day, name in self.closed_between(first, last)
            if self.weekly[day.weekday()]
        )
        return Explanation(
            start=from_us(start_us),
            counted_from=counted_from,
            end=from_us(end_us),
            duration=duration,
            segments=tuple(segments),
            skipped=skipped,
        )

    def closed_between(self, first: date, last: date) -> list[tuple[date, str]]:
        """Closed dates (holidays and the explicit list) from `first` to `last` inclusive."""
        found: list[tuple[date, str]] = []
        for year in range(first.year, last.year + 1):
            found.extend(
                (day, name)
                for day, name in self._closed_for_year(year).items()
                if first <= day <= last
            )
        return sorted(found)

    # -- precomputation ----------------------------------------------------------------------

    def _closed_for_year(self, year: int) -> dict[date, str]:
        closed = {d: n for d, n in self.closed_dates.items() if d.year == year}
        if self.holiday_source is not None:
            for day, name in self.holiday_source.holidays(year).items():
                closed.setdefault(day, name)
        return closed

    def _local_us(self, day: date, seconds: int) -> int:
        """UTC microseconds of a wall time; a wall time skipped by DST maps to the transition."""
        wall = datetime(day.year, day.month, day.day, tzinfo=self.zone) + timedelta(seconds=seconds)
        us = (wall - EPOCH) // MICROSECOND
        before, after = wall.utcoffset(), wall.replace(fold=1).utcoffset()
        if before is not None and after is not None and before < after:
            # In a gap: fold=0 reads it with the offset before the jump, which lands past the
            # transition by the wall time's distance into the gap. Find the transition instant.
            lo, hi = us - (after - before) // MICROSECOND, us
            while hi - lo > SECOND_US:
                mid = (lo + hi) // 2
                if from_us(mid).astimezone(self.zone).utcoffset() == after:
                    hi = mid
                else:
                    lo = mid
            return hi - hi % SECOND_US  # transitions fall on whole seconds
        return us

    def _year_bounds(self, year: int) -> int:
        """UTC microseconds of local midnight starting January 1st of `year`."""
        cached = self._years.bounds.get(year)
        if cached is None:
            cached = self._local_us(date(year, 1, 1), 0)
            self._years.bounds[year] = cached
        return cached

    def _year_intervals(self, year: int) -> list[tuple[int, int]]:
        cached = self._years.intervals.get(year)
        if cached is not None:
            return cached
        closed = self._closed_for_year(year)
        weekly: list[tuple[int, int]] = []
        if self.has_weekly:
            day = date(year, 1, 1)
            one_day = timedelta(days=1)
            while day.year == year:
                if day not in closed:
                    for s, e in self.weekly[day.weekday()]:
                        start_us, end_us = self._local_us(day, s), self._local_us(day, e)
                        if start_us < end_us:
                            weekly.append((start_us, end_us))
                day += one_day
        lo, hi = self._year_bounds(year), self._year_bounds(year + 1)
        extra = [(max(s, lo), min(e, hi)) for s, e in self.extra_windows if s < hi and lo < e]
        merged = _union(weekly, extra)
        self._years.intervals[year] = merged
        return merged

    def _year_of(self, us: int) -> int:
        return from_us(us).astimezone(self.zone).year

    def _span_covering(self, start_us: int, end_us: int) -> _Span:
        span = self._span
        if span is not None and span.lo <= start_us and end_us <= span.hi:
            return span
        with self._lock:
            span = self._span
            first = self._year_of(start_us)
            last = self._year_of(end_us)
            if span is not None:
                first, last = min(first, span.first_year), max(last, span.last_year)
            return self._build_span(first, last)

    def _extend_forward(self, span: _Span, start_us: int, missing_us: int) -> _Span:
        """A span reaching further, so that `missing_us` more covered time may be found."""
        if not self.has_weekly:
            last_extra = self.extra_windows[-1][1]
            last = self._year_of(last_extra)
            if last <= span.last_year:
                raise CalendarExhaustedError(
                    "the calendar's covered time ends at "
                    f"{from_us(last_extra).isoformat()}; the duration cannot be reached from "
                    f"{from_us(start_us).isoformat()}"
                )
        else:
            per_year = max(span.total // (span.last_year - span.first_year + 1), 1)
            last = span.last_year + max(1, -(-missing_us // per_year))
        if last - self._year_of(start_us) > SEARCH_LIMIT_YEARS:
            raise CalendarExhaustedError(
                f"no covered time reaches the duration within {SEARCH_LIMIT_YEARS} years of "
                f"{from_us(start_us).isoformat()}"
            )
        with self._lock:
            current = self._span or span
            return self._build_span(
                min(current.first_year, span.first_year), max(current.last_year, last)
            )

    def _build_span(self, first_year: int, last_year: int) -> _Span:
        if not first_year >= 1 or last_year >= 9999:
            raise CalendarExhaustedError("instants must lie between the years 1 and 9998")
        starts: list[int] = []
        ends: list[int] = []
        cum: list[int] = []
        cum_end: list[int] = []
        total = 0
        for year in range(first_year, last_year + 1):
            for s, e in self._year_intervals(year):
                if starts and s <= ends[-1]:  # touching across a year boundary: one stretch
                    total += e - ends[-1]
                    ends[-1] = e
                    cum_end[-1] = total
                    continue
                starts.append(s)
                ends.append(e)
                cum.append(total)
                total += e - s
                cum_end.append(total)
        span = _Span(
            first_year=first_year,
            last_year=last_year,
            lo=self._year_bounds(first_year),
            hi=self._year_bounds(last_year + 1),
            starts=starts,
            ends=ends,
            cum=cum,
            cum_end=cum_end,
        )
        self._span = span
        return span


_NO_TIME = timedelta(0)


def _duration_us(duration: timedelta) -> int:
    if not isinstance(duration, timedelta):
        raise InvalidDurationError(f"duration must be a timedelta, got {duration!r}")
    if duration < _NO_TIME:
        raise InvalidDurationError(f"duration must not be negative, got {duration}")
    return duration // MICROSECOND


def _union(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted union of two interval lists, touching or overlapping intervals merged."""
    merged: list[tuple[int, int]] = []
    for s, e in sorted(a + b):
        if merged and s <= merged[-1][1]:
            if e > merged[-1][1]:
                merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return merged
