"""Support points and training sessions of one contract, kept as lots.

Each term grants `per-license x licenses` points and sessions that expire at the term's end;
purchased packages are lots with an optional expiry. Consumption draws from the lot that
expires first (undated lots last), never below zero, and carries an idempotency key. A reversal
returns points to the lots they came from; points returned to a lot that has expired expire at
once. A lot's expiry is a fact of time: an expired lot is unavailable even before its expiry is
recorded.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import Aggregate

from ledger.domain.base import (
    deterministic_id,
    instant,
    later,
    non_negative_money,
    not_before,
    positive_points,
    show,
)
from ledger.domain.errors import (
    AlreadyReversedError,
    IdempotencyConflictError,
    InsufficientCreditsError,
    InsufficientTrainingError,
    InvalidAmountError,
    InvalidInputError,
    UnknownConsumptionError,
)

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime
    from uuid import UUID

POINTS = "points"
SESSIONS = "sessions"
MAX_KEY_LENGTH = 200


def _key(value: str | None, what: str = "key") -> str:
    text = "" if value is None else str(value).strip()
    if not text:
        raise InvalidInputError(f"{what}: an idempotency key is required")
    if len(text) > MAX_KEY_LENGTH:
        raise InvalidInputError(f"{what}: at most {MAX_KEY_LENGTH} characters")
    return text


class CreditAccount(Aggregate):
    """The points and training sessions of one contract."""

    @staticmethod
    def create_id(contract_id: UUID) -> UUID:
        """One account per contract."""
        return deterministic_id("credit-account", str(contract_id))

    # -- events ------------------------------------------------------------------------------

    class Opened(Aggregate.Created):
        """The account of a contract was opened (when the contract was signed)."""

        contract_id: UUID
        customer: str
        opened_at: datetime

        def apply(self, aggregate: Any) -> None:
            a = aggregate
            a.contract_id = self.contract_id
            a.customer = self.customer
            a.lots = {}
            a.granted_terms = []
            a.consumptions = {}
            a.purchases = {}
            a.trainings = {}
            a.last_at = self.opened_at

    class PointsGranted(Aggregate.Event):
        """Points of a term (or of an upgrade) were granted as a lot, usable from
        `available_from` (the term's start) until it expires at the term's end."""

        lot_id: str
        points: Decimal
        term_number: int
        reason: str
        available_from: datetime
        expires_at: datetime
        granted_at: datetime

        def apply(self, aggregate: Any) -> None:
            _new_lot(
                aggregate,
                lot_id=self.lot_id,
                unit=POINTS,
                kind=self.reason,
                amount=self.points,
                expires_at=self.expires_at,
                available_from=self.available_from,
            )
            aggregate.lots[self.lot_id]["term_number"] = self.term_number
            if self.reason == "term":
                aggregate.granted_terms.append(self.term_number)
            aggregate.last_at = later(aggregate.last_at, self.granted_at)

    class SessionsGranted(Aggregate.Event):
        """Training sessions of a term (or of an upgrade) were granted, usable from
        `available_from` until they expire at the term's end."""

        lot_id: str
        sessions: int
        term_number: int
        reason: str
        available_from: datetime
        expires_at: datetime
        granted_at: datetime

        def apply(self, aggregate: Any) -> None:
            _new_lot(
                aggregate,
                lot_id=self.lot_id,
                unit=SESSIONS,
                kind=self.reason,
                amount=Decimal(self.sessions),
                expires_at=self.expires_at,
                available_from=self.available_from,
            )
            aggregate.lots[self.lot_id]["term_number"] = self.term_number
            aggregate.last_at = later(aggregate.last_at, self.granted_at)

    class PackagePurchased(Aggregate.Event):
        """A package of points was bought (a lot with an optional expiry)."""

        lot_id: str
        key: str
        points: Decimal
        price: Decimal
        currency: str
        expires_at: datetime | None
        purchased_at: datetime

        def apply(self, aggregate: Any) -> None:
            _new_lot(
                aggregate,
                lot_id=self.lot_id,
                unit=POINTS,
                kind="purchase",
                amount=self.points,
                expires_at=self.expires_at,
                available_from=self.purchased_at,
            )
            aggregate.lots[self.lot_id]["price"] = self.price
            aggregate.purchases[self.key] = self.lot_id
            aggregate.last_at = later(aggregate.last_at, self.purchased_at)

    class PointsConsumed(Aggregate.Event):
        """Points were used for a support activity, drawn from the listed lots."""

        key: str
        points: Decimal
        activity: str
        ticket_id: UUID | None
        draws: list[dict[str, Any]]
        consumed_at: datetime

        def apply(self, aggregate: Any) -> None:
            for draw in self.draws:
                aggregate.lots[draw["lot_id"]]["remaining"] -= draw["amount"]
            aggregate.consumptions[self.key] = {
                "points": self.points,
                "activity": self.activity,
                "ticket_id": self.ticket_id,
                "draws": [{**d, "returned": Decimal(0)} for d in self.draws],
                "reversed": Decimal(0),
                "reversals": [],
                "consumed_at": self.consumed_at,
            }
            aggregate.last_at = later(aggregate.last_at, self.consumed_at)

    class ConsumptionReversed(Aggregate.Event):
        """Points of a consumption were returned to the lots they came from."""

        key: str
        points: Decimal
        reason: str
        returns: list[dict[str, Any]]
        reversed_at: datetime

        def apply(self, aggregate: Any) -> None:
            consumption = aggregate.consumptions[self.key]
            consumption["reversed"] += self.points
            consumption["reversals"].append(
                {"points": self.points, "reason": self.reason, "reversed_at": self.reversed_at}
            )
            for back in self.returns:
                lot = aggregate.lots[back["lot_id"]]
                if back["expired"]:
                    lot["expired_amount"] += back["amount"]
                else:
                    lot["remaining"] += back["amount"]
                for draw in consumption["draws"]:
                    if draw["lot_id"] == back["lot_id"]:
                        draw["returned"] += back["amount"]
                        break
            aggregate.last_at = later(aggregate.last_at, self.reversed_at)

    class LotExpired(Aggregate.Event):
        """A lot reached its expiry; what remained of it expired."""

        lot_id: str
        unit: str
        amount: Decimal
        expires_at: datetime
        recorded_at: datetime
        late: bool

        def apply(self, aggregate: Any) -> None:
            lot = aggregate.lots[self.lot_id]
            lot["remaining"] -= self.amount
            lot["expired_amount"] += self.amount
            lot["expired"] = True
            aggregate.last_at = later(aggregate.last_at, self.recorded_at)

    class TrainingSessionHeld(Aggregate.Event):
        """An online training session was held, drawn from the session lots."""

        key: str
        minutes: int
        topic: str
        draws: list[dict[str, Any]]
        held_at: datetime

        def apply(self, aggregate: Any) -> None:
            for draw in self.draws:
                aggregate.lots[draw["lot_id"]]["remaining"] -= draw["amount"]
            aggregate.trainings[self.key] = {
                "topic": self.topic,
                "minutes": self.minutes,
                "held_at": self.held_at,
            }
            aggregate.last_at = later(aggregate.last_at, self.held_at)

    # -- state ---------------------------------------------------------------------------------

    if TYPE_CHECKING:  # declared for readers and mypy; eventsourcing would make annotations fields
        contract_id: UUID
        customer: str
        lots: dict[str, dict[str, Any]]
        granted_terms: list[int]
        consumptions: dict[str, dict[str, Any]]
        purchases: dict[str, str]
        trainings: dict[str, dict[str, Any]]
        last_at: datetime

    # -- commands ------------------------------------------------------------------------------

    @classmethod
    def open(cls, *, contract_id: UUID, customer: str, at: datetime) -> CreditAccount:
        """The account of a newly signed contract."""
        return cls._create(
            cls.Opened,
            id=cls.create_id(contract_id),
            contract_id=contract_id,
            customer=customer,
            opened_at=instant(at),
        )

    def grant_term(
        self,
        *,
        term_number: int,
        points: Decimal,
        sessions: int,
        starts_at: datetime,
        expires_at: datetime,
        at: datetime,
    ) -> bool:
        """Grant a term's points and sessions once; they are usable from the term's start.

        Returns False when that term was granted already.
        """
        if term_number in self.granted_terms:
            return False
        when = self._check(instant(at), "grant a term")
        self.trigger_event(
            self.PointsGranted,
            lot_id=f"term-{term_number}-points",
            points=points,
            term_number=term_number,
            reason="term",
            available_from=starts_at,
            expires_at=expires_at,
            granted_at=when,
        )
        if sessions > 0:
            self.trigger_event(
                self.SessionsGranted,
                lot_id=f"term-{term_number}-sessions",
                sessions=sessions,
                term_number=term_number,
                reason="term",
                available_from=starts_at,
                expires_at=expires_at,
                granted_at=when,
            )
        return True

    def grant_upgrade(
        self,
        *,
        term_number: int,
        points: Decimal,
        sessions: int,
        expires_at: datetime,
        at: datetime,
    ) -> None:
        """Grant the pro-rata difference of an upgrade for the current term."""
        when = self._check(instant(at), "grant an upgrade")
        number = sum(1 for lot in self.lots.values() if lot["kind"] == "upgrade") + 1
        if points > 0:
            self.trigger_event(
                self.PointsGranted,
                lot_id=f"upgrade-{number}-points",
                points=points,
                term_number=term_number,
                reason="upgrade",
                available_from=when,
                expires_at=expires_at,
                granted_at=when,
            )
        if sessions > 0:
            self.trigger_event(
                self.SessionsGranted,
                lot_id=f"upgrade-{number}-sessions",
                sessions=sessions,
                term_number=term_number,
                reason="upgrade",
                available_from=when,
                expires_at=expires_at,
                granted_at=when,
            )

    def purchase(
        self,
        *,
        points: Decimal,
        price: Decimal,
        currency: str,
        key: str,
        expires_at: datetime | None,
        at: datetime,
    ) -> tuple[str, bool]:
        """Buy a package of points. Returns (lot id, whether it was recorded now)."""
        key = _key(key)
        amount = positive_points(points)
        cost = non_negative_money(price, "price")
        expiry = instant(expires_at, "expires") if expires_at is not None else None
        existing = self.purchases.get(key)
        if existing is not None:
            lot = self.lots[existing]
            if (lot["amount"], lot["price"], lot["expires_at"]) == (amount, cost, expiry):
                return existing, False
            raise IdempotencyConflictError(
                f"key {key!r} was used for a purchase of {lot['amount']} points at {lot['price']} "
                f"{currency}; use a new key for a different purchase"
            )
        when = self._check(instant(at), "purchase")
        if expiry is not None and expiry <= when:
            raise InvalidInputError(f"expires: {expiry.isoformat()} is not after the purchase")
        lot_id = f"purchase-{len(self.purchases) + 1}"
        self.trigger_event(
            self.PackagePurchased,
            lot_id=lot_id,
            key=key,
            points=amount,
            price=cost,
            currency=currency,
            expires_at=expiry,
            purchased_at=when,
        )
        return lot_id, True

    def consume(
        self,
        *,
        points: Decimal,
        activity: str,
        key: str,
        ticket_id: UUID | None,
        at: datetime,
    ) -> tuple[dict[str, Any], bool]:
        """Use points for an activity. Returns (the consumption, whether it was recorded now)."""
        key = _key(key)
        amount = positive_points(points)
        what = str(activity).strip()
        if not what:
            raise InvalidInputError("activity: say what the points were used for")
        existing = self.consumptions.get(key)
        if existing is not None:
            if (existing["points"], existing["activity"], existing["ticket_id"]) == (
                amount,
                what,
                ticket_id,
            ):
                return existing, False
            raise IdempotencyConflictError(
                f"key {key!r} was used to consume {existing['points']} points for "
                f"{existing['activity']!r}; use a new key for a different consumption"
            )
        when = self._check(instant(at), "consume")
        draws = self._draw(POINTS, amount, when)
        if draws is None:
            available = self.available(POINTS, when)
            raise InsufficientCreditsError(
                f"cannot consume {show(amount)} points: {show(available)} available",
                available=str(available),
                requested=str(amount),
            )
        self.trigger_event(
            self.PointsConsumed,
            key=key,
            points=amount,
            activity=what,
            ticket_id=ticket_id,
            draws=draws,
            consumed_at=when,
        )
        return self.consumptions[key], True

    def reverse(
        self, *, key: str, points: Decimal | None, reason: str, at: datetime
    ) -> tuple[dict[str, Any], bool]:
        """Return points of a consumption (all that is left of it by default).

        A repeated reversal of the same consumption with the same points and reason returns the
        first one and records nothing. Returns (the reversal, whether it was recorded now).
        """
        key = _key(key)
        consumption = self.consumptions.get(key)
        if consumption is None:
            raise UnknownConsumptionError(f"no consumption was recorded under key {key!r}")
        why = str(reason).strip()
        if not why:
            raise InvalidInputError("reason: say why the consumption is reversed")
        left = consumption["points"] - consumption["reversed"]
        amount = left if points is None else positive_points(points)
        same = [r for r in consumption["reversals"] if r["reason"] == why]
        if same and ((points is None and left <= 0) or any(r["points"] == amount for r in same)):
            return same[-1], False
        if left <= 0:
            raise AlreadyReversedError(f"the consumption {key!r} was already reversed in full")
        if amount > left:
            raise InvalidAmountError(
                f"cannot reverse {show(amount)} points: "
                f"{show(left)} of the {show(consumption['points'])} consumed are left"
            )
        when = self._check(instant(at), "reverse")
        returns = []
        remaining = amount
        for draw in reversed(consumption["draws"]):
            back = min(draw["amount"] - draw["returned"], remaining)
            if back <= 0:
                continue
            lot = self.lots[draw["lot_id"]]
            expired = lot["expired"] or (
                lot["expires_at"] is not None and lot["expires_at"] <= when
            )
            returns.append({"lot_id": draw["lot_id"], "amount": back, "expired": expired})
            remaining -= back
            if remaining == 0:
                break
        self.trigger_event(
            self.ConsumptionReversed,
            key=key,
            points=amount,
            reason=why,
            returns=returns,
            reversed_at=when,
        )
        return consumption["reversals"][-1], True

    def expire_lot(self, *, lot_id: str, at: datetime, late: bool = False) -> bool:
        """Record a lot's expiry once; False when it was recorded already."""
        lot = self.lots.get(lot_id)
        if lot is None:
            raise InvalidInputError(f"no lot {lot_id!r} in this account")
        if lot["expired"]:
            return False
        when = instant(at)
        if lot["expires_at"] is None or when < lot["expires_at"]:
            raise InvalidInputError(f"lot {lot_id} does not expire by {when.isoformat()}")
        when = max(when, self.last_at)
        self.trigger_event(
            self.LotExpired,
            lot_id=lot_id,
            unit=lot["unit"],
            amount=lot["remaining"],
            expires_at=lot["expires_at"],
            recorded_at=when,
            late=bool(late),
        )
        return True

    def hold_training(
        self, *, key: str, topic: str, minutes: int, at: datetime
    ) -> tuple[dict[str, Any], bool]:
        """Hold one online training session. Returns (the session, whether recorded now)."""
        key = _key(key)
        subject = str(topic).strip() or "training"
        existing = self.trainings.get(key)
        if existing is not None:
            if existing["topic"] == subject:
                return existing, False
            raise IdempotencyConflictError(
                f"key {key!r} was used for a training on {existing['topic']!r}"
            )
        when = self._check(instant(at), "hold a training session")
        draws = self._draw(SESSIONS, Decimal(1), when)
        if draws is None:
            raise InsufficientTrainingError(
                f"no training sessions left: {show(self.available(SESSIONS, when))} available",
                available=str(self.available(SESSIONS, when)),
            )
        self.trigger_event(
            self.TrainingSessionHeld,
            key=key,
            minutes=minutes,
            topic=subject,
            draws=draws,
            held_at=when,
        )
        return self.trainings[key], True

    # -- questions -----------------------------------------------------------------------------

    def usable_lots(self, unit: str, at: datetime) -> list[dict[str, Any]]:
        """Lots of `unit` usable at `at`, in the order they are drawn (earliest expiry first)."""
        usable = [
            {"lot_id": lot_id, **lot}
            for lot_id, lot in self.lots.items()
            if lot["unit"] == unit
            and lot["remaining"] > 0
            and not lot["expired"]
            and lot["available_from"] <= at
            and (lot["expires_at"] is None or lot["expires_at"] > at)
        ]
        usable.sort(
            key=lambda lot: (
                lot["expires_at"] is None,
                lot["expires_at"] or lot["available_from"],
                lot["available_from"],
                lot["lot_id"],
            )
        )
        return usable

    def available(self, unit: str, at: datetime) -> Decimal:
        """Points (or sessions) usable at `at`."""
        return sum((lot["remaining"] for lot in self.usable_lots(unit, at)), Decimal(0))

    def due_expiries(self, at: datetime) -> Iterable[tuple[str, datetime]]:
        """Lots whose expiry has come by `at` and is not recorded yet."""
        for lot_id, lot in self.lots.items():
            if not lot["expired"] and lot["expires_at"] is not None and lot["expires_at"] <= at:
                yield lot_id, lot["expires_at"]

    # -- helpers -------------------------------------------------------------------------------

    def _check(self, when: datetime, what: str) -> datetime:
        not_before(when, self.last_at, f"cannot {what} at that time")
        return when

    def _draw(self, unit: str, amount: Decimal, at: datetime) -> list[dict[str, Any]] | None:
        draws = []
        needed = amount
        for lot in self.usable_lots(unit, at):
            take = min(lot["remaining"], needed)
            draws.append({"lot_id": lot["lot_id"], "amount": take})
            needed -= take
            if needed == 0:
                return draws
        return None


def _new_lot(
    aggregate: Any,
    *,
    lot_id: str,
    unit: str,
    kind: str,
    amount: Decimal,
    expires_at: datetime | None,
    available_from: datetime,
) -> None:
    aggregate.lots[lot_id] = {
        "unit": unit,
        "kind": kind,
        "amount": amount,
        "remaining": amount,
        "expired_amount": Decimal(0),
        "expired": False,
        "expires_at": expires_at,
        "available_from": available_from,
        "term_number": None,
        "price": None,
    }
