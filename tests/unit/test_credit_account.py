"""The credit account: term grants, purchased lots, consumption by earliest expiry, reversals."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING
from uuid import UUID

import pytest

from ledger.domain.credit_account import CreditAccount
from ledger.domain.errors import (
    AlreadyReversedError,
    IdempotencyConflictError,
    InsufficientCreditsError,
    InsufficientTrainingError,
    InvalidAmountError,
    InvalidInputError,
    LedgerError,
    OutOfOrderError,
    UnknownConsumptionError,
)
from tests.conftest import utc

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

CONTRACT_ID = UUID("5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b")
TICKET_ID = UUID("9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d")
OPENED = utc(2025, 1, 1)
TERM_START = utc(2025, 1, 1)
TERM_END = utc(2026, 1, 1)
MARCH = utc(2025, 3, 1, 9)


def opened() -> CreditAccount:
    """A new account with its Opened event already collected."""
    account = CreditAccount.open(contract_id=CONTRACT_ID, customer="ACME GmbH", at=OPENED)
    account.collect_events()
    return account


def with_term(points: str = "20", sessions: int = 2) -> CreditAccount:
    """An account holding term 1 (2025) with `points` points and `sessions` sessions."""
    account = opened()
    account.grant_term(
        term_number=1,
        points=Decimal(points),
        sessions=sessions,
        starts_at=TERM_START,
        expires_at=TERM_END,
        at=OPENED,
    )
    account.collect_events()
    return account


def buy(
    account: CreditAccount,
    key: str,
    points: str,
    expires_at: datetime | None,
    at: datetime = OPENED,
) -> str:
    """Buy a package for 100.00 EUR and return its lot id."""
    lot_id, _ = account.purchase(
        points=Decimal(points),
        price=Decimal("100.00"),
        currency="EUR",
        key=key,
        expires_at=expires_at,
        at=at,
    )
    return lot_id


def consume(
    account: CreditAccount, points: str, key: str = "c-1", at: datetime = MARCH
) -> tuple[dict[str, object], bool]:
    return account.consume(
        points=Decimal(points), activity="remote session", key=key, ticket_id=TICKET_ID, at=at
    )


def early_and_term() -> CreditAccount:
    """Term 1 with 20 points, a 10-point lot expiring 30 June, and 15 points consumed in March.

    The consumption drew 10 from the early lot and 5 from the term lot.
    """
    account = with_term()
    buy(account, "pack-early", "10", expires_at=utc(2025, 6, 30))
    consume(account, "15", key="c-1")
    account.collect_events()
    return account


# -- opening and term grants -----------------------------------------------------------------


def test_opening_records_the_contract_and_an_empty_account() -> None:
    """An account is opened once per contract, with its deterministic id and no lots."""
    # when
    account = CreditAccount.open(contract_id=CONTRACT_ID, customer="ACME GmbH", at=OPENED)
    # then
    events = account.collect_events()
    assert [type(e) for e in events] == [CreditAccount.Opened]
    assert account.id == CreditAccount.create_id(CONTRACT_ID)
    assert account.contract_id == CONTRACT_ID
    assert account.lots == {}
    assert account.available("points", OPENED) == 0


def test_a_term_grant_records_points_and_sessions_until_the_term_ends() -> None:
    """Granting a term records a points lot and a sessions lot expiring at the term's end."""
    # given
    account = opened()
    # when
    granted = account.grant_term(
        term_number=1,
        points=Decimal(96),
        sessions=9,
        starts_at=TERM_START,
        expires_at=TERM_END,
        at=OPENED,
    )
    # then
    events = account.collect_events()
    assert granted is True
    assert [type(e) for e in events] == [CreditAccount.PointsGranted, CreditAccount.SessionsGranted]
    assert (events[0].lot_id, events[0].points, events[0].expires_at) == (
        "term-1-points",
        Decimal(96),
        TERM_END,
    )
    assert (events[1].lot_id, events[1].sessions) == ("term-1-sessions", 9)
    assert account.available("points", MARCH) == Decimal(96)
    assert account.available("sessions", MARCH) == Decimal(9)


def test_a_term_without_sessions_records_only_points() -> None:
    """A tier without training sessions grants a points lot and no sessions lot."""
    # given
    account = opened()
    # when
    account.grant_term(
        term_number=1,
        points=Decimal(16),
        sessions=0,
        starts_at=TERM_START,
        expires_at=TERM_END,
        at=OPENED,
    )
    # then
    assert [type(e) for e in account.collect_events()] == [CreditAccount.PointsGranted]


def test_a_term_is_granted_only_once() -> None:
    """A second grant of the same term returns False and records nothing."""
    # given
    account = with_term()
    # when
    granted = account.grant_term(
        term_number=1,
        points=Decimal(20),
        sessions=2,
        starts_at=TERM_START,
        expires_at=TERM_END,
        at=MARCH,
    )
    # then
    assert granted is False
    assert account.collect_events() == []
    assert account.available("points", MARCH) == Decimal(20)


def test_term_points_are_usable_only_from_the_term_start() -> None:
    """A term granted in advance cannot be drawn on before it begins."""
    # given
    account = opened()
    account.grant_term(
        term_number=1,
        points=Decimal(20),
        sessions=0,
        starts_at=utc(2025, 2, 1),
        expires_at=utc(2026, 2, 1),
        at=OPENED,
    )
    account.collect_events()
    # when
    with pytest.raises(InsufficientCreditsError):
        consume(account, "5", at=utc(2025, 1, 31, 23, 59))
    # then
    assert account.collect_events() == []
    assert account.available("points", utc(2025, 1, 31, 23, 59)) == 0
    assert account.available("points", utc(2025, 2, 1)) == Decimal(20)


# -- purchases -------------------------------------------------------------------------------


def test_a_purchase_records_a_lot_with_its_price_and_expiry() -> None:
    """A purchase records a new lot, usable from the purchase until its expiry."""
    # given
    account = opened()
    # when
    lot_id, recorded = account.purchase(
        points=Decimal(50),
        price=Decimal("1250.00"),
        currency="EUR",
        key="po-4711",
        expires_at=utc(2025, 12, 31),
        at=MARCH,
    )
    # then
    events = account.collect_events()
    assert (lot_id, recorded) == ("purchase-1", True)
    assert [type(e) for e in events] == [CreditAccount.PackagePurchased]
    assert (events[0].points, events[0].price, events[0].expires_at) == (
        Decimal("50.00"),
        Decimal("1250.00"),
        utc(2025, 12, 31),
    )
    assert account.available("points", MARCH) == Decimal(50)
    assert account.available("points", utc(2025, 12, 31)) == 0


def test_repeating_a_purchase_with_the_same_key_and_content_records_nothing() -> None:
    """The same key with the same points, price and expiry returns the first lot unrecorded."""
    # given
    account = opened()
    buy(account, "po-4711", "50", expires_at=None)
    account.collect_events()
    # when
    result = account.purchase(
        points=Decimal("50.00"),
        price=Decimal("100.00"),
        currency="EUR",
        key="po-4711",
        expires_at=None,
        at=MARCH,
    )
    # then
    assert result == ("purchase-1", False)
    assert account.collect_events() == []
    assert account.available("points", MARCH) == Decimal(50)


@pytest.mark.parametrize(
    ("points", "price", "expires_at"),
    [
        ("60", "100.00", None),
        ("50", "120.00", None),
        ("50", "100.00", utc(2025, 12, 31)),
    ],
    ids=["other-points", "other-price", "other-expiry"],
)
def test_reusing_a_purchase_key_for_different_content_is_a_conflict(
    points: str, price: str, expires_at: datetime | None
) -> None:
    """A purchase key names one purchase; different content under it is refused."""
    # given
    account = opened()
    buy(account, "po-4711", "50", expires_at=None)
    account.collect_events()
    # when
    with pytest.raises(IdempotencyConflictError):
        account.purchase(
            points=Decimal(points),
            price=Decimal(price),
            currency="EUR",
            key="po-4711",
            expires_at=expires_at,
            at=MARCH,
        )
    # then
    assert account.collect_events() == []


@pytest.mark.parametrize(
    "expires_at",
    [MARCH, utc(2025, 2, 28)],
    ids=["at-the-purchase", "before-the-purchase"],
)
def test_a_purchase_must_expire_after_it_is_made(expires_at: datetime) -> None:
    """A package whose expiry is not after the purchase is refused."""
    # given
    account = opened()
    # when
    with pytest.raises(InvalidInputError):
        buy(account, "po-4711", "50", expires_at=expires_at, at=MARCH)
    # then
    assert account.collect_events() == []


# -- consumption -----------------------------------------------------------------------------


def test_consumption_draws_from_the_earliest_expiry_first_and_undated_lots_last() -> None:
    """Points are drawn lot by lot in order of expiry, a lot without expiry last."""
    # given: term 20 (expires 1 Jan 2026), undated 10, 10 expiring 30 June, 5 expiring 30 Sept
    account = with_term()
    buy(account, "pack-undated", "10", expires_at=None)
    buy(account, "pack-june", "10", expires_at=utc(2025, 6, 30))
    buy(account, "pack-september", "5", expires_at=utc(2025, 9, 30))
    account.collect_events()
    # when
    consume(account, "27", key="c-1")
    consume(account, "15", key="c-2")
    # then
    first, second = account.collect_events()
    assert first.draws == [
        {"lot_id": "purchase-2", "amount": Decimal(10)},
        {"lot_id": "purchase-3", "amount": Decimal(5)},
        {"lot_id": "term-1-points", "amount": Decimal(12)},
    ]
    assert second.draws == [
        {"lot_id": "term-1-points", "amount": Decimal(8)},
        {"lot_id": "purchase-1", "amount": Decimal(7)},
    ]
    assert account.available("points", MARCH) == Decimal(3)


def test_consumption_returns_the_recorded_consumption() -> None:
    """A recorded consumption keeps its points, activity, ticket and instant."""
    # given
    account = with_term()
    # when
    consumption, recorded = consume(account, "2.5")
    # then
    assert recorded is True
    assert (consumption["points"], consumption["activity"], consumption["ticket_id"]) == (
        Decimal("2.50"),
        "remote session",
        TICKET_ID,
    )
    assert consumption["consumed_at"] == MARCH
    assert account.available("points", MARCH) == Decimal("17.50")


def test_consumption_never_drives_the_balance_below_zero() -> None:
    """Asking for more than is available is refused with the available balance in the message."""
    # given
    account = with_term(points="20")
    consume(account, "17", key="c-1")
    account.collect_events()
    # when
    with pytest.raises(InsufficientCreditsError) as refused:
        consume(account, "4", key="c-2")
    # then
    assert refused.value.message == "cannot consume 4 points: 3 available"
    assert refused.value.details == {"available": "3.00", "requested": "4.00"}
    assert account.collect_events() == []
    assert account.available("points", MARCH) == Decimal(3)


def test_the_whole_balance_can_be_consumed() -> None:
    """Consuming exactly what is available leaves zero."""
    # given
    account = with_term(points="20")
    # when
    consume(account, "20")
    # then
    assert account.available("points", MARCH) == 0


@pytest.mark.parametrize(
    "at",
    [utc(2025, 6, 30), utc(2025, 7, 1)],
    ids=["at-the-expiry", "after-the-expiry"],
)
def test_an_expired_lot_is_not_usable_before_its_expiry_is_recorded(at: datetime) -> None:
    """A lot with expires_at <= at is unavailable, whether or not LotExpired was recorded."""
    # given
    account = opened()
    buy(account, "pack-june", "10", expires_at=utc(2025, 6, 30))
    account.collect_events()
    # when
    with pytest.raises(InsufficientCreditsError) as refused:
        consume(account, "5", at=at)
    # then
    assert refused.value.message == "cannot consume 5 points: 0 available"
    assert account.collect_events() == []


def test_an_expired_lot_is_skipped_in_favour_of_a_later_one() -> None:
    """Once the early lot has expired, consumption draws from the term lot only."""
    # given
    account = with_term()
    buy(account, "pack-june", "10", expires_at=utc(2025, 6, 30))
    account.collect_events()
    # when
    consume(account, "5", at=utc(2025, 6, 30))
    # then
    (event,) = account.collect_events()
    assert event.draws == [{"lot_id": "term-1-points", "amount": Decimal(5)}]


def test_repeating_a_consumption_with_the_same_key_and_content_records_nothing() -> None:
    """The same key, points, activity and ticket return the first consumption unrecorded."""
    # given
    account = with_term()
    first, _ = consume(account, "5", key="c-1")
    account.collect_events()
    # when
    again, recorded = consume(account, "5.00", key="c-1", at=utc(2025, 3, 2))
    # then
    assert recorded is False
    assert again == first
    assert account.collect_events() == []
    assert account.available("points", MARCH) == Decimal(15)


@pytest.mark.parametrize(
    ("points", "activity", "ticket_id"),
    [
        ("6", "remote session", TICKET_ID),
        ("5", "on-site visit", TICKET_ID),
        ("5", "remote session", None),
    ],
    ids=["other-points", "other-activity", "other-ticket"],
)
def test_reusing_a_consumption_key_for_different_content_is_a_conflict(
    points: str, activity: str, ticket_id: UUID | None
) -> None:
    """A consumption key names one consumption; different content under it is refused."""
    # given
    account = with_term()
    consume(account, "5", key="c-1")
    account.collect_events()
    # when
    with pytest.raises(IdempotencyConflictError):
        account.consume(
            points=Decimal(points), activity=activity, key="c-1", ticket_id=ticket_id, at=MARCH
        )
    # then
    assert account.collect_events() == []
    assert account.available("points", MARCH) == Decimal(15)


# -- reversals -------------------------------------------------------------------------------


def test_a_partial_reversal_returns_points_to_the_lots_last_drawn_first() -> None:
    """Reversing 7 of 15 points (10 early + 5 term) returns 5 to the term lot and 2 to the early."""
    # given
    account = early_and_term()
    # when
    reversal, recorded = account.reverse(
        key="c-1", points=Decimal(7), reason="billed twice", at=utc(2025, 3, 2)
    )
    # then
    (event,) = account.collect_events()
    assert recorded is True
    assert reversal["points"] == Decimal(7)
    assert event.returns == [
        {"lot_id": "term-1-points", "amount": Decimal(5), "expired": False},
        {"lot_id": "purchase-1", "amount": Decimal(2), "expired": False},
    ]
    assert account.lots["term-1-points"]["remaining"] == Decimal(20)
    assert account.lots["purchase-1"]["remaining"] == Decimal(2)
    assert account.available("points", utc(2025, 3, 2)) == Decimal(22)


def test_a_whole_reversal_returns_what_is_left_of_the_consumption() -> None:
    """Without points, a reversal returns all that is left: here 8 to the early lot."""
    # given
    account = early_and_term()
    account.reverse(key="c-1", points=Decimal(7), reason="billed twice", at=utc(2025, 3, 2))
    account.collect_events()
    # when
    reversal, _ = account.reverse(
        key="c-1", points=None, reason="ticket withdrawn", at=utc(2025, 3, 3)
    )
    # then
    (event,) = account.collect_events()
    assert reversal["points"] == Decimal(8)
    assert event.returns == [{"lot_id": "purchase-1", "amount": Decimal(8), "expired": False}]
    assert account.consumptions["c-1"]["reversed"] == Decimal(15)
    assert account.available("points", utc(2025, 3, 3)) == Decimal(30)


@pytest.mark.parametrize("points", [Decimal(7), None], ids=["partial", "whole"])
def test_repeating_a_reversal_with_the_same_points_and_reason_records_nothing(
    points: Decimal | None,
) -> None:
    """A reversal repeated with the same points and reason returns the first one unrecorded."""
    # given
    account = early_and_term()
    first, _ = account.reverse(key="c-1", points=points, reason="billed twice", at=MARCH)
    account.collect_events()
    balance = account.available("points", MARCH)
    # when
    again, recorded = account.reverse(key="c-1", points=points, reason="billed twice", at=MARCH)
    # then
    assert recorded is False
    assert again == first
    assert account.collect_events() == []
    assert account.available("points", MARCH) == balance


def test_reversing_more_than_is_left_is_refused() -> None:
    """A reversal larger than what is left of the consumption is an InvalidAmountError."""
    # given
    account = early_and_term()
    account.reverse(key="c-1", points=Decimal(10), reason="partly wrong", at=MARCH)
    account.collect_events()
    # when
    with pytest.raises(InvalidAmountError) as refused:
        account.reverse(key="c-1", points=Decimal(6), reason="rest wrong", at=MARCH)
    # then
    assert refused.value.message == "cannot reverse 6 points: 5 of the 15 consumed are left"
    assert account.collect_events() == []


@pytest.mark.parametrize(
    ("points", "reason"),
    [(None, "another reason"), (Decimal(1), "another reason"), (Decimal(1), "billed twice")],
    ids=["whole-other-reason", "part-other-reason", "part-same-reason"],
)
def test_reversing_a_fully_reversed_consumption_is_refused(
    points: Decimal | None, reason: str
) -> None:
    """Once every point of a consumption is back, a new reversal is an AlreadyReversedError."""
    # given
    account = early_and_term()
    account.reverse(key="c-1", points=None, reason="billed twice", at=MARCH)
    account.collect_events()
    # when
    with pytest.raises(AlreadyReversedError):
        account.reverse(key="c-1", points=points, reason=reason, at=MARCH)
    # then
    assert account.collect_events() == []


def test_reversing_an_unknown_consumption_is_refused() -> None:
    """A key under which nothing was consumed is an UnknownConsumptionError."""
    # given
    account = early_and_term()
    # when
    with pytest.raises(UnknownConsumptionError):
        account.reverse(key="c-9", points=None, reason="mistake", at=MARCH)
    # then
    assert account.collect_events() == []


def test_points_returned_to_an_expired_lot_expire_at_once() -> None:
    """After the early lot expired, its 10 points come back expired; the term's 5 are usable."""
    # given
    account = early_and_term()
    july = utc(2025, 7, 1)
    # when
    account.reverse(key="c-1", points=None, reason="ticket withdrawn", at=july)
    # then
    (event,) = account.collect_events()
    assert event.returns == [
        {"lot_id": "term-1-points", "amount": Decimal(5), "expired": False},
        {"lot_id": "purchase-1", "amount": Decimal(10), "expired": True},
    ]
    assert account.lots["purchase-1"]["remaining"] == 0
    assert account.lots["purchase-1"]["expired_amount"] == Decimal(10)
    assert account.available("points", july) == Decimal(20)


def test_points_returned_to_a_lot_whose_expiry_was_recorded_expire_at_once() -> None:
    """A return to a lot with a recorded LotExpired is itself expired."""
    # given
    account = early_and_term()
    account.expire_lot(lot_id="purchase-1", at=utc(2025, 6, 30))
    account.collect_events()
    # when
    account.reverse(key="c-1", points=Decimal(6), reason="partly wrong", at=utc(2025, 7, 1))
    # then
    (event,) = account.collect_events()
    assert event.returns == [
        {"lot_id": "term-1-points", "amount": Decimal(5), "expired": False},
        {"lot_id": "purchase-1", "amount": Decimal(1), "expired": True},
    ]
    assert account.available("points", utc(2025, 7, 1)) == Decimal(20)


# -- expiry ----------------------------------------------------------------------------------


def test_a_lot_expires_with_what_remains_of_it_once() -> None:
    """LotExpired records what remains of the lot; a second expiry returns False, unrecorded."""
    # given: 15 of the term's 20 points remain
    account = with_term()
    consume(account, "5")
    account.collect_events()
    # when
    first = account.expire_lot(lot_id="term-1-points", at=TERM_END)
    second = account.expire_lot(lot_id="term-1-points", at=utc(2026, 1, 2))
    # then
    (event,) = account.collect_events()
    assert (first, second) == (True, False)
    assert (event.lot_id, event.unit, event.amount, event.expires_at) == (
        "term-1-points",
        "points",
        Decimal(15),
        TERM_END,
    )
    assert account.lots["term-1-points"]["remaining"] == 0
    assert account.lots["term-1-points"]["expired_amount"] == Decimal(15)
    assert list(account.due_expiries(utc(2026, 1, 2))) == [("term-1-sessions", TERM_END)]


def test_a_lot_cannot_expire_before_its_expiry() -> None:
    """Recording an expiry a moment before the lot's expires_at is refused."""
    # given
    account = with_term()
    # when
    with pytest.raises(InvalidInputError):
        account.expire_lot(lot_id="term-1-points", at=utc(2025, 12, 31, 23, 59, 59))
    # then
    assert account.collect_events() == []
    assert account.available("points", MARCH) == Decimal(20)


def test_a_lot_without_expiry_never_expires() -> None:
    """An undated purchase cannot be expired."""
    # given
    account = opened()
    buy(account, "pack-undated", "10", expires_at=None)
    account.collect_events()
    # when
    with pytest.raises(InvalidInputError):
        account.expire_lot(lot_id="purchase-1", at=utc(2030, 1, 1))
    # then
    assert account.collect_events() == []


# -- training sessions -----------------------------------------------------------------------


def test_a_training_session_draws_one_session() -> None:
    """Holding a session records it and lowers the sessions balance by one."""
    # given
    account = with_term(sessions=2)
    # when
    session, recorded = account.hold_training(
        key="t-1", topic="test automation", minutes=30, at=MARCH
    )
    # then
    (event,) = account.collect_events()
    assert recorded is True
    assert session["topic"] == "test automation"
    assert event.draws == [{"lot_id": "term-1-sessions", "amount": Decimal(1)}]
    assert account.available("sessions", MARCH) == Decimal(1)


def test_a_training_session_with_none_left_is_refused() -> None:
    """Once the sessions are used up, another session is an InsufficientTrainingError."""
    # given
    account = with_term(sessions=1)
    account.hold_training(key="t-1", topic="test automation", minutes=30, at=MARCH)
    account.collect_events()
    # when
    with pytest.raises(InsufficientTrainingError) as refused:
        account.hold_training(key="t-2", topic="reporting", minutes=30, at=MARCH)
    # then
    assert refused.value.message == "no training sessions left: 0 available"
    assert account.collect_events() == []


# -- bad input -------------------------------------------------------------------------------

BAD_POINTS = pytest.mark.parametrize(
    "points",
    [Decimal(0), Decimal(-5), Decimal("0.005"), Decimal("1.125")],
    ids=["zero", "negative", "three-decimals-small", "three-decimals"],
)


@BAD_POINTS
def test_unusable_points_are_refused_for_consumption(points: Decimal) -> None:
    """Zero, negative or sub-hundredth points cannot be consumed."""
    # given
    account = with_term()
    # when
    with pytest.raises(InvalidAmountError):
        account.consume(
            points=points, activity="remote session", key="c-1", ticket_id=None, at=MARCH
        )
    # then
    assert account.collect_events() == []


@BAD_POINTS
def test_unusable_points_are_refused_for_a_purchase(points: Decimal) -> None:
    """Zero, negative or sub-hundredth points cannot be bought."""
    # given
    account = opened()
    # when
    with pytest.raises(InvalidAmountError):
        account.purchase(
            points=points,
            price=Decimal("100.00"),
            currency="EUR",
            key="po-1",
            expires_at=None,
            at=MARCH,
        )
    # then
    assert account.collect_events() == []


@BAD_POINTS
def test_unusable_points_are_refused_for_a_reversal(points: Decimal) -> None:
    """Zero, negative or sub-hundredth points cannot be reversed."""
    # given
    account = early_and_term()
    # when
    with pytest.raises(InvalidAmountError):
        account.reverse(key="c-1", points=points, reason="mistake", at=MARCH)
    # then
    assert account.collect_events() == []


@pytest.mark.parametrize(
    ("key", "activity"),
    [("", "remote session"), ("   ", "remote session"), ("c-1", ""), ("c-1", "  ")],
    ids=["empty-key", "blank-key", "empty-activity", "blank-activity"],
)
def test_a_consumption_needs_a_key_and_an_activity(key: str, activity: str) -> None:
    """Without an idempotency key or an activity, nothing is consumed."""
    # given
    account = with_term()
    # when
    with pytest.raises(InvalidInputError):
        account.consume(points=Decimal(1), activity=activity, key=key, ticket_id=None, at=MARCH)
    # then
    assert account.collect_events() == []


def test_a_purchase_and_a_reversal_need_a_key() -> None:
    """An empty idempotency key is refused for purchases and reversals too."""
    # given
    account = early_and_term()
    # when
    with pytest.raises(InvalidInputError):
        buy(account, "", "10", expires_at=None, at=MARCH)
    with pytest.raises(InvalidInputError):
        account.reverse(key=" ", points=None, reason="mistake", at=MARCH)
    # then
    assert account.collect_events() == []


OUT_OF_ORDER = [
    pytest.param(
        lambda a, at: a.consume(
            points=Decimal(1), activity="remote session", key="c-2", ticket_id=None, at=at
        ),
        id="consume",
    ),
    pytest.param(lambda a, at: buy(a, "po-2", "10", expires_at=None, at=at), id="purchase"),
    pytest.param(
        lambda a, at: a.reverse(key="c-1", points=None, reason="mistake", at=at), id="reverse"
    ),
    pytest.param(
        lambda a, at: a.hold_training(key="t-1", topic="basics", minutes=30, at=at),
        id="hold-training",
    ),
    pytest.param(
        lambda a, at: a.grant_term(
            term_number=2,
            points=Decimal(20),
            sessions=2,
            starts_at=TERM_END,
            expires_at=utc(2027, 1, 1),
            at=at,
        ),
        id="grant-term",
    ),
]


@pytest.mark.parametrize("command", OUT_OF_ORDER)
def test_a_fact_dated_before_the_last_recorded_one_is_refused(
    command: Callable[[CreditAccount, datetime], object],
) -> None:
    """Facts are entered in the order they happened; an earlier instant is an OutOfOrderError."""
    # given: the last recorded fact is the consumption on 1 March
    account = early_and_term()
    # when
    with pytest.raises(OutOfOrderError):
        command(account, utc(2025, 2, 28))
    # then
    assert account.collect_events() == []


def test_every_refusal_is_a_ledger_error_with_a_stable_code() -> None:
    """Refusals carry the codes the CLI and API report."""
    # given
    account = with_term(points="1")
    # when
    with pytest.raises(LedgerError) as refused:
        consume(account, "2")
    # then
    assert refused.value.code == "insufficient_credits"
    assert account.collect_events() == []
