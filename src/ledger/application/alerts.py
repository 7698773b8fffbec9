"""Use cases of alert subscriptions: subscribe, remove, list (the registry aggregate)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import uuid4

from ledger.domain.alerts import AlertSubscriptions, InvalidAlertTargetError
from ledger.domain.terms import Tier
from ledger.logs import get_logger

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime
    from uuid import UUID

    from ledger.application.uow import UnitOfWork, UnitsOfWork

log = get_logger("ledger.application")


def _registry_to_write(uow: UnitOfWork) -> AlertSubscriptions:
    found = uow.load_for_write(AlertSubscriptions.ID)
    return found if isinstance(found, AlertSubscriptions) else AlertSubscriptions.start()


def subscribe_alerts(
    work: UnitsOfWork,
    *,
    kinds: Sequence[str],
    channel: str,
    target: str,
    secret_ref: str | None,
    tier: str | None,
    customer: str | None,
    audience: str,
    actor: str,
    at: datetime,
    subscription_id: UUID | None = None,
    quiet_hours: bool = False,
) -> dict[str, Any]:
    """Add an alert subscription (it receives the facts recorded after it)."""
    if tier is not None and str(tier).strip().lower() not in {t.value for t in Tier}:
        raise InvalidAlertTargetError(
            f"--tier: {tier!r} is not a tier; known: {', '.join(t.value for t in Tier)}"
        )
    new_id = subscription_id or uuid4()

    def attempt(uow: UnitOfWork) -> dict[str, Any]:
        registry = _registry_to_write(uow)
        added = registry.subscribe(
            subscription_id=new_id, kinds=kinds, channel=channel, target=target,
            secret_ref=secret_ref, tier=tier, customer=customer, audience=audience,
            actor=actor, at=at, quiet_hours=quiet_hours,
        )  # fmt: skip
        uow.commit(registry)
        return added

    result = work.run("subscribe_alerts", attempt)
    log.info(
        "alert_subscribed", subscription_id=str(new_id), channel=channel, kinds=result["kinds"]
    )
    return result


def remove_subscription(
    work: UnitsOfWork, subscription_id: UUID, *, actor: str, at: datetime
) -> dict[str, Any]:
    """Remove an alert subscription."""

    def attempt(uow: UnitOfWork) -> dict[str, Any]:
        registry = _registry_to_write(uow)
        removed = registry.remove(subscription_id, actor=actor, at=at)
        uow.commit(registry)
        return removed

    result = work.run("remove_subscription", attempt)
    log.info("alert_subscription_removed", subscription_id=str(subscription_id))
    return result


def get_subscriptions(work: UnitsOfWork) -> AlertSubscriptions:
    """The registry as it stands (empty before the first subscription)."""

    def attempt(uow: UnitOfWork) -> AlertSubscriptions:
        found = uow.read(AlertSubscriptions.ID)
        return found if isinstance(found, AlertSubscriptions) else AlertSubscriptions.start()

    return work.run("get_subscriptions", attempt)
