"""The deadlines view: every pending instant the scheduler must act on.

One row per pending fact, keyed by (kind, aggregate, detail):
- `warning` (ticket, share): a 50 % / 75 % warning instant not reached yet;
- `breach` (ticket): the response deadline of an open clock, while no breach is recorded;
- `lapse` (contract): the end of the latest term, while the agreement runs unrenewed;
- `term_grant` (account, term number): the start of a scheduled term not granted yet;
- `lot_expiry` (account, lot): the expiry of a lot not recorded as expired (moved forward to
  the termination of the agreement when that comes first);
- `lots_expiring` (contract watch, lot): a lot of points `LEDGER_ALERTS_EXPIRING_DAYS` before
  its own expiry (or when it is granted, if later), until told or expired;
- `term_ending` (contract watch, the term's end): the latest term `LEDGER_ALERTS_TERM_DAYS`
  before it ends, until told, renewed, lapsed or terminated.
The notice days are read when the view is built; after changing them, rebuild it.
A row disappears as soon as its fact is recorded or no longer applies (a response stops the
clock, a renewal moves the lapse, ...). A paused clock has no deadline rows until it resumes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ledger.domain.calendar import to_us
from ledger.domain.contract import Contract
from ledger.domain.contract_watch import ContractWatch
from ledger.domain.credit_account import POINTS, CreditAccount
from ledger.domain.ticket import Ticket
from ledger.projections.base import STATE_TABLE, Projection
from ledger.projections.db import ViewPool, instant, us
from ledger.settings import alert_notice_days

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from ledger.projections.db import Transaction, ViewDatabase
    from ledger.settings import DatabaseSettings

WARNING = "warning"
BREACH = "breach"
LAPSE = "lapse"
TERM_GRANT = "term_grant"
LOT_EXPIRY = "lot_expiry"
LOTS_EXPIRING = "lots_expiring"
TERM_ENDING = "term_ending"
KINDS = (WARNING, BREACH, LAPSE, TERM_GRANT, LOT_EXPIRY, LOTS_EXPIRING, TERM_ENDING)

Key = tuple[str, str, str]
DEADLINE_COLUMNS = ("kind", "aggregate_id", "detail", "contract_id", "due_at")
TICKET_COLUMNS = ("ticket_id", "contract_id", "breach_recorded", "responded")
ACCOUNT_COLUMNS = ("account_id", "contract_id", "ended_at")
VIEW_CONNECTIONS = 2  # idle connections to the view kept open for the application
CLOCK_EVENTS = (Ticket.Held, Ticket.Resumed, Ticket.SeverityChanged, Ticket.DeadlineRecalculated)


@dataclass(frozen=True)
class Deadline:
    """A pending fact: what, on which aggregate, when."""

    kind: str
    aggregate_id: str
    detail: str
    contract_id: str
    due_at: datetime


class DeadlinesProjection(Projection):
    """Keeps the `deadlines` table: every pending deadline, warning, term end and expiry."""

    name = "deadlines"
    shape = 3  # 2: accounts keep when the agreement ended; 3: lots_expiring, term_ending
    follows = (
        Contract.Signed,
        Contract.Renewed,
        Contract.Reinstated,
        Contract.Lapsed,
        Contract.Terminated,
        CreditAccount.Opened,
        CreditAccount.TermScheduled,
        CreditAccount.PointsGranted,
        CreditAccount.SessionsGranted,
        CreditAccount.PackagePurchased,
        CreditAccount.LotExpired,
        CreditAccount.AgreementEnded,
        Ticket.Opened,
        Ticket.Held,
        Ticket.Resumed,
        Ticket.SeverityChanged,
        Ticket.DeadlineRecalculated,
        Ticket.WarningReached,
        Ticket.ResponseDeadlineBreached,
        Ticket.FirstResponseRecorded,
        ContractWatch.LotsExpiring,
        ContractWatch.TermEnding,
    )

    def __init__(self, db: ViewDatabase, *, prefix: str = "") -> None:
        super().__init__(db, prefix=prefix)
        expiring, ending = alert_notice_days()
        self.expiring_notice = timedelta(days=expiring)
        self.term_notice = timedelta(days=ending)
        self.deadlines = self.table("deadlines")
        self.tickets = self.table("deadline_tickets")
        self.accounts = self.table("deadline_accounts")

    def ddl(self) -> list[str]:
        return [
            (
                f"CREATE TABLE IF NOT EXISTS {self.deadlines} ("
                "kind TEXT NOT NULL, aggregate_id TEXT NOT NULL, detail TEXT NOT NULL, "
                "contract_id TEXT NOT NULL, due_at BIGINT NOT NULL, "
                "PRIMARY KEY (kind, aggregate_id, detail))"
            ),
            (
                f"CREATE TABLE IF NOT EXISTS {self.tickets} ("
                "ticket_id TEXT PRIMARY KEY, contract_id TEXT NOT NULL, "
                "breach_recorded BOOLEAN NOT NULL, responded BOOLEAN NOT NULL)"
            ),
            (
                f"CREATE TABLE IF NOT EXISTS {self.accounts} ("
                "account_id TEXT PRIMARY KEY, contract_id TEXT NOT NULL, ended_at BIGINT)"
            ),
            *self.index_ddl(),
        ]

    def indexes(self) -> list[tuple[str, str]]:
        return [
            (f"{self.deadlines}_due", f"{self.deadlines} (due_at)"),
            (f"{self.tickets}_contract", f"{self.tickets} (contract_id)"),
        ]

    def tables(self) -> list[str]:
        return [self.deadlines, self.tickets, self.accounts]

    # -- applying a batch ----------------------------------------------------------------------

    def apply(self, tx: Transaction, events: list[tuple[int, Any]]) -> None:
        batch = _Batch(self, tx, events)
        for (_, event), key in zip(events, batch.keys, strict=True):
            batch.apply(event, key)
        batch.flush()


class _Batch:
    """The changes of one batch, reduced to one final write per row."""

    def __init__(
        self, view: DeadlinesProjection, tx: Transaction, events: list[tuple[int, Any]]
    ) -> None:
        self.view = view
        self.tx = tx
        self.rows: dict[Key, tuple[str, int] | None] = {}  # key -> (contract, due) or deleted
        self.details: dict[tuple[str, str], set[str]] = {}  # (kind, aggregate) -> details in rows
        self.cleared: set[tuple[str, str]] = set()  # (kind, aggregate) deleted wholesale
        self.keys = [str(event.originator_id) for _, event in events]  # each event's, once
        ticket_ids: set[str] = set()
        account_ids: set[str] = set()
        for (_, event), key in zip(events, self.keys, strict=True):
            if isinstance(event, Ticket.Event):
                ticket_ids.add(key)
            elif isinstance(event, CreditAccount.Event):
                account_ids.add(key)
        self.tickets = self._load(
            view.tickets, "ticket_id, contract_id, breach_recorded, responded", ticket_ids
        )
        self.accounts = self._load(
            view.accounts, "account_id, contract_id, ended_at", account_ids, flags=False
        )
        self.capped: list[tuple[int, str, int]] = []  # (instant, account, instant): expiries cut
        self.changed_tickets: set[str] = set()
        self.changed_accounts: set[str] = set()

    def _load(
        self, table: str, columns: str, ids: set[str], *, flags: bool = True
    ) -> dict[str, list[Any]]:
        found: dict[str, list[Any]] = {}
        ordered = sorted(ids)
        for start in range(0, len(ordered), 500):
            chunk = ordered[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            key = columns.split(",", maxsplit=1)[0]
            for row in self.tx.fetchall(
                f"SELECT {columns} FROM {table} WHERE {key} IN ({marks})", chunk
            ):
                found[row[0]] = [row[0], row[1], *[bool(v) if flags else v for v in row[2:]]]
        return found

    # -- row operations ------------------------------------------------------------------------

    def _set(self, kind: str, aggregate: str, detail: str, value: tuple[str, int] | None) -> None:
        self.rows[(kind, aggregate, detail)] = value
        details = self.details.get((kind, aggregate))
        if details is None:
            self.details[(kind, aggregate)] = {detail}
        else:
            details.add(detail)

    def put(
        self, kind: str, aggregate: UUID | str, detail: str, contract: UUID | str, due: datetime
    ) -> None:
        self._set(kind, str(aggregate), detail, (str(contract), to_us(due)))

    def delete(self, kind: str, aggregate: UUID | str, detail: str) -> None:
        self._set(kind, str(aggregate), detail, None)

    def clear(self, kind: str, aggregate: UUID | str) -> None:
        """Delete every row of `kind` for an aggregate (including earlier batches')."""
        aggregate = str(aggregate)
        self.cleared.add((kind, aggregate))
        for detail in self.details.get((kind, aggregate), ()):
            self.rows[(kind, aggregate, detail)] = None

    # -- events --------------------------------------------------------------------------------

    def apply(self, event: Any, key: str) -> None:
        """Apply an event; `key` is its aggregate's id as text. Tickets' and accounts' events,
        most of the log, are told apart first."""
        if isinstance(event, Ticket.Event):
            self._ticket(event, key)
            return
        if isinstance(event, CreditAccount.Event):
            self._account(event, key)
            return
        aggregate = event.originator_id
        if isinstance(event, Contract.Signed | Contract.Renewed | Contract.Reinstated):
            self.put(LAPSE, aggregate, "", aggregate, event.ends_at)
            watch = ContractWatch.create_id(aggregate)
            self.clear(TERM_ENDING, watch)
            notice = event.ends_at - self.view.term_notice
            self.put(TERM_ENDING, watch, event.ends_at.isoformat(), aggregate, notice)
        elif isinstance(event, Contract.Lapsed | Contract.Terminated):
            self.delete(LAPSE, aggregate, "")
            self.clear(TERM_ENDING, ContractWatch.create_id(aggregate))
        elif isinstance(event, ContractWatch.LotsExpiring):
            self.delete(LOTS_EXPIRING, aggregate, event.lot_id)
        elif isinstance(event, ContractWatch.TermEnding):
            self.delete(TERM_ENDING, aggregate, event.ends_at.isoformat())

    def _account(self, event: Any, account: str) -> None:
        if isinstance(event, CreditAccount.Opened):
            self.accounts[account] = [account, str(event.contract_id), None]
            self.changed_accounts.add(account)
            return
        known = self.accounts.get(account)
        if known is None:  # pragma: no cover - an account event always follows its Opened
            return
        contract, ended = known[1], known[2]
        if isinstance(event, CreditAccount.AgreementEnded):
            end = to_us(event.ended_at)
            known[2] = end
            self.changed_accounts.add(account)
            self.clear(TERM_GRANT, account)
            for detail in self.details.get((LOT_EXPIRY, account), ()):  # this batch's move
                value = self.rows[(LOT_EXPIRY, account, detail)]
                if value is not None and value[1] > end:
                    self.rows[(LOT_EXPIRY, account, detail)] = (value[0], end)
            self.capped.append((end, account, end))  # and earlier batches' in the table
        elif isinstance(event, CreditAccount.TermScheduled):
            if ended is None:
                self.put(TERM_GRANT, account, str(event.term_number), contract, event.starts_at)
        elif isinstance(event, CreditAccount.PointsGranted | CreditAccount.SessionsGranted):
            if event.reason == "term":
                self.delete(TERM_GRANT, account, str(event.term_number))
            self._expiry(known, event, event.available_from)
            if isinstance(event, CreditAccount.PointsGranted):
                self._notice(contract, event, event.granted_at)
        elif isinstance(event, CreditAccount.PackagePurchased):
            self._expiry(known, event, event.purchased_at)
            self._notice(contract, event, event.purchased_at)
        elif isinstance(event, CreditAccount.LotExpired):
            self.delete(LOT_EXPIRY, account, event.lot_id)
            if event.unit == POINTS:
                self.delete(LOTS_EXPIRING, ContractWatch.create_id(UUID(contract)), event.lot_id)

    def _notice(self, contract: str, event: Any, granted_at: datetime) -> None:
        """A lot of points' `lots_expiring` row: the notice before its own expiry."""
        if event.expires_at is None:
            return
        due = max(event.expires_at - self.view.expiring_notice, granted_at)
        watch = ContractWatch.create_id(UUID(contract))
        self.put(LOTS_EXPIRING, watch, event.lot_id, contract, due)

    def _expiry(self, known: list[Any], event: Any, available_from: datetime) -> None:
        """A lot's expiry row: its own expiry, or the end of the agreement if that is earlier
        (as CreditAccount.lot_ends_at has it)."""
        account, contract, ended = known
        due = us(event.expires_at)
        if ended is not None:
            cut = max(ended, to_us(available_from))
            due = cut if due is None else min(due, cut)
        if due is not None:
            self._set(LOT_EXPIRY, account, event.lot_id, (contract, due))

    def _ticket(self, event: Any, ticket: str) -> None:
        if isinstance(event, Ticket.Opened):
            self.tickets[ticket] = [ticket, str(event.contract_id), False, False]
            self.changed_tickets.add(ticket)
            self._clock(ticket, event.due_at, event.warnings)
            return
        known = self.tickets.get(ticket)
        if known is None:  # declined tickets have no clock
            return
        if isinstance(event, Ticket.FirstResponseRecorded):
            known[3] = True
            self.changed_tickets.add(ticket)
            self.clear(WARNING, ticket)
            self.clear(BREACH, ticket)
        elif known[3]:
            return
        elif isinstance(event, Ticket.ResponseDeadlineBreached):
            known[2] = True
            self.changed_tickets.add(ticket)
            self.delete(BREACH, ticket, "")
        elif isinstance(event, Ticket.WarningReached):
            self.delete(WARNING, ticket, _share(event.share))
        elif isinstance(
            event,
            Ticket.Held | Ticket.Resumed | Ticket.SeverityChanged | Ticket.DeadlineRecalculated,
        ):
            self._clock(ticket, event.due_at, event.warnings)

    def _clock(self, ticket: str, due_at: datetime | None, warnings: list[dict[str, Any]]) -> None:
        """Replace a ticket's deadline rows with the clock's current instants."""
        contract, breach_recorded = self.tickets[ticket][1], self.tickets[ticket][2]
        self.clear(WARNING, ticket)
        self.clear(BREACH, ticket)
        if due_at is not None and not breach_recorded:
            self.put(BREACH, ticket, "", contract, due_at)
        for warning in warnings:
            if warning["at"] is not None and not warning["reached"]:
                self.put(WARNING, ticket, _share(warning["share"]), contract, warning["at"])

    # -- writing -------------------------------------------------------------------------------

    def flush(self) -> None:
        table = self.view.deadlines
        deleted = [key for key, value in self.rows.items() if value is None]
        written = [(*key, *value) for key, value in self.rows.items() if value is not None]
        tickets = [self.tickets[t] for t in sorted(self.changed_tickets)]
        accounts = [self.accounts[a] for a in sorted(self.changed_accounts)]
        self.tx.delete(table, ("kind", "aggregate_id"), sorted(self.cleared))
        self.tx.delete(table, ("kind", "aggregate_id", "detail"), deleted)
        self.tx.executemany(
            f"UPDATE {table} SET due_at = ? WHERE kind = '{LOT_EXPIRY}' "
            "AND aggregate_id = ? AND due_at > ?",
            self.capped,
        )
        self.tx.upsert(table, DEADLINE_COLUMNS, written, key=3)
        self.tx.upsert(self.view.tickets, TICKET_COLUMNS, tickets)
        self.tx.upsert(self.view.accounts, ACCOUNT_COLUMNS, accounts)


@lru_cache(maxsize=64)  # a handful of shares (0.5, 0.75), formatted for every clock's rows
def _share(value: Any) -> str:
    """A warning share as a stable key: `0.5`, `0.75`."""
    return f"{value.normalize():f}" if hasattr(value, "normalize") else str(value)


LISTED_CHUNK = 200  # facts per question of DeadlinesView.listed


class DeadlinesView:
    """Questions the scheduler and `status` ask of the deadlines table."""

    def __init__(self, db: ViewDatabase, *, prefix: str = "") -> None:
        self.db = db
        self.table = f"{prefix}deadlines"
        self.tickets = f"{prefix}deadline_tickets"

    def unanswered_tickets(self, contract_id: UUID) -> tuple[int, set[str]]:
        """The tickets opened under a contract whose first response the view has not seen,
        and the position of the log it has applied, read in one statement (0 and none
        before the view has run, while it is being rebuilt, or waits to be)."""
        rows = self.db.select(
            f"SELECT s.position, s.shape, t.ticket_id FROM {STATE_TABLE} s "
            f"LEFT JOIN {self.tickets} t ON t.contract_id = ? AND NOT t.responded "
            "WHERE s.name = ?",
            (str(contract_id), DeadlinesProjection.name),
        )
        if not rows or int(rows[0][1]) != DeadlinesProjection.shape:
            return 0, set()
        return int(rows[0][0]), {row[2] for row in rows if row[2] is not None}

    def due(
        self, at: datetime, *, limit: int = 1000, since: datetime | None = None
    ) -> list[Deadline]:
        """Pending facts due by `at`, earliest first: each due at or before `at`, except a
        breach, which is due only strictly after its deadline (a tick at the deadline itself
        has nothing to record: a response at that instant is still in time); with `since`,
        only those due at or after it."""
        at_us = us(at)
        rows = self.db.read(
            f"SELECT kind, aggregate_id, detail, contract_id, due_at FROM {self.table} "
            "WHERE due_at <= ? AND due_at >= ? AND NOT (kind = ? AND due_at = ?) "
            "ORDER BY due_at, kind, aggregate_id, detail LIMIT ?",
            (at_us, -(2**62) if since is None else us(since), BREACH, at_us, limit),
        )
        return [_deadline(r) for r in rows]

    def next_due(self) -> Deadline | None:
        """The earliest pending fact, if any."""
        rows = self.db.read(
            f"SELECT kind, aggregate_id, detail, contract_id, due_at FROM {self.table} "
            "ORDER BY due_at, kind, aggregate_id, detail LIMIT 1"
        )
        return _deadline(rows[0]) if rows else None

    def counts(self) -> dict[str, int]:
        """Pending facts by kind."""
        rows = self.db.read(f"SELECT kind, COUNT(*) FROM {self.table} GROUP BY kind")
        return dict.fromkeys(KINDS, 0) | {r[0]: int(r[1]) for r in rows}

    def pending(self, at: datetime) -> tuple[dict[str, int], int, datetime | None]:
        """Pending facts by kind (due or not), how many are due by `at`, and when the oldest
        of those fell due (None: none is due)."""
        at_us = to_us(at)
        pending = dict.fromkeys(KINDS, 0)
        due, oldest = 0, None
        for kind, count, due_count, earliest in self.db.read(
            "SELECT kind, COUNT(*), SUM(CASE WHEN due_at <= ? AND NOT (kind = ? AND due_at = ?) "
            f"THEN 1 ELSE 0 END), MIN(due_at) FROM {self.table} GROUP BY kind",
            (at_us, BREACH, at_us),
        ):
            pending[str(kind)] = int(count)
            due += int(due_count or 0)
            if earliest is not None and int(due_count or 0) > 0:
                oldest = int(earliest) if oldest is None else min(oldest, int(earliest))
        return pending, due, instant(oldest)

    def listed(self, keys: Iterable[tuple[str, str, str, datetime]]) -> set[Any]:
        """Which of these facts (kind, aggregate id, detail, due instant) the view still lists,
        asked LISTED_CHUNK at a time (never the whole view)."""
        wanted = list(keys)
        found: set[Any] = set()
        for first in range(0, len(wanted), LISTED_CHUNK):
            chunk = wanted[first : first + LISTED_CHUNK]
            rows = self.db.read(
                f"SELECT kind, aggregate_id, detail, due_at FROM {self.table} WHERE "
                + " OR ".join(["(kind = ? AND aggregate_id = ? AND detail = ?)"] * len(chunk)),
                [value for key in chunk for value in key[:3]],
            )
            found.update((r[0], r[1], r[2], instant(r[3])) for r in rows)
        return found.intersection(wanted)

    def all(self) -> list[Deadline]:
        """Every pending fact, earliest first."""
        rows = self.db.read(
            f"SELECT kind, aggregate_id, detail, contract_id, due_at FROM {self.table} "
            "ORDER BY due_at, kind, aggregate_id, detail"
        )
        return [_deadline(r) for r in rows]


def _deadline(row: tuple[Any, ...]) -> Deadline:
    due = instant(row[4])
    if due is None:  # pragma: no cover - the column is NOT NULL
        msg = "deadline without instant"
        raise ValueError(msg)
    return Deadline(kind=row[0], aggregate_id=row[1], detail=row[2], contract_id=row[3], due_at=due)


class UnansweredInView:
    """The deadlines view as the application's `UnansweredTickets`, on connections of its own."""

    def __init__(self, settings: DatabaseSettings, *, keep: int = VIEW_CONNECTIONS) -> None:
        self._views = ViewPool(settings, keep=keep)

    def unanswered_tickets(self, contract_id: UUID) -> tuple[int, set[UUID]]:
        """The position the view has applied, and the contract's tickets it saw unanswered."""
        with self._views.lease() as db:
            position, found = DeadlinesView(db).unanswered_tickets(contract_id)
        return position, {UUID(ticket_id) for ticket_id in found}

    def close(self) -> None:
        """Close the view's connections."""
        self._views.close()
