"""What the scheduler records when an instant comes: warnings, breaches, lapses, grants."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ledger.application.credits import account_command, watched
from ledger.application.queries import typed
from ledger.application.tickets import ticket_command
from ledger.domain.base import instant
from ledger.domain.contract import Contract
from ledger.domain.contract_watch import ContractWatch
from ledger.domain.credit_account import POINTS, CreditAccount
from ledger.domain.errors import InvalidInputError, LedgerError, UnknownAggregateError
from ledger.domain.ticket import Ticket

if TYPE_CHECKING:
    from collections.abc import Sequence
    from uuid import UUID

    from ledger.application.uow import UnitOfWork, UnitsOfWork

# A late scheduler fact is one recorded more than this after it fell due.
LATE_AFTER_SECONDS = 60
# The first instant after a deadline, from which its breach can be recorded.
FIRST_AFTER = timedelta(microseconds=1)
# Facts whose aggregates the read-ahead reads in one go.
READ_AHEAD_BATCH = 100
# Why a fact was not recorded when its instant has not come yet (a breach at its deadline).
NOT_DUE_YET = "not_due_yet"


@dataclass(frozen=True)
class DueFact:
    """A fact the scheduler records when its instant comes (see ledger.projections.deadlines)."""

    kind: str  # warning | breach | lapse | term_grant | lot_expiry | lots_expiring | term_ending
    aggregate_id: UUID
    detail: str
    contract_id: UUID
    due_at: datetime


@dataclass(frozen=True)
class FactOutcome:
    """What became of a due fact: recorded now, or why not (already recorded, moved, ...)."""

    fact: DueFact
    recorded: bool
    late: bool
    reason: str | None = None


def is_late(due: datetime, at: datetime) -> bool:
    """Whether a fact due at `due` and recorded at `at` is recorded late."""
    return (at - due).total_seconds() > LATE_AFTER_SECONDS


def fact_aggregate(fact: DueFact) -> UUID:
    """The aggregate a due fact is recorded on."""
    return fact.contract_id if fact.kind == "lapse" else fact.aggregate_id


def fact_aggregates(fact: DueFact) -> tuple[UUID, ...]:
    """Every aggregate recording a due fact may load: its own, and the contract's balance
    watch, account or contract that the fact's command consults or tells."""
    contract = fact.contract_id
    if fact.kind in ("lot_expiry", "term_grant"):
        return (fact.aggregate_id, ContractWatch.create_id(contract))
    if fact.kind == "lots_expiring":
        return (fact.aggregate_id, CreditAccount.create_id(contract))
    if fact.kind == "term_ending":
        return (fact.aggregate_id, contract)
    return (fact_aggregate(fact),)


def record_due(work: UnitsOfWork, facts: Sequence[DueFact], *, at: datetime) -> list[FactOutcome]:
    """Record facts whose instants have come, in one save (the scheduler's use case).

    Each fact goes through its aggregate's own command, which records it once: a warning
    or breach already recorded, a clock stopped meanwhile, a renewed term or an expired
    lot make it a no-op with its reason. A fact is late when recorded more than a minute
    after its instant. No fact is dated after `at`: a breach is recorded by the first tick
    after its deadline (at that tick's instant), never by a tick at the deadline itself.
    """
    when = instant(at)
    # The aggregates not in this process's copies, read in one go rather than one by one.
    work.read_ahead(i for f in facts for i in fact_aggregates(f))

    def attempt(uow: UnitOfWork) -> list[FactOutcome]:
        loaded: dict[UUID, Any] = {}
        touched: dict[UUID, Any] = {}
        outcomes = []
        for fact in facts:
            late = is_late(fact.due_at, when)
            if fact.kind == "breach" and when <= fact.due_at:
                outcomes.append(FactOutcome(fact, recorded=False, late=False, reason=NOT_DUE_YET))
                continue
            try:
                recorded = _record_fact(uow, fact, when, late, loaded)
            except LedgerError as exc:
                outcomes.append(FactOutcome(fact, recorded=False, late=late, reason=exc.code))
                continue
            if recorded:
                aggregate = loaded[fact_aggregate(fact)]
                touched[aggregate.id] = aggregate
                for told in _watch_after(uow, fact, aggregate, when, loaded):
                    touched[told.id] = told
            outcomes.append(
                FactOutcome(
                    fact, recorded=recorded, late=late, reason=None if recorded else "no_longer_due"
                )
            )
        if touched:
            uow.commit(*touched.values())
        return outcomes

    return work.run("record_due", attempt)


def read_ahead(work: UnitsOfWork, facts: Sequence[DueFact], *, budget: float = 0.05) -> int:
    """Read the aggregates `facts` will be recorded on before they fall due (the scheduler's).

    They are kept as this process's copies, so that recording the facts reads nothing from
    the store; a copy that another process outdates meanwhile costs a retry, never a wrong
    fact (the save checks its version). Reads READ_AHEAD_BATCH facts' aggregates at a time
    in one read each, while less than `budget` seconds have passed; returns how many of
    `facts`, from the first, were dealt with (the caller passes the rest later).
    """
    started = time.perf_counter()
    for first in range(0, len(facts), READ_AHEAD_BATCH):
        if time.perf_counter() - started > budget:
            return first
        chunk = facts[first : first + READ_AHEAD_BATCH]
        work.read_ahead(i for f in chunk for i in fact_aggregates(f))
    return len(facts)


def record_warning(
    work: UnitsOfWork, reference: str | UUID, *, share: Decimal, at: datetime, late: bool
) -> bool:
    """Record a reached warning (the scheduler's); False when it no longer applies."""
    return ticket_command(
        work,
        "warning_reached",
        reference,
        lambda _u, t, _c: t.record_warning(share=share, at=at, late=late),
    )


def record_breach(work: UnitsOfWork, reference: str | UUID, *, at: datetime, late: bool) -> bool:
    """Record a breached deadline (the scheduler's); False when it no longer applies."""
    return ticket_command(
        work,
        "response_deadline_breached",
        reference,
        lambda _u, t, _c: t.record_breach(at=at, late=late),
    )


def grant_due_terms(work: UnitsOfWork, contract_id: UUID, *, at: datetime) -> list[int]:
    """Grant the terms that have begun and were not granted yet (the scheduler's)."""
    return account_command(
        work, "term_granted", contract_id, lambda _u, a: a.grant_due(at=at), watch=("grant", at)
    )


def expire_lot(
    work: UnitsOfWork, contract_id: UUID, *, lot_id: str, at: datetime, late: bool
) -> bool:
    """Record a lot's expiry (the scheduler's); False when already recorded."""
    return account_command(
        work,
        "lot_expired",
        contract_id,
        lambda _u, a: a.expire_lot(lot_id=lot_id, at=at, late=late),
        watch=("expiry", at),
    )


def _watch_after(
    uow: UnitOfWork, fact: DueFact, account: Any, when: datetime, loaded: dict[UUID, Any]
) -> list[Any]:
    """The balance watch of an account whose points a recorded expiry or grant changed."""
    cause = {"lot_expiry": "expiry", "term_grant": "grant"}.get(fact.kind)
    if cause is None:
        return []
    watch_id = ContractWatch.create_id(account.contract_id)
    if watch_id in loaded:  # a second fact of the same account in this save
        watch = loaded[watch_id]
        watch.watch(available=account.available(POINTS, when), at=when, cause=cause)
        return [watch] if watch.pending_events else []
    told = watched(uow, account, at=when, cause=cause)
    for watch in told:
        loaded[watch.id] = watch
    return told


def _record_notice(
    uow: UnitOfWork, fact: DueFact, when: datetime, late: bool, loaded: dict[UUID, Any]
) -> bool:
    """`lots_expiring` (detail: the lot) or `term_ending` (detail: the term's end), recorded on
    the contract's watch (started now if it has none) while the lot or term still applies."""
    if fact.aggregate_id not in loaded:
        found = uow.load_for_write(fact.aggregate_id)
        loaded[fact.aggregate_id] = (
            found
            if isinstance(found, ContractWatch)
            else ContractWatch.start(contract_id=fact.contract_id, at=when)
        )
    watch = loaded[fact.aggregate_id]
    if fact.kind == "lots_expiring":
        account = _loaded(uow, CreditAccount.create_id(fact.contract_id), CreditAccount, loaded)
        lot = account.find_lot(fact.detail)
        ends = None if lot is None else account.lot_ends_at(lot)
        if lot is None or lot.unit != POINTS or lot.expired or lot.remaining <= 0:
            return False
        if ends is None or ends <= when:
            return False
        return bool(
            watch.tell_lot_expiring(
                lot_id=fact.detail,
                points=lot.remaining,
                expires_at=ends,
                due_at=fact.due_at,
                at=when,
                late=late,
            )
        )
    contract = _loaded(uow, fact.contract_id, Contract, loaded)
    latest = contract.latest_term
    if contract.terminated_at is not None or contract.ended_without_renewal(when):
        return False
    if latest.ends_at.isoformat() != fact.detail or latest.ends_at <= when:
        return False  # renewed (or reinstated) meanwhile: the new term's notice is its own
    return bool(
        watch.tell_term_ending(
            term_number=latest.number,
            ends_at=latest.ends_at,
            due_at=fact.due_at,
            at=when,
            late=late,
        )
    )


def _loaded(uow: UnitOfWork, aggregate_id: UUID, kind: type, loaded: dict[UUID, Any]) -> Any:
    if aggregate_id not in loaded:
        loaded[aggregate_id] = typed(
            uow.load_for_write(aggregate_id), aggregate_id, kind, UnknownAggregateError,
            kind.__name__,
        )  # fmt: skip
    return loaded[aggregate_id]


def _record_fact(
    uow: UnitOfWork, fact: DueFact, when: datetime, late: bool, loaded: dict[UUID, Any]
) -> bool:
    if fact.kind in ("lots_expiring", "term_ending"):
        return _record_notice(uow, fact, when, late, loaded)
    aggregate_id = fact_aggregate(fact)
    if aggregate_id not in loaded:
        kind = {"warning": Ticket, "breach": Ticket, "lapse": Contract}.get(
            fact.kind, CreditAccount
        )
        loaded[aggregate_id] = typed(
            uow.load_for_write(aggregate_id),
            aggregate_id,
            kind,
            UnknownAggregateError,
            kind.__name__,
        )
    aggregate = loaded[aggregate_id]
    if fact.kind == "warning":
        return bool(aggregate.record_warning(share=Decimal(fact.detail), at=when, late=late))
    if fact.kind == "breach":
        return bool(aggregate.record_breach(at=when, late=late))
    if fact.kind == "lapse":
        if not aggregate.ended_without_renewal(when):
            return False
        aggregate.lapse(at=when, late=late)
        return True
    if fact.kind == "term_grant":
        return bool(aggregate.grant_due(at=when))
    if fact.kind == "lot_expiry":
        lot = aggregate.find_lot(fact.detail)
        ends = None if lot is None else aggregate.lot_ends_at(lot)
        if lot is None or lot.expired or ends is None or ends > when:
            return False
        return bool(aggregate.expire_lot(lot_id=fact.detail, at=when, late=late))
    raise InvalidInputError(f"unknown kind of due fact: {fact.kind!r}")
