"""The alert worker (`ledger alerts run`): keeps the outbox current and delivers its messages.

Each worker process runs the outbox projection (one process at a time owns it, as with every
view; the others wait to take over) and a delivery loop: claim due messages with a lease, send
them (a few at a time), then acknowledge or postpone each. A worker killed after sending and
before acknowledging leaves the message claimed; when the lease runs out another worker sends
it again with the same id. An acknowledged message is never sent again.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ledger.alerts import outbox
from ledger.alerts.channels import AlertSettings, DeliveryFailedError
from ledger.alerts.outbox import AlertOutboxProjection, Message, RetryPolicy
from ledger.alerts.service import deliver
from ledger.logs import get_logger
from ledger.projections.base import owner_name
from ledger.projections.db import ViewDatabase
from ledger.projections.runner import Worker
from ledger.store import StoreUnavailableError

if TYPE_CHECKING:
    from collections.abc import Callable

    from ledger.application import SupportLedger
    from ledger.settings import DatabaseSettings

log = get_logger("ledger.alerts")

CLAIM_LEASE_SECONDS = 30.0  # LEDGER_ALERTS_CLAIM_LEASE: a claim's time before another may send


def retry_policy_from_env() -> RetryPolicy:
    """Backoff from `LEDGER_ALERTS_RETRY_BASE` seconds (default 10), capped at an hour, given up
    after `LEDGER_ALERTS_GIVE_UP` seconds (default 86400, a day)."""
    base = float(os.environ.get("LEDGER_ALERTS_RETRY_BASE", "10"))
    give_up = float(os.environ.get("LEDGER_ALERTS_GIVE_UP", str(24 * 3600)))
    return RetryPolicy(base=base, cap=max(base, 3600.0), give_up=give_up)


def utcnow() -> datetime:
    """The wall clock."""
    return datetime.now(UTC)


@dataclass
class AlertWorker:
    """One worker process: the outbox projection (when it owns it) and a delivery loop."""

    database: DatabaseSettings
    app: SupportLedger
    settings: AlertSettings = field(default_factory=AlertSettings.from_env)
    policy: RetryPolicy = field(default_factory=retry_policy_from_env)
    poll_interval: float = 0.2
    concurrency: int = 8
    batch: int = 50
    stop: threading.Event = field(default_factory=threading.Event)
    clock: Callable[[], datetime] = utcnow
    owner: str = field(default_factory=owner_name)
    lease: float = field(
        default_factory=lambda: float(
            os.environ.get("LEDGER_ALERTS_CLAIM_LEASE", str(CLAIM_LEASE_SECONDS))
        )
    )

    def __post_init__(self) -> None:
        self.wake = threading.Event()
        self.db = ViewDatabase(self.database)
        self.delivered = 0

    # -- the projection ----------------------------------------------------------------------------

    def _project(self) -> None:
        delay = 1.0
        while not self.stop.is_set():
            worker = Worker(
                AlertOutboxProjection, self.database, self.app, batch_size=500,
                poll_interval=self.poll_interval, stop=self.stop,
                on_batch=lambda _position: self.wake.set(),
            )  # fmt: skip
            try:
                outcome = worker.run()
            except StoreUnavailableError as exc:
                log.error("alert_outbox_store_unavailable", error=str(exc))  # noqa: TRY400
                worker.db.close()
                self.stop.wait(delay)
                delay = min(delay * 2, 30.0)
                continue
            if outcome.status == "failed":
                log.error("alert_outbox_failed", error=outcome.error)
                self.stop.wait(5.0)
            delay = 1.0

    # -- delivering --------------------------------------------------------------------------------

    def deliver_due(self, pool: ThreadPoolExecutor | None = None) -> int:
        """Claim and send what is due now; how many were claimed."""
        outbox.ensure_outbox(self.db)
        messages = outbox.claim(
            self.db, self.owner, self.clock(), limit=self.batch, lease=self.lease
        )
        if not messages:
            return 0
        if pool is None or len(messages) == 1:
            for message in messages:
                self._deliver_one(message)
        else:
            list(pool.map(self._deliver_one, messages))
        return len(messages)

    def _deliver_one(self, message: Message) -> None:
        db = ViewDatabase(self.database)
        try:
            sub = outbox.subscription_row(db, message.subscription_id)
            if sub is None or sub["removed"]:
                outbox.cancel(db, message, "the subscription was removed")
                log.info("alert_cancelled", message_id=message.id)
                return
            try:
                deliver(
                    db, self.settings, channel=sub["channel"], target=sub["target"],
                    secret_ref=sub["secret_ref"], body=message.payload,
                )  # fmt: skip
            except DeliveryFailedError as exc:
                status = outbox.postpone(db, message, self.clock(), str(exc), self.policy)
                log.warning(
                    "alert_delivery_failed" if status == outbox.FAILED else "alert_delivery_retry",
                    message_id=message.id, kind=message.kind, channel=message.channel,
                    attempts=message.attempts + 1, error=str(exc),
                )  # fmt: skip
                return
            if outbox.acknowledge(db, message, self.clock()):
                self.delivered += 1
                log.info(
                    "alert_delivered", message_id=message.id, kind=message.kind,
                    channel=message.channel, attempts=message.attempts + 1,
                )  # fmt: skip
        finally:
            db.close()

    def run(self) -> None:
        """Project and deliver until stopped."""
        projector = threading.Thread(target=self._project, name="alert-outbox", daemon=True)
        projector.start()
        log.info("alert_worker_started", owner=self.owner)
        try:
            with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                while not self.stop.is_set():
                    try:
                        claimed = self.deliver_due(pool)
                    except StoreUnavailableError as exc:
                        log.error("alert_store_unavailable", error=str(exc))  # noqa: TRY400
                        self.db.close()
                        self.stop.wait(1.0)
                        continue
                    if claimed < self.batch:
                        self.wake.wait(self.poll_interval)
                        self.wake.clear()
        finally:
            self.stop.set()
            projector.join(timeout=10)
            self.db.close()
            log.info("alert_worker_stopped", owner=self.owner, delivered=self.delivered)
