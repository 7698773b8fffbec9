"""What a credit account keeps of its lots as terms pass: what can still change, no more.

A lot leaves the account's state when its expiry is recorded (`LotExpired`): nothing of it can
be used again, and points returned to it expire at once. A bought package's lot also leaves
when it is used up; its purchase record (kept for the key's idempotency while the lot has not
expired) re-creates it if a reversal returns points to it. Term and upgrade lots used up stay
until their expiry, at most a term. A training's key is kept until the sessions of its term
expire. Their history stays in the events and the views; the state holds the live lots, one
record per package not yet expired, one term per year and the trainings of the running term.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ledger.domain.lots import POINTS, SESSIONS, Lot, ScheduledTerm, Training
from ledger.domain.values import Value

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from datetime import datetime

PURCHASE = "purchase"


@dataclass(frozen=True, slots=True)
class Purchase(Value):
    """A package bought under an idempotency key: what its lot was when bought."""

    lot_id: str
    points: Decimal
    price: Decimal
    currency: str
    expires_at: datetime | None
    purchased_at: datetime

    @classmethod
    def of(cls, lot_id: str, lot: Lot) -> Purchase:
        """The record of the package bought as `lot`."""
        return cls(
            lot_id=lot_id, points=lot.amount, price=Decimal(0) if lot.price is None else lot.price,
            currency=lot.currency or "", expires_at=lot.expires_at,
            purchased_at=lot.available_from,
        )  # fmt: skip

    def used_up(self) -> Lot:
        """The package's lot with nothing left (as it was when it left the state)."""
        lot = Lot.new(
            unit=POINTS, kind=PURCHASE, amount=self.points, expires_at=self.expires_at,
            available_from=self.purchased_at, price=self.price, currency=self.currency,
        )  # fmt: skip
        return lot.but(remaining=Decimal(0))


def purchase_of(purchases: Mapping[str, Purchase], lot_id: str) -> Purchase | None:
    """The purchase record of a package's lot (None: not a package, or expired)."""
    return next((p for p in purchases.values() if p.lot_id == lot_id), None)


def held(lots: Mapping[str, Lot], purchases: Mapping[str, Purchase]) -> Iterator[tuple[str, Lot]]:
    """Every lot the account holds: the live ones, then the packages used up."""
    yield from lots.items()
    for purchase in purchases.values():
        if purchase.lot_id not in lots:
            yield purchase.lot_id, purchase.used_up()


def find_lot(lots: Mapping[str, Lot], purchases: Mapping[str, Purchase], lot_id: str) -> Lot | None:
    """A lot the account holds (a package used up, re-created from its record); None: gone."""
    lot = lots.get(lot_id)
    if lot is not None:
        return lot
    purchase = purchase_of(purchases, lot_id)
    return None if purchase is None else purchase.used_up()


def had_lot(lot_id: str, terms: Mapping[int, ScheduledTerm], purchases: int, upgrades: int) -> bool:
    """Whether `lot_id` names a lot the account was granted or bought (its ids are numbered:
    `term-N-points`, `upgrade-N-sessions`, `purchase-N`)."""
    kind, _, rest = lot_id.partition("-")
    number, _, unit = rest.partition("-")
    if not number.isdigit():
        return False
    n = int(number)
    if kind == PURCHASE:
        return not unit and 1 <= n <= purchases
    if unit not in (POINTS, SESSIONS):
        return False
    if kind == "term":
        term = terms.get(n)
        return term is not None and term.granted and (unit == POINTS or term.sessions > 0)
    # an upgrade of sessions alone takes the number the next upgrade of points will have
    return kind == "upgrade" and 1 <= n <= upgrades + (unit == SESSIONS)


def take_draws(lots: dict[str, Lot], draws: list[dict[str, Any]]) -> None:
    """Draw from the lots; a package used up leaves them (its purchase record stays)."""
    for draw in draws:
        lot = lots[draw["lot_id"]].draw(draw["amount"])
        if lot.remaining == 0 and lot.kind == PURCHASE:
            del lots[draw["lot_id"]]
        else:
            lots[draw["lot_id"]] = lot


def give_back(
    lots: dict[str, Lot], purchases: Mapping[str, Purchase], returns: list[dict[str, Any]]
) -> None:
    """Return points to their lots: a package used up comes back; points returned to a lot
    that is gone (its expiry recorded) expired at once and change nothing held."""
    for back in returns:
        lot_id = back["lot_id"]
        lot = lots.get(lot_id)
        if lot is None and not back["expired"]:
            lot = find_lot(lots, purchases, lot_id)
        if lot is not None:
            lots[lot_id] = lot.give_back(back["amount"], expired=back["expired"])


def expire(state: Any, lot_id: str, unit: str, expires_at: datetime) -> None:
    """A lot's expiry was recorded: it leaves, with its purchase record and, for sessions,
    the keys of the trainings held before it expired."""
    state.lots.pop(lot_id, None)
    purchases: dict[str, Purchase] = state.purchases
    for key in [k for k, p in purchases.items() if p.lot_id == lot_id]:
        del purchases[key]
    if unit == SESSIONS:
        trainings: dict[str, Training] = state.trainings
        for key in [k for k, t in trainings.items() if t.held_at < expires_at]:
            del trainings[key]


def plain_to_values(state: dict[str, Any]) -> None:
    """A snapshot's plain state (dicts: version 2's shape or version 3's) in value objects."""
    state["lots"] = {i: Lot.from_dict(lot) for i, lot in state["lots"].items()}
    state["terms"] = {int(n): ScheduledTerm.from_dict(t) for n, t in state["terms"].items()}
    state["trainings"] = {k: Training.from_dict(t) for k, t in state["trainings"].items()}
    if "purchase_count" in state:  # version 3: a purchase record; version 2: the lot's id
        state["purchases"] = {k: Purchase.from_dict(p) for k, p in state["purchases"].items()}


def bounded(state: dict[str, Any]) -> None:
    """A version-2 state (every lot ever held, every key) as version 3 keeps it: what the
    events give when folded by today's rules."""
    if "purchase_count" in state:
        return
    lots: dict[str, Lot] = state["lots"]
    old: dict[str, str] = state["purchases"]
    ended = state["ended_at"]
    state["purchase_count"] = len(old)
    state["upgrade_count"] = sum(
        1 for lot in lots.values() if lot.kind == "upgrade" and lot.unit == POINTS
    )
    state["purchases"] = {
        key: Purchase.of(lot_id, lots[lot_id]) for key, lot_id in old.items()
        if not lots[lot_id].expired
    }  # fmt: skip
    session_ends = [
        ends for lot in lots.values() if lot.expired and lot.unit == SESSIONS
        and (ends := lot.ends_at(ended)) is not None
    ]  # fmt: skip
    if session_ends:
        last = max(session_ends)
        state["trainings"] = {k: t for k, t in state["trainings"].items() if t.held_at >= last}
    state["lots"] = {
        i: lot for i, lot in lots.items()
        if not lot.expired and not (lot.kind == PURCHASE and lot.remaining == 0)
    }  # fmt: skip
