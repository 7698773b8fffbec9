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
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ledger.alerts import outbox
from ledger.alerts.channels import AlertSettings, DeliveryFailedError
from ledger.alerts.outbox import AlertOutboxProjection, Message, RetryPolicy
from ledger.alerts.secrets import read_secret
from ledger.alerts.service import send
from ledger.domain.errors import LedgerError
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
        """Claim what is due now, send it (in `pool`, a few at a time), then record how each
        went in one transaction; how many were claimed."""
        outbox.ensure_outbox(self.db)
        messages = outbox.claim(
            self.db, self.owner, self.clock(), limit=self.batch, lease=self.lease
        )
        if not messages:
            return 0
        targets = self._targets({m.subscription_id for m in messages})
        cancelled = [m for m in messages if m.subscription_id not in targets]
        held = self._quiet([m for m in messages if m.quiet and m.subscription_id in targets])
        live = [m for m in messages if m.subscription_id in targets and m.id not in held]

        def attempt(message: Message) -> str | None:
            channel, target, secret = targets[message.subscription_id]
            try:
                send(self.settings, channel, target, secret, message.payload)
            except DeliveryFailedError as exc:
                return str(exc)
            return None

        if pool is None or len(live) <= 1:
            errors = [attempt(m) for m in live]
        else:
            errors = list(pool.map(attempt, live))
        statuses = outbox.settle(
            self.db, self.clock(), self.policy,
            delivered=[m for m, e in zip(live, errors, strict=True) if e is None],
            refused=[(m, e) for m, e in zip(live, errors, strict=True) if e is not None],
            cancelled=cancelled, held=[(m, held[m.id]) for m in messages if m.id in held],
        )  # fmt: skip
        self._log(messages, errors, live, statuses)
        return len(messages)

    def _targets(self, subscription_ids: set[str]) -> dict[str, tuple[str, str, str | None]]:
        """Channel, target and secret of each live subscription among `subscription_ids`."""
        found = {}
        for sid in subscription_ids:
            sub = outbox.subscription_row(self.db, sid)
            if sub is None or sub["removed"]:
                continue
            found[sid] = (sub["channel"], sub["target"], read_secret(self.db, sub["secret_ref"]))
        return found

    def _quiet(self, messages: list[Message]) -> dict[str, datetime]:
        """The messages to hold (their contract's covered hours are closed now), and until when."""
        now = self.clock()
        held: dict[str, datetime] = {}
        calendars: dict[str, Any] = {}
        for message in messages:
            contract = message.payload.get("contract_id")
            if not contract:
                continue
            if contract not in calendars:
                try:
                    found = self.app.get_contract(UUID(contract))
                    calendars[contract] = self.app.calendar_of(found)
                except LedgerError:
                    calendars[contract] = None
            calendar = calendars[contract]
            if calendar is not None and not calendar.is_covered(now):
                held[message.id] = calendar.next_covered(now)
        return held

    def _log(
        self,
        messages: list[Message],
        errors: list[str | None],
        live: list[Message],
        statuses: dict[str, str],
    ) -> None:
        error_of = dict(zip([m.id for m in live], errors, strict=True))
        for message in messages:
            status = statuses.get(message.id)
            if status == outbox.DELIVERED:
                self.delivered += 1
            event = {
                outbox.DELIVERED: "alert_delivered", outbox.PENDING: "alert_delivery_retry",
                outbox.FAILED: "alert_delivery_failed", outbox.CANCELLED: "alert_cancelled",
                outbox.HELD: "alert_held_for_quiet_hours",
            }.get(status or "", "alert_settled_elsewhere")  # fmt: skip
            emit = log.warning if status in (outbox.PENDING, outbox.FAILED) else log.info
            emit(
                event, message_id=message.id, kind=message.kind, channel=message.channel,
                attempts=message.attempts + 1, error=error_of.get(message.id),
            )  # fmt: skip

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
