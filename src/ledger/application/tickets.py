"""Use cases of tickets: open (or decline) a request, and every command on an open ticket."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID, uuid4

from ledger.application.loads import (
    catalog_to_decide_on,
    contract_to_decide_on,
    ticket_to_write,
)
from ledger.application.queries import calendar_of, terms_of, ticket_id
from ledger.domain.base import clean_text, email_address, instant
from ledger.domain.eligibility import check_eligibility
from ledger.domain.errors import (
    AgreementNotValidError,
    IdempotencyConflictError,
    InvalidInputError,
)
from ledger.domain.releases import parse_version
from ledger.domain.terms import parse_severity
from ledger.domain.ticket import Ticket
from ledger.logs import get_logger
from ledger.terms import load_terms

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import datetime
    from decimal import Decimal

    from ledger.application.uow import UnitOfWork, UnitsOfWork
    from ledger.domain.contract import Contract

T = TypeVar("T")
log = get_logger("ledger.application")


@dataclass(frozen=True)
class TicketOpening:
    """The answer to a support request: opened (with its deadline) or declined (with why)."""

    ticket_id: UUID
    status: str
    reason: str | None = None
    message: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    due_at: datetime | None = None
    recorded: bool = True
    contract_id: UUID | None = None  # the agreement it came under (None: no agreement names them)
    customer: str | None = None

    @property
    def declined(self) -> bool:
        """Whether the request was declined."""
        return self.status == "declined"


def open_ticket(
    work: UnitsOfWork,
    *,
    contract_id: UUID,
    reporter: str,
    version: str,
    platform: str,
    at: datetime,
    severity: int | str | None = None,
    license_kind: str | None = None,
    key: str | None = None,
) -> TicketOpening:
    """Receive a support request: open it with its deadline, or decline and record why.

    The external key makes ingestion idempotent: the same key with the same request returns
    the first answer and records nothing; with a different request it is an error.
    """
    received_at = instant(at, "received_at")
    address = email_address(reporter, "reporter")
    product = parse_version(version)
    platform_name = str(platform).strip().lower()
    if not platform_name:
        raise InvalidInputError("platform: name the platform, e.g. windows or linux")
    external_key = clean_text(key, "key") if key is not None else f"t-{uuid4().hex}"
    if not external_key or len(external_key) > 200:
        raise InvalidInputError("key: between 1 and 200 characters")
    new_id = Ticket.create_id(external_key)

    def attempt(uow: UnitOfWork) -> TicketOpening:
        contract = contract_to_decide_on(uow, contract_id)
        terms = terms_of(contract, received_at)
        level = terms.default_severity if severity is None else parse_severity(severity)
        kind = (license_kind or contract.license_kind).strip().lower()
        # A repeated key is caught by the commit (the ticket's id is taken); look it up only
        # when running again.
        existing = uow.read(new_id) if uow.attempt > 1 else None
        if existing is not None:
            request = (contract_id, address, level, product.text, platform_name, kind)
            return _replayed_opening(existing, request, external_key)
        decline = check_eligibility(
            contract=contract,
            catalog=catalog_to_decide_on(uow),
            terms=terms,
            reporter=address,
            version=product,
            platform=platform_name,
            license_kind=kind,
            received_at=received_at,
        )
        if decline is not None:
            ticket = Ticket.decline(
                external_key=external_key, contract_id=contract.id, customer=contract.customer,
                reporter=address, severity=level, product_version=product.text,
                platform=platform_name, license_kind=kind, received_at=received_at,
                reason=decline.reason, message=decline.message, details=decline.details,
            )  # fmt: skip
            uow.commit(ticket)
            return TicketOpening(
                ticket.id, "declined", decline.reason, decline.message, decline.details,
                contract_id=contract.id, customer=contract.customer,
            )  # fmt: skip
        ticket = Ticket.open(
            external_key=external_key,
            contract_id=contract.id,
            customer=contract.customer,
            tier_terms=terms.tier(contract.tier_at(received_at)),
            terms_version=terms.version,
            thresholds=terms.warning_thresholds,
            reporter=address,
            severity=level,
            version=product,
            platform=platform_name,
            license_kind=kind,
            received_at=received_at,
            calendar=calendar_of(contract),
            calendar_revision=contract.calendar_revision,
        )
        uow.commit(ticket)
        return TicketOpening(
            ticket.id, "open", due_at=ticket.due_at, contract_id=contract.id,
            customer=contract.customer,
        )  # fmt: skip

    opening = work.run("open_ticket", attempt)
    if opening.recorded:
        log.info(
            "ticket_opened" if not opening.declined else "ticket_declined",
            ticket_id=str(opening.ticket_id),
            contract_id=str(contract_id),
            reason=opening.reason,
        )
    return opening


def decline_unmatched(
    work: UnitsOfWork,
    *,
    reporter: str,
    version: str,
    platform: str,
    at: datetime,
    severity: int | str | None = None,
    license_kind: str | None = None,
    key: str | None = None,
) -> TicketOpening:
    """Record a request from an address no agreement names: declined `no_valid_agreement`,
    kept as a ticket of no contract so auditors see who asked (idempotent by key)."""
    received_at = instant(at, "received_at")
    address = email_address(reporter, "reporter")
    product = parse_version(version)
    platform_name = str(platform).strip().lower()
    if not platform_name:
        raise InvalidInputError("platform: name the platform, e.g. windows or linux")
    external_key = clean_text(key, "key") if key is not None else f"t-{uuid4().hex}"
    if not external_key or len(external_key) > 200:
        raise InvalidInputError("key: between 1 and 200 characters")
    terms = load_terms()
    level = terms.default_severity if severity is None else parse_severity(severity)
    kind = str(license_kind or "").strip().lower()
    new_id = Ticket.create_id(external_key)

    def attempt(uow: UnitOfWork) -> TicketOpening:
        existing = uow.read(new_id) if uow.attempt > 1 else None
        if existing is not None:
            request = (None, address, level, product.text, platform_name, kind)
            return _replayed_opening(existing, request, external_key)
        ticket = Ticket.decline(
            external_key=external_key, contract_id=None, customer="", reporter=address,
            severity=level, product_version=product.text, platform=platform_name,
            license_kind=kind, received_at=received_at, reason=AgreementNotValidError.code,
            message=f"no maintenance agreement names {address} as a contact",
            details={"reporter": address},
        )  # fmt: skip
        uow.commit(ticket)
        return TicketOpening(ticket.id, "declined", ticket.reason, ticket.message, ticket.details)

    opening = work.run("decline_unmatched_request", attempt)
    if opening.recorded:
        log.info("ticket_declined", ticket_id=str(opening.ticket_id), reason=opening.reason)
    return opening


def _replayed_opening(existing: Any, request: tuple[Any, ...], key: str) -> TicketOpening:
    if not isinstance(existing, Ticket):
        raise IdempotencyConflictError(f"key {key!r} belongs to something other than a ticket")
    recorded = (
        existing.contract_id,
        existing.reporter,
        existing.opened_severity,
        existing.product_version,
        existing.platform,
        existing.license_kind,
    )
    if recorded != request:
        raise IdempotencyConflictError(
            f"key {key!r} was used for a different request (ticket {existing.id}); "
            "use a new key for a new request"
        )
    contract_id, customer = existing.contract_id, existing.customer or None
    if existing.status == "declined":
        return TicketOpening(
            existing.id, "declined", existing.reason, existing.message, existing.details,
            recorded=False, contract_id=contract_id, customer=customer,
        )  # fmt: skip
    return TicketOpening(
        existing.id, existing.status, due_at=existing.due_at, recorded=False,
        contract_id=contract_id, customer=customer,
    )  # fmt: skip


def ticket_command(
    work: UnitsOfWork,
    use_case: str,
    reference: str | UUID,
    command: Callable[[UnitOfWork, Ticket, Contract], T],
) -> T:
    """Run a command on one ticket, deciding on its contract; the ticket alone is saved."""

    def attempt(uow: UnitOfWork) -> T:
        ticket = ticket_to_write(uow, reference)
        if ticket.contract_id is None:  # a request no agreement names: declined, no commands
            ticket.require_opened("change it")
            msg = f"ticket {ticket.id} belongs to no contract"
            raise InvalidInputError(msg)
        contract = contract_to_decide_on(uow, ticket.contract_id)
        result = command(uow, ticket, contract)
        uow.commit(ticket)
        return result

    result = work.run(use_case, attempt)
    log.info(use_case, ticket_id=str(ticket_id(reference)))
    return result


def _thresholds(ticket: Ticket) -> Sequence[Decimal]:
    if ticket.status == "declined":  # the ticket's own command refuses, with its reason
        return ()
    return load_terms(ticket.terms_version).warning_thresholds


def record_first_response(work: UnitsOfWork, reference: str | UUID, *, at: datetime) -> str:
    """Stop the response clock; returns `met` or `breached`."""

    def command(_uow: UnitOfWork, ticket: Ticket, contract: Contract) -> str:
        return ticket.record_first_response(at=at, calendar=calendar_of(contract))

    return ticket_command(work, "ticket_responded", reference, command)


def hold_ticket(work: UnitsOfWork, reference: str | UUID, *, at: datetime) -> None:
    """Put a ticket on hold at the customer's request (the clock pauses)."""

    def command(_uow: UnitOfWork, ticket: Ticket, contract: Contract) -> None:
        ticket.hold(at=at, calendar=calendar_of(contract), thresholds=_thresholds(ticket))

    ticket_command(work, "ticket_held", reference, command)


def resume_ticket(work: UnitsOfWork, reference: str | UUID, *, at: datetime) -> None:
    """End a hold (the clock runs again)."""

    def command(_uow: UnitOfWork, ticket: Ticket, contract: Contract) -> None:
        ticket.resume(at=at, calendar=calendar_of(contract), thresholds=_thresholds(ticket))

    ticket_command(work, "ticket_resumed", reference, command)


def change_severity(
    work: UnitsOfWork, reference: str | UUID, *, severity: int | str, at: datetime
) -> None:
    """Change a ticket's severity: same start, new target, new deadline."""
    level = parse_severity(severity)

    def command(_uow: UnitOfWork, ticket: Ticket, contract: Contract) -> None:
        ticket.require_opened("change the severity")
        ticket.change_severity(
            severity=level,
            tier_terms=load_terms(ticket.terms_version).tier(ticket.tier),
            at=at,
            calendar=calendar_of(contract),
            thresholds=_thresholds(ticket),
        )

    ticket_command(work, "ticket_severity_changed", reference, command)


def request_remote_assistance(work: UnitsOfWork, reference: str | UUID, *, at: datetime) -> None:
    """Ask for remote assistance (Premium and Advanced)."""

    def command(_uow: UnitOfWork, ticket: Ticket, contract: Contract) -> None:
        terms = terms_of(contract, instant(at))
        ticket.request_remote_assistance(
            tier_terms=terms.tier(contract.tier_at(instant(at))), at=at
        )

    ticket_command(work, "remote_assistance_requested", reference, command)


def request_priority_troubleshooting(
    work: UnitsOfWork, reference: str | UUID, *, at: datetime
) -> None:
    """Ask for priority troubleshooting (Premium and Advanced, per the tier in force)."""

    def command(_uow: UnitOfWork, ticket: Ticket, contract: Contract) -> None:
        terms = terms_of(contract, instant(at))
        ticket.request_priority_troubleshooting(
            tier_terms=terms.tier(contract.tier_at(instant(at))), at=at
        )

    ticket_command(work, "priority_troubleshooting_requested", reference, command)


def request_patch(work: UnitsOfWork, reference: str | UUID, *, at: datetime) -> None:
    """Ask for a patch (severity 1 or 2 on a supported line)."""

    def command(uow: UnitOfWork, ticket: Ticket, contract: Contract) -> None:
        terms = terms_of(contract, instant(at))
        catalog = catalog_to_decide_on(uow)
        lines = (
            catalog.supported_lines(instant(at), terms.eligibility.supported_release_lines)
            if catalog
            else []
        )
        ticket.request_patch(
            supported_lines=lines, patch_severities=terms.eligibility.patch_severities, at=at
        )

    ticket_command(work, "patch_requested", reference, command)


def resolve_ticket(work: UnitsOfWork, reference: str | UUID, *, at: datetime) -> str | None:
    """Resolve a ticket (a resolution without response is the first response)."""

    def command(_uow: UnitOfWork, ticket: Ticket, contract: Contract) -> str | None:
        return ticket.resolve(at=at, calendar=calendar_of(contract))

    return ticket_command(work, "ticket_resolved", reference, command)


def reopen_ticket(work: UnitsOfWork, reference: str | UUID, *, at: datetime) -> None:
    """Reopen a resolved ticket."""
    ticket_command(work, "ticket_reopened", reference, lambda _u, t, _c: t.reopen(at=at))


def close_ticket(work: UnitsOfWork, reference: str | UUID, *, at: datetime) -> None:
    """Close a resolved ticket."""
    ticket_command(work, "ticket_closed", reference, lambda _u, t, _c: t.close(at=at))


def waive_breach(
    work: UnitsOfWork, reference: str | UUID, *, reason: str, actor: str, at: datetime
) -> None:
    """Waive a breach, with reason and actor (the breach stays on record)."""
    ticket_command(
        work,
        "breach_waived",
        reference,
        lambda _u, t, _c: t.waive_breach(reason=reason, actor=actor, at=at),
    )
