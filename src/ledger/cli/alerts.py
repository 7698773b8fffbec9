"""Alerts (`ledger alerts ...`): subscribe, list, remove, test, run, deliveries, retry."""

from __future__ import annotations

import getpass
import signal
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from ledger.cli.support import (
    Runtime,
    Seconds,
    done,
    emit,
    emit_rows,
    json_option,
    parse_id,
    pass_runtime,
)
from ledger.render import console, kv

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ledger.projections.db import ViewDatabase

SUBSCRIPTION_COLUMNS = [
    ("id", "id"), ("kinds", "kinds"), ("channel", "channel"), ("target", "target"),
    ("tier", "tier"), ("customer", "customer"), ("audience", "audience"),
    ("quiet_hours", "quiet hours"),
    ("subscribed_at", "since"), ("removed_at", "removed"),
]  # fmt: skip
DELIVERY_COLUMNS = [
    ("id", "id"), ("kind", "kind"), ("ticket_key", "ticket"), ("customer", "customer"),
    ("channel", "channel"), ("status", "status"), ("attempts", "attempts"),
    ("delivered_at", "delivered"), ("next_at", "next attempt"), ("last_error", "last error"),
]  # fmt: skip


@contextmanager
def _views(runtime: Runtime) -> Iterator[ViewDatabase]:
    from ledger.projections.db import ViewDatabase  # noqa: PLC0415 - not needed at start-up

    db = ViewDatabase(runtime.database)
    try:
        yield db
    finally:
        db.close()


def _now() -> datetime:
    return datetime.now(UTC)


def _actor(actor: str | None) -> str:
    return actor or getpass.getuser()


@click.group()
def alerts() -> None:
    """Alerts: who is told which facts (warnings, breaches, ...), and their deliveries."""


@alerts.command("subscribe")
@click.option("--kinds", required=True, help="Comma-separated: breach,warning_75,... (README).")
@click.option("--tier", help="Only facts of this tier (premium, advanced, basic).")
@click.option("--customer", help="Only facts of customers whose name contains this text.")
@click.option("--webhook", metavar="URL", help="POST signed JSON to this URL.")
@click.option("--secret", help="The webhook's signing secret (default: a new one, shown once).")
@click.option("--email", metavar="ADDRESS", help="Send e-mail (LEDGER_SMTP_URL) to this address.")
@click.option("--slack", metavar="URL", help="Post to this Slack incoming-webhook URL.")
@click.option(
    "--quiet-hours",
    is_flag=True,
    help="Send kinds other than breach only inside the contract's covered hours.",
)
@click.option(
    "--audience",
    type=click.Choice(["agent", "finance", "auditor", "admin"]),
    default="admin",
    show_default=True,
    help="The role whose tokens may read this subscription's deliveries.",
)
@click.option("--actor", help="Who subscribes (default: the system user).")
@json_option
@pass_runtime
def alerts_subscribe(
    runtime: Runtime, /, *, kinds: str, actor: str | None, as_json: bool, **target: Any
) -> None:
    """Subscribe to alerts of some kinds through one channel (facts recorded from now on)."""
    from ledger.alerts.service import subscribe  # noqa: PLC0415 - not needed at start-up

    with _views(runtime) as db:
        added = subscribe(
            runtime.ledger, db, kinds=kinds.split(","), actor=_actor(actor), at=_now(), **target
        )
    note = f"subscribed {added['id']} ({added['channel']} {added['target']})"
    if added.get("secret"):
        note += f"; signing secret (shown once): {added['secret']}"
    done(added, as_json, note)


@alerts.command("list")
@click.option("--all", "include_removed", is_flag=True, help="Also the removed subscriptions.")
@json_option
@pass_runtime
def alerts_list(runtime: Runtime, *, include_removed: bool, as_json: bool) -> None:
    """The subscriptions, oldest first."""
    from ledger.alerts.service import list_subscriptions  # noqa: PLC0415 - not at start-up

    rows = list_subscriptions(runtime.ledger, include_removed=include_removed)
    emit_rows(rows, SUBSCRIPTION_COLUMNS, as_json=as_json, as_csv=False, title="subscriptions")


@alerts.command("remove")
@click.argument("subscription")
@click.option("--actor", help="Who removes it (default: the system user).")
@json_option
@pass_runtime
def alerts_remove(runtime: Runtime, *, subscription: str, actor: str | None, as_json: bool) -> None:
    """Remove SUBSCRIPTION (facts recorded after this are not sent to it)."""
    from ledger.alerts.service import remove  # noqa: PLC0415 - not needed at start-up

    with _views(runtime) as db:
        removed = remove(
            runtime.ledger, db, parse_id(subscription, "SUBSCRIPTION"), actor=_actor(actor),
            at=_now(),
        )  # fmt: skip
    done(removed, as_json, f"removed {removed['id']}")


@alerts.command("test")
@click.argument("subscription")
@json_option
@pass_runtime
def alerts_test(runtime: Runtime, *, subscription: str, as_json: bool) -> int:
    """Send a test message to SUBSCRIPTION now; exit 1 when it did not go out."""
    from ledger.alerts.service import send_test  # noqa: PLC0415 - not needed at start-up

    with _views(runtime) as db:
        result = send_test(runtime.ledger, db, parse_id(subscription, "SUBSCRIPTION"), at=_now())
    emit(result, as_json, lambda: console.print(kv("test message", list(result.items()))))
    return 0 if result["delivered"] else 1


@alerts.command("deliveries")
@click.option("--failed", is_flag=True, help="Only the deliveries given up (failed).")
@click.option("--subscription", help="Only this subscription's deliveries.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10_000))
@json_option
@pass_runtime
def alerts_deliveries(
    runtime: Runtime, *, failed: bool, subscription: str | None, limit: int, as_json: bool
) -> None:
    """Messages and how they went, newest first."""
    from ledger.alerts.service import list_deliveries  # noqa: PLC0415 - not at start-up

    sid = None if subscription is None else parse_id(subscription, "--subscription")
    with _views(runtime) as db:
        rows = list_deliveries(db, failed=failed, subscription_id=sid, limit=limit)
    emit_rows(rows, DELIVERY_COLUMNS, as_json=as_json, as_csv=False, title="deliveries")


@alerts.command("retry")
@click.argument("delivery")
@json_option
@pass_runtime
def alerts_retry(runtime: Runtime, *, delivery: str, as_json: bool) -> None:
    """Send a failed DELIVERY again (from a fresh backoff)."""
    from ledger.alerts.service import retry_delivery  # noqa: PLC0415 - not at start-up

    with _views(runtime) as db:
        row = retry_delivery(db, parse_id(delivery, "DELIVERY"), at=_now())
    done(row, as_json, f"queued {row['id']} again")


@alerts.command("run")
@click.option(
    "--poll", default=0.2, show_default=True, type=Seconds(0.01, 60),
    help="Seconds between looks for new facts and due retries.",
)  # fmt: skip
@click.option("--concurrency", default=8, show_default=True, type=click.IntRange(1, 64))
@pass_runtime
def alerts_run(runtime: Runtime, *, poll: float, concurrency: int) -> None:
    """Queue and deliver alerts until SIGTERM (several workers may run; one sends each)."""
    from ledger.alerts.worker import AlertWorker  # noqa: PLC0415 - not needed at start-up

    worker = AlertWorker(
        runtime.database, runtime.ledger, poll_interval=poll, concurrency=concurrency
    )
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: worker.stop.set())
    worker.run()
