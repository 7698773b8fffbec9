"""Response clocks: covered time counted over running periods, and the instants it reaches.

A clock starts when a request is received and runs until the first response; holds at the
customer's request split it into running periods. The deadline is the earliest instant at which
the covered time counted over those periods equals the target; a warning is the same for a share
of the target. One function answers both, whatever holds, severity changes or calendar changes
came before, so figures are computed once and written into events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import TYPE_CHECKING

from ledger.domain.calendar import MICROSECOND, require_aware

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ledger.domain.calendar import BusinessCalendar

Period = tuple[datetime, datetime | None]


@lru_cache(maxsize=256)  # a few targets times a few thresholds
def share_of(duration: timedelta, share: Decimal) -> timedelta:
    """`share` of `duration`, rounded half-up to the microsecond."""
    micro = Decimal(duration // MICROSECOND) * share
    return timedelta(microseconds=int(micro.to_integral_value(rounding=ROUND_HALF_UP)))


@lru_cache(maxsize=256)
def _amounts(target: timedelta, thresholds: tuple[Decimal, ...]) -> tuple[timedelta, ...]:
    """The target, then its shares: the covered time at which each instant falls."""
    return (target, *(share_of(target, share) for share in thresholds))


def clock_instant(
    calendar: BusinessCalendar, periods: Sequence[Period], amount: timedelta
) -> datetime | None:
    """When the clock's covered time reaches `amount`; None if it is paused before that.

    `periods` are the running periods in order; the last may be open (end None).
    """
    return clock_instants(calendar, periods, [amount])[0]


def clock_instants(
    calendar: BusinessCalendar, periods: Sequence[Period], amounts: Sequence[timedelta]
) -> list[datetime | None]:
    """`clock_instant` for every amount, in one pass over the periods."""
    if len(periods) == 1 and periods[0][1] is None:  # a clock running since it started
        return list(calendar.add_all(periods[0][0], amounts))
    found: list[datetime | None] = [None] * len(amounts)
    waiting = list(range(len(amounts)))
    used = timedelta(0)
    for start, end in periods:
        if not waiting:
            break
        covered = None if end is None else calendar.elapsed(start, end)
        reached = [i for i in waiting if covered is None or used + covered >= amounts[i]]
        if reached:
            instants = calendar.add_all(start, [amounts[i] - used for i in reached])
            for i, at in zip(reached, instants, strict=True):
                found[i] = at
            waiting = [i for i in waiting if found[i] is None]
        if covered is not None:
            used += covered
    return found


def covered_used(calendar: BusinessCalendar, periods: Sequence[Period], at: datetime) -> timedelta:
    """Covered time the clock has counted by `at`."""
    used = timedelta(0)
    for start, end in periods:
        stop = at if end is None or end > at else end
        used += calendar.elapsed(start, stop)
    return used


@dataclass(frozen=True)
class WarningPoint:
    """The instant at which a share of the target is used (None while paused before it)."""

    share: Decimal
    at: datetime | None

    @property
    def label(self) -> str:
        """The share as a percentage, e.g. `75%`."""
        return f"{(self.share * 100).normalize():f}%"


@dataclass(frozen=True)
class ClockFigures:
    """Deadline and warning instants of a clock, as of its running periods."""

    due_at: datetime | None
    warnings: tuple[WarningPoint, ...]


def clock_figures(
    calendar: BusinessCalendar,
    periods: Sequence[Period],
    target: timedelta,
    thresholds: Sequence[Decimal],
) -> ClockFigures:
    """The deadline and the warning instants of a clock (computed together, in one pass)."""
    due_at, *warnings = clock_instants(calendar, periods, _amounts(target, tuple(thresholds)))
    return ClockFigures(
        due_at=due_at,
        warnings=tuple(
            WarningPoint(share=share, at=at) for share, at in zip(thresholds, warnings, strict=True)
        ),
    )


@dataclass(frozen=True)
class Deadline:
    """A response deadline for a request received at an instant, as `sla deadline` shows it."""

    received_at: datetime
    counting_from: datetime
    target: timedelta
    due_at: datetime
    warnings: tuple[WarningPoint, ...]

    @property
    def target_hours(self) -> Decimal:
        """The target in hours, exact."""
        return Decimal(self.target // MICROSECOND) / Decimal(3_600_000_000)


def compute_deadline(
    calendar: BusinessCalendar,
    received_at: datetime,
    target: timedelta,
    thresholds: Sequence[Decimal],
) -> Deadline:
    """The deadline of a clock that starts at `received_at` and runs without a hold."""
    require_aware(received_at, "received_at")
    figures = clock_figures(calendar, [(received_at, None)], target, thresholds)
    if figures.due_at is None:  # pragma: no cover - an open period always reaches its target
        raise RuntimeError("an open clock period found no deadline")
    return Deadline(
        received_at=received_at,
        counting_from=calendar.next_covered(received_at),
        target=target,
        due_at=figures.due_at,
        warnings=figures.warnings,
    )
