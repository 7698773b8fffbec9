"""The clock the scheduler reads: the system's, or a fake one that tests and the demo move."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

from ledger.domain.calendar import require_aware


class Clock(Protocol):
    """Where `now` comes from."""

    def now(self) -> datetime:
        """The current instant (aware, UTC)."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        """The current instant."""
        return datetime.now(UTC)


class FakeClock:
    """A clock that stands still until moved (thread-safe)."""

    def __init__(self, start: datetime) -> None:
        self._now = require_aware(start, "start").astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The instant the clock was last moved to."""
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by `delta`; returns the new instant."""
        if delta < timedelta(0):
            msg = "a clock does not go back"
            raise ValueError(msg)
        with self._lock:
            self._now += delta
            return self._now

    def set(self, instant: datetime) -> datetime:
        """Move forward to `instant`."""
        target = require_aware(instant, "instant").astimezone(UTC)
        with self._lock:
            if target < self._now:
                msg = "a clock does not go back"
                raise ValueError(msg)
            self._now = target
            return self._now
