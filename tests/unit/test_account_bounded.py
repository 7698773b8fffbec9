"""A credit account's state stays bounded as terms pass: lots whose expiry is recorded and
packages used up leave it, and every rule of consumption, reversal, expiry, purchase and
training still holds (their history stays in the events)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from uuid import UUID

import pytest

from ledger.domain.credit_account import CreditAccount
from ledger.domain.errors import IdempotencyConflictError, InvalidInputError
from ledger.domain.values import PlainSnapshot
from tests.conftest import utc
from tests.unit.test_credit_account import (
    JULY,
    MARCH,
    OPENED,
    TERM_END,
    buy,
    consume,
    record,
    reverse,
    schedule,
    with_term,
)

APRIL = utc(2025, 4, 1, 9)
MAY = utc(2025, 5, 1, 9)


def reloaded(account: CreditAccount) -> CreditAccount:
    """The account as a snapshot of it loads (plain form, upcast), its events collected."""
    account.collect_events()
    loaded = PlainSnapshot.take(account).mutate(None)
    assert isinstance(loaded, CreditAccount)
    assert vars(loaded) == vars(account)
    return loaded


def test_a_package_used_up_leaves_the_lots_and_keeps_its_purchase_record() -> None:
    """Drawing a package to nothing takes it out of the live lots; it is still held, used up."""
    # given: an undated 10-point package, drawn after the term's 20 points
    account = with_term()
    buy(account, "pack", "10", expires_at=None)
    # when
    consume(account, "30")
    # then
    assert set(account.lots) == {"term-1-points", "term-1-sessions"}
    lot = account.find_lot("purchase-1")
    assert lot is not None
    assert (lot.kind, lot.amount, lot.remaining, lot.price) == (
        "purchase", Decimal(10), Decimal(0), Decimal("100.00"),
    )  # fmt: skip
    assert [i for i, _ in account.held_lots()][-1] == "purchase-1"
    assert account.available("points", MARCH) == 0


def test_a_repeated_purchase_of_a_used_up_package_is_the_first_one() -> None:
    """A purchase repeated under its key after its package was used up records nothing; a
    different purchase under that key is refused."""
    # given
    account = with_term()
    buy(account, "pack", "10", expires_at=None)
    consume(account, "30")
    account.collect_events()
    # when
    again = account.purchase(
        points=Decimal(10), price=Decimal("100.00"), currency="EUR", key="pack", expires_at=None,
        at=APRIL,
    )  # fmt: skip
    # then
    assert again == ("purchase-1", False)
    with pytest.raises(IdempotencyConflictError):
        account.purchase(
            points=Decimal(11), price=Decimal("100.00"), currency="EUR", key="pack",
            expires_at=None, at=APRIL,
        )  # fmt: skip
    assert account.collect_events() == []


def test_points_returned_to_a_used_up_package_make_it_usable_again() -> None:
    """A reversal gives a package that left the state its points back, drawn again first
    when it expires first."""
    # given: a package expiring in June (drawn first), used up with 5 term points
    account = with_term()
    buy(account, "pack", "10", expires_at=utc(2025, 6, 30))
    consumption = record(account, "15")
    assert "purchase-1" not in account.lots
    # when
    reversal, _ = reverse(account, consumption, Decimal(8), "booked twice", at=APRIL)
    # then: the 5 term points come back first, then 3 to the package
    assert reversal["returns"] == [
        {"lot_id": "term-1-points", "amount": Decimal(5), "expired": False},
        {"lot_id": "purchase-1", "amount": Decimal(3), "expired": False},
    ]
    assert account.lots["purchase-1"].remaining == Decimal(3)
    assert account.available("points", APRIL) == Decimal(23)
    assert consume(account, "4", key="c-2", at=MAY) == [
        {"lot_id": "purchase-1", "amount": Decimal(3)},
        {"lot_id": "term-1-points", "amount": Decimal(1)},
    ]
    assert "purchase-1" not in reloaded(account).lots


@pytest.mark.parametrize("recorded", [False, True], ids=["expired-by-time", "expiry-recorded"])
def test_points_returned_to_a_used_up_package_that_expired_expire_at_once(recorded: bool) -> None:
    """After a used-up package's expiry (recorded or not yet), points returned to it expire
    at once and nothing usable changes."""
    # given
    account = with_term()
    buy(account, "pack", "10", expires_at=utc(2025, 6, 30))
    consumption = record(account, "15")
    if recorded:
        assert account.expire_lot(lot_id="purchase-1", at=utc(2025, 6, 30))
    # when
    reversal, _ = reverse(account, consumption, None, "withdrawn", at=JULY)
    # then
    assert reversal["returns"][-1] == {
        "lot_id": "purchase-1", "amount": Decimal(10), "expired": True,
    }  # fmt: skip
    assert "purchase-1" not in account.lots
    assert account.available("points", JULY) == Decimal(20)
    assert (account.find_lot("purchase-1") is None) is recorded


def test_a_used_up_package_expires_with_nothing_left_and_leaves_for_good() -> None:
    """The expiry of a used-up package is recorded (0 points) once; its key goes with it."""
    # given
    account = with_term()
    buy(account, "pack", "10", expires_at=utc(2025, 6, 30))
    consume(account, "10")
    account.collect_events()
    # when
    first = account.expire_lot(lot_id="purchase-1", at=utc(2025, 6, 30))
    second = account.expire_lot(lot_id="purchase-1", at=JULY)
    # then
    (expired,) = account.collect_events()
    assert (first, second, expired.amount) == (True, False, Decimal(0))
    assert (account.find_lot("purchase-1"), account.purchases) == (None, {})
    assert list(account.due_expiries(JULY)) == []


def test_a_purchase_repeated_after_its_package_expired_records_nothing() -> None:
    """Once a package's expiry is recorded its key is forgotten: the same request again is
    refused (its expiry has passed), and the next package takes the next number."""
    # given
    account = with_term()
    buy(account, "pack", "10", expires_at=utc(2025, 6, 30))
    account.expire_lot(lot_id="purchase-1", at=utc(2025, 6, 30))
    account.collect_events()
    # when
    with pytest.raises(InvalidInputError) as refused:
        buy(account, "pack", "10", expires_at=utc(2025, 6, 30), at=JULY)
    # then
    assert refused.value.message.startswith("expires: 2025-06-30")
    assert account.collect_events() == []
    assert buy(account, "pack-2", "5", expires_at=None, at=JULY) == "purchase-2"


def test_an_expired_lot_leaves_and_a_lot_never_held_is_still_unknown() -> None:
    """A lot whose expiry is recorded is gone (a second expiry is False); an id the account
    never had is refused."""
    # given
    account = with_term()
    account.expire_lot(lot_id="term-1-points", at=TERM_END)
    account.collect_events()
    # when
    again = account.expire_lot(lot_id="term-1-points", at=TERM_END)
    # then
    assert again is False
    assert "term-1-points" not in account.lots
    for unknown in ("term-2-points", "purchase-1", "upgrade-1-points", "other"):
        with pytest.raises(InvalidInputError, match="no lot"):
            account.expire_lot(lot_id=unknown, at=TERM_END)
    assert account.collect_events() == []


def test_an_upgrade_after_an_expired_upgrade_takes_the_next_number() -> None:
    """Upgrade lots are numbered across terms, whether or not the earlier ones are held."""
    # given: an upgrade in 2025, expired, and term 2 (2026)
    account = with_term()
    account.grant_upgrade(
        term_number=1, points=Decimal(4), sessions=1, expires_at=TERM_END, at=MARCH
    )
    schedule(account, 2, starts_at=TERM_END, ends_at=utc(2027, 1, 1), at=MARCH)
    for lot_id, _ in list(account.due_expiries(TERM_END)):
        account.expire_lot(lot_id=lot_id, at=TERM_END)
    account.collect_events()
    # when
    account.grant_upgrade(
        term_number=2, points=Decimal(2), sessions=0, expires_at=utc(2027, 1, 1),
        at=utc(2026, 3, 1),
    )  # fmt: skip
    # then
    (granted,) = account.collect_events()
    assert granted.lot_id == "upgrade-2-points"
    assert "upgrade-1-points" not in account.lots


def test_a_training_key_is_kept_until_the_sessions_of_its_term_expire() -> None:
    """A training repeated under its key in its term is the first one; once the term's
    sessions expired its key is no longer held."""
    # given
    account = with_term()
    held, _ = account.hold_training(key="t-1", topic="basics", minutes=30, at=MARCH)
    # when
    again, recorded = account.hold_training(key="t-1", topic="basics", minutes=30, at=APRIL)
    # then
    assert (again, recorded) == (held, False)
    with pytest.raises(IdempotencyConflictError):
        account.hold_training(key="t-1", topic="other", minutes=30, at=APRIL)
    account.expire_lot(lot_id="term-1-sessions", at=TERM_END)
    assert account.trainings == {}


def years(count: int) -> CreditAccount:
    """An account renewed every year for `count` years, every expiry recorded at the next
    start: each year 40 points and 3 sessions, a dated and an undated package, 55 points
    consumed (all of them) and two trainings."""
    account = CreditAccount.open(contract_id=UUID(int=1), customer="ACME GmbH", at=OPENED)
    for year in range(count):
        start, end = utc(2025 + year, 1, 1), utc(2026 + year, 1, 1)
        for lot_id, _ in list(account.due_expiries(start)):
            account.expire_lot(lot_id=lot_id, at=start)
        schedule(account, year + 1, points="40", sessions=3, starts_at=start, ends_at=end,
                 at=start)  # fmt: skip
        account.grant_due(at=start)
        buy(account, f"dated-{year}", "10", expires_at=start + timedelta(days=200), at=start)
        buy(account, f"undated-{year}", "5", expires_at=None, at=start)
        for n in range(55):
            consume(account, "1", key=f"c-{year}-{n}", at=start + timedelta(days=1, hours=n))
        for n in range(2):
            account.hold_training(
                key=f"t-{year}-{n}", topic="basics", minutes=30, at=start + timedelta(days=10 + n)
            )
    account.collect_events()
    return account


def test_ten_years_of_terms_hold_the_lots_of_one() -> None:
    """After ten years an account holds what it held after two: the running term's lots and
    its trainings; one term note a year, and one purchase record per undated package (its key
    and what a reversal re-creates) beside the packages not yet expired."""
    # given
    two, ten = years(2), years(10)
    # then
    assert sorted(ten.lots) == ["term-10-points", "term-10-sessions"]
    assert (len(two.lots), len(two.trainings)) == (len(ten.lots), len(ten.trainings)) == (2, 2)
    assert len(ten.terms) == 10
    assert sorted(ten.purchases) == ["dated-9", *(f"undated-{y}" for y in range(10))]
    assert (ten.purchase_count, ten.upgrade_count) == (20, 0)
    assert ten.available("points", utc(2034, 12, 1)) == 0
    assert ten.available("sessions", utc(2034, 12, 1)) == 1
    assert reloaded(ten).lots == ten.lots
