"""The unit of work: what a use case decides on is checked at commit; conflicts and refusals
resting on copies run it again; a refusal records nothing."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from eventsourcing.persistence import IntegrityError

from ledger.application import SupportLedger, UnitsOfWork
from ledger.domain.credit_account import POINTS, CreditAccount
from ledger.domain.errors import (
    ConcurrentModificationError,
    ContractStateError,
    InsufficientCreditsError,
)
from tests.scenario import World, at, build_world, recorded

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ledger.application import UnitOfWork
    from ledger.settings import DatabaseSettings


@pytest.fixture
def app(sqlite_settings: DatabaseSettings) -> Iterator[SupportLedger]:
    application = SupportLedger(settings=sqlite_settings)
    yield application
    application.close()


@pytest.fixture
def other(sqlite_settings: DatabaseSettings) -> Iterator[SupportLedger]:
    """A second application on the same store, as another process would have."""
    application = SupportLedger(settings=sqlite_settings)
    yield application
    application.close()


@pytest.fixture
def world(app: SupportLedger) -> World:
    return build_world(app)


def test_a_value_decided_on_and_changed_before_the_commit_is_decided_on_again(
    app: SupportLedger, other: SupportLedger, world: World
) -> None:
    """Another writer changes the contract a use case decided on, between its decision and its
    commit: the commit is refused, and the use case runs again on the contract as changed."""
    seen: list[int] = []
    account_id = CreditAccount.create_id(world.premium)

    def attempt(uow: UnitOfWork) -> int:
        contract = uow.decide_on(world.premium)
        seen.append(contract.version)
        if len(seen) == 1:
            other.add_contact(world.premium, email="new@acme.example", at=at(3, 3, 9))
        account = uow.load_for_write(account_id)
        account.hold_training(key=f"t-{len(seen)}", topic="", minutes=30, at=at(3, 3, 10))
        uow.commit(account)
        return len(contract.contacts_at(at(3, 3, 11)))

    before = app.get_contract(world.premium).version
    assert app.work.run("decide_and_write", attempt) == 3
    assert seen == [before, before + 1]
    sessions = [e for e in app.list_events(account_id) if "TrainingSession" in type(e).__name__]
    assert [e.key for e in sessions] == ["t-2"]  # the refused attempt recorded nothing


def test_a_request_opened_on_a_stale_contract_is_decided_again_on_the_current_one(
    app: SupportLedger, other: SupportLedger, world: World
) -> None:
    """A ticket opened on this process's copy of the contract from before another process named
    the reporter: the decline is refused at commit and the request is opened."""
    app.open_ticket(
        contract_id=world.premium, reporter="ops@acme.example", version="24.2.1",
        platform="linux", severity=2, at=at(3, 3, 9), key="WARM",
    )  # fmt: skip
    other.add_contact(world.premium, email="new@acme.example", at=at(3, 3, 10))
    opening = app.open_ticket(
        contract_id=world.premium, reporter="new@acme.example", version="24.2.1",
        platform="linux", severity=2, at=at(3, 3, 11), key="NEW-1",
    )  # fmt: skip
    assert opening.status == "open"
    assert [type(e).__name__ for e in other.list_events(opening.ticket_id)] == ["Opened"]


def test_a_refusal_resting_on_a_stale_copy_is_checked_again_on_fresh_reads(
    app: SupportLedger, other: SupportLedger, world: World
) -> None:
    """This process's copy of the account is from before another process bought points: a
    consumption the copy cannot cover is checked on a fresh read, and recorded."""
    balance = app.get_account(world.premium).available(POINTS, at(3, 3, 9))
    app.consume_credits(world.premium, points=Decimal(1), activity="x", key="k0", at=at(3, 3, 9))
    other.purchase_credits(
        world.premium, points=Decimal(100), price=Decimal(1000), key="p1", at=at(3, 3, 9, 30)
    )
    result = app.consume_credits(
        world.premium, points=balance + 10, activity="x", key="k1", at=at(3, 3, 10)
    )
    assert result["recorded"]
    assert result["balance"] == balance - 1 + 100 - (balance + 10)


def test_a_refusal_on_fresh_reads_is_reported_once_and_records_nothing(
    app: SupportLedger, world: World
) -> None:
    """A refusal that rests on nothing copied is reported at once; nothing is recorded."""
    runs: list[bool] = []
    before = recorded(app)

    def attempt(uow: UnitOfWork) -> None:
        runs.append(uow.fresh)
        contract = uow.decide_on(world.premium) if uow.fresh else uow.read(world.premium)
        account = uow.load_for_write(CreditAccount.create_id(contract.id))
        account.consume(
            points=Decimal(10_000), activity="x", key="too-much", ticket_id=None, at=at(3, 3, 9)
        )
        uow.commit(account)

    with pytest.raises(InsufficientCreditsError):
        app.work.run("consume", attempt)
    assert recorded(app) == before
    # The account was this process's saved copy: the refusal was checked again on fresh reads.
    assert runs == [False, True]
    with pytest.raises(InsufficientCreditsError):
        app.consume_credits(
            world.premium, points=Decimal(10_000), activity="x", key="k", at=at(3, 3, 9)
        )
    assert recorded(app) == before


def test_a_refused_use_case_leaves_no_pending_change_in_the_next_one(
    app: SupportLedger, world: World
) -> None:
    """A use case that changed an aggregate and then refused: the next use case starts from the
    aggregate as recorded, not as the refused one left it."""
    account_id = CreditAccount.create_id(world.premium)

    def change_then_refuse(uow: UnitOfWork) -> None:
        account = uow.load_for_write(account_id)
        account.hold_training(key="abandoned", topic="", minutes=30, at=at(3, 3, 9))
        raise ContractStateError("refused after the change")

    before = recorded(app)
    with pytest.raises(ContractStateError):
        app.work.run("refuse", change_then_refuse)
    app.hold_training(world.premium, key="kept", at=at(3, 3, 10))
    keys = [getattr(e, "key", None) for e in app.list_events(account_id)]
    assert "abandoned" not in keys
    assert "kept" in keys
    assert recorded(app) == before + 1


def test_writers_that_keep_getting_there_first_make_the_use_case_give_up(
    app: SupportLedger,
) -> None:
    """Every commit refused on a conflict: a bounded number of runs, then a
    ConcurrentModificationError, and nothing recorded."""
    runs: list[int] = []
    work = UnitsOfWork(app, max_attempts=3)

    def attempt(uow: UnitOfWork) -> Any:
        runs.append(uow.attempt)
        raise IntegrityError("another writer got there first")

    with pytest.raises(ConcurrentModificationError, match="gave up after 3 attempts"):
        work.run("always_late", attempt)
    assert runs == [1, 2, 3]


def test_a_unit_of_work_commits_once(app: SupportLedger, world: World) -> None:
    """One save per use case: a second commit in the same unit of work is a programming error."""
    account_id = CreditAccount.create_id(world.premium)

    def attempt(uow: UnitOfWork) -> None:
        account = uow.load_for_write(account_id)
        account.hold_training(key="once", topic="", minutes=30, at=at(3, 3, 9))
        uow.commit(account)
        uow.commit(account)

    before = recorded(app)
    with pytest.raises(RuntimeError, match="commits once"):
        app.work.run("twice", attempt)
    assert recorded(app) == before + 1


def test_conflicts_are_run_again_until_the_deadline_not_a_fixed_count(
    app: SupportLedger,
) -> None:
    """A use case that meets more conflicts than the old fixed count of ten still commits
    while its deadline has not passed."""
    runs: list[int] = []
    work = UnitsOfWork(app, deadline=60.0)

    def attempt(uow: UnitOfWork) -> str:
        runs.append(uow.attempt)
        if uow.attempt <= 15:
            raise IntegrityError("another writer got there first")
        return "committed"

    assert work.run("busy", attempt) == "committed"
    assert runs == list(range(1, 17))


def test_a_use_case_gives_up_with_a_conflict_error_once_its_deadline_passes(
    app: SupportLedger,
) -> None:
    """Conflicts without end: the use case stops at its deadline with a
    ConcurrentModificationError naming the attempts made, and records nothing."""
    runs: list[int] = []
    work = UnitsOfWork(app, deadline=0.2)

    def attempt(uow: UnitOfWork) -> Any:
        runs.append(uow.attempt)
        raise IntegrityError("another writer got there first")

    before = recorded(app)
    with pytest.raises(ConcurrentModificationError, match="gave up after") as raised:
        work.run("always_late", attempt)
    assert len(runs) > 1
    assert f"gave up after {len(runs)} attempts" in str(raised.value)
    assert recorded(app) == before


def test_writers_of_one_aggregate_in_one_process_take_turns_without_conflicts(
    app: SupportLedger, world: World
) -> None:
    """Threads of one process writing the same account never race: each starts from the copy
    the previous one saved, so every use case commits at its first attempt."""
    account_id = CreditAccount.create_id(world.premium)
    attempts: list[int] = []

    def hold(n: int) -> None:
        def attempt(uow: UnitOfWork) -> None:
            attempts.append(uow.attempt)
            account = uow.load_for_write(account_id)
            time.sleep(0.002)  # a slow decision: without turns, others would commit meanwhile
            account.consume(
                points=Decimal("0.5"), activity="turns", key=f"turn-{n}", ticket_id=None,
                at=at(3, 3, 9),
            )  # fmt: skip
            uow.commit(account)

        app.work.run("consume", attempt)

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(hold, range(30)))
    assert attempts == [1] * 30
    keys = {getattr(e, "key", None) for e in app.list_events(account_id)}
    assert {f"turn-{n}" for n in range(30)} <= keys


def test_an_aggregate_loaded_to_write_and_left_unchanged_is_kept_after_the_commit(
    app: SupportLedger, world: World
) -> None:
    """A use case loads two aggregates to write and changes one (the scheduler's balance watch
    that no threshold was crossed on): after the commit both are this process's copies, so
    the next use case reads neither from the store; one changed and not saved is not kept."""
    premium, basic = CreditAccount.create_id(world.premium), CreditAccount.create_id(world.basic)
    app.work.saved.forget([premium, basic, world.advanced])

    def attempt(uow: UnitOfWork) -> None:
        changed = uow.load_for_write(premium)
        uow.load_for_write(basic)
        uow.load_for_write(world.advanced)  # a contract, left as it is
        changed.consume(points=Decimal(1), activity="a", key="kept", ticket_id=None, at=at(3, 4))
        uow.commit(changed)

    app.work.run("test", attempt)

    assert app.work.saved.holds(premium)
    assert app.work.saved.holds(basic)
    assert app.work.saved.holds(world.advanced)

    def change_without_saving(uow: UnitOfWork) -> None:
        account = uow.load_for_write(premium)
        account.consume(points=Decimal(1), activity="a", key="unsaved", ticket_id=None, at=at(3, 4))
        uow.commit(uow.load_for_write(basic))

    app.work.run("test", change_without_saving)

    assert not app.work.saved.holds(premium)
    assert app.work.saved.holds(basic)
