"""The contract directory: every agreement by its customer's name, for lists and look-ups.

One row per contract (`contract_directory`: customer, its lower-case form for matching,
license kind, recorded status, termination instant, credit account), its terms
(`contract_directory_terms`: window, tier and licenses of each) and its named contacts
(`contract_directory_contacts`). What depends on the instant asked about (the term in force,
the tier then, whether the latest term has ended unrenewed) is worked out when read, from the
terms, so the rows hold only facts. The credit balance of a list comes from the credit-usage
view's movements (`credit_movements`), when that view has run.

`ledger contract list` and `GET /api/v1/contracts` read it; the application finds contracts by
name or by contact through it (`ContractsInView`, the application's `ContractDirectory`),
reading the log after the position it has applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ledger.domain.contract import Contract
from ledger.domain.credit_account import POINTS, CreditAccount
from ledger.domain.errors import InvalidInputError
from ledger.figures import AVAILABLE
from ledger.projections.base import STATE_TABLE, Projection
from ledger.projections.db import ViewPool, amount, contains_pattern, instant, us

if TYPE_CHECKING:
    from datetime import datetime
    from decimal import Decimal

    from ledger.projections.db import Transaction, ViewDatabase
    from ledger.settings import DatabaseSettings

STATUSES = ("active", "lapse_pending", "lapsed", "terminated")
VIEW_CONNECTIONS = 2
_CHUNK = 500  # ids per IN (...) lookup


def name_key(text: str) -> str:
    """A customer's name as the directory matches it: trimmed, in lower case."""
    return " ".join(str(text).split()).casefold()


class ContractDirectoryProjection(Projection):
    """Keeps each contract's customer, status, terms, contacts and credit account."""

    name = "contracts"
    shape = 1
    follows = (
        Contract.Signed,
        Contract.Renewed,
        Contract.Reinstated,
        Contract.Lapsed,
        Contract.Terminated,
        Contract.Upgraded,
        Contract.ContactAdded,
        Contract.ContactRemoved,
        CreditAccount.Opened,
    )

    def __init__(self, db: ViewDatabase, *, prefix: str = "") -> None:
        super().__init__(db, prefix=prefix)
        self.contracts = self.table("contract_directory")
        self.terms = self.table("contract_directory_terms")
        self.contacts = self.table("contract_directory_contacts")

    def ddl(self) -> list[str]:
        return [
            (
                f"CREATE TABLE IF NOT EXISTS {self.contracts} ("
                "contract_id TEXT PRIMARY KEY, customer TEXT NOT NULL, "
                "customer_key TEXT NOT NULL, license_kind TEXT NOT NULL, "
                "status TEXT NOT NULL, terminated_at BIGINT, account_id TEXT)"
            ),
            (
                f"CREATE TABLE IF NOT EXISTS {self.terms} ("
                "contract_id TEXT NOT NULL, term_number INTEGER NOT NULL, tier TEXT NOT NULL, "
                "licenses INTEGER NOT NULL, starts_at BIGINT NOT NULL, ends_at BIGINT NOT NULL, "
                "PRIMARY KEY (contract_id, term_number))"
            ),
            (
                f"CREATE TABLE IF NOT EXISTS {self.contacts} ("
                "contract_id TEXT NOT NULL, email TEXT NOT NULL, "
                "PRIMARY KEY (contract_id, email))"
            ),
            *self.index_ddl(),
        ]

    def indexes(self) -> list[tuple[str, str]]:
        return [
            (f"{self.contracts}_customer", f"{self.contracts} (customer_key, contract_id)"),
            (f"{self.contacts}_email", f"{self.contacts} (email, contract_id)"),
        ]

    def tables(self) -> list[str]:
        return [self.contracts, self.terms, self.contacts]

    def apply(self, tx: Transaction, events: list[tuple[int, Any]]) -> None:
        for _, event in events:
            self._apply(tx, event)

    def _apply(self, tx: Transaction, event: Any) -> None:
        contract = str(event.originator_id)
        kind = type(event)
        if kind is Contract.Signed:
            tx.execute(
                f"INSERT INTO {self.contracts} (contract_id, customer, customer_key, "
                "license_kind, status, terminated_at, account_id) "
                "VALUES (?, ?, ?, ?, 'active', NULL, NULL)",
                (contract, event.customer, name_key(event.customer), event.license_kind),
            )
            self._term(tx, contract, 1, event)
        elif kind is Contract.Renewed:
            self._term(tx, contract, event.term_number, event)
        elif kind is Contract.Reinstated:
            self._term(tx, contract, event.term_number, event)
            self._status(tx, contract, "active")
        elif kind is Contract.Lapsed:
            self._status(tx, contract, "lapsed")
        elif kind is Contract.Terminated:
            tx.execute(
                f"UPDATE {self.contracts} SET status = 'terminated', terminated_at = ? "
                "WHERE contract_id = ?",
                (us(event.terminated_at), contract),
            )
        elif kind is Contract.Upgraded:
            for adjustment in event.adjustments:
                tx.execute(
                    f"UPDATE {self.terms} SET tier = ? WHERE contract_id = ? AND term_number = ?",
                    (event.to_tier, contract, int(adjustment["term_number"])),
                )
        elif kind is Contract.ContactAdded:
            tx.execute(
                f"INSERT INTO {self.contacts} (contract_id, email) VALUES (?, ?)",
                (contract, event.email),
            )
        elif kind is Contract.ContactRemoved:
            tx.execute(
                f"DELETE FROM {self.contacts} WHERE contract_id = ? AND email = ?",
                (contract, event.email),
            )
        elif kind is CreditAccount.Opened:
            tx.execute(
                f"UPDATE {self.contracts} SET account_id = ? WHERE contract_id = ?",
                (contract, str(event.contract_id)),
            )

    def _term(self, tx: Transaction, contract: str, number: int, event: Any) -> None:
        tx.execute(
            f"INSERT INTO {self.terms} (contract_id, term_number, tier, licenses, starts_at, "
            "ends_at) VALUES (?, ?, ?, ?, ?, ?)",
            (contract, number, event.tier, event.licenses, us(event.starts_at),
             us(event.ends_at)),
        )  # fmt: skip

    def _status(self, tx: Transaction, contract: str, status: str) -> None:
        tx.execute(
            f"UPDATE {self.contracts} SET status = ? WHERE contract_id = ?", (status, contract)
        )


# -- the view ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DirectoryTerm:
    """One term of a listed contract."""

    number: int
    tier: str
    licenses: int
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class ListedContract:
    """A contract as the directory lists it, at an instant."""

    contract_id: str
    customer: str
    license_kind: str
    recorded_status: str
    terminated_at: datetime | None
    account_id: str | None
    terms: tuple[DirectoryTerm, ...]
    contacts: tuple[str, ...]

    def term_at(self, at: datetime) -> DirectoryTerm | None:
        """The term in force at `at` (none after a termination)."""
        if self.terminated_at is not None and at >= self.terminated_at:
            return None
        return next((t for t in self.terms if t.starts_at <= at < t.ends_at), None)

    def status_at(self, at: datetime) -> str:
        """`terminated`, `lapsed` (recorded), `lapse_pending` (the latest term ended and no lapse is
        recorded yet) or `active`."""
        if self.recorded_status in ("terminated", "lapsed"):
            return self.recorded_status
        if self.terms and at >= self.terms[-1].ends_at:
            return "lapse_pending"
        return "active"

    def row(self, at: datetime, balance: Decimal | None) -> dict[str, Any]:
        """The contract as a list's row at `at`."""
        current = self.term_at(at)
        shown = current or (self.terms[-1] if self.terms else None)
        return {
            "contract_id": self.contract_id,
            "customer": self.customer,
            "tier": shown.tier if shown else None,
            "licenses": shown.licenses if shown else None,
            "license_kind": self.license_kind,
            "status": self.status_at(at),
            "current_term": current.number if current else None,
            "term_starts_at": current.starts_at if current else None,
            "term_ends_at": current.ends_at if current else None,
            "named_contacts": list(self.contacts),
            "account_id": self.account_id,
            "credit_balance": balance,
        }


class ContractDirectoryView:
    """Queries of the contract directory."""

    def __init__(self, db: ViewDatabase, *, prefix: str = "") -> None:
        self.db = db
        self.contracts = f"{prefix}contract_directory"
        self.terms = f"{prefix}contract_directory_terms"
        self.contacts = f"{prefix}contract_directory_contacts"

    def _position(self) -> int:
        """The position the view has applied (0 before it ran, or while it waits to rebuild)."""
        rows = self.db.select(
            f"SELECT position, shape FROM {STATE_TABLE} WHERE name = ?",
            (ContractDirectoryProjection.name,),
        )
        if not rows or int(rows[0][1]) != ContractDirectoryProjection.shape:
            return 0
        return int(rows[0][0])

    def named(self, text: str) -> tuple[int, list[tuple[str, str]]]:
        """The position applied and the contracts (id, customer) whose customer's name is
        `text` or starts with it, in any case; none before the view has run."""
        position = self._position()
        if position == 0:
            return 0, []
        key = name_key(text)
        rows = self.db.select(
            f"SELECT contract_id, customer FROM {self.contracts} "
            "WHERE substr(customer_key, 1, ?) = ? ORDER BY customer_key, contract_id",
            (len(key), key),
        )
        return position, [(r[0], r[1]) for r in rows or []]

    def naming(self, email: str) -> tuple[int, list[tuple[str, str]]]:
        """The position applied and the contracts (id, customer) that name `email` now."""
        position = self._position()
        if position == 0:
            return 0, []
        rows = self.db.select(
            f"SELECT d.contract_id, d.customer FROM {self.contacts} c "
            f"JOIN {self.contracts} d ON d.contract_id = c.contract_id "
            "WHERE c.email = ? ORDER BY d.customer_key, d.contract_id",
            (email,),
        )
        return position, [(r[0], r[1]) for r in rows or []]

    def customers(self, contract_ids: list[str]) -> dict[str, str]:
        """The customer of each known contract among `contract_ids`."""
        found: dict[str, str] = {}
        for start in range(0, len(contract_ids), _CHUNK):
            chunk = contract_ids[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows = self.db.select(
                f"SELECT contract_id, customer FROM {self.contracts} "
                f"WHERE contract_id IN ({marks})",
                chunk,
            )
            found.update({r[0]: r[1] for r in rows or []})
        return found

    def listing(
        self,
        at: datetime,
        *,
        customer: str | None = None,
        tier: str | None = None,
        status: str | None = None,
        limit: int = 100,
        after: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The contracts at `at` by customer (then id), filtered, `limit` at most after the
        cursor `after`; with the cursor of the next page (None on the last)."""
        if status is not None and status not in STATUSES:
            raise InvalidInputError(f"status: {status!r} is not one of {', '.join(STATUSES)}")
        if not 1 <= limit <= 1000:
            raise InvalidInputError(f"limit: between 1 and 1000, got {limit}")
        start = self._cursor(after)
        chosen: list[ListedContract] = []
        more = False
        while not more:
            batch = self._batch(start, customer, limit + 1)  # one more: is there a next?
            if not batch:
                break
            for listed in batch:
                if (tier is None or listed.row(at, None)["tier"] == tier) and (
                    status is None or listed.status_at(at) == status
                ):
                    if len(chosen) == limit:
                        more = True
                        break
                    chosen.append(listed)
            last = batch[-1]
            start = (name_key(last.customer), last.contract_id)
        balances = self._balances([c.contract_id for c in chosen], at)
        rows = [c.row(at, balances.get(c.contract_id)) for c in chosen]
        return rows, (chosen[-1].contract_id if more and chosen else None)

    def _cursor(self, after: str | None) -> tuple[str, str] | None:
        """Where a page starts: after the contract `after` (the `next` of the page before)."""
        if after is None or after == "":
            return None
        try:
            contract = str(UUID(str(after).strip()))
        except ValueError:
            raise InvalidInputError(
                f"after: {after!r} is not a contract id (give the `next` of the page before)"
            ) from None
        rows = self.db.select(
            f"SELECT customer_key FROM {self.contracts} WHERE contract_id = ?", (contract,)
        )
        if not rows:
            raise InvalidInputError(f"after: no contract {contract} in the list")
        return str(rows[0][0]), contract

    def _batch(
        self, start: tuple[str, str] | None, customer: str | None, size: int
    ) -> list[ListedContract]:
        where, params = [], []
        if start is not None:
            where.append("(customer_key > ? OR (customer_key = ? AND contract_id > ?))")
            params += [start[0], start[0], start[1]]
        if customer:
            where.append("customer_key LIKE ? ESCAPE '\\'")
            params.append(contains_pattern(name_key(customer)))
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        rows = self.db.select(
            f"SELECT contract_id, customer, license_kind, status, terminated_at, account_id "
            f"FROM {self.contracts} {clause}ORDER BY customer_key, contract_id LIMIT ?",
            (*params, size),
        )
        if not rows:
            return []
        ids = [r[0] for r in rows]
        terms: dict[str, list[DirectoryTerm]] = {i: [] for i in ids}
        contacts: dict[str, list[str]] = {i: [] for i in ids}
        marks = ", ".join("?" * len(ids))
        for t in (
            self.db.select(
                f"SELECT contract_id, term_number, tier, licenses, starts_at, ends_at "
                f"FROM {self.terms} WHERE contract_id IN ({marks}) "
                "ORDER BY contract_id, term_number",
                ids,
            )
            or []
        ):
            terms[t[0]].append(DirectoryTerm(int(t[1]), t[2], int(t[3]), _at(t[4]), _at(t[5])))
        for c in (
            self.db.select(
                f"SELECT contract_id, email FROM {self.contacts} WHERE contract_id IN ({marks}) "
                "ORDER BY contract_id, email",
                ids,
            )
            or []
        ):
            contacts[c[0]].append(c[1])
        return [
            ListedContract(
                contract_id=r[0],
                customer=r[1],
                license_kind=r[2],
                recorded_status=r[3],
                terminated_at=instant(r[4]),
                account_id=r[5],
                terms=tuple(terms[r[0]]),
                contacts=tuple(contacts[r[0]]),
            )
            for r in rows
        ]

    def _balances(self, contract_ids: list[str], at: datetime) -> dict[str, Decimal]:
        """Points available at `at` per contract, from the credit-usage view (none when that
        view has not run)."""
        if not contract_ids:
            return {}
        marks = ", ".join("?" * len(contract_ids))
        rows = self.db.select(
            "SELECT contract_id, SUM(CASE WHEN to_account = ? THEN amount ELSE -amount END) "
            "FROM credit_movements WHERE unit = ? AND at <= ? "
            f"AND (to_account = ? OR from_account = ?) AND contract_id IN ({marks}) "
            "GROUP BY contract_id",
            (AVAILABLE, POINTS, us(at), AVAILABLE, AVAILABLE, *contract_ids),
        )
        if rows is None:
            return {}
        found = {r[0]: amount(int(r[1])) for r in rows}
        return {c: found.get(c, amount(0)) for c in contract_ids}


def _at(value: int) -> datetime:
    found = instant(value)
    if found is None:  # pragma: no cover - the columns are NOT NULL
        msg = "an instant is missing"
        raise ValueError(msg)
    return found


class ContractsInView:
    """The directory as the application's `ContractDirectory`, on connections of its own."""

    def __init__(self, settings: DatabaseSettings, *, keep: int = VIEW_CONNECTIONS) -> None:
        self._views = ViewPool(settings, keep=keep)

    def named(self, text: str) -> tuple[int, list[tuple[UUID, str]]]:
        """The position applied and the contracts whose customer's name starts with `text`."""
        with self._views.lease() as db:
            position, found = ContractDirectoryView(db).named(text)
        return position, [(UUID(c), customer) for c, customer in found]

    def naming(self, email: str) -> tuple[int, list[tuple[UUID, str]]]:
        """The position applied and the contracts that name `email`."""
        with self._views.lease() as db:
            position, found = ContractDirectoryView(db).naming(email)
        return position, [(UUID(c), customer) for c, customer in found]

    def customers(self, contract_ids: list[UUID]) -> dict[UUID, str]:
        """The customer of each contract among `contract_ids` the view knows."""
        if not contract_ids:
            return {}
        with self._views.lease() as db:
            found = ContractDirectoryView(db).customers([str(c) for c in contract_ids])
        return {UUID(c): customer for c, customer in found.items()}

    def close(self) -> None:
        """Close the view's connections."""
        self._views.close()
