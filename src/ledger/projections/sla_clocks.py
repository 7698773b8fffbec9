"""The SLA-breach projection: one row per ticket clock, and what each contract's calendar needs.

`sla_clocks` holds one row per ticket, declined requests included: who asked, under which
contract, tier and severity, when it was received (and in which month of the contract's
timezone), the deadline now and as first computed, the 75 % warning instant, the clock
(`running`, `paused`, `stopped`, or `none` for a declined request) with its running periods,
and the response (instant, outcome, business seconds used). `sla_clock_versions` keeps each
row as it stood after every event, with the business instant the event took effect (a board
for a past instant reads it); `sla_counts` counts the clocks by what is stored (running, paused,
met, breached, declined), so the board's counts need no scan. `sla_calendars` holds what a
contract's calendar needs (timezone, holiday region, booked appointments), so the view can
count business time on its own tables. The questions asked of these tables are in
`ledger.projections.sla_breaches`.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from ledger.domain.calendar import from_us, load_zone
from ledger.figures import DECLINED, PAUSED
from ledger.projections.base import Interval, Projection
from ledger.projections.sla_extracts import (
    FOLLOWS,
    Appointment,
    Changed,
    Declined,
    Opened,
    Signed,
)
from ledger.projections.sla_extracts import (
    extract as extract_of,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from zoneinfo import ZoneInfo

    from ledger.projections.db import Transaction, ViewDatabase
    from ledger.projections.sla_extracts import Extract

RUNNING = "running"
STOPPED = "stopped"
NO_CLOCK = "none"

CHUNK = 500  # ids per IN (...) lookup
# A rebuild holds the clocks it touched last in memory between batches (the events of a ticket
# come close together in the log) and writes each row when it leaves them, not every batch.
HELD_CLOCKS = 20_000

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
    "priority_at",
)
# The board's order, soonest deadline first, clocks without one last (an index on each store).
BOARD_KEY = "COALESCE(due_at, 9223372036854775807)"
BOARD_ORDER = f"{BOARD_KEY}, received_at, ticket_id"
LIVE = "clock IN ('running', 'paused')"  # the live board: not declined, not answered
_CLOCK_DDL = (
    "ticket_id TEXT NOT NULL, external_key TEXT NOT NULL, "
    "contract_id TEXT NOT NULL, customer TEXT NOT NULL, tier TEXT, "
    "terms_version TEXT, severity INTEGER NOT NULL, reporter TEXT NOT NULL, "
    "status TEXT NOT NULL, declined_reason TEXT, received_at BIGINT NOT NULL, "
    "received_month TEXT NOT NULL, target_seconds BIGINT, due_at BIGINT, "
    "original_due_at BIGINT, warning_at BIGINT, clock TEXT NOT NULL, periods TEXT, "
    "responded_at BIGINT, outcome TEXT, used_seconds BIGINT, "
    "breach_recorded BOOLEAN NOT NULL, breach_waived BOOLEAN NOT NULL, "
    "position BIGINT NOT NULL, priority_at BIGINT"
)
VERSION_COLUMNS = (*CLOCK_COLUMNS, "effective_at")
CALENDAR_COLUMNS = ("contract_id", "customer", "timezone", "holiday_region", "appointments")


@dataclass(slots=True)
class ClockRow:
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
    priority_at: int | None = None  # when priority troubleshooting was requested


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


def _hour(column: str) -> str:
    """SQL of the hour of an instant column, `column // HOUR_US` (floored on both stores)."""
    whole = f"({column} / {HOUR_US})"  # integer division, towards zero on both stores
    return f"({whole} - CASE WHEN {column} < {whole} * {HOUR_US} THEN 1 ELSE 0 END)"


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
    # 2: the versions of each clock, the counts and the board's indexes; 3: priority_at; 4: the
    # versions' key a unique index (a rebuild makes it at the end); 5: a checkpoint copies the
    # calendars written since the one before, not all of them (a replay reads each one's newest
    # copy: over the full copies of shape 4 that read would grow with the checkpoints)
    shape = 5
    follows = FOLLOWS  # the events it has an extract of
    extract = staticmethod(extract_of)

    def __init__(self, db: ViewDatabase, *, prefix: str = "") -> None:
        super().__init__(db, prefix=prefix)
        self.clocks = self.table("sla_clocks")
        self.calendars = self.table("sla_calendars")
        self.versions = self.table("sla_clock_versions")
        self.counts = self.table("sla_counts")
        self.times = self.table("sla_count_times")
        self.add_time = (
            f"INSERT INTO {self.times} (kind, clock, tier, hour, n) VALUES (?, ?, ?, ?, ?) "
            f"ON CONFLICT (kind, clock, tier, hour) DO UPDATE SET n = {self.times}.n + excluded.n"
        )
        self.add_count = (
            f"INSERT INTO {self.counts} (tier, bucket, n) VALUES (?, ?, ?) "
            f"ON CONFLICT (tier, bucket) DO UPDATE SET n = {self.counts}.n + excluded.n"
        )
        self.held: dict[str, ClockRow] = {}  # a rebuild's clocks in memory (rebuild_started)
        # the clocks changed since `tracked_from` (a checkpoint's position): their values then
        # (None: opened since) and now, for the next checkpoint (`interval_rows`)
        self.tracked_from: int | None = None
        self.then: dict[str, tuple[Any, ...] | None] = {}
        self.now: dict[str, ClockRow] = {}
        self.calendars_written: set[str] = set()  # the calendars written since `tracked_from`

    def ddl(self) -> list[str]:
        clocks, versions, counts = self.clocks, self.versions, self.counts
        return [
            f"CREATE TABLE IF NOT EXISTS {clocks} ({_CLOCK_DDL}, PRIMARY KEY (ticket_id))",
            (f"CREATE TABLE IF NOT EXISTS {versions} ({_CLOCK_DDL}, effective_at BIGINT NOT NULL)"),
            (
                f"CREATE TABLE IF NOT EXISTS {counts} (tier TEXT NOT NULL, bucket TEXT NOT NULL, "
                "n BIGINT NOT NULL, PRIMARY KEY (tier, bucket))"
            ),
            (
                f"CREATE TABLE IF NOT EXISTS {self.times} (kind TEXT NOT NULL, "
                "clock TEXT NOT NULL, tier TEXT NOT NULL, hour BIGINT NOT NULL, "
                "n BIGINT NOT NULL, PRIMARY KEY (kind, clock, tier, hour))"
            ),
            (
                f"CREATE TABLE IF NOT EXISTS {self.calendars} ("
                "contract_id TEXT PRIMARY KEY, customer TEXT NOT NULL, timezone TEXT NOT NULL, "
                "holiday_region TEXT NOT NULL, appointments TEXT NOT NULL)"
            ),
            *self.index_ddl(),
        ]

    def indexes(self) -> list[tuple[str, str]]:
        """The reads' indexes (name, table and columns): a rebuild makes them at the end."""
        clocks = self.clocks
        return [
            (f"{clocks}_due", f"{clocks} (due_at)"),
            (f"{clocks}_received", f"{clocks} (received_at)"),
            # the board's pages (keyset on its order), the live board's apart
            (f"{clocks}_board", f"{clocks} ({BOARD_ORDER})"),
            (f"{clocks}_live", f"{clocks} ({BOARD_ORDER}) WHERE {LIVE}"),
            # the counts that depend on the instant: breached and at risk
            (f"{clocks}_clock_due", f"{clocks} (clock, due_at)"),
            (f"{clocks}_clock_warning", f"{clocks} (clock, warning_at, due_at)"),
            (f"{self.versions}_effective", f"{self.versions} (effective_at)"),
        ]

    def unique_indexes(self) -> list[tuple[str, str]]:
        """The versions' key: appended, never written by key, so a rebuild makes it at the end
        (kept row by row, it cost a rebuild of 1M events a tenth of its server time)."""
        versions = self.versions
        return [(f"{versions}_key", f"{versions} (ticket_id, effective_at, position)")]

    def track_from(self, position: int | None) -> None:
        self.tracked_from, self.then, self.now = position, {}, {}
        self.calendars_written = set()

    def interval_keys(self, table: str, since: int) -> set[str] | None:
        if table != self.calendars or self.tracked_from != since:
            return None
        return self.calendars_written

    def interval_rows(self, table: str, since: int) -> Interval | None:
        if table != self.clocks or self.tracked_from != since:
            return None
        then = [values for values in self.then.values() if values is not None]
        return Interval(CLOCK_COLUMNS, then, [_clock_values(c) for c in self.now.values()])

    def rebuild_started(self, tx: Transaction) -> None:
        """Rows without the reads' indexes; the kept counts wait for the final rows, and the
        clocks touched last are held in memory (`held`, oldest first) until they leave it."""
        super().rebuild_started(tx)
        self.held = {}

    def rebuild_finished(self, tx: Transaction) -> None:
        """The clocks still held written, the kept counts counted from the final rows, and the
        reads' indexes."""
        held, self.held = self.held, {}
        tx.upsert(self.clocks, CLOCK_COLUMNS, [_clock_values(c) for c in held.values()])
        self.derive_from(tx, self.clocks)
        super().rebuild_finished(tx)

    def derived(self, source: str) -> dict[str, str]:
        """The kept counts (`sla_counts`, `sla_count_times`) counted from the clocks of
        `source` as `bucket` and `time_keys` count a clock: at the end of a rebuild, at a
        checkpoint (the clocks changed since the previous one), and where an as-of replay
        restores a checkpoint that does not keep them (made before it did)."""
        kept = f"status <> '{DECLINED}'"
        counts = (
            f"SELECT COALESCE(tier, ''), CASE WHEN status = '{DECLINED}' THEN '{DECLINED}' "
            f"WHEN clock = '{STOPPED}' THEN COALESCE(outcome, 'None') ELSE clock END, COUNT(*) "
            f"FROM {source} GROUP BY 1, 2"
        )
        times = (
            "SELECT kind, clock, tier, hour, COUNT(*) FROM ("
            f"SELECT 'due' AS kind, clock, COALESCE(tier, '') AS tier, {_hour('due_at')} AS hour "
            f"FROM {source} WHERE {kept} AND clock IN ('{RUNNING}', '{PAUSED}') "
            "AND due_at IS NOT NULL "
            f"UNION ALL SELECT 'warning', clock, COALESCE(tier, ''), {_hour('warning_at')} "
            f"FROM {source} WHERE {kept} AND clock = '{RUNNING}' AND warning_at IS NOT NULL "
            f"UNION ALL SELECT 'duew', clock, COALESCE(tier, ''), {_hour('due_at')} "
            f"FROM {source} WHERE {kept} AND clock = '{RUNNING}' AND warning_at IS NOT NULL "
            "AND due_at IS NOT NULL) AS keys GROUP BY kind, clock, tier, hour"
        )
        return {"sla_counts": counts, "sla_count_times": times}

    def tables(self) -> list[str]:
        return [self.clocks, self.versions, self.counts, self.times, self.calendars]

    @staticmethod
    def recorded_at(extract: Any) -> int:
        return int(extract.recorded_at)

    def apply(self, tx: Transaction, events: list[tuple[int, Any]]) -> None:
        self.fold(tx, [(position, extract_of(event)) for position, event in events])

    def fold(self, tx: Transaction, extracts: list[tuple[int, Any]]) -> None:
        """Apply the events' extracts (`sla_extracts`), in log order, inside `tx`."""
        batch = _Batch(self, tx, extracts)
        for position, extract in extracts:
            batch.apply(position, extract)
        batch.flush()


class _Batch:
    """The changes of one batch: touched rows loaded once, evolved in order, written once."""

    def __init__(
        self, view: SlaBreachProjection, tx: Transaction, extracts: list[tuple[int, Extract]]
    ) -> None:
        self.view = view
        self.tx = tx
        created_tickets: set[str] = set()
        ticket_ids: set[str] = set()
        created_contracts: set[str] = set()
        contract_ids: set[str] = set()
        for _, extract in extracts:
            kind = type(extract)
            if kind is Changed:
                ticket_ids.add(extract.key)
            elif kind is Opened or kind is Declined:
                created_tickets.add(extract.key)
                contract_ids.add(extract.contract)  # type: ignore[union-attr]
            elif kind is Signed:
                created_contracts.add(extract.key)
            else:
                contract_ids.add(extract.key)
        self.held = view.held if view.rebuilding else None
        self.clocks: dict[str, ClockRow] = {}
        if self.held is not None:  # a rebuild: the clocks it holds, written or not yet
            for ticket in ticket_ids & self.held.keys():
                self.clocks[ticket] = self.held.pop(ticket)
        self.clocks.update(
            (row[0], load_clock(row))
            for row in self._load(
                view.read_table("sla_clocks"),
                CLOCK_COLUMNS,
                ticket_ids - created_tickets - self.clocks.keys(),
            )
        )
        self.calendars: dict[str, _Calendar] = {
            row[0]: _Calendar(*row)
            for row in self._load(
                view.read_table("sla_calendars"),
                CALENDAR_COLUMNS,
                contract_ids - created_contracts,
            )
        }
        # what each loaded clock counted as before the batch (sla_counts moves by the difference;
        # a rebuild counts the final rows once instead)
        self.counted = not view.rebuilding
        self.buckets = {t: bucket(c) for t, c in self.clocks.items()} if self.counted else {}
        # the loaded clocks' values before the batch, for the next checkpoint (`track_from`)
        self.before = (
            None if view.tracked_from is None
            else {t: _clock_values(c) for t, c in self.clocks.items() if t not in view.then}
        )  # fmt: skip
        self.hours = {t: time_keys(c) for t, c in self.clocks.items()} if self.counted else {}
        self.versions: list[tuple[Any, ...]] = []
        self.changed_clocks: set[str] = set()
        self.changed_calendars: set[str] = set()
        self.zones: dict[str, ZoneInfo] = {}
        self.handlers: dict[str, Callable[[Changed, ClockRow], None]] = {
            "Held": self._held,
            "Resumed": self._resumed,
            "SeverityChanged": self._severity_changed,
            "DeadlineRecalculated": _figures,
            "WarningReached": _nothing,
            "ResponseDeadlineBreached": self._breached,
            "FirstResponseRecorded": self._responded,
            "BreachWaived": self._waived,
            "PriorityTroubleshootingRequested": self._priority,
            "Resolved": self._resolved,
            "Reopened": self._reopened,
            "Closed": self._closed,
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

    def apply(self, position: int, extract: Extract) -> None:
        """Apply an event's extract."""
        kind = type(extract)
        if kind is Changed:
            clock = self.clocks.get(extract.key)
            handler = self.handlers.get(extract.kind)  # type: ignore[union-attr]
            if clock is None or handler is None:  # pragma: no cover - follows its Opened
                return
            handler(extract, clock)  # type: ignore[arg-type]
            clock.position = position
            self.changed_clocks.add(extract.key)
            self._version(clock, extract.effective_at)  # type: ignore[union-attr]
        elif kind is Opened:
            self._opened(position, extract)  # type: ignore[arg-type]
        elif kind is Declined:
            self._declined(position, extract)  # type: ignore[arg-type]
        elif kind is Signed:
            self._signed(extract)  # type: ignore[arg-type]
        else:
            self._appointment(extract)  # type: ignore[arg-type]

    def _version(self, clock: ClockRow, effective: int) -> None:
        """Keep the row as it stands after an event, from the instant the event took effect."""
        self.versions.append((*_clock_values(clock), effective))

    def _signed(self, signed: Signed) -> None:
        contract = signed.key
        self.calendars[contract] = _Calendar(
            contract, signed.customer, signed.timezone, signed.holiday_region, "[]"
        )
        self.changed_calendars.add(contract)

    def _appointment(self, appointment: Appointment) -> None:
        contract = appointment.key
        calendar = self.calendars.get(contract)
        if calendar is None:  # pragma: no cover - an appointment follows its contract's Signed
            return
        windows: list[list[int]] = json.loads(calendar.appointments)
        window = [appointment.starts_at, appointment.ends_at]
        if appointment.booked:
            windows.append(window)
            windows.sort()
        elif window in windows:
            windows.remove(window)
        calendar.appointments = json.dumps(windows, separators=(",", ":"))
        self.changed_calendars.add(contract)

    def _month(self, contract: str, received_at: int) -> str:
        """The month of `received_at` in the contract's timezone, as YYYY-MM."""
        calendar = self.calendars.get(contract)
        name = calendar.timezone if calendar is not None else "UTC"
        zone = self.zones.get(name)
        if zone is None:
            zone = self.zones[name] = load_zone(name)
        local = from_us(received_at).astimezone(zone)
        return f"{local.year:04d}-{local.month:02d}"

    def _opened(self, position: int, opened: Opened) -> None:
        ticket, received, due = opened.key, opened.received_at, opened.due_at
        self.clocks[ticket] = ClockRow(
            ticket_id=ticket,
            external_key=opened.external_key,
            contract_id=opened.contract,
            customer=opened.customer,
            tier=opened.tier,
            terms_version=opened.terms_version,
            severity=opened.severity,
            reporter=opened.reporter,
            status="open",
            declined_reason=None,
            received_at=received,
            received_month=self._month(opened.contract, received),
            target_seconds=opened.target_seconds,
            due_at=due,
            original_due_at=due,
            warning_at=opened.warning_at,
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
        self._version(self.clocks[ticket], received)

    def _declined(self, position: int, declined: Declined) -> None:
        ticket = declined.key
        self.clocks[ticket] = ClockRow(
            ticket_id=ticket,
            external_key=declined.external_key,
            contract_id=declined.contract,
            customer=declined.customer,
            tier=None,
            terms_version=None,
            severity=declined.severity,
            reporter=declined.reporter,
            status=DECLINED,
            declined_reason=declined.reason,
            received_at=declined.received_at,
            received_month=self._month(declined.contract, declined.received_at),
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
        self._version(self.clocks[ticket], declined.received_at)

    def _held(self, change: Changed, clock: ClockRow) -> None:
        clock.periods = _ended(clock.periods or "[]", change.effective_at)
        clock.status = "on_hold"
        clock.clock = PAUSED
        _figures(change, clock)

    def _resumed(self, change: Changed, clock: ClockRow) -> None:
        clock.periods = _resumed(clock.periods or "[]", change.effective_at)
        clock.status = "open"
        clock.clock = RUNNING
        _figures(change, clock)

    def _severity_changed(self, change: Changed, clock: ClockRow) -> None:
        clock.severity = change.severity  # type: ignore[assignment]
        clock.target_seconds = change.target_seconds
        if clock.responded_at is None:
            _figures(change, clock)

    def _breached(self, change: Changed, clock: ClockRow) -> None:
        del change
        clock.breach_recorded = True

    def _responded(self, change: Changed, clock: ClockRow) -> None:
        responded = change.effective_at
        clock.periods = _ended(clock.periods or "[]", responded)
        clock.responded_at = responded
        clock.outcome = change.outcome
        clock.used_seconds = change.used_seconds
        clock.clock = STOPPED

    def _waived(self, change: Changed, clock: ClockRow) -> None:
        del change
        clock.breach_waived = True

    def _priority(self, change: Changed, clock: ClockRow) -> None:
        clock.priority_at = change.effective_at

    def _resolved(self, change: Changed, clock: ClockRow) -> None:
        del change
        clock.status = "resolved"

    def _reopened(self, change: Changed, clock: ClockRow) -> None:
        del change
        clock.status = "open"

    def _closed(self, change: Changed, clock: ClockRow) -> None:
        del change
        clock.status = "closed"

    # -- writing -------------------------------------------------------------------------------

    def flush(self) -> None:
        view, tx = self.view, self.tx
        tx.upsert(
            view.calendars,
            CALENDAR_COLUMNS,
            [_calendar_values(self.calendars[c]) for c in sorted(self.changed_calendars)],
        )
        if self.held is None:
            written = [self.clocks[t] for t in sorted(self.changed_clocks)]
        else:  # the batch's clocks held as the newest; the oldest beyond HELD_CLOCKS written
            self.held.update(self.clocks)
            leaving = max(len(self.held) - HELD_CLOCKS, 0)
            written = [self.held.pop(t) for t in list(itertools.islice(self.held, leaving))]
        tx.upsert(view.clocks, CLOCK_COLUMNS, [_clock_values(c) for c in written])
        tx.append(view.versions, VERSION_COLUMNS, self.versions)
        if self.before is not None:
            view.calendars_written.update(self.changed_calendars)
            then, now = view.then, view.now
            for ticket in self.changed_clocks:
                if ticket not in then:
                    then[ticket] = self.before.get(ticket)
                now[ticket] = self.clocks[ticket]  # its values read at the checkpoint
        if self.counted:
            self._count()

    def _count(self) -> None:
        """Move the kept counts by what the batch changed."""
        moves: dict[tuple[str, str], int] = {}
        for ticket in self.changed_clocks:
            before, after = self.buckets.get(ticket), bucket(self.clocks[ticket])
            if before != after:
                if before is not None:
                    moves[before] = moves.get(before, 0) - 1
                moves[after] = moves.get(after, 0) + 1
        self.tx.executemany(
            self.view.add_count, [(*key, n) for key, n in sorted(moves.items()) if n]
        )
        if any(n < 0 for n in moves.values()):  # a bucket emptied leaves no row (as a rebuild)
            self.tx.execute(f"DELETE FROM {self.view.counts} WHERE n = 0")
        hours: dict[tuple[str, str, str, int], int] = {}
        for ticket in self.changed_clocks:
            for key in self.hours.get(ticket, ()):
                hours[key] = hours.get(key, 0) - 1
            for key in time_keys(self.clocks[ticket]):
                hours[key] = hours.get(key, 0) + 1
        self.tx.executemany(
            self.view.add_time, [(*key, n) for key, n in sorted(hours.items()) if n]
        )
        if any(n < 0 for n in hours.values()):
            self.tx.execute(f"DELETE FROM {self.view.times} WHERE n = 0")


def _nothing(change: Changed, clock: ClockRow) -> None:
    """An event that changes no column (only the row's position moves)."""
    del change, clock


def _figures(change: Changed, clock: ClockRow) -> None:
    """The deadline and warning a hold, resumption, recalculation or new severity leaves."""
    clock.due_at = change.due_at
    clock.warning_at = change.warning_at


def bucket(clock: ClockRow) -> tuple[str, str]:
    """What a clock counts as in sla_counts: its tier ('' when declined) and declined, its
    outcome once answered, or its clock (running, paused)."""
    tier = clock.tier or ""
    if clock.status == DECLINED:
        return tier, DECLINED
    if clock.clock == STOPPED:
        return tier, str(clock.outcome)
    return tier, clock.clock


HOUR_US = 3_600_000_000


def time_keys(clock: ClockRow) -> list[tuple[str, str, str, int]]:
    """Where a live clock counts in sla_count_times, by the hour of its instants: `due` (its
    deadline), and for a running clock `warning` (its 75 % warning) and `duew` (its deadline,
    when it has a warning too). The board's counts at an instant add the hours before it and
    count the rows of its own hour; answered and declined clocks are not there."""
    if clock.status == DECLINED or clock.clock not in (RUNNING, PAUSED):
        return []
    keys = []
    tier = clock.tier or ""
    if clock.due_at is not None:
        keys.append(("due", clock.clock, tier, clock.due_at // HOUR_US))
    if clock.clock == RUNNING and clock.warning_at is not None:
        keys.append(("warning", RUNNING, tier, clock.warning_at // HOUR_US))
        if clock.due_at is not None:
            keys.append(("duew", RUNNING, tier, clock.due_at // HOUR_US))
    return keys


def load_clock(row: tuple[Any, ...]) -> ClockRow:
    """A row of sla_clocks as read (in CLOCK_COLUMNS order), its flags as booleans."""
    clock = ClockRow(*row)
    clock.breach_recorded = bool(clock.breach_recorded)
    clock.breach_waived = bool(clock.breach_waived)
    return clock
