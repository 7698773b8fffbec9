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

import base64
import json
import uuid
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
    BOARD_KEY,
    BOARD_ORDER,
    CHUNK,
    CLOCK_COLUMNS,
    HOUR_US,
    LIVE,
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

MAX_PAGE = 1000  # rows of one page of the board, at most
_CONTRACT = CLOCK_COLUMNS.index("contract_id")
_DUE = CLOCK_COLUMNS.index("due_at")
_RECEIVED = CLOCK_COLUMNS.index("received_at")
_NO_DUE = 9223372036854775807  # BOARD_KEY's value for a clock without a deadline
SECOND_US = 1_000_000
RATE_PLACES = Decimal("0.0001")
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
        self.versions = self.projection.versions
        self.counts_table = self.projection.counts
        self.times = self.projection.times
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

    def _selection(
        self,
        at_us: int,
        *,
        states: Collection[str] | None,
        tier: str | None,
        customer: str | None,
        since: datetime | None,
        until: datetime | None,
        as_it_stood: bool,
    ) -> tuple[str, list[str], list[Any]]:
        """The clocks a board shows, each with its state at `at`: the FROM clause, the
        conditions and their parameters.

        `as_it_stood` reads each clock as it stood at `at` (its latest version effective by
        then; a ticket received later is not there yet) instead of as it stands now.
        """
        source = self.clocks
        params: list[Any] = [at_us, at_us]
        if as_it_stood:
            source = (
                f"(SELECT {', '.join(CLOCK_COLUMNS)} FROM {self.versions} v "
                "WHERE v.effective_at <= ? AND NOT EXISTS (SELECT 1 FROM "
                f"{self.versions} w WHERE w.ticket_id = v.ticket_id AND w.effective_at <= ? "
                "AND (w.effective_at > v.effective_at OR (w.effective_at = v.effective_at "
                "AND w.position > v.position))))"
            )
            params = [at_us, at_us, *params]
        where, received = self._received(since, until)
        params.extend(received)
        if isinstance(states, str):
            states = {states}
        if states is None:
            where.append(LIVE)  # on track, at risk, paused, and breached without a response
        elif ALL not in states:
            unknown = sorted(set(states) - set(STATES))
            if unknown or not states:
                raise InvalidInputError(
                    f"state: {unknown[0] if unknown else '(none)'} is not a state; "
                    f"use {', '.join(STATES)} or {ALL}"
                )
            chosen = sorted(states)
            where.append(f"state IN ({', '.join('?' * len(chosen))})")
            params.extend(chosen)
        if tier is not None:
            where.append("tier = ?")
            params.append(tier.strip().lower())
        if customer is not None:  # any part of the name, in any case
            where.append("LOWER(customer) LIKE ? ESCAPE '\\'")
            params.append(contains_pattern(customer))
        return f"(SELECT *, {self._state_sql()} AS state FROM {source} c) s", where, params

    def board(
        self,
        at: datetime,
        *,
        states: Collection[str] | None = None,
        tier: str | None = None,
        customer: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        as_it_stood: bool = False,
    ) -> list[dict[str, Any]]:
        """Every clock the filters select as it stands at `at`, soonest breach first (rows
        without a deadline last), unpaged (`page` reads a page).

        `states=None` selects the live clocks (on track, at risk, paused, and breached without
        a response); `{"all"}` selects every clock; otherwise the states named.
        """
        return self._rows(
            at, states=states, tier=tier, customer=customer, since=since, until=until,
            as_it_stood=as_it_stood, after=None, limit=None,
        )[0]  # fmt: skip

    def page(
        self,
        at: datetime,
        *,
        limit: int,
        after: str | None = None,
        states: Collection[str] | None = None,
        tier: str | None = None,
        customer: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        as_it_stood: bool = False,
    ) -> dict[str, Any]:
        """A page of the board: at most `limit` rows after the cursor `after`, the cursor of
        the next page (`next`, None on the last), and the count of clocks in every state the
        filters other than `states` select (`counts`).

        The cursor is a position in the board's order (deadline, receipt, ticket), not an
        offset: tickets recorded meanwhile neither repeat nor skip a row.
        """
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInputError(f"limit: {limit} is not between 1 and {MAX_PAGE}")
        rows, more = self._rows(
            at, states=states, tier=tier, customer=customer, since=since, until=until,
            as_it_stood=as_it_stood, after=None if after is None else read_cursor(after),
            limit=limit,
        )  # fmt: skip
        counts = self.counts(
            at, tier=tier, customer=customer, since=since, until=until, as_it_stood=as_it_stood
        )
        return {"rows": rows, "next": more, "counts": counts}

    def _rows(
        self,
        at: datetime,
        *,
        states: Collection[str] | None,
        tier: str | None,
        customer: str | None,
        since: datetime | None,
        until: datetime | None,
        as_it_stood: bool,
        after: tuple[int, int, str] | None,
        limit: int | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        at_us = to_us(at)
        source, where, params = self._selection(
            at_us, states=states, tier=tier, customer=customer, since=since, until=until,
            as_it_stood=as_it_stood,
        )  # fmt: skip
        if after is not None:
            # the first bound alone lets SQLite seek the index; the row value decides
            where.append(f"{BOARD_KEY} >= ? AND ({BOARD_KEY}, received_at, ticket_id) > (?, ?, ?)")
            params.extend([after[0], *after])
        rows = self._read(
            f"SELECT {', '.join(CLOCK_COLUMNS)}, state FROM {source} "
            f"{'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY {BOARD_ORDER}"
            + ("" if limit is None else f" LIMIT {int(limit) + 1}"),
            params,
        )
        more = None
        if limit is not None and len(rows) > limit:
            rows = rows[:limit]
            more = _cursor(rows[-1])
        places = _places(self, {str(row[_CONTRACT]) for row in rows})
        calendars: dict[tuple[Any, ...], BusinessCalendar] = {}
        return [
            self._board_row(
                (*row, *places.get(str(row[_CONTRACT]), (None, None, None))), at_us, calendars
            )
            for row in rows
        ], more

    def counts(
        self,
        at: datetime,
        *,
        tier: str | None = None,
        customer: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        as_it_stood: bool = False,
    ) -> dict[str, int]:
        """The clocks the filters select in every state at `at`.

        The counts of the whole board or of a tier come from the kept counts (`sla_counts` by
        tier and what is stored, `sla_count_times` by tier and the hour of each deadline and
        warning, since breached and at risk depend on the instant) and the rows of the
        instant's own hour, counted on the indexes; other filters, or a board as it stood,
        count the selection.
        """
        at_us = to_us(at)
        counts = dict.fromkeys(STATES, 0)
        if (customer, since, until) == (None, None, None) and not as_it_stood:
            chosen = None if tier is None else tier.strip().lower()
            of_tier, tier_params = ("", []) if chosen is None else (" WHERE tier = ?", [chosen])
            kept = {
                str(b): int(n)
                for b, n in self._read(
                    f"SELECT bucket, SUM(n) FROM {self.counts_table}{of_tier} GROUP BY bucket",
                    tier_params,
                )
            }
            late, warned, late_warned = _timed(self, at_us, chosen)
            risk = warned - late_warned  # a warning comes before its deadline
            late_running, late_paused = late.get(RUNNING, 0), late.get(PAUSED, 0)
            counts[BREACHED] = kept.get(BREACHED, 0) + late_running + late_paused
            counts[AT_RISK] = int(risk)
            counts[ON_TRACK] = kept.get(RUNNING, 0) - late_running - int(risk)
            counts[PAUSED] = kept.get(PAUSED, 0) - late_paused
            counts[MET] = kept.get(MET, 0)
            counts[DECLINED] = kept.get(DECLINED, 0)
            return counts
        source, where, params = self._selection(
            at_us, states={ALL}, tier=tier, customer=customer, since=since, until=until,
            as_it_stood=as_it_stood,
        )  # fmt: skip
        for state, n in self._read(
            f"SELECT state, COUNT(*) FROM {source} "
            f"{'WHERE ' + ' AND '.join(where) if where else ''} GROUP BY state",
            params,
        ):
            counts[str(state)] = int(n)
        return counts

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
                "median_response_seconds": _nearest_rank(responses, 50),
                "p90_response_seconds": _nearest_rank(responses, 90),
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
        `at` as the board has it, from the kept counts (no scan); states without a ticket are
        left out."""
        at_us = to_us(at)
        kept = {
            str(b): int(n)
            for b, n in self._read(
                f"SELECT bucket, SUM(n) FROM {self.counts_table} WHERE bucket IN (?, ?) "
                "GROUP BY bucket",
                (RUNNING, PAUSED),
            )
        }
        late, warned, late_warned = _timed(self, at_us, None)
        risk = warned - late_warned
        found = {
            ON_TRACK: kept.get(RUNNING, 0) - late[RUNNING] - risk,
            AT_RISK: risk,
            PAUSED: kept.get(PAUSED, 0) - late[PAUSED],
            BREACHED: late[RUNNING] + late[PAUSED],
        }
        return {state: n for state, n in found.items() if n}

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


def waived_open(view: SlaBreachView, at: datetime, *, tier: str | None = None) -> int:
    """Clocks on the live board breached at `at` whose breach was waived (of a tier, or all):
    the board counts them among the breached; a wall shows them apart."""
    of_tier, params = ("", []) if tier is None else (" AND tier = ?", [tier.strip().lower()])
    ((count,),) = view._read(
        f"SELECT COUNT(*) FROM {view.clocks} WHERE {LIVE} AND breach_waived "
        f"AND due_at IS NOT NULL AND due_at < ?{of_tier}",
        [to_us(at), *params],
    )
    return int(count)


def _timed(view: SlaBreachView, at_us: int, tier: str | None) -> tuple[dict[str, int], int, int]:
    """Live clocks past their deadline at `at` (by clock), running clocks past their
    warning, and those of them past their deadline too (of one tier, or all): the kept
    counts of the hours before `at`'s hour, and the rows of its hour counted on the
    indexes."""
    hour = at_us // HOUR_US
    start = hour * HOUR_US
    of_tier, tier_params = ("", []) if tier is None else (" AND tier = ?", [tier])
    kept: dict[tuple[str, str], int] = {
        (str(kind), str(clock)): int(n)
        for kind, clock, n in view._read(
            f"SELECT kind, clock, SUM(n) FROM {view.times} WHERE hour < ?{of_tier} "
            "GROUP BY kind, clock",
            [hour, *tier_params],
        )
    }
    late = {RUNNING: kept.get(("due", RUNNING), 0), PAUSED: kept.get(("due", PAUSED), 0)}
    for clock, n in view._read(
        f"SELECT clock, COUNT(*) FROM {view.clocks} WHERE {LIVE} AND due_at >= ? "
        f"AND due_at < ?{of_tier} GROUP BY clock",
        [start, at_us, *tier_params],
    ):
        late[str(clock)] += int(n)
    ((warned,),) = view._read(
        f"SELECT COUNT(*) FROM {view.clocks} WHERE clock = 'running' "
        f"AND warning_at >= ? AND warning_at <= ?{of_tier}",
        [start, at_us, *tier_params],
    )
    ((late_warned,),) = view._read(
        f"SELECT COUNT(*) FROM {view.clocks} WHERE clock = 'running' "
        f"AND warning_at IS NOT NULL AND due_at >= ? AND due_at < ?{of_tier}",
        [start, at_us, *tier_params],
    )
    return (
        late,
        kept.get(("warning", RUNNING), 0) + int(warned),
        kept.get(("duew", RUNNING), 0) + int(late_warned),
    )


def _cursor(row: tuple[Any, ...]) -> str:
    """The cursor of the page after `row`: its place in the board's order, opaque."""
    due = _NO_DUE if row[_DUE] is None else int(row[_DUE])
    text = f"{due}.{int(row[_RECEIVED])}.{row[0]}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def read_cursor(text: str) -> tuple[int, int, str]:
    """The place in the board's order a cursor (a page's `next`) names."""
    place: tuple[int, int, str] | None = None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
        due, received, ticket = raw.split(".", 2)
        place = int(due), int(received), str(uuid.UUID(ticket))
    except (ValueError, UnicodeDecodeError):
        place = None
    if place is None or not all(-_NO_DUE - 1 <= n <= _NO_DUE for n in place[:2]):
        raise InvalidInputError(
            f"after: {text[:40]!r} is not a cursor of the board (give the `next` of a page)"
        )
    return place


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


def _places(view: SlaBreachView, contracts: set[str]) -> dict[str, tuple[Any, Any, Any]]:
    """What each contract's calendar needs: timezone, holiday region, appointments."""
    found: dict[str, tuple[Any, Any, Any]] = {}
    ordered = sorted(contracts)
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        for contract, *place in view._read(
            f"SELECT contract_id, timezone, holiday_region, appointments FROM "
            f"{view.calendars} WHERE contract_id IN ({', '.join('?' * len(chunk))})",
            chunk,
        ):
            found[str(contract)] = (place[0], place[1], place[2])
    return found
