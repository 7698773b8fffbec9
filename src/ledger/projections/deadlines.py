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
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ledger.domain.calendar import to_us
from ledger.projections.base import STATE_TABLE, Projection
from ledger.projections.db import ViewPool, instant, us
from ledger.projections.deadline_extracts import (
    ACCOUNT_EXTRACTS,
    FOLLOWS,
    TICKET_EXTRACTS,
    AccountOpened,
    AgreementEnded,
    Breached,
    Clock,
    Ended,
    Lot,
    LotExpired,
    Responded,
    Term,
    TermScheduled,
    TicketOpened,
    Told,
    WarningReached,
    watch_of,
)
from ledger.projections.deadline_extracts import extract as extract_of
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
    follows = FOLLOWS  # the events it has an extract of
    extract = staticmethod(extract_of)

    def __init__(self, db: ViewDatabase, *, prefix: str = "") -> None:
        super().__init__(db, prefix=prefix)
        expiring, ending = alert_notice_days()
        # the notices in microseconds, as the extracts' instants
        self.expiring_notice = timedelta(days=expiring) // timedelta(microseconds=1)
        self.term_notice = timedelta(days=ending) // timedelta(microseconds=1)
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

    @staticmethod
    def recorded_at(extract: Any) -> int:
        return int(extract.recorded_at)

    def apply(self, tx: Transaction, events: list[tuple[int, Any]]) -> None:
        self.fold(tx, [(position, extract_of(event)) for position, event in events])

    def fold(self, tx: Transaction, extracts: list[tuple[int, Any]]) -> None:
        """Apply the events' extracts (`deadline_extracts`), in log order, inside `tx`."""
        batch = _Batch(self, tx, extracts)
        for _, found in extracts:
            batch.apply(found)
        batch.flush()


class _Batch:
    """The changes of one batch, reduced to one final write per row."""

    def __init__(
        self, view: DeadlinesProjection, tx: Transaction, extracts: list[tuple[int, Any]]
    ) -> None:
        self.view = view
        self.tx = tx
        self.rows: dict[Key, tuple[str, int] | None] = {}  # key -> (contract, due) or deleted
        self.details: dict[tuple[str, str], set[str]] = {}  # (kind, aggregate) -> details in rows
        self.cleared: set[tuple[str, str]] = set()  # (kind, aggregate) deleted wholesale
        ticket_ids: set[str] = set()
        account_ids: set[str] = set()
        for _, found in extracts:
            if isinstance(found, TICKET_EXTRACTS):
                ticket_ids.add(found.key)
            elif isinstance(found, ACCOUNT_EXTRACTS):
                account_ids.add(found.key)
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

    def put(self, kind: str, aggregate: str, detail: str, contract: str, due: int) -> None:
        self._set(kind, aggregate, detail, (contract, due))

    def delete(self, kind: str, aggregate: str, detail: str) -> None:
        self._set(kind, aggregate, detail, None)

    def clear(self, kind: str, aggregate: str) -> None:
        """Delete every row of `kind` for an aggregate (including earlier batches')."""
        self.cleared.add((kind, aggregate))
        for detail in self.details.get((kind, aggregate), ()):
            self.rows[(kind, aggregate, detail)] = None

    # -- events --------------------------------------------------------------------------------

    def apply(self, found: Any) -> None:
        """Apply an event's extract. Tickets' and accounts' events, most of the log, are told
        apart first."""
        if isinstance(found, TICKET_EXTRACTS):
            self._ticket(found)
            return
        if isinstance(found, ACCOUNT_EXTRACTS):
            self._account(found)
            return
        kind, contract = type(found), found.key
        if kind is Term:
            self.put(LAPSE, contract, "", contract, found.ends_at)
            self.clear(TERM_ENDING, found.watch)
            notice = found.ends_at - self.view.term_notice
            self.put(TERM_ENDING, found.watch, found.ends, contract, notice)
        elif kind is Ended:
            self.delete(LAPSE, contract, "")
            self.clear(TERM_ENDING, found.watch)
        elif kind is Told:  # the key is the watch's
            self.delete(found.kind, found.key, found.detail)

    def _account(self, found: Any) -> None:
        account, kind = found.key, type(found)
        if kind is AccountOpened:
            self.accounts[account] = [account, found.contract, None]
            self.changed_accounts.add(account)
            return
        known = self.accounts.get(account)
        if known is None:  # pragma: no cover - an account event always follows its Opened
            return
        contract, ended = known[1], known[2]
        if kind is AgreementEnded:
            end = found.ended_at
            known[2] = end
            self.changed_accounts.add(account)
            self.clear(TERM_GRANT, account)
            for detail in self.details.get((LOT_EXPIRY, account), ()):  # this batch's move
                value = self.rows[(LOT_EXPIRY, account, detail)]
                if value is not None and value[1] > end:
                    self.rows[(LOT_EXPIRY, account, detail)] = (value[0], end)
            self.capped.append((end, account, end))  # and earlier batches' in the table
        elif kind is TermScheduled:
            if ended is None:
                self.put(TERM_GRANT, account, found.term_number, contract, found.starts_at)
        elif kind is Lot:
            if found.granted_term is not None:
                self.delete(TERM_GRANT, account, found.granted_term)
            self._expiry(known, found)
            if found.notice_from is not None and found.expires_at is not None:
                # a lot of points' `lots_expiring` row: the notice before its own expiry
                due = max(found.expires_at - self.view.expiring_notice, found.notice_from)
                self.put(LOTS_EXPIRING, watch_of(contract), found.lot_id, contract, due)
        elif kind is LotExpired:
            self.delete(LOT_EXPIRY, account, found.lot_id)
            if found.points:
                self.delete(LOTS_EXPIRING, watch_of(contract), found.lot_id)

    def _expiry(self, known: list[Any], lot: Lot) -> None:
        """A lot's expiry row: its own expiry, or the end of the agreement if that is earlier
        (as CreditAccount.lot_ends_at has it)."""
        account, contract, ended = known
        due = lot.expires_at
        if ended is not None:
            cut = max(ended, lot.available_from)
            due = cut if due is None else min(due, cut)
        if due is not None:
            self._set(LOT_EXPIRY, account, lot.lot_id, (contract, due))

    def _ticket(self, found: Any) -> None:
        ticket, kind = found.key, type(found)
        if kind is TicketOpened:
            self.tickets[ticket] = [ticket, found.contract, False, False]
            self.changed_tickets.add(ticket)
            self._clock(ticket, found.due_at, found.warnings)
            return
        known = self.tickets.get(ticket)
        if known is None:  # declined tickets have no clock
            return
        if kind is Responded:
            known[3] = True
            self.changed_tickets.add(ticket)
            self.clear(WARNING, ticket)
            self.clear(BREACH, ticket)
        elif known[3]:
            return
        elif kind is Breached:
            known[2] = True
            self.changed_tickets.add(ticket)
            self.delete(BREACH, ticket, "")
        elif kind is WarningReached:
            self.delete(WARNING, ticket, found.share)
        elif kind is Clock:
            self._clock(ticket, found.due_at, found.warnings)

    def _clock(
        self, ticket: str, due_at: int | None, warnings: tuple[tuple[str, int], ...]
    ) -> None:
        """Replace a ticket's deadline rows with the clock's current instants."""
        contract, breach_recorded = self.tickets[ticket][1], self.tickets[ticket][2]
        self.clear(WARNING, ticket)
        self.clear(BREACH, ticket)
        if due_at is not None and not breach_recorded:
            self.put(BREACH, ticket, "", contract, due_at)
        for share, at in warnings:
            self.put(WARNING, ticket, share, contract, at)

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
