"""The aggregates a process keeps between commands stay within a budget in bytes."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from ledger.application import SupportLedger
from ledger.errors import ConfigurationError
from ledger.store import copies
from ledger.store.copies import ReferenceCopies, SavedAggregates, weigh
from tests.scenario import at

if TYPE_CHECKING:
    from collections.abc import Iterator
    from uuid import UUID

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


def test_saved_copies_never_weigh_more_than_their_budget_and_the_oldest_leave_first(
    app: SupportLedger,
) -> None:
    """Kept beyond the budget in bytes, the least recently kept aggregates are dropped."""
    accounts = [account_with_lots(app, f"C{n}", 3) for n in range(6)]
    one = max(weigh(a) for a in accounts)
    saved = SavedAggregates(budget=one * 3 + one // 2)

    saved.put_all(accounts)

    assert saved.held_bytes <= one * 3 + one // 2
    held = [saved.holds(a.id) for a in accounts]
    kept = sum(held)  # three at least (none weighs more than `one`); four if they weigh less
    assert kept in (3, 4)
    assert held == [False] * (6 - kept) + [True] * kept  # the newest, the oldest gone


def test_a_copy_taken_and_put_back_is_the_most_recent_and_the_budget_still_holds(
    app: SupportLedger,
) -> None:
    """Taking removes a copy (its bytes with it); putting it back makes it the newest."""
    *accounts, fourth = [account_with_lots(app, f"C{n}", 3) for n in range(4)]
    one = max(weigh(a) for a in [*accounts, fourth])  # weights differ by a few bytes
    saved = SavedAggregates(budget=one * 3)
    saved.put_all(accounts)

    taken = saved.take(accounts[0].id)
    held = saved.held_bytes
    saved.put_all([taken, fourth])

    assert taken is accounts[0]
    assert held <= one * 2
    assert [saved.holds(a.id) for a in accounts] == [True, False, True]
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
    assert [saved.holds(a.id) for a in accounts] == [False, False, True, True]


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
    """Between weighings a copy's weight is taken to grow with its version, never to shrink."""
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
