"""Tickets: open, show, history, and the steps of a ticket's life (`ledger ticket ...`).

A ticket is named in paths by its id or its external key. A support request that is declined
is recorded as a declined ticket: the answer is 201 with `status: "declined"`, the `reason`
code, the `message` and the `details` (the CLI's exit code 3); it is not an error.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any
from uuid import uuid4

from fastapi import Path, Query
from fastapi.responses import JSONResponse

from ledger.application import SupportLedger
from ledger.presenters import counted_ticket_view, opening_view, ticket_history
from ledger.web.auth import ADMIN, AGENT, READERS, Caller, require
from ledger.web.inputs import (
    Command,
    IdempotencyHeader,
    at_or_now,
    idempotency,
    instant,
    instant_query,
)
from ledger.web.routing import (
    API_PREFIX,
    COMMAND_ERRORS,
    answer,
    api_router,
    created,
    documented,
    read_headers,
)
from ledger.web.schemas import (
    ChangeSeverity,
    OpenTicket,
    Ticket,
    TicketOpening,
    TicketStep,
    WaiveBreach,
)
from ledger.web.services import Svc, now

router = api_router("tickets")
NO_BODY = Command()  # a step may come without a body: it happens now

TicketRef = Annotated[
    str, Path(min_length=1, max_length=200, description="The ticket's id or external key.")
]


@router.post(
    "/tickets",
    status_code=201,
    dependencies=[require(AGENT)],
    responses=documented(
        TicketOpening, "The request, opened or declined", creates=True, errors=COMMAND_ERRORS
    ),
    summary="Open a ticket",
)
def open_ticket(
    body: OpenTicket, services: Svc, idempotency_key: IdempotencyHeader = None
) -> JSONResponse:
    """Receive a support request: open it with its deadline, or decline it and record why.

    Declined is an answer, not an error (201, `status: "declined"`, with the reason). The
    ticket's external key is the body's `key` or the Idempotency-Key header (the same if both
    are given); the same key with the same request returns the first answer (200), with
    another request 409 `idempotency_conflict`. Without a key the ticket gets a new one.
    """
    key = idempotency(idempotency_key, body.key, required=False) or f"t-{uuid4().hex}"
    opening = services.ledger.open_ticket(
        contract_id=body.contract_id,
        reporter=body.reporter,
        severity=body.severity,
        version=body.version,
        platform=body.platform,
        license_kind=body.license_kind,
        key=key,
        at=at_or_now(body.at, now()),
    )
    return created(
        {**opening_view(opening), "key": key},
        recorded=opening.recorded,
        location=f"{API_PREFIX}/tickets/{opening.ticket_id}",
    )


@router.get(
    "/tickets/{reference}",
    dependencies=[require(AGENT, *READERS)],
    responses=documented(Ticket, "The ticket and its clock", read=True),
    summary="Show a ticket",
)
def show_ticket(
    reference: TicketRef,
    services: Svc,
    version: Annotated[int | None, Query(ge=1, le=10**9, description="As of this version.")] = None,
    as_of: Annotated[str | None, instant_query("As recorded at this instant.")] = None,
    at: Annotated[
        str | None, instant_query("Business time left at (default: now, or as_of).")
    ] = None,
) -> JSONResponse:
    """A ticket (by id or external key) and its clock; read on the standby when
    `LEDGER_READ_DATABASE_URL` is set (the X-Ledger-* headers say where)."""
    app = services.replayed
    recorded_by = None if as_of is None else instant(as_of, "as_of")
    when = at_or_now(at, recorded_by or now())
    with services.reading() as where:
        view = counted_ticket_view(
            app, app.get_ticket(reference, version=version, as_of=recorded_by), when
        )
    return answer(view, headers=read_headers(where))


@router.get(
    "/tickets/{reference}/history",
    dependencies=[require(AGENT, *READERS)],
    responses=documented(
        list[TicketStep], "Every event, the ticket and its clock after it", read=True
    ),
    summary="History of a ticket",
)
def ticket_history_route(reference: TicketRef, services: Svc) -> JSONResponse:
    """Every event of a ticket with the ticket after it and how its deadline was counted (on
    the standby when one is set; the X-Ledger-* headers say where)."""
    with services.reading() as where:
        steps = ticket_history(services.replayed, reference)
    return answer(steps, headers=read_headers(where))


def _step(
    services: Svc,
    reference: str,
    at_text: str | None,
    run: Callable[[SupportLedger, datetime], Any],
) -> JSONResponse:
    at = at_or_now(at_text, now())
    outcome = run(services.ledger, at)
    data = counted_ticket_view(services.ledger, services.ledger.get_ticket(reference), at)
    if outcome is not None:
        data["result"] = outcome
    return answer(data)


def _step_route(path: str, summary: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A step of a ticket's life: agents only, answering the ticket after the step."""
    return router.post(
        path,
        dependencies=[require(AGENT)],
        responses=documented(Ticket, "The ticket after the step", errors=COMMAND_ERRORS),
        summary=summary,
    )


@_step_route("/tickets/{reference}/respond", "Record the first response")
def respond(reference: TicketRef, services: Svc, body: Command = NO_BODY) -> JSONResponse:
    """Record the first response: the clock stops; `result` is `met` or `breached`."""
    return _step(
        services, reference, body.at, lambda a, at: a.record_first_response(reference, at=at)
    )


@_step_route("/tickets/{reference}/hold", "Put on hold")
def hold(reference: TicketRef, services: Svc, body: Command = NO_BODY) -> JSONResponse:
    """Put on hold at the customer's request (the clock pauses)."""
    return _step(services, reference, body.at, lambda a, at: a.hold_ticket(reference, at=at))


@_step_route("/tickets/{reference}/resume", "Resume after a hold")
def resume(reference: TicketRef, services: Svc, body: Command = NO_BODY) -> JSONResponse:
    """End the hold (the clock runs again)."""
    return _step(services, reference, body.at, lambda a, at: a.resume_ticket(reference, at=at))


@_step_route("/tickets/{reference}/resolve", "Resolve")
def resolve(reference: TicketRef, services: Svc, body: Command = NO_BODY) -> JSONResponse:
    """Resolve (without a response recorded, this is the first response)."""
    return _step(services, reference, body.at, lambda a, at: a.resolve_ticket(reference, at=at))


@_step_route("/tickets/{reference}/reopen", "Reopen")
def reopen(reference: TicketRef, services: Svc, body: Command = NO_BODY) -> JSONResponse:
    """Reopen a resolved ticket (the response clock does not restart)."""
    return _step(services, reference, body.at, lambda a, at: a.reopen_ticket(reference, at=at))


@_step_route("/tickets/{reference}/close", "Close")
def close(reference: TicketRef, services: Svc, body: Command = NO_BODY) -> JSONResponse:
    """Close a resolved ticket."""
    return _step(services, reference, body.at, lambda a, at: a.close_ticket(reference, at=at))


@_step_route("/tickets/{reference}/remote-assistance", "Request remote assistance")
def remote_assistance(reference: TicketRef, services: Svc, body: Command = NO_BODY) -> JSONResponse:
    """Request remote assistance (Premium and Advanced)."""
    return _step(
        services, reference, body.at, lambda a, at: a.request_remote_assistance(reference, at=at)
    )


@_step_route("/tickets/{reference}/priority", "Request priority troubleshooting")
def priority(reference: TicketRef, services: Svc, body: Command = NO_BODY) -> JSONResponse:
    """Request priority troubleshooting (Premium and Advanced; Basic is 422
    `not_included_in_tier`, nothing recorded)."""
    return _step(
        services,
        reference,
        body.at,
        lambda a, at: a.request_priority_troubleshooting(reference, at=at),
    )


@_step_route("/tickets/{reference}/patch", "Request a patch")
def patch(reference: TicketRef, services: Svc, body: Command = NO_BODY) -> JSONResponse:
    """Request a patch (severity 1 or 2 on a supported release line)."""
    return _step(services, reference, body.at, lambda a, at: a.request_patch(reference, at=at))


@_step_route("/tickets/{reference}/severity", "Change the severity")
def severity(reference: TicketRef, body: ChangeSeverity, services: Svc) -> JSONResponse:
    """Change the severity: same start, new target, new deadline (the original stays)."""
    return _step(
        services,
        reference,
        body.at,
        lambda a, at: a.change_severity(reference, severity=body.severity, at=at),
    )


@router.post(
    "/tickets/{reference}/waive",
    dependencies=[require(ADMIN)],
    responses=documented(Ticket, "The ticket, its breach waived", errors=COMMAND_ERRORS),
    summary="Waive a breach",
)
def waive(reference: TicketRef, body: WaiveBreach, services: Svc, caller: Caller) -> JSONResponse:
    """Waive a breach, a correction: the breach stays on record with the reason and actor.

    The actor defaults to the token's name.
    """
    actor = body.actor if body.actor and body.actor.strip() else caller.name
    return _step(
        services,
        reference,
        body.at,
        lambda a, at: a.waive_breach(reference, reason=body.reason, actor=actor, at=at),
    )
