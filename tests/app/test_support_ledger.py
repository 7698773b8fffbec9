"""SupportLedger use cases in memory: one save per use case; a refusal records nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import pytest

from ledger.application import SupportLedger
from ledger.domain.errors import (
    AgreementNotValidError,
    ContactLimitError,
    DuplicateContactError,
    FreeLicenseError,
    IdempotencyConflictError,
    InsufficientCreditsError,
    InvalidAmountError,
    InvalidEmailError,
    InvalidVersionError,
    LedgerError,
    NaiveDatetimeError,
    UnknownAggregateError,
    UnknownContractError,
    UnknownHolidayRegionError,
    UnknownSeverityError,
    UnknownTicketError,
    UnknownTierError,
)
from tests.scenario import SIGNED, World, at, build_world, recorded

if TYPE_CHECKING:
    from collections.abc import Callable


@pytest.fixture
def app() -> SupportLedger:
    return SupportLedger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


@pytest.fixture
def world(app: SupportLedger) -> World:
    return build_world(app)


def event_types(app: SupportLedger, aggregate_id: Any) -> list[str]:
    return [type(e).__qualname__ for e in app.list_events(aggregate_id)]


# -- contracts ---------------------------------------------------------------------------------


def test_signing_assesses_the_fee_and_grants_the_first_term_in_one_save(app: SupportLedger) -> None:
    """Signing records the contract and the credit account with its term grants together."""
    before = recorded(app)
    contract_id = app.sign_contract(
        customer="Acme", tier="premium", licenses=2, license_kind="commercial",
        list_price=Decimal(10000), start=date(2025, 1, 1), at=SIGNED,
    )  # fmt: skip
    contract = app.get_contract(contract_id)
    account = app.get_account(contract_id)
    assert contract.terms[0].fee == Decimal("6500.00")
    assert account.available("points", at(3, 3)) == Decimal(64)
    assert account.available("sessions", at(3, 3)) == Decimal(6)
    # Signed; the account Opened, TermScheduled, PointsGranted, SessionsGranted
    assert recorded(app) - before == 5


def test_signing_again_with_the_same_key_returns_the_same_contract(app: SupportLedger) -> None:
    """An external key makes signing idempotent; a different contract under it is refused."""
    sign: Callable[..., Any] = app.sign_contract
    args = {
        "customer": "Acme", "tier": "basic", "licenses": 1, "license_kind": "commercial",
        "list_price": Decimal(6000), "start": date(2025, 1, 1), "at": SIGNED, "key": "CRM-17",
    }  # fmt: skip
    first = sign(**args)
    count = recorded(app)
    assert sign(**args) == first
    with pytest.raises(IdempotencyConflictError):
        sign(**{**args, "licenses": 2})
    assert recorded(app) == count


BAD_SIGNINGS = [
    pytest.param({"tier": "gold"}, UnknownTierError, id="unknown-tier"),
    pytest.param({"licenses": 0}, InvalidAmountError, id="no-licenses"),
    pytest.param({"list_price": Decimal(0)}, InvalidAmountError, id="zero-price"),
    pytest.param({"list_price": Decimal(-5)}, InvalidAmountError, id="negative-price"),
    pytest.param({"license_kind": "free"}, FreeLicenseError, id="free-license"),
    pytest.param({"holiday_region": "XX"}, UnknownHolidayRegionError, id="unknown-region"),
    pytest.param({"at": datetime(2025, 1, 2, 9)}, NaiveDatetimeError, id="naive-at"),
]


@pytest.mark.parametrize(("change", "error"), BAD_SIGNINGS)
def test_a_bad_signing_is_refused_and_records_nothing(
    app: SupportLedger, change: dict[str, Any], error: type[LedgerError]
) -> None:
    """Each malformed signing raises its error and leaves the store as it was."""
    args = {
        "customer": "Acme", "tier": "premium", "licenses": 1, "license_kind": "commercial",
        "list_price": Decimal(1000), "start": date(2025, 1, 1), "at": SIGNED,
    }  # fmt: skip
    with pytest.raises(error):
        app.sign_contract(**{**args, **change})
    assert recorded(app) == 0


def test_contacts_are_limited_per_tier_and_duplicates_refused(
    app: SupportLedger, world: World
) -> None:
    """Basic names one contact; a second or a duplicate records nothing."""
    count = recorded(app)
    with pytest.raises(ContactLimitError):
        app.add_contact(world.basic, email="second@cobalt.example", at=at(2, 1))
    with pytest.raises(DuplicateContactError):
        app.add_contact(world.premium, email="OPS@acme.example", at=at(2, 1))
    with pytest.raises(InvalidEmailError):
        app.add_contact(world.premium, email="not-an-email", at=at(2, 1))
    assert recorded(app) == count


def test_commands_on_an_unknown_contract_are_refused(app: SupportLedger, world: World) -> None:
    """An id that names no contract is an error, and nothing is recorded."""
    count = recorded(app)
    for attempt in (
        lambda: app.add_contact(uuid4(), email="a@b.example", at=at(2, 1)),
        lambda: app.renew_contract(uuid4(), at=at(2, 1)),
        lambda: app.open_ticket(
            contract_id=uuid4(),
            reporter="a@b.example",
            version="24.2.1",
            platform="linux",
            at=at(2, 1),
        ),
        lambda: app.consume_credits(uuid4(), points=Decimal(1), activity="x", key="k", at=at(2, 1)),
        lambda: app.get_contract(world.premium.__class__(int=world.premium.int ^ 1)),
    ):
        with pytest.raises(UnknownContractError):
            attempt()
    assert recorded(app) == count


def test_renewal_starts_when_the_term_ends_at_the_tier_share(
    app: SupportLedger, world: World
) -> None:
    """Term 2 follows term 1 directly; its fee is the tier's share again."""
    term = app.renew_contract(world.advanced, at=at(11, 3))
    assert term["number"] == 2
    assert term["kind"] == "renewal"
    assert term["starts_at"] == datetime(2025, 12, 31, 23, tzinfo=UTC)
    assert term["fee"] == Decimal("8000.00")


def test_renewing_a_lapsed_agreement_reinstates_it_at_80_percent(
    app: SupportLedger, world: World
) -> None:
    """After the term ended unrenewed, renewal records the lapse and a reinstatement at 80 %."""
    later = datetime(2026, 3, 2, 9, tzinfo=UTC)
    term = app.renew_contract(world.basic, at=later)
    contract = app.get_contract(world.basic)
    assert term["kind"] == "reinstatement"
    assert term["fee"] == Decimal("4800.00")  # 80 % of 6,000
    assert term["starts_at"] == datetime(2026, 3, 1, 23, tzinfo=UTC)  # local midnight, 2 March
    assert [lapse.as_dict() for lapse in contract.lapses] == [
        {"term_number": 1, "ended_at": datetime(2025, 12, 31, 23, tzinfo=UTC), "late": True}
    ]
    assert event_types(app, world.basic)[-2:] == ["Contract.Lapsed", "Contract.Reinstated"]
    # the next renewal is back at the tier's share
    assert app.renew_contract(world.basic, at=datetime(2026, 6, 1, tzinfo=UTC))["fee"] == Decimal(
        "1500.00"
    )


def test_a_renewed_term_is_granted_when_it_begins(app: SupportLedger, world: World) -> None:
    """Renewal records the term; its credits become usable at its start, granted on first use."""
    app.renew_contract(world.premium, at=at(11, 3))
    account = app.get_account(world.premium)
    assert [t.granted for t in sorted(account.terms.values(), key=lambda t: t.number)] == [
        True,
        False,
    ]
    result = app.consume_credits(
        world.premium,
        points=Decimal(10),
        activity="migration",
        key="k1",
        at=datetime(2026, 1, 5, 9, tzinfo=UTC),
    )
    assert app.get_account(world.premium).terms[2].granted is True
    assert result["draws"] == [
        {"lot_id": "term-2-points", "amount": Decimal(10), "returned": Decimal(0)}
    ]
    assert result["balance"] == Decimal(54)  # term 1's points expired at its end


def test_consumption_after_the_agreement_ended_is_refused(app: SupportLedger, world: World) -> None:
    """Without a valid term there is no consumption, and nothing is recorded."""
    count = recorded(app)
    with pytest.raises(AgreementNotValidError):
        app.consume_credits(
            world.premium,
            points=Decimal(1),
            activity="x",
            key="late",
            at=datetime(2026, 2, 1, tzinfo=UTC),
        )
    assert recorded(app) == count


def test_an_upgrade_grants_the_pro_rata_difference_to_the_account(
    app: SupportLedger, world: World
) -> None:
    """Advanced -> Premium on 2 July 2025: half a year left gives half of 16 points x 2 licenses."""
    when = datetime(2025, 7, 2, 11, 0, tzinfo=UTC)  # 182.5 of 365 days left
    assert app.change_tier(world.advanced, tier="premium", at=when) == "upgraded"
    adjustment = app.get_contract(world.advanced).upgrades[-1].adjustments[0]
    assert adjustment.remaining_share == Decimal("0.500000")
    assert adjustment.fee == Decimal("2500.00")  # (65 % - 40 %) x 20,000 x 0.5
    assert adjustment.points == Decimal("16.00")
    assert adjustment.sessions == 2  # (3 - 1) x 2 licenses x 0.5
    account = app.get_account(world.advanced)
    assert account.available("points", when) == Decimal(32 + 16)
    assert account.available("sessions", when) == Decimal(2 + 2)


def test_a_downgrade_waits_for_the_renewal(app: SupportLedger, world: World) -> None:
    """Premium -> Advanced is scheduled; the renewal then runs at 40 %."""
    app.remove_contact(world.premium, email="qa@acme.example", at=at(3, 1))
    assert app.change_tier(world.premium, tier="advanced", at=at(3, 2)) == "downgrade_scheduled"
    assert app.get_contract(world.premium).tier == "premium"
    term = app.renew_contract(world.premium, at=at(12, 1))
    assert (term["tier"], term["fee_share"], term["fee"]) == (
        "advanced",
        Decimal("0.40"),
        Decimal("16000.00"),
    )


def test_contract_history_answers_as_of_an_instant_and_a_version(
    app: SupportLedger, world: World
) -> None:
    """An earlier state can be read by version or by recording instant."""
    app.add_contact(world.premium, email="cto@acme.example", at=at(2, 1))
    now = app.get_contract(world.premium)
    first = app.get_contract(world.premium, version=1)
    assert len(now.contacts_at(at(2, 2))) == 3
    assert first.contacts == []
    moment = app.list_events(world.premium)[-2].timestamp
    assert len(app.get_contract(world.premium, as_of=moment).contacts) == 2


def test_events_of_an_unknown_aggregate_are_an_error(app: SupportLedger) -> None:
    """Listing events of an id nothing was recorded for names the problem."""
    with pytest.raises(UnknownAggregateError):
        app.list_events(uuid4())


# -- tickets -----------------------------------------------------------------------------------


def open_ticket(app: SupportLedger, world: World, **change: Any) -> Any:
    args = {
        "contract_id": world.premium, "reporter": "ops@acme.example", "version": "24.2.1",
        "platform": "linux", "severity": 1, "at": at(3, 3, 9, 15), "key": "ACME-1",
    }  # fmt: skip
    args.update(change)
    return app.open_ticket(**args)


def test_an_eligible_request_opens_with_its_deadline_and_its_clock_runs(
    app: SupportLedger, world: World
) -> None:
    """Premium severity 1 received Monday 09:15 Berlin is due 17:15; its clock runs."""
    opening = open_ticket(app, world)
    assert opening.status == "open"
    assert opening.due_at == at(3, 3, 17, 15)
    assert app.open_clocks(world.premium) == [opening.ticket_id]


DECLINES = [
    pytest.param({"reporter": "someone@else.example"}, "not_a_named_contact", id="not-named"),
    pytest.param({"version": "23.2.0"}, "unsupported_version", id="old-line"),
    pytest.param({"version": "24.2.9"}, "unsupported_version", id="unpublished"),
    pytest.param({"version": "25.1.0-beta1"}, "prerelease_version", id="beta"),
    pytest.param({"platform": "macOS"}, "unsupported_platform", id="platform"),
    pytest.param({"license_kind": "free"}, "free_license", id="free-license"),
    pytest.param(
        {"at": datetime(2024, 12, 30, 9, tzinfo=UTC)}, "no_valid_agreement", id="before-start"
    ),
    pytest.param({"at": datetime(2026, 1, 5, 9, tzinfo=UTC)}, "no_valid_agreement", id="after-end"),
]


@pytest.mark.parametrize(("change", "reason"), DECLINES)
def test_an_ineligible_request_is_declined_and_recorded(
    app: SupportLedger, world: World, change: dict[str, Any], reason: str
) -> None:
    """The first broken rule is the reason; the declined request itself is recorded."""
    count = recorded(app)
    opening = open_ticket(app, world, **change)
    assert (opening.status, opening.reason) == ("declined", reason)
    assert recorded(app) == count + 1
    ticket = app.get_ticket("ACME-1")
    assert (ticket.status, ticket.reason) == ("declined", reason)
    assert app.open_clocks(world.premium) == []


def test_the_decline_lists_the_named_contacts_to_redirect_to(
    app: SupportLedger, world: World
) -> None:
    """A request from someone else names the contacts to ask instead."""
    opening = open_ticket(app, world, reporter="someone@else.example")
    assert opening.details == {"named_contacts": ["ops@acme.example", "qa@acme.example"]}


def test_eligibility_is_checked_in_the_published_order(app: SupportLedger, world: World) -> None:
    """With several rules broken, the earliest in the order is the reason."""
    opening = open_ticket(
        app, world, reporter="someone@else.example", version="23.2.0", platform="solaris"
    )
    assert opening.reason == "not_a_named_contact"


def test_a_repeated_key_returns_the_first_answer_and_records_nothing(
    app: SupportLedger, world: World
) -> None:
    """Ingestion is idempotent by key; a different request under the same key is refused."""
    first = open_ticket(app, world)
    count = recorded(app)
    again = open_ticket(app, world, at=at(3, 3, 10))
    assert (again.ticket_id, again.due_at, again.recorded) == (first.ticket_id, first.due_at, False)
    with pytest.raises(IdempotencyConflictError):
        open_ticket(app, world, severity=2)
    assert recorded(app) == count


BAD_TICKETS = [
    pytest.param({"severity": 4}, UnknownSeverityError, id="severity"),
    pytest.param({"version": "latest"}, InvalidVersionError, id="version"),
    pytest.param({"reporter": "ops"}, InvalidEmailError, id="reporter"),
    pytest.param({"at": datetime(2025, 3, 3, 9)}, NaiveDatetimeError, id="naive"),
    pytest.param({"platform": " "}, LedgerError, id="no-platform"),
]


@pytest.mark.parametrize(("change", "error"), BAD_TICKETS)
def test_a_malformed_request_is_an_error_not_a_decline(
    app: SupportLedger, world: World, change: dict[str, Any], error: type[LedgerError]
) -> None:
    """Malformed input is refused with its error, and nothing is recorded."""
    count = recorded(app)
    with pytest.raises(error):
        open_ticket(app, world, **change)
    assert recorded(app) == count


def test_a_first_response_stops_the_clock_and_unregisters_it(
    app: SupportLedger, world: World
) -> None:
    """Responding records the outcome and frees the contract's registry entry."""
    opening = open_ticket(app, world)
    assert app.record_first_response("ACME-1", at=at(3, 3, 12)) == "met"
    assert app.open_clocks(world.premium) == []
    assert app.get_ticket(opening.ticket_id).outcome == "met"


def test_a_late_response_is_a_breach_even_without_a_breach_event(
    app: SupportLedger, world: World
) -> None:
    """Breach is a fact of the times, not of the scheduler."""
    open_ticket(app, world)
    assert app.record_first_response("ACME-1", at=at(3, 4, 8, 30)) == "breached"
    ticket = app.get_ticket("ACME-1")
    assert (ticket.outcome, ticket.breach_recorded) == ("breached", False)


def test_booking_an_appointment_recomputes_open_clocks_in_the_same_save(
    app: SupportLedger, world: World
) -> None:
    """A weekday-night appointment moves an open deadline earlier; cancelling moves it back."""
    open_ticket(app, world, at=at(3, 3, 14))  # due Tuesday 12:00 Berlin
    assert app.get_ticket("ACME-1").due_at == at(3, 4, 12)
    count = recorded(app)
    moved = app.book_appointment(
        world.premium, starts_at=at(3, 3, 19), ends_at=at(3, 3, 22), at=at(3, 3, 15)
    )
    assert len(moved) == 1
    assert recorded(app) == count + 2  # AppointmentBooked and DeadlineRecalculated
    ticket = app.get_ticket("ACME-1")
    assert ticket.due_at == at(3, 4, 9)
    assert ticket.original_due_at == at(3, 4, 12)
    app.cancel_appointment(
        world.premium, starts_at=at(3, 3, 19), ends_at=at(3, 3, 22), at=at(3, 3, 16)
    )
    assert app.get_ticket("ACME-1").due_at == at(3, 4, 12)


def test_answered_clocks_are_not_recalculated(app: SupportLedger, world: World) -> None:
    """Closed clocks never move when the calendar changes."""
    open_ticket(app, world, at=at(3, 3, 14))
    app.record_first_response("ACME-1", at=at(3, 3, 15))
    moved = app.book_appointment(
        world.premium, starts_at=at(3, 3, 19), ends_at=at(3, 3, 22), at=at(3, 3, 16)
    )
    assert moved == []


def test_holding_and_resuming_through_the_application(app: SupportLedger, world: World) -> None:
    """A two-hour hold moves the deadline by two business hours."""
    open_ticket(app, world)
    app.hold_ticket("ACME-1", at=at(3, 3, 10))
    assert app.get_ticket("ACME-1").due_at is None
    app.resume_ticket("ACME-1", at=at(3, 3, 12))
    assert app.get_ticket("ACME-1").due_at == at(3, 4, 9, 15)


def test_unknown_tickets_are_refused(app: SupportLedger, world: World) -> None:
    """A ticket id or key that names nothing is an error."""
    with pytest.raises(UnknownTicketError):
        app.record_first_response("NO-SUCH-KEY", at=at(3, 3))
    with pytest.raises(UnknownTicketError):
        app.get_ticket(uuid4())


def test_ticket_history_as_of_an_instant(app: SupportLedger, world: World) -> None:
    """The ticket as recorded before its response has no response."""
    open_ticket(app, world)
    opened_at = app.list_events(app.ticket_id("ACME-1"))[0].timestamp
    app.record_first_response("ACME-1", at=at(3, 3, 12))
    assert app.get_ticket("ACME-1", as_of=opened_at).responded_at is None
    assert app.get_ticket("ACME-1", version=1).responded_at is None
    assert app.get_ticket("ACME-1").responded_at == at(3, 3, 12)


# -- credits -----------------------------------------------------------------------------------


def test_consumption_never_goes_below_zero_and_records_nothing_when_refused(
    app: SupportLedger, world: World
) -> None:
    """Asking for more than the balance states the balance and records nothing."""
    app.consume_credits(world.advanced, points=Decimal(30), activity="a", key="k1", at=at(3, 3))
    count = recorded(app)
    with pytest.raises(InsufficientCreditsError, match="2 available"):
        app.consume_credits(world.advanced, points=Decimal(3), activity="b", key="k2", at=at(3, 4))
    assert recorded(app) == count


@pytest.mark.parametrize("points", ["0", "-1", "0.001"], ids=["zero", "negative", "too-precise"])
def test_unusable_amounts_are_refused(app: SupportLedger, world: World, points: str) -> None:
    """Zero, negative and sub-hundredth points are refused."""
    count = recorded(app)
    with pytest.raises(InvalidAmountError):
        app.consume_credits(
            world.premium, points=Decimal(points), activity="a", key="k", at=at(3, 3)
        )
    with pytest.raises(InvalidAmountError):
        app.purchase_credits(
            world.premium, points=Decimal(points), price=Decimal(1), key="p", at=at(3, 3)
        )
    assert recorded(app) == count


def test_consumption_is_idempotent_by_key(app: SupportLedger, world: World) -> None:
    """The same key and content records once; other content under it is refused."""
    first = app.consume_credits(
        world.premium, points=Decimal(5), activity="a", key="k", at=at(3, 3)
    )
    count = recorded(app)
    again = app.consume_credits(
        world.premium, points=Decimal(5), activity="a", key="k", at=at(3, 4)
    )
    assert (first["recorded"], again["recorded"]) == (True, False)
    with pytest.raises(IdempotencyConflictError):
        app.consume_credits(world.premium, points=Decimal(6), activity="a", key="k", at=at(3, 4))
    assert recorded(app) == count


def test_a_consumption_may_name_only_a_ticket_of_its_contract(
    app: SupportLedger, world: World
) -> None:
    """Points are consumed for the contract's own tickets only."""
    open_ticket(app, world)
    with pytest.raises(UnknownTicketError):
        app.consume_credits(
            world.advanced, points=Decimal(1), activity="a", key="k", ticket="ACME-1", at=at(3, 4)
        )
    result = app.consume_credits(
        world.premium, points=Decimal(1), activity="a", key="k", ticket="ACME-1", at=at(3, 4)
    )
    assert result["ticket_id"] == app.ticket_id("ACME-1")


def test_purchased_packages_are_drawn_after_lots_that_expire_first(
    app: SupportLedger, world: World
) -> None:
    """A package without expiry is used after the term's points, which expire at term end."""
    app.purchase_credits(
        world.premium, points=Decimal(50), price=Decimal(4000), key="p1", at=at(3, 3)
    )
    result = app.consume_credits(
        world.premium, points=Decimal(70), activity="a", key="k", at=at(3, 4)
    )
    assert [(d["lot_id"], d["amount"]) for d in result["draws"]] == [
        ("term-1-points", Decimal(64)),
        ("purchase-1", Decimal(6)),
    ]
    assert result["balance"] == Decimal(44)


def test_a_reversal_returns_points_and_is_idempotent(app: SupportLedger, world: World) -> None:
    """A partial reversal returns points; the same reversal again records nothing."""
    app.consume_credits(world.premium, points=Decimal(10), activity="a", key="k", at=at(3, 3))
    first = app.reverse_consumption(
        world.premium, key="k", points=Decimal(4), reason="goodwill", at=at(3, 4)
    )
    count = recorded(app)
    again = app.reverse_consumption(
        world.premium, key="k", points=Decimal(4), reason="goodwill", at=at(3, 5)
    )
    assert (first["recorded"], again["recorded"], first["balance"]) == (True, False, Decimal(58))
    assert recorded(app) == count


def test_training_sessions_come_from_their_own_balance(app: SupportLedger, world: World) -> None:
    """Premium with 2 licenses has 6 sessions; each session uses one."""
    result = app.hold_training(world.premium, key="t1", topic="test design", at=at(3, 3))
    assert (result["minutes"], result["sessions_left"]) == (30, Decimal(5))


def test_an_unknown_consumption_cannot_be_reversed(app: SupportLedger, world: World) -> None:
    """Reversing names a recorded consumption."""
    count = recorded(app)
    with pytest.raises(LedgerError, match="no consumption"):
        app.reverse_consumption(world.premium, key="nope", reason="x", at=at(3, 3))
    assert recorded(app) == count


def test_the_release_catalog_answers_as_of_a_received_instant(app: SupportLedger) -> None:
    """Before 24.2 was published, 24.1 and 23.2 were the supported lines."""
    from tests.scenario import publish_releases  # noqa: PLC0415

    publish_releases(app)
    catalog = app.get_catalog()
    assert catalog is not None
    assert catalog.supported_lines(datetime(2024, 11, 1, tzinfo=UTC), 2) == ["24.1", "23.2"]
    assert catalog.supported_lines(datetime(2025, 3, 1, tzinfo=UTC), 2) == ["24.2", "24.1"]
    app.withdraw_release("24.2.0", reason="regression", at=datetime(2025, 3, 2, tzinfo=UTC))
    assert catalog.supported_lines(datetime(2025, 3, 1, tzinfo=UTC), 2) == ["24.2", "24.1"]
    withdrawn = app.get_catalog()
    assert withdrawn is not None
    assert withdrawn.supported_lines(datetime(2025, 3, 3, tzinfo=UTC), 2) == ["24.2", "24.1"]
    assert withdrawn.available_at("24.2.0", datetime(2025, 3, 3, tzinfo=UTC)) is None


def test_a_release_and_its_prerelease_are_listed_release_first(app: SupportLedger) -> None:
    """Versions that differ only by a tag are ordered (pre-release before its release), so the
    catalog lists them newest first instead of failing to compare them."""
    for version in ["1.0.0", "1.0.0-rc1", "1.0.1", "0.9.0"]:
        app.publish_release(version, prerelease=False, at=at(1, 1))
    listed = [row["version"] for row in app.get_catalog().listing()]  # type: ignore[union-attr]
    assert listed == ["1.0.1", "1.0.0", "1.0.0-rc1", "0.9.0"]
