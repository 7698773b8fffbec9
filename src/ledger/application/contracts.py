"""Use cases of contracts: sign, renew, lapse, end, change tier, contacts, appointments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from ledger.application.clocks import recalculate_open_clocks
from ledger.application.facts import is_late
from ledger.application.loads import account_to_write, contract_to_write
from ledger.application.queries import calendar_of, terms_of
from ledger.calendars import holiday_source
from ledger.domain.base import instant
from ledger.domain.contract import Contract
from ledger.domain.credit_account import CreditAccount
from ledger.domain.errors import IdempotencyConflictError
from ledger.domain.terms import Tier
from ledger.logs import get_logger
from ledger.terms import DEFAULT_VERSION, load_terms

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import date, datetime
    from decimal import Decimal

    from ledger.application.uow import UnitOfWork, UnitsOfWork
    from ledger.domain.ticket import Ticket

    # The open clocks of a contract: its unanswered tickets, up to a position of the log.
    OpenClocks = Callable[[UUID], tuple[set[UUID], int]]

log = get_logger("ledger.application")


def schedule_terms(contract: Contract, account: CreditAccount, at: datetime) -> None:
    """Tell the account every term of the contract not granted yet, with what it grants.

    A term already noted is noted again only if what it grants changed (its tier went up).
    """
    for term in contract.terms:
        known = account.terms.get(term.number)
        if known is not None and known.granted:
            continue
        tier_terms = load_terms(term.terms_version).tier(term.tier)
        account.schedule_term(
            term_number=term.number,
            starts_at=term.starts_at,
            ends_at=term.ends_at,
            points=tier_terms.support_credits_per_license * term.licenses,
            sessions=tier_terms.training_sessions_per_license * term.licenses,
            at=at,
        )


def sign_contract(
    work: UnitsOfWork,
    *,
    customer: str,
    tier: str,
    licenses: int,
    license_kind: str,
    list_price: Decimal,
    start: date,
    at: datetime,
    timezone: str | None = None,
    holiday_region: str | None = None,
    terms_version: str | None = None,
    key: str | None = None,
    currency: str | None = None,
) -> UUID:
    """Sign an agreement: assess the fee and grant the first term's credits in one save."""
    terms = load_terms(terms_version or DEFAULT_VERSION)
    region = terms.default_holiday_region if holiday_region is None else holiday_region
    holiday_source(region)  # refuse an unknown region before anything is recorded
    contract_id = Contract.create_id(key) if key else uuid4()

    def attempt(uow: UnitOfWork) -> UUID:
        existing = uow.read(contract_id) if key else None
        if existing is not None:
            same = (
                isinstance(existing, Contract)
                and existing.customer == customer.strip()
                and existing.terms[0].tier == Tier.parse(tier).value
                and existing.terms[0].licenses == licenses
                and existing.terms[0].list_price == list_price
                and (currency is None or existing.currency == currency.strip().upper())
            )
            if same:
                return contract_id
            raise IdempotencyConflictError(f"key {key!r} was used to sign a different contract")
        contract = Contract.sign(
            terms=terms, customer=customer, tier=tier, licenses=licenses,
            license_kind=license_kind, list_price=list_price, start=start, timezone=timezone,
            holiday_region=region, at=at, contract_id=contract_id, currency=currency,
        )  # fmt: skip
        account = CreditAccount.open(contract_id=contract.id, customer=contract.customer, at=at)
        schedule_terms(contract, account, at)
        account.grant_term(term_number=1, at=at)  # signing grants the first term at once
        uow.commit(contract, account)
        return contract.id

    result = work.run("sign_contract", attempt)
    log.info("contract_signed", contract_id=str(result), tier=Tier.parse(tier).value)
    return result


def renew_contract(
    work: UnitsOfWork,
    contract_id: UUID,
    *,
    at: datetime,
    licenses: int | None = None,
    list_price: Decimal | None = None,
) -> dict[str, Any]:
    """Order the next term; on a lapsed agreement this is a reinstatement at 80 %."""

    def attempt(uow: UnitOfWork) -> dict[str, Any]:
        contract = contract_to_write(uow, contract_id)
        if contract.status == "lapsed" or contract.ended_without_renewal(instant(at)):
            return _reinstate(uow, contract, at=at, licenses=licenses, list_price=list_price)
        contract.renew(
            terms=load_terms(DEFAULT_VERSION), at=at, licenses=licenses, list_price=list_price
        )
        account = account_to_write(uow, contract_id)
        schedule_terms(contract, account, instant(at))
        account.grant_due(at=at)
        uow.commit(contract, account)
        return contract.latest_term.as_dict()

    term = work.run("renew_contract", attempt)
    log.info(
        "contract_renewed", contract_id=str(contract_id), term=term["number"], kind=term["kind"]
    )
    return term


def reinstate_contract(
    work: UnitsOfWork,
    contract_id: UUID,
    *,
    at: datetime,
    licenses: int | None = None,
    list_price: Decimal | None = None,
) -> dict[str, Any]:
    """Take up a lapsed agreement again (80 % of list price)."""

    def attempt(uow: UnitOfWork) -> dict[str, Any]:
        contract = contract_to_write(uow, contract_id)
        return _reinstate(uow, contract, at=at, licenses=licenses, list_price=list_price)

    term = work.run("reinstate_contract", attempt)
    log.info("contract_reinstated", contract_id=str(contract_id), term=term["number"])
    return term


def _reinstate(
    uow: UnitOfWork,
    contract: Contract,
    *,
    at: datetime,
    licenses: int | None,
    list_price: Decimal | None,
) -> dict[str, Any]:
    when = instant(at)
    if contract.ended_without_renewal(when):
        contract.lapse(at=when, late=is_late(contract.latest_term.ends_at, when))
    contract.reinstate(
        terms=load_terms(DEFAULT_VERSION), at=when, licenses=licenses, list_price=list_price
    )
    account = account_to_write(uow, contract.id)
    schedule_terms(contract, account, when)
    account.grant_due(at=when)
    uow.commit(contract, account)
    return contract.latest_term.as_dict()


def lapse_contract(
    work: UnitsOfWork, contract_id: UUID, *, at: datetime, late: bool | None = None
) -> dict[str, Any]:
    """Record that the latest term ended without renewal."""

    def attempt(uow: UnitOfWork) -> dict[str, Any]:
        contract = contract_to_write(uow, contract_id)
        when = instant(at)
        is_late_now = is_late(contract.latest_term.ends_at, when) if late is None else late
        contract.lapse(at=when, late=is_late_now)
        uow.commit(contract)
        return contract.lapses[-1].as_dict()

    lapse = work.run("lapse_contract", attempt)
    log.info(
        "contract_lapsed",
        contract_id=str(contract_id),
        term=lapse["term_number"],
        late=lapse["late"],
    )
    return lapse


def terminate_contract(work: UnitsOfWork, contract_id: UUID, *, reason: str, at: datetime) -> None:
    """End an agreement now; what remains of its lots expires with it."""

    def attempt(uow: UnitOfWork) -> None:
        contract = contract_to_write(uow, contract_id)
        contract.terminate(reason=reason, at=at)
        account = account_to_write(uow, contract_id)
        account.end_agreement(reason=reason, at=at)
        # What remains of every lot expires at the termination: recorded with it.
        when = instant(at)
        for lot_id, due in list(account.due_expiries(when)):
            account.expire_lot(lot_id=lot_id, at=when, late=due < when)
        uow.commit(contract, account)

    work.run("terminate_contract", attempt)
    log.info("contract_terminated", contract_id=str(contract_id))


def change_tier(
    work: UnitsOfWork, open_clocks: OpenClocks, contract_id: UUID, *, tier: str, at: datetime
) -> str:
    """Upgrade now (pro rata) or schedule a downgrade for renewal; returns what happened."""

    def attempt(uow: UnitOfWork) -> str:
        contract = contract_to_write(uow, contract_id)
        revision = contract.calendar_revision
        terms = terms_of(contract, instant(at))
        outcome = contract.change_tier(terms=terms, to_tier=tier, at=at)
        touched: list[Any] = [contract]
        if outcome == "upgraded":
            account = account_to_write(uow, contract_id)
            account.grant_due(at=at)
            schedule_terms(contract, account, instant(at))  # terms not begun: the new tier
            for adjustment in contract.upgrades[-1].adjustments:
                if adjustment.points > 0 or adjustment.sessions > 0:
                    account.grant_upgrade(
                        term_number=adjustment.term_number,
                        points=adjustment.points,
                        sessions=adjustment.sessions,
                        expires_at=adjustment.expires_at,
                        at=at,
                    )
            touched.append(account)
        if contract.calendar_revision != revision:
            reason = f"tier changed to {tier}"
            touched.extend(
                _recalculate(uow, work, open_clocks, contract, reason=reason, at=instant(at))
            )
        uow.commit(*touched)
        return outcome

    outcome = work.run("change_tier", attempt)
    log.info("contract_tier_changed", contract_id=str(contract_id), tier=tier, outcome=outcome)
    return outcome


def _recalculate(
    uow: UnitOfWork,
    work: UnitsOfWork,
    open_clocks: OpenClocks,
    contract: Contract,
    *,
    reason: str,
    at: datetime,
) -> list[Ticket]:
    """The open clocks of a contract whose calendar changed, recomputed; the moved ones."""
    return recalculate_open_clocks(
        uow, work.app, open_clocks(contract.id), contract=contract,
        calendar=calendar_of(contract), reason=reason, at=at,
    )  # fmt: skip


def add_contact(work: UnitsOfWork, contract_id: UUID, *, email: str, at: datetime) -> list[str]:
    """Name a contact; returns the named contacts."""

    def attempt(uow: UnitOfWork) -> list[str]:
        contract = contract_to_write(uow, contract_id)
        contract.add_contact(email=email, terms=terms_of(contract, instant(at)), at=at)
        uow.commit(contract)
        return contract.contacts_at(instant(at))

    return work.run("add_contact", attempt)


def remove_contact(work: UnitsOfWork, contract_id: UUID, *, email: str, at: datetime) -> list[str]:
    """Remove a named contact; returns the named contacts."""

    def attempt(uow: UnitOfWork) -> list[str]:
        contract = contract_to_write(uow, contract_id)
        contract.remove_contact(email=email, at=at)
        uow.commit(contract)
        return contract.contacts_at(instant(at))

    return work.run("remove_contact", attempt)


def assign_representative(work: UnitsOfWork, contract_id: UUID, *, name: str, at: datetime) -> None:
    """Assign the technical account representative (Premium)."""

    def attempt(uow: UnitOfWork) -> None:
        contract = contract_to_write(uow, contract_id)
        contract.assign_representative(name=name, terms=terms_of(contract, instant(at)), at=at)
        uow.commit(contract)

    work.run("assign_representative", attempt)


def unassign_representative(work: UnitsOfWork, contract_id: UUID, *, at: datetime) -> None:
    """Unassign the technical account representative."""

    def attempt(uow: UnitOfWork) -> None:
        contract = contract_to_write(uow, contract_id)
        contract.unassign_representative(at=at)
        uow.commit(contract)

    work.run("unassign_representative", attempt)


def book_appointment(
    work: UnitsOfWork,
    open_clocks: OpenClocks,
    contract_id: UUID,
    *,
    starts_at: datetime,
    ends_at: datetime,
    at: datetime,
) -> list[UUID]:
    """Book an appointment window; open clocks are recomputed in the same save.

    Returns the tickets whose deadlines moved.
    """

    def attempt(uow: UnitOfWork) -> list[UUID]:
        contract = contract_to_write(uow, contract_id)
        contract.book_appointment(
            starts_at=starts_at,
            ends_at=ends_at,
            terms=terms_of(contract, instant(at)),
            regular=calendar_of(contract, with_appointments=False),
            at=at,
        )
        reason = f"appointment booked {_window(starts_at, ends_at)}"
        moved = _recalculate(uow, work, open_clocks, contract, reason=reason, at=instant(at))
        uow.commit(contract, *moved)
        return [t.id for t in moved]

    moved = work.run("book_appointment", attempt)
    log.info("appointment_booked", contract_id=str(contract_id), recalculated=len(moved))
    return moved


def cancel_appointment(
    work: UnitsOfWork,
    open_clocks: OpenClocks,
    contract_id: UUID,
    *,
    starts_at: datetime,
    ends_at: datetime,
    at: datetime,
) -> list[UUID]:
    """Cancel an appointment window; open clocks are recomputed in the same save."""

    def attempt(uow: UnitOfWork) -> list[UUID]:
        contract = contract_to_write(uow, contract_id)
        contract.cancel_appointment(starts_at=starts_at, ends_at=ends_at, at=at)
        reason = f"appointment cancelled {_window(starts_at, ends_at)}"
        moved = _recalculate(uow, work, open_clocks, contract, reason=reason, at=instant(at))
        uow.commit(contract, *moved)
        return [t.id for t in moved]

    moved = work.run("cancel_appointment", attempt)
    log.info("appointment_cancelled", contract_id=str(contract_id), recalculated=len(moved))
    return moved


def _window(start: datetime, end: datetime) -> str:
    return f"{instant(start, 'from').isoformat()} to {instant(end, 'to').isoformat()}"
