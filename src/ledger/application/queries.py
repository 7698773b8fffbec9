"""Queries: aggregates now, at a version or as recorded at an instant; the rules' look-ups."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from ledger.calendars import contract_calendar
from ledger.domain.base import instant
from ledger.domain.contract import Contract
from ledger.domain.credit_account import CreditAccount, CreditConsumption, idempotency_key
from ledger.domain.errors import (
    InvalidInputError,
    UnknownAggregateError,
    UnknownConsumptionError,
    UnknownContractError,
    UnknownTicketError,
)
from ledger.domain.releases import ReleaseCatalog
from ledger.domain.ticket import Ticket
from ledger.terms import load_terms

if TYPE_CHECKING:
    from datetime import datetime

    from ledger.domain.calendar import BusinessCalendar
    from ledger.domain.terms import Terms
    from ledger.store import LedgerApplication

A = TypeVar("A")


def ticket_id(reference: str | UUID) -> UUID:
    """A ticket id from its id or its external key."""
    if isinstance(reference, UUID):
        return reference
    text = str(reference).strip()
    try:
        return UUID(text)
    except ValueError:
        return Ticket.create_id(text)


def terms_of(contract: Contract, at: datetime | None = None) -> Terms:
    """The terms the contract's term (at `at`, or its latest) was signed under."""
    term = (contract.term_at(at) if at is not None else None) or contract.latest_term
    return load_terms(term.terms_version)


def calendar_of(contract: Contract, *, with_appointments: bool = True) -> BusinessCalendar:
    """The contract's calendar: its tier's coverage, zone, holidays and appointments."""
    terms = terms_of(contract)
    return contract_calendar(
        terms.tier(contract.tier),
        timezone=contract.timezone,
        holiday_region=contract.holiday_region or None,
        appointments=contract.appointment_windows() if with_appointments else (),
    )


def typed(found: Any, aggregate_id: UUID, kind: type[A], error: type[Exception], what: str) -> A:
    """`found` when it is a `kind`; else `error` (nothing recorded, or something else)."""
    if found is None:
        raise error(f"no {what} {aggregate_id}")
    if not isinstance(found, kind):
        raise error(f"{aggregate_id} is not a {what}")
    return found


def find(app: LedgerApplication, aggregate_id: UUID) -> Any | None:
    """An aggregate as stored now, or None."""
    try:
        return app.repository.get(aggregate_id)
    except AggregateNotFoundError:
        return None


def get_catalog(app: LedgerApplication) -> ReleaseCatalog | None:
    """The release catalog (None before the first release)."""
    found = find(app, ReleaseCatalog.ID)
    return found if isinstance(found, ReleaseCatalog) else None


def get_contract(
    app: LedgerApplication,
    contract_id: UUID,
    *,
    version: int | None = None,
    as_of: datetime | None = None,
) -> Contract:
    """A contract now, at a version, or as it was recorded at an instant."""
    return historic(
        app, contract_id, Contract, UnknownContractError, "contract", version=version, as_of=as_of
    )


def get_ticket(
    app: LedgerApplication,
    reference: str | UUID,
    *,
    version: int | None = None,
    as_of: datetime | None = None,
) -> Ticket:
    """A ticket (by id or external key) now, at a version, or as recorded at an instant."""
    return historic(
        app, ticket_id(reference), Ticket, UnknownTicketError, "ticket", version=version,
        as_of=as_of,
    )  # fmt: skip


def get_account(
    app: LedgerApplication,
    contract_id: UUID,
    *,
    version: int | None = None,
    as_of: datetime | None = None,
) -> CreditAccount:
    """A contract's credit account now, at a version, or as recorded at an instant."""
    typed(find(app, contract_id), contract_id, Contract, UnknownContractError, "contract")
    return historic(
        app, CreditAccount.create_id(contract_id), CreditAccount, UnknownContractError,
        "credit account", version=version, as_of=as_of,
    )  # fmt: skip


def get_consumption(app: LedgerApplication, contract_id: UUID, key: str) -> CreditConsumption:
    """A consumption by its idempotency key."""
    consumption_id = CreditConsumption.create_id(
        CreditAccount.create_id(contract_id), idempotency_key(key)
    )
    return typed(
        find(app, consumption_id), consumption_id, CreditConsumption, UnknownConsumptionError,
        f"consumption under key {key!r}",
    )  # fmt: skip


def historic(
    app: LedgerApplication,
    aggregate_id: UUID,
    kind: type[A],
    error: type[Exception],
    what: str,
    *,
    version: int | None,
    as_of: datetime | None,
) -> A:
    """An aggregate now, at a version, or at the last version recorded by an instant."""
    if as_of is not None:
        when = instant(as_of, "as of")
        recorded = [
            e.originator_version
            for e in app.events.get(aggregate_id)
            if cast("Any", e).timestamp <= when
        ]
        if not recorded:
            raise error(f"no {what} {aggregate_id} was recorded by {when.isoformat()}")
        version = recorded[-1] if version is None else min(version, recorded[-1])
    if version is not None and version < 1:
        raise InvalidInputError(f"version: versions start at 1, got {version}")
    try:
        found: Any = app.repository.get(aggregate_id, version=version)
    except AggregateNotFoundError:
        raise error(
            f"no {what} {aggregate_id}" + (f" at version {version}" if version else "")
        ) from None
    found_version: int = found.version
    if not isinstance(found, kind):
        raise error(f"{aggregate_id} is not a {what}")
    if version is not None and found_version != version:
        raise error(f"{what} {aggregate_id} has no version {version}; it is at {found_version}")
    return found


def list_events(app: LedgerApplication, aggregate_id: UUID) -> list[Any]:
    """Every event of one aggregate, oldest first."""
    events = list(app.events.get(aggregate_id))
    if not events:
        raise UnknownAggregateError(f"nothing was recorded for {aggregate_id}")
    return events
