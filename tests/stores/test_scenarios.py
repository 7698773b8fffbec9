"""The same scenarios on SQLite and on PostgreSQL: what one process records, another reads back."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest
from eventsourcing.application import project_aggregate

from ledger.application import SupportLedger
from ledger.domain.credit_account import CreditAccount
from ledger.domain.errors import InsufficientCreditsError, LedgerError
from ledger.projections.credit_usage import CreditUsageView, reconcile
from ledger.projections.db import ViewDatabase
from ledger.projections.revenue import RevenueView, reconcile_revenue
from ledger.wiring import open_ledger
from tests.scenario import World, at, build_world, recorded
from tests.stores.test_audit_export import project

if TYPE_CHECKING:
    from collections.abc import Iterator
    from uuid import UUID

    from ledger.settings import DatabaseSettings


@pytest.fixture
def app(store_settings: DatabaseSettings) -> Iterator[SupportLedger]:
    application = open_ledger(store_settings)
    yield application
    application.close()


@pytest.fixture
def world(app: SupportLedger) -> World:
    return build_world(app)


@pytest.fixture
def reader(store_settings: DatabaseSettings) -> Iterator[SupportLedger]:
    """A second application on the same store, as another process would have."""
    application = SupportLedger(settings=store_settings)
    yield application
    application.close()


def tied_out(settings: DatabaseSettings, app: SupportLedger) -> None:
    """What finance does at month end, on the scenario's store: the credit statements and the
    revenue of its month and first term agree with the events (`report credits --check`,
    `report revenue --check`), and no statement closes below zero."""
    project(settings, app)
    db = ViewDatabase(settings)
    try:
        for window in ({"period": "2025-03"}, {"term": 1}):
            assert reconcile(app, CreditUsageView(db), **window) == [], window
            assert reconcile_revenue(app, RevenueView(db), **window) == [], window
    finally:
        db.close()


def test_a_week_of_business_reads_back_the_same_from_another_application(
    app: SupportLedger, world: World, reader: SupportLedger, store_settings: DatabaseSettings
) -> None:
    """Tickets, clocks, credits and appointments recorded by one instance are what another reads."""
    app.open_ticket(
        contract_id=world.premium, reporter="ops@acme.example", version="24.2.1", platform="linux",
        severity=1, at=at(3, 3, 14), key="ACME-1",
    )  # fmt: skip
    declined = app.open_ticket(
        contract_id=world.basic, reporter="boss@cobalt.example", version="24.2.1", platform="linux",
        at=at(3, 3, 14), key="COB-1",
    )  # fmt: skip
    app.book_appointment(
        world.premium, starts_at=at(3, 3, 19), ends_at=at(3, 3, 22), at=at(3, 3, 15)
    )
    app.hold_ticket("ACME-1", at=at(3, 4, 8))
    app.resume_ticket("ACME-1", at=at(3, 4, 10))
    app.record_first_response("ACME-1", at=at(3, 4, 10, 30))
    app.consume_credits(
        world.premium,
        points=Decimal("7.5"),
        activity="analysis",
        key="c1",
        ticket="ACME-1",
        at=at(3, 4, 11),
    )
    app.reverse_consumption(
        world.premium, key="c1", points=Decimal("2.5"), reason="goodwill", at=at(3, 4, 12)
    )
    app.purchase_credits(
        world.basic, points=Decimal(20), price=Decimal("1500.00"), key="p1", at=at(3, 5)
    )

    ticket = reader.get_ticket("ACME-1")
    assert ticket.original_due_at == at(3, 4, 12)
    assert ticket.due_at == at(3, 4, 11)  # the 3-hour appointment counted, the 2-hour hold did not
    assert (ticket.responded_at, ticket.outcome) == (at(3, 4, 10, 30), "met")
    assert reader.get_ticket("COB-1").reason == "not_a_named_contact"
    assert declined.declined
    account = reader.get_account(world.premium)
    assert account.available("points", at(3, 5)) == Decimal("59.00")
    assert reader.get_account(world.basic).available("points", at(3, 5)) == Decimal(20)
    contract = reader.get_contract(world.premium)
    assert reader.open_clocks(world.premium) == []
    assert len(contract.active_appointments()) == 1
    assert reader.recorder.max_notification_id() == app.recorder.max_notification_id()
    tied_out(store_settings, app)


def test_snapshots_keep_long_streams_fast_and_exact(
    app: SupportLedger, world: World, reader: SupportLedger
) -> None:
    """A hundred and twenty consumptions read back exactly, from a snapshot fewer than fifty
    events back."""
    app.purchase_credits(
        world.premium, points=Decimal(200), price=Decimal(1), key="big", at=at(2, 1)
    )
    start = at(3, 3)
    for n in range(120):
        app.consume_credits(
            world.premium,
            points=Decimal("1.25"),
            activity="a",
            key=f"k{n}",
            at=start + timedelta(minutes=n),
        )
    account = reader.get_account(world.premium)
    assert account.version > 120
    assert account.available("points", at(4, 1)) == Decimal(264) - Decimal("150.00")
    assert reader.snapshots is not None
    snapshot = next(iter(reader.snapshots.get(account.id, desc=True, limit=1)))
    interval = SupportLedger.snapshotting_intervals[CreditAccount]
    assert account.version - interval < snapshot.originator_version <= account.version
    replayed = project_aggregate(None, reader.events.get(account.id))
    assert vars(replayed) == vars(account)  # from the snapshot == from every event


def test_concurrent_writers_never_overdraw_and_never_lose_a_consumption(
    store_settings: DatabaseSettings, app: SupportLedger, world: World
) -> None:
    """Four writers with their own connections race for 64 points; exactly 64 are consumed."""
    writers = [SupportLedger(settings=store_settings) for _ in range(4)]
    when = datetime.now(UTC)
    app_now = at(3, 3)

    def consume(n: int) -> bool:
        try:
            writers[n % 4].consume_credits(
                world.premium,
                points=Decimal(4),
                activity="race",
                key=f"race-{n}",
                at=app_now + timedelta(microseconds=n),
            )
        except InsufficientCreditsError:
            return False
        return True

    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(consume, range(24)))
    finally:
        for w in writers:
            w.close()
    account = app.get_account(world.premium)
    consumed = [e.key for e in app.list_events(account.id) if type(e).__name__ == "PointsConsumed"]
    assert sum(results) == 16  # 64 points / 4 each
    assert account.available("points", at(3, 4)) == 0
    assert sorted(consumed) == sorted(f"race-{n}" for n, ok in enumerate(results) if ok)
    assert when <= datetime.now(UTC)
    tied_out(store_settings, app)


def test_a_refused_command_records_nothing_in_the_store(app: SupportLedger, world: World) -> None:
    """Refusals leave the notification log as it was."""
    count = recorded(app)
    for attempt in (
        lambda: app.add_contact(world.basic, email="second@cobalt.example", at=at(2, 1)),
        lambda: app.consume_credits(
            world.basic, points=Decimal(1), activity="a", key="x", at=at(2, 1)
        ),
        lambda: app.change_tier(world.basic, tier="basic", at=at(2, 1)),
        lambda: app.book_appointment(
            world.advanced, starts_at=at(3, 8, 10), ends_at=at(3, 8, 12), at=at(3, 1)
        ),
    ):
        with pytest.raises(LedgerError):
            attempt()
    assert recorded(app) == count


def test_history_as_of_an_instant_on_a_real_store(app: SupportLedger, world: World) -> None:
    """A contract read as of its signing has no contacts yet; versions count from one."""
    signed = app.list_events(world.premium)[0].timestamp
    assert app.get_contract(world.premium, as_of=signed).contacts == []
    assert app.get_contract(world.premium, version=2).contacts_at(at(1, 3))[0] == "ops@acme.example"


def test_a_decision_on_a_stale_catalog_copy_is_not_committed(
    app: SupportLedger, world: World, reader: SupportLedger
) -> None:
    """Another process withdraws a release; the next ticket for it is declined, not opened."""
    first = app.open_ticket(
        contract_id=world.premium, reporter="ops@acme.example", version="24.2.1",
        platform="linux", at=at(3, 3, 9), key="T-1",
    )  # fmt: skip
    assert first.status == "open"
    reader.withdraw_release("24.2.1", reason="data loss bug", at=at(3, 3, 10))
    second = app.open_ticket(
        contract_id=world.premium, reporter="ops@acme.example", version="24.2.1",
        platform="linux", at=at(3, 3, 11), key="T-2",
    )  # fmt: skip
    assert (second.status, second.reason) == ("declined", "unsupported_version")
    assert "withdrawn" in (second.message or "")


def test_a_refusal_on_a_stale_account_copy_is_checked_again(
    app: SupportLedger, world: World, reader: SupportLedger
) -> None:
    """Points bought through another process are seen before a consumption is refused."""
    app.consume_credits(world.premium, points=Decimal(60), activity="a", key="k1", at=at(3, 3))
    reader.purchase_credits(
        world.premium, points=Decimal(50), price=Decimal(1), key="p", at=at(3, 3)
    )
    result = app.consume_credits(
        world.premium, points=Decimal(30), activity="b", key="k2", at=at(3, 4)
    )
    assert result["balance"] == Decimal(24)  # 64 - 60 + 50 - 30


def test_a_write_on_a_stale_saved_copy_is_retried_not_lost(
    app: SupportLedger, world: World, reader: SupportLedger
) -> None:
    """Both processes' contacts end up named: the stale copy's save fails and reruns fresh."""
    app.add_contact(world.premium, email="a@acme.example", at=at(3, 3))
    reader.add_contact(world.premium, email="b@acme.example", at=at(3, 3))
    app.add_contact(world.premium, email="c@acme.example", at=at(3, 3))
    contacts = reader.get_contract(world.premium).contacts_at(at(3, 4))
    assert {"a@acme.example", "b@acme.example", "c@acme.example"} <= set(contacts)


def test_a_clock_another_process_changed_is_recomputed_from_its_current_state(
    app: SupportLedger, world: World, reader: SupportLedger
) -> None:
    """A booking decides on every open clock as it stands when the booking commits.

    Here the booking process's copy of the ticket is from before another process raised its
    target: on that copy the window comes after the deadline and nothing would move, but on
    the ticket as recorded the window counts.
    """
    app.open_ticket(
        contract_id=world.premium, reporter="ops@acme.example", version="24.2.1",
        platform="linux", severity=1, at=at(3, 3, 14), key="ACME-1",
    )  # fmt: skip
    assert app.get_ticket("ACME-1").due_at == at(3, 4, 12)  # 8 business hours
    reader.change_severity("ACME-1", severity=3, at=at(3, 3, 15))
    assert reader.get_ticket("ACME-1").due_at == at(3, 5, 18)  # 24 business hours
    moved = app.book_appointment(
        world.premium, starts_at=at(3, 4, 19), ends_at=at(3, 4, 22), at=at(3, 3, 16)
    )
    ticket = reader.get_ticket("ACME-1")
    assert ticket.due_at == at(3, 5, 15)  # the 3 hours of Tuesday night counted
    assert moved == [ticket.id]


def book_while_another_opens(
    app: SupportLedger,
    world: World,
    reader: SupportLedger,
    monkeypatch: pytest.MonkeyPatch,
    opened: dict[str, object],
) -> tuple[list[list[UUID]], list[UUID]]:
    """Open ACME-1 (Premium, due Tuesday 12:00), then book Monday night on the Premium contract
    while `reader` opens a ticket (`opened`: contract, reporter, key) right after the booking's
    first look for the contract's clocks. Returns what each look found and what moved."""
    app.open_ticket(
        contract_id=world.premium, reporter="ops@acme.example", version="24.2.1",
        platform="linux", severity=1, at=at(3, 3, 14), key="ACME-1",
    )  # fmt: skip
    looked = app.unanswered_tickets
    calls: list[list[UUID]] = []

    def look_then_let_another_open(contract_id: UUID) -> tuple[set[UUID], int]:
        found = looked(contract_id)
        calls.append(sorted(found[0]))
        if len(calls) == 1:
            reader.open_ticket(
                version="24.2.1", platform="linux", severity=1, at=at(3, 3, 14, 30), **opened
            )
        return found

    monkeypatch.setattr(app, "unanswered_tickets", look_then_let_another_open)
    moved = app.book_appointment(
        world.premium, starts_at=at(3, 3, 19), ends_at=at(3, 3, 22), at=at(3, 3, 15)
    )
    return calls, moved


def test_a_ticket_opened_while_a_booking_decides_is_recomputed_too(
    app: SupportLedger, world: World, reader: SupportLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process opens a ticket after the booking has looked for the contract's clocks
    and before it commits: the booking's commit is refused and it runs again, finding it."""
    opened = {"contract_id": world.premium, "reporter": "ops@acme.example", "key": "ACME-2"}
    calls, moved = book_while_another_opens(app, world, reader, monkeypatch, opened)
    first, second = reader.get_ticket("ACME-1"), reader.get_ticket("ACME-2")
    assert calls == [[first.id], sorted([first.id, second.id])]
    assert sorted(moved) == sorted([first.id, second.id])
    assert (first.due_at, second.due_at) == (at(3, 4, 9), at(3, 4, 9, 30))


def test_a_ticket_opened_under_another_contract_meanwhile_does_not_hold_a_booking_up(
    app: SupportLedger, world: World, reader: SupportLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the contract's own tickets opened after the booking looked refuse its commit."""
    opened = {
        "contract_id": world.advanced, "reporter": "support@borealis.example", "key": "BOR-1"
    }  # fmt: skip
    calls, moved = book_while_another_opens(app, world, reader, monkeypatch, opened)
    ticket = reader.get_ticket("ACME-1")
    assert calls == [[ticket.id]]  # committed at the first attempt
    assert moved == [ticket.id]
    assert ticket.due_at == at(3, 4, 9)
    assert reader.get_ticket("BOR-1").status == "open"


def test_a_ticket_opened_on_a_contract_copy_from_before_a_booking_counts_the_booking(
    app: SupportLedger, world: World, reader: SupportLedger
) -> None:
    """The opening process's copy of the contract is from before another process booked an
    appointment: the ticket's commit is refused and it opens on the contract as booked."""
    app.open_ticket(
        contract_id=world.premium, reporter="ops@acme.example", version="24.2.1",
        platform="linux", severity=1, at=at(3, 3, 9), key="ACME-0",
    )  # fmt: skip
    reader.book_appointment(
        world.premium, starts_at=at(3, 3, 19), ends_at=at(3, 3, 22), at=at(3, 3, 12)
    )
    opening = app.open_ticket(
        contract_id=world.premium, reporter="ops@acme.example", version="24.2.1",
        platform="linux", severity=1, at=at(3, 3, 14), key="ACME-1",
    )  # fmt: skip
    assert opening.due_at == at(3, 4, 9)  # Monday night's three hours counted
    assert reader.get_ticket("ACME-1").calendar_revision == 2


def test_tickets_opened_at_once_under_one_contract_do_not_conflict(
    app: SupportLedger, world: World, reader: SupportLedger
) -> None:
    """Opening a ticket writes the ticket alone: tickets opened by two processes under one
    contract, each on its own copy of it, leave the contract as it was."""
    contract = app.get_contract(world.premium)
    for n, opener in enumerate([app, reader, app, reader]):
        opener.open_ticket(
            contract_id=world.premium, reporter="ops@acme.example", version="24.2.1",
            platform="linux", severity=2, at=at(3, 3, 10 + n), key=f"ACME-{n}",
        )  # fmt: skip
    assert app.get_contract(world.premium).version == contract.version
    assert len(app.open_clocks(world.premium)) == 4


def test_open_clocks_come_from_the_deadlines_view_and_the_log_after_it(
    app: SupportLedger, world: World, store_settings: DatabaseSettings
) -> None:
    """What the deadlines view has applied, then the log after its position: a response on
    either side stops a clock, a declined request and another contract's ticket have none.
    Asking runs no projection: the view stays where its runner left it."""
    from ledger.projections import projections_named  # noqa: PLC0415
    from ledger.projections.runner import run_projections, status  # noqa: PLC0415

    def open_one(
        key: str, contract_id: UUID = world.premium, reporter: str = "ops@acme.example"
    ) -> UUID:
        return app.open_ticket(
            contract_id=contract_id, reporter=reporter, version="24.2.1",
            platform="linux", severity=2, at=at(3, 3, 10), key=key,
        ).ticket_id  # fmt: skip

    open_one("A-1"), open_one("A-2")
    app.record_first_response("A-1", at=at(3, 3, 11))
    open_one("A-declined", reporter="stranger@acme.example")
    assert len(app.open_clocks(world.premium)) == 1  # before the view ever ran: the whole log
    deadlines = projections_named(["deadlines"])
    run_projections(store_settings, app, deadlines, once=True)
    (ran,) = status(store_settings, app, deadlines)
    open_one("A-3")
    running = open_one("A-4")
    app.record_first_response("A-3", at=at(3, 3, 12))
    app.record_first_response("A-2", at=at(3, 3, 12))
    other = open_one("B-1", contract_id=world.advanced, reporter="support@borealis.example")

    assert app.open_clocks(world.premium) == [running]
    assert app.open_clocks(world.advanced) == [other]
    (after,) = status(store_settings, app, deadlines)
    assert after.position == ran.position < after.head
