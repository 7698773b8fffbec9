"""Times, durations and percentages for people: one format each, in the display zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ledger.display import (
    DISPLAY_TZ,
    deadline_text,
    display_zone,
    duration_text,
    percent_text,
    time_text,
    zone_name,
)
from ledger.errors import ConfigurationError

NOON = datetime(2026, 12, 4, 11, 4, 7, 123456, tzinfo=UTC)  # 12:04:07 in Berlin (CET)


def test_an_instant_is_shown_to_the_minute_in_the_display_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """LEDGER_DISPLAY_TZ picks the zone; no seconds, no microseconds, the zone's abbreviation."""
    monkeypatch.setenv(DISPLAY_TZ, "Europe/Berlin")
    assert time_text(NOON) == "2026-12-04 12:04 CET"
    monkeypatch.setenv(DISPLAY_TZ, "America/New_York")
    assert time_text(NOON) == "2026-12-04 06:04 EST"
    assert time_text(NOON, with_zone=False) == "2026-12-04 06:04"
    assert time_text(None) == "-"


def test_a_zone_given_for_one_contract_wins_over_the_display_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A view about one contract shows its times in the contract's own zone."""
    monkeypatch.setenv(DISPLAY_TZ, "UTC")
    assert time_text(NOON, "Asia/Tokyo") == "2026-12-04 20:04 JST"
    assert time_text(NOON, seconds=True) == "2026-12-04 11:04:07 UTC"


def test_without_a_setting_the_machine_zone_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """No LEDGER_DISPLAY_TZ: the machine's zone (here set through TZ)."""
    monkeypatch.delenv(DISPLAY_TZ, raising=False)
    monkeypatch.setenv("TZ", "Australia/Sydney")
    assert zone_name(display_zone()) == "Australia/Sydney"
    assert time_text(NOON) == "2026-12-04 22:04 AEDT"


def test_an_unknown_display_zone_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A typo in LEDGER_DISPLAY_TZ is a configuration error, not a silent UTC."""
    monkeypatch.setenv(DISPLAY_TZ, "Europe/Berln")
    with pytest.raises(ConfigurationError, match="LEDGER_DISPLAY_TZ 'Europe/Berln'"):
        time_text(NOON)


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (timedelta(minutes=59, seconds=59), "2026-12-04 12:04:07"),
        (-timedelta(minutes=30), "2026-12-04 12:04:07"),
        (timedelta(hours=1), "2026-12-04 12:04"),
        (timedelta(days=-2), "2026-12-04 12:04"),
    ],
    ids=["due-within-the-hour", "overdue-within-the-hour", "an-hour-away", "days-ago"],
)
def test_a_deadline_within_the_hour_is_shown_to_the_second(
    monkeypatch: pytest.MonkeyPatch, offset: timedelta, expected: str
) -> None:
    """Seconds only where they matter: a deadline less than an hour from now."""
    monkeypatch.setenv(DISPLAY_TZ, "Europe/Berlin")
    assert deadline_text(NOON, NOON - offset, with_zone=False) == expected


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (43500, "12h 05m"),
        (144000, "40h 00m"),
        (-12000, "-3h 20m"),
        (2712, "45m 12s"),
        (-59.6, "-1m 00s"),
        (0, "0m 00s"),
        (None, "-"),
    ],
    ids=["hours", "over-a-day", "overdue", "under-an-hour", "rounded", "zero", "none"],
)
def test_a_duration_has_one_format(seconds: float | None, expected: str) -> None:
    """Hours and minutes with units; minutes and seconds under an hour; negative overdue."""
    assert duration_text(seconds) == expected


@pytest.mark.parametrize(
    ("share", "expected"),
    [
        (Decimal("0.65"), "65%"),
        (Decimal("0.3333"), "33.33%"),
        (Decimal("0.0000"), "0%"),
        (Decimal(1), "100%"),
        (0.5, "50%"),
        (None, "-"),
    ],
    ids=["fee-share", "breach-rate", "zero", "all", "float-threshold", "none"],
)
def test_a_percentage_has_one_format(share: Decimal | float | None, expected: str) -> None:
    """The share times a hundred, as exact as it is, then `%`."""
    assert percent_text(share) == expected
