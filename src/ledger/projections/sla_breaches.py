"""The SLA-breach view: the live breach board, breach statistics and the metrics' counts.

Read from the tables the SLA-breach projection keeps (`ledger.projections.sla_clocks`): one
row per ticket clock and what each contract's calendar needs. Every question asked of those
tables is a method of `SlaBreachView`, so its SQL lives here.

The state of a clock is not stored: it depends on the instant asked about, and is computed in
SQL from the stored instants (`declined`; a stopped clock's outcome `met` / `breached`;
`breached` once the deadline has passed; `paused`; `at_risk` from the 75 % warning on;
`on_track`). Business time left is counted with the contract calendar at read time. The
breach statistics are the figures `ledger.figures` declares.
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from ledger.calendars import contract_calendar
from ledger.domain.calendar import from_us, to_us
from ledger.domain.errors import InvalidInputError
from ledger.figures import (
    ALL,
    AT_RISK,
    BREACH_STAT_FIGURES,
    BREACH_STAT_KEY,
    BREACHED,
    DECLINED,
    GROUPINGS,
    MET,
    ON_TRACK,
    PAUSED,
    STATES,
)
from ledger.projections.db import contains_pattern, instant, us
from ledger.projections.sla_clocks import (
    CLOCK_COLUMNS,
    NO_CLOCK,
    RUNNING,
    STOPPED,
    ClockRow,
    SlaBreachProjection,
    load_clock,
)
from ledger.terms import DEFAULT_VERSION, load_terms

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable
    from datetime import datetime

    from ledger.domain.calendar import BusinessCalendar
    from ledger.projections.db import ViewDatabase

__all__ = [  # the states and the projection are read from here by the CLI, the API and the pages
    "ALL",
    "AT_RISK",
    "BREACHED",
    "DECLINED",
    "GROUPINGS",
    "MET",
    "NO_CLOCK",
    "ON_TRACK",
    "PAUSED",
    "RUNNING",
    "STATES",
    "STOPPED",
    "SlaBreachProjection",
    "SlaBreachView",
]

SECOND_US = 1_000_000
HOUR = Decimal(3600)
RATE_PLACES = Decimal("0.0001")
HOUR_PLACES = Decimal("0.01")
# A clock breached by an instant (bound once): answered late, or overdue without an answer.
_BREACHED_BY = (
    "(outcome = 'breached' OR (clock <> 'stopped' AND due_at IS NOT NULL AND ? > due_at))"
)


class SlaBreachView:
    """The breach board and breach statistics, read from the sla_breaches tables."""

    def __init__(self, db: ViewDatabase, *, prefix: str = "") -> None:
        self.db = db
        self.projection = SlaBreachProjection(db, prefix=prefix)
        self.clocks = self.projection.clocks
        self.calendars = self.projection.calendars
        self._created = False

    def _read(self, sql: str, params: Iterable[Any]) -> list[tuple[Any, ...]]:
        if not self._created:  # before the projection first ran, the view is empty
            self.projection.create()
            self._created = True
        return self.db.read(sql, tuple(params))

    @staticmethod
    def _state_sql() -> str:
        """The state of a clock at an instant (bound twice), from its stored columns."""
        return (
            "CASE WHEN status = 'declined' THEN 'declined' "
            "WHEN clock = 'stopped' THEN outcome "
            "WHEN due_at IS NOT NULL AND ? > due_at THEN 'breached' "
            "WHEN clock = 'paused' THEN 'paused' "
            "WHEN warning_at IS NOT NULL AND ? >= warning_at THEN 'at_risk' "
            "ELSE 'on_track' END"
        )

    @staticmethod
    def _received(since: datetime | None, until: datetime | None) -> tuple[list[str], list[Any]]:
        """Conditions on received_at: since <= received_at < until."""
        where: list[str] = []
        params: list[Any] = []
        if since is not None:
            where.append("received_at >= ?")
            params.append(us(since))
        if until is not None:
            where.append("received_at < ?")
            params.append(us(until))
        return where, params

    def board(
        self,
        at: datetime,
        *,
        states: Collection[str] | None = None,
        tier: str | None = None,
        customer: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Clocks as they stand at `at`, soonest breach first (rows without a deadline last).

        `states=None` selects the live clocks (on track, at risk, paused, and breached without
        a response); `{"all"}` selects every clock; otherwise the states named.
        """
        at_us = to_us(at)
        where, params = self._received(since, until)
        if isinstance(states, str):
            states = {states}
        if states is None:
            where.append("(s.state IN (?, ?, ?) OR (s.state = ? AND s.clock <> ?))")
            params.extend([ON_TRACK, AT_RISK, PAUSED, BREACHED, STOPPED])
        elif ALL not in states:
            unknown = sorted(set(states) - set(STATES))
            if unknown or not states:
                raise InvalidInputError(
                    f"state: {unknown[0] if unknown else '(none)'} is not a state; "
                    f"use {', '.join(STATES)} or {ALL}"
                )
            chosen = sorted(states)
            where.append(f"s.state IN ({', '.join('?' * len(chosen))})")
            params.extend(chosen)
        if tier is not None:
            where.append("s.tier = ?")
            params.append(tier.strip().lower())
        if customer is not None:  # any part of the name, in any case
            where.append("LOWER(s.customer) LIKE ? ESCAPE '\\'")
            params.append(contains_pattern(customer))
        columns = ", ".join(f"s.{c}" for c in CLOCK_COLUMNS)
        rows = self._read(
            f"SELECT {columns}, s.state, k.timezone, k.holiday_region, k.appointments "
            f"FROM (SELECT *, {self._state_sql()} AS state FROM {self.clocks}) s "
            f"LEFT JOIN {self.calendars} k ON k.contract_id = s.contract_id "
            f"{'WHERE ' + ' AND '.join(where) if where else ''} "
            "ORDER BY CASE WHEN s.due_at IS NULL THEN 1 ELSE 0 END, s.due_at, s.received_at, "
            "s.ticket_id",
            [at_us, at_us, *params],
        )
        calendars: dict[tuple[Any, ...], BusinessCalendar] = {}
        return [self._board_row(row, at_us, calendars) for row in rows]

    def _board_row(
        self, row: tuple[Any, ...], at_us: int, calendars: dict[tuple[Any, ...], BusinessCalendar]
    ) -> dict[str, Any]:
        clock = load_clock(row[: len(CLOCK_COLUMNS)])
        state, timezone, region, appointments = row[len(CLOCK_COLUMNS) :]
        left = None
        if clock.clock in (RUNNING, PAUSED) and not (
            clock.clock == PAUSED and clock.due_at is None
        ):
            key = (clock.terms_version, clock.tier, clock.contract_id)
            calendar = calendars.get(key)
            if calendar is None:
                calendar = calendars[key] = _calendar(
                    clock.terms_version, clock.tier, timezone, region, appointments
                )
            left = _seconds_left(calendar, clock, at_us)
        return {
            "ticket_id": clock.ticket_id,
            "key": clock.external_key,
            "contract_id": clock.contract_id,
            "customer": clock.customer,
            "tier": clock.tier,
            "severity": int(clock.severity),
            "reporter": clock.reporter,
            "status": clock.status,
            "declined_reason": clock.declined_reason,
            "received_at": instant(clock.received_at),
            "received_month": clock.received_month,
            "due_at": instant(clock.due_at),
            "original_due_at": instant(clock.original_due_at),
            "warning_at": instant(clock.warning_at),
            "responded_at": instant(clock.responded_at),
            "clock": clock.clock,
            "state": state,
            "business_seconds_left": left,
            "used_seconds": None if clock.used_seconds is None else int(clock.used_seconds),
            "breach_recorded": clock.breach_recorded,
            "breach_waived": clock.breach_waived,
            "priority": clock.priority_at is not None and clock.priority_at <= at_us,
        }

    def stats(
        self,
        by: str,
        at: datetime,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        contract_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Breach figures per tier, customer, severity or month of receipt, sorted by key
        (of one contract's tickets when `contract_id` is given).

        `tickets` counts opened (not declined) requests; `met` and `breached` count clocks met
        and breached by `at` (a response late, or none and the deadline passed), breaches
        waived counted apart in `waived`; the breach rate is breached / (met + breached);
        median and 90th percentile (nearest rank) of the business hours used to respond.
        """
        column = GROUPINGS.get(by)
        if column is None:
            raise InvalidInputError(f"by: {by!r} is not a grouping; use {', '.join(GROUPINGS)}")
        where, params = self._received(since, until)
        if contract_id is not None:
            where.append("contract_id = ?")
            params.append(contract_id)
        filters = " ".join(f"AND {w}" for w in where)
        at_us = to_us(at)
        counts = self._read(
            f"SELECT {column}, COUNT(*), "
            "SUM(CASE WHEN outcome = 'met' THEN 1 ELSE 0 END), "
            f"SUM(CASE WHEN {_BREACHED_BY} AND NOT breach_waived THEN 1 ELSE 0 END), "
            f"SUM(CASE WHEN {_BREACHED_BY} AND breach_waived THEN 1 ELSE 0 END) "
            f"FROM {self.clocks} WHERE status <> 'declined' {filters} "
            f"GROUP BY {column} ORDER BY {column}",
            [at_us, at_us, *params],
        )
        used: dict[Any, list[int]] = {}
        for key, seconds in self._read(
            f"SELECT {column}, used_seconds FROM {self.clocks} "
            f"WHERE status <> 'declined' AND clock = 'stopped' {filters} "
            f"ORDER BY {column}, used_seconds",
            params,
        ):
            used.setdefault(key, []).append(int(seconds))
        result = []
        for key, tickets, met_count, breached_count, waived_count in counts:
            met, late = int(met_count or 0), int(breached_count or 0)
            responses = used.get(key, [])
            figures = {
                "tickets": int(tickets),
                "met": met,
                "breached": late,
                "waived": int(waived_count or 0),
                "breach_rate": (
                    (Decimal(late) / Decimal(met + late)).quantize(
                        RATE_PLACES, rounding=ROUND_HALF_UP
                    )
                    if met + late
                    else None
                ),
                "responses": len(responses),
                "median_response_hours": _hours(_nearest_rank(responses, 50)),
                "p90_response_hours": _hours(_nearest_rank(responses, 90)),
            }
            result.append(
                {
                    BREACH_STAT_KEY.name: int(key) if by == "severity" else key,
                    **{name: figures[name] for name in BREACH_STAT_FIGURES},
                }
            )
        return result

    def open_clocks(self, at: datetime) -> dict[str, int]:
        """Tickets awaiting their first response (clock running or paused), by their state at
        `at` as the board has it; states without a ticket are left out."""
        at_us = to_us(at)
        rows = self._read(
            f"SELECT state, COUNT(*) FROM (SELECT {self._state_sql()} AS state "
            f"FROM {self.clocks} WHERE status <> 'declined' AND clock IN (?, ?)) s "
            "GROUP BY state",
            (at_us, at_us, RUNNING, PAUSED),
        )
        return {str(state): int(count) for state, count in rows}

    def breaches_by_tier(self, at: datetime) -> tuple[dict[str, int], dict[str, int]]:
        """Response clocks breached by `at` (answered late, or overdue without an answer) by
        tier, those not waived and those waived; tiers without a breach are left out."""
        breaches: dict[str, int] = {}
        waived: dict[str, int] = {}
        for tier, was_waived, count in self._read(
            f"SELECT tier, breach_waived, COUNT(*) FROM {self.clocks} "
            f"WHERE status <> 'declined' AND {_BREACHED_BY} GROUP BY tier, breach_waived",
            (to_us(at),),
        ):
            target = waived if was_waived else breaches
            name = str(tier or "unknown")
            target[name] = target.get(name, 0) + int(count)
        return breaches, waived


def _calendar(
    terms_version: str | None,
    tier: str | None,
    timezone: str | None,
    region: str | None,
    appointments: str | None,
) -> BusinessCalendar:
    """The contract calendar a clock counts business time in."""
    terms = load_terms(terms_version or DEFAULT_VERSION)
    if timezone is None:  # pragma: no cover - a ticket's contract was signed before it
        timezone, region = terms.default_timezone, terms.default_holiday_region
    windows = tuple(
        (from_us(start), from_us(end)) for start, end in json.loads(appointments or "[]")
    )
    return contract_calendar(
        terms.tier(tier or "basic"),
        timezone=timezone,
        holiday_region=region or None,
        appointments=windows,
    )


def _seconds_left(calendar: BusinessCalendar, clock: ClockRow, at_us: int) -> int:
    """Business seconds from `at` to the deadline: the target less what the clock has used."""
    used = 0
    for start, end in json.loads(clock.periods or "[]"):
        stop = at_us if end is None or end > at_us else end
        used += calendar.elapsed_us(start, stop)
    left = int(clock.target_seconds or 0) * SECOND_US - used
    whole = abs(left) // SECOND_US
    return whole if left >= 0 else -whole


def _nearest_rank(values: list[int], percent: int) -> int | None:
    """The nearest-rank percentile of sorted `values` (None when there are none)."""
    if not values:
        return None
    rank = -(-percent * len(values) // 100)
    return values[max(rank, 1) - 1]


def _hours(seconds: int | None) -> Decimal | None:
    return (
        None
        if seconds is None
        else (Decimal(seconds) / HOUR).quantize(HOUR_PLACES, rounding=ROUND_HALF_UP)
    )
