"""Calendars from the outside world: holiday regions, calendar files and contract calendars.

The domain calendar is pure arithmetic; this module feeds it public holidays from the
`holidays` package, reads calendar files (JSON or TOML) and builds the calendar a contract
gets from its terms, cached because calendars are shared by many tickets.
"""

from __future__ import annotations

import json
import threading
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import holidays as holidays_package

from ledger.domain.calendar import BusinessCalendar, parse_weekly
from ledger.domain.errors import InvalidCalendarError, UnknownHolidayRegionError
from ledger.parsing import parse_date, parse_instant

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import date, datetime

    from ledger.domain.terms import Terms, TierTerms

CALENDAR_KEYS = {"timezone", "weekly", "holidays", "holiday_region", "extra_windows"}


class RegionHolidays:
    """Public holidays of a country (`DE`) or subdivision (`DE-BW`, `US-CA`), per year."""

    def __init__(self, region: str) -> None:
        code = region.strip().upper()
        country, _, subdivision = code.partition("-")
        self.region = code
        self._country = country
        self._subdivision = subdivision or None
        self._cache: dict[int, dict[date, str]] = {}
        self._lock = threading.Lock()
        self._language: str | None = None
        try:
            probe = holidays_package.country_holidays(country, subdiv=self._subdivision)
        except (NotImplementedError, KeyError, ValueError):
            raise UnknownHolidayRegionError(
                f"unknown holiday region {region!r}; use a country code such as DE or a "
                "country-subdivision code such as DE-BW or US-CA"
            ) from None
        languages = getattr(probe, "supported_languages", ()) or ()
        self._language = "en_US" if "en_US" in languages else None

    def holidays(self, year: int) -> Mapping[date, str]:
        """The public holidays of `year` with their names."""
        cached = self._cache.get(year)
        if cached is None:
            found = holidays_package.country_holidays(
                self._country, subdiv=self._subdivision, years=year, language=self._language
            )
            cached = {day: str(name) for day, name in sorted(found.items()) if day.year == year}
            with self._lock:
                self._cache[year] = cached
        return cached


@lru_cache(maxsize=128)
def region_holidays(region: str) -> RegionHolidays:
    """The (shared, cached) holidays of a region."""
    return RegionHolidays(region)


def holiday_source(region: str | None) -> RegionHolidays | None:
    """The holidays of `region`; none for an empty region or `none`."""
    if region is None or region.strip().lower() in {"", "none"}:
        return None
    return region_holidays(region.strip().upper())


def calendar_from_mapping(data: Any, *, where: str = "calendar") -> BusinessCalendar:
    """A calendar from the file format: timezone, weekly, and optional holidays,
    holiday_region and extra_windows."""
    if not isinstance(data, dict):
        raise InvalidCalendarError(f"{where}: expected a table with timezone and weekly")
    unknown = sorted(set(data) - CALENDAR_KEYS)
    if unknown:
        raise InvalidCalendarError(
            f"{where}: unknown key {unknown[0]!r}; expected {', '.join(sorted(CALENDAR_KEYS))}"
        )
    for key in ("timezone", "weekly"):
        if key not in data:
            raise InvalidCalendarError(f"{where}: missing {key!r}")
    if not isinstance(data["timezone"], str):
        raise InvalidCalendarError(f"{where}.timezone: expected an IANA name such as Europe/Berlin")
    weekly = parse_weekly(data["weekly"], where=f"{where}.weekly")
    raw_holidays = data.get("holidays", [])
    if not isinstance(raw_holidays, list):
        raise InvalidCalendarError(f"{where}.holidays: expected a list of dates")
    closed = {
        parse_date(str(d), f"{where}.holidays[{i}]"): "closed" for i, d in enumerate(raw_holidays)
    }
    region = data.get("holiday_region")
    if region is not None and not isinstance(region, str):
        raise InvalidCalendarError(f"{where}.holiday_region: expected a code such as DE or DE-BW")
    raw_windows = data.get("extra_windows", [])
    if not isinstance(raw_windows, list):
        raise InvalidCalendarError(f"{where}.extra_windows: expected a list of [start, end] pairs")
    windows: list[tuple[datetime, datetime]] = []
    for i, pair in enumerate(raw_windows):
        if not isinstance(pair, list) or len(pair) != 2:
            raise InvalidCalendarError(f"{where}.extra_windows[{i}]: expected [start, end]")
        windows.append(
            (
                parse_instant(str(pair[0]), f"{where}.extra_windows[{i}] start"),
                parse_instant(str(pair[1]), f"{where}.extra_windows[{i}] end"),
            )
        )
    return BusinessCalendar(
        timezone=data["timezone"],
        weekly=weekly,
        closed_dates=closed,
        holiday_source=holiday_source(region),
        extra_windows=windows,
    )


def load_calendar_file(path: str | Path) -> BusinessCalendar:
    """A calendar read from a JSON or TOML file (by extension; JSON is tried first otherwise)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidCalendarError(
            f"{file}: cannot read the calendar file ({exc.strerror})"
        ) from None
    data: Any
    if file.suffix.lower() == ".toml":
        data = _toml(text, file)
    elif file.suffix.lower() == ".json":
        data = _json(text, file)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = _toml(text, file)
    return calendar_from_mapping(data, where=str(file))


def _json(text: str, file: Path) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidCalendarError(f"{file}: not valid JSON: {exc}") from None


def _toml(text: str, file: Path) -> Any:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidCalendarError(f"{file}: not valid TOML (nor JSON): {exc}") from None


_contract_calendars: dict[tuple[object, ...], BusinessCalendar] = {}
_contract_lock = threading.Lock()
_CONTRACT_CACHE_SIZE = 512


def contract_calendar(
    tier: TierTerms,
    *,
    timezone: str,
    holiday_region: str | None,
    appointments: Sequence[tuple[datetime, datetime]] = (),
) -> BusinessCalendar:
    """The calendar of a contract: the tier's coverage, the contract's zone and holidays,
    plus its booked appointment windows. Cached, since many tickets share one calendar."""
    key = (tier.coverage, timezone, (holiday_region or "").upper(), tuple(appointments))
    found = _contract_calendars.get(key)
    if found is not None:
        return found
    calendar = BusinessCalendar(
        timezone=timezone,
        weekly=tier.coverage,
        holiday_source=holiday_source(holiday_region),
        extra_windows=appointments,
    )
    with _contract_lock:
        if len(_contract_calendars) >= _CONTRACT_CACHE_SIZE:
            _contract_calendars.pop(next(iter(_contract_calendars)))
        return _contract_calendars.setdefault(key, calendar)


def default_calendar(terms: Terms, tier: TierTerms) -> BusinessCalendar:
    """The contract calendar with the terms' default timezone and holiday region."""
    return contract_calendar(
        tier, timezone=terms.default_timezone, holiday_region=terms.default_holiday_region
    )
