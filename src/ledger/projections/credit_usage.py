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
holds it. The figures are those `ledger.figures` declares; `reconcile`
(`ledger.projections.credit_reconcile`) recomputes each of them from the events themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ledger.domain.calendar import from_us
from ledger.domain.contract import Contract
from ledger.domain.credit_account import POINTS, SESSIONS, CreditAccount
from ledger.domain.errors import InvalidInputError, UnknownContractError
from ledger.figures import (
    AVAILABLE,
    CONSUMED,
    EXPIRED,
    FEES_CHARGED_IN_PERIOD,
    FEES_FOR_TERM,
    FLOWS,
    GRANTED,
    PURCHASED,
    UNIT_NAMES,
)
from ledger.projections.base import STATE_TABLE, Projection
from ledger.projections.credit_reconcile import Discrepancy, reconcile
from ledger.projections.credit_windows import (
    INITIAL,
    REINSTATEMENT,
    RENEWAL,
    UPGRADE,
    StatementRequest,
    contract_key,
    month_us,
    month_window,
    statement_request,
)
from ledger.projections.db import amount, cents, instant, us

__all__ = [
    "CreditUsageProjection",
    "CreditUsageView",
    "Discrepancy",  # from credit_reconcile, still read from here by the CLI, the API and the demo
    "Movement",
    "month_window",
    "reconcile",
]

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from datetime import datetime

    from ledger.projections.db import Transaction, ViewDatabase

UNITS = UNIT_NAMES  # the statement's units: the account's POINTS and SESSIONS
# A statement's flows, each the movements between two accounts within the window.
ROUTES = {f.name: (f.source, f.target) for f in FLOWS}

MILLION = Decimal(1_000_000)
_CHUNK = 500  # ids per IN (...) lookup

Row = tuple[Any, ...]
# (from, to) -> hundredths moved before a window, within it, and before its end
Flows = dict[tuple[str, str], tuple[int, int, int]]


# -- the projection ----------------------------------------------------------------------------


class CreditUsageProjection(Projection):
    """Keeps credit movements in double entry, fees assessed, and the contract facts they need."""

    name = "credit_usage"
    # 2: the packages bought, with their prices (credit_packages); 3: the contracts, terms and
    # accounts carry the position of the event that wrote them (a checkpoint keeps them as the
    # append-only tables they are, instead of copying them whole)
    shape = 3
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
        self.packages = self.table("credit_packages")

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
                f"CREATE TABLE IF NOT EXISTS {self.fees} ("
                "position BIGINT NOT NULL, seq INTEGER NOT NULL, contract_id TEXT NOT NULL, "
                "term_number INTEGER NOT NULL, kind TEXT NOT NULL, fee BIGINT NOT NULL, "
                "fee_share BIGINT, remaining_share BIGINT, assessed_at BIGINT NOT NULL, "
                "PRIMARY KEY (position, seq))"
            ),
            (
                f"CREATE TABLE IF NOT EXISTS {self.contracts} ("
                "position BIGINT NOT NULL, contract_id TEXT PRIMARY KEY, customer TEXT NOT NULL, "
                "timezone TEXT NOT NULL, currency TEXT NOT NULL)"
            ),
            (
                f"CREATE TABLE IF NOT EXISTS {self.terms} ("
                "position BIGINT NOT NULL, contract_id TEXT NOT NULL, "
                "term_number INTEGER NOT NULL, starts_at BIGINT NOT NULL, ends_at BIGINT NOT NULL, "
                "PRIMARY KEY (contract_id, term_number))"
            ),
            (
                f"CREATE TABLE IF NOT EXISTS {self.accounts} ("
                "position BIGINT NOT NULL, account_id TEXT PRIMARY KEY, "
                "contract_id TEXT NOT NULL, customer TEXT NOT NULL)"
            ),
            (
                f"CREATE TABLE IF NOT EXISTS {self.packages} ("
                "position BIGINT PRIMARY KEY, contract_id TEXT NOT NULL, lot_id TEXT NOT NULL, "
                "points BIGINT NOT NULL, price BIGINT NOT NULL, purchased_at BIGINT NOT NULL)"
            ),
            *self.index_ddl(),
        ]

    def indexes(self) -> list[tuple[str, str]]:
        return [
            (f"{self.movements}_contract_at", f"{self.movements} (contract_id, at)"),
            (f"{self.fees}_contract_at", f"{self.fees} (contract_id, assessed_at)"),
        ]

    def tables(self) -> list[str]:
        return [self.movements, self.fees, self.contracts, self.terms, self.accounts, self.packages]

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
        self.packages: list[Row] = []
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
        accounts = self.view.read_table("credit_accounts")  # opened before this batch
        ordered = sorted(ids)
        for start in range(0, len(ordered), _CHUNK):
            chunk = ordered[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            for row in self.tx.fetchall(
                f"SELECT account_id, contract_id, customer FROM {accounts} "
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
        self.contracts.append((position, contract, event.customer, event.timezone, event.currency))
        self.terms.append((position, contract, 1, us(event.starts_at), us(event.ends_at)))
        self.fee(position, 0, contract, term=1, kind=INITIAL, fee=event.fee,
                 fee_share=event.fee_share, at=event.signed_at)  # fmt: skip

    def renewed(self, position: int, event: Any) -> None:
        self._term(position, event, RENEWAL, event.renewed_at)

    def reinstated(self, position: int, event: Any) -> None:
        self._term(position, event, REINSTATEMENT, event.reinstated_at)

    def _term(self, position: int, event: Any, kind: str, at: datetime) -> None:
        contract, number = str(event.originator_id), event.term_number
        self.terms.append((position, contract, number, us(event.starts_at), us(event.ends_at)))
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
        account, contract = str(event.originator_id), str(event.contract_id)
        self.accounts[account] = (contract, event.customer)
        self.new_accounts.append((position, account, contract, event.customer))

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
        self.packages.append((position, self.owner(event)[0], event.lot_id, cents(event.points),
                              cents(event.price), us(event.purchased_at)))  # fmt: skip
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
        _insert(tx, view.contracts, "position, contract_id, customer, timezone, currency",
                self.contracts)  # fmt: skip
        _insert(tx, view.terms, "position, contract_id, term_number, starts_at, ends_at",
                self.terms)  # fmt: skip
        _insert(tx, view.accounts, "position, account_id, contract_id, customer",
                self.new_accounts)  # fmt: skip
        _insert(tx, view.packages, "position, contract_id, lot_id, points, price, purchased_at",
                self.packages)  # fmt: skip
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
    """Append rows to a table (COPY on PostgreSQL)."""
    tx.append(table, [c.strip() for c in columns.split(",")], rows)


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
        self.packages_table = f"{prefix}credit_packages"

    def position(self) -> int:
        """The position in the log the view has applied (0 before it first ran)."""
        rows = self.db.read(
            f"SELECT position FROM {STATE_TABLE} WHERE name = ?", (CreditUsageProjection.name,)
        )
        return int(rows[0][0]) if rows else 0

    def movements(self, contract_id: UUID | str | None = None) -> list[Movement]:
        """Every movement (of one contract), by business instant, then in log order."""
        key = contract_key(contract_id)
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
        window. The fees of a term's statement are those paying for that term, whenever they were
        charged; a month's are those charged within it (`fees_basis` says which). Packages are
        those bought within the window, with their prices. With `term` and no contract, the
        contracts that have that term are listed. Ordered by customer, then contract id.
        """
        request = statement_request(period, term)
        key = contract_key(contract_id)
        with self.db.transaction() as tx:
            if self.db.backend == "postgresql":  # one snapshot for every query below
                tx.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            contracts = self._contracts(tx, request, key)
            flows: dict[tuple[str, str], Flows] = {}
            fees: dict[str, list[dict[str, Any]]] = {}
            packages: dict[str, list[dict[str, Any]]] = {}
            for scope, params in self._scopes(request, key, contracts):
                for (contract, unit, source, target), sums in self._flows(tx, scope, params):
                    flows.setdefault((contract, unit), {})[source, target] = sums
                for contract, fee in self._fees(tx, scope, params, request.term):
                    fees.setdefault(contract, []).append(fee)
                for contract, package in self._packages(tx, scope, params):
                    packages.setdefault(contract, []).append(package)
        return [
            _statement(
                c,
                request,
                {unit: flows.get((c.contract_id, unit), {}) for unit in UNITS},
                fees.get(c.contract_id, []),
                packages.get(c.contract_id, []),
            )
            for c in contracts
        ]

    # -- queries -------------------------------------------------------------------------------

    def _contracts(
        self, tx: Transaction, request: StatementRequest, key: str | None
    ) -> list[_Contract]:
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
        windows = {tz: month_us(request, tz) for tz in {r[2] for r in rows}}
        return [_Contract(r[0], r[1], r[2], r[3], *windows[r[2]]) for r in rows]

    def _require_contract(self, tx: Transaction, key: str) -> None:
        if (
            tx.fetchone(f"SELECT 1 FROM {self.contracts_table} WHERE contract_id = ?", (key,))
            is None
        ):
            raise UnknownContractError(f"no contract {key} in the credit-usage view")

    def _scopes(
        self, request: StatementRequest, key: str | None, contracts: list[_Contract]
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
        self, tx: Transaction, scope: str, params: list[Any], term: int | None
    ) -> list[tuple[str, dict[str, Any]]]:
        """The fees of the window: paying for the term `term`, or else charged within it."""
        which, chosen = (
            ("x.term_number = ?", [term])
            if term is not None
            else ("x.assessed_at >= w.w_start AND x.assessed_at < w.w_end", [])
        )
        rows = tx.fetchall(
            "SELECT x.contract_id, x.term_number, x.kind, x.fee, x.fee_share, x.remaining_share, "
            f"x.assessed_at FROM {self.fees_table} x {scope} WHERE {which} "
            "ORDER BY x.contract_id, x.assessed_at, x.position, x.seq",
            [*params, *chosen],
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

    def _packages(
        self, tx: Transaction, scope: str, params: list[Any]
    ) -> list[tuple[str, dict[str, Any]]]:
        """The packages bought within the window, with their points and prices."""
        rows = tx.fetchall(
            "SELECT x.contract_id, x.lot_id, x.points, x.price, x.purchased_at "
            f"FROM {self.packages_table} x {scope} "
            "WHERE x.purchased_at >= w.w_start AND x.purchased_at < w.w_end "
            "ORDER BY x.contract_id, x.purchased_at, x.position",
            params,
        )
        return [
            (
                r[0],
                {
                    "lot_id": r[1],
                    "points": amount(r[2]),
                    "price": amount(r[3]),
                    "purchased_at": instant(r[4]),
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
    request: StatementRequest,
    flows: dict[str, Flows],
    fees: list[dict[str, Any]],
    packages: list[dict[str, Any]],
) -> dict[str, Any]:
    """A statement from the sums of each unit's routes: figures within the window, and the
    balances of `available` before it (opening) and before its end (closing)."""
    result: dict[str, Any] = {
        "contract_id": UUID(contract.contract_id),
        "customer": contract.customer,
        "currency": contract.currency,
        "timezone": contract.timezone,
        "period": request.period,
        "term": request.term,
        "start": from_us(contract.start),
        "end": from_us(contract.end),
    }
    for unit in UNITS:
        routes = flows[unit]
        figures = {"opening": amount(_available(routes, 0))}
        for figure, route in ROUTES.items():
            figures[figure] = amount(routes.get(route, (0, 0, 0))[1])
        figures["closing"] = amount(_available(routes, 2))
        result[unit] = figures
    result["fees_basis"] = FEES_FOR_TERM if request.term is not None else FEES_CHARGED_IN_PERIOD
    result["fees"] = fees
    result["fees_total"] = sum((f["fee"] for f in fees), Decimal("0.00"))
    result["packages"] = packages
    result["packages_total"] = sum((p["price"] for p in packages), Decimal("0.00"))
    return result


def _available(routes: Flows, column: int) -> int:
    """The balance of `available` from one column of sums (0: before the window, 2: before
    its end): what entered it less what left it, whatever the other account."""
    into = sum(sums[column] for (_, target), sums in routes.items() if target == AVAILABLE)
    out = sum(sums[column] for (source, _), sums in routes.items() if source == AVAILABLE)
    return into - out
