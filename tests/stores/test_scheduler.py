"""The scheduler on a fake clock, on SQLite and PostgreSQL: on time, once, in due order."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from ledger.application import SupportLedger
from ledger.scheduler.clock import FakeClock
from ledger.scheduler.service import Scheduler, catch_up
from tests.scenario import World, at

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ledger.settings import DatabaseSettings


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(at(3, 3, 8))


@pytest.fixture
def scheduler(
    app: SupportLedger, store_settings: DatabaseSettings, clock: FakeClock
) -> Iterator[Scheduler]:
    service = Scheduler(app, store_settings, clock=clock)
    yield service
    service.close()


NOTICES = ("lots_expiring", "term_ending")  # alert notices (issue 16), told on their own days


def open_ticket(app: SupportLedger, world: World, key: str, **change: Any) -> Any:
    args = {
        "contract_id": world.premium, "reporter": "ops@acme.example", "version": "24.2.1",
        "platform": "linux", "severity": 1, "at": at(3, 3, 9, 15), "key": key,
    }  # fmt: skip
    return app.open_ticket(**{**args, **change})


def ticket_events(app: SupportLedger, key: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (
            type(e).__name__,
            {
                k: v
                for k, v in vars(e).items()
                if k in {"share", "recorded_at", "late", "warning_at", "due_at"}
            },
        )
        for e in app.list_events(app.ticket_id(key))
    ]


def recorded(app: SupportLedger, key: str) -> list[str]:
    return [
        name
        for name, _ in ticket_events(app, key)
        if name in {"WarningReached", "ResponseDeadlineBreached"}
    ]


def test_warnings_and_the_breach_are_recorded_when_their_instants_come(
    app: SupportLedger, world: World, scheduler: Scheduler, clock: FakeClock
) -> None:
    """Premium sev 1 received 09:15: 50 % at 13:15, 75 % at 15:15, breach after 17:15."""
    open_ticket(app, world, "T-1")
    clock.set(at(3, 3, 13, 14))
    assert scheduler.tick() == []
    clock.set(at(3, 3, 13, 15))
    assert [o.fact.kind for o in scheduler.tick() if o.recorded] == ["warning"]
    clock.set(at(3, 3, 17, 15))
    outcomes = scheduler.tick()
    assert [(o.fact.kind, o.fact.detail) for o in outcomes if o.recorded] == [("warning", "0.75")]
    clock.set(at(3, 3, 17, 15) + timedelta(seconds=1))
    assert [(o.fact.kind, o.fact.detail) for o in scheduler.tick() if o.recorded] == [
        ("breach", "")
    ]
    events = {n: d for n, d in ticket_events(app, "T-1") if n == "ResponseDeadlineBreached"}
    assert events["ResponseDeadlineBreached"]["recorded_at"] == at(3, 3, 17, 15) + timedelta(
        seconds=1
    )
    assert events["ResponseDeadlineBreached"]["late"] is False
    assert scheduler.tick() == []  # nothing twice
    assert recorded(app, "T-1") == ["WarningReached", "WarningReached", "ResponseDeadlineBreached"]


def test_a_response_before_the_deadline_means_no_breach_is_ever_recorded(
    app: SupportLedger, world: World, scheduler: Scheduler, clock: FakeClock
) -> None:
    """A deadline that no longer applies never fires."""
    open_ticket(app, world, "T-1")
    clock.set(at(3, 3, 13, 30))
    scheduler.tick()
    app.record_first_response("T-1", at=at(3, 3, 14))
    clock.set(at(3, 3, 20))
    assert [o for o in scheduler.tick() if o.recorded] == []
    assert recorded(app, "T-1") == ["WarningReached"]


def test_a_scheduler_down_for_hours_records_every_missed_fact_in_due_order_marked_late(
    app: SupportLedger, world: World, scheduler: Scheduler, clock: FakeClock
) -> None:
    """On start after a long downtime, facts come in due order, each marked late with its delay."""
    open_ticket(app, world, "T-1")
    open_ticket(app, world, "T-2", severity=2, at=at(3, 3, 9, 30))  # 12 h: due Tue 11:30
    clock.set(at(3, 4, 18))
    outcomes = [o for o in scheduler.tick() if o.recorded]
    assert [(o.fact.kind, o.fact.due_at) for o in outcomes] == sorted(
        (o.fact.kind, o.fact.due_at) for o in outcomes
    ) or [o.fact.due_at for o in outcomes] == sorted(o.fact.due_at for o in outcomes)
    assert [o.fact.due_at for o in outcomes] == sorted(o.fact.due_at for o in outcomes)
    assert len(outcomes) == 6
    assert all(o.late for o in outcomes)
    breach = next(d for n, d in ticket_events(app, "T-2") if n == "ResponseDeadlineBreached")
    assert breach["due_at"] == at(3, 4, 11, 30)
    assert breach["recorded_at"] - breach["due_at"] > timedelta(hours=6)


def test_new_and_changed_deadlines_are_taken_up_at_the_next_tick(
    app: SupportLedger, world: World, scheduler: Scheduler, clock: FakeClock
) -> None:
    """A severity change moves the breach; the scheduler follows the new instant."""
    open_ticket(app, world, "T-1", severity=3)  # 24 h: due Wed 11:15
    scheduler.tick()
    assert scheduler.next_due() == at(3, 4, 11, 15)  # 50 % = 12 h: Mon 8.75 h + Tue 3.25 h
    app.change_severity("T-1", severity=1, at=at(3, 3, 10))
    clock.set(at(3, 3, 10, 1))
    scheduler.tick()
    assert scheduler.next_due() == at(3, 3, 13, 15)


def test_two_schedulers_record_each_fact_once(
    app: SupportLedger, world: World, store_settings: DatabaseSettings, clock: FakeClock
) -> None:
    """Only the leader records; the other stands by, then leads when the first resigns."""
    open_ticket(app, world, "T-1")
    first = Scheduler(app, store_settings, clock=clock)
    second = Scheduler(SupportLedger(settings=store_settings), store_settings, clock=clock)
    try:
        clock.set(at(3, 3, 13, 15))
        assert first.tick()
        assert second.tick() == []
        assert not second.leading
        first.resign()
        clock.set(at(3, 3, 15, 15))
        assert [o.fact.detail for o in second.tick() if o.recorded] == ["0.75"]
        assert second.leading
    finally:
        first.close()
        second.close()
        second.app.close()
    assert recorded(app, "T-1") == ["WarningReached", "WarningReached"]


def test_facts_recorded_by_two_schedulers_at_once_still_count_once(
    app: SupportLedger, world: World, store_settings: DatabaseSettings, clock: FakeClock
) -> None:
    """Even two leaders at once (a lease taken over at its edge) record nothing twice."""
    for n in range(6):
        open_ticket(app, world, f"T-{n}", at=at(3, 3, 9) + timedelta(minutes=n))
    apps = [SupportLedger(settings=store_settings) for _ in range(2)]
    schedulers = [
        Scheduler(a, store_settings, clock=clock, owner=f"s{i}") for i, a in enumerate(apps)
    ]
    clock.set(at(3, 3, 18))
    results: list[list[Any]] = [[], []]
    for s in schedulers:
        s.try_lead = lambda: True  # type: ignore[method-assign]  # both believe they lead

    def run(i: int) -> None:
        results[i] = schedulers[i].tick()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s, a in zip(schedulers, apps, strict=True):
        s.close()
        a.close()
    total = sum(1 for r in results for o in r if o.recorded)
    assert total == 18  # 6 tickets x (2 warnings + 1 breach), each once
    for n in range(6):
        assert recorded(app, f"T-{n}") == [
            "WarningReached",
            "WarningReached",
            "ResponseDeadlineBreached",
        ]


def test_a_breach_recorded_before_a_response_at_the_deadline_is_waived(
    app: SupportLedger, world: World, scheduler: Scheduler, clock: FakeClock
) -> None:
    """Breach recorded first, response at the deadline entered after: met, breach waived."""
    open_ticket(app, world, "A")
    clock.set(at(3, 3, 17, 15) + timedelta(seconds=1))
    assert [o.fact.kind for o in scheduler.tick() if o.recorded][-1] == "breach"
    app.record_first_response("A", at=at(3, 3, 17, 15))
    ticket = app.get_ticket("A")
    assert (ticket.outcome, ticket.breach_recorded, ticket.breach_waived) == ("met", True, True)


def test_a_response_at_the_deadline_before_the_tick_means_no_breach(
    app: SupportLedger, world: World, scheduler: Scheduler, clock: FakeClock
) -> None:
    """Response recorded first, the tick at the same instant: met, and no breach at all."""
    open_ticket(app, world, "B")
    app.record_first_response("B", at=at(3, 3, 17, 15))
    clock.set(at(3, 3, 17, 15))
    assert [o for o in scheduler.tick() if o.fact.kind == "breach" and o.recorded] == []
    ticket = app.get_ticket("B")
    assert (ticket.outcome, ticket.breach_recorded, ticket.breach_waived) == ("met", False, False)


def test_a_tick_at_the_deadline_records_no_breach_and_the_first_tick_after_does(
    app: SupportLedger, world: World, scheduler: Scheduler, clock: FakeClock
) -> None:
    """At the deadline the response is still in time: the breach is due strictly after it."""
    open_ticket(app, world, "EDGE")
    deadline = at(3, 3, 17, 15)
    clock.set(deadline)
    at_deadline = scheduler.tick()
    assert [o.fact.kind for o in at_deadline if o.recorded] == ["warning", "warning"]
    assert [o for o in at_deadline if o.fact.kind == "breach"] == []
    assert scheduler.status().pending["breach"] == 1
    assert scheduler.next_due() == deadline + timedelta(microseconds=1)
    assert recorded(app, "EDGE") == ["WarningReached", "WarningReached"]
    clock.set(deadline + timedelta(microseconds=1))
    after = [o for o in scheduler.tick() if o.recorded]
    assert [o.fact.kind for o in after] == ["breach"]
    assert after[0].late is False
    breach = dict(ticket_events(app, "EDGE"))["ResponseDeadlineBreached"]
    assert (breach["due_at"], breach["recorded_at"]) == (
        deadline,
        deadline + timedelta(microseconds=1),
    )


def test_a_response_at_the_deadline_after_a_tick_at_the_deadline_means_no_breach(
    app: SupportLedger, world: World, scheduler: Scheduler, clock: FakeClock
) -> None:
    """A tick at the deadline, then the response at that instant: met, nothing to waive."""
    open_ticket(app, world, "EDGE")
    clock.set(at(3, 3, 17, 15))
    scheduler.tick()
    app.record_first_response("EDGE", at=at(3, 3, 17, 15))
    clock.set(at(3, 3, 18))
    assert [o for o in scheduler.tick() if o.recorded] == []
    ticket = app.get_ticket("EDGE")
    assert (ticket.outcome, ticket.breach_recorded, ticket.breach_waived) == ("met", False, False)


@pytest.mark.parametrize(
    "step", [timedelta(minutes=15), timedelta(hours=1), timedelta(hours=7)], ids=str
)
def test_no_tick_dates_a_fact_after_its_own_instant(
    app: SupportLedger, world: World, scheduler: Scheduler, clock: FakeClock, step: timedelta
) -> None:
    """Every fact a tick at T records is due by T and recorded at T, never later."""
    open_ticket(app, world, "T-1")
    open_ticket(app, world, "T-2", severity=2, at=at(3, 3, 9, 30))
    instants: list[datetime] = []
    until = at(3, 5, 18)
    while clock.now() < until:
        clock.set(min(clock.now() + step, until))
        instants.append(clock.now())
        for outcome in scheduler.tick():
            assert outcome.fact.due_at <= clock.now()
            if outcome.fact.kind == "breach":
                assert outcome.fact.due_at < clock.now()
    stamped = [
        d["recorded_at"]
        for key in ("T-1", "T-2")
        for n, d in ticket_events(app, key)
        if n in {"WarningReached", "ResponseDeadlineBreached"}
    ]
    assert len(stamped) == 6
    assert set(stamped) <= set(instants)


def test_a_response_and_a_breach_racing_in_threads_leave_one_outcome(
    app: SupportLedger, world: World, store_settings: DatabaseSettings, clock: FakeClock
) -> None:
    """Whichever commits first, the ticket ends met with at most a waived breach."""
    for n in range(5):
        open_ticket(app, world, f"R-{n}")
    responder = SupportLedger(settings=store_settings)
    service = Scheduler(app, store_settings, clock=clock)
    clock.set(at(3, 3, 17, 15) + timedelta(seconds=1))
    threads = [threading.Thread(target=service.tick)] + [
        threading.Thread(
            target=responder.record_first_response,
            args=(f"R-{n}",),
            kwargs={"at": at(3, 3, 17, 15)},
        )
        for n in range(5)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    service.close()
    responder.close()
    for n in range(5):
        t = app.get_ticket(f"R-{n}")
        assert t.outcome == "met"
        assert t.breach_recorded == t.breach_waived  # a recorded breach is always waived


def test_a_dst_weekend_moves_nothing_but_the_wall_clock(
    app: SupportLedger, world: World, scheduler: Scheduler, clock: FakeClock
) -> None:
    """Received Fri 28 Mar 16:00 CET (Premium sev 2, 12 h): warnings Mon 12:00 and 15:00 CEST."""
    open_ticket(app, world, "DST", severity=2, at=at(3, 28, 16))
    clock.set(at(3, 28, 16))
    outcomes = catch_up(scheduler, at(3, 31, 18, 30), timedelta(minutes=30))
    instants = [(o.fact.kind, o.fact.due_at) for o in outcomes if o.recorded]
    assert instants == [
        ("warning", at(3, 31, 12)),
        ("warning", at(3, 31, 15)),
        ("breach", at(3, 31, 18)),
    ]
    assert instants[0][1] == datetime(2025, 3, 31, 10, tzinfo=UTC)  # CEST is UTC+2


def test_a_deadline_at_the_edge_of_the_christmas_holidays(
    app: SupportLedger, world: World, scheduler: Scheduler, clock: FakeClock
) -> None:
    """Received 24 Dec 16:00 (8 h): nothing on 25 and 26 Dec; due Mon 29 Dec 14:00."""
    open_ticket(app, world, "XMAS", at=at(12, 24, 16))
    clock.set(at(12, 24, 16))
    during = catch_up(scheduler, at(12, 28, 23), timedelta(hours=2))
    assert [o for o in during if o.recorded and o.fact.kind not in NOTICES] == []
    after = catch_up(scheduler, at(12, 29, 14) + timedelta(seconds=1), timedelta(hours=1))
    assert [(o.fact.kind, o.fact.due_at) for o in after if o.recorded] == [
        ("warning", at(12, 29, 10)),
        ("warning", at(12, 29, 12)),
        ("breach", at(12, 29, 14)),
    ]


def test_term_ends_lapse_lots_expire_and_a_renewed_term_is_granted(
    app: SupportLedger, world: World, scheduler: Scheduler, clock: FakeClock
) -> None:
    """At the end of 2025: Advanced renewed (term 2 granted), the others lapse; lots expire."""
    app.renew_contract(world.advanced, at=at(11, 3))
    clock.set(datetime(2026, 1, 1, 9, tzinfo=UTC))
    outcomes = [o for o in scheduler.tick() if o.recorded]
    kinds = sorted(o.fact.kind for o in outcomes)
    assert kinds.count("lapse") == 2
    assert kinds.count("term_grant") == 1
    assert kinds.count("lot_expiry") == 5
    assert app.get_contract(world.premium).status == "lapsed"
    assert app.get_contract(world.advanced).status == "active"
    account = app.get_account(world.advanced)
    assert account.terms[2].granted
    assert account.find_lot("term-1-points") is None  # its expiry recorded, it left the state
    assert account.lot_expired("term-1-points", datetime(2026, 1, 1, 9, tzinfo=UTC))
    assert scheduler.tick() == []


def test_a_purchased_lot_expires_at_its_instant(
    app: SupportLedger, world: World, scheduler: Scheduler, clock: FakeClock
) -> None:
    """A package bought with an expiry is expired by the scheduler, once, with what remained."""
    app.purchase_credits(
        world.basic,
        points=Decimal(20),
        price=Decimal(1),
        key="p",
        at=at(3, 3),
        expires_at=at(3, 10),
    )
    app.consume_credits(world.basic, points=Decimal(5), activity="a", key="c", at=at(3, 4))
    clock.set(at(3, 10, 9))
    outcomes = [o for o in scheduler.tick() if o.recorded]
    assert [(o.fact.kind, o.fact.detail) for o in outcomes] == [("lot_expiry", "purchase-1")]
    expired = [
        e
        for e in app.list_events(app.get_account(world.basic).id)
        if type(e).__name__ == "LotExpired"
    ]
    assert [(e.amount, e.late) for e in expired] == [(Decimal(15), False)]


def test_a_lot_read_ahead_and_then_drawn_on_elsewhere_expires_with_what_remained(
    app: SupportLedger, world: World, clock: FakeClock, store_settings: DatabaseSettings
) -> None:
    """A scheduler process reads an account before its lot falls due; another process then
    consumes from the lot. The expiry is recorded once, with what remained after that."""
    app.purchase_credits(
        world.basic, points=Decimal(20), price=Decimal(1), key="p", at=at(3, 3),
        expires_at=at(3, 10, 9),
    )  # fmt: skip
    scheduling = SupportLedger(settings=store_settings)  # the scheduler's process
    service = Scheduler(scheduling, store_settings, clock=clock)
    try:
        clock.set(at(3, 10, 9) - timedelta(seconds=30))  # the account is read ahead
        assert [o.fact.kind for o in service.tick() if o.recorded] == ["lots_expiring"]
        app.consume_credits(
            world.basic, points=Decimal(5), activity="a", key="c",
            at=at(3, 10, 9) - timedelta(seconds=20),
        )  # fmt: skip
        clock.set(at(3, 10, 9) + timedelta(seconds=1))
        outcomes = [o for o in service.tick() if o.recorded]
    finally:
        service.close()
        scheduling.close()
    assert [(o.fact.kind, o.fact.detail) for o in outcomes] == [("lot_expiry", "purchase-1")]
    expired = [
        e
        for e in app.list_events(app.get_account(world.basic).id)
        if type(e).__name__ == "LotExpired"
    ]
    assert [(e.amount, e.late) for e in expired] == [(Decimal(15), False)]


def test_a_termination_expires_what_remains_of_the_lots_and_leaves_nothing_pending(
    app: SupportLedger, world: World, scheduler: Scheduler, clock: FakeClock
) -> None:
    """The lots of a terminated agreement expire with the termination; the scheduler finds
    nothing more to do for them, not even at the term's end."""
    app.purchase_credits(
        world.advanced, points=Decimal(10), price=Decimal(1), key="p", at=at(3, 3), expires_at=None
    )
    app.consume_credits(world.advanced, points=Decimal(4), activity="a", key="c", at=at(3, 4))
    clock.set(at(3, 5))
    scheduler.tick()  # the deadlines view knows the lots (expiring at the term's end)
    app.terminate_contract(world.advanced, reason="insolvency", at=at(6, 2))
    expired = {
        e.lot_id: (e.amount, e.expires_at, e.late)
        for e in app.list_events(app.get_account(world.advanced).id)
        if type(e).__name__ == "LotExpired"
    }
    assert expired == {
        "purchase-1": (Decimal(10), at(6, 2), False),
        "term-1-points": (Decimal(28), at(6, 2), False),
        "term-1-sessions": (Decimal(2), at(6, 2), False),
    }
    clock.set(datetime(2026, 1, 2, tzinfo=UTC))
    later = [o.fact for o in scheduler.tick() if o.fact.contract_id == world.advanced]
    assert later == []
    assert [o.fact.kind for o in scheduler.tick()] == []  # the others' lots and lapses went by


def test_status_shows_the_leader_and_what_is_pending(
    app: SupportLedger, world: World, scheduler: Scheduler, clock: FakeClock
) -> None:
    """Status names the leading process, counts pending facts and names the next one."""
    open_ticket(app, world, "T-1")
    scheduler.tick()
    state = scheduler.status()
    assert state.leader == scheduler.owner
    assert state.pending["warning"] == 2
    assert state.pending["breach"] == 1
    assert state.next_due is not None
    assert state.next_due.due_at == at(3, 3, 13, 15)
