"""What a credit account holds, as values: lots, scheduled terms, trainings, draws, reversals.

A lot is an amount of points (or training sessions) usable from `available_from` until it
expires; drawing takes from the lot that expires first (undated lots last). A term of the
agreement counts as its lot from its start, before its grant is recorded. A consumption keeps
what it drew from each lot and what was returned to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Self

from ledger.domain.base import clean_text, show
from ledger.domain.errors import IdempotencyConflictError, InvalidAmountError, InvalidInputError
from ledger.domain.values import Value

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from datetime import datetime

POINTS = "points"
SESSIONS = "sessions"
MAX_KEY_LENGTH = 200


@dataclass(frozen=True, slots=True)
class Lot(Value):
    """Points or sessions granted or bought together, and what is left of them."""

    unit: str
    kind: str
    amount: Decimal
    remaining: Decimal
    expired_amount: Decimal
    expired: bool
    expires_at: datetime | None
    available_from: datetime
    term_number: int | None = None
    price: Decimal | None = None
    currency: str | None = None

    @classmethod
    def new(
        cls,
        *,
        unit: str,
        kind: str,
        amount: Decimal,
        expires_at: datetime | None,
        available_from: datetime,
        term_number: int | None = None,
        price: Decimal | None = None,
        currency: str | None = None,
    ) -> Self:
        """A lot as granted or bought: all of it remaining, nothing expired."""
        return cls(
            unit=unit, kind=kind, amount=amount, remaining=amount, expired_amount=Decimal(0),
            expired=False, expires_at=expires_at, available_from=available_from,
            term_number=term_number, price=price, currency=currency,
        )  # fmt: skip

    def draw(self, amount: Decimal) -> Lot:
        """The lot after `amount` was drawn from it."""
        return self.but(remaining=self.remaining - amount)

    def give_back(self, amount: Decimal, *, expired: bool) -> Lot:
        """The lot after `amount` was returned to it (expired at once if `expired`)."""
        if expired:
            return self.but(expired_amount=self.expired_amount + amount)
        return self.but(remaining=self.remaining + amount)

    def expire(self, amount: Decimal) -> Lot:
        """The lot after `amount` of what remained expired."""
        return self.but(
            remaining=self.remaining - amount,
            expired_amount=self.expired_amount + amount,
            expired=True,
        )

    def ends_at(self, ended_at: datetime | None) -> datetime | None:
        """When the lot expires: its expiry, or `ended_at` (the agreement's end) if earlier.

        Nothing is used after a termination, so what remains of every lot expires then (never
        before the lot became available). None for a lot that never expires.
        """
        ends = self.expires_at
        if ended_at is not None:
            cut = max(ended_at, self.available_from)
            ends = cut if ends is None else min(ends, cut)
        return ends

    def usable(self, unit: str, at: datetime) -> bool:
        """Whether something of the lot can be drawn in `unit` at `at`."""
        return (
            self.unit == unit
            and self.remaining > 0
            and not self.expired
            and self.available_from <= at
            and (self.expires_at is None or self.expires_at > at)
        )


@dataclass(frozen=True, slots=True)
class ScheduledTerm(Value):
    """A term of the agreement as the account knows it: what it grants when it begins."""

    number: int
    starts_at: datetime
    ends_at: datetime
    points: Decimal
    sessions: int
    granted: bool

    def lot(self, unit: str) -> Lot:
        """The lot the term grants in `unit` (counted from its start, before its grant)."""
        amount = self.points if unit == POINTS else Decimal(self.sessions)
        return Lot.new(
            unit=unit,
            kind="term",
            amount=amount,
            expires_at=self.ends_at,
            available_from=self.starts_at,
            term_number=self.number,
        )

    def grants(
        self, starts_at: datetime, ends_at: datetime, points: Decimal, sessions: int
    ) -> bool:
        """Whether the term is noted as starting, ending and granting these."""
        return (self.starts_at, self.ends_at, self.points, self.sessions) == (
            starts_at,
            ends_at,
            points,
            sessions,
        )


@dataclass(frozen=True, slots=True)
class Training(Value):
    """An online training session held."""

    topic: str
    minutes: int
    held_at: datetime


@dataclass(frozen=True, slots=True)
class Drawn(Value):
    """What a consumption drew from one lot, and how much of it was returned since."""

    lot_id: str
    amount: Decimal
    returned: Decimal


@dataclass(frozen=True, slots=True)
class Returned(Value):
    """Points returned to one lot by a reversal (expired at once if the lot had expired)."""

    lot_id: str
    amount: Decimal
    expired: bool


@dataclass(frozen=True, slots=True)
class Reversal(Value):
    """Points of a consumption returned to the lots they came from."""

    points: Decimal
    reason: str
    returns: tuple[Returned, ...]
    reversed_at: datetime

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """The reversal of `as_dict`'s dict (or of an event's fields)."""
        return cls(**{**data, "returns": tuple(Returned.from_dict(r) for r in data["returns"])})


# -- rules -------------------------------------------------------------------------------------


def idempotency_key(value: str | None, what: str = "key") -> str:
    """A non-empty idempotency key of at most 200 characters, stripped."""
    text = "" if value is None else clean_text(value, what)
    if not text:
        raise InvalidInputError(f"{what}: an idempotency key is required")
    if len(text) > MAX_KEY_LENGTH:
        raise InvalidInputError(f"{what}: at most {MAX_KEY_LENGTH} characters")
    return text


def activity_text(value: str) -> str:
    """What points were used for; required."""
    text = clean_text(value, "activity")
    if not text:
        raise InvalidInputError("activity: say what the points were used for")
    return text


def usable_lots(
    lots: Mapping[str, Lot],
    terms: Iterable[ScheduledTerm],
    ended_at: datetime | None,
    unit: str,
    at: datetime,
) -> Iterable[tuple[str, Lot]]:
    """The lots of `unit` usable at `at`, with their ids, in no particular order.

    A term that has begun but whose grant is not recorded yet counts as its lot.
    """
    if ended_at is not None and at >= ended_at:
        return
    virtual = {
        f"term-{term.number}-{unit}": term.lot(unit)
        for term in terms
        if not term.granted
        and term.starts_at <= at
        and (ended_at is None or term.starts_at < ended_at)
    }
    for lot_id, lot in ({**lots, **virtual} if virtual else lots).items():
        if lot.usable(unit, at):
            yield lot_id, lot


def drawing_order(lots: Iterable[tuple[str, Lot]]) -> list[tuple[str, Lot]]:
    """Lots in the order they are drawn: earliest expiry first, undated lots last."""
    return sorted(
        lots,
        key=lambda item: (
            item[1].expires_at is None,
            item[1].expires_at or item[1].available_from,
            item[1].available_from,
            item[0],
        ),
    )


def draw_from(lots: Iterable[tuple[str, Lot]], amount: Decimal) -> list[dict[str, Any]] | None:
    """The draws (lot id and amount) that take `amount` from `lots` in drawing order; None if
    they hold less."""
    draws = []
    needed = amount
    for lot_id, lot in drawing_order(lots):
        take = min(lot.remaining, needed)
        draws.append({"lot_id": lot_id, "amount": take})
        needed -= take
        if needed == 0:
            return draws
    return None


def returns_for(
    draws: list[Drawn], amount: Decimal, lot_expired: Callable[[str], bool]
) -> list[dict[str, Any]]:
    """The returns of `amount` to the lots drawn, the last drawn first, each marked expired if
    its lot has expired (by `lot_expired`)."""
    returns = []
    remaining = amount
    for draw in reversed(draws):
        back = min(draw.amount - draw.returned, remaining)
        if back <= 0:
            continue
        returns.append({"lot_id": draw.lot_id, "amount": back, "expired": lot_expired(draw.lot_id)})
        remaining -= back
        if remaining == 0:
            break
    return returns


def returned_to(draws: list[Drawn], returns: list[dict[str, Any]]) -> None:
    """Note on a consumption's draws the points returned to their lots."""
    for back in returns:
        for i, draw in enumerate(draws):
            if draw.lot_id == back["lot_id"]:
                draws[i] = draw.but(returned=draw.returned + back["amount"])
                break


def check_schedule(
    known: ScheduledTerm | None,
    *,
    term_number: int,
    starts_at: datetime,
    ends_at: datetime,
    points: Decimal,
    sessions: int,
    at: datetime,
) -> bool:
    """Whether a term noted with these figures is news (False: noted as such already)."""
    if ends_at <= starts_at:
        raise InvalidInputError(f"term {term_number} ends before it starts")
    if not isinstance(points, Decimal) or points < 0 or isinstance(sessions, bool) or sessions < 0:
        raise InvalidAmountError(f"term {term_number}: points and sessions must not be negative")
    if known is None:
        return True
    if known.granted:
        raise InvalidInputError(f"term {term_number} was granted already")
    if known.grants(starts_at, ends_at, points, sessions):
        return False
    if known.starts_at <= at:
        raise InvalidInputError(
            f"term {term_number} began at {known.starts_at.isoformat()}; "
            "what it grants can no longer change"
        )
    return True


def same_purchase(
    key: str, lot: Lot, *, amount: Decimal, cost: Decimal, currency: str, expiry: datetime | None
) -> bool:
    """Whether a repeated purchase under `key` is the one recorded as `lot` (else refused)."""
    if (lot.amount, lot.price, lot.currency, lot.expires_at) == (amount, cost, currency, expiry):
        return True
    price = show(lot.price) if lot.price is not None else "?"
    raise IdempotencyConflictError(
        f"key {key!r} was used for a purchase of {show(lot.amount)} points at "
        f"{price} {lot.currency}; use a new key for a different purchase"
    )


def validity_problem(
    terms: Iterable[ScheduledTerm], ended_at: datetime | None, at: datetime
) -> str:
    """Why an agreement of `terms` (ended at `ended_at`) is not valid at `at`, in words."""
    if ended_at is not None and at >= ended_at:
        return f"the agreement was terminated at {ended_at.isoformat()}"
    known = list(terms)
    if not known:
        return "the agreement has no term"
    first = min(t.starts_at for t in known)
    last = max(t.ends_at for t in known)
    if at < first:
        return f"the agreement starts at {first.isoformat()}"
    if at >= last:
        return f"the agreement's last term ended at {last.isoformat()} without renewal"
    return "no term of the agreement covers that instant"
