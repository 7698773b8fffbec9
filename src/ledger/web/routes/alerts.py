"""Alerts (`ledger alerts ...`): subscriptions (the admin's) and deliveries (every role's own).

A subscription names the role (`audience`) whose tokens read its deliveries; the auditor and
the admin read every delivery.
"""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import Query
from fastapi.responses import JSONResponse
from pydantic import Field

from ledger.alerts import service
from ledger.domain.alerts import ALERT_KINDS
from ledger.web.auth import ADMIN, EVERYONE, READERS, Caller, require
from ledger.web.inputs import Body, Email, Line, Name
from ledger.web.routing import COMMAND_ERRORS, answer, api_router, created, documented
from ledger.web.schemas import TIERS, Out
from ledger.web.services import Svc, now

router = api_router("alerts")

Kind = Literal[ALERT_KINDS]  # type: ignore[valid-type]
Role = Literal["agent", "finance", "auditor", "admin"]
HTTP_URL = r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[!-~]*)?$"  # as the server reads it


class Subscribe(Body):
    """Subscribe to alerts of some kinds through exactly one channel."""

    kinds: list[Kind] = Field(min_length=1, max_length=len(ALERT_KINDS))
    tier: Name | None = Field(
        default=None,
        description="Only facts of this tier: premium, advanced or basic.",
        json_schema_extra={"enum": [*TIERS, None]},
    )
    customer: Name | None = Field(
        default=None, description="Only customers whose name contains this text."
    )
    webhook: Line | None = Field(
        default=None,
        description="POST signed JSON to this URL.",
        json_schema_extra={"pattern": HTTP_URL},
    )
    secret: Line | None = Field(
        default=None,
        description="The webhook's signing secret, 16 characters or more (default: a new one, "
        "shown once).",
        json_schema_extra={"pattern": r"^\S{16,200}$"},
    )
    email: Email | None = Field(default=None, description="Send e-mail to this address.")
    slack: Line | None = Field(
        default=None,
        description="A Slack incoming-webhook URL.",
        json_schema_extra={"pattern": HTTP_URL},
    )
    audience: Role = Field(default="admin", description="The role that reads its deliveries.")
    quiet_hours: bool = Field(
        default=False,
        description="Send kinds other than breach only inside the contract's covered hours.",
    )


class Subscription(Out):
    """An alert subscription (its secret reference; the secret only when just created)."""

    id: UUID
    kinds: list[str]
    channel: str
    target: str
    tier: str | None
    customer: str | None
    audience: str
    quiet_hours: bool
    secret_ref: str | None
    subscribed_by: str
    subscribed_at: datetime
    removed_at: datetime | None
    secret: str | None = None


class TestResult(Out):
    """What the receiver answered to a test message."""

    subscription_id: UUID
    delivered: bool


class Delivery(Out):
    """One message of one fact to one subscription, and how its delivery went."""

    id: UUID
    subscription_id: UUID
    kind: str
    channel: str
    status: str
    attempts: int
    delivered_at: datetime | None
    next_at: datetime | None
    last_error: str | None


@router.post(
    "/alerts/subscriptions",
    status_code=201,
    dependencies=[require(ADMIN)],
    responses=documented(Subscription, "The subscription", status=201, errors=COMMAND_ERRORS),
    summary="Subscribe to alerts",
)
def subscribe(body: Subscribe, services: Svc, caller: Caller) -> JSONResponse:
    """Subscribe to facts recorded from now on; a webhook's secret is shown this once."""
    with services.views.lease() as db:
        added = service.subscribe(
            services.ledger, db, kinds=list(body.kinds), webhook=body.webhook,
            secret=body.secret, email=body.email, slack=body.slack, tier=body.tier,
            customer=body.customer, audience=body.audience, quiet_hours=body.quiet_hours,
            actor=f"token:{caller.token_id}", at=now(),
        )  # fmt: skip
    return created(added, recorded=True, location=f"/api/v1/alerts/subscriptions/{added['id']}")


@router.get(
    "/alerts/subscriptions",
    dependencies=[require(*READERS)],
    responses=documented(list[Subscription], "The subscriptions, oldest first"),
    summary="List alert subscriptions",
)
def list_subscriptions(
    services: Svc,
    include_removed: Annotated[bool, Query(alias="all", description="Also removed ones.")] = False,
) -> JSONResponse:
    """Every subscription (without the removed ones unless `all=true`)."""
    return answer(service.list_subscriptions(services.ledger, include_removed=include_removed))


@router.delete(
    "/alerts/subscriptions/{subscription_id}",
    dependencies=[require(ADMIN)],
    responses=documented(Subscription, "The subscription, removed", errors=COMMAND_ERRORS),
    summary="Remove an alert subscription",
)
def remove_subscription(subscription_id: UUID, services: Svc, caller: Caller) -> JSONResponse:
    """Remove a subscription: facts recorded after this are not sent to it."""
    with services.views.lease() as db:
        removed = service.remove(
            services.ledger, db, subscription_id, actor=f"token:{caller.token_id}", at=now()
        )
    return answer(removed)


@router.post(
    "/alerts/subscriptions/{subscription_id}/test",
    dependencies=[require(ADMIN)],
    responses=documented(TestResult, "What the receiver answered", errors=COMMAND_ERRORS),
    summary="Send a test alert",
)
def test_subscription(subscription_id: UUID, services: Svc) -> JSONResponse:
    """Send a test message to the subscription now (nothing is recorded)."""
    with services.views.lease() as db:
        return answer(service.send_test(services.ledger, db, subscription_id, at=now()))


@router.get(
    "/alerts/deliveries",
    dependencies=[require(*EVERYONE)],
    responses=documented(list[Delivery], "Deliveries, newest first"),
    summary="List alert deliveries",
)
def list_deliveries(
    services: Svc,
    caller: Caller,
    failed: Annotated[bool, Query(description="Only the failed ones.")] = False,
    subscription: Annotated[UUID | None, Query(description="Only this subscription's.")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> JSONResponse:
    """Deliveries of the caller's role's subscriptions (every one for the auditor and admin)."""
    audience = None if caller.role in READERS else caller.role
    with services.views.lease() as db:
        rows = service.list_deliveries(
            db, failed=failed, subscription_id=subscription, audience=audience, limit=limit
        )
    return answer(rows)


@router.post(
    "/alerts/deliveries/{delivery_id}/retry",
    dependencies=[require(ADMIN)],
    responses=documented(Delivery, "The delivery, queued again", errors=COMMAND_ERRORS),
    summary="Retry a failed alert delivery",
)
def retry_delivery(delivery_id: UUID, services: Svc) -> JSONResponse:
    """Queue a failed delivery again, from a fresh backoff."""
    with services.views.lease() as db:
        return answer(service.retry_delivery(db, delivery_id, at=now()))
