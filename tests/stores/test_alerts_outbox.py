"""The alert outbox on each real store: which facts reach which subscription, once, with stable
ids; claims, backoff, give-up and manual retry; secrets kept out of the log."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest

from ledger.alerts import outbox, service
from ledger.alerts.channels import AlertSettings
from ledger.alerts.outbox import AlertOutboxProjection, RetryPolicy
from ledger.alerts.secrets import SECRETS_DDL, read_secret
from ledger.alerts.worker import AlertWorker
from ledger.audit.export import export_events, read_export
from ledger.domain.alerts import InvalidAlertTargetError
from ledger.projections.runner import Worker, rebuild
from tests.e2e.alert_receivers import Receiver

if TYPE_CHECKING:
    from ledger.application import SupportLedger
    from ledger.projections.db import ViewDatabase
    from ledger.settings import DatabaseSettings
    from tests.scenario import World

MONDAY = datetime(2025, 3, 3, 8, 15, tzinfo=UTC)  # 09:15 in Berlin
SETTINGS = AlertSettings(allow_private=True)
NOW = datetime.now(UTC)


def subscribe(app: SupportLedger, db: ViewDatabase, **options: Any) -> str:
    options.setdefault("webhook", "http://127.0.0.1:9/hook")
    added = service.subscribe(app, db, actor="test", at=NOW, settings=SETTINGS, **options)
    return str(added["id"])


def breach(app: SupportLedger, contract: Any, key: str, reporter: str) -> None:
    """A severity-1 ticket opened Monday 09:15 Berlin, breached at its deadline."""
    opened = app.open_ticket(
        contract_id=contract, reporter=reporter, version="24.2.1", platform="linux",
        at=MONDAY, severity=1, key=key,
    )  # fmt: skip
    assert opened.due_at is not None, opened.reason
    app.record_breach(key, at=opened.due_at + timedelta(microseconds=1), late=False)


def project(settings: DatabaseSettings, app: SupportLedger) -> None:
    outcome = Worker(AlertOutboxProjection, settings, app).run(once=True)
    assert outcome.status == "caught_up", outcome.error


def messages(db: ViewDatabase) -> set[tuple[str, str, str | None]]:
    return {(d["subscription_id"], d["kind"], d["ticket_key"]) for d in outbox.deliveries(db)}


def test_a_subscription_gets_the_matching_facts_recorded_after_it_and_no_others(
    store_settings: DatabaseSettings, app: SupportLedger, db: ViewDatabase, world: World
) -> None:
    """Tier and customer filters select; a later or removed subscription gets nothing."""
    premium = subscribe(app, db, kinds=["breach"], tier="premium")
    borealis = subscribe(app, db, kinds=["breach"], customer="ADVANCED cust")
    warnings = subscribe(app, db, kinds=["warning_50"])
    removed = subscribe(app, db, kinds=["breach"])
    service.remove(app, db, UUID(removed), actor="test", at=NOW)

    breach(app, world.premium, "P-1", "ops@acme.example")
    breach(app, world.advanced, "A-1", "support@borealis.example")
    later = subscribe(app, db, kinds=["breach"])
    project(store_settings, app)

    assert messages(db) == {(premium, "breach", "P-1"), (borealis, "breach", "A-1")}
    assert not {later, warnings, removed} & {m[0] for m in messages(db)}


def test_message_ids_are_stable_and_a_rebuild_queues_nothing_twice(
    store_settings: DatabaseSettings, app: SupportLedger, db: ViewDatabase, world: World
) -> None:
    """The id is the subscription's and the fact's; rebuilding the view adds no message."""
    sub = subscribe(app, db, kinds=["breach", "breach_waived"])
    breach(app, world.premium, "P-2", "ops@acme.example")
    app.waive_breach("P-2", reason="customer unreachable", actor="lead", at=MONDAY + timedelta(1))
    project(store_settings, app)
    before = {d["id"]: d["kind"] for d in outbox.deliveries(db)}

    rebuild(store_settings, app, AlertOutboxProjection)

    assert sorted(before.values()) == ["breach", "breach_waived"]
    assert {d["id"]: d["kind"] for d in outbox.deliveries(db)} == before
    ticket = app.get_ticket("P-2")
    fact = f"{ticket.id}:3"  # opened (1), breached (2), waived (3)
    assert outbox.message_id(sub, fact) in before


def test_a_failing_receiver_is_retried_then_failed_and_a_manual_retry_sends_once(
    store_settings: DatabaseSettings, app: SupportLedger, db: ViewDatabase, world: World
) -> None:
    """500s back off; past the give-up age the delivery fails; a retry by hand delivers it."""
    receiver = Receiver(failing=3)
    url = receiver.start()
    try:
        subscribe(app, db, kinds=["breach"], webhook=url, secret="s" * 20)
        breach(app, world.premium, "P-3", "ops@acme.example")
        project(store_settings, app)
        worker = AlertWorker(store_settings, app, settings=SETTINGS,
                             policy=RetryPolicy(base=0.0, cap=0.0, give_up=0.0))  # fmt: skip
        try:
            assert worker.deliver_due() == 1
            [failed] = service.list_deliveries(db, failed=True)
            assert failed["status"] == "failed"
            assert failed["attempts"] == 1
            assert failed["last_error"] == "the receiver answered 500"
            assert worker.deliver_due() == 0  # a failed delivery is not claimed again
            assert outbox.counts(db)["failed"] == 1

            service.retry_delivery(db, UUID(failed["id"]), at=datetime.now(UTC))
            receiver.failing = 0
            assert worker.deliver_due() == 1
        finally:
            worker.db.close()
        assert [d["status"] for d in outbox.deliveries(db)] == ["delivered"]
        ids = [r.json["id"] for r in receiver.all()]
        assert ids == [failed["id"], failed["id"]]
        with pytest.raises(outbox.DeliveryNotRetryableError):
            service.retry_delivery(db, UUID(failed["id"]), at=datetime.now(UTC))
        with pytest.raises(outbox.UnknownDeliveryError):
            service.retry_delivery(
                db, UUID("00000000-0000-4000-8000-000000000000"), at=datetime.now(UTC)
            )
    finally:
        receiver.stop()


def test_two_workers_never_hold_the_same_message_until_a_claim_expires(
    store_settings: DatabaseSettings, app: SupportLedger, db: ViewDatabase, world: World
) -> None:
    """A claimed message is not claimed again until its lease runs out."""
    subscribe(app, db, kinds=["breach"])
    subscribe(app, db, kinds=["breach"], tier="premium")
    breach(app, world.premium, "P-4", "ops@acme.example")
    project(store_settings, app)
    now = datetime.now(UTC)

    first = outbox.claim(db, "a", now, limit=1, lease=30)
    second = outbox.claim(db, "b", now, limit=10, lease=30)
    third = outbox.claim(db, "c", now, limit=10, lease=30)
    after_lease = outbox.claim(db, "d", now + timedelta(seconds=31), limit=10, lease=30)

    assert len(first) == len(second) == 1
    assert first[0].id != second[0].id
    assert third == []
    assert {m.id for m in after_lease} == {first[0].id, second[0].id}


def test_retry_delays_grow_exponentially_with_jitter_up_to_the_cap() -> None:
    """Each delay lies in [ceiling / 2, ceiling]; the ceiling doubles and stops at the cap."""
    policy = RetryPolicy(base=10, cap=3600, give_up=86400)
    for attempts, ceiling in [(1, 10), (2, 20), (3, 40), (10, 3600), (40, 3600)]:
        delays = [policy.delay(attempts) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), attempts
        assert len(set(delays)) > 1  # jitter


def test_secrets_stay_out_of_the_event_log_its_export_and_the_logs(
    app: SupportLedger, db: ViewDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    """A webhook secret and a Slack URL are kept in their table; the events hold references;
    no log line shows them."""
    secret = "whsec_do_not_leak_0123456789"  # noqa: S105 - a test secret
    slack_token = "T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX"  # noqa: S105 - same
    hook = subscribe(app, db, kinds=["breach"], secret=secret)
    slack = subscribe(
        app, db, kinds=["breach"], webhook=None, slack=f"http://127.0.0.1:9/services/{slack_token}"
    )
    exported = io.StringIO()
    export_events(app, exported)
    assert len(list(read_export(io.StringIO(exported.getvalue())))) == 3  # readable back
    stored = b"".join(n.state for n in app.recorder.select_notifications(start=1, limit=1000))

    logged = capsys.readouterr()
    for text in (secret, slack_token):
        assert text not in exported.getvalue()
        assert text.encode() not in stored
        assert text not in logged.out + logged.err
    listed = {s["id"]: s for s in service.list_subscriptions(app)}
    assert read_secret(db, listed[UUID(hook)]["secret_ref"]) == secret
    assert listed[UUID(slack)]["target"] == "slack:127.0.0.1"
    assert "secret" not in json.dumps(list(listed.values()), default=str).replace("secret_ref", "")

    service.remove(app, db, UUID(hook), actor="test", at=NOW)
    assert read_secret(db, listed[UUID(hook)]["secret_ref"]) is None


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ({"kinds": ["breach", "nonsense"]}, "unknown_alert_kind"),
        ({"kinds": []}, "unknown_alert_kind"),
        ({"kinds": ["breach"], "tier": "gold"}, "invalid_alert_target"),
        ({"kinds": ["breach"], "webhook": "ftp://example.com/x"}, "invalid_alert_target"),
        ({"kinds": ["breach"], "webhook": "http://u:p@example.com/x"}, "invalid_alert_target"),
        ({"kinds": ["breach"], "email": "not-an-address", "webhook": None}, "invalid_alert_target"),
        ({"kinds": ["breach"], "email": "a@b.example"}, "invalid_alert_target"),
        ({"kinds": ["breach"], "secret": "short"}, "invalid_alert_target"),
    ],
    ids=[
        "unknown-kind",
        "no-kind",
        "unknown-tier",
        "not-http",
        "credentials-in-url",
        "bad-address",
        "two-channels",
        "short-secret",
    ],
)
def test_a_bad_subscription_is_refused_and_records_nothing(
    app: SupportLedger, db: ViewDatabase, options: dict[str, Any], code: str
) -> None:
    """Every bad part names what was wrong; no event and no secret is kept."""
    head = app.recorder.max_notification_id() or 0
    with pytest.raises(Exception) as refused:  # noqa: PT011 - the code is checked below
        subscribe(app, db, **options)
    assert getattr(refused.value, "code", None) == code
    assert (app.recorder.max_notification_id() or 0) == head
    db.create([SECRETS_DDL])
    assert db.read("SELECT COUNT(*) FROM alert_secrets")[0][0] == 0


def test_private_addresses_are_refused_unless_allowed(app: SupportLedger, db: ViewDatabase) -> None:
    """Loopback and private webhook targets need LEDGER_ALERTS_ALLOW_PRIVATE=1."""
    closed = AlertSettings(allow_private=False)
    for url in (
        "http://127.0.0.1/x",
        "http://10.1.2.3/x",
        "http://[::1]/x",
        "http://169.254.169.254/",
    ):
        with pytest.raises(InvalidAlertTargetError, match="private, loopback or reserved"):
            service.subscribe(app, db, kinds=["breach"], webhook=url, actor="t", at=NOW,
                              settings=closed)  # fmt: skip
    assert service.list_subscriptions(app) == []


def test_each_role_reads_the_deliveries_of_its_own_subscriptions(
    store_settings: DatabaseSettings, app: SupportLedger, db: ViewDatabase, world: World
) -> None:
    """A subscription's audience decides whose deliveries list shows it."""
    agents = subscribe(app, db, kinds=["breach"], audience="agent")
    finance = subscribe(app, db, kinds=["breach"], audience="finance")
    breach(app, world.basic, "B-1", "it@cobalt.example")
    project(store_settings, app)

    assert {d["subscription_id"] for d in service.list_deliveries(db, audience="agent")} == {agents}
    assert {d["subscription_id"] for d in service.list_deliveries(db, audience="finance")} == {
        finance
    }
    assert len(service.list_deliveries(db)) == 2


def test_quiet_hours_hold_warnings_until_the_contract_is_covered_but_never_a_breach(
    store_settings: DatabaseSettings, app: SupportLedger, db: ViewDatabase, world: World
) -> None:
    """On a Saturday the warning waits for the next covered instant (Monday 08:00 in Berlin);
    the breach goes out at once."""
    receiver = Receiver()
    url = receiver.start()
    try:
        subscribe(app, db, kinds=["warning_50", "breach"], webhook=url, secret="q" * 20,
                  quiet_hours=True)  # fmt: skip
        opened = app.open_ticket(
            contract_id=world.premium, reporter="ops@acme.example", version="24.2.1",
            platform="linux", at=MONDAY, severity=1, key="Q-1",
        )  # fmt: skip
        assert opened.due_at is not None
        app.record_warning("Q-1", share=Decimal("0.5"), at=MONDAY + timedelta(hours=4),
                           late=False)  # fmt: skip
        app.record_breach("Q-1", at=opened.due_at + timedelta(microseconds=1), late=False)
        project(store_settings, app)
        today = datetime.now(UTC)
        saturday = (today + timedelta(days=(5 - today.weekday()) % 7 or 7)).replace(hour=12)
        calendar = app.calendar_of(app.get_contract(world.premium))
        monday = calendar.next_covered(saturday)  # Monday 08:00 in Berlin, unless a holiday
        assert not calendar.is_covered(saturday)
        clock = {"now": saturday}
        worker = AlertWorker(store_settings, app, settings=SETTINGS, clock=lambda: clock["now"])
        try:
            assert worker.deliver_due() == 2
            assert [r.json["kind"] for r in receiver.all()] == ["breach"]
            [held] = [d for d in outbox.deliveries(db) if d["kind"] == "warning_50"]
            assert (held["status"], held["next_at"]) == ("pending", monday)
            assert held["attempts"] == 0
            assert worker.deliver_due() == 0  # nothing due before Monday 08:00

            clock["now"] = monday + timedelta(seconds=1)
            assert worker.deliver_due() == 1
        finally:
            worker.db.close()
        assert [r.json["kind"] for r in receiver.all()] == ["breach", "warning_50"]
    finally:
        receiver.stop()


def test_a_declined_request_is_told_with_its_contracts_tier_and_its_reason(
    store_settings: DatabaseSettings, app: SupportLedger, db: ViewDatabase, world: World
) -> None:
    """ticket_declined reaches a tier-filtered subscription; the body says why."""
    sub = subscribe(app, db, kinds=["ticket_declined"], tier="premium")
    app.open_ticket(
        contract_id=world.premium, reporter="stranger@elsewhere.example", version="24.2.1",
        platform="linux", at=MONDAY, severity=1, key="X-1",
    )  # fmt: skip
    project(store_settings, app)

    [message] = outbox.deliveries(db)
    body = service.payload_of(db, message["id"])
    assert (message["subscription_id"], body["kind"], body["tier"]) == (
        sub, "ticket_declined", "premium",
    )  # fmt: skip
    assert (body["ticket_key"], body["reporter"]) == ("X-1", "stranger@elsewhere.example")
    assert body["reason"] == "not_a_named_contact"


def test_a_lapse_is_told_with_the_contracts_customer_and_tier(
    store_settings: DatabaseSettings, app: SupportLedger, db: ViewDatabase, world: World
) -> None:
    """`lapsed` follows Contract.Lapsed; an e-mail subscription of another tier gets nothing."""
    advanced = subscribe(app, db, kinds=["lapsed"], tier="advanced", webhook=None,
                         email="finance@vendor.example")  # fmt: skip
    subscribe(app, db, kinds=["lapsed"], tier="basic")
    app.lapse_contract(world.advanced, at=datetime(2026, 1, 1, 0, 0, tzinfo=UTC))
    project(store_settings, app)

    [message] = outbox.deliveries(db)
    body = service.payload_of(db, message["id"])
    assert (message["subscription_id"], message["channel"]) == (advanced, "email")
    assert (body["kind"], body["customer"], body["tier"]) == (
        "lapsed", "Advanced Customer", "advanced",
    )  # fmt: skip
    assert body["contract_id"] == str(world.advanced)


def test_a_slack_subscription_gets_text_and_blocks_at_its_kept_url(
    store_settings: DatabaseSettings, app: SupportLedger, db: ViewDatabase, world: World
) -> None:
    """The Slack URL comes from the secrets table; the payload is an incoming-webhook one."""
    receiver = Receiver()
    url = receiver.start()
    try:
        subscribe(app, db, kinds=["breach"], webhook=None, slack=f"{url}/T1/B1/token")
        breach(app, world.premium, "S-1", "ops@acme.example")
        project(store_settings, app)
        worker = AlertWorker(store_settings, app, settings=SETTINGS)
        try:
            assert worker.deliver_due() == 1
        finally:
            worker.db.close()
        [request] = receiver.all()
        assert request.json["text"] == "[BREACH] S-1 Premium sev 1, Premium Customer"
        assert [b["type"] for b in request.json["blocks"]] == ["header", "section"]
        assert request.headers["Ledger-Delivery"] == outbox.deliveries(db)[0]["id"]
    finally:
        receiver.stop()
