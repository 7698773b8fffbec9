"""Issue 16's credit facts on each real store: `balance_low` (a threshold per contract, once per
crossing), recorded in the save of the change that crossed it; `lots_expiring` and
`term_ending`, recorded by the scheduler once at their instants; each delivered through the
outbox to a subscribed webhook once; nothing for subscriptions of other kinds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from ledger.alerts import outbox, service
from ledger.alerts.channels import AlertSettings
from ledger.alerts.outbox import AlertOutboxProjection
from ledger.alerts.worker import AlertWorker
from ledger.domain.contract_watch import ContractWatch
from ledger.domain.credit_account import POINTS
from ledger.domain.errors import LedgerError, UnknownAggregateError
from ledger.parsing import format_instant
from ledger.projections.runner import Worker
from ledger.scheduler.clock import FakeClock
from ledger.scheduler.service import Scheduler
from tests.e2e.alert_receivers import Receiver

if TYPE_CHECKING:
    from collections.abc import Iterator
    from uuid import UUID

    from ledger.application import SupportLedger
    from ledger.projections.db import ViewDatabase
    from ledger.settings import DatabaseSettings
    from tests.scenario import World

SETTINGS = AlertSettings(allow_private=True)
NOW = datetime.now(UTC)
MARCH = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def project(settings: DatabaseSettings, app: SupportLedger) -> None:
    outcome = Worker(AlertOutboxProjection, settings, app).run(once=True)
    assert outcome.status == "caught_up", outcome.error


def watch_events(app: SupportLedger, contract: UUID) -> list[tuple[str, Any]]:
    """The watch's events by class name, with the points available they recorded."""
    return [
        (type(e).__name__, getattr(e, "available", None))
        for e in app.list_events(ContractWatch.create_id(contract))
    ]


def available(app: SupportLedger, contract: UUID, at: datetime) -> Decimal:
    return app.get_account(contract).available(POINTS, at)


def consume(app: SupportLedger, contract: UUID, points: str, key: str, at: datetime) -> None:
    app.consume_credits(contract, points=Decimal(points), activity="work", key=key, at=at)


def test_balance_low_is_recorded_once_per_crossing_in_the_save_that_crossed(
    app: SupportLedger, world: World
) -> None:
    """Falling below records it; staying below does not; rising again re-arms it."""
    contract = world.premium
    start = available(app, contract, MARCH)
    threshold = start - Decimal(10)
    result = app.set_alert_threshold(contract, points=threshold, actor="finance", at=MARCH)
    assert (result["recorded"], result["low"], result["crossed"]) == (True, False, None)
    assert result["threshold"] == threshold

    consume(app, contract, "5", "c1", MARCH + timedelta(hours=1))
    assert watch_events(app, contract) == [("Started", None), ("ThresholdSet", None)]
    consume(app, contract, "6", "c2", MARCH + timedelta(hours=2))  # start - 11 < threshold
    consume(app, contract, "1", "c3", MARCH + timedelta(hours=3))  # still below: nothing
    app.purchase_credits(
        contract, points=Decimal(50), price=Decimal(100), key="p1", at=MARCH + timedelta(hours=4)
    )
    consume(app, contract, "50", "c4", MARCH + timedelta(hours=5))  # below again: a new one

    assert watch_events(app, contract) == [
        ("Started", None),
        ("ThresholdSet", None),
        ("BalanceFellLow", start - 11),
        ("BalanceRecovered", start + 38),
        ("BalanceFellLow", start - 12),
    ]
    fell = [e for e in app.list_events(ContractWatch.create_id(contract))
            if isinstance(e, ContractWatch.BalanceFellLow)]  # fmt: skip
    assert [e.cause for e in fell] == ["consumption", "consumption"]
    assert fell[0].recorded_at == MARCH + timedelta(hours=2)
    # The crossing was saved with the consumption that caused it: same transaction.
    account_events = app.list_events(app.get_account(contract).id)
    consumed = [e for e in account_events if type(e).__name__ == "PointsConsumed"]
    assert consumed[1].timestamp <= fell[0].timestamp


def test_a_threshold_above_the_balance_is_a_crossing_at_once_and_the_same_again_is_nothing(
    app: SupportLedger, world: World
) -> None:
    contract = world.advanced
    start = available(app, contract, MARCH)
    first = app.set_alert_threshold(contract, points=start + 1, actor="finance", at=MARCH)
    assert (first["low"], first["crossed"]) == (True, "low")
    again = app.set_alert_threshold(contract, points=start + 1, actor="finance", at=MARCH)
    assert (again["recorded"], again["crossed"]) == (False, None)
    assert [n for n, _ in watch_events(app, contract)] == [
        "Started", "ThresholdSet", "BalanceFellLow",
    ]  # fmt: skip


@pytest.mark.parametrize("points", ["0", "-5", "1.234", "NaN", "2000000000000"])
def test_a_bad_threshold_is_refused_with_a_code_and_records_nothing(
    app: SupportLedger, world: World, points: str
) -> None:
    before = app.recorder.max_notification_id()
    with pytest.raises(LedgerError) as caught:
        app.set_alert_threshold(world.premium, points=Decimal(points), actor="f", at=MARCH)
    assert caught.value.code == "invalid_amount"
    assert "--points" in caught.value.message
    assert app.recorder.max_notification_id() == before


def test_a_threshold_for_an_unknown_contract_is_refused(app: SupportLedger, world: World) -> None:
    before = app.recorder.max_notification_id()
    with pytest.raises(LedgerError) as caught:
        app.set_alert_threshold(
            ContractWatch.create_id(world.premium), points=Decimal(5), actor="f", at=MARCH
        )
    assert caught.value.code == "unknown_contract"
    assert app.recorder.max_notification_id() == before


def test_balance_low_reaches_a_subscribed_webhook_once_and_no_other_kind(
    store_settings: DatabaseSettings, app: SupportLedger, db: ViewDatabase, world: World
) -> None:
    receiver = Receiver()
    url = receiver.start()
    try:
        low = service.subscribe(app, db, kinds=["balance_low"], webhook=url, secret="s" * 20,
                                actor="t", at=NOW, settings=SETTINGS)  # fmt: skip
        other = service.subscribe(app, db, kinds=["breach", "lapsed"], webhook=url,
                                  actor="t", at=NOW, settings=SETTINGS)  # fmt: skip
        advanced = service.subscribe(app, db, kinds=["balance_low"], tier="advanced",
                                     webhook=url, actor="t", at=NOW, settings=SETTINGS)  # fmt: skip
        contract = world.premium
        start = available(app, contract, MARCH)
        app.set_alert_threshold(contract, points=start - 1, actor="finance", at=MARCH)
        consume(app, contract, "2", "c1", MARCH + timedelta(hours=1))
        consume(app, contract, "2", "c2", MARCH + timedelta(hours=2))
        project(store_settings, app)

        [message] = outbox.deliveries(db)
        assert (message["subscription_id"], message["kind"]) == (str(low["id"]), "balance_low")
        assert not {str(other["id"]), str(advanced["id"])} & {
            d["subscription_id"] for d in outbox.deliveries(db)
        }
        worker = AlertWorker(store_settings, app, settings=SETTINGS)
        try:
            assert worker.deliver_due() == 1
            assert worker.deliver_due() == 0
        finally:
            worker.db.close()
        project(store_settings, app)  # nothing new to queue
        [request] = receiver.all()
        body = request.json
        assert body["id"] == message["id"]
        assert (body["kind"], body["customer"], body["tier"]) == (
            "balance_low", "Premium Customer", "premium",
        )  # fmt: skip
        assert (body["threshold"], body["available"]) == (str(start - 1), str(start - 2))
        assert body["cause"] == "consumption"
        assert body["contract_id"] == str(contract)
        assert "Ledger-Signature" in request.headers
    finally:
        receiver.stop()


# -- lots_expiring and term_ending: scheduler facts ------------------------------------------------


@pytest.fixture
def scheduler(app: SupportLedger, store_settings: DatabaseSettings) -> Iterator[Scheduler]:
    service = Scheduler(app, store_settings, clock=FakeClock(datetime(2025, 10, 1, tzinfo=UTC)))
    yield service
    service.close()


def notices(app: SupportLedger, contract: UUID) -> list[tuple[str, str, datetime, bool]]:
    """The watch's notices: (class, lot or term, recorded at, late); none without a watch."""
    try:
        app.list_events(ContractWatch.create_id(contract))
    except UnknownAggregateError:
        return []
    return [
        (type(e).__name__, getattr(e, "lot_id", None) or str(getattr(e, "term_number", "")),
         e.recorded_at, e.late)
        for e in app.list_events(ContractWatch.create_id(contract))
        if isinstance(e, ContractWatch.LotsExpiring | ContractWatch.TermEnding)
    ]  # fmt: skip


def tick_at(scheduler: Scheduler, when: datetime) -> list[Any]:
    scheduler.clock.set(when)  # type: ignore[attr-defined]
    return [o for o in scheduler.tick() if o.recorded]


def test_the_scheduler_records_each_notice_once_at_its_instant_and_not_after_a_renewal(
    app: SupportLedger, world: World, scheduler: Scheduler
) -> None:
    """term_ending 60 days before the term's end unless renewed; lots_expiring 30 days before a
    lot of points expires; each once, at the instant, not late."""
    ends = app.get_contract(world.premium).latest_term.ends_at
    term_notice, lot_notice = ends - timedelta(days=60), ends - timedelta(days=30)
    app.renew_contract(world.advanced, at=datetime(2025, 10, 1, tzinfo=UTC))  # renewal ordered
    assert app.get_account(world.basic).available(POINTS, term_notice) == 0  # no points

    tick_at(scheduler, term_notice - timedelta(microseconds=1))
    assert all(notices(app, c) == [] for c in (world.premium, world.advanced, world.basic))

    recorded = tick_at(scheduler, term_notice)
    assert {(o.fact.kind, o.fact.contract_id) for o in recorded} == {
        ("term_ending", world.premium), ("term_ending", world.basic),
    }  # fmt: skip
    assert notices(app, world.premium) == [("TermEnding", "1", term_notice, False)]
    assert notices(app, world.advanced) == []  # renewed: its term 2 has a notice of its own
    assert tick_at(scheduler, term_notice + timedelta(days=1)) == []

    recorded = tick_at(scheduler, lot_notice)
    assert {(o.fact.kind, o.fact.detail) for o in recorded} == {
        ("lots_expiring", "term-1-points"),
    }  # fmt: skip
    assert {o.fact.contract_id for o in recorded} == {world.premium, world.advanced}
    assert notices(app, world.premium)[-1] == ("LotsExpiring", "term-1-points", lot_notice, False)
    assert [n[0] for n in notices(app, world.basic)] == ["TermEnding"]  # nothing left to expire
    assert tick_at(scheduler, lot_notice + timedelta(days=2)) == []
    fact = next(e for e in app.list_events(ContractWatch.create_id(world.premium))
                if isinstance(e, ContractWatch.LotsExpiring))  # fmt: skip
    assert (fact.expires_at, fact.due_at, fact.points) == (
        ends, lot_notice, app.get_account(world.premium).lots["term-1-points"].remaining,
    )  # fmt: skip


def test_notices_reach_a_subscribed_webhook_once_and_no_other_subscription(
    store_settings: DatabaseSettings,
    app: SupportLedger,
    db: ViewDatabase,
    world: World,
    scheduler: Scheduler,
) -> None:
    receiver = Receiver()
    url = receiver.start()
    try:
        told = service.subscribe(app, db, kinds=["lots_expiring", "term_ending"], tier="premium",
                                 webhook=url, actor="t", at=NOW, settings=SETTINGS)  # fmt: skip
        service.subscribe(app, db, kinds=["breach", "balance_low", "lapsed"], webhook=url,
                          actor="t", at=NOW, settings=SETTINGS)  # fmt: skip
        ends = app.get_contract(world.premium).latest_term.ends_at
        tick_at(scheduler, ends - timedelta(days=30))
        project(store_settings, app)
        queued = outbox.deliveries(db)
        assert {(d["subscription_id"], d["kind"]) for d in queued} == {
            (str(told["id"]), "term_ending"), (str(told["id"]), "lots_expiring"),
        }  # fmt: skip
        worker = AlertWorker(store_settings, app, settings=SETTINGS)
        try:
            assert worker.deliver_due() == 2
            assert worker.deliver_due() == 0
        finally:
            worker.db.close()
        bodies = {r.json["kind"]: r.json for r in receiver.all()}
        assert len(receiver.all()) == 2
        assert bodies["term_ending"]["ends_at"] == format_instant(ends)
        assert bodies["term_ending"]["term_number"] == 1
        assert bodies["lots_expiring"]["lot_id"] == "term-1-points"
        assert bodies["lots_expiring"]["expires_at"] == format_instant(ends)
        assert bodies["lots_expiring"]["customer"] == "Premium Customer"
    finally:
        receiver.stop()


def test_an_expiry_recorded_by_the_scheduler_records_the_crossing_in_the_same_save(
    app: SupportLedger, world: World, scheduler: Scheduler
) -> None:
    """A lot expiring takes the balance below the threshold: BalanceFellLow, cause `expiry`,
    at the expiry's instant, saved with the LotExpired."""
    expires = datetime(2025, 11, 10, 12, tzinfo=UTC)
    app.purchase_credits(world.basic, points=Decimal(20), price=Decimal(1), key="p",
                         at=datetime(2025, 10, 1, tzinfo=UTC), expires_at=expires)  # fmt: skip
    set_at = datetime(2025, 10, 2, tzinfo=UTC)
    app.set_alert_threshold(world.basic, points=Decimal(10), actor="finance", at=set_at)
    tick_at(scheduler, expires - timedelta(seconds=1))  # the notices due before
    recorded = tick_at(scheduler, expires)
    assert ("lot_expiry", "purchase-1") in {(o.fact.kind, o.fact.detail) for o in recorded}
    [fell] = [e for e in app.list_events(ContractWatch.create_id(world.basic))
              if isinstance(e, ContractWatch.BalanceFellLow)]  # fmt: skip
    assert (fell.cause, fell.available, fell.threshold, fell.recorded_at) == (
        "expiry", Decimal(0), Decimal(10), expires,
    )  # fmt: skip
    [expired] = [e for e in app.list_events(app.get_account(world.basic).id)
                 if type(e).__name__ == "LotExpired"]  # fmt: skip
    positions = {
        (n.originator_id, n.originator_version): n.id
        for n in app.recorder.select_notifications(start=1, limit=10_000)
    }
    one_save = sorted(positions[(e.originator_id, e.originator_version)] for e in (expired, fell))
    assert one_save[1] == one_save[0] + 1  # written together, nothing between them
    assert tick_at(scheduler, expires + timedelta(days=1)) == []
