"""A standard world for application tests: releases, one contract per tier, named contacts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from uuid import UUID

    from ledger.application import SupportLedger

BERLIN = ZoneInfo("Europe/Berlin")


def at(month: int, day: int, hour: int = 9, minute: int = 0, year: int = 2025) -> datetime:
    """An instant given as Berlin wall time, in UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN).astimezone(UTC)


SIGNED = at(1, 2)
CONTACTS = {
    "premium": ["ops@acme.example", "qa@acme.example"],
    "advanced": ["support@borealis.example"],
    "basic": ["it@cobalt.example"],
}


@dataclass
class World:
    """Ids of the standard contracts."""

    premium: UUID
    advanced: UUID
    basic: UUID

    def by_tier(self, tier: str) -> UUID:
        return {"premium": self.premium, "advanced": self.advanced, "basic": self.basic}[tier]


def publish_releases(app: SupportLedger) -> None:
    """24.1.x and 24.2.x GA, 23.2.0 old, 25.1.0-beta1 a pre-release."""
    for version, beta, when in [
        ("23.2.0", False, datetime(2023, 12, 1, tzinfo=UTC)),
        ("24.1.0", False, datetime(2024, 6, 3, tzinfo=UTC)),
        ("24.1.3", False, datetime(2024, 9, 2, tzinfo=UTC)),
        ("24.2.0", False, datetime(2024, 12, 2, tzinfo=UTC)),
        ("24.2.1", False, datetime(2025, 2, 3, tzinfo=UTC)),
        ("25.1.0-beta1", True, datetime(2025, 2, 20, tzinfo=UTC)),
    ]:
        app.publish_release(version, prerelease=beta, at=when)


def build_world(app: SupportLedger) -> World:
    """Releases; Premium (2 licenses), Advanced (2) and Basic (1) contracts from 2025-01-01."""
    publish_releases(app)
    ids = {}
    for tier, licenses, price in [
        ("premium", 2, "40000"),
        ("advanced", 2, "20000"),
        ("basic", 1, "6000"),
    ]:
        ids[tier] = app.sign_contract(
            customer=f"{tier.title()} Customer",
            tier=tier,
            licenses=licenses,
            license_kind="commercial",
            list_price=Decimal(price),
            start=date(2025, 1, 1),
            at=SIGNED,
        )
        for email in CONTACTS[tier]:
            app.add_contact(ids[tier], email=email, at=SIGNED)
    return World(**ids)


def build_snapshotted_world(app: SupportLedger) -> World:
    """The standard world, the premium account 60 consumptions on (past a snapshot point)."""
    built = build_world(app)
    for n in range(60):
        app.consume_credits(
            built.premium, points=Decimal(1), activity="a", key=f"k{n}",
            at=at(3, 3) + timedelta(minutes=n),
        )  # fmt: skip
    return built


def recorded(app: SupportLedger) -> int:
    """How many events the store holds (the head of the notification log)."""
    return app.recorder.max_notification_id() or 0
