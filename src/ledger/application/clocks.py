"""The open clocks of a contract: the tickets opened under it with no first response yet.

A contract does not keep a list of its tickets: opening a ticket writes the ticket alone, so
tickets opened at once under one contract never conflict. They are found in a read model that
implements `UnansweredTickets` (the deadlines view, which the scheduler keeps current), then in
the log after the position it has applied; without one, in all of the log (correct, slower).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, cast

from eventsourcing.utils import get_topic

from ledger.domain.ticket import Ticket
from ledger.store import NothingAfter
from ledger.terms import load_terms

if TYPE_CHECKING:
    from datetime import datetime
    from uuid import UUID

    from ledger.application.uow import UnitOfWork
    from ledger.domain.calendar import BusinessCalendar
    from ledger.domain.contract import Contract
    from ledger.store import LedgerApplication, StoredEvent

TICKET_OPENED = get_topic(Ticket.Opened)
TICKET_RESPONDED = get_topic(Ticket.FirstResponseRecorded)
UNANSWERED_BATCH = 1000  # notifications read at a time when looking for a contract's tickets


class UnansweredTickets(Protocol):
    """A read model that knows which tickets of a contract have no first response yet."""

    def unanswered_tickets(self, contract_id: UUID) -> tuple[int, set[UUID]]:
        """The position of the log applied (0: none) and the contract's unanswered tickets."""
        ...

    def close(self) -> None:
        """Release the read model's connections."""
        ...


def unanswered_tickets(
    app: LedgerApplication, view: UnansweredTickets | None, contract_id: UUID
) -> tuple[set[UUID], int]:
    """The tickets opened under a contract with no first response, up to a position of the log
    (returned with them): those the view knows, then the log after the view's position."""
    position, found = view.unanswered_tickets(contract_id) if view is not None else (0, set())
    while batch := app.recorder.select_notifications(
        position + 1, UNANSWERED_BATCH, topics=(TICKET_OPENED, TICKET_RESPONDED)
    ):
        for notification in batch:
            ticket_id = cast("UUID", notification.originator_id)
            if notification.topic != TICKET_OPENED:
                found.discard(ticket_id)
            elif opened_under(app, contract_id, notification):
                found.add(ticket_id)
        position = batch[-1].id
    return found, position


def opened_under(app: LedgerApplication, contract_id: UUID, stored: StoredEvent) -> bool:
    """Whether a stored `Ticket.Opened` is of a ticket under the contract."""
    return bool(cast("Any", app.mapper.to_domain_event(stored)).contract_id == contract_id)


def recalculate_open_clocks(
    uow: UnitOfWork,
    app: LedgerApplication,
    found: tuple[set[UUID], int],
    *,
    contract: Contract,
    calendar: BusinessCalendar,
    reason: str,
    at: datetime,
) -> list[Ticket]:
    """Recompute the open clocks `found` (tickets, position) of a contract whose calendar
    changed; return the moved ones.

    The commit then requires that no ticket was opened under the contract after that position,
    so none is left on the old calendar (a ticket opened later decided on the contract's
    calendar and fails its own commit when this one commits first). A clock that does not move
    is not written, so its version is checked at commit instead: the decision that it does not
    move holds only for the ticket as it stands then.
    """
    tickets, position = found
    uow.require_nothing_after(
        NothingAfter(position, (TICKET_OPENED,), partial(opened_under, app, contract.id))
    )
    moved = []
    for ticket_id in sorted(tickets):
        ticket = uow.load_for_write(ticket_id)
        if not isinstance(ticket, Ticket):
            continue
        terms = load_terms(ticket.terms_version)
        if ticket.recalculate(
            reason=reason,
            at=at,
            calendar=calendar,
            calendar_revision=contract.calendar_revision,
            thresholds=terms.warning_thresholds,
        ):
            moved.append(ticket)
        else:
            uow.still_current(ticket)
    return moved
