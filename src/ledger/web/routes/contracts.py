"""Contracts: sign, show, history, renew, reinstate, lapse, terminate, tier, contacts,
representative, appointments (`ledger contract ...`)."""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Path, Query
from fastapi.responses import JSONResponse

from ledger.application import SupportLedger
from ledger.domain.contract import Contract as ContractAggregate
from ledger.domain.errors import UnknownContractError
from ledger.presenters import (
    contract_history,
    contract_view,
    current_contract_view,
    tier_change_view,
)
from ledger.reports import contract_list
from ledger.web.auth import ADMIN, AGENT, FINANCE, READERS, require
from ledger.web.inputs import (
    EMAIL,
    Command,
    ContractId,
    IdempotencyHeader,
    ReadContractId,
    amount,
    at_or_now,
    day,
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
    AddContact,
    Appointment,
    AppointmentResult,
    AssignRepresentative,
    ChangeTier,
    Contacts,
    Contract,
    ContractList,
    ContractStep,
    Lapse,
    RenewContract,
    SignContract,
    Terminate,
    TermResult,
    TierChange,
)
from ledger.web.services import Svc, now

router = api_router("contracts")
# Commands whose fields are all optional may come without a body.
NO_BODY = Command()
NO_CHANGES = RenewContract()
NO_REASON = Terminate()


def _contract(app: SupportLedger, contract_id: UUID, at: datetime) -> JSONResponse:
    return answer(current_contract_view(app, contract_id, at))


def _known(app: SupportLedger, contract_id: UUID) -> bool:
    try:
        app.get_contract(contract_id)
    except UnknownContractError:
        return False
    return True


@router.post(
    "/contracts",
    status_code=201,
    dependencies=[require(ADMIN)],
    responses=documented(Contract, "The contract signed", creates=True, errors=COMMAND_ERRORS),
    summary="Sign a contract",
)
def sign_contract(
    body: SignContract, services: Svc, idempotency_key: IdempotencyHeader = None
) -> JSONResponse:
    """Sign an agreement: the fee is assessed and the first term's credits granted.

    With a key (the body's `key` or the Idempotency-Key header) signing again returns the same
    contract; the same key for another customer, tier, license count or price is 409.
    """
    app = services.ledger
    at = at_or_now(body.at, now())
    key = idempotency(idempotency_key, body.key, required=False)
    repeated = key is not None and _known(app, ContractAggregate.create_id(key))
    contract_id = app.sign_contract(
        customer=body.customer,
        tier=body.tier,
        licenses=body.licenses,
        license_kind=body.license_kind,
        list_price=amount(body.list_price, "list_price", positive=True),
        start=day(body.start, "start"),
        timezone=body.timezone,
        holiday_region=body.holiday_region,
        terms_version=body.terms_version,
        key=key,
        at=at,
        currency=body.currency,
    )
    data = current_contract_view(app, contract_id, at)
    return created(data, recorded=not repeated, location=f"{API_PREFIX}/contracts/{contract_id}")


@router.get(
    "/contracts",
    dependencies=[require(AGENT, FINANCE, *READERS)],
    responses=documented(ContractList, "A page of contracts by customer"),
    summary="List contracts",
)
def list_contracts(
    *,
    services: Svc,
    customer: Annotated[
        str | None,
        Query(max_length=200, description="Only customers whose name contains this (any case)."),
    ] = None,
    tier: Annotated[
        Literal["premium", "advanced", "basic"] | None, Query(description="Only this tier now.")
    ] = None,
    status: Annotated[
        Literal["active", "lapse_pending", "lapsed", "terminated"] | None,
        Query(description="Only this state now (ended: term over, lapse not yet recorded)."),
    ] = None,
    at: Annotated[str | None, instant_query("Tier, term, status and balance at.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Contracts per page.")] = 100,
    after: Annotated[
        UUID | None, Query(description="The `next` of the page before (the cursor).")
    ] = None,
) -> JSONResponse:
    """The contracts by customer name, then id: tier, licenses, current term, status, named
    contacts, credit account and balance, read from the contract directory (caught up first;
    on the standby as it stands when `LEDGER_READ_DATABASE_URL` is set)."""
    page = contract_list(
        services.settings.database, services.ledger, at_or_now(at, now()),
        customer=customer, tier=tier, status=status, limit=limit,
        after=None if after is None else str(after), reads=services.read_database,
    )  # fmt: skip
    return answer(page)


@router.get(
    "/contracts/{contract_id}",
    dependencies=[require(AGENT, FINANCE, *READERS)],
    responses=documented(Contract, "The contract", read=True),
    summary="Show a contract",
)
def show_contract(
    contract_id: ReadContractId,
    services: Svc,
    version: Annotated[int | None, Query(ge=1, le=10**9, description="As of this version.")] = None,
    as_of: Annotated[str | None, instant_query("As recorded at this instant.")] = None,
    at: Annotated[
        str | None, instant_query("Validity, tier and contacts at (default: now, or as_of).")
    ] = None,
) -> JSONResponse:
    """A contract now, at an earlier version, or as recorded at an instant; read on the
    standby when `LEDGER_READ_DATABASE_URL` is set (the X-Ledger-* headers say where)."""
    recorded_by = None if as_of is None else instant(as_of, "as_of")
    when = at_or_now(at, recorded_by or now())
    app = services.replayed
    with services.reading() as where:
        if version is None and recorded_by is None:
            data = current_contract_view(app, contract_id, when)
        else:
            found = app.get_contract(contract_id, version=version, as_of=recorded_by)
            data = contract_view(found, when)
    return answer(data, headers=read_headers(where))


@router.get(
    "/contracts/{contract_id}/history",
    dependencies=[require(FINANCE, *READERS)],
    responses=documented(list[ContractStep], "Every event and the contract after it", read=True),
    summary="History of a contract",
)
def contract_history_route(contract_id: ReadContractId, services: Svc) -> JSONResponse:
    """Every event of a contract with the contract as it stood after it (on the standby when
    one is set; the X-Ledger-* headers say where)."""
    with services.reading() as where:
        steps = contract_history(services.replayed, contract_id)
    return answer(steps, headers=read_headers(where))


@router.post(
    "/contracts/{contract_id}/renew",
    dependencies=[require(ADMIN)],
    responses=documented(TermResult, "The term ordered", errors=COMMAND_ERRORS),
    summary="Renew a contract",
)
def renew_contract(
    contract_id: ContractId, services: Svc, body: RenewContract = NO_CHANGES
) -> JSONResponse:
    """Order the next term (a lapsed agreement is reinstated at 80 % instead)."""
    return _order_term(services.ledger.renew_contract, contract_id, body)


@router.post(
    "/contracts/{contract_id}/reinstate",
    dependencies=[require(ADMIN)],
    responses=documented(TermResult, "The term ordered", errors=COMMAND_ERRORS),
    summary="Reinstate a lapsed contract",
)
def reinstate_contract(
    contract_id: ContractId, services: Svc, body: RenewContract = NO_CHANGES
) -> JSONResponse:
    """Take up a lapsed agreement again: a new term from today at 80 % of list price."""
    return _order_term(services.ledger.reinstate_contract, contract_id, body)


def _order_term(
    order: Callable[..., dict[str, Any]], contract_id: UUID, body: RenewContract
) -> JSONResponse:
    """Renew or reinstate (`order`) with the body's licenses and list price, if it changes them."""
    term = order(
        contract_id,
        at=at_or_now(body.at, now()),
        licenses=body.licenses,
        list_price=None
        if body.list_price is None
        else amount(body.list_price, "list_price", positive=True),
    )
    return answer({"contract_id": contract_id, "term": term})


@router.post(
    "/contracts/{contract_id}/lapse",
    dependencies=[require(ADMIN)],
    responses=documented(Lapse, "The lapse recorded", errors=COMMAND_ERRORS),
    summary="Record a lapse",
)
def lapse_contract(contract_id: ContractId, services: Svc, body: Command = NO_BODY) -> JSONResponse:
    """Record that the latest term ended without renewal (the scheduler does this too)."""
    lapse = services.ledger.lapse_contract(contract_id, at=at_or_now(body.at, now()))
    return answer({"contract_id": contract_id, **lapse})


@router.post(
    "/contracts/{contract_id}/terminate",
    dependencies=[require(ADMIN)],
    responses=documented(Contract, "The contract terminated", errors=COMMAND_ERRORS),
    summary="Terminate a contract",
)
def terminate_contract(
    contract_id: ContractId, services: Svc, body: Terminate = NO_REASON
) -> JSONResponse:
    """End the agreement: no support from `at` on; what remains of its lots expires."""
    at = at_or_now(body.at, now())
    services.ledger.terminate_contract(contract_id, reason=body.reason, at=at)
    return _contract(services.ledger, contract_id, at)


@router.post(
    "/contracts/{contract_id}/tier",
    dependencies=[require(ADMIN)],
    responses=documented(TierChange, "What the change did", errors=COMMAND_ERRORS),
    summary="Change the tier",
)
def change_tier(contract_id: ContractId, body: ChangeTier, services: Svc) -> JSONResponse:
    """Upgrade at once (pro rata), or schedule a downgrade for the next renewal."""
    app = services.ledger
    at = at_or_now(body.at, now())
    outcome = app.change_tier(contract_id, tier=body.tier, at=at)
    return answer(tier_change_view(app.get_contract(contract_id), outcome, at))


@router.post(
    "/contracts/{contract_id}/contacts",
    dependencies=[require(ADMIN)],
    responses=documented(Contacts, "The named contacts", errors=COMMAND_ERRORS),
    summary="Name a contact",
)
def add_contact(contract_id: ContractId, body: AddContact, services: Svc) -> JSONResponse:
    """Name a contact (Premium 5, Advanced 2, Basic 1)."""
    contacts = services.ledger.add_contact(
        contract_id, email=body.email, at=at_or_now(body.at, now())
    )
    return answer({"contract_id": contract_id, "named_contacts": contacts})


@router.delete(
    "/contracts/{contract_id}/contacts/{email}",
    dependencies=[require(ADMIN)],
    responses=documented(Contacts, "The named contacts", errors=COMMAND_ERRORS),
    summary="Remove a named contact",
)
def remove_contact(
    contract_id: ContractId,
    email: Annotated[
        str,
        Path(
            max_length=254,
            description="The named contact's email.",
            json_schema_extra={"pattern": EMAIL},
        ),
    ],
    services: Svc,
    at: Annotated[str | None, instant_query("When (default now).")] = None,
) -> JSONResponse:
    """Remove a named contact."""
    contacts = services.ledger.remove_contact(contract_id, email=email, at=at_or_now(at, now()))
    return answer({"contract_id": contract_id, "named_contacts": contacts})


@router.put(
    "/contracts/{contract_id}/representative",
    dependencies=[require(ADMIN)],
    responses=documented(Contract, "The contract", errors=COMMAND_ERRORS),
    summary="Assign the representative",
)
def assign_representative(
    contract_id: ContractId, body: AssignRepresentative, services: Svc
) -> JSONResponse:
    """Assign the technical account representative (Premium only)."""
    at = at_or_now(body.at, now())
    services.ledger.assign_representative(contract_id, name=body.name, at=at)
    return _contract(services.ledger, contract_id, at)


@router.delete(
    "/contracts/{contract_id}/representative",
    dependencies=[require(ADMIN)],
    responses=documented(Contract, "The contract", errors=COMMAND_ERRORS),
    summary="Unassign the representative",
)
def unassign_representative(
    contract_id: ContractId,
    services: Svc,
    at: Annotated[str | None, instant_query("When (default now).")] = None,
) -> JSONResponse:
    """Unassign the technical account representative."""
    when = at_or_now(at, now())
    services.ledger.unassign_representative(contract_id, at=when)
    return _contract(services.ledger, contract_id, when)


def _appointment(
    action: str, contract_id: UUID, body: Appointment, app: SupportLedger
) -> JSONResponse:
    use_case = app.book_appointment if action == "booked" else app.cancel_appointment
    moved = use_case(
        contract_id,
        starts_at=instant(body.starts_at, "starts_at"),
        ends_at=instant(body.ends_at, "ends_at"),
        at=at_or_now(body.at, now()),
    )
    return answer({"contract_id": contract_id, "action": action, "recalculated_tickets": moved})


@router.post(
    "/contracts/{contract_id}/appointments",
    dependencies=[require(ADMIN)],
    responses=documented(AppointmentResult, "The appointment booked", errors=COMMAND_ERRORS),
    summary="Book an appointment",
)
def book_appointment(contract_id: ContractId, body: Appointment, services: Svc) -> JSONResponse:
    """Book covered time outside regular hours (weekday nights: Premium, Advanced; weekends:
    Premium); open clocks are recomputed in the same save."""
    return _appointment("booked", contract_id, body, services.ledger)


@router.post(
    "/contracts/{contract_id}/appointments/cancel",
    dependencies=[require(ADMIN)],
    responses=documented(AppointmentResult, "The appointment cancelled", errors=COMMAND_ERRORS),
    summary="Cancel an appointment",
)
def cancel_appointment(contract_id: ContractId, body: Appointment, services: Svc) -> JSONResponse:
    """Cancel a booked appointment window (the exact window) before it begins."""
    return _appointment("cancelled", contract_id, body, services.ledger)
