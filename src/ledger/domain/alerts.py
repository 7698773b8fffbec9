"""Alert subscriptions: who is told which facts, through which channel, since when.

Subscriptions are facts of their own (added by whom and when, removed by whom and when), kept
in one registry aggregate. A subscription's secret (a webhook's signing secret, a Slack
incoming-webhook URL, which is a credential itself) never enters an event: the event keeps a
reference to a row of the secrets table and, for Slack, only the URL's host.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from eventsourcing.domain import Aggregate

from ledger.domain.base import LedgerAggregate, clean_text, deterministic_id, email_address, instant
from ledger.domain.errors import LedgerError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import datetime
    from uuid import UUID

# What a subscription may ask to be told; the README says what each means.
ALERT_KINDS = (
    "warning_50",
    "warning_75",
    "breach",
    "breach_waived",
    "ticket_declined",
    "lapsed",
    "balance_low",
    "lots_expiring",
    "term_ending",
)
CHANNELS = ("webhook", "email", "slack")
AUDIENCES = ("agent", "finance", "auditor", "admin")
_TIER = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class UnknownAlertKindError(LedgerError):
    """A kind of alert the ledger does not send."""

    code = "unknown_alert_kind"


class InvalidAlertTargetError(LedgerError):
    """A webhook URL, Slack URL or e-mail address alerts cannot be sent to."""

    code = "invalid_alert_target"


class UnknownSubscriptionError(LedgerError):
    """No alert subscription has that id."""

    code = "unknown_subscription"
    kind = "not_found"


class SubscriptionRemovedError(LedgerError):
    """The subscription was removed already."""

    code = "subscription_removed"
    kind = "conflict"


def alert_kinds(values: Iterable[str]) -> list[str]:
    """Kinds named by a subscription: known, at least one, each once, in the catalogue's order."""
    wanted = {str(v).strip().lower() for v in values if str(v).strip()}
    if not wanted:
        raise UnknownAlertKindError(f"kinds: name at least one of {', '.join(ALERT_KINDS)}")
    unknown = sorted(wanted - set(ALERT_KINDS))
    if unknown:
        raise UnknownAlertKindError(
            f"kinds: {unknown[0]!r} is not a kind of alert; known: {', '.join(ALERT_KINDS)}"
        )
    return [k for k in ALERT_KINDS if k in wanted]


def http_url(value: str, name: str) -> str:
    """An absolute http(s) URL with a host and no credentials in it."""
    text = clean_text(value, name, limit=2000)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidAlertTargetError(f"{name}: {value!r} is not an http:// or https:// URL")
    if parts.username or parts.password:
        raise InvalidAlertTargetError(f"{name}: a URL must not carry a user or password")
    return text


def alert_target(channel: str, target: str) -> str:
    """The channel's target, checked: a URL for webhooks and Slack, an address for e-mail."""
    if channel == "email":
        try:
            return email_address(target, "--email")
        except LedgerError as exc:
            raise InvalidAlertTargetError(exc.message) from None
    if channel in ("webhook", "slack"):
        return http_url(target, f"--{channel}")
    raise InvalidAlertTargetError(f"channel: {channel!r} is not one of {', '.join(CHANNELS)}")


class AlertSubscriptions(LedgerAggregate):
    """Every alert subscription, added and removed."""

    ID = deterministic_id("alert-subscriptions", "ledger")

    class Started(Aggregate.Created):
        """The registry was created (once, before its first subscription)."""

        def apply(self, aggregate: Any) -> None:
            aggregate.subscriptions = {}

    class SubscriptionAdded(Aggregate.Event):
        """Someone asked to be told facts of these kinds (optionally of one tier or customer)
        through a channel; the secret, if any, is kept apart under `secret_ref`."""

        subscription_id: UUID
        kinds: list[str]
        tier: str | None
        customer: str | None
        channel: str
        target: str
        secret_ref: str | None
        audience: str
        quiet_hours: bool
        actor: str
        subscribed_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.subscriptions[str(self.subscription_id)] = {
                "id": self.subscription_id,
                "kinds": list(self.kinds),
                "tier": self.tier,
                "customer": self.customer,
                "channel": self.channel,
                "target": self.target,
                "secret_ref": self.secret_ref,
                "audience": self.audience,
                "quiet_hours": self.quiet_hours,
                "actor": self.actor,
                "subscribed_at": self.subscribed_at,
                "removed_at": None,
                "removed_by": None,
            }

    class SubscriptionRemoved(Aggregate.Event):
        """A subscription was removed; facts recorded after this are not sent to it."""

        subscription_id: UUID
        actor: str
        removed_at: datetime

        def apply(self, aggregate: Any) -> None:
            found = aggregate.subscriptions[str(self.subscription_id)]
            found["removed_at"] = self.removed_at
            found["removed_by"] = self.actor

    if TYPE_CHECKING:  # declared for mypy; eventsourcing would make annotations fields
        subscriptions: dict[str, dict[str, Any]]

    @classmethod
    def start(cls) -> AlertSubscriptions:
        """The (empty) registry."""
        return cls._create(cls.Started, id=cls.ID)

    def subscribe(
        self,
        *,
        subscription_id: UUID,
        kinds: Sequence[str],
        channel: str,
        target: str,
        secret_ref: str | None,
        tier: str | None,
        customer: str | None,
        audience: str,
        actor: str,
        at: datetime,
        quiet_hours: bool = False,
    ) -> dict[str, Any]:
        """Add a subscription; returns it. With `quiet_hours`, kinds other than `breach` are
        sent only inside the contract's covered hours (held until the window opens)."""
        checked_kinds = alert_kinds(kinds)
        if channel not in CHANNELS:
            raise InvalidAlertTargetError(
                f"channel: {channel!r} is not one of {', '.join(CHANNELS)}"
            )
        tier_text = None if tier is None else str(tier).strip().lower()
        if tier_text is not None and not _TIER.match(tier_text):
            raise InvalidAlertTargetError(f"--tier: {tier!r} is not a tier name")
        customer_text = None if customer is None else clean_text(customer, "--customer", limit=200)
        if audience not in AUDIENCES:
            raise InvalidAlertTargetError(
                f"audience: {audience!r} is not one of {', '.join(AUDIENCES)}"
            )
        if str(subscription_id) in self.subscriptions:
            raise InvalidAlertTargetError(f"subscription {subscription_id} exists already")
        self.trigger_event(
            self.SubscriptionAdded,
            subscription_id=subscription_id,
            kinds=checked_kinds,
            tier=tier_text,
            customer=customer_text or None,
            channel=channel,
            target=target,
            secret_ref=secret_ref,
            audience=audience,
            quiet_hours=bool(quiet_hours),
            actor=clean_text(actor, "actor", limit=200) or "unknown",
            subscribed_at=instant(at),
        )
        return dict(self.subscriptions[str(subscription_id)])

    def remove(self, subscription_id: UUID, *, actor: str, at: datetime) -> dict[str, Any]:
        """Remove a subscription; returns it as removed."""
        found = self.get(subscription_id)
        if found["removed_at"] is not None:
            raise SubscriptionRemovedError(
                f"subscription {subscription_id} was removed at {found['removed_at'].isoformat()}"
            )
        self.trigger_event(
            self.SubscriptionRemoved,
            subscription_id=subscription_id,
            actor=clean_text(actor, "actor", limit=200) or "unknown",
            removed_at=instant(at),
        )
        return dict(self.subscriptions[str(subscription_id)])

    def get(self, subscription_id: UUID) -> dict[str, Any]:
        """A subscription by id (removed ones too)."""
        found = self.subscriptions.get(str(subscription_id))
        if found is None:
            raise UnknownSubscriptionError(f"no alert subscription {subscription_id}")
        return found

    def listing(self, *, include_removed: bool = False) -> list[dict[str, Any]]:
        """The subscriptions, oldest first (without the removed ones unless asked)."""
        rows = [
            dict(s)
            for s in self.subscriptions.values()
            if include_removed or s["removed_at"] is None
        ]
        return sorted(rows, key=lambda s: (s["subscribed_at"], str(s["id"])))
