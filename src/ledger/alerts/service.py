"""What the CLI and the API do with alerts: subscribe (keeping the secret apart), remove,
list, send a test message, read and retry deliveries."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from uuid import uuid4

from ledger.alerts import outbox
from ledger.alerts.channels import (
    AlertSettings,
    DeliveryFailedError,
    check_public,
    send_email,
    send_slack,
    send_webhook,
    with_link,
)
from ledger.alerts.secrets import forget_secret, new_webhook_secret, read_secret, store_secret
from ledger.domain.alerts import InvalidAlertTargetError, alert_target
from ledger.parsing import format_instant

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime
    from uuid import UUID

    from ledger.application import SupportLedger
    from ledger.projections.db import ViewDatabase


def subscribe(
    app: SupportLedger,
    db: ViewDatabase,
    *,
    kinds: Sequence[str],
    webhook: str | None = None,
    secret: str | None = None,
    email: str | None = None,
    slack: str | None = None,
    tier: str | None = None,
    customer: str | None = None,
    audience: str = "admin",
    quiet_hours: bool = False,
    actor: str,
    at: datetime,
    settings: AlertSettings | None = None,
) -> dict[str, Any]:
    """Add a subscription; the result shows a webhook's secret this once (never again)."""
    config = settings or AlertSettings.from_env()
    given = [(c, v) for c, v in (("webhook", webhook), ("email", email), ("slack", slack)) if v]
    if len(given) != 1:
        raise InvalidAlertTargetError("give exactly one of --webhook, --email or --slack")
    channel, raw = given[0]
    if secret is not None and channel != "webhook":
        raise InvalidAlertTargetError("--secret goes with --webhook only")
    target = alert_target(channel, raw)
    kept: str | None = None
    shown: str | None = None
    if channel == "webhook":
        check_public(target, allow_private=config.allow_private)
        shown = secret.strip() if secret is not None else new_webhook_secret()
        if len(shown) < 16:
            raise InvalidAlertTargetError("--secret: at least 16 characters")
        kept = shown
    elif channel == "slack":
        check_public(target, allow_private=config.allow_private, name="--slack")
        kept, target = target, f"slack:{urlsplit(target).hostname}"
    ref = store_secret(db, kept, at=at) if kept is not None else None
    try:
        added = app.subscribe_alerts(
            subscription_id=uuid4(), kinds=kinds, channel=channel, target=target,
            secret_ref=ref, tier=tier, customer=customer, audience=audience, actor=actor, at=at,
            quiet_hours=quiet_hours,
        )  # fmt: skip
    except BaseException:
        if ref is not None:
            forget_secret(db, ref)
        raise
    view = subscription_view(added)
    if channel == "webhook":
        view["secret"] = shown
    return view


def subscription_view(found: dict[str, Any]) -> dict[str, Any]:
    """A subscription for people and scripts (its secret reference, never the secret)."""
    return {
        "id": found["id"], "kinds": found["kinds"], "channel": found["channel"],
        "target": found["target"], "tier": found["tier"], "customer": found["customer"],
        "audience": found["audience"], "secret_ref": found["secret_ref"],
        "quiet_hours": found.get("quiet_hours", False),
        "subscribed_by": found["actor"], "subscribed_at": found["subscribed_at"],
        "removed_at": found["removed_at"], "removed_by": found["removed_by"],
    }  # fmt: skip


def list_subscriptions(
    app: SupportLedger, *, include_removed: bool = False
) -> list[dict[str, Any]]:
    """The subscriptions, oldest first."""
    registry = app.get_subscriptions()
    return [subscription_view(s) for s in registry.listing(include_removed=include_removed)]


def remove(
    app: SupportLedger, db: ViewDatabase, subscription_id: UUID, *, actor: str, at: datetime
) -> dict[str, Any]:
    """Remove a subscription and forget its secret."""
    removed = app.remove_subscription(subscription_id, actor=actor, at=at)
    if removed["secret_ref"] is not None:
        forget_secret(db, removed["secret_ref"])
    return subscription_view(removed)


def deliver(
    db: ViewDatabase,
    settings: AlertSettings,
    *,
    channel: str,
    target: str,
    secret_ref: str | None,
    body: dict[str, Any],
) -> int:
    """Send one message through its channel (DeliveryFailedError when it did not go out)."""
    return send(settings, channel, target, read_secret(db, secret_ref), body)


def send(
    settings: AlertSettings, channel: str, target: str, secret: str | None, body: dict[str, Any]
) -> int:
    """Send one message, its secret in hand (a webhook's signing secret, a Slack URL)."""
    full = with_link(body, settings)
    if channel == "webhook":
        check_target(target, settings)
        return send_webhook(target, secret, full)
    if channel == "slack":
        if secret is not None:
            check_target(secret, settings)
        return send_slack(secret, full)
    if channel == "email":
        return send_email(settings, target, full)
    raise DeliveryFailedError(f"unknown channel {channel!r}")


def check_target(url: str, settings: AlertSettings) -> None:
    """Check again at sending time that the URL's host is public (DNS may have changed)."""
    try:
        check_public(url, allow_private=settings.allow_private)
    except InvalidAlertTargetError as exc:
        raise DeliveryFailedError(exc.message) from None


def send_test(
    app: SupportLedger, db: ViewDatabase, subscription_id: UUID, *, at: datetime
) -> dict[str, Any]:
    """Send a test message to a subscription now; what the receiver answered."""
    found = app.get_subscriptions().get(subscription_id)
    body = {
        "id": str(uuid4()), "kind": "test", "subscription_id": str(subscription_id),
        "occurred_at": format_instant(at), "recorded_at": format_instant(at),
        "customer": found["customer"] or "", "test": True,
    }  # fmt: skip
    settings = AlertSettings.from_env()
    try:
        status = deliver(
            db, settings, channel=found["channel"], target=found["target"],
            secret_ref=found["secret_ref"], body=body,
        )  # fmt: skip
    except DeliveryFailedError as exc:
        return {"subscription_id": subscription_id, "delivered": False, "error": str(exc)}
    return {"subscription_id": subscription_id, "delivered": True, "status": status}


def list_deliveries(
    db: ViewDatabase,
    *,
    failed: bool = False,
    subscription_id: UUID | None = None,
    audience: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Deliveries, newest first (only the failed ones, of one subscription or audience)."""
    return outbox.deliveries(
        db,
        status=outbox.FAILED if failed else None,
        subscription_id=None if subscription_id is None else str(subscription_id),
        audience=audience,
        limit=limit,
    )


def retry_delivery(db: ViewDatabase, delivery_id: UUID, *, at: datetime) -> dict[str, Any]:
    """Queue a failed delivery again."""
    return outbox.retry(db, str(delivery_id), at)


def payload_of(db: ViewDatabase, delivery_id: str) -> dict[str, Any]:
    """A message's stored body (for tests and support)."""
    rows = db.read("SELECT payload FROM alert_messages WHERE id = ?", (delivery_id,))
    if not rows:
        raise outbox.UnknownDeliveryError(f"no alert delivery {delivery_id}")
    return dict(json.loads(rows[0][0]))
