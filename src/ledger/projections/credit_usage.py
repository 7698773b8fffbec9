"""The credit-usage view: every credit movement in double entry, statements and the fee ledger.

Each movement leaves one account and enters another; the accounts are `granted`, `purchased`,
`available`, `consumed` and `expired`, per contract and unit (`points` or `sessions`):
- `PointsGranted` / `SessionsGranted`: granted -> available at `available_from`
  (kind `term_grant` or `upgrade_grant`, from the grant's reason);
- `PackagePurchased`: purchased -> available at `purchased_at` (kind `purchase`);
- `PointsConsumed`: available -> consumed at `consumed_at`, one row per lot drawn
  (kind `consumption`);
- `TrainingSessionHeld`: available -> consumed in sessions at `held_at`, one row per lot drawn
  (kind `training`);
- `ConsumptionReversed`: consumed -> available at `reversed_at`, one row per lot returned to
  (kind `reversal`); a return to a lot that has expired also moves available -> expired at the
  same instant (kind `reversal_expiry`), since those points expire at once;
- `LotExpired`: available -> expired at the lot's `expires_at`, for the amount that remained
  (kind `expiry`).
A movement of nothing (a Basic term grants 0 points, a lot used up expires with 0 left) moves
nothing and has no row. Amounts are integer hundredths, instants integer microseconds.

Fees (`credit_fees`): `Contract.Signed` (initial, at `signed_at`), `Renewed` (renewal, at
`renewed_at`), `Reinstated` (reinstatement, at `reinstated_at`) and each adjustment of
`Upgraded` with a fee (upgrade, at `upgraded_at`). The view keeps the contract facts it needs
(customer, timezone, currency, term windows, account -> contract), so it reads no other view.

Statements (`CreditUsageView.statement`) assign a movement to a window by its business instant
alone, windows being half-open `[start, end)`: a lot expiring at the very instant a term ends
therefore falls in the next term's (or month's) statement, and the term's closing balance still
holds it. `reconcile` recomputes every figure of a statement from the events themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.utils import get_topic

from ledger.domain.calendar import from_us, to_us
from ledger.domain.contract import Contract, local_midnight
from ledger.domain.credit_account import POINTS, SESSIONS, CreditAccount
from ledger.domain.errors import InvalidInputError, UnknownContractError
from ledger.projections.base import STATE_TABLE, Projection
from ledger.projections.db import amount, cents, instant, us

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from datetime import datetime

    from ledger.application import SupportLedger
    from ledger.projections.db import Transaction, ViewDatabase

# The double-entry accounts.
GRANTED = "granted"
PURCHASED = "purchased"
AVAILABLE = "available"
CONSUMED = "consumed"
EXPIRED = "expired"

UNITS = (POINTS, SESSIONS)
# A statement's flows, each the movements between two accounts within the window.
FLOWS = {
    "granted": (GRANTED, AVAILABLE),
    "purchased": (PURCHASED, AVAILABLE),
    "consumed": (AVAILABLE, CONSUMED),
    "reversed": (CONSUMED, AVAILABLE),
    "expired": (AVAILABLE, EXPIRED),
}
FIGURES = ("opening", *FLOWS, "closing")

# Fee kinds, by the event that assessed the fee.
INITIAL = "initial"
RENEWAL = "renewal"
REINSTATEMENT = "reinstatement"
UPGRADE = "upgrade"

MILLION = Decimal(1_000_000)
_PERIOD = re.compile(r"(\d{4})-(\d{2})")
_CHUNK = 500  # ids per IN (...) lookup

Row = tuple[Any, ...]
# (from, to) -> hundredths moved before a window, within it, and before its end
Flows = dict[tuple[str, str], tuple[int, int, int]]


# -- the projection ----------------------------------------------------------------------------


class CreditUsageProjection(Projection):
    """Keeps credit movements in double entry, fees assessed, and the contract facts they need."""

    name = "credit_usage"
    shape = 1
    follows = (
        Contract.Signed,
        Contract.Renewed,
        Contract.Reinstated,
        Contract.Upgraded,
        CreditAccount.Opened,
        CreditAccount.PointsGranted,
        CreditAccount.SessionsGranted,
        CreditAccount.PackagePurchased,
        CreditAccount.PointsConsumed,
        CreditAccount.TrainingSessionHeld,
        CreditAccount.ConsumptionReversed,
        CreditAccount.LotExpired,
    )

    def __init__(self, db: ViewDatabase, *, prefix: str = "") -> None:
        super().__init__(db, prefix=prefix)
        self.movements = self.table("credit_movements")
        self.fees = self.table("credit_fees")
        self.contracts = self.table("credit_contracts")
        self.terms = self.table("credit_terms")
        self.accounts = self.table("credit_accounts")

    def ddl(self) -> list[str]:
        return [
            (
                f"CREATE TABLE IF NOT EXISTS {self.movements} ("
                "position BIGINT NOT NULL, seq INTEGER NOT NULL, contract_id TEXT NOT NULL, "
                "customer TEXT NOT NULL, unit TEXT NOT NULL, kind TEXT NOT NULL, "
                "from_account TEXT NOT NULL, to_account TEXT NOT NULL, amount BIGINT NOT NULL, "
                "at BIGINT NOT NULL, lot_id TEXT NOT NULL, idempotency_key TEXT, ticket_id TEXT, "
                "PRIMARY KEY (position, seq))"
            ),
            (
                f"CREATE INDEX IF NOT EXISTS {self.movements}_contract_at "
                f"ON {self.movements} (contract_id, at)"
            ),
            (
                f"CREATE TABLE IF NOT EXISTS {self.fees} ("
                "position BIGINT NOT NULL, seq INTEGER NOT NULL, contract_id TEXT NOT NULL, "
                "term_number INTEGER NOT NULL, kind TEXT NOT NULL, fee BIGINT NOT NULL, "
                "fee_share BIGINT, remaining_share BIGINT, assessed_at BIGINT NOT NULL, "
                "PRIMARY KEY (position, seq))"
            ),
            (
                f"CREATE INDEX IF NOT EXISTS {self.fees}_contract_at "
                f"ON {self.fees} (contract_id, assessed_at)"
            ),
            (
                f"CREATE TABLE IF NOT EXISTS {self.contracts} ("
                "contract_id TEXT PRIMARY KEY, customer TEXT NOT NULL, timezone TEXT NOT NULL, "
                "currency TEXT NOT NULL)"
            ),
            (
                f"CREATE TABLE IF NOT EXISTS {self.terms} ("
                "contract_id TEXT NOT NULL, term_number INTEGER NOT NULL, "
                "starts_at BIGINT NOT NULL, ends_at BIGINT NOT NULL, "
                "PRIMARY KEY (contract_id, term_number))"
            ),
            (
                f"CREATE TABLE IF NOT EXISTS {self.accounts} ("
                "account_id TEXT PRIMARY KEY, contract_id TEXT NOT NULL, customer TEXT NOT NULL)"
            ),
        ]

    def tables(self) -> list[str]:
        return [self.movements, self.fees, self.contracts, self.terms, self.accounts]

    def apply(self, tx: Transaction, events: list[tuple[int, Any]]) -> None:
        batch = _Batch(self, tx, events)
        for position, event in events:
            handle = batch.handlers.get(type(event))
            if handle is not None:
                handle(position, event)
        batch.flush()


class _Batch:
    """The rows of one batch: every table only grows, so a batch is one append per table."""

    def __init__(
        self, view: CreditUsageProjection, tx: Transaction, events: list[tuple[int, Any]]
    ) -> None:
        self.view = view
        self.tx = tx
        self.movements: list[Row] = []
        self.fees: list[Row] = []
        self.contracts: list[Row] = []
        self.terms: list[Row] = []
        self.new_accounts: list[Row] = []
        self.accounts = self._load_accounts(
            {
                str(e.originator_id)
                for _, e in events
                if isinstance(e, CreditAccount.Event) and not isinstance(e, CreditAccount.Opened)
            }
        )
        self.handlers: dict[type, Callable[[int, Any], None]] = {
            Contract.Signed: self.signed,
            Contract.Renewed: self.renewed,
            Contract.Reinstated: self.reinstated,
            Contract.Upgraded: self.upgraded,
            CreditAccount.Opened: self.opened,
            CreditAccount.PointsGranted: self.points_granted,
            CreditAccount.SessionsGranted: self.sessions_granted,
            CreditAccount.PackagePurchased: self.purchase,
            CreditAccount.PointsConsumed: self.consumption,
            CreditAccount.TrainingSessionHeld: self.training,
            CreditAccount.ConsumptionReversed: self.reversal,
            CreditAccount.LotExpired: self.expiry,
        }

    def _load_accounts(self, ids: set[str]) -> dict[str, tuple[str, str]]:
        """account -> (contract, customer) for the accounts of this batch opened before it."""
        found: dict[str, tuple[str, str]] = {}
        ordered = sorted(ids)
        for start in range(0, len(ordered), _CHUNK):
            chunk = ordered[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            for row in self.tx.fetchall(
                f"SELECT account_id, contract_id, customer FROM {self.view.accounts} "
                f"WHERE account_id IN ({marks})",
                chunk,
            ):
                found[row[0]] = (row[1], row[2])
        return found

    def owner(self, event: Any) -> tuple[str, str]:
        """The contract and customer of an account event."""
        known = self.accounts.get(str(event.originator_id))
        if known is None:
            msg = f"credit account {event.originator_id} has no Opened event before this one"
            raise ValueError(msg)
        return known

    # -- contract facts and fees ---------------------------------------------------------------

    def signed(self, position: int, event: Any) -> None:
        contract = str(event.originator_id)
        self.contracts.append((contract, event.customer, event.timezone, event.currency))
        self.terms.append((contract, 1, us(event.starts_at), us(event.ends_at)))
        self.fee(position, 0, contract, term=1, kind=INITIAL, fee=event.fee,
                 fee_share=event.fee_share, at=event.signed_at)  # fmt: skip

    def renewed(self, position: int, event: Any) -> None:
        self._term(position, event, RENEWAL, event.renewed_at)

    def reinstated(self, position: int, event: Any) -> None:
        self._term(position, event, REINSTATEMENT, event.reinstated_at)

    def _term(self, position: int, event: Any, kind: str, at: datetime) -> None:
        contract, number = str(event.originator_id), event.term_number
        self.terms.append((contract, number, us(event.starts_at), us(event.ends_at)))
        self.fee(position, 0, contract, term=number, kind=kind, fee=event.fee,
                 fee_share=event.fee_share, at=at)  # fmt: skip

    def upgraded(self, position: int, event: Any) -> None:
        contract = str(event.originator_id)
        charged = [a for a in event.adjustments if a["fee"] != 0]
        for seq, adjustment in enumerate(charged):
            self.fee(position, seq, contract, term=adjustment["term_number"], kind=UPGRADE,
                     fee=adjustment["fee"], remaining_share=adjustment["remaining_share"],
                     at=event.upgraded_at)  # fmt: skip

    def fee(
        self,
        position: int,
        seq: int,
        contract: str,
        *,
        term: int,
        kind: str,
        fee: Decimal,
        at: datetime,
        fee_share: Decimal | None = None,
        remaining_share: Decimal | None = None,
    ) -> None:
        """Add a fee assessed."""
        shares = (_millionths(fee_share), _millionths(remaining_share))
        self.fees.append((position, seq, contract, term, kind, cents(fee), *shares, us(at)))

    # -- movements -----------------------------------------------------------------------------

    def opened(self, position: int, event: Any) -> None:
        del position
        account, contract = str(event.originator_id), str(event.contract_id)
        self.accounts[account] = (contract, event.customer)
        self.new_accounts.append((account, contract, event.customer))

    def move(
        self,
        position: int,
        seq: int,
        event: Any,
        *,
        unit: str,
        kind: str,
        route: tuple[str, str],
        value: Decimal,
        at: datetime,
        lot_id: str,
        key: str | None = None,
        ticket_id: UUID | None = None,
    ) -> int:
        """Add a movement (unless it moves nothing); returns the next sequence number."""
        if value == 0:
            return seq
        owner = self.owner(event)
        ticket = None if ticket_id is None else str(ticket_id)
        self.movements.append(
            (position, seq, *owner, unit, kind, *route, cents(value), us(at), lot_id, key, ticket)
        )
        return seq + 1

    def points_granted(self, position: int, event: Any) -> None:
        self.move(position, 0, event, unit=POINTS, kind=f"{event.reason}_grant",
                  route=(GRANTED, AVAILABLE), value=event.points, at=event.available_from,
                  lot_id=event.lot_id)  # fmt: skip

    def sessions_granted(self, position: int, event: Any) -> None:
        self.move(position, 0, event, unit=SESSIONS, kind=f"{event.reason}_grant",
                  route=(GRANTED, AVAILABLE), value=Decimal(event.sessions),
                  at=event.available_from, lot_id=event.lot_id)  # fmt: skip

    def purchase(self, position: int, event: Any) -> None:
        self.move(position, 0, event, unit=POINTS, kind="purchase", route=(PURCHASED, AVAILABLE),
                  value=event.points, at=event.purchased_at, lot_id=event.lot_id,
                  key=event.key)  # fmt: skip

    def consumption(self, position: int, event: Any) -> None:
        seq = 0
        for draw in event.draws:
            seq = self.move(position, seq, event, unit=POINTS, kind="consumption",
                            route=(AVAILABLE, CONSUMED), value=draw["amount"],
                            at=event.consumed_at, lot_id=draw["lot_id"], key=event.key,
                            ticket_id=event.ticket_id)  # fmt: skip

    def training(self, position: int, event: Any) -> None:
        seq = 0
        for draw in event.draws:
            seq = self.move(position, seq, event, unit=SESSIONS, kind="training",
                            route=(AVAILABLE, CONSUMED), value=draw["amount"], at=event.held_at,
                            lot_id=draw["lot_id"], key=event.key)  # fmt: skip

    def reversal(self, position: int, event: Any) -> None:
        seq = 0
        for back in event.returns:
            common = {"value": back["amount"], "at": event.reversed_at,
                      "lot_id": back["lot_id"], "key": event.key}  # fmt: skip
            seq = self.move(position, seq, event, unit=POINTS, kind="reversal",
                            route=(CONSUMED, AVAILABLE), **common)  # fmt: skip
            if back["expired"]:  # returned to a lot that has expired: it expires at once
                seq = self.move(position, seq, event, unit=POINTS, kind="reversal_expiry",
                                route=(AVAILABLE, EXPIRED), **common)  # fmt: skip

    def expiry(self, position: int, event: Any) -> None:
        self.move(position, 0, event, unit=event.unit, kind="expiry", route=(AVAILABLE, EXPIRED),
                  value=event.amount, at=event.expires_at, lot_id=event.lot_id)  # fmt: skip

    # -- writing -------------------------------------------------------------------------------

    def flush(self) -> None:
        view, tx = self.view, self.tx
        _insert(tx, view.contracts, "contract_id, customer, timezone, currency", self.contracts)
        _insert(tx, view.terms, "contract_id, term_number, starts_at, ends_at", self.terms)
        _insert(tx, view.accounts, "account_id, contract_id, customer", self.new_accounts)
        _insert(
            tx,
            view.fees,
            "position, seq, contract_id, term_number, kind, fee, fee_share, remaining_share, "
            "assessed_at",
            self.fees,
        )
        _insert(
            tx,
            view.movements,
            "position, seq, contract_id, customer, unit, kind, from_account, to_account, amount, "
            "at, lot_id, idempotency_key, ticket_id",
            self.movements,
        )


def _insert(tx: Transaction, table: str, columns: str, rows: list[Row]) -> None:
    """Append rows to a table: COPY on PostgreSQL (several times faster than INSERTs, which
    matters for rebuilds), executemany on SQLite."""
    if not rows:
        return
    if tx.db.backend == "postgresql":
        with tx.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" * (columns.count(",") + 1))
    tx.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)


def _millionths(share: Decimal | None) -> int | None:
    """A share (exact to six places) as integer millionths."""
    if share is None:
        return None
    scaled = share * MILLION
    if scaled != scaled.to_integral_value():
        msg = f"{share} is not exact to millionths"
        raise ValueError(msg)
    return int(scaled)


def _share(millionths: int | None) -> Decimal | None:
    return None if millionths is None else Decimal(int(millionths)) / MILLION


# -- windows ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Request:
    """What a statement is asked for: a month (`YYYY-MM`) or a term number."""

    period: str | None
    term: int | None
    month: tuple[int, int] | None


def _request(period: str | None, term: int | None) -> _Request:
    """Check that exactly one of period and term is given, and that it is well formed."""
    if (period is None) == (term is None):
        raise InvalidInputError("give either a period (YYYY-MM) or a term number, not both")
    if period is not None:
        match = _PERIOD.fullmatch(str(period).strip())
        month = (int(match.group(1)), int(match.group(2))) if match else None
        if month is None or not 1 <= month[1] <= 12 or month[0] < 1:
            raise InvalidInputError(f"period: {period!r} is not a month; expected YYYY-MM")
        return _Request(f"{month[0]:04d}-{month[1]:02d}", None, month)
    if isinstance(term, bool) or not isinstance(term, int) or term < 1:
        raise InvalidInputError(f"term: expected a term number (1 or more), got {term!r}")
    return _Request(None, term, None)


def month_window(year: int, month: int, timezone: str) -> tuple[datetime, datetime]:
    """The calendar month in `timezone`: [local midnight of the 1st, of the next month's 1st)."""
    following = (year + 1, 1) if month == 12 else (year, month + 1)
    try:
        return (
            local_midnight(date(year, month, 1), timezone),
            local_midnight(date(*following, 1), timezone),
        )
    except (ValueError, OverflowError):
        raise InvalidInputError(f"period: {year:04d}-{month:02d} is out of range") from None


def _month_us(request: _Request, timezone: str) -> tuple[int, int]:
    if request.month is None:  # pragma: no cover - a term request has no month
        msg = "not a month"
        raise ValueError(msg)
    start, end = month_window(*request.month, timezone)
    return to_us(start), to_us(end)


def _contract_key(contract_id: UUID | str | None) -> str | None:
    if contract_id is None:
        return None
    if isinstance(contract_id, UUID):
        return str(contract_id)
    try:
        return str(UUID(str(contract_id).strip()))
    except ValueError:
        raise InvalidInputError(f"contract: {contract_id!r} is not an id (a UUID)") from None


# -- the view -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Movement:
    """One credit movement: `amount` of `unit` left `from_account` and entered `to_account`."""

    position: int
    seq: int
    contract_id: UUID
    customer: str
    unit: str
    kind: str
    from_account: str
    to_account: str
    amount: Decimal
    at: datetime
    lot_id: str
    idempotency_key: str | None
    ticket_id: UUID | None


@dataclass(frozen=True)
class _Contract:
    contract_id: str
    customer: str
    timezone: str
    currency: str
    start: int
    end: int


class CreditUsageView:
    """Questions finance asks of the credit-usage tables: movements and statements."""

    def __init__(self, db: ViewDatabase, *, prefix: str = "") -> None:
        self.db = db
        self.movements_table = f"{prefix}credit_movements"
        self.fees_table = f"{prefix}credit_fees"
        self.contracts_table = f"{prefix}credit_contracts"
        self.terms_table = f"{prefix}credit_terms"

    def position(self) -> int:
        """The position in the log the view has applied (0 before it first ran)."""
        rows = self.db.read(
            f"SELECT position FROM {STATE_TABLE} WHERE name = ?", (CreditUsageProjection.name,)
        )
        return int(rows[0][0]) if rows else 0

    def movements(self, contract_id: UUID | str | None = None) -> list[Movement]:
        """Every movement (of one contract), by business instant, then in log order."""
        key = _contract_key(contract_id)
        where, params = ("WHERE contract_id = ?", (key,)) if key else ("", ())
        with self.db.transaction() as tx:
            rows = tx.fetchall(
                "SELECT position, seq, contract_id, customer, unit, kind, from_account, "
                f"to_account, amount, at, lot_id, idempotency_key, ticket_id "
                f"FROM {self.movements_table} {where} ORDER BY at, position, seq",
                params,
            )
            if key and not rows:
                self._require_contract(tx, key)
        return [_movement(r) for r in rows]

    def statement(
        self,
        *,
        period: str | None = None,
        term: int | None = None,
        contract_id: UUID | str | None = None,
    ) -> list[dict[str, Any]]:
        """The statement of each contract (or of the one given) for a month or a term.

        `period` is a calendar month `YYYY-MM` in each contract's timezone; `term` a term
        number, the window being that term's [starts_at, ends_at). Give exactly one. For each
        unit (points, sessions): opening (the balance of `available` before the window),
        granted, purchased, consumed, reversed and expired within the window, and closing (the
        balance of `available` before the window's end), so that opening + granted + purchased
        - consumed + reversed - expired = closing. A movement belongs to the window holding its
        business instant: a lot expiring at the very instant a term ends expires in the next
        window. Fees are those assessed within the window (by their instant, whatever term they
        are for). With `term` and no contract, the contracts that have that term are listed.
        Ordered by customer, then contract id.
        """
        request = _request(period, term)
        key = _contract_key(contract_id)
        with self.db.transaction() as tx:
            if self.db.backend == "postgresql":  # one snapshot for every query below
                tx.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            contracts = self._contracts(tx, request, key)
            flows: dict[tuple[str, str], Flows] = {}
            fees: dict[str, list[dict[str, Any]]] = {}
            for scope, params in self._scopes(request, key, contracts):
                for (contract, unit, source, target), sums in self._flows(tx, scope, params):
                    flows.setdefault((contract, unit), {})[source, target] = sums
                for contract, fee in self._fees(tx, scope, params):
                    fees.setdefault(contract, []).append(fee)
        return [
            _statement(
                c,
                request,
                {unit: flows.get((c.contract_id, unit), {}) for unit in UNITS},
                fees.get(c.contract_id, []),
            )
            for c in contracts
        ]

    # -- queries -------------------------------------------------------------------------------

    def _contracts(self, tx: Transaction, request: _Request, key: str | None) -> list[_Contract]:
        """The contracts of the statement, each with its window."""
        where, params = ("WHERE c.contract_id = ?", [key]) if key else ("", [])
        if request.term is not None:
            rows = tx.fetchall(
                "SELECT c.contract_id, c.customer, c.timezone, c.currency, t.starts_at, "
                f"t.ends_at FROM {self.contracts_table} c JOIN {self.terms_table} t "
                f"ON t.contract_id = c.contract_id AND t.term_number = ? {where} "
                "ORDER BY c.customer, c.contract_id",
                [request.term, *params],
            )
            if key and not rows:
                self._require_contract(tx, key)
                raise InvalidInputError(f"contract {key} has no term {request.term}")
            return [_Contract(r[0], r[1], r[2], r[3], int(r[4]), int(r[5])) for r in rows]
        rows = tx.fetchall(
            f"SELECT c.contract_id, c.customer, c.timezone, c.currency "
            f"FROM {self.contracts_table} c {where} ORDER BY c.customer, c.contract_id",
            params,
        )
        if key and not rows:
            self._require_contract(tx, key)
        windows = {tz: _month_us(request, tz) for tz in {r[2] for r in rows}}
        return [_Contract(r[0], r[1], r[2], r[3], *windows[r[2]]) for r in rows]

    def _require_contract(self, tx: Transaction, key: str) -> None:
        if (
            tx.fetchone(f"SELECT 1 FROM {self.contracts_table} WHERE contract_id = ?", (key,))
            is None
        ):
            raise UnknownContractError(f"no contract {key} in the credit-usage view")

    def _scopes(
        self, request: _Request, key: str | None, contracts: list[_Contract]
    ) -> Iterable[tuple[str, list[Any]]]:
        """Window-bound query parts: a join giving each row `w_start` and `w_end`, and params.

        A term's window comes from the terms table; a month's is the same for every contract
        of a timezone, so there is one query per timezone.
        """
        only = "AND w.contract_id = ?" if key else ""
        if request.term is not None:
            join = (
                "JOIN (SELECT contract_id, starts_at AS w_start, ends_at AS w_end "
                f"FROM {self.terms_table} WHERE term_number = ?) w "
                f"ON w.contract_id = x.contract_id {only}"
            )
            yield join, [request.term, *([key] if key else [])]
            return
        zones = sorted({(c.timezone, c.start, c.end) for c in contracts})
        for timezone, start, end in zones:
            join = (
                "JOIN (SELECT contract_id, CAST(? AS BIGINT) AS w_start, "
                f"CAST(? AS BIGINT) AS w_end FROM {self.contracts_table} WHERE timezone = ?) w "
                f"ON w.contract_id = x.contract_id {only}"
            )
            yield join, [start, end, timezone, *([key] if key else [])]

    def _flows(
        self, tx: Transaction, scope: str, params: list[Any]
    ) -> list[tuple[tuple[str, str, str, str], tuple[int, int, int]]]:
        """((contract, unit, from, to), hundredths before the window, within it, before its
        end)."""
        rows = tx.fetchall(
            "SELECT x.contract_id, x.unit, x.from_account, x.to_account, "
            "SUM(CASE WHEN x.at < w.w_start THEN x.amount ELSE 0 END), "
            "SUM(CASE WHEN x.at >= w.w_start THEN x.amount ELSE 0 END), "
            f"SUM(x.amount) FROM {self.movements_table} x {scope} WHERE x.at < w.w_end "
            "GROUP BY x.contract_id, x.unit, x.from_account, x.to_account",
            params,
        )
        return [((r[0], r[1], r[2], r[3]), (int(r[4]), int(r[5]), int(r[6]))) for r in rows]

    def _fees(
        self, tx: Transaction, scope: str, params: list[Any]
    ) -> list[tuple[str, dict[str, Any]]]:
        rows = tx.fetchall(
            "SELECT x.contract_id, x.term_number, x.kind, x.fee, x.fee_share, x.remaining_share, "
            f"x.assessed_at FROM {self.fees_table} x {scope} "
            "WHERE x.assessed_at >= w.w_start AND x.assessed_at < w.w_end "
            "ORDER BY x.contract_id, x.assessed_at, x.position, x.seq",
            params,
        )
        return [
            (
                r[0],
                {
                    "term_number": int(r[1]),
                    "kind": r[2],
                    "fee": amount(r[3]),
                    "fee_share": _share(r[4]),
                    "remaining_share": _share(r[5]),
                    "assessed_at": instant(r[6]),
                },
            )
            for r in rows
        ]


def _movement(row: tuple[Any, ...]) -> Movement:
    return Movement(
        position=int(row[0]),
        seq=int(row[1]),
        contract_id=UUID(row[2]),
        customer=row[3],
        unit=row[4],
        kind=row[5],
        from_account=row[6],
        to_account=row[7],
        amount=amount(row[8]),
        at=from_us(int(row[9])),
        lot_id=row[10],
        idempotency_key=row[11],
        ticket_id=UUID(row[12]) if row[12] else None,
    )


def _statement(
    contract: _Contract,
    request: _Request,
    flows: dict[str, Flows],
    fees: list[dict[str, Any]],
) -> dict[str, Any]:
    """A statement from the sums of each unit's routes: figures within the window, and the
    balances of `available` before it (opening) and before its end (closing)."""
    result: dict[str, Any] = {
        "contract_id": UUID(contract.contract_id),
        "customer": contract.customer,
        "currency": contract.currency,
        "period": request.period,
        "term": request.term,
        "start": from_us(contract.start),
        "end": from_us(contract.end),
    }
    for unit in UNITS:
        routes = flows[unit]
        figures = {"opening": amount(_available(routes, 0))}
        for figure, route in FLOWS.items():
            figures[figure] = amount(routes.get(route, (0, 0, 0))[1])
        figures["closing"] = amount(_available(routes, 2))
        result[unit] = figures
    result["fees"] = fees
    result["fees_total"] = sum((f["fee"] for f in fees), Decimal("0.00"))
    return result


def _available(routes: Flows, column: int) -> int:
    """The balance of `available` from one column of sums (0: before the window, 2: before
    its end): what entered it less what left it, whatever the other account."""
    into = sum(sums[column] for (_, target), sums in routes.items() if target == AVAILABLE)
    out = sum(sums[column] for (source, _), sums in routes.items() if source == AVAILABLE)
    return into - out


# -- reconciliation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Discrepancy:
    """A figure of a statement that differs from the same figure recomputed from the events."""

    figure: str
    contract_id: UUID
    unit: str | None
    view: Any
    recomputed: Any


def reconcile(
    app: SupportLedger,
    view: CreditUsageView,
    *,
    period: str | None = None,
    term: int | None = None,
    contract_id: UUID | str | None = None,
) -> list[Discrepancy]:
    """Recompute every figure of the statement from the events and list where the view differs.

    The recomputation reads the contract's and its account's events from the event store and
    folds them in plain Python (no view table is read); an empty list means the view is right.
    It compares with the log as it is now: run the projection up to the head first, or a view
    that lags shows as differences.
    """
    request = _request(period, term)
    key = _contract_key(contract_id)
    ids = [UUID(key)] if key else _signed_contracts(app)
    expected: dict[UUID, dict[str, Any]] = {}
    for cid in ids:
        recomputed = _recompute(app, cid, request)
        if recomputed is None:
            if key:
                raise InvalidInputError(f"contract {key} has no term {request.term}")
            continue
        expected[cid] = recomputed
    try:
        actual = {s["contract_id"]: s for s in view.statement(
            period=period, term=term, contract_id=contract_id
        )}  # fmt: skip
    except (UnknownContractError, InvalidInputError):
        if not key:
            raise
        actual = {}  # the log has this contract (and term), the view does not
    found: list[Discrepancy] = []
    for cid in sorted(expected.keys() | actual.keys(), key=str):
        mine, theirs = actual.get(cid), expected.get(cid)
        if mine is None or theirs is None:
            found.append(
                Discrepancy(
                    "statement",
                    cid,
                    None,
                    "missing" if mine is None else "present",
                    "missing" if theirs is None else "present",
                )
            )
            continue
        found.extend(_compare(cid, mine, theirs))
    return found


def _compare(cid: UUID, mine: dict[str, Any], theirs: dict[str, Any]) -> list[Discrepancy]:
    found = [
        Discrepancy(name, cid, None, mine[name], theirs[name])
        for name in ("customer", "currency", "start", "end", "fees_total")
        if mine[name] != theirs[name]
    ]
    for unit in UNITS:
        found.extend(
            Discrepancy(figure, cid, unit, mine[unit][figure], theirs[unit][figure])
            for figure in FIGURES
            if mine[unit][figure] != theirs[unit][figure]
        )
    mine_fees, their_fees = _fee_lines(mine["fees"]), _fee_lines(theirs["fees"])
    if mine_fees != their_fees:
        found.append(Discrepancy("fees", cid, None, mine_fees, their_fees))
    return found


def _fee_lines(fees: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    lines = [
        (f["assessed_at"], f["term_number"], f["kind"], f["fee"], f["fee_share"],
         f["remaining_share"])
        for f in fees
    ]  # fmt: skip
    return sorted(lines, key=repr)


def _signed_contracts(app: SupportLedger) -> list[UUID]:
    """Every contract signed, from the notification log."""
    topic = get_topic(Contract.Signed)
    ids: list[UUID] = []
    start = 1
    while True:
        page = app.recorder.select_notifications(start=start, limit=1000, topics=[topic])
        ids.extend(UUID(str(n.originator_id)) for n in page)
        if len(page) < 1000:
            return ids
        start = page[-1].id + 1


def _recompute(app: SupportLedger, contract_id: UUID, request: _Request) -> dict[str, Any] | None:
    """A contract's statement folded from its events; None when it has no such term."""
    contract_events = list(app.events.get(contract_id))
    if not contract_events or not isinstance(contract_events[0], Contract.Signed):
        raise UnknownContractError(f"no contract {contract_id}")
    signed = contract_events[0]
    terms: dict[int, tuple[datetime, datetime]] = {}
    fees: list[dict[str, Any]] = []

    def assessed(number: int, kind: str, fee: Decimal, at: datetime, **shares: Any) -> None:
        fees.append({"term_number": number, "kind": kind, "fee": fee, "fee_share": None,
                     "remaining_share": None, **shares, "assessed_at": at})  # fmt: skip

    for event in contract_events:
        if isinstance(event, Contract.Signed):
            terms[1] = (event.starts_at, event.ends_at)
            assessed(1, INITIAL, event.fee, event.signed_at, fee_share=event.fee_share)
        elif isinstance(event, Contract.Renewed | Contract.Reinstated):
            terms[event.term_number] = (event.starts_at, event.ends_at)
            kind, at = (
                (RENEWAL, event.renewed_at)
                if isinstance(event, Contract.Renewed)
                else (REINSTATEMENT, event.reinstated_at)
            )
            assessed(event.term_number, kind, event.fee, at, fee_share=event.fee_share)
        elif isinstance(event, Contract.Upgraded):
            for a in event.adjustments:
                if a["fee"] != 0:
                    assessed(a["term_number"], UPGRADE, a["fee"], event.upgraded_at,
                             remaining_share=a["remaining_share"])  # fmt: skip
    if request.month is not None:
        start, end = month_window(*request.month, signed.timezone)
    elif request.term in terms:
        start, end = terms[request.term]
    else:
        return None
    figures = {unit: dict.fromkeys(FIGURES, Decimal(0)) for unit in UNITS}

    def flow(unit: str, figure: str, value: Decimal, at: datetime) -> None:
        sign = 1 if figure in {"granted", "purchased", "reversed"} else -1
        if at < start:
            figures[unit]["opening"] += sign * value
        elif at < end:
            figures[unit][figure] += value
        if at < end:
            figures[unit]["closing"] += sign * value

    for event in app.events.get(CreditAccount.create_id(contract_id)):
        if isinstance(event, CreditAccount.PointsGranted):
            flow(POINTS, "granted", event.points, event.available_from)
        elif isinstance(event, CreditAccount.SessionsGranted):
            flow(SESSIONS, "granted", Decimal(event.sessions), event.available_from)
        elif isinstance(event, CreditAccount.PackagePurchased):
            flow(POINTS, "purchased", event.points, event.purchased_at)
        elif isinstance(event, CreditAccount.PointsConsumed):
            flow(POINTS, "consumed", event.points, event.consumed_at)
        elif isinstance(event, CreditAccount.TrainingSessionHeld):
            used = sum((d["amount"] for d in event.draws), Decimal(0))
            flow(SESSIONS, "consumed", used, event.held_at)
        elif isinstance(event, CreditAccount.ConsumptionReversed):
            flow(POINTS, "reversed", event.points, event.reversed_at)
            lost = sum((r["amount"] for r in event.returns if r["expired"]), Decimal(0))
            flow(POINTS, "expired", lost, event.reversed_at)
        elif isinstance(event, CreditAccount.LotExpired):
            flow(event.unit, "expired", event.amount, event.expires_at)
    within = [f for f in fees if start <= f["assessed_at"] < end]
    return {
        "contract_id": contract_id,
        "customer": signed.customer,
        "currency": signed.currency,
        "start": start,
        "end": end,
        **figures,
        "fees": within,
        "fees_total": sum((f["fee"] for f in within), Decimal(0)),
    }
