"""Alerts end to end, as real processes: the scheduler records 50 %, 75 % and the breach of a
Premium severity-1 ticket; `ledger alerts run` delivers signed webhooks and e-mails, once each,
through a receiver that fails for a while and a worker killed between send and acknowledgement.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from typing import TYPE_CHECKING, Any

import pytest

from ledger.alerts.channels import verify_signature
from tests.e2e.alert_receivers import Mailbox, Receiver, wait_for
from tests.e2e.cli import LEDGER, run

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ledger.settings import DatabaseSettings

pytestmark = pytest.mark.slow

SECRET = "whsec_test_0123456789abcdef"  # noqa: S105 - a test secret
SIGNED_AT = "2025-01-02T09:00:00Z"
# Monday 3 March 2025, 09:15 Berlin: 8 business hours of Premium severity 1 end at 17:15.
MONDAY = "2025-03-03T08:15:00Z"
TICKS = ("2025-03-03T12:15:01Z", "2025-03-03T14:15:01Z", "2025-03-03T16:15:01Z")
KINDS = "warning_50,warning_75,breach"


def url_of(settings: DatabaseSettings) -> str:
    if settings.backend == "sqlite":
        return f"sqlite:///{settings.path}"
    password = f":{settings.password}" if settings.password else ""
    return (
        f"postgresql://{settings.user}{password}@{settings.host}:{settings.port}/"
        f"{settings.dbname}?schema={settings.schema}"
    )


class Setup:
    """The ledger's environment, a receiver, a mailbox and the worker processes."""

    def __init__(self, settings: DatabaseSettings, receiver: Receiver, mailbox: Mailbox) -> None:
        self.receiver, self.mailbox = receiver, mailbox
        self.hook = receiver.start()
        smtp_port = mailbox.start()
        self.env = {
            "LEDGER_DATABASE_URL": url_of(settings),
            "LEDGER_ALERTS_ALLOW_PRIVATE": "1",
            "LEDGER_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
            "LEDGER_ALERTS_RETRY_BASE": "0.2",
            "LEDGER_ALERTS_CLAIM_LEASE": "2",
        }
        self.workers: list[subprocess.Popen[bytes]] = []

    def ok(self, *args: str) -> Any:
        result = run(*args, "--json", env=self.env)
        assert result.code == 0, result.err
        return result.json

    def start_worker(self) -> subprocess.Popen[bytes]:
        worker = subprocess.Popen(
            [LEDGER, "alerts", "run", "--poll", "0.1"],
            env={**os.environ, "LEDGER_LOG_FORMAT": "json", **self.env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.workers.append(worker)
        return worker

    def close(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
        self.receiver.stop()
        self.mailbox.stop()

    def premium_ticket(self) -> str:
        """Acme Automotive's Premium contract and its severity-1 ticket ACME-17, subscribed to
        before the ticket opens; returns the webhook subscription's id."""
        self.ok("releases", "publish", "24.2.1", "--at", "2024-09-01T10:00:00Z")
        contract = self.ok(
            "contract", "sign", "--customer", "Acme Automotive", "--tier", "premium",
            "--licenses", "2", "--list-price", "10000", "--start", "2025-01-01",
            "--at", SIGNED_AT,
        )["contract_id"]  # fmt: skip
        self.ok("contract", "contacts", "add", contract, "ann@acme.example", "--at", SIGNED_AT)
        hook = self.ok(
            "alerts", "subscribe", "--kinds", KINDS, "--tier", "premium",
            "--webhook", self.hook, "--secret", SECRET,
        )  # fmt: skip
        self.ok("alerts", "subscribe", "--kinds", KINDS, "--email", "ops@vendor.example")
        opened = self.ok(
            "ticket", "open", "--contract", contract, "--reporter", "ann@acme.example",
            "--severity", "1", "--version", "24.2.1", "--platform", "linux",
            "--key", "ACME-17", "--at", MONDAY,
        )  # fmt: skip
        assert opened["due_at"] == "2025-03-03T16:15:00Z"
        return str(hook["id"])

    def tick(self, at: str) -> None:
        self.ok("scheduler", "tick", "--at", at)


@pytest.fixture
def setup(store_settings: DatabaseSettings) -> Iterator[Setup]:
    made = Setup(store_settings, Receiver(failing=2), Mailbox())
    try:
        yield made
    finally:
        made.close()


def test_the_scheduler_facts_reach_the_receiver_and_the_mailbox_once_each_signed(
    setup: Setup,
) -> None:
    """50 %, 75 % and the breach: three signed webhooks (after two 500s) and three mails, with
    two workers running (one sends each message)."""
    subscription = setup.premium_ticket()
    setup.start_worker()
    setup.start_worker()
    for at in TICKS:
        setup.tick(at)

    wait_for(lambda: len(setup.receiver.acknowledged()) >= 3, what="three acknowledged webhooks")
    wait_for(lambda: len(setup.mailbox.received()) >= 3, what="three mails")
    delivered = setup.ok("alerts", "deliveries")
    wait_for(
        lambda: sum(d["status"] == "delivered" for d in setup.ok("alerts", "deliveries")) == 6,
        what="six deliveries acknowledged",
    )

    acknowledged = setup.receiver.acknowledged()
    assert len(acknowledged) == 3
    by_kind = {r.json["kind"]: r.json for r in acknowledged}
    assert sorted(by_kind) == ["breach", "warning_50", "warning_75"]
    assert len({r.json["id"] for r in acknowledged}) == 3
    for request in acknowledged:
        assert verify_signature(SECRET, request.headers["Ledger-Signature"], request.body)
        assert not verify_signature("another-secret-xxxxxx", request.headers["Ledger-Signature"],
                                    request.body)  # fmt: skip
        assert request.headers["Ledger-Delivery"] == request.json["id"]
        assert request.json["ticket_key"] == "ACME-17"
        assert request.json["customer"] == "Acme Automotive"
        assert request.json["subscription_id"] == subscription
        assert request.json["link"].endswith("/api/v1/tickets/ACME-17")
    # The two answered 500 were the first message(s), sent again later under the same id.
    refused = [r for r in setup.receiver.all() if r.status == 500]
    assert len(refused) == 2
    assert {r.json["id"] for r in refused} <= {r.json["id"] for r in acknowledged}
    assert by_kind["breach"]["due_at"] == "2025-03-03T16:15:00Z"
    assert by_kind["breach"]["business_seconds_over"] == 0
    assert by_kind["warning_50"]["business_seconds_left"] == 4 * 3600
    assert by_kind["warning_75"]["business_seconds_left"] == 2 * 3600

    mails = setup.mailbox.received()
    assert sorted(m["Subject"] for m in mails) == sorted([
        "[WARNING 50%] ACME-17 Premium sev 1, Acme Automotive",
        "[WARNING 75%] ACME-17 Premium sev 1, Acme Automotive",
        "[BREACH] ACME-17 Premium sev 1, Acme Automotive",
    ])  # fmt: skip
    for mail in mails:
        assert mail.get_body(("plain",)) is not None
        assert mail.get_body(("html",)) is not None
    assert delivered  # the listing answered while deliveries were going on


def test_a_worker_killed_between_send_and_acknowledgement_never_resends_an_acknowledged_one(
    setup: Setup,
) -> None:
    """SIGKILL after the receiver got a message, before the worker heard 200: the restarted
    worker sends that message again under the same id; acknowledged ones are never sent again."""
    setup.receiver.failing = 0
    setup.premium_ticket()
    setup.receiver.hold = threading.Event()
    worker = setup.start_worker()
    setup.tick(TICKS[0])
    wait_for(lambda: len(setup.receiver.acknowledged()) == 1, what="the first webhook")
    first = setup.receiver.acknowledged()[0].json["id"]
    wait_for(
        lambda: any(d["status"] == "delivered" and d["channel"] == "webhook"
                    for d in setup.ok("alerts", "deliveries")),
        what="the first acknowledgement",
    )  # fmt: skip

    setup.receiver.hold.set()  # the next request is held before it is answered
    setup.tick(TICKS[1])
    wait_for(setup.receiver.holding.is_set, what="the second webhook to arrive")
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    setup.receiver.release.set()
    second = setup.receiver.all()[-1].json["id"]

    setup.start_worker()
    setup.tick(TICKS[2])
    wait_for(
        lambda: sum(d["status"] == "delivered" for d in setup.ok("alerts", "deliveries")) == 6,
        what="every delivery acknowledged",
    )
    ids = [r.json["id"] for r in setup.receiver.all()]
    assert ids.count(first) == 1  # acknowledged before the kill: never sent again
    assert ids.count(second) == 2  # unacknowledged at the kill: sent again, same id
    assert len(set(ids)) == 3
