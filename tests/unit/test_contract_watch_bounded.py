"""A contract's watch keeps the lots and terms it told of only until they end: ten years of
notices leave it holding what may still be told, and a lot or term told of is not told again
while it applies (issue 18: state that does not grow with history)."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from uuid import uuid4

from ledger.domain.contract_watch import ContractWatch
from ledger.domain.values import PlainSnapshot
from tests.conftest import utc

START = utc(2025, 1, 6, 9)


def notices(watch: ContractWatch, years: int) -> None:
    """Three lots a month, each told of 30 days before it expires a year after it was bought,
    and a term's end told of each year, for `years` years."""
    for month in range(12 * years):
        at = START + timedelta(days=30 * month)
        for n in range(3):
            told = watch.tell_lot_expiring(
                lot_id=f"lot-{month}-{n}", points=Decimal(10), expires_at=at + timedelta(days=30),
                due_at=at, at=at, late=False,
            )  # fmt: skip
            assert told
        if month % 12 == 11:
            assert watch.tell_term_ending(
                term_number=month // 12 + 1, ends_at=at + timedelta(days=60), due_at=at, at=at,
                late=False,
            )  # fmt: skip


def test_ten_years_of_notices_leave_only_what_may_still_be_told() -> None:
    watch = ContractWatch.start(contract_id=uuid4(), at=START)
    notices(watch, years=10)

    last = START + timedelta(days=30 * (12 * 10 - 1))
    assert sorted(watch.told) == sorted(
        [f"lot:lot-{12 * 10 - 1}-{n}" for n in range(3)] + ["term:10"]
    )
    assert all(end > last for end in watch.told.values())  # type: ignore[operator]
    snapshot = PlainSnapshot.take(watch)
    assert len(json.dumps(snapshot.state, default=str)) < 2_000
    loaded = snapshot.mutate(None)
    assert isinstance(loaded, ContractWatch)
    assert loaded.told == watch.told


def test_a_lot_or_term_told_of_is_not_told_again_while_it_applies() -> None:
    watch = ContractWatch.start(contract_id=uuid4(), at=START)
    notices(watch, years=1)
    at = START + timedelta(days=30 * 11)
    again = {"points": Decimal(10), "expires_at": at + timedelta(days=30), "due_at": at}
    assert not watch.tell_lot_expiring(lot_id="lot-11-0", at=at, late=False, **again)
    assert not watch.tell_term_ending(
        term_number=1, ends_at=at + timedelta(days=60), due_at=at, at=at, late=False
    )


def test_entries_of_a_snapshot_taken_before_they_kept_their_end_stay() -> None:
    """A watch loaded from an older snapshot holds `True` for what it told of: those stay
    (their ends are unknown) and are still not told again."""
    watch = ContractWatch.start(contract_id=uuid4(), at=START)
    watch.told = {"lot:old": True}
    notices(watch, years=2)
    assert watch.told["lot:old"] is True
    assert not watch.tell_lot_expiring(
        lot_id="old", points=Decimal(1), expires_at=START + timedelta(days=900),
        due_at=START, at=START + timedelta(days=800), late=False,
    )  # fmt: skip
