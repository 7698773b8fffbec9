"""Response deadlines: a target in covered time, counted from receipt, with warning instants."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from ledger.domain.calendar import MICROSECOND, require_aware

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ledger.domain.calendar import BusinessCalendar


@dataclass(frozen=True)
class WarningPoint:
    """The instant at which a share of the target has been used."""

    share: Decimal
    at: datetime

    @property
    def label(self) -> str:
        """The share as a percentage, e.g. `75%`."""
        return f"{(self.share * 100).normalize():f}%"


@dataclass(frozen=True)
class Deadline:
    """A response deadline computed once, to be written into events."""

    received_at: datetime
    counting_from: datetime
    target: timedelta
    used: timedelta
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
    *,
    used: timedelta = timedelta(0),
    resume_at: datetime | None = None,
) -> Deadline:
    """The deadline for `target` of covered time from `received_at`.

    `used` is covered time already counted (before a hold); counting resumes at `resume_at`
    (default: `received_at`). Warnings fall where `share * target` of covered time is used; a
    warning whose share was used up before counting resumed falls at the resume instant (the
    ticket keeps the warnings it has already recorded).
    """
    require_aware(received_at, "received_at")
    start = require_aware(resume_at, "resume_at") if resume_at is not None else received_at
    remaining = target - used
    due_at = calendar.add(start, max(timedelta(0), remaining))
    warnings = []
    for share in thresholds:
        point = _share_of(target, share)
        at = calendar.add(start, point - used) if point > used else start
        warnings.append(WarningPoint(share=share, at=at))
    return Deadline(
        received_at=received_at,
        counting_from=calendar.next_covered(start),
        target=target,
        used=used,
        due_at=due_at,
        warnings=tuple(warnings),
    )


def _share_of(duration: timedelta, share: Decimal) -> timedelta:
    micro = Decimal(duration // MICROSECOND) * share
    return timedelta(microseconds=int(micro.to_integral_value()))
