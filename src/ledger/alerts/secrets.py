"""Subscription secrets, kept apart from the event log in a table of their own.

A webhook's signing secret and a Slack incoming-webhook URL are credentials: the events say
only which row of `alert_secrets` holds them (a random reference), so an export of the log, a
replay or a log line never shows them. The table lives in the events' own database.
"""

from __future__ import annotations

import secrets as random_secrets
from typing import TYPE_CHECKING

from ledger.domain.calendar import to_us

if TYPE_CHECKING:
    from datetime import datetime

    from ledger.projections.db import ViewDatabase

SECRETS_DDL = (
    "CREATE TABLE IF NOT EXISTS alert_secrets ("
    "ref TEXT PRIMARY KEY, secret TEXT NOT NULL, created_at BIGINT NOT NULL)"
)


def new_webhook_secret() -> str:
    """A signing secret for a webhook that was subscribed without one."""
    return f"whsec_{random_secrets.token_urlsafe(32)}"


def store_secret(db: ViewDatabase, secret: str, *, at: datetime) -> str:
    """Keep a secret; returns the reference the subscription's event records."""
    db.create([SECRETS_DDL])
    ref = f"sec_{random_secrets.token_hex(12)}"
    with db.transaction() as tx:
        tx.execute(
            "INSERT INTO alert_secrets (ref, secret, created_at) VALUES (?, ?, ?)",
            (ref, secret, to_us(at)),
        )
    return ref


def read_secret(db: ViewDatabase, ref: str | None) -> str | None:
    """The secret under `ref` (None when there is no reference or no such row)."""
    if ref is None:
        return None
    db.create([SECRETS_DDL])
    rows = db.read("SELECT secret FROM alert_secrets WHERE ref = ?", (ref,))
    return str(rows[0][0]) if rows else None


def forget_secret(db: ViewDatabase, ref: str) -> None:
    """Delete a secret (its subscription was refused, or removed)."""
    db.create([SECRETS_DDL])
    with db.transaction() as tx:
        tx.execute("DELETE FROM alert_secrets WHERE ref = ?", (ref,))
