"""The SLA-breach view: one row per ticket clock, the live breach board and breach statistics.

`sla_clocks` holds one row per ticket, declined requests included: who asked, under which
contract, tier and severity, when it was received (and in which month of the contract's
timezone), the deadline now and as first computed, the 75 % warning instant, the clock
(`running`, `paused`, `stopped`, or `none` for a declined request) with its running periods,
and the response (instant, outcome, business seconds used). `sla_calendars` holds what a
contract's calendar needs (timezone, holiday region, booked appointments), so the view can
count business time on its own tables.

The state of a clock is not stored: it depends on the instant asked about, and is computed in
SQL from the stored instants (`declined`; a stopped clock's outcome `met` / `breached`;
`breached` once the deadline has passed; `paused`; `at_risk` from the 75 % warning on;
`on_track`). Business time left is counted with the contract calendar at read time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from ledger.calendars import contract_calendar
from ledger.domain.calendar import from_us, load_zone, to_us
from ledger.domain.contract import Contract
from ledger.domain.errors import InvalidInputError
from ledger.domain.ticket import Ticket
from ledger.projections.base import Projection
from ledger.projections.db import instant, us
from ledger.terms import DEFAULT_VERSION, load_terms

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from ledger.domain.calendar import BusinessCalendar
    from ledger.projections.db import Transaction, ViewDatabase

ON_TRACK = "on_track"
AT_RISK = "at_risk"
BREACHED = "breached"
MET = "met"
PAUSED = "paused"
DECLINED = "declined"
STATES = (ON_TRACK, AT_RISK, BREACHED, MET, PAUSED, DECLINED)
ALL = "all"

RUNNING = "running"
STOPPED = "stopped"
NO_CLOCK = "none"

GROUPINGS = {
    "tier": "tier",
    "customer": "customer",
    "severity": "severity",
    "month": "received_month",
}

SECOND_US = 1_000_000
HOUR = Decimal(3600)
RATE_PLACES = Decimal("0.0001")
HOUR_PLACES = Decimal("0.01")
CHUNK = 500

CLOCK_COLUMNS = (
    "ticket_id",
    "external_key",
    "contract_id",
    "customer",
    "tier",
    "terms_version",
    "severity",
    "reporter",
    "status",
    "declined_reason",
    "received_at",
    "received_month",
    "target_seconds",
    "due_at",
    "original_due_at",
    "warning_at",
    "clock",
    "periods",
    "responded_at",
    "outcome",
    "used_seconds",
    "breach_recorded",
    "breach_waived",
    "position",
)
CALENDAR_COLUMNS = ("contract_id", "customer", "timezone", "holiday_region", "appointments")


@dataclass(slots=True)
class _Clock:
    """A row of sla_clocks while a batch evolves it (columns in CLOCK_COLUMNS order)."""

    ticket_id: str
    external_key: str
    contract_id: str
    customer: str
    tier: str | None
    terms_version: str | None
    severity: int
    reporter: str
    status: str
    declined_reason: str | None
    received_at: int
    received_month: str
    target_seconds: int | None
    due_at: int | None
    original_due_at: int | None
    warning_at: int | None
    clock: str
    periods: str | None  # JSON [[start_us, end_us or null], ...]
    responded_at: int | None
    outcome: str | None
    used_seconds: int | None
    breach_recorded: bool
    breach_waived: bool
    position: int


@dataclass(slots=True)
class _Calendar:
    """A row of sla_calendars while a batch evolves it."""

    contract_id: str
    customer: str
    timezone: str
    holiday_region: str
    appointments: str  # JSON [[start_us, end_us], ...], sorted


_clock_values = attrgetter(*CLOCK_COLUMNS)
_calendar_values = attrgetter(*CALENDAR_COLUMNS)


def _upsert(table: str, columns: tuple[str, ...]) -> str:
    keys = ", ".join(columns)
    marks = ", ".join("?" * len(columns))
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns[1:])
    return (
        f"INSERT INTO {table} ({keys}) VALUES ({marks}) "
        f"ON CONFLICT ({columns[0]}) DO UPDATE SET {updates}"
    )


def _warning_at(warnings: list[dict[str, Any]]) -> int | None:
    """The instant of the highest warning threshold (75 %), None while paused before it.

    The terms list thresholds in increasing order, so the highest is the last.
    """
    return us(warnings[-1]["at"]) if warnings else None


# Running periods are kept as JSON text, `[[start_us, end_us], ..., [start_us, null]]`, and
# edited as text: a batch touches them for every hold, resumption and response.
OPEN_END = ",null]]"


def _started(start: int) -> str:
    """The periods of a clock that started at `start` and runs."""
    return f"[[{start}{OPEN_END}"


def _ended(periods: str, end: int) -> str:
    """The periods with the running one ended at `end` (unchanged if none runs)."""
    return periods[: -len(OPEN_END)] + f",{end}]]" if periods.endswith(OPEN_END) else periods


def _resumed(periods: str, start: int) -> str:
    """The periods with a new running one from `start`."""
    return f"{periods[:-1]},[{start}{OPEN_END}"


class SlaBreachProjection(Projection):
    """Keeps `sla_clocks` (one row per ticket clock) and `sla_calendars` (per contract)."""

    name = "sla_breaches"
    shape = 1
    follows = (
        Contract.Signed,
        Contract.AppointmentBooked,
        Contract.AppointmentCancelled,
        Ticket.Opened,
        Ticket.RequestDeclined,
        Ticket.Held,
        Ticket.Resumed,
        Ticket.SeverityChanged,
        Ticket.DeadlineRecalculated,
        Ticket.WarningReached,
        Ticket.ResponseDeadlineBreached,
        Ticket.FirstResponseRecorded,
        Ticket.BreachWaived,
        Ticket.Resolved,
        Ticket.Reopened,
        Ticket.Closed,
    )

    def __init__(self, db: ViewDatabase, *, prefix: str = "") -> None:
        super().__init__(db, prefix=prefix)
        self.clocks = self.table("sla_clocks")
        self.calendars = self.table("sla_calendars")
        self.upsert_clock = _upsert(self.clocks, CLOCK_COLUMNS)
        self.upsert_calendar = _upsert(self.calendars, CALENDAR_COLUMNS)

    def ddl(self) -> list[str]:
        return [
            (
                f"CREATE TABLE IF NOT EXISTS {self.clocks} ("
                "ticket_id TEXT PRIMARY KEY, external_key TEXT NOT NULL, "
                "contract_id TEXT NOT NULL, customer TEXT NOT NULL, tier TEXT, "
                "terms_version TEXT, severity INTEGER NOT NULL, reporter TEXT NOT NULL, "
                "status TEXT NOT NULL, declined_reason TEXT, received_at BIGINT NOT NULL, "
                "received_month TEXT NOT NULL, target_seconds BIGINT, due_at BIGINT, "
                "original_due_at BIGINT, warning_at BIGINT, clock TEXT NOT NULL, periods TEXT, "
                "responded_at BIGINT, outcome TEXT, used_seconds BIGINT, "
                "breach_recorded BOOLEAN NOT NULL, breach_waived BOOLEAN NOT NULL, "
                "position BIGINT NOT NULL)"
            ),
            f"CREATE INDEX IF NOT EXISTS {self.clocks}_due ON {self.clocks} (due_at)",
            f"CREATE INDEX IF NOT EXISTS {self.clocks}_received ON {self.clocks} (received_at)",
            (
                f"CREATE TABLE IF NOT EXISTS {self.calendars} ("
                "contract_id TEXT PRIMARY KEY, customer TEXT NOT NULL, timezone TEXT NOT NULL, "
                "holiday_region TEXT NOT NULL, appointments TEXT NOT NULL)"
            ),
        ]

    def tables(self) -> list[str]:
        return [self.clocks, self.calendars]

    def apply(self, tx: Transaction, events: list[tuple[int, Any]]) -> None:
        batch = _Batch(self, tx, events)
        for position, event in events:
            batch.apply(position, event)
        batch.flush()


class _Batch:
    """The changes of one batch: touched rows loaded once, evolved in order, written once."""

    def __init__(
        self, view: SlaBreachProjection, tx: Transaction, events: list[tuple[int, Any]]
    ) -> None:
        self.view = view
        self.tx = tx
        created_tickets: set[str] = set()
        ticket_ids: set[str] = set()
        created_contracts: set[str] = set()
        contract_ids: set[str] = set()
        for _, event in events:
            kind = type(event)
            if kind is Ticket.Opened or kind is Ticket.RequestDeclined:
                created_tickets.add(str(event.originator_id))
                contract_ids.add(str(event.contract_id))
            elif kind is Contract.Signed:
                created_contracts.add(str(event.originator_id))
            elif kind is Contract.AppointmentBooked or kind is Contract.AppointmentCancelled:
                contract_ids.add(str(event.originator_id))
            else:
                ticket_ids.add(str(event.originator_id))
        self.clocks: dict[str, _Clock] = {
            row[0]: _load_clock(row)
            for row in self._load(view.clocks, CLOCK_COLUMNS, ticket_ids - created_tickets)
        }
        self.calendars: dict[str, _Calendar] = {
            row[0]: _Calendar(*row)
            for row in self._load(
                view.calendars, CALENDAR_COLUMNS, contract_ids - created_contracts
            )
        }
        self.changed_clocks: set[str] = set()
        self.changed_calendars: set[str] = set()
        self.zones: dict[str, ZoneInfo] = {}
        self.handlers: dict[type, Callable[[Any, _Clock], None]] = {
            Ticket.Held: self._held,
            Ticket.Resumed: self._resumed,
            Ticket.SeverityChanged: self._severity_changed,
            Ticket.DeadlineRecalculated: self._recalculated,
            Ticket.WarningReached: _nothing,
            Ticket.ResponseDeadlineBreached: self._breached,
            Ticket.FirstResponseRecorded: self._responded,
            Ticket.BreachWaived: self._waived,
            Ticket.Resolved: self._resolved,
            Ticket.Reopened: self._reopened,
            Ticket.Closed: self._closed,
        }

    def _load(self, table: str, columns: tuple[str, ...], ids: set[str]) -> list[tuple[Any, ...]]:
        found: list[tuple[Any, ...]] = []
        ordered = sorted(ids)
        for start in range(0, len(ordered), CHUNK):
            chunk = ordered[start : start + CHUNK]
            marks = ", ".join("?" * len(chunk))
            found.extend(
                self.tx.fetchall(
                    f"SELECT {', '.join(columns)} FROM {table} WHERE {columns[0]} IN ({marks})",
                    chunk,
                )
            )
        return found

    # -- events --------------------------------------------------------------------------------

    def apply(self, position: int, event: Any) -> None:
        kind = type(event)
        if kind is Ticket.Opened:
            self._opened(position, event)
        elif kind is Ticket.RequestDeclined:
            self._declined(position, event)
        elif kind is Contract.Signed:
            self._signed(event)
        elif kind is Contract.AppointmentBooked or kind is Contract.AppointmentCancelled:
            self._appointment(event)
        else:
            ticket = str(event.originator_id)
            clock = self.clocks.get(ticket)
            handler = self.handlers.get(kind)
            if clock is None or handler is None:  # pragma: no cover - follows its Opened
                return
            handler(event, clock)
            clock.position = position
            self.changed_clocks.add(ticket)

    def _signed(self, event: Any) -> None:
        contract = str(event.originator_id)
        self.calendars[contract] = _Calendar(
            contract, event.customer, event.timezone, event.holiday_region or "", "[]"
        )
        self.changed_calendars.add(contract)

    def _appointment(self, event: Any) -> None:
        contract = str(event.originator_id)
        calendar = self.calendars.get(contract)
        if calendar is None:  # pragma: no cover - an appointment follows its contract's Signed
            return
        windows: list[list[int]] = json.loads(calendar.appointments)
        window = [to_us(event.starts_at), to_us(event.ends_at)]
        if type(event) is Contract.AppointmentBooked:
            windows.append(window)
            windows.sort()
        elif window in windows:
            windows.remove(window)
        calendar.appointments = json.dumps(windows, separators=(",", ":"))
        self.changed_calendars.add(contract)

    def _month(self, contract: str, received_at: datetime) -> str:
        """The month of `received_at` in the contract's timezone, as YYYY-MM."""
        calendar = self.calendars.get(contract)
        name = calendar.timezone if calendar is not None else "UTC"
        zone = self.zones.get(name)
        if zone is None:
            zone = self.zones[name] = load_zone(name)
        local = received_at.astimezone(zone)
        return f"{local.year:04d}-{local.month:02d}"

    def _opened(self, position: int, event: Any) -> None:
        ticket, contract = str(event.originator_id), str(event.contract_id)
        received, due = to_us(event.received_at), us(event.due_at)
        self.clocks[ticket] = _Clock(
            ticket_id=ticket,
            external_key=event.external_key,
            contract_id=contract,
            customer=event.customer,
            tier=event.tier,
            terms_version=event.terms_version,
            severity=event.severity,
            reporter=event.reporter,
            status="open",
            declined_reason=None,
            received_at=received,
            received_month=self._month(contract, event.received_at),
            target_seconds=event.target_seconds,
            due_at=due,
            original_due_at=due,
            warning_at=_warning_at(event.warnings),
            clock=RUNNING,
            periods=_started(received),
            responded_at=None,
            outcome=None,
            used_seconds=None,
            breach_recorded=False,
            breach_waived=False,
            position=position,
        )
        self.changed_clocks.add(ticket)

    def _declined(self, position: int, event: Any) -> None:
        ticket, contract = str(event.originator_id), str(event.contract_id)
        self.clocks[ticket] = _Clock(
            ticket_id=ticket,
            external_key=event.external_key,
            contract_id=contract,
            customer=event.customer,
            tier=None,
            terms_version=None,
            severity=event.severity,
            reporter=event.reporter,
            status=DECLINED,
            declined_reason=event.reason,
            received_at=to_us(event.received_at),
            received_month=self._month(contract, event.received_at),
            target_seconds=None,
            due_at=None,
            original_due_at=None,
            warning_at=None,
            clock=NO_CLOCK,
            periods=None,
            responded_at=None,
            outcome=None,
            used_seconds=None,
            breach_recorded=False,
            breach_waived=False,
            position=position,
        )
        self.changed_clocks.add(ticket)

    def _held(self, event: Any, clock: _Clock) -> None:
        clock.periods = _ended(clock.periods or "[]", to_us(event.held_at))
        clock.status = "on_hold"
        clock.clock = PAUSED
        _figures(clock, event)

    def _resumed(self, event: Any, clock: _Clock) -> None:
        clock.periods = _resumed(clock.periods or "[]", to_us(event.resumed_at))
        clock.status = "open"
        clock.clock = RUNNING
        _figures(clock, event)

    def _severity_changed(self, event: Any, clock: _Clock) -> None:
        clock.severity = event.severity
        clock.target_seconds = event.target_seconds
        if clock.responded_at is None:
            _figures(clock, event)

    def _recalculated(self, event: Any, clock: _Clock) -> None:
        _figures(clock, event)

    def _breached(self, event: Any, clock: _Clock) -> None:
        del event
        clock.breach_recorded = True

    def _responded(self, event: Any, clock: _Clock) -> None:
        responded = to_us(event.responded_at)
        clock.periods = _ended(clock.periods or "[]", responded)
        clock.responded_at = responded
        clock.outcome = event.outcome
        clock.used_seconds = event.used_seconds
        clock.clock = STOPPED

    def _waived(self, event: Any, clock: _Clock) -> None:
        del event
        clock.breach_waived = True

    def _resolved(self, event: Any, clock: _Clock) -> None:
        del event
        clock.status = "resolved"

    def _reopened(self, event: Any, clock: _Clock) -> None:
        del event
        clock.status = "open"

    def _closed(self, event: Any, clock: _Clock) -> None:
        del event
        clock.status = "closed"

    # -- writing -------------------------------------------------------------------------------

    def flush(self) -> None:
        self.tx.executemany(
            self.view.upsert_calendar,
            [_calendar_values(self.calendars[c]) for c in sorted(self.changed_calendars)],
        )
        self.tx.executemany(
            self.view.upsert_clock,
            [_clock_values(self.clocks[t]) for t in sorted(self.changed_clocks)],
        )


def _nothing(event: Any, clock: _Clock) -> None:
    """An event that changes no column (only the row's position moves)."""
    del event, clock


def _figures(clock: _Clock, event: Any) -> None:
    clock.due_at = us(event.due_at)
    clock.warning_at = _warning_at(event.warnings)


def _load_clock(row: tuple[Any, ...]) -> _Clock:
    clock = _Clock(*row)
    clock.breach_recorded = bool(clock.breach_recorded)
    clock.breach_waived = bool(clock.breach_waived)
    return clock


# -- reading ---------------------------------------------------------------------------------------


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
        if customer is not None:
            where.append("LOWER(s.customer) = LOWER(?)")
            params.append(customer)
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
        clock = _load_clock(row[: len(CLOCK_COLUMNS)])
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
        }

    def stats(
        self,
        by: str,
        at: datetime,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Breach figures per tier, customer, severity or month of receipt, sorted by key.

        `tickets` counts opened (not declined) requests; `met` and `breached` count clocks met
        and breached by `at` (a response late, or none and the deadline passed), breaches
        waived counted apart in `waived`; the breach rate is breached / (met + breached);
        median and 90th percentile (nearest rank) of the business hours used to respond.
        """
        column = GROUPINGS.get(by)
        if column is None:
            raise InvalidInputError(f"by: {by!r} is not a grouping; use {', '.join(GROUPINGS)}")
        where, params = self._received(since, until)
        filters = " ".join(f"AND {w}" for w in where)
        breached = (
            "(outcome = 'breached' OR (clock <> 'stopped' AND due_at IS NOT NULL AND ? > due_at))"
        )
        at_us = to_us(at)
        counts = self._read(
            f"SELECT {column}, COUNT(*), "
            "SUM(CASE WHEN outcome = 'met' THEN 1 ELSE 0 END), "
            f"SUM(CASE WHEN {breached} AND NOT breach_waived THEN 1 ELSE 0 END), "
            f"SUM(CASE WHEN {breached} AND breach_waived THEN 1 ELSE 0 END) "
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
            result.append(
                {
                    "key": int(key) if by == "severity" else key,
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
            )
        return result


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


def _seconds_left(calendar: BusinessCalendar, clock: _Clock, at_us: int) -> int:
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
