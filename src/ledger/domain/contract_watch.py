"""What one contract's people are to be told of its points and term, recorded as facts.

`lots_expiring` and `term_ending` are facts of time the scheduler records on the watch (created
then if the contract has none yet), once per lot and once per term, when the instant `notice`
days before the expiry or the end comes (see `ledger.settings.alert_notice_days`).

The low-balance watch: a threshold, and each crossing below it.

A contract's finance team sets a threshold of points (`ledger credits alert-threshold`). The
use case that makes the points available fall below it (a consumption, an expiry recorded by
the scheduler, the threshold itself set above the balance) records `BalanceFellLow` in the same
save, once per crossing: a new crossing is recorded only after the balance rose to the
threshold or above again (`BalanceRecovered`, recorded by the purchase, grant or reversal that
raised it). The watch is an aggregate of its own, so the credit account stays as it was; it
exists only for contracts that set a threshold.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eventsourcing.domain import Aggregate

from ledger.domain.base import (
    LedgerAggregate,
    clean_text,
    deterministic_id,
    instant,
    later,
    positive_points,
)

if TYPE_CHECKING:
    from datetime import datetime
    from decimal import Decimal
    from uuid import UUID

# What made the balance cross: the use case that recorded the crossing.
CAUSES = ("consumption", "expiry", "threshold", "purchase", "grant", "reversal")


class ContractWatch(LedgerAggregate):
    """The points threshold of one contract and whether its balance is below it now."""

    @staticmethod
    def create_id(contract_id: UUID) -> UUID:
        """One watch per contract."""
        return deterministic_id("contract-watch", str(contract_id))

    class Started(Aggregate.Created):
        """The contract's balance began to be watched (when its first threshold was set)."""

        contract_id: UUID
        started_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.contract_id = self.contract_id
            aggregate.threshold = None
            aggregate.low = False
            aggregate.told = {}
            aggregate.last_at = self.started_at

    class ThresholdSet(Aggregate.Event):
        """Someone set the points below which the contract's people are told (`balance_low`)."""

        points: Decimal
        actor: str
        set_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.threshold = self.points
            aggregate.last_at = later(aggregate.last_at, self.set_at)

    class BalanceFellLow(Aggregate.Event):
        """The points available fell below the threshold (`available` < `threshold`)."""

        contract_id: UUID
        threshold: Decimal
        available: Decimal
        cause: str
        recorded_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.low = True
            aggregate.last_at = later(aggregate.last_at, self.recorded_at)

    class BalanceRecovered(Aggregate.Event):
        """The points available rose to the threshold or above again; the next fall is a new
        crossing."""

        threshold: Decimal
        available: Decimal
        cause: str
        recorded_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.low = False
            aggregate.last_at = later(aggregate.last_at, self.recorded_at)

    class LotsExpiring(Aggregate.Event):
        """Points of a lot will expire at `expires_at`, within the notice (alert
        `lots_expiring`); recorded once per lot, at `due_at` (expiry less the notice)."""

        contract_id: UUID
        lot_id: str
        points: Decimal
        expires_at: datetime
        due_at: datetime
        recorded_at: datetime
        late: bool

        def apply(self, aggregate: Any) -> None:
            _told(aggregate, f"lot:{self.lot_id}", self.expires_at, self.recorded_at)
            aggregate.last_at = later(aggregate.last_at, self.recorded_at)

    class TermEnding(Aggregate.Event):
        """The contract's latest term ends at `ends_at`, within the notice, and no renewal is
        ordered (alert `term_ending`); recorded once per term, at `due_at`."""

        contract_id: UUID
        term_number: int
        ends_at: datetime
        due_at: datetime
        recorded_at: datetime
        late: bool

        def apply(self, aggregate: Any) -> None:
            _told(aggregate, f"term:{self.term_number}", self.ends_at, self.recorded_at)
            aggregate.last_at = later(aggregate.last_at, self.recorded_at)

    if TYPE_CHECKING:  # declared for mypy; eventsourcing would make annotations fields
        contract_id: UUID
        threshold: Decimal | None
        low: bool
        told: dict[str, datetime | bool]  # the lots and terms told of, until they end
        last_at: datetime

    def tell_lot_expiring(
        self,
        *,
        lot_id: str,
        points: Decimal,
        expires_at: datetime,
        due_at: datetime,
        at: datetime,
        late: bool,
    ) -> bool:
        """Record that a lot's points expire soon; False when told already."""
        if f"lot:{lot_id}" in self.told:
            return False
        self.trigger_event(
            self.LotsExpiring, contract_id=self.contract_id, lot_id=lot_id, points=points,
            expires_at=expires_at, due_at=due_at, recorded_at=max(instant(at), self.last_at),
            late=bool(late),
        )  # fmt: skip
        return True

    def tell_term_ending(
        self, *, term_number: int, ends_at: datetime, due_at: datetime, at: datetime, late: bool
    ) -> bool:
        """Record that the latest term ends soon with no renewal; False when told already."""
        if f"term:{term_number}" in self.told:
            return False
        self.trigger_event(
            self.TermEnding, contract_id=self.contract_id, term_number=term_number,
            ends_at=ends_at, due_at=due_at, recorded_at=max(instant(at), self.last_at),
            late=bool(late),
        )  # fmt: skip
        return True

    @classmethod
    def start(cls, *, contract_id: UUID, at: datetime) -> ContractWatch:
        """The watch of a contract that sets its first threshold."""
        return cls._create(
            cls.Started,
            id=cls.create_id(contract_id),
            contract_id=contract_id,
            started_at=instant(at),
        )

    def set_threshold(
        self, *, points: Decimal, available: Decimal, actor: str, at: datetime
    ) -> str | None:
        """Set the threshold (points > 0); a balance already below it is a crossing now.
        Returns what `watch` returns. Setting the same threshold again records nothing."""
        amount = positive_points(points, "--points")
        when = max(instant(at), self.last_at)
        if amount != self.threshold:
            self.trigger_event(
                self.ThresholdSet,
                points=amount,
                actor=clean_text(actor, "actor", limit=200) or "unknown",
                set_at=when,
            )
        return self.watch(available=available, at=when, cause="threshold")

    def watch(self, *, available: Decimal, at: datetime, cause: str) -> str | None:
        """Note the balance after a change: 'low' when it has just fallen below the threshold,
        'recovered' when it has just risen to it again, None when nothing crossed."""
        if self.threshold is None:
            return None
        when = max(instant(at), self.last_at)
        if available < self.threshold and not self.low:
            self.trigger_event(
                self.BalanceFellLow,
                contract_id=self.contract_id,
                threshold=self.threshold,
                available=available,
                cause=cause,
                recorded_at=when,
            )
            return "low"
        if available >= self.threshold and self.low:
            self.trigger_event(
                self.BalanceRecovered,
                threshold=self.threshold,
                available=available,
                cause=cause,
                recorded_at=when,
            )
            return "recovered"
        return None


def _told(aggregate: Any, key: str, ends_at: datetime, at: datetime) -> None:
    """Note a lot or term told of until it ends, and forget those that ended by `at`: once a
    lot or term has ended no notice of it is recorded (`application.facts`), so the watch
    keeps only what may still be told, not one entry per lot ever held. Entries of a
    snapshot taken before they kept their end (True) stay."""
    told = {k: v for k, v in aggregate.told.items() if v is True or v > at}
    told[key] = ends_at
    aggregate.told = told
