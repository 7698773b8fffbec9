"""Contracts by their customer's name or by a named contact's address.

Wherever a contract id is accepted, the customer's name is too: case-insensitive, the whole
name or a prefix that only one contract's customer has. The contracts come from a read model
that implements `ContractDirectory` (the contract directory), then from the log after the
position it has applied; without one, from all of the log (correct, slower). The CLI and the
API both resolve through `resolve_contract`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, cast
from uuid import UUID

from eventsourcing.utils import get_topic

from ledger.domain.base import email_address
from ledger.domain.contract import Contract
from ledger.domain.credit_account import CreditAccount
from ledger.domain.errors import AmbiguousContractError, InvalidInputError, UnknownContractError

if TYPE_CHECKING:
    from ledger.store import LedgerApplication

SIGNED = get_topic(Contract.Signed)
CONTACT_ADDED = get_topic(Contract.ContactAdded)
CONTACT_REMOVED = get_topic(Contract.ContactRemoved)
BATCH = 1000  # notifications read at a time after the view's position
SHOWN = 10  # candidates named in a refusal


class ContractDirectory(Protocol):
    """A read model that finds contracts by customer name and by named contact."""

    def named(self, text: str) -> tuple[int, list[tuple[UUID, str]]]:
        """The position applied and the contracts whose customer's name starts with `text`
        (any case)."""
        ...

    def naming(self, email: str) -> tuple[int, list[tuple[UUID, str]]]:
        """The position applied and the contracts that name `email`."""
        ...

    def customers(self, contract_ids: list[UUID]) -> dict[UUID, str]:
        """The customer of each contract among `contract_ids` the view knows."""
        ...

    def close(self) -> None:
        """Release the read model's connections."""
        ...


def name_key(text: str) -> str:
    """A name as it is matched: spaces collapsed, in lower case."""
    return " ".join(str(text).split()).casefold()


def _later(app: LedgerApplication, position: int, topics: tuple[str, ...]) -> list[Any]:
    """The events of `topics` recorded after `position`, in log order."""
    found: list[Any] = []
    while batch := app.recorder.select_notifications(position + 1, BATCH, topics=topics):
        found.extend(app.mapper.to_domain_event(n) for n in batch)
        position = batch[-1].id
    return found


def contracts_named(
    app: LedgerApplication, view: ContractDirectory | None, text: str
) -> list[tuple[UUID, str]]:
    """The contracts whose customer's name starts with `text` (any case), by name."""
    key = name_key(text)
    position, found = view.named(key) if view is not None else (0, [])
    known = dict(found)
    for event in _later(app, position, (SIGNED,)):
        if name_key(event.customer).startswith(key):
            known[cast("UUID", event.originator_id)] = event.customer
    return sorted(known.items(), key=lambda item: (name_key(item[1]), str(item[0])))


def contracts_naming(
    app: LedgerApplication, view: ContractDirectory | None, email: str
) -> list[tuple[UUID, str]]:
    """The contracts that name the contact `email` now, by customer."""
    address = email_address(email, "reporter")
    position, found = view.naming(address) if view is not None else (0, [])
    known = dict(found)
    customers: dict[UUID, str] = {}
    for event in _later(app, position, (SIGNED, CONTACT_ADDED, CONTACT_REMOVED)):
        contract = cast("UUID", event.originator_id)
        if isinstance(event, Contract.Signed):
            customers[contract] = event.customer
        elif event.email == address and isinstance(event, Contract.ContactAdded):
            known[contract] = customers.get(contract) or _customer(app, contract)
        elif event.email == address:
            known.pop(contract, None)
    return sorted(known.items(), key=lambda item: (name_key(item[1]), str(item[0])))


def _customer(app: LedgerApplication, contract_id: UUID) -> str:
    contract = cast("Contract", app.repository.get(contract_id))
    return contract.customer


def candidates(found: list[tuple[UUID, str]]) -> str:
    """Contracts named in a refusal: `customer (id)`, the first few."""
    shown = ", ".join(f"{customer} ({contract_id})" for contract_id, customer in found[:SHOWN])
    more = len(found) - SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def resolve_contract(
    app: LedgerApplication, view: ContractDirectory | None, reference: str | UUID, name: str
) -> UUID:
    """A contract id from its id or its customer's name (any case; the whole name, or a prefix
    only one contract's customer has). An unknown name is `unknown_contract`; a name that
    fits several contracts is `ambiguous_contract`, listing them."""
    if isinstance(reference, UUID):
        return reference
    text = str(reference).strip()
    if not text:
        raise InvalidInputError(f"{name}: give a contract id or the customer's name")
    if len(text) > 200:
        raise InvalidInputError(f"{name}: a contract id or name has at most 200 characters")
    try:
        return UUID(text)
    except ValueError:
        pass
    found = contracts_named(app, view, text)
    exact = [item for item in found if name_key(item[1]) == name_key(text)]
    chosen = exact or found
    if len(chosen) == 1:
        return chosen[0][0]
    if not chosen:
        raise UnknownContractError(
            f"{name}: no contract is an id or a customer named {text!r} (or starting so)"
        )
    raise AmbiguousContractError(
        f"{name}: {text!r} fits {len(chosen)} contracts: {candidates(chosen)}; "
        "give more of the name or the contract id",
        candidates=[{"contract_id": str(c), "customer": n} for c, n in chosen[:SHOWN]],
    )


def only_agreement(found: list[tuple[UUID, str]], reporter: str) -> UUID:
    """The one agreement that names the reporter; several are refused, listing them."""
    if len(found) == 1:
        return found[0][0]
    raise AmbiguousContractError(
        f"reporter: {reporter.strip()} is a named contact of {len(found)} agreements: "
        f"{candidates(found)}; name the contract (--contract or contract_id)",
        candidates=[{"contract_id": str(c), "customer": n} for c, n in found[:SHOWN]],
    )


def aggregate_id(
    app: LedgerApplication,
    view: ContractDirectory | None,
    reference: str | UUID,
    *,
    account: bool = False,
) -> UUID:
    """An aggregate's id as given, or a contract's from its customer's name; with `account`,
    the credit account of the contract named (by id or customer's name)."""
    if account:
        return CreditAccount.create_id(resolve_contract(app, view, reference, "CONTRACT"))
    if isinstance(reference, UUID):
        return reference
    try:
        return UUID(str(reference).strip())
    except ValueError:
        return resolve_contract(app, view, reference, "AGGREGATE_ID")


def customers_of(
    app: LedgerApplication, view: ContractDirectory | None, contract_ids: list[UUID]
) -> dict[UUID, str]:
    """The customer's name of each contract among `contract_ids` (from the view, else from the
    contract itself); an id of no contract is left out."""
    wanted = sorted(set(contract_ids), key=str)
    found = view.customers(wanted) if view is not None and wanted else {}
    for contract_id in wanted:
        if contract_id not in found:
            contract: Any = (
                app.repository.get(contract_id) if contract_id in app.repository else None
            )
            if isinstance(contract, Contract):
                found[contract_id] = contract.customer
    return found
