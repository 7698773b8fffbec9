"""Support points and training sessions of one contract, kept as lots.

The account knows the terms of its agreement: each is scheduled when it is signed, renewed or
reinstated, and granted (`per-license x licenses` points and sessions, expiring at the term's
end) when it begins; the grant of a term that has begun is a fact of time, recorded by the
first command that needs it if the scheduler has not recorded it yet. Purchased packages are
lots with an optional expiry. Consumption draws from the lot that expires first (undated lots
last) and never drives a balance below zero. A lot's expiry is a fact of time too: an expired
lot is unusable even before its expiry is recorded.

Each consumption is also an aggregate of its own (`CreditConsumption`, identified by account
and idempotency key): it makes a repeated key idempotent and keeps what a reversal needs, so the
account itself stays small however many consumptions it has. A reversal returns points to the
lots they came from; points returned to a lot that has expired expire at once. Lots that have
expired, or packages used up, leave the state as terms pass (see `ledger.domain.holdings`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import Aggregate

from ledger.domain import holdings
from ledger.domain.base import (
    LedgerAggregate,
    clean_text,
    deterministic_id,
    instant,
    later,
    non_negative_money,
    not_before,
    positive_points,
    show,
)
from ledger.domain.errors import (
    AgreementNotValidError,
    AlreadyReversedError,
    IdempotencyConflictError,
    InsufficientCreditsError,
    InsufficientTrainingError,
    InvalidAmountError,
    InvalidInputError,
)
from ledger.domain.lots import (
    MAX_KEY_LENGTH,
    POINTS,
    SESSIONS,
    Drawn,
    Lot,
    Returned,
    Reversal,
    ScheduledTerm,
    Training,
    activity_text,
    check_schedule,
    draw_from,
    drawing_order,
    idempotency_key,
    returned_to,
    returns_for,
    same_purchase,
    usable_lots,
    validity_problem,
)
from ledger.domain.values import PlainSnapshot

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from datetime import datetime
    from uuid import UUID

__all__ = [  # the rules of lots too, re-exported where they were defined before
    "MAX_KEY_LENGTH", "POINTS", "SESSIONS", "CreditAccount", "CreditConsumption",
    "activity_text", "idempotency_key",
]  # fmt: skip


class CreditAccount(LedgerAggregate):
    """The points and training sessions of one contract."""

    # 2: the state in value objects (version 1 kept dicts, see upcast_v1_v2); 3: lots that
    # expired or packages used up leave the state, purchases keep a record (upcast_v2_v3)
    class_version = 3
    Snapshot = PlainSnapshot

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

        def apply(self, aggregate: CreditAccount) -> None:
            a = aggregate
            a.contract_id = self.contract_id
            a.customer = self.customer
            a.lots = {}
            a.terms = {}
            a.purchases = {}
            a.purchase_count = 0
            a.upgrade_count = 0
            a.trainings = {}
            a.ended_at = None
            a.last_at = self.opened_at

    class TermScheduled(Aggregate.Event):
        """A term of the agreement, with what it will grant when it begins."""

        term_number: int
        starts_at: datetime
        ends_at: datetime
        points: Decimal
        sessions: int
        scheduled_at: datetime

        def apply(self, aggregate: CreditAccount) -> None:
            aggregate.terms[self.term_number] = ScheduledTerm(
                number=self.term_number,
                starts_at=self.starts_at,
                ends_at=self.ends_at,
                points=self.points,
                sessions=self.sessions,
                granted=False,
            )
            aggregate.last_at = later(aggregate.last_at, self.scheduled_at)

    class AgreementEnded(Aggregate.Event):
        """The agreement was terminated; nothing is used from `ended_at` on, and what remains
        of every lot expires then (a LotExpired each, recorded by the scheduler)."""

        reason: str
        ended_at: datetime

        def apply(self, aggregate: CreditAccount) -> None:
            aggregate.ended_at = self.ended_at
            aggregate.last_at = later(aggregate.last_at, self.ended_at)

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

        def apply(self, aggregate: CreditAccount) -> None:
            aggregate.lots[self.lot_id] = Lot.new(
                unit=POINTS,
                kind=self.reason,
                amount=self.points,
                expires_at=self.expires_at,
                available_from=self.available_from,
                term_number=self.term_number,
            )
            term = aggregate.terms.get(self.term_number)
            if self.reason == "term" and term is not None:
                aggregate.terms[self.term_number] = term.but(granted=True)
            if self.reason == "upgrade":
                aggregate.upgrade_count += 1
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

        def apply(self, aggregate: CreditAccount) -> None:
            aggregate.lots[self.lot_id] = Lot.new(
                unit=SESSIONS,
                kind=self.reason,
                amount=Decimal(self.sessions),
                expires_at=self.expires_at,
                available_from=self.available_from,
                term_number=self.term_number,
            )
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

        def apply(self, aggregate: CreditAccount) -> None:
            aggregate.lots[self.lot_id] = Lot.new(
                unit=POINTS,
                kind="purchase",
                amount=self.points,
                expires_at=self.expires_at,
                available_from=self.purchased_at,
                price=self.price,
                currency=self.currency,
            )
            aggregate.purchases[self.key] = holdings.Purchase(
                self.lot_id, self.points, self.price, self.currency, self.expires_at,
                self.purchased_at,
            )  # fmt: skip
            aggregate.purchase_count += 1
            aggregate.last_at = later(aggregate.last_at, self.purchased_at)

    class PointsConsumed(Aggregate.Event):
        """Points were used for a support activity, drawn from the listed lots."""

        key: str
        points: Decimal
        activity: str
        ticket_id: UUID | None
        draws: list[dict[str, Any]]
        consumed_at: datetime

        def apply(self, aggregate: CreditAccount) -> None:
            holdings.take_draws(aggregate.lots, self.draws)
            aggregate.last_at = later(aggregate.last_at, self.consumed_at)

    class ConsumptionReversed(Aggregate.Event):
        """Points of a consumption were returned to the lots they came from."""

        key: str
        points: Decimal
        reason: str
        returns: list[dict[str, Any]]
        reversed_at: datetime

        def apply(self, aggregate: CreditAccount) -> None:
            holdings.give_back(aggregate.lots, aggregate.purchases, self.returns)
            aggregate.last_at = later(aggregate.last_at, self.reversed_at)

    class LotExpired(Aggregate.Event):
        """A lot reached its expiry (`expires_at`: its own, or the termination of the agreement
        if that came first); what remained of it expired."""

        lot_id: str
        unit: str
        amount: Decimal
        expires_at: datetime
        recorded_at: datetime
        late: bool

        def apply(self, aggregate: CreditAccount) -> None:
            holdings.expire(aggregate, self.lot_id, self.unit, self.expires_at)
            aggregate.last_at = later(aggregate.last_at, self.recorded_at)

    class TrainingSessionHeld(Aggregate.Event):
        """An online training session was held, drawn from the session lots."""

        key: str
        minutes: int
        topic: str
        draws: list[dict[str, Any]]
        held_at: datetime

        def apply(self, aggregate: CreditAccount) -> None:
            holdings.take_draws(aggregate.lots, self.draws)
            aggregate.trainings[self.key] = Training(
                topic=self.topic, minutes=self.minutes, held_at=self.held_at
            )
            aggregate.last_at = later(aggregate.last_at, self.held_at)

    # -- state ---------------------------------------------------------------------------------

    if TYPE_CHECKING:  # declared for readers and mypy; eventsourcing would make annotations fields
        contract_id: UUID
        customer: str
        lots: dict[str, Lot]
        terms: dict[int, ScheduledTerm]
        purchases: dict[str, holdings.Purchase]
        purchase_count: int
        upgrade_count: int
        trainings: dict[str, Training]
        ended_at: datetime | None
        last_at: datetime

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """A state of dicts (version 1, a snapshot's plain form) in value objects.

        Every snapshot is written plain (see `PlainSnapshot`) and enters here, version 3's too.
        """
        holdings.plain_to_values(state)

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        """Every lot ever held (version 2) as version 3 keeps them (`ledger.domain.holdings`)."""
        holdings.bounded(state)

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

    def schedule_term(
        self,
        *,
        term_number: int,
        starts_at: datetime,
        ends_at: datetime,
        points: Decimal,
        sessions: int,
        at: datetime,
    ) -> bool:
        """Note a term and what it grants when it begins; False if already noted as such.

        A term noted again before it began (its tier changed) replaces the earlier note.
        """
        start, end = instant(starts_at, "starts_at"), instant(ends_at, "ends_at")
        if not check_schedule(
            self.terms.get(term_number), term_number=term_number, starts_at=start, ends_at=end,
            points=points, sessions=sessions, at=instant(at),
        ):  # fmt: skip
            return False
        when = self._check(instant(at), "schedule a term")
        self.trigger_event(
            self.TermScheduled,
            term_number=term_number,
            starts_at=start,
            ends_at=end,
            points=points,
            sessions=sessions,
            scheduled_at=when,
        )
        return True

    def grant_due(self, *, at: datetime) -> list[int]:
        """Grant every scheduled term that has begun by `at`; returns their numbers."""
        when = instant(at)
        granted: list[int] = []
        for term in sorted(self.terms.values(), key=lambda t: t.number):
            if term.granted or term.starts_at > when:
                continue
            if self.ended_at is not None and term.starts_at >= self.ended_at:
                continue
            self._grant(term, when)
            granted.append(term.number)
        return granted

    def grant_term(self, *, term_number: int, at: datetime) -> bool:
        """Grant one scheduled term now (signing grants before the term begins); False if done."""
        term = self.terms.get(term_number)
        if term is None:
            raise InvalidInputError(f"term {term_number} is not scheduled on this account")
        if term.granted:
            return False
        self._grant(term, self._check(instant(at), "grant a term"))
        return True

    def _grant(self, term: ScheduledTerm, when: datetime) -> None:
        number = term.number
        common = {
            "term_number": number,
            "reason": "term",
            "available_from": term.starts_at,
            "expires_at": term.ends_at,
            "granted_at": when,
        }
        self.trigger_event(
            self.PointsGranted, lot_id=f"term-{number}-points", points=term.points, **common
        )
        if term.sessions > 0:
            self.trigger_event(
                self.SessionsGranted,
                lot_id=f"term-{number}-sessions",
                sessions=term.sessions,
                **common,
            )

    def end_agreement(self, *, reason: str, at: datetime) -> None:
        """The agreement was terminated: nothing is used from `at` on."""
        if self.ended_at is not None:
            return
        when = self._check(instant(at), "end the agreement")
        self.trigger_event(self.AgreementEnded, reason=reason, ended_at=when)

    def grant_upgrade(
        self,
        *,
        term_number: int,
        points: Decimal,
        sessions: int,
        expires_at: datetime,
        at: datetime,
    ) -> None:
        """Grant the pro-rata difference of an upgrade for the running term."""
        when = self._check(instant(at), "grant an upgrade")
        number = self.upgrade_count + 1
        common = {
            "term_number": term_number,
            "reason": "upgrade",
            "available_from": when,
            "expires_at": expires_at,
            "granted_at": when,
        }
        if points > 0:
            self.trigger_event(
                self.PointsGranted, lot_id=f"upgrade-{number}-points", points=points, **common
            )
        if sessions > 0:
            self.trigger_event(
                self.SessionsGranted,
                lot_id=f"upgrade-{number}-sessions",
                sessions=sessions,
                **common,
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
        key = idempotency_key(key)
        amount = positive_points(points)
        cost = non_negative_money(price, "price")
        expiry = instant(expires_at, "expires") if expires_at is not None else None
        existing = self.purchases.get(key)
        if existing is not None and same_purchase(
            key, existing.used_up(), amount=amount, cost=cost, currency=currency, expiry=expiry
        ):
            return existing.lot_id, False
        when = self._check(instant(at), "purchase")
        self._require_valid(when, "purchase points")
        if expiry is not None and expiry <= when:
            raise InvalidInputError(f"expires: {expiry.isoformat()} is not after the purchase")
        self.grant_due(at=when)
        lot_id = f"purchase-{self.purchase_count + 1}"
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
    ) -> list[dict[str, Any]]:
        """Use points for an activity; returns the draws (lot and amount).

        Idempotency by key is the consumption aggregate's job (see `CreditConsumption`).
        """
        key = idempotency_key(key)
        amount = positive_points(points)
        what = activity_text(activity)
        when = self._check(instant(at), "consume")
        self._require_valid(when, "consume points")
        draws = self._draw(POINTS, amount, when)  # begun terms count before their grant
        if draws is None:
            available = self.available(POINTS, when)
            raise InsufficientCreditsError(
                f"cannot consume {show(amount)} points: {show(available)} available",
                available=show(available),
                requested=show(amount),
            )
        self.grant_due(at=when)
        self.trigger_event(
            self.PointsConsumed, key=key, points=amount, activity=what, ticket_id=ticket_id,
            draws=draws, consumed_at=when,
        )  # fmt: skip
        return draws

    def record_reversal(
        self, *, key: str, points: Decimal, reason: str, returns: list[dict[str, Any]], at: datetime
    ) -> None:
        """Return the points of a consumption's reversal to their lots."""
        when = self._check(instant(at), "reverse")
        for back in returns:
            if self.find_lot(back["lot_id"]) is None and not (
                back["expired"] and self._had(back["lot_id"])
            ):
                raise InvalidInputError(f"no lot {back['lot_id']!r} in this account")
        self.trigger_event(
            self.ConsumptionReversed, key=key, points=points, reason=reason, returns=returns,
            reversed_at=when,
        )  # fmt: skip

    def lot_ends_at(self, lot: Lot) -> datetime | None:
        """When a lot expires: its expiry, or the termination of the agreement if earlier."""
        return lot.ends_at(self.ended_at)

    def find_lot(self, lot_id: str) -> Lot | None:
        """A lot the account holds (a package used up too); None once its expiry is recorded."""
        return holdings.find_lot(self.lots, self.purchases, lot_id)

    def held_lots(self) -> list[tuple[str, Lot]]:
        """Every lot the account holds, with its id: the live ones, then packages used up."""
        return list(holdings.held(self.lots, self.purchases))

    def lot_expired(self, lot_id: str, at: datetime) -> bool:
        """Whether a lot has expired by `at` (recorded, and so gone, or by time)."""
        lot = self.find_lot(lot_id)
        if lot is None:
            return True
        ends = lot.ends_at(self.ended_at)
        return bool(lot.expired or (ends is not None and ends <= at))

    def expire_lot(self, *, lot_id: str, at: datetime, late: bool = False) -> bool:
        """Record a lot's expiry once; False when it was recorded already."""
        lot = self.find_lot(lot_id)
        if lot is None and self._had(lot_id):
            return False  # its expiry was recorded: it left the state
        if lot is None:
            raise InvalidInputError(f"no lot {lot_id!r} in this account")
        if lot.expired:
            return False
        when = instant(at)
        ends = lot.ends_at(self.ended_at)
        if ends is None or when < ends:
            raise InvalidInputError(f"lot {lot_id} does not expire by {when.isoformat()}")
        self.trigger_event(
            self.LotExpired, lot_id=lot_id, unit=lot.unit, amount=lot.remaining, expires_at=ends,
            recorded_at=max(when, self.last_at), late=bool(late),
        )  # fmt: skip
        return True

    def hold_training(
        self, *, key: str, topic: str, minutes: int, at: datetime
    ) -> tuple[Training, bool]:
        """Hold one online training session. Returns (the session, whether recorded now)."""
        key = idempotency_key(key)
        subject = clean_text(topic, "topic") or "training"
        existing = self.trainings.get(key)
        if existing is not None:
            if (existing.topic, existing.minutes) == (subject, minutes):
                return existing, False
            raise IdempotencyConflictError(
                f"key {key!r} was used for a training on {existing.topic!r}"
            )
        when = self._check(instant(at), "hold a training session")
        self._require_valid(when, "hold a training session")
        draws = self._draw(SESSIONS, Decimal(1), when)
        if draws is None:
            left = show(self.available(SESSIONS, when))
            raise InsufficientTrainingError(
                f"no training sessions left: {left} available", available=left
            )
        self.grant_due(at=when)
        self.trigger_event(
            self.TrainingSessionHeld, key=key, minutes=minutes, topic=subject, draws=draws,
            held_at=when,
        )  # fmt: skip
        return self.trainings[key], True

    # -- questions -----------------------------------------------------------------------------

    def valid_at(self, at: datetime) -> bool:
        """Whether a term of the agreement covers `at` (and it was not terminated by then)."""
        if self.ended_at is not None and at >= self.ended_at:
            return False
        return any(t.starts_at <= at < t.ends_at for t in self.terms.values())

    def validity_problem(self, at: datetime) -> str:
        """Why the agreement is not valid at `at`, in words."""
        return validity_problem(self.terms.values(), self.ended_at, at)

    def usable_lots(self, unit: str, at: datetime) -> list[tuple[str, Lot]]:
        """Lots of `unit` usable at `at`, with their ids, in the order they are drawn.

        A term that has begun but whose grant is not recorded yet counts as its lot.
        """
        return drawing_order(usable_lots(self.lots, self.terms.values(), self.ended_at, unit, at))

    def available(self, unit: str, at: datetime) -> Decimal:
        """Points (or sessions) usable at `at`."""
        usable = usable_lots(self.lots, self.terms.values(), self.ended_at, unit, at)
        return sum((lot.remaining for _, lot in usable), Decimal(0))

    def due_expiries(self, at: datetime) -> Iterable[tuple[str, datetime]]:
        """Lots whose expiry has come by `at` and is not recorded yet."""
        for lot_id, lot in self.held_lots():
            ends = lot.ends_at(self.ended_at)
            if not lot.expired and ends is not None and ends <= at:
                yield lot_id, ends

    # -- helpers -------------------------------------------------------------------------------

    def _check(self, when: datetime, what: str) -> datetime:
        not_before(when, self.last_at, f"cannot {what} at that time")
        return when

    def _had(self, lot_id: str) -> bool:
        return holdings.had_lot(lot_id, self.terms, self.purchase_count, self.upgrade_count)

    def _require_valid(self, when: datetime, what: str) -> None:
        if not self.valid_at(when):
            raise AgreementNotValidError(f"cannot {what}: {self.validity_problem(when)}")

    def _draw(self, unit: str, amount: Decimal, at: datetime) -> list[dict[str, Any]] | None:
        return draw_from(
            usable_lots(self.lots, self.terms.values(), self.ended_at, unit, at), amount
        )


class CreditConsumption(LedgerAggregate):
    """One consumption of points: its idempotency key, the lots it drew from, its reversals."""

    class_version = 2  # the state in value objects; version 1 kept dicts (see upcast_v1_v2)
    Snapshot = PlainSnapshot

    @staticmethod
    def create_id(account_id: UUID, key: str) -> UUID:
        """Identified by account and idempotency key, so a repeated key finds the first one."""
        return deterministic_id("credit-consumption", f"{account_id}:{key}")

    class Recorded(Aggregate.Created):
        """Points were consumed (the account recorded the same draw as PointsConsumed)."""

        account_id: UUID
        contract_id: UUID
        key: str
        points: Decimal
        activity: str
        ticket_id: UUID | None
        draws: list[dict[str, Any]]
        consumed_at: datetime

        def apply(self, aggregate: CreditConsumption) -> None:
            c = aggregate
            c.account_id = self.account_id
            c.contract_id = self.contract_id
            c.key = self.key
            c.points = self.points
            c.activity = self.activity
            c.ticket_id = self.ticket_id
            c.draws = [Drawn(d["lot_id"], d["amount"], Decimal(0)) for d in self.draws]
            c.consumed_at = self.consumed_at
            c.reversed = Decimal(0)
            c.reversals = []

    class Reversed(Aggregate.Event):
        """Points of the consumption were returned (the account recorded ConsumptionReversed)."""

        points: Decimal
        reason: str
        returns: list[dict[str, Any]]
        reversed_at: datetime

        def apply(self, aggregate: CreditConsumption) -> None:
            aggregate.reversed += self.points
            returns = tuple(Returned.from_dict(back) for back in self.returns)
            reversal = Reversal(self.points, self.reason, returns, self.reversed_at)
            aggregate.reversals.append(reversal)
            returned_to(aggregate.draws, self.returns)

    if TYPE_CHECKING:  # declared for readers and mypy; eventsourcing would make annotations fields
        account_id: UUID
        contract_id: UUID
        key: str
        points: Decimal
        activity: str
        ticket_id: UUID | None
        draws: list[Drawn]
        consumed_at: datetime
        reversed: Decimal
        reversals: list[Reversal]

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """A state of dicts (version 1, a snapshot's plain form) in value objects."""
        state["draws"] = [Drawn.from_dict(d) for d in state["draws"]]
        state["reversals"] = [Reversal.from_dict(r) for r in state["reversals"]]

    @classmethod
    def record(
        cls,
        *,
        account_id: UUID,
        contract_id: UUID,
        key: str,
        points: Decimal,
        activity: str,
        ticket_id: UUID | None,
        draws: list[dict[str, Any]],
        at: datetime,
    ) -> CreditConsumption:
        """The record of a consumption the account has just drawn."""
        key = idempotency_key(key)
        return cls._create(
            cls.Recorded,
            id=cls.create_id(account_id, key),
            account_id=account_id,
            contract_id=contract_id,
            key=key,
            points=positive_points(points),
            activity=activity_text(activity),
            ticket_id=ticket_id,
            draws=draws,
            consumed_at=instant(at),
        )

    def check_repeat(self, *, points: Decimal, activity: str, ticket_id: UUID | None) -> None:
        """Accept a repeated request under this key if it is the same; refuse a different one."""
        if (self.points, self.activity, self.ticket_id) != (
            positive_points(points),
            activity_text(activity),
            ticket_id,
        ):
            raise IdempotencyConflictError(
                f"key {self.key!r} was used to consume {show(self.points)} points for "
                f"{self.activity!r}; use a new key for a different consumption"
            )

    @property
    def left(self) -> Decimal:
        """Points of the consumption not reversed yet."""
        return self.points - self.reversed

    def reverse(
        self,
        *,
        points: Decimal | None,
        reason: str,
        at: datetime,
        lot_expired: Callable[[str, datetime], bool],
    ) -> tuple[Reversal, bool]:
        """Return points (all that is left by default) to the lots drawn, the last drawn first.

        A repeated reversal with the same points and reason returns the first and records
        nothing. Returns (the reversal with its returns, whether it was recorded now).
        """
        why = clean_text(reason, "reason")
        if not why:
            raise InvalidInputError("reason: say why the consumption is reversed")
        amount = self.left if points is None else positive_points(points)
        same = [r for r in self.reversals if r.reason == why]
        if points is None and self.left <= 0 and same:
            return same[-1], False
        for earlier in same:
            if points is not None and earlier.points == amount:
                return earlier, False
        if self.left <= 0:
            raise AlreadyReversedError(f"the consumption {self.key!r} was already reversed in full")
        if amount > self.left:
            raise InvalidAmountError(
                f"cannot reverse {show(amount)} points: "
                f"{show(self.left)} of the {show(self.points)} consumed are left"
            )
        when = instant(at)
        if when < self.consumed_at:
            raise InvalidInputError("a consumption cannot be reversed before it happened")
        returns = returns_for(self.draws, amount, lambda lot_id: lot_expired(lot_id, when))
        self.trigger_event(
            self.Reversed, points=amount, reason=why, returns=returns, reversed_at=when
        )
        return self.reversals[-1], True
