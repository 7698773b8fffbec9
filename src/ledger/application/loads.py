"""What the use cases load through a unit of work, by kind, with the error when it is missing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ledger.application.queries import ticket_id, typed
from ledger.domain.contract import Contract
from ledger.domain.credit_account import CreditAccount
from ledger.domain.errors import UnknownContractError, UnknownTicketError
from ledger.domain.releases import ReleaseCatalog
from ledger.domain.ticket import Ticket

if TYPE_CHECKING:
    from uuid import UUID

    from ledger.application.uow import UnitOfWork


def contract_to_write(uow: UnitOfWork, contract_id: UUID) -> Contract:
    """A contract the use case will save."""
    found = uow.load_for_write(contract_id)
    return typed(found, contract_id, Contract, UnknownContractError, "contract")


def contract_to_decide_on(uow: UnitOfWork, contract_id: UUID) -> Contract:
    """A contract the use case decides on without writing it (its version checked at commit)."""
    found = uow.decide_on(contract_id)
    return typed(found, contract_id, Contract, UnknownContractError, "contract")


def account_to_write(uow: UnitOfWork, contract_id: UUID) -> CreditAccount:
    """A contract's credit account the use case will save."""
    account_id = CreditAccount.create_id(contract_id)
    found = uow.load_for_write(account_id)
    return typed(
        found, account_id, CreditAccount, UnknownContractError, "credit account of contract"
    )


def ticket_to_write(uow: UnitOfWork, reference: str | UUID) -> Ticket:
    """A ticket (by id or external key) the use case will save."""
    found_id = ticket_id(reference)
    return typed(uow.load_for_write(found_id), found_id, Ticket, UnknownTicketError, "ticket")


def ticket_to_decide_on(uow: UnitOfWork, reference: str | UUID) -> Ticket:
    """A ticket the use case decides on without writing it (its version checked at commit)."""
    found_id = ticket_id(reference)
    return typed(uow.decide_on(found_id), found_id, Ticket, UnknownTicketError, "ticket")


def catalog_to_write(uow: UnitOfWork) -> ReleaseCatalog:
    """The release catalog to change (started when no release was published yet)."""
    found = uow.load_for_write(ReleaseCatalog.ID)
    return found if isinstance(found, ReleaseCatalog) else ReleaseCatalog.start()


def catalog_to_decide_on(uow: UnitOfWork) -> ReleaseCatalog | None:
    """The release catalog to decide on (None before the first release)."""
    found = uow.decide_on(ReleaseCatalog.ID)
    return found if isinstance(found, ReleaseCatalog) else None
