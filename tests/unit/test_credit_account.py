"""The credit account and its consumptions: terms, lots, draws by earliest expiry, reversals."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest

from ledger.domain.credit_account import CreditAccount, CreditConsumption
from ledger.domain.errors import (
    AgreementNotValidError,
    AlreadyReversedError,
    IdempotencyConflictError,
    InsufficientCreditsError,
    InsufficientTrainingError,
    InvalidAmountError,
    InvalidInputError,
    LedgerError,
    OutOfOrderError,
)
from ledger.domain.lots import Drawn, ScheduledTerm, Training
from tests.conftest import utc
from tests.unit.aggregate_case import aggregate_case, event, given, refused

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

CONTRACT_ID = UUID("5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b")
OTHER_CONTRACT_ID = UUID("0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e")
TICKET_ID = UUID("9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d")
OPENED = utc(2025, 1, 1)
TERM_START = utc(2025, 1, 1)
TERM_END = utc(2026, 1, 1)
NEXT_TERM_END = utc(2027, 1, 1)
MARCH = utc(2025, 3, 1, 9)
AN_HOUR_BEFORE_MARCH = utc(2025, 3, 1, 8)
A_MINUTE_BEFORE_MARCH = utc(2025, 3, 1, 8, 59)
TERMINATED = utc(2025, 6, 1)
JULY = utc(2025, 7, 1)


# -- given -----------------------------------------------------------------------------------


def opened() -> CreditAccount:
    """A new account without terms, its Opened event already collected."""
    account = CreditAccount.open(contract_id=CONTRACT_ID, customer="ACME GmbH", at=OPENED)
    account.collect_events()
    return account


def schedule(
    account: CreditAccount,
    term_number: int = 1,
    *,
    points: str = "20",
    sessions: int = 2,
    starts_at: datetime = TERM_START,
    ends_at: datetime = TERM_END,
    at: datetime = OPENED,
) -> bool:
    return account.schedule_term(
        term_number=term_number,
        starts_at=starts_at,
        ends_at=ends_at,
        points=Decimal(points),
        sessions=sessions,
        at=at,
    )


def account_history(*commands: Callable[[CreditAccount], object]) -> list[Any]:
    """The events of an account opened on 1 January 2025 and then changed by `commands`."""
    return given(
        lambda: CreditAccount.open(contract_id=CONTRACT_ID, customer="ACME GmbH", at=OPENED),
        *commands,
    )


def noting(term_number: int = 1, **term: Any) -> Callable[[CreditAccount], bool]:
    """Schedule a term (as `schedule`)."""
    return lambda account: schedule(account, term_number, **term)


# Term 1 (2025) scheduled and granted at signing, with 20 points and 2 sessions.
WITH_TERM = (noting(), lambda a: a.grant_term(term_number=1, at=OPENED))


def with_term(points: str = "20", sessions: int = 2) -> CreditAccount:
    """Term 1 (2025) scheduled and granted at signing, with `points` points and `sessions`."""
    account = opened()
    schedule(account, points=points, sessions=sessions)
    account.grant_term(term_number=1, at=OPENED)
    account.collect_events()
    return account


def scheduled(points: str = "20", sessions: int = 2) -> CreditAccount:
    """Term 1 (2025) scheduled but its grant not recorded yet."""
    account = opened()
    schedule(account, points=points, sessions=sessions)
    account.collect_events()
    return account


def starting_in_february() -> CreditAccount:
    """An account opened on 1 January whose first term runs from 1 February 2025."""
    account = opened()
    schedule(account, starts_at=utc(2025, 2, 1), ends_at=utc(2026, 2, 1))
    account.collect_events()
    return account


def with_gap() -> CreditAccount:
    """Term 1 (2025) granted and term 2 scheduled from 1 February 2026: January 2026 is a gap."""
    account = with_term()
    schedule(account, 2, starts_at=utc(2026, 2, 1), ends_at=utc(2027, 2, 1))
    account.collect_events()
    return account


def terminated() -> CreditAccount:
    """Term 1 (2025) with 20 points, the agreement terminated on 1 June 2025."""
    account = with_term()
    account.end_agreement(reason="customer insolvent", at=TERMINATED)
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
) -> list[dict[str, Any]]:
    return account.consume(
        points=Decimal(points), activity="remote session", key=key, ticket_id=TICKET_ID, at=at
    )


def record(
    account: CreditAccount, points: str, key: str = "c-1", at: datetime = MARCH
) -> CreditConsumption:
    """Consume on the account and record the consumption, as the application does."""
    draws = consume(account, points, key=key, at=at)
    return CreditConsumption.record(
        account_id=account.id,
        contract_id=CONTRACT_ID,
        key=key,
        points=Decimal(points),
        activity="remote session",
        ticket_id=TICKET_ID,
        draws=draws,
        at=at,
    )


def reverse(
    account: CreditAccount,
    consumption: CreditConsumption,
    points: Decimal | None,
    reason: str,
    at: datetime,
) -> tuple[dict[str, Any], bool]:
    """Reverse as the application does: the consumption decides, the account takes the returns."""
    reversal, recorded = consumption.reverse(
        points=points, reason=reason, at=at, lot_expired=account.lot_expired
    )
    if recorded:
        account.record_reversal(
            key=consumption.key,
            points=reversal.points,
            reason=reversal.reason,
            returns=[back.as_dict() for back in reversal.returns],
            at=at,
        )
    return reversal.as_dict(), recorded


def early_and_term() -> tuple[CreditAccount, CreditConsumption]:
    """Term 1 with 20 points, a 10-point lot expiring 30 June, and 15 points consumed in March.

    The consumption drew 10 from the early lot (purchase-1) and 5 from the term lot.
    """
    account = with_term()
    buy(account, "pack-early", "10", expires_at=utc(2025, 6, 30))
    consumption = record(account, "15", key="c-1")
    account.collect_events()
    consumption.collect_events()
    return account, consumption


def march_consumption() -> CreditAccount:
    """Term 1 granted, term 2 (2026) scheduled, and 5 points consumed on 1 March at 09:00."""
    account = with_term()
    schedule(account, 2, starts_at=TERM_END, ends_at=NEXT_TERM_END)
    consume(account, "5", key="c-1")
    account.collect_events()
    return account


# -- opening ---------------------------------------------------------------------------------


def test_opening_records_the_contract_and_an_empty_account() -> None:
    """An account is opened once per contract, with its deterministic id, no terms and no lots."""
    case = aggregate_case(
        given=[],
        when=lambda _: CreditAccount.open(contract_id=CONTRACT_ID, customer="ACME GmbH", at=OPENED),
        then=[event(CreditAccount.Opened, contract_id=CONTRACT_ID, customer="ACME GmbH")],
    )
    account = case.aggregate
    assert account.id == CreditAccount.create_id(CONTRACT_ID)
    assert (account.contract_id, account.customer) == (CONTRACT_ID, "ACME GmbH")
    assert (account.terms, account.lots, account.ended_at) == ({}, {}, None)
    assert account.available("points", OPENED) == 0


# -- scheduling terms ------------------------------------------------------------------------


def test_scheduling_a_term_notes_it_without_granting_anything() -> None:
    """A scheduled term is noted with what it will grant; no lot is recorded yet."""
    case = aggregate_case(
        given=account_history(),
        when=noting(points="96", sessions=9),
        then=[
            event(
                CreditAccount.TermScheduled,
                term_number=1,
                starts_at=TERM_START,
                ends_at=TERM_END,
                points=Decimal(96),
                sessions=9,
                scheduled_at=OPENED,
            )
        ],
    )
    assert case.result is True
    assert case.aggregate.terms == {
        1: ScheduledTerm(
            number=1,
            starts_at=TERM_START,
            ends_at=TERM_END,
            points=Decimal(96),
            sessions=9,
            granted=False,
        )
    }
    assert case.aggregate.lots == {}


def test_a_term_noted_again_as_it_stands_records_nothing() -> None:
    """Scheduling a term again with the same dates and amounts returns False, unrecorded."""
    case = aggregate_case(given=account_history(noting()), when=noting(at=MARCH), then=[])
    assert case.result is False


def test_a_term_noted_again_before_it_began_with_new_amounts_replaces_the_old_note() -> None:
    """A term re-noted before it begins (its tier went up) grants the new amounts when it begins."""
    # given: term 2 (2026) noted with 20 points and 2 sessions

    def renote_and_grant(account: CreditAccount) -> tuple[bool, list[int]]:
        noted = schedule(
            account, 2, points="30", sessions=3, starts_at=TERM_END, ends_at=NEXT_TERM_END, at=MARCH
        )
        return noted, account.grant_due(at=TERM_END)

    case = aggregate_case(
        given=account_history(*WITH_TERM, noting(2, starts_at=TERM_END, ends_at=NEXT_TERM_END)),
        when=renote_and_grant,
        then=[
            event(CreditAccount.TermScheduled, points=Decimal(30), sessions=3),
            event(CreditAccount.PointsGranted, lot_id="term-2-points", points=Decimal(30)),
            event(CreditAccount.SessionsGranted, lot_id="term-2-sessions", sessions=3),
        ],
    )
    assert case.result == (True, [2])
    assert case.aggregate.available("points", TERM_END) == Decimal(30)


@pytest.mark.parametrize(
    ("points", "sessions"),
    [("20", 2), ("30", 3)],
    ids=["same-amounts", "new-amounts"],
)
def test_a_granted_term_cannot_be_rescheduled(points: str, sessions: int) -> None:
    """Once a term is granted, noting it again is refused."""
    case = aggregate_case(
        given=account_history(*WITH_TERM),
        when=noting(points=points, sessions=sessions, at=MARCH),
        then=refused(InvalidInputError, "term 1 was granted already"),
    )
    assert case.aggregate.available("points", MARCH) == Decimal(20)


@pytest.mark.parametrize(
    ("ends_at", "points", "sessions", "error"),
    [
        (utc(2024, 12, 31), "20", 2, InvalidInputError),
        (TERM_START, "20", 2, InvalidInputError),
        (TERM_END, "-1", 2, InvalidAmountError),
        (TERM_END, "20", -1, InvalidAmountError),
    ],
    ids=["ends-before-it-starts", "ends-as-it-starts", "negative-points", "negative-sessions"],
)
def test_a_term_must_end_after_it_starts_and_grant_no_negative_amounts(
    ends_at: datetime, points: str, sessions: int, error: type[LedgerError]
) -> None:
    """A term ending no later than it starts, or granting negative amounts, is refused."""
    case = aggregate_case(
        given=account_history(),
        when=noting(points=points, sessions=sessions, ends_at=ends_at),
        then=refused(error),
    )
    assert case.aggregate.terms == {}


# -- granting terms --------------------------------------------------------------------------


def test_granting_a_term_records_points_and_sessions_until_the_term_ends() -> None:
    """A grant records a points lot and a sessions lot, usable from the start to the term's end."""
    case = aggregate_case(
        given=account_history(noting(points="96", sessions=9)),
        when=lambda a: a.grant_term(term_number=1, at=OPENED),
        then=[
            event(
                CreditAccount.PointsGranted,
                lot_id="term-1-points",
                points=Decimal(96),
                term_number=1,
                reason="term",
                available_from=TERM_START,
                expires_at=TERM_END,
                granted_at=OPENED,
            ),
            event(
                CreditAccount.SessionsGranted,
                lot_id="term-1-sessions",
                sessions=9,
                expires_at=TERM_END,
            ),
        ],
    )
    account = case.aggregate
    assert case.result is True
    assert account.terms[1].granted is True
    assert account.lots["term-1-points"].term_number == 1
    assert account.available("points", MARCH) == Decimal(96)
    assert account.available("sessions", MARCH) == Decimal(9)


def test_a_term_without_sessions_grants_only_points() -> None:
    """A tier without training sessions grants a points lot and no sessions lot."""
    aggregate_case(
        given=account_history(noting(points="16", sessions=0)),
        when=lambda a: a.grant_term(term_number=1, at=OPENED),
        then=[event(CreditAccount.PointsGranted)],
    )


def test_a_term_is_granted_only_once() -> None:
    """A second grant of the same term returns False and records nothing."""
    case = aggregate_case(
        given=account_history(*WITH_TERM),
        when=lambda a: a.grant_term(term_number=1, at=MARCH),
        then=[],
    )
    assert case.result is False
    assert case.aggregate.available("points", MARCH) == Decimal(20)


def test_a_term_that_is_not_scheduled_cannot_be_granted() -> None:
    """Granting a term the account was never told about is refused."""
    aggregate_case(
        given=account_history(*WITH_TERM),
        when=lambda a: a.grant_term(term_number=2, at=MARCH),
        then=refused(InvalidInputError, "term 2 is not scheduled on this account"),
    )


def test_a_term_granted_in_advance_is_usable_only_from_its_start() -> None:
    """Points of a renewal granted before it begins are not drawn on before the term starts."""
    # given: term 1 (2025) 20 points; term 2 (2026) 30 points granted in March
    case = aggregate_case(
        given=account_history(
            *WITH_TERM,
            noting(2, points="30", sessions=3, starts_at=TERM_END, ends_at=NEXT_TERM_END),
            lambda a: a.grant_term(term_number=2, at=MARCH),
        ),
        when=lambda a: consume(a, "25", at=utc(2025, 12, 31, 23)),
        then=refused(InsufficientCreditsError, "cannot consume 25 points: 20 available"),
    )
    assert case.aggregate.available("points", TERM_END) == Decimal(30)


def test_grant_due_grants_every_begun_term_once() -> None:
    """grant_due records the grant of each term that has begun, and of no term twice."""
    # given: terms 1 (2025) and 2 (2026) scheduled, neither granted

    def grant_three_times(account: CreditAccount) -> tuple[list[int], ...]:
        in_march = account.grant_due(at=MARCH)
        at_renewal = account.grant_due(at=TERM_END)
        return in_march, at_renewal, account.grant_due(at=TERM_END)

    case = aggregate_case(
        given=account_history(
            noting(),
            noting(2, points="30", sessions=3, starts_at=TERM_END, ends_at=NEXT_TERM_END),
        ),
        when=grant_three_times,
        then=[
            event(CreditAccount.PointsGranted, lot_id="term-1-points", granted_at=MARCH),
            event(CreditAccount.SessionsGranted, lot_id="term-1-sessions", granted_at=MARCH),
            event(CreditAccount.PointsGranted, lot_id="term-2-points", granted_at=TERM_END),
            event(CreditAccount.SessionsGranted, lot_id="term-2-sessions", granted_at=TERM_END),
        ],
    )
    assert case.result == ([1], [2], [])
    assert case.aggregate.available("points", TERM_END) == Decimal(30)


def test_grant_due_grants_nothing_before_a_term_begins() -> None:
    """A term that has not begun by the instant given is left ungranted."""
    case = aggregate_case(
        given=account_history(noting(starts_at=utc(2025, 2, 1), ends_at=utc(2026, 2, 1))),
        when=lambda a: a.grant_due(at=utc(2025, 1, 31, 23, 59)),
        then=[],
    )
    assert case.result == []
    assert case.aggregate.terms[1].granted is False


def test_grant_due_skips_terms_that_begin_after_the_agreement_ended() -> None:
    """A term starting after the termination is never granted, nor counted as usable."""
    # given: term 2 (2026) scheduled, the agreement terminated on 1 June 2025
    case = aggregate_case(
        given=account_history(
            *WITH_TERM,
            noting(2, starts_at=TERM_END, ends_at=NEXT_TERM_END),
            lambda a: a.end_agreement(reason="customer insolvent", at=TERMINATED),
        ),
        when=lambda a: a.grant_due(at=utc(2026, 2, 1)),
        then=[],
    )
    assert case.result == []
    assert case.aggregate.usable_lots("points", utc(2026, 2, 1)) == []


# -- a begun term whose grant is not recorded yet --------------------------------------------


def test_a_begun_term_not_granted_yet_is_usable_as_its_lot() -> None:
    """A term that has begun counts as its lot before its grant is recorded."""
    # given
    account = scheduled(points="20", sessions=2)
    # when
    points = account.available("points", MARCH)
    sessions = account.available("sessions", MARCH)
    lots = account.usable_lots("points", MARCH)
    # then
    assert (points, sessions) == (Decimal(20), Decimal(2))
    assert [(lot_id, lot.remaining, lot.expires_at) for lot_id, lot in lots] == [
        ("term-1-points", Decimal(20), TERM_END)
    ]
    assert account.lots == {}
    assert account.available("points", utc(2024, 12, 31, 23)) == 0


def test_a_begun_term_not_granted_yet_counts_exactly_as_the_lot_its_grant_records() -> None:
    """The usable lots of a begun term are the same before and after its grant is recorded."""
    # given
    account = scheduled()
    before = account.usable_lots("points", MARCH)
    # when
    account.grant_due(at=MARCH)
    # then
    assert account.usable_lots("points", MARCH) == before


def test_the_first_consumption_records_the_grant_of_a_begun_term() -> None:
    """A consumption first records the due grant, then draws from the granted lot."""
    # given
    account = scheduled()
    # when
    draws = consume(account, "5")
    # then
    events = account.collect_events()
    assert [type(e) for e in events] == [
        CreditAccount.PointsGranted,
        CreditAccount.SessionsGranted,
        CreditAccount.PointsConsumed,
    ]
    assert (events[0].lot_id, events[0].points, events[0].granted_at) == (
        "term-1-points",
        Decimal(20),
        MARCH,
    )
    assert draws == [{"lot_id": "term-1-points", "amount": Decimal(5)}]
    assert account.terms[1].granted is True
    assert account.available("points", MARCH) == Decimal(15)


@pytest.mark.parametrize(
    ("command", "recorded"),
    [
        pytest.param(
            lambda a: buy(a, "po-1", "10", expires_at=None, at=MARCH),
            CreditAccount.PackagePurchased,
            id="purchase",
        ),
        pytest.param(
            lambda a: a.hold_training(key="t-1", topic="basics", minutes=30, at=MARCH),
            CreditAccount.TrainingSessionHeld,
            id="hold-training",
        ),
    ],
)
def test_a_purchase_or_a_training_session_records_the_due_grant_first(
    command: Callable[[CreditAccount], object], recorded: type[object]
) -> None:
    """Purchases and training sessions also record the grant of a begun term before their own."""
    # given
    account = scheduled()
    # when
    command(account)
    # then
    assert [type(e) for e in account.collect_events()] == [
        CreditAccount.PointsGranted,
        CreditAccount.SessionsGranted,
        recorded,
    ]
    assert account.terms[1].granted is True


@pytest.mark.parametrize(
    ("sessions", "command", "error"),
    [
        pytest.param(2, lambda a: consume(a, "25"), InsufficientCreditsError, id="consume"),
        pytest.param(
            0,
            lambda a: a.hold_training(key="t-1", topic="basics", minutes=30, at=MARCH),
            InsufficientTrainingError,
            id="hold-training",
        ),
    ],
)
def test_a_refused_use_records_no_grant_either(
    sessions: int, command: Callable[[CreditAccount], object], error: type[LedgerError]
) -> None:
    """A consumption or session refused for want of credit leaves the account as it was."""
    # given
    account = scheduled(points="20", sessions=sessions)
    # when
    with pytest.raises(error):
        command(account)
    # then
    assert account.collect_events() == []
    assert account.terms[1].granted is False


def test_at_a_renewal_the_new_term_is_granted_and_drawn_on() -> None:
    """At the start of a renewed term the old term's lot has expired and the new one is used."""
    # given: term 1 (2025) granted with 20 points, term 2 (2026) scheduled with 30
    account = with_term()
    schedule(account, 2, points="30", sessions=3, starts_at=TERM_END, ends_at=NEXT_TERM_END)
    account.collect_events()
    # when
    draws = consume(account, "5", at=TERM_END)
    # then
    events = account.collect_events()
    assert [(type(e), getattr(e, "lot_id", None)) for e in events] == [
        (CreditAccount.PointsGranted, "term-2-points"),
        (CreditAccount.SessionsGranted, "term-2-sessions"),
        (CreditAccount.PointsConsumed, None),
    ]
    assert draws == [{"lot_id": "term-2-points", "amount": Decimal(5)}]
    assert account.available("points", TERM_END) == Decimal(25)


# -- validity of the agreement ---------------------------------------------------------------

TERMINATED_PROBLEM = "the agreement was terminated at 2025-06-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("given", "at"),
    [
        pytest.param(with_term, TERM_START, id="at-the-start"),
        pytest.param(with_term, utc(2025, 12, 31, 23, 59, 59), id="a-second-before-the-end"),
        pytest.param(with_gap, utc(2026, 2, 1), id="at-the-start-of-a-later-term"),
        pytest.param(terminated, utc(2025, 5, 31, 23, 59, 59), id="before-the-termination"),
    ],
)
def test_the_agreement_is_valid_within_its_terms(
    given: Callable[[], CreditAccount], at: datetime
) -> None:
    """An instant covered by a term, before any termination, is valid."""
    # given
    account = given()
    # when
    valid = account.valid_at(at)
    # then
    assert valid is True


@pytest.mark.parametrize(
    ("given", "at", "problem"),
    [
        pytest.param(opened, MARCH, "the agreement has no term", id="no-term"),
        pytest.param(
            with_term,
            utc(2024, 12, 31, 23),
            "the agreement starts at 2025-01-01T00:00:00+00:00",
            id="before-the-first-term",
        ),
        pytest.param(
            with_term,
            TERM_END,
            "the agreement's last term ended at 2026-01-01T00:00:00+00:00 without renewal",
            id="at-the-end-of-the-last-term",
        ),
        pytest.param(
            with_gap,
            utc(2026, 1, 15),
            "no term of the agreement covers that instant",
            id="between-two-terms",
        ),
        pytest.param(terminated, TERMINATED, TERMINATED_PROBLEM, id="at-the-termination"),
        pytest.param(
            terminated, utc(2026, 6, 1), TERMINATED_PROBLEM, id="after-termination-and-last-term"
        ),
    ],
)
def test_an_invalid_instant_is_explained(
    given: Callable[[], CreditAccount], at: datetime, problem: str
) -> None:
    """Outside every term, or from the termination on, the agreement is invalid and says why."""
    # given
    account = given()
    # when
    valid, why = account.valid_at(at), account.validity_problem(at)
    # then
    assert valid is False
    assert why == problem


@pytest.mark.parametrize(
    ("given", "at", "problem"),
    [
        pytest.param(
            starting_in_february,
            utc(2025, 1, 15),
            "the agreement starts at 2025-02-01T00:00:00+00:00",
            id="before-the-first-term",
        ),
        pytest.param(
            with_term,
            TERM_END,
            "the agreement's last term ended at 2026-01-01T00:00:00+00:00 without renewal",
            id="after-the-last-term",
        ),
        pytest.param(terminated, utc(2025, 6, 2), TERMINATED_PROBLEM, id="after-the-termination"),
    ],
)
@pytest.mark.parametrize(
    ("command", "what"),
    [
        pytest.param(
            lambda a, at: consume(a, "1", key="c-9", at=at), "consume points", id="consume"
        ),
        pytest.param(
            lambda a, at: buy(a, "po-9", "10", expires_at=None, at=at),
            "purchase points",
            id="purchase",
        ),
        pytest.param(
            lambda a, at: a.hold_training(key="t-9", topic="basics", minutes=30, at=at),
            "hold a training session",
            id="hold-training",
        ),
    ],
)
def test_points_and_sessions_are_used_only_while_the_agreement_is_valid(
    given: Callable[[], CreditAccount],
    at: datetime,
    problem: str,
    command: Callable[[CreditAccount, datetime], object],
    what: str,
) -> None:
    """Consuming, buying or training outside a valid agreement is an AgreementNotValidError."""
    # given
    account = given()
    # when
    with pytest.raises(AgreementNotValidError) as refused:
        command(account, at)
    # then
    assert refused.value.message == f"cannot {what}: {problem}"
    assert account.collect_events() == []


# -- termination -----------------------------------------------------------------------------


def test_ending_the_agreement_records_the_termination() -> None:
    """end_agreement records the reason and the instant from which nothing is used."""
    # given
    account = with_term()
    # when
    account.end_agreement(reason="customer insolvent", at=TERMINATED)
    # then
    (event,) = account.collect_events()
    assert type(event) is CreditAccount.AgreementEnded
    assert (event.reason, event.ended_at) == ("customer insolvent", TERMINATED)
    assert account.ended_at == TERMINATED


def test_ending_an_ended_agreement_records_nothing() -> None:
    """A second termination is ignored; the first instant stands."""
    # given
    account = terminated()
    # when
    account.end_agreement(reason="another reason", at=JULY)
    # then
    assert account.collect_events() == []
    assert account.ended_at == TERMINATED


def test_instants_before_the_termination_stay_valid() -> None:
    """A termination ends validity and balances from its instant on, not before."""
    # given
    account = terminated()
    just_before = utc(2025, 5, 31, 23, 59, 59)
    # when
    before = (account.valid_at(just_before), account.available("points", just_before))
    after = (account.valid_at(TERMINATED), account.available("points", TERMINATED))
    # then
    assert before == (True, Decimal(20))
    assert after == (False, Decimal(0))


def test_a_consumption_dated_just_before_the_termination_is_accepted() -> None:
    """A consumption half a minute before the recorded termination is still within the agreement."""
    # given
    account = terminated()
    # when
    draws = consume(account, "5", at=utc(2025, 5, 31, 23, 59, 30))
    # then
    assert [type(e) for e in account.collect_events()] == [CreditAccount.PointsConsumed]
    assert draws == [{"lot_id": "term-1-points", "amount": Decimal(5)}]


# -- purchases -------------------------------------------------------------------------------


def test_a_purchase_records_a_lot_with_its_price_currency_and_expiry() -> None:
    """A purchase records a new lot, usable from the purchase until its expiry."""
    # given
    account = with_term()
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
    (event,) = account.collect_events()
    assert (lot_id, recorded) == ("purchase-1", True)
    assert type(event) is CreditAccount.PackagePurchased
    assert (
        event.lot_id,
        event.key,
        event.points,
        event.price,
        event.currency,
        event.expires_at,
        event.purchased_at,
    ) == ("purchase-1", "po-4711", Decimal(50), Decimal("1250.00"), "EUR", utc(2025, 12, 31), MARCH)
    lot = account.lots["purchase-1"]
    assert (lot.kind, lot.price, lot.currency, lot.available_from) == (
        "purchase",
        Decimal("1250.00"),
        "EUR",
        MARCH,
    )
    assert account.available("points", MARCH) == Decimal(70)
    assert account.available("points", utc(2025, 12, 31)) == Decimal(20)


def test_repeating_a_purchase_with_the_same_key_and_content_records_nothing() -> None:
    """The same key with the same points, price, currency and expiry returns the first lot."""
    # given
    account = with_term()
    buy(account, "po-4711", "50", expires_at=None)
    account.collect_events()
    # when
    result = account.purchase(
        points=Decimal("50.00"),
        price=Decimal(100),
        currency="EUR",
        key="po-4711",
        expires_at=None,
        at=MARCH,
    )
    # then
    assert result == ("purchase-1", False)
    assert account.collect_events() == []
    assert account.available("points", MARCH) == Decimal(70)


@pytest.mark.parametrize(
    ("points", "price", "currency", "expires_at"),
    [
        ("60", "100.00", "EUR", None),
        ("50", "120.00", "EUR", None),
        ("50", "100.00", "USD", None),
        ("50", "100.00", "EUR", utc(2025, 12, 31)),
    ],
    ids=["other-points", "other-price", "other-currency", "other-expiry"],
)
def test_reusing_a_purchase_key_for_different_content_is_a_conflict(
    points: str, price: str, currency: str, expires_at: datetime | None
) -> None:
    """A purchase key names one purchase; different content under it is refused."""
    # given
    account = with_term()
    buy(account, "po-4711", "50", expires_at=None)
    account.collect_events()
    # when
    with pytest.raises(IdempotencyConflictError) as refused:
        account.purchase(
            points=Decimal(points),
            price=Decimal(price),
            currency=currency,
            key="po-4711",
            expires_at=expires_at,
            at=MARCH,
        )
    # then
    assert refused.value.message == (
        "key 'po-4711' was used for a purchase of 50 points at 100 EUR; "
        "use a new key for a different purchase"
    )
    assert account.collect_events() == []
    assert account.available("points", MARCH) == Decimal(70)


@pytest.mark.parametrize(
    "expires_at",
    [MARCH, utc(2025, 2, 28)],
    ids=["at-the-purchase", "before-the-purchase"],
)
def test_a_purchase_must_expire_after_it_is_made(expires_at: datetime) -> None:
    """A package whose expiry is not after the purchase is refused."""
    # given
    account = with_term()
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
    first_draws = consume(account, "27", key="c-1")
    second_draws = consume(account, "15", key="c-2")
    # then
    first, second = account.collect_events()
    assert (
        first_draws
        == first.draws
        == [
            {"lot_id": "purchase-2", "amount": Decimal(10)},
            {"lot_id": "purchase-3", "amount": Decimal(5)},
            {"lot_id": "term-1-points", "amount": Decimal(12)},
        ]
    )
    assert (
        second_draws
        == second.draws
        == [
            {"lot_id": "term-1-points", "amount": Decimal(8)},
            {"lot_id": "purchase-1", "amount": Decimal(7)},
        ]
    )
    assert account.available("points", MARCH) == Decimal(3)


def test_a_consumption_records_its_key_points_activity_ticket_and_instant() -> None:
    """PointsConsumed keeps the stripped key and activity, points to hundredths and the ticket."""
    # given
    account = with_term()
    # when
    draws = account.consume(
        points=Decimal("2.5"),
        activity="  remote session ",
        key=" c-1 ",
        ticket_id=TICKET_ID,
        at=MARCH,
    )
    # then
    (event,) = account.collect_events()
    assert type(event) is CreditAccount.PointsConsumed
    assert (event.key, event.points, event.activity, event.ticket_id, event.consumed_at) == (
        "c-1",
        Decimal("2.50"),
        "remote session",
        TICKET_ID,
        MARCH,
    )
    assert draws == event.draws == [{"lot_id": "term-1-points", "amount": Decimal("2.50")}]
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
    assert refused.value.details == {"available": "3", "requested": "4"}
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
    [utc(2025, 6, 30), JULY],
    ids=["at-the-expiry", "after-the-expiry"],
)
def test_an_expired_lot_is_not_usable_before_its_expiry_is_recorded(at: datetime) -> None:
    """A lot with expires_at <= at is unavailable, whether or not LotExpired was recorded."""
    # given: term 20 and a 10-point lot expiring 30 June, no expiry recorded
    account = with_term()
    buy(account, "pack-june", "10", expires_at=utc(2025, 6, 30))
    account.collect_events()
    # when
    with pytest.raises(InsufficientCreditsError) as refused:
        consume(account, "25", at=at)
    # then
    assert refused.value.message == "cannot consume 25 points: 20 available"
    assert account.collect_events() == []


def test_an_expired_lot_is_skipped_in_favour_of_a_later_one() -> None:
    """Once the early lot has expired, consumption draws from the term lot only."""
    # given
    account = with_term()
    buy(account, "pack-june", "10", expires_at=utc(2025, 6, 30))
    account.collect_events()
    # when
    draws = consume(account, "5", at=utc(2025, 6, 30))
    # then
    (event,) = account.collect_events()
    assert draws == event.draws == [{"lot_id": "term-1-points", "amount": Decimal(5)}]


def test_the_account_draws_again_under_a_repeated_key() -> None:
    """The account keeps no consumption records: a repeated key is CreditConsumption's concern."""
    # given
    account = with_term()
    consume(account, "5", key="c-1")
    account.collect_events()
    # when
    consume(account, "5", key="c-1")
    # then
    assert [type(e) for e in account.collect_events()] == [CreditAccount.PointsConsumed]
    assert account.available("points", MARCH) == Decimal(10)


# -- the consumption record ------------------------------------------------------------------


def test_recording_a_consumption_keeps_its_draws_with_nothing_reversed() -> None:
    """CreditConsumption.record keeps what was consumed, from which lots, under its key."""
    # given
    account = with_term()
    draws = consume(account, "15")
    # when
    consumption = CreditConsumption.record(
        account_id=account.id,
        contract_id=CONTRACT_ID,
        key=" c-1 ",
        points=Decimal(15),
        activity="remote session",
        ticket_id=TICKET_ID,
        draws=draws,
        at=MARCH,
    )
    # then
    (event,) = consumption.collect_events()
    assert type(event) is CreditConsumption.Recorded
    assert consumption.id == CreditConsumption.create_id(account.id, "c-1")
    assert (
        consumption.account_id,
        consumption.contract_id,
        consumption.key,
        consumption.points,
        consumption.activity,
        consumption.ticket_id,
        consumption.consumed_at,
    ) == (account.id, CONTRACT_ID, "c-1", Decimal(15), "remote session", TICKET_ID, MARCH)
    assert consumption.draws == [Drawn("term-1-points", Decimal(15), returned=Decimal(0))]
    assert (consumption.reversed, consumption.left, consumption.reversals) == (0, Decimal(15), [])


def test_a_consumption_is_identified_by_its_account_and_key() -> None:
    """The same key on the same account names the same consumption; otherwise a different one."""
    # given
    account_id = CreditAccount.create_id(CONTRACT_ID)
    other_account_id = CreditAccount.create_id(OTHER_CONTRACT_ID)
    # when
    same = CreditConsumption.create_id(account_id, "c-1")
    # then
    assert same == CreditConsumption.create_id(account_id, "c-1")
    assert same != CreditConsumption.create_id(account_id, "c-2")
    assert same != CreditConsumption.create_id(other_account_id, "c-1")


def test_repeating_a_consumption_with_the_same_content_is_accepted() -> None:
    """check_repeat accepts the same points, activity and ticket under a key and records nothing."""
    # given
    account, consumption = early_and_term()
    # when
    consumption.check_repeat(
        points=Decimal("15.00"), activity=" remote session ", ticket_id=TICKET_ID
    )
    # then
    assert consumption.collect_events() == []
    assert account.collect_events() == []


@pytest.mark.parametrize(
    ("points", "activity", "ticket_id"),
    [
        ("16", "remote session", TICKET_ID),
        ("15", "on-site visit", TICKET_ID),
        ("15", "remote session", None),
    ],
    ids=["other-points", "other-activity", "other-ticket"],
)
def test_reusing_a_consumption_key_for_different_content_is_a_conflict(
    points: str, activity: str, ticket_id: UUID | None
) -> None:
    """A consumption key names one consumption; different content under it is refused."""
    # given
    account, consumption = early_and_term()
    # when
    with pytest.raises(IdempotencyConflictError) as refused:
        consumption.check_repeat(points=Decimal(points), activity=activity, ticket_id=ticket_id)
    # then
    assert refused.value.message == (
        "key 'c-1' was used to consume 15 points for 'remote session'; "
        "use a new key for a different consumption"
    )
    assert consumption.collect_events() == []
    assert account.collect_events() == []


# -- reversals -------------------------------------------------------------------------------


def test_a_partial_reversal_returns_points_to_the_lots_last_drawn_first() -> None:
    """Reversing 7 of 15 points (10 early + 5 term) returns 5 to the term lot and 2 to the early."""
    # given
    account, consumption = early_and_term()
    # when
    reversal, recorded = reverse(
        account, consumption, Decimal(7), "billed twice", at=utc(2025, 3, 2)
    )
    # then
    returns = [
        {"lot_id": "term-1-points", "amount": Decimal(5), "expired": False},
        {"lot_id": "purchase-1", "amount": Decimal(2), "expired": False},
    ]
    assert recorded is True
    assert reversal == {
        "points": Decimal(7),
        "reason": "billed twice",
        "reversed_at": utc(2025, 3, 2),
        "returns": returns,
    }
    (reversed_event,) = consumption.collect_events()
    assert type(reversed_event) is CreditConsumption.Reversed
    assert (reversed_event.points, reversed_event.returns) == (Decimal(7), returns)
    (account_event,) = account.collect_events()
    assert type(account_event) is CreditAccount.ConsumptionReversed
    assert (account_event.key, account_event.points, account_event.returns) == (
        "c-1",
        Decimal(7),
        returns,
    )
    assert consumption.draws == [
        Drawn("purchase-1", Decimal(10), returned=Decimal(2)),
        Drawn("term-1-points", Decimal(5), returned=Decimal(5)),
    ]
    assert consumption.left == Decimal(8)
    assert account.lots["term-1-points"].remaining == Decimal(20)
    assert account.lots["purchase-1"].remaining == Decimal(2)
    assert account.available("points", utc(2025, 3, 2)) == Decimal(22)


def test_a_whole_reversal_returns_what_is_left_of_the_consumption() -> None:
    """Without points, a reversal returns all that is left: here 8 to the early lot."""
    # given
    account, consumption = early_and_term()
    reverse(account, consumption, Decimal(7), "billed twice", at=utc(2025, 3, 2))
    account.collect_events()
    consumption.collect_events()
    # when
    reversal, _ = reverse(account, consumption, None, "ticket withdrawn", at=utc(2025, 3, 3))
    # then
    (event,) = account.collect_events()
    assert reversal["points"] == Decimal(8)
    assert event.returns == [{"lot_id": "purchase-1", "amount": Decimal(8), "expired": False}]
    assert (consumption.reversed, consumption.left) == (Decimal(15), Decimal(0))
    assert account.available("points", utc(2025, 3, 3)) == Decimal(30)


@pytest.mark.parametrize("points", [Decimal(7), None], ids=["partial", "whole"])
def test_repeating_a_reversal_with_the_same_points_and_reason_records_nothing(
    points: Decimal | None,
) -> None:
    """A reversal repeated with the same points and reason returns the first one unrecorded."""
    # given
    account, consumption = early_and_term()
    first, _ = reverse(account, consumption, points, "billed twice", at=MARCH)
    account.collect_events()
    consumption.collect_events()
    balance = account.available("points", MARCH)
    # when
    again, recorded = reverse(account, consumption, points, "billed twice", at=MARCH)
    # then
    assert recorded is False
    assert again == first
    assert consumption.collect_events() == []
    assert account.collect_events() == []
    assert account.available("points", MARCH) == balance


def test_repeating_an_earlier_reversal_returns_that_reversal() -> None:
    """After reversals of 2 and then 3 points for one reason, repeating the 2 answers with the 2."""
    # given
    account, consumption = early_and_term()
    reverse(account, consumption, Decimal(2), "billed twice", at=MARCH)
    reverse(account, consumption, Decimal(3), "billed twice", at=MARCH)
    account.collect_events()
    consumption.collect_events()
    # when
    again, recorded = reverse(account, consumption, Decimal(2), "billed twice", at=MARCH)
    # then
    assert recorded is False
    assert (again["points"], again["reason"]) == (Decimal(2), "billed twice")
    assert consumption.collect_events() == []
    assert consumption.left == Decimal(10)


def test_reversing_more_than_is_left_is_refused() -> None:
    """A reversal larger than what is left of the consumption is an InvalidAmountError."""
    # given
    account, consumption = early_and_term()
    reverse(account, consumption, Decimal(10), "partly wrong", at=MARCH)
    account.collect_events()
    consumption.collect_events()
    # when
    with pytest.raises(InvalidAmountError) as refused:
        reverse(account, consumption, Decimal(6), "rest wrong", at=MARCH)
    # then
    assert refused.value.message == "cannot reverse 6 points: 5 of the 15 consumed are left"
    assert consumption.collect_events() == []
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
    account, consumption = early_and_term()
    reverse(account, consumption, None, "billed twice", at=MARCH)
    account.collect_events()
    consumption.collect_events()
    # when
    with pytest.raises(AlreadyReversedError) as refused:
        reverse(account, consumption, points, reason, at=MARCH)
    # then
    assert refused.value.message == "the consumption 'c-1' was already reversed in full"
    assert consumption.collect_events() == []
    assert account.collect_events() == []


def test_a_consumption_cannot_be_reversed_before_it_happened() -> None:
    """A reversal dated before the consumption is refused."""
    # given: the consumption happened on 1 March at 09:00
    account, consumption = early_and_term()
    # when
    with pytest.raises(InvalidInputError) as refused:
        reverse(account, consumption, None, "mistake", at=AN_HOUR_BEFORE_MARCH)
    # then
    assert refused.value.message == "a consumption cannot be reversed before it happened"
    assert consumption.collect_events() == []
    assert account.collect_events() == []


@pytest.mark.parametrize("reason", ["", "   "], ids=["empty", "blank"])
def test_a_reversal_needs_a_reason(reason: str) -> None:
    """Without a reason, nothing is reversed."""
    # given
    account, consumption = early_and_term()
    # when
    with pytest.raises(InvalidInputError):
        reverse(account, consumption, None, reason, at=MARCH)
    # then
    assert consumption.collect_events() == []
    assert account.collect_events() == []


def test_points_returned_to_an_expired_lot_expire_at_once() -> None:
    """After the early lot expired, its 10 points come back expired; the term's 5 are usable."""
    # given
    account, consumption = early_and_term()
    # when
    reversal, _ = reverse(account, consumption, None, "ticket withdrawn", at=JULY)
    # then
    (event,) = account.collect_events()
    assert (
        reversal["returns"]
        == event.returns
        == [
            {"lot_id": "term-1-points", "amount": Decimal(5), "expired": False},
            {"lot_id": "purchase-1", "amount": Decimal(10), "expired": True},
        ]
    )
    assert "purchase-1" not in account.lots  # used up: only its purchase record is held
    assert account.find_lot("purchase-1").remaining == 0  # type: ignore[union-attr]
    assert account.available("points", JULY) == Decimal(20)


def test_points_returned_to_a_lot_whose_expiry_was_recorded_expire_at_once() -> None:
    """A return to a lot with a recorded LotExpired (gone from the state) is itself expired."""
    # given
    account, consumption = early_and_term()
    account.expire_lot(lot_id="purchase-1", at=utc(2025, 6, 30))
    account.collect_events()
    # when
    reverse(account, consumption, Decimal(6), "partly wrong", at=JULY)
    # then
    (event,) = account.collect_events()
    assert event.returns == [
        {"lot_id": "term-1-points", "amount": Decimal(5), "expired": False},
        {"lot_id": "purchase-1", "amount": Decimal(1), "expired": True},
    ]
    assert account.find_lot("purchase-1") is None
    assert account.available("points", JULY) == Decimal(20)


def test_a_reversal_to_a_lot_the_account_does_not_hold_is_refused() -> None:
    """record_reversal refuses returns naming an unknown lot."""
    # given
    account, _ = early_and_term()
    # when
    with pytest.raises(InvalidInputError) as refused:
        account.record_reversal(
            key="c-1",
            points=Decimal(5),
            reason="mistake",
            returns=[{"lot_id": "purchase-9", "amount": Decimal(5), "expired": False}],
            at=utc(2025, 3, 2),
        )
    # then
    assert refused.value.message == "no lot 'purchase-9' in this account"
    assert account.collect_events() == []


# -- expiry ----------------------------------------------------------------------------------


def test_a_lot_expires_with_what_remains_of_it_once() -> None:
    """LotExpired records what remains of the lot, which leaves the state; a second expiry
    returns False, unrecorded."""
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
    assert (
        event.lot_id,
        event.unit,
        event.amount,
        event.expires_at,
        event.recorded_at,
        event.late,
    ) == ("term-1-points", "points", Decimal(15), TERM_END, TERM_END, False)
    assert "term-1-points" not in account.lots
    assert account.available("points", utc(2026, 1, 2)) == 0
    assert list(account.due_expiries(utc(2026, 1, 2))) == [("term-1-sessions", TERM_END)]


def test_a_lot_cannot_expire_before_its_expiry() -> None:
    """Recording an expiry a moment before the lot's expires_at is refused."""
    # given
    account = with_term()
    # when
    with pytest.raises(InvalidInputError) as refused:
        account.expire_lot(lot_id="term-1-points", at=utc(2025, 12, 31, 23, 59, 59))
    # then
    assert refused.value.message == "lot term-1-points does not expire by 2025-12-31T23:59:59+00:00"
    assert account.collect_events() == []
    assert account.available("points", MARCH) == Decimal(20)


def test_a_lot_without_expiry_never_expires() -> None:
    """An undated purchase cannot be expired."""
    # given
    account = with_term()
    buy(account, "pack-undated", "10", expires_at=None)
    account.collect_events()
    # when
    with pytest.raises(InvalidInputError):
        account.expire_lot(lot_id="purchase-1", at=utc(2030, 1, 1))
    # then
    assert account.collect_events() == []


def test_an_unknown_lot_cannot_expire() -> None:
    """Expiring a lot the account does not hold is refused."""
    # given
    account = with_term()
    # when
    with pytest.raises(InvalidInputError) as refused:
        account.expire_lot(lot_id="purchase-9", at=TERM_END)
    # then
    assert refused.value.message == "no lot 'purchase-9' in this account"
    assert account.collect_events() == []


def test_a_termination_brings_every_lot_s_expiry_forward_to_it() -> None:
    """After a termination what remains of each lot expires at the termination, not at the
    lot's own expiry; a lot expiring earlier keeps its own instant."""
    # given: the term's lots (to 2026), an undated package and one expiring in April
    account = with_term()
    buy(account, "pack-undated", "10", expires_at=None)
    buy(account, "pack-april", "5", expires_at=utc(2025, 4, 30))
    consume(account, "5")
    account.end_agreement(reason="customer insolvent", at=TERMINATED)
    account.collect_events()
    # when
    due = sorted(account.due_expiries(TERMINATED))
    recorded = [account.expire_lot(lot_id=lot_id, at=TERMINATED) for lot_id, _ in due]
    # then
    assert due == [
        ("purchase-1", TERMINATED),
        ("purchase-2", utc(2025, 4, 30)),
        ("term-1-points", TERMINATED),
        ("term-1-sessions", TERMINATED),
    ]
    assert recorded == [True, True, True, True]
    expired = {e.lot_id: (e.amount, e.expires_at) for e in account.collect_events()}
    assert expired == {
        "purchase-1": (Decimal(10), TERMINATED),
        "purchase-2": (Decimal(0), utc(2025, 4, 30)),  # the 5 consumed came from it
        "term-1-points": (Decimal(20), TERMINATED),
        "term-1-sessions": (Decimal(2), TERMINATED),
    }
    assert list(account.due_expiries(NEXT_TERM_END)) == []


def test_a_terminated_account_s_lot_cannot_expire_before_the_termination() -> None:
    """The termination is the earliest instant a lot of a terminated account expires."""
    # given
    account = terminated()
    # when
    with pytest.raises(InvalidInputError) as refused:
        account.expire_lot(lot_id="term-1-points", at=utc(2025, 5, 31))
    # then
    assert refused.value.message == "lot term-1-points does not expire by 2025-05-31T00:00:00+00:00"
    assert account.collect_events() == []


def test_points_returned_after_a_termination_expire_at_once() -> None:
    """A consumption reversed after the termination returns points that cannot be used."""
    # given: 5 points consumed in March, the agreement terminated in June
    account = with_term()
    consumption = record(account, "5")
    account.end_agreement(reason="customer insolvent", at=TERMINATED)
    account.collect_events()
    # when
    reverse(account, consumption, Decimal(5), "billed in error", at=JULY)
    # then
    (event,) = account.collect_events()
    assert event.returns == [{"lot_id": "term-1-points", "amount": Decimal(5), "expired": True}]


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
    assert session == Training(topic="test automation", minutes=30, held_at=MARCH)
    assert type(event) is CreditAccount.TrainingSessionHeld
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


def test_repeating_a_training_session_with_the_same_key_records_nothing() -> None:
    """The same key, topic and minutes return the first session unrecorded."""
    # given
    account = with_term(sessions=2)
    first, _ = account.hold_training(key="t-1", topic="test automation", minutes=30, at=MARCH)
    account.collect_events()
    # when
    again, recorded = account.hold_training(
        key="t-1", topic="test automation", minutes=30, at=utc(2025, 3, 2)
    )
    # then
    assert (again, recorded) == (first, False)
    assert account.collect_events() == []
    assert account.available("sessions", MARCH) == Decimal(1)


@pytest.mark.parametrize(
    ("topic", "minutes"),
    [("reporting", 30), ("test automation", 60)],
    ids=["other-topic", "other-minutes"],
)
def test_reusing_a_training_key_for_a_different_session_is_a_conflict(
    topic: str, minutes: int
) -> None:
    """A training key names one session; another topic or length under it is refused."""
    # given
    account = with_term(sessions=2)
    account.hold_training(key="t-1", topic="test automation", minutes=30, at=MARCH)
    account.collect_events()
    # when
    with pytest.raises(IdempotencyConflictError) as refused:
        account.hold_training(key="t-1", topic=topic, minutes=minutes, at=MARCH)
    # then
    assert refused.value.message == "key 't-1' was used for a training on 'test automation'"
    assert account.collect_events() == []
    assert account.available("sessions", MARCH) == Decimal(1)


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
def test_unusable_points_are_refused_for_a_consumption_record(points: Decimal) -> None:
    """Zero, negative or sub-hundredth points cannot be recorded as a consumption."""
    # given
    account = with_term()
    # when
    with pytest.raises(InvalidAmountError):
        CreditConsumption.record(
            account_id=account.id,
            contract_id=CONTRACT_ID,
            key="c-1",
            points=points,
            activity="remote session",
            ticket_id=None,
            draws=[],
            at=MARCH,
        )
    # then
    assert account.collect_events() == []


@BAD_POINTS
def test_unusable_points_are_refused_for_a_purchase(points: Decimal) -> None:
    """Zero, negative or sub-hundredth points cannot be bought."""
    # given
    account = with_term()
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
    account, consumption = early_and_term()
    # when
    with pytest.raises(InvalidAmountError):
        reverse(account, consumption, points, "mistake", at=MARCH)
    # then
    assert consumption.collect_events() == []
    assert account.collect_events() == []


@pytest.mark.parametrize(
    ("key", "activity"),
    [
        ("", "remote session"),
        ("   ", "remote session"),
        ("c" * 201, "remote session"),
        ("c-1", ""),
        ("c-1", "  "),
    ],
    ids=["empty-key", "blank-key", "too-long-key", "empty-activity", "blank-activity"],
)
@pytest.mark.parametrize(
    "command",
    [
        pytest.param(
            lambda a, key, activity: a.consume(
                points=Decimal(1), activity=activity, key=key, ticket_id=None, at=MARCH
            ),
            id="consume",
        ),
        pytest.param(
            lambda a, key, activity: CreditConsumption.record(
                account_id=a.id,
                contract_id=CONTRACT_ID,
                key=key,
                points=Decimal(1),
                activity=activity,
                ticket_id=None,
                draws=[{"lot_id": "term-1-points", "amount": Decimal(1)}],
                at=MARCH,
            ),
            id="record",
        ),
    ],
)
def test_a_consumption_needs_a_key_and_an_activity(
    command: Callable[[CreditAccount, str, str], object], key: str, activity: str
) -> None:
    """Without an idempotency key of at most 200 characters or an activity, nothing is consumed."""
    # given
    account = with_term()
    # when
    with pytest.raises(InvalidInputError):
        command(account, key, activity)
    # then
    assert account.collect_events() == []
    assert account.available("points", MARCH) == Decimal(20)


@pytest.mark.parametrize("key", ["", "   ", "k" * 201], ids=["empty", "blank", "too-long"])
@pytest.mark.parametrize(
    "command",
    [
        pytest.param(lambda a, key: buy(a, key, "10", expires_at=None, at=MARCH), id="purchase"),
        pytest.param(
            lambda a, key: a.hold_training(key=key, topic="basics", minutes=30, at=MARCH),
            id="hold-training",
        ),
    ],
)
def test_a_purchase_and_a_training_session_need_a_key(
    command: Callable[[CreditAccount, str], object], key: str
) -> None:
    """An empty, blank or over-long idempotency key is refused for purchases and sessions too."""
    # given
    account = with_term()
    # when
    with pytest.raises(InvalidInputError):
        command(account, key)
    # then
    assert account.collect_events() == []


# -- order of facts --------------------------------------------------------------------------

ACCOUNT_COMMANDS = [
    pytest.param(
        lambda a, at: a.consume(
            points=Decimal(1), activity="remote session", key="c-2", ticket_id=None, at=at
        ),
        id="consume",
    ),
    pytest.param(lambda a, at: buy(a, "po-2", "10", expires_at=None, at=at), id="purchase"),
    pytest.param(
        lambda a, at: a.record_reversal(
            key="c-1",
            points=Decimal(5),
            reason="mistake",
            returns=[{"lot_id": "term-1-points", "amount": Decimal(5), "expired": False}],
            at=at,
        ),
        id="record-reversal",
    ),
    pytest.param(
        lambda a, at: a.hold_training(key="t-1", topic="basics", minutes=30, at=at),
        id="hold-training",
    ),
    pytest.param(
        lambda a, at: schedule(a, 3, starts_at=NEXT_TERM_END, ends_at=utc(2028, 1, 1), at=at),
        id="schedule-term",
    ),
    pytest.param(lambda a, at: a.grant_term(term_number=2, at=at), id="grant-term"),
    pytest.param(lambda a, at: a.end_agreement(reason="terminated", at=at), id="end-agreement"),
]


@pytest.mark.parametrize("command", ACCOUNT_COMMANDS)
def test_a_fact_dated_clearly_before_the_last_recorded_one_is_refused(
    command: Callable[[CreditAccount, datetime], object],
) -> None:
    """Facts are entered in the order they happened; an hour earlier is an OutOfOrderError."""
    # given: the last recorded fact is the consumption on 1 March at 09:00
    account = march_consumption()
    # when
    with pytest.raises(OutOfOrderError):
        command(account, AN_HOUR_BEFORE_MARCH)
    # then
    assert account.collect_events() == []


@pytest.mark.parametrize("command", ACCOUNT_COMMANDS)
def test_a_fact_within_the_concurrency_tolerance_is_accepted(
    command: Callable[[CreditAccount, datetime], object],
) -> None:
    """A fact dated up to 60 seconds before the last recorded one is accepted (racing writers)."""
    # given: the last recorded fact is the consumption on 1 March at 09:00
    account = march_consumption()
    # when
    command(account, A_MINUTE_BEFORE_MARCH)
    # then
    assert len(account.collect_events()) >= 1


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "command", "code"),
    [
        pytest.param(
            lambda: with_term(points="1"),
            lambda a: consume(a, "2"),
            "insufficient_credits",
            id="insufficient-credits",
        ),
        pytest.param(
            terminated, lambda a: consume(a, "1", at=JULY), "no_valid_agreement", id="not-valid"
        ),
        pytest.param(
            lambda: with_term(sessions=0),
            lambda a: a.hold_training(key="t-1", topic="basics", minutes=30, at=MARCH),
            "insufficient_training_sessions",
            id="no-sessions",
        ),
        pytest.param(
            march_consumption,
            lambda a: consume(a, "1", key="c-2", at=AN_HOUR_BEFORE_MARCH),
            "out_of_order",
            id="out-of-order",
        ),
    ],
)
def test_every_refusal_is_a_ledger_error_with_a_stable_code(
    given: Callable[[], CreditAccount], command: Callable[[CreditAccount], object], code: str
) -> None:
    """Refusals carry the codes the CLI and API report."""
    # given
    account = given()
    # when
    with pytest.raises(LedgerError) as refused:
        command(account)
    # then
    assert refused.value.code == code
    assert account.collect_events() == []
