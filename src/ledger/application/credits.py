"""Use cases of credit accounts: purchase, consume and reverse points, hold training sessions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar
from uuid import uuid4

from ledger.application.loads import account_to_write, contract_to_decide_on, ticket_to_decide_on
from ledger.application.queries import find, terms_of, ticket_id, typed
from ledger.domain.base import instant
from ledger.domain.contract import Contract
from ledger.domain.contract_watch import ContractWatch
from ledger.domain.credit_account import (
    POINTS,
    SESSIONS,
    CreditAccount,
    CreditConsumption,
    idempotency_key,
)
from ledger.domain.errors import (
    LedgerError,
    UnknownConsumptionError,
    UnknownContractError,
    UnknownTicketError,
)
from ledger.logs import get_logger

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime
    from decimal import Decimal
    from uuid import UUID

    from ledger.application.uow import UnitOfWork, UnitsOfWork

T = TypeVar("T")
log = get_logger("ledger.application")


def account_command(
    work: UnitsOfWork,
    use_case: str,
    contract_id: UUID,
    command: Callable[[UnitOfWork, CreditAccount], T],
    *,
    watch: tuple[str, datetime] | None = None,
) -> T:
    """Run a command on a contract's account alone (it knows its agreement's terms); with
    `watch` (cause, instant), the contract's balance watch is told of the balance after it."""

    def attempt(uow: UnitOfWork) -> T:
        account = account_to_write(uow, contract_id)
        result = command(uow, account)
        told = [] if watch is None else watched(uow, account, at=watch[1], cause=watch[0])
        uow.commit(account, *told)
        return result

    return work.run(use_case, attempt)


def watched(uow: UnitOfWork, account: CreditAccount, *, at: datetime, cause: str) -> list[Any]:
    """The contract's balance watch, told of the points available after a change, when that
    crossed its threshold (to be saved with the change); [] when nothing crossed or no watch."""
    found = uow.load_for_write(ContractWatch.create_id(account.contract_id))
    if not isinstance(found, ContractWatch):
        return []
    when = instant(at)
    found.watch(available=account.available(POINTS, when), at=when, cause=cause)
    return [found] if found.pending_events else []


def set_alert_threshold(
    work: UnitsOfWork, contract_id: UUID, *, points: Decimal, actor: str, at: datetime
) -> dict[str, Any]:
    """Set the points below which `balance_low` is recorded (once per crossing); a balance
    already below the new threshold is a crossing at once, in the same save."""
    when = instant(at)
    account_id = CreditAccount.create_id(contract_id)

    def attempt(uow: UnitOfWork) -> dict[str, Any]:
        account = typed(
            uow.decide_on(account_id), account_id, CreditAccount, UnknownContractError,
            "credit account of contract",
        )  # fmt: skip
        available = account.available(POINTS, when)
        found = uow.load_for_write(ContractWatch.create_id(contract_id))
        watch = (
            found
            if isinstance(found, ContractWatch)
            else ContractWatch.start(contract_id=contract_id, at=when)
        )
        crossed = watch.set_threshold(points=points, available=available, actor=actor, at=when)
        recorded = bool(watch.pending_events)
        if recorded:
            uow.commit(watch)
        return {
            "contract_id": contract_id,
            "threshold": watch.threshold,
            "available": available,
            "low": watch.low,
            "crossed": crossed,
            "recorded": recorded,
        }

    result = work.run("set_alert_threshold", attempt)
    if result["recorded"]:
        log.info("alert_threshold_set", contract_id=str(contract_id), points=str(points))
    return result


def purchase_credits(
    work: UnitsOfWork,
    contract_id: UUID,
    *,
    points: Decimal,
    price: Decimal,
    key: str,
    at: datetime,
    expires_at: datetime | None = None,
) -> dict[str, Any]:
    """Buy a package of points; idempotent by key."""

    def command(uow: UnitOfWork, account: CreditAccount) -> dict[str, Any]:
        currency = contract_to_decide_on(uow, contract_id).currency
        lot_id, recorded = account.purchase(
            points=points, price=price, currency=currency, key=key, expires_at=expires_at, at=at
        )
        lot = account.find_lot(lot_id)  # a package bought under the key is held until it expires
        return {"lot_id": lot_id, "recorded": recorded, **(lot.as_dict() if lot else {})}

    result = account_command(
        work, "purchase_credits", contract_id, command, watch=("purchase", instant(at))
    )
    if result["recorded"]:
        log.info("credits_purchased", contract_id=str(contract_id), points=str(result["amount"]))
    return result


def consume_credits(
    work: UnitsOfWork,
    contract_id: UUID,
    *,
    points: Decimal,
    activity: str,
    key: str,
    at: datetime,
    ticket: str | UUID | None = None,
) -> dict[str, Any]:
    """Use points for a support activity; idempotent by key, never below zero.

    The account draws the points and a CreditConsumption keyed by the idempotency key records
    them, in one save. A repeated key is found by that record: on a write conflict, or when
    the account refuses (the first request may have used the points it now lacks).
    """
    when = instant(at)
    for_ticket = ticket_id(ticket) if ticket is not None else None
    account_id = CreditAccount.create_id(contract_id)
    consumption_id = CreditConsumption.create_id(account_id, idempotency_key(key))

    def repeat_of(uow: UnitOfWork) -> dict[str, Any] | None:
        existing = uow.read(consumption_id)
        if not isinstance(existing, CreditConsumption):
            return None
        existing.check_repeat(points=points, activity=activity, ticket_id=for_ticket)
        account = typed(
            uow.read(account_id), account_id, CreditAccount, UnknownContractError,
            "credit account of contract",
        )  # fmt: skip
        return _consumption_data(existing, account, when, recorded=False)

    def attempt(uow: UnitOfWork) -> dict[str, Any]:
        if uow.attempt > 1 and (repeated := repeat_of(uow)) is not None:
            return repeated
        account = account_to_write(uow, contract_id)
        if for_ticket is not None:
            found = ticket_to_decide_on(uow, for_ticket)
            if found.contract_id != account.contract_id:
                raise UnknownTicketError(f"ticket {for_ticket} belongs to another contract")
        try:
            draws = account.consume(
                points=points, activity=activity, key=key, ticket_id=for_ticket, at=when
            )
        except LedgerError:
            if (repeated := repeat_of(uow)) is not None:
                return repeated
            raise
        consumption = CreditConsumption.record(
            account_id=account.id, contract_id=account.contract_id, key=key, points=points,
            activity=activity, ticket_id=for_ticket, draws=draws, at=when,
        )  # fmt: skip
        told = watched(uow, account, at=when, cause="consumption")
        uow.commit(account, consumption, *told)
        return _consumption_data(consumption, account, when, recorded=True)

    result = work.run("consume_credits", attempt)
    if result["recorded"]:
        log.info("credits_consumed", contract_id=str(contract_id), points=str(result["points"]))
    return result


def _consumption_data(
    consumption: CreditConsumption, account: CreditAccount, at: datetime, *, recorded: bool
) -> dict[str, Any]:
    return {
        "key": consumption.key,
        "recorded": recorded,
        "points": consumption.points,
        "activity": consumption.activity,
        "ticket_id": consumption.ticket_id,
        "draws": [draw.as_dict() for draw in consumption.draws],
        "reversed": consumption.reversed,
        "consumed_at": consumption.consumed_at,
        "balance": account.available(POINTS, at),
    }


def reverse_consumption(
    work: UnitsOfWork,
    contract_id: UUID,
    *,
    key: str,
    reason: str,
    at: datetime,
    points: Decimal | None = None,
) -> dict[str, Any]:
    """Return points of a consumption to the lots they came from."""
    when = instant(at)
    account_id = CreditAccount.create_id(contract_id)
    consumption_id = CreditConsumption.create_id(account_id, idempotency_key(key))

    def attempt(uow: UnitOfWork) -> dict[str, Any]:
        account = account_to_write(uow, contract_id)
        consumption = typed(
            uow.load_for_write(consumption_id), consumption_id, CreditConsumption,
            UnknownConsumptionError, f"consumption under key {key!r}",
        )  # fmt: skip
        reversal, recorded = consumption.reverse(
            points=points, reason=reason, at=when, lot_expired=account.lot_expired
        )
        if recorded:
            account.record_reversal(
                key=consumption.key, points=reversal.points, reason=reversal.reason,
                returns=[back.as_dict() for back in reversal.returns], at=when,
            )  # fmt: skip
            told = watched(uow, account, at=when, cause="reversal")
            uow.commit(consumption, account, *told)
        return {
            "key": consumption.key,
            "recorded": recorded,
            **reversal.as_dict(),
            "balance": account.available(POINTS, when),
        }

    result = work.run("reverse_consumption", attempt)
    if result["recorded"]:
        log.info("consumption_reversed", contract_id=str(contract_id), points=str(result["points"]))
    return result


def hold_training(
    work: UnitsOfWork,
    contract_id: UUID,
    *,
    at: datetime,
    key: str | None = None,
    topic: str = "",
) -> dict[str, Any]:
    """Hold one 30-minute online training session."""
    session_key = key or uuid4().hex
    contract = typed(find(work.app, contract_id), contract_id, Contract, UnknownContractError,
                     "contract")  # fmt: skip
    minutes = terms_of(contract, instant(at)).session_minutes

    def command(_uow: UnitOfWork, account: CreditAccount) -> dict[str, Any]:
        session, recorded = account.hold_training(
            key=session_key, topic=topic, minutes=minutes, at=at
        )
        return {
            "key": session_key,
            "recorded": recorded,
            **session.as_dict(),
            "sessions_left": account.available(SESSIONS, instant(at)),
        }

    return account_command(work, "training_session_held", contract_id, command)
