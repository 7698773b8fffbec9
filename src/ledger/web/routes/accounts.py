"""Credits: balance, purchases, consumptions, reversals, training sessions
(`ledger credits ...`).

Purchases and consumptions must carry an idempotency key (the Idempotency-Key header or the
body's `key`): it is the purchase's or consumption's own key in the ledger, so a retry records
nothing twice, and a consumption is reversed by it. Training sessions may carry one.
"""

from typing import Annotated

from fastapi.responses import JSONResponse

from ledger.presenters import account_view
from ledger.reports import credit_history
from ledger.web.auth import FINANCE, READERS, Caller, require
from ledger.web.inputs import (
    ContractId,
    IdempotencyHeader,
    ReadContractId,
    amount,
    at_or_now,
    expiry,
    idempotency,
    instant,
    instant_query,
)
from ledger.web.routing import (
    COMMAND_ERRORS,
    answer,
    api_router,
    created,
    documented,
    read_headers,
)
from ledger.web.schemas import (
    Account,
    AlertThreshold,
    AlertThresholdResult,
    Consume,
    ConsumptionResult,
    CreditHistory,
    Purchase,
    PurchaseResult,
    ReversalResult,
    Reverse,
    Training,
    TrainingResult,
)
from ledger.web.services import Svc, now

router = api_router("credits")
NO_TOPIC = Training()  # a session may be held without a body


@router.get(
    "/contracts/{contract_id}/credits",
    dependencies=[require(FINANCE, *READERS)],
    responses=documented(Account, "Balances and lots", read=True),
    summary="Credit balance",
)
def balance(
    contract_id: ReadContractId,
    services: Svc,
    as_of: Annotated[str | None, instant_query("The account as recorded at this instant.")] = None,
    at: Annotated[str | None, instant_query("Balances usable at (default: now, or as_of).")] = None,
) -> JSONResponse:
    """Points and training sessions available, lot by lot (on the standby when one is set;
    the X-Ledger-* headers say where)."""
    recorded_by = None if as_of is None else instant(as_of, "as_of")
    when = at_or_now(at, recorded_by or now())
    with services.reading() as where:
        account = services.replayed.get_account(contract_id, as_of=recorded_by)
    return answer(account_view(account, when), headers=read_headers(where))


@router.post(
    "/contracts/{contract_id}/credits/purchases",
    status_code=201,
    dependencies=[require(FINANCE)],
    responses=documented(PurchaseResult, "The lot bought", creates=True, errors=COMMAND_ERRORS),
    summary="Buy points",
)
def purchase(
    contract_id: ContractId,
    body: Purchase,
    services: Svc,
    idempotency_key: IdempotencyHeader = None,
) -> JSONResponse:
    """Buy a package of points (an idempotency key is required)."""
    key = idempotency(idempotency_key, body.key, required=True)
    app = services.ledger
    expires_at = None
    if body.expires is not None:
        expires_at = expiry(body.expires, app.get_contract(contract_id).timezone)
    result = app.purchase_credits(
        contract_id,
        points=amount(body.points, "points", positive=True),
        price=amount(body.price, "price"),
        key=key or "",
        expires_at=expires_at,
        at=at_or_now(body.at, now()),
    )
    return created(result, recorded=result["recorded"])


@router.post(
    "/contracts/{contract_id}/credits/consumptions",
    status_code=201,
    dependencies=[require(FINANCE)],
    responses=documented(ConsumptionResult, "The points used", creates=True, errors=COMMAND_ERRORS),
    summary="Use points",
)
def consume(
    contract_id: ContractId, body: Consume, services: Svc, idempotency_key: IdempotencyHeader = None
) -> JSONResponse:
    """Use points, drawn from the lot that expires first; never below zero (an idempotency
    key is required; it names the consumption for a reversal)."""
    key = idempotency(idempotency_key, body.key, required=True)
    result = services.ledger.consume_credits(
        contract_id,
        points=amount(body.points, "points", positive=True),
        activity=body.activity,
        key=key or "",
        ticket=body.ticket,
        at=at_or_now(body.at, now()),
    )
    return created(result, recorded=result["recorded"])


@router.put(
    "/contracts/{contract_id}/credits/alert-threshold",
    dependencies=[require(FINANCE)],
    responses=documented(AlertThresholdResult, "The threshold set", errors=COMMAND_ERRORS),
    summary="Set the low-balance threshold",
)
def alert_threshold(
    contract_id: ContractId, body: AlertThreshold, services: Svc, caller: Caller
) -> JSONResponse:
    """Set the points below which a `balance_low` alert fact is recorded, once per crossing
    (a balance already below it is a crossing at once). The same threshold again records
    nothing."""
    result = services.ledger.set_alert_threshold(
        contract_id,
        points=amount(body.points, "points", positive=True),
        actor=f"token:{caller.token_id}",
        at=at_or_now(body.at, now()),
    )
    return answer(result)


@router.post(
    "/contracts/{contract_id}/credits/reversals",
    status_code=201,
    dependencies=[require(FINANCE)],
    responses=documented(
        ReversalResult, "The points returned", creates=True, errors=COMMAND_ERRORS
    ),
    summary="Reverse a consumption",
)
def reverse(contract_id: ContractId, body: Reverse, services: Svc) -> JSONResponse:
    """Return points of the consumption `key` to the lots they came from.

    The same reversal again (same points and reason) records nothing (200).
    """
    result = services.ledger.reverse_consumption(
        contract_id,
        key=body.key,
        points=None if body.points is None else amount(body.points, "points", positive=True),
        reason=body.reason,
        at=at_or_now(body.at, now()),
    )
    return created(result, recorded=result["recorded"])


@router.post(
    "/contracts/{contract_id}/credits/training-sessions",
    status_code=201,
    dependencies=[require(FINANCE)],
    responses=documented(TrainingResult, "The session held", creates=True, errors=COMMAND_ERRORS),
    summary="Hold a training session",
)
def training(
    contract_id: ContractId,
    services: Svc,
    body: Training = NO_TOPIC,
    idempotency_key: IdempotencyHeader = None,
) -> JSONResponse:
    """Hold one 30-minute online training session (an idempotency key makes retries safe)."""
    key = idempotency(idempotency_key, body.key, required=False)
    result = services.ledger.hold_training(
        contract_id, key=key, topic=body.topic, at=at_or_now(body.at, now())
    )
    return created(result, recorded=result["recorded"])


@router.get(
    "/contracts/{contract_id}/credits/history",
    dependencies=[require(FINANCE, *READERS)],
    responses=documented(CreditHistory, "Every movement of the credit account"),
    summary="Credit history",
)
def history(contract_id: ReadContractId, services: Svc) -> JSONResponse:
    """Every movement of the credit account: grants, purchases, draws, reversals, expiries, with
    their lots, keys and tickets and the balance after each (from the credit-usage view,
    caught up first; on the standby as it stands when `LEDGER_READ_DATABASE_URL` is set)."""
    history = credit_history(
        services.settings.database, services.ledger, contract_id,
        reads=services.read_database, reader=services.replayed,
    )  # fmt: skip
    return answer(history)
