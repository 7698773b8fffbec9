"""Pages of one thing: a ticket and its clock, the contracts and one contract.

- `/tickets/{key}` (agent, auditor, admin; the external key or the id): the ticket, its
  response clock drawn as a timeline (received, holds, severity changes, warnings, deadline,
  response) with the list of its marks as text, how the deadline is counted (the business
  windows counted, appointments, holidays skipped: the explanation `ledger ticket history`
  gives), its history, and the credits drawn for it.
- `/contracts` (every role): the contract directory, searched by any part of the customer's
  name in any case, a page of `PAGE_SIZE` at a time; `/contracts/{id-or-name}`: one contract
  with its tier, terms and fees, named contacts, appointments, representative, credit lots
  with their expiry, open tickets (linking to their pages) and its breach statistics.

The views come from `ledger.presenters` and the read models, as the CLI and the API have them.
With a read database (`LEDGER_READ_DATABASE_URL`, a standby) the contract, the ticket and the
board are read there (`Services.replayed`, `read_views`), and each page says under what it
shows which position it read and how far behind the primary's head that is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote, urlencode
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse  # noqa: TC002 - FastAPI reads the annotations

from ledger.domain.errors import InvalidInputError, LedgerError, UnknownTicketError
from ledger.figures import BREACH_STAT_LABELLED_COLUMNS
from ledger.presenters import (
    account_view,
    clock_explanation,
    counted_ticket_view,
    current_contract_view,
    stats_row_text,
    ticket_calendar,
    ticket_history,
)
from ledger.projections.sla_breaches import SlaBreachProjection, SlaBreachView
from ledger.reports import caught_up, contract_list, credit_history, position_fields
from ledger.web.auth import Principal  # noqa: TC001 - FastAPI reads the annotations
from ledger.web.pages import TEMPLATES, PageRoute, _line, render, when
from ledger.web.services import Services, Svc, now
from ledger.web.sessions import CONTRACTS, TICKET, page
from ledger.web.timeline import ticket_marks, timeline_svg

if TYPE_CHECKING:
    from datetime import datetime

PAGE_SIZE = 25

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def ticket_url(key: str) -> str:
    """The page of a ticket (by its external key or id)."""
    return f"/tickets/{quote(str(key), safe='')}"


def contract_url(contract_id: Any) -> str:
    """The page of a contract (by its id)."""
    return f"/contracts/{quote(str(contract_id), safe='')}"


TEMPLATES.globals.update(ticket_url=ticket_url, contract_url=contract_url)


# -- /tickets/{key} ----------------------------------------------------------------------------


def ticket_of(services: Services, reference: str, at: datetime) -> dict[str, Any]:
    """A ticket for its page: its view, timeline, deadline explanation, history, credits,
    and where it was read (the standby's log when one is set)."""
    where, app = services.log_read(), services.replayed
    text = _line(reference, "ticket") or ""
    with services.not_yet_replayed(where):
        try:
            found = app.get_ticket(text)
        except UnknownTicketError:
            raise UnknownTicketError(f"ticket: no ticket has the key or id {text!r}") from None
    view = counted_ticket_view(app, found, at)
    history = ticket_history(app, found.id)
    calendar = ticket_calendar(app, found)
    explanation = None if calendar is None else clock_explanation(found, calendar, at)
    marks = ticket_marks(view, history, at)
    title = f"Response clock of {found.external_key}"
    drawn: list[dict[str, Any]] = []
    if found.contract_id is not None:
        movements = credit_history(
            services.settings.database, services.ledger, found.contract_id,
            reads=services.read_database, reader=app,
        )["rows"]  # fmt: skip
        drawn = [row for row in movements if row["ticket_id"] == found.id]
    return {
        "view": view, "history": history, "explanation": explanation, "marks": marks,
        "svg": timeline_svg(view, marks, at, title, when),
        "calendar": None if calendar is None else calendar.describe(),
        "credits": drawn, "at": at, "where": where,
    }  # fmt: skip


@router.get("/tickets/{reference:path}")
def ticket_page(
    *,
    request: Request,
    services: Svc,
    caller: Annotated[Principal, page(TICKET)],
    reference: str,
) -> HTMLResponse:
    """One ticket: its clock on a timeline, how its deadline is counted, history, credits."""
    ticket = ticket_of(services, reference, now())
    return render(
        request, "ticket.html", caller=caller, title=f"Ticket {ticket['view']['key']}",
        ticket=ticket,
    )  # fmt: skip


# -- /contracts ---------------------------------------------------------------------------------


def _cursor(after: str | None) -> str | None:
    text = _line(after, "after")
    if text is None:
        return None
    try:
        return str(UUID(text))
    except ValueError:
        raise InvalidInputError(f"after: {text!r} is not a page cursor (a contract id)") from None


@router.get("/contracts")
def contracts_page(
    *,
    request: Request,
    services: Svc,
    caller: Annotated[Principal, page(CONTRACTS)],
    customer: str | None = None,
    after: str | None = None,
) -> HTMLResponse:
    """The contracts, by customer, `PAGE_SIZE` a page; search by any part of the name."""
    try:
        wanted = _line(customer, "customer")
        listing = contract_list(
            services.settings.database, services.ledger, now(), customer=wanted,
            limit=PAGE_SIZE, after=_cursor(after), reads=services.read_database,
        )  # fmt: skip
    except InvalidInputError as exc:
        return render(
            request, "contracts.html", caller=caller, status=400, title=CONTRACTS.title,
            error=exc.message, customer=(customer or "")[:200], listing=None, next_url=None,
        )  # fmt: skip
    following = listing["next"]
    next_url = None
    if following:
        query = {"customer": wanted} if wanted else {}
        next_url = f"/contracts?{urlencode({**query, 'after': str(following)})}"
    return render(
        request, "contracts.html", caller=caller, title=CONTRACTS.title, error=None,
        customer=wanted or "", listing=listing, next_url=next_url,
    )  # fmt: skip


def contract_of(services: Services, reference: str, at: datetime) -> dict[str, Any]:
    """A contract for its page: the contract, its credit lots, open tickets, breach figures,
    and where each was read (the standby's log and board when one is set)."""
    where, app = services.log_read(), services.replayed
    with services.not_yet_replayed(where):
        contract_id = app.contract_id(_line(reference, "contract") or "", "contract")
        view = current_contract_view(app, contract_id, at)
    try:
        account: dict[str, Any] | None = account_view(app.get_account(contract_id), at)
    except LedgerError:
        account = None
    with services.read_views.lease() as db:
        position, head = caught_up(
            services.settings.database, services.ledger, SlaBreachProjection.name,
            catch_up=True, db=db, reads=services.read_database,
        )  # fmt: skip
        breaches = SlaBreachView(db)
        open_tickets = [
            row for row in breaches.board(at) if str(row["contract_id"]) == str(contract_id)
        ]
        stats = [
            stats_row_text(row) for row in breaches.stats("tier", at, contract_id=str(contract_id))
        ]
    return {"view": view, "account": account, "open_tickets": open_tickets, "stats": stats,
            "stat_columns": BREACH_STAT_LABELLED_COLUMNS, "at": at, "where": where,
            "board_where": position_fields(position, head, services.read_from)}  # fmt: skip


@router.get("/contracts/{reference:path}")
def contract_page(
    *,
    request: Request,
    services: Svc,
    caller: Annotated[Principal, page(CONTRACTS)],
    reference: str,
) -> HTMLResponse:
    """One contract: terms and fees, contacts, appointments, credit lots, open tickets, breaches."""
    contract = contract_of(services, reference, now())
    return render(
        request, "contract.html", caller=caller, title=contract["view"]["customer"],
        contract=contract,
        can_open_tickets=caller.role in TICKET.roles,
    )  # fmt: skip
