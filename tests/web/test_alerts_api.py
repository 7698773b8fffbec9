"""Alerts over HTTP: the admin subscribes and removes; each role reads its own deliveries; failed
deliveries show on /metrics and /ops and are retried by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from ledger.alerts.outbox import AlertOutboxProjection, RetryPolicy
from ledger.alerts.secrets import read_secret
from ledger.alerts.worker import AlertWorker
from ledger.projections.db import ViewDatabase
from ledger.projections.runner import Worker
from tests.e2e.alert_receivers import Receiver
from tests.scenario import build_world
from tests.web.test_pages import ORIGIN

if TYPE_CHECKING:
    from tests.web.conftest import Api

MONDAY = datetime(2025, 3, 3, 8, 15, tzinfo=UTC)


@pytest.fixture(autouse=True)
def allow_private(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_ALERTS_ALLOW_PRIVATE", "1")


def test_the_admin_subscribes_lists_and_removes_and_the_secret_is_shown_once(
    sqlite_api: Api,
) -> None:
    """201 with the new secret; the list shows its reference only; DELETE removes it."""
    api = sqlite_api
    answer = api.post("admin", "/alerts/subscriptions", {
        "kinds": ["breach", "warning_75"], "tier": "premium",
        "webhook": "http://127.0.0.1:9/hook",
    })  # fmt: skip
    assert answer.status_code == 201, answer.text
    added = answer.json()
    assert added["kinds"] == ["warning_75", "breach"]
    assert added["secret"].startswith("whsec_")
    assert added["subscribed_by"].startswith("token:")

    listed = api.get("auditor", "/alerts/subscriptions").json()
    assert [s["id"] for s in listed] == [added["id"]]
    assert "secret" not in listed[0]
    db = ViewDatabase(api.settings)
    try:
        assert read_secret(db, listed[0]["secret_ref"]) == added["secret"]
    finally:
        db.close()

    removed = api.call("admin", "DELETE", f"/alerts/subscriptions/{added['id']}")
    assert removed.status_code == 200
    assert removed.json()["removed_at"] is not None
    assert api.get("admin", "/alerts/subscriptions").json() == []
    again = api.call("admin", "DELETE", f"/alerts/subscriptions/{added['id']}")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "subscription_removed")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"kinds": ["nonsense"], "email": "a@b.example"}, 400, None),
        ({"kinds": ["breach"]}, 400, "invalid_alert_target"),
        ({"kinds": ["breach"], "email": "a@b.example", "slack": "http://x.example/"}, 400,
         "invalid_alert_target"),
        ({"kinds": ["breach"], "email": "no-at-sign"}, 400, "invalid_alert_target"),
        ({"kinds": ["breach"], "email": "a@b.example", "tier": "gold"}, 400,
         "invalid_alert_target"),
        ({"kinds": ["breach"], "email": "a@b.example", "colour": "red"}, 400, None),
    ],
    ids=["unknown-kind", "no-channel", "two-channels", "bad-address", "unknown-tier",
         "unknown-field"],
)  # fmt: skip
def test_a_bad_subscription_is_refused_with_its_reason_and_records_nothing(
    sqlite_api: Api, body: dict[str, object], status: int, code: str | None
) -> None:
    """A clear error names what was wrong; the log does not move."""
    head = sqlite_api.recorded()
    answer = sqlite_api.post("admin", "/alerts/subscriptions", body)
    assert answer.status_code == status, answer.text
    if code is not None:
        assert answer.json()["error"]["code"] == code
    assert sqlite_api.recorded() == head


def test_unknown_subscriptions_and_deliveries_are_404(sqlite_api: Api) -> None:
    """Removing, testing or retrying what does not exist names what is missing."""
    zero = "00000000-0000-4000-8000-000000000000"
    for method, path, code in [
        ("DELETE", f"/alerts/subscriptions/{zero}", "unknown_subscription"),
        ("POST", f"/alerts/subscriptions/{zero}/test", "unknown_subscription"),
        ("POST", f"/alerts/deliveries/{zero}/retry", "unknown_delivery"),
    ]:
        answer = sqlite_api.call("admin", method, path)
        assert (answer.status_code, answer.json()["error"]["code"]) == (404, code), path


def test_failed_deliveries_show_per_role_on_metrics_and_ops_and_are_retried(
    sqlite_api: Api,
) -> None:
    """A delivery given up is listed for its audience only, counted on /metrics and /ops, and a
    retry by hand sends it again."""
    api = sqlite_api
    world = build_world(api.ledger)
    receiver = Receiver(failing=1)
    url = receiver.start()
    try:
        sub = api.post("admin", "/alerts/subscriptions", {
            "kinds": ["breach"], "webhook": url, "secret": "s" * 24, "audience": "agent",
        }).json()  # fmt: skip
        test = api.post("admin", f"/alerts/subscriptions/{sub['id']}/test")
        assert test.json()["delivered"] is False  # the receiver's first answer is 500
        opened = api.ledger.open_ticket(
            contract_id=world.premium, reporter="ops@acme.example", version="24.2.1",
            platform="linux", at=MONDAY, severity=1, key="P-9",
        )  # fmt: skip
        assert opened.due_at is not None
        api.ledger.record_breach("P-9", at=opened.due_at + timedelta(seconds=1), late=False)
        assert Worker(AlertOutboxProjection, api.settings, api.ledger).run(once=True).error is None
        receiver.failing = 1
        worker = AlertWorker(api.settings, api.ledger,
                             policy=RetryPolicy(base=0, cap=0, give_up=0))  # fmt: skip
        assert worker.deliver_due() == 1

        failed = api.get("agent", "/alerts/deliveries", params={"failed": "true"}).json()
        assert [(d["kind"], d["status"], d["ticket_key"]) for d in failed] == [
            ("breach", "failed", "P-9")
        ]
        assert api.get("finance", "/alerts/deliveries").json() == []
        assert len(api.get("auditor", "/alerts/deliveries").json()) == 1
        metrics = api.client.get("/metrics").text
        assert 'ledger_alert_deliveries{status="failed"} 1.0' in metrics
        api.client.post("/signin", data={"token": api.tokens["agent"], "next": "/ops"},
                        headers={"Origin": ORIGIN}, follow_redirects=False)  # fmt: skip
        assert "Alert deliveries failed: <b>1</b>" in api.client.get("/ops").text

        retried = api.post("admin", f"/alerts/deliveries/{failed[0]['id']}/retry")
        assert retried.json()["status"] == "pending"
        assert worker.deliver_due() == 1
        worker.db.close()
        assert [d["status"] for d in api.get("agent", "/alerts/deliveries").json()] == ["delivered"]
        again = api.post("admin", f"/alerts/deliveries/{failed[0]['id']}/retry")
        assert (again.status_code, again.json()["error"]["code"]) == (
            409, "delivery_not_retryable",
        )  # fmt: skip
    finally:
        receiver.stop()
