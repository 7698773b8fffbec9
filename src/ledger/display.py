"""Times, durations and percentages as people read them, in one format each, for the CLI's
tables and sentences, the pages, the demo and `audit replay` (JSON and CSV keep UTC instants
with `Z` and plain numbers).

- An instant is wall time in one display zone, to the minute (`2026-12-04 10:04 CET`); with
  seconds where a deadline is within the hour; never microseconds. The zone is
  `LEDGER_DISPLAY_TZ` (an IANA name such as `Europe/Berlin`), by default the machine's local
  zone; a view about one contract passes the contract's own zone.
- A duration is hours and minutes with their units (`12h 05m`, `-3h 20m` when overdue), and
  minutes and seconds under an hour (`45m 12s`).
- A percentage is the share times a hundred, as exact as it is, and `%` (`65%`, `33.33%`).

This module imports nothing of ledger but the errors, so that every layer may use it.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ledger.errors import ConfigurationError

DISPLAY_TZ = "LEDGER_DISPLAY_TZ"
MINUTE = "%Y-%m-%d %H:%M"
SECOND = "%Y-%m-%d %H:%M:%S"
# In a table that names the year in its title: month, day and time.
SHORT_MINUTE = "%m-%d %H:%M"
SHORT_SECOND = "%m-%d %H:%M:%S"
WITHIN = timedelta(hours=1)  # a deadline this close is shown to the second


def display_zone(name: str | None = None) -> tzinfo:
    """The zone times are shown in: `name`, else `LEDGER_DISPLAY_TZ`, else the machine's.

    An unknown name is a `ConfigurationError` naming the variable and the value.
    """
    text = (name if name is not None else os.environ.get(DISPLAY_TZ, "")).strip()
    if text:
        try:
            return ZoneInfo(text)
        except (ZoneInfoNotFoundError, ValueError):
            source = "zone" if name is not None else DISPLAY_TZ
            raise ConfigurationError(
                f"{source} {text!r} is not a known time zone (an IANA name, e.g. Europe/Berlin)"
            ) from None
    return _machine_zone()


def _machine_zone() -> tzinfo:
    """The machine's local zone: `TZ`, `/etc/localtime`'s name, or its current offset."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    localtime = Path("/etc/localtime")
    if localtime.is_symlink():
        candidates.append(str(localtime.resolve()).partition("/zoneinfo/")[2])
    timezone_file = Path("/etc/timezone")
    if timezone_file.is_file():
        candidates.append(timezone_file.read_text(encoding="utf-8").strip())
    for candidate in candidates:
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return datetime.now(UTC).astimezone().tzinfo or UTC


def zone_name(zone: tzinfo) -> str:
    """A zone's name for a heading (`Europe/Berlin`, or `UTC+01:00`)."""
    key = getattr(zone, "key", None)
    return str(key) if key else datetime.now(zone).strftime("UTC%z") or "UTC"


def time_text(
    value: datetime | None,
    zone: tzinfo | str | None = None,
    *,
    seconds: bool = False,
    with_zone: bool = True,
    short: bool = False,
) -> str:
    """An instant as wall time in `zone` (default: the display zone) to the minute, or to the
    second with `seconds`; without the year when `short` (a table's cell); `-` for none."""
    if value is None:
        return "-"
    where = display_zone(zone) if zone is None or isinstance(zone, str) else zone
    local = value.astimezone(where)
    if short:
        text = local.strftime(SHORT_SECOND if seconds else SHORT_MINUTE)
    else:
        text = local.strftime(SECOND if seconds else MINUTE)
    return f"{text} {local.strftime('%Z')}" if with_zone else text


def deadline_text(
    value: datetime | None,
    now: datetime,
    zone: tzinfo | str | None = None,
    *,
    with_zone: bool = True,
    short: bool = False,
) -> str:
    """A deadline: to the minute, or to the second when it is within the hour of `now`."""
    if value is None:
        return "-"
    close = abs(value - now) < WITHIN
    return time_text(value, zone, seconds=close, with_zone=with_zone, short=short)


def moment_text(value: datetime | None, now: datetime, zone: tzinfo | str | None = None) -> str:
    """An instant in a sentence: `10:04` on the day of `now` (in `zone`), else with its date
    (`2026-12-03 10:04`); `-` for none."""
    if value is None:
        return "-"
    where = display_zone(zone) if zone is None or isinstance(zone, str) else zone
    local = value.astimezone(where)
    same_day = local.date() == now.astimezone(where).date()
    return local.strftime("%H:%M" if same_day else MINUTE)


def duration_text(seconds: float | None) -> str:
    """Seconds as `12h 05m` (`-3h 20m` overdue), or `45m 12s` under an hour; `-` for none."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    sign = "-" if whole < 0 else ""
    minutes, secs = divmod(abs(whole), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    return f"{sign}{minutes}m {secs:02d}s"


def percent_text(share: Decimal | float | int | None) -> str:
    """A share (`0.65`) as `65%`, as exact as it is (`0.3333` as `33.33%`); `-` for none."""
    if share is None:
        return "-"
    value = (Decimal(str(share)) * 100).normalize()
    text = f"{value:f}"
    return f"{'0' if text in {'-0', '0'} else text}%"
