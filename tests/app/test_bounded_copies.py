"""The aggregates a process keeps between commands stay within a budget in bytes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

import pytest

from ledger.application import SupportLedger
from ledger.errors import ConfigurationError
from ledger.store import copies
from ledger.store.copies import ReferenceCopies, SavedAggregates, weigh
from tests.scenario import at

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ledger.domain.credit_account import CreditAccount


@pytest.fixture
def app() -> Iterator[SupportLedger]:
    application = SupportLedger()
    yield application
    application.close()


def sign(app: SupportLedger, customer: str) -> UUID:
    return app.sign_contract(
        customer=customer, tier="basic", licenses=1, license_kind="commercial",
        list_price=Decimal(1000), start=at(3, 2).date(), at=at(3, 2, 9),
    )  # fmt: skip


def account_with_lots(app: SupportLedger, customer: str, lots: int) -> CreditAccount:
    contract = sign(app, customer)
    for n in range(lots):
        app.purchase_credits(
            contract, points=Decimal(1), price=Decimal(1), key=f"{customer}-{n}",
            at=at(3, 3, 9), expires_at=at(3, 3, 9) + timedelta(days=30 + n),
        )  # fmt: skip
    return app.get_account(contract)


def test_saved_copies_never_weigh_more_than_their_budget_and_the_one_just_kept_stays(
    app: SupportLedger,
) -> None:
    """Kept beyond the budget in bytes, other copies are dropped, never the one just kept."""
    accounts = [account_with_lots(app, f"C{n}", 3) for n in range(6)]
    one = max(weigh(a) for a in accounts)
    saved = SavedAggregates(budget=one * 3 + one // 2)

    for account in accounts:
        saved.put_all([account])
        assert saved.holds(account.id)
        assert saved.held_bytes <= one * 3 + one // 2

    assert sum(saved.holds(a.id) for a in accounts) in (3, 4)  # 4 if they weigh less than one


def test_a_copy_taken_is_gone_until_put_back_and_the_budget_still_holds(
    app: SupportLedger,
) -> None:
    """Taking removes a copy (its bytes with it); putting it back keeps it again."""
    *accounts, fourth = [account_with_lots(app, f"C{n}", 3) for n in range(4)]
    one = max(weigh(a) for a in [*accounts, fourth])  # weights differ by a few bytes
    saved = SavedAggregates(budget=one * 3)
    saved.put_all(accounts)

    taken = saved.take(accounts[0].id)
    held = saved.held_bytes
    gone = saved.holds(accounts[0].id)
    saved.put_all([fourth, taken])

    assert taken is accounts[0]
    assert not gone
    assert held <= one * 2
    assert saved.holds(taken.id)
    assert sum(saved.holds(a.id) for a in [*accounts, fourth]) == 3
    assert saved.held_bytes <= one * 3


def test_an_aggregate_heavier_than_the_whole_budget_is_not_kept(app: SupportLedger) -> None:
    """A copy that alone exceeds the budget is not kept (and evicts nothing)."""
    light = account_with_lots(app, "Light", 1)
    heavy = account_with_lots(app, "Heavy", 40)
    references = ReferenceCopies(budget=weigh(light) * 2)
    references.put(light)

    references.put(heavy)

    assert references.get(heavy.id) is None
    assert references.get(light.id) is light


def test_the_count_still_bounds_copies_of_small_aggregates(app: SupportLedger) -> None:
    """However light, no more aggregates are kept than the count allows."""
    accounts = [account_with_lots(app, f"C{n}", 1) for n in range(4)]
    saved = SavedAggregates(size=2)

    saved.put_all(accounts)

    assert len(saved) == 2
    assert saved.holds(accounts[-1].id)


def test_an_account_weighs_more_with_more_lots_and_a_sample_stands_for_all_of_them(
    app: SupportLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The weight grows with the state; weighed from a sample it is within a fifth of the
    weight counted object by object."""
    small = account_with_lots(app, "Small", 2)
    big = account_with_lots(app, "Big", 120)
    sampled = weigh(big)
    monkeypatch.setattr(copies, "SAMPLE", 10**9)
    counted = weigh(big)

    assert weigh(small) * 10 < counted
    assert abs(sampled - counted) <= counted / 5


def test_a_copy_kept_again_a_few_events_later_is_not_weighed_as_lighter(
    app: SupportLedger,
) -> None:
    """Between weighings a copy's weight is never taken to shrink."""
    account = account_with_lots(app, "C", 8)
    saved = SavedAggregates()
    saved.put_all([account])
    before = saved.held_bytes
    taken = saved.take(account.id)
    taken.purchase(
        points=Decimal(1), price=Decimal(1), currency="EUR", key="more",
        expires_at=at(5, 1), at=at(3, 3, 10),
    )  # fmt: skip

    saved.put_all([taken])

    assert saved.held_bytes >= before


def test_a_copy_whose_lots_expire_keeps_its_weight_until_weighed_again_and_then_weighs_less(
    app: SupportLedger,
) -> None:
    """Events that shrink the state (expiries) do not make the copy heavier between weighings
    (they made the scheduler's accounts overflow a budget they fitted in); weighed again
    after a quarter more events, it weighs what it holds."""
    account = account_with_lots(app, "C", 12)
    saved = SavedAggregates()
    saved.put_all([account])
    first = saved.held_bytes
    lots = sorted(account.lots, key=lambda lot_id: account.lots[lot_id].expires_at)

    kept = []
    for lot_id in lots[: account.version // 4 + 2]:  # weighed again at the last
        taken = saved.take(account.id)
        taken.expire_lot(lot_id=lot_id, at=at(6, 1))
        taken.collect_events()
        saved.put_all([taken])
        kept.append(saved.held_bytes)

    assert kept[:-1] == [first] * (len(kept) - 1)
    assert kept[-1] < first


def test_a_copy_that_grew_between_weighings_is_taken_to_go_on_growing(
    app: SupportLedger,
) -> None:
    """Once weighed twice, a copy whose state grew is counted heavier with each new event
    before it is weighed again."""
    account = account_with_lots(app, "C", 8)
    saved = SavedAggregates()
    saved.put_all([account])

    def buy(n: int) -> None:
        taken = saved.take(account.id)
        taken.purchase(
            points=Decimal(1), price=Decimal(1), currency="EUR", key=f"more-{n}",
            expires_at=at(5, 1), at=at(3, 3, 10),
        )  # fmt: skip
        taken.collect_events()
        saved.put_all([taken])

    for n in range(account.version // 4 + 2):  # weighed again at the last
        buy(n)
    weighed = saved.held_bytes
    buy(99)

    assert saved.held_bytes > weighed


@pytest.mark.parametrize("value", ["0", "-5", "lots", "nan", "inf", "2000000"], ids=str)
def test_a_copies_budget_that_is_not_a_positive_number_of_megabytes_is_refused(
    value: str,
) -> None:
    """LEDGER_COPIES_MB is a number of megabytes above 0; anything else is a clear error."""
    with pytest.raises(ConfigurationError, match="LEDGER_COPIES_MB") as info:
        SupportLedger({"LEDGER_COPIES_MB": value})
    assert info.value.code == "invalid_configuration"


def test_the_copies_budget_is_split_between_saved_and_reference_copies() -> None:
    """LEDGER_COPIES_MB is the whole budget: three quarters for the copies a process writes,
    a quarter for those it decides on."""
    app = SupportLedger({"LEDGER_COPIES_MB": "8"})
    try:
        saved, references = app.work.saved, app.work.references
        assert (saved.budget, references.budget) == (6 * 1024 * 1024, 2 * 1024 * 1024)
    finally:
        app.close()


@dataclass
class Piece:
    """An aggregate of a known size, for the eviction's own tests."""

    id: UUID
    version: int
    payload: bytes


def test_a_cycle_of_copies_larger_than_the_budget_still_finds_a_good_share_of_them() -> None:
    """The scheduler visits the accounts falling due in turn: over a cycle one and a half
    times the budget, a good share of the visits still find their copy (a least-recently-used
    store would find none), and the bytes held never exceed the budget."""
    pieces = [Piece(uuid4(), 1, bytes(2000)) for _ in range(60)]
    one = max(weigh(p) for p in pieces)
    saved = SavedAggregates(budget=one * 40)

    hits = visits = 0
    for turn in range(30):
        for piece in pieces:
            found = saved.take(piece.id)
            if turn > 0:
                visits += 1
                hits += found is not None
            saved.put_all([piece])
            assert saved.held_bytes <= saved.budget

    assert hits / visits > 0.25  # about 0.4 expected


def test_a_working_set_within_the_budget_is_never_evicted() -> None:
    """While everything fits, every visit after the first finds its copy."""
    pieces = [Piece(uuid4(), 1, bytes(2000)) for _ in range(30)]
    references = ReferenceCopies(budget=max(weigh(p) for p in pieces) * 31)

    misses = 0
    for _ in range(10):
        for piece in pieces:
            if references.get(piece.id) is None:
                misses += 1
                references.put(piece)

    assert misses == len(pieces)
