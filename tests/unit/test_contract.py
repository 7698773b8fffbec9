"""The contract: terms and fees, renewal and lapse, tier changes, contacts and appointments."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from ledger.calendars import contract_calendar
from ledger.domain.contract import Contract
from ledger.domain.errors import (
    AgreementNotValidError,
    AppointmentError,
    ContactLimitError,
    ContractStateError,
    DuplicateContactError,
    FreeLicenseError,
    InvalidAmountError,
    InvalidEmailError,
    InvalidInputError,
    LedgerError,
    NotIncludedInTierError,
    OutOfOrderError,
    TierChangeError,
    UnknownAppointmentError,
    UnknownContactError,
    UnknownLicenseKindError,
    UnknownTierError,
    UnknownTimezoneError,
)
from ledger.terms import load_terms
from tests.conftest import berlin, utc
from tests.unit.aggregate_case import aggregate_case, event, given, refused

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from ledger.domain.calendar import BusinessCalendar

    Events = list[Any]

TERMS = load_terms()
SIGNED_AT = berlin(2024, 12, 20, 10)
# The first term of a contract starting on 1 January 2025 in Berlin (CET, UTC+1).
TERM1_START = utc(2024, 12, 31, 23)
TERM1_END = utc(2025, 12, 31, 23)
TERM2_END = utc(2026, 12, 31, 23)
MONDAY = berlin(2025, 3, 3, 9)

# Appointment windows, Berlin wall time, as seen from Monday 3 March 2025.
TUESDAY_NIGHT = (berlin(2025, 3, 4, 18), berlin(2025, 3, 5, 8))
SATURDAY = (berlin(2025, 3, 8, 9), berlin(2025, 3, 8, 17))
UNITY_DAY = (berlin(2025, 10, 3, 9), berlin(2025, 10, 3, 17))  # Friday, a German holiday
FRIDAY_TO_MONDAY = (berlin(2025, 3, 7, 18), berlin(2025, 3, 10, 8))


def sign(
    tier: str = "premium",
    *,
    licenses: int = 3,
    list_price: str = "10000.00",
    start: date = date(2025, 1, 1),
) -> Callable[[], Contract]:
    """Signing a contract on 20 December 2024."""
    return lambda: Contract.sign(
        terms=TERMS,
        customer="ACME GmbH",
        tier=tier,
        licenses=licenses,
        license_kind="commercial",
        list_price=Decimal(list_price),
        start=start,
        timezone="Europe/Berlin",
        holiday_region="DE",
        at=SIGNED_AT,
    )


def signed(tier: str = "premium", *commands: Callable[[Contract], object], **terms: Any) -> Events:
    """The events of a contract signed on 20 December 2024, then changed by `commands`."""
    return given(sign(tier, **terms), *commands)


def with_contacts(tier: str, *emails: str, at: datetime = MONDAY) -> Events:
    """The events of a contract signed on `tier` that names `emails`."""
    return signed(tier, *(add(email, at=at) for email in emails))


def add(email: str, *, at: datetime = MONDAY) -> Callable[[Contract], None]:
    """Name `email` as a contact."""
    return lambda c: c.add_contact(email=email, terms=TERMS, at=at)


def regular(tier: str) -> BusinessCalendar:
    """The contract calendar without appointments (Mo-Fr 08:00-18:00 Berlin, DE holidays)."""
    return contract_calendar(TERMS.tier(tier), timezone="Europe/Berlin", holiday_region="DE")


def book(
    window: tuple[datetime, datetime], *, tier: str, at: datetime = MONDAY
) -> Callable[[Contract], None]:
    """Book an appointment for `window` on a contract of `tier`."""
    return lambda c: c.book_appointment(
        starts_at=window[0], ends_at=window[1], terms=TERMS, regular=regular(tier), at=at
    )


def cancel(
    window: tuple[datetime, datetime], *, at: datetime = MONDAY
) -> Callable[[Contract], None]:
    """Cancel the appointment for `window`."""
    return lambda c: c.cancel_appointment(starts_at=window[0], ends_at=window[1], at=at)


def renew(at: datetime, **order: Any) -> Callable[[Contract], None]:
    """Renew the contract at `at`."""
    return lambda c: c.renew(terms=TERMS, at=at, **order)


def change_tier(to_tier: str, at: datetime) -> Callable[[Contract], str]:
    """Change the contract's tier to `to_tier` at `at`."""
    return lambda c: c.change_tier(terms=TERMS, to_tier=to_tier, at=at)


def lapse(at: datetime) -> Callable[[Contract], None]:
    """Record the lapse of the latest term at `at`."""
    return lambda c: c.lapse(at=at)


def terminate(at: datetime, reason: str = "customer insolvent") -> Callable[[Contract], None]:
    """Terminate the contract at `at`."""
    return lambda c: c.terminate(reason=reason, at=at)


def sign_with(**changes: object) -> Callable[[object], Contract]:
    """Signing with the usual facts but `changes`."""
    arguments: dict[str, object] = {
        "terms": TERMS,
        "customer": "ACME GmbH",
        "tier": "premium",
        "licenses": 3,
        "license_kind": "commercial",
        "list_price": Decimal("10000.00"),
        "start": date(2025, 1, 1),
        "timezone": "Europe/Berlin",
        "holiday_region": "DE",
        "at": SIGNED_AT,
    }
    arguments.update(changes)
    return lambda _: Contract.sign(**arguments)  # type: ignore[arg-type]


# -- signing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tier", "share", "fee"),
    [
        ("premium", Decimal("0.65"), Decimal("802.48")),
        ("advanced", Decimal("0.40"), Decimal("493.83")),
        ("basic", Decimal("0.25"), Decimal("308.65")),
    ],
    ids=["premium-65-percent", "advanced-40-percent", "basic-25-percent-half-up"],
)
def test_signing_assesses_the_tier_share_of_the_list_price(
    tier: str, share: Decimal, fee: Decimal
) -> None:
    """The first term's fee is the tier's share of 1234.58, rounded half-up to cents."""
    case = aggregate_case(
        given=[],
        when=sign_with(tier=tier, list_price=Decimal("1234.58")),
        then=[event(Contract.Signed, tier=tier, fee_share=share, fee=fee)],
    )
    assert case.aggregate.terms[0].fee == fee
    assert case.aggregate.status == "active"


@pytest.mark.parametrize(
    ("start", "starts_at", "ends_at"),
    [
        (date(2025, 1, 1), utc(2024, 12, 31, 23), utc(2025, 12, 31, 23)),
        (date(2025, 7, 1), utc(2025, 6, 30, 22), utc(2026, 6, 30, 22)),
        (date(2025, 3, 30), utc(2025, 3, 29, 23), utc(2026, 3, 29, 22)),
        (date(2028, 2, 29), utc(2028, 2, 28, 23), utc(2029, 2, 28, 23)),
    ],
    ids=["winter", "summer", "winter-start-summer-end", "leap-day-ends-1-march"],
)
def test_a_term_runs_from_local_midnight_to_the_same_date_next_year(
    start: date, starts_at: datetime, ends_at: datetime
) -> None:
    """A term starts at Berlin midnight of its start date and ends at Berlin midnight a year on."""
    case = aggregate_case(
        given=[],
        when=sign_with(start=start),
        then=[event(Contract.Signed, starts_at=starts_at, ends_at=ends_at)],
    )
    term = case.aggregate.terms[0]
    assert (term.number, term.starts_at, term.ends_at) == (1, starts_at, ends_at)


def test_a_free_license_includes_no_support() -> None:
    """Signing for a free license is refused with FreeLicenseError."""
    aggregate_case(given=[], when=sign_with(license_kind="Free"), then=refused(FreeLicenseError))


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"license_kind": "trial"}, UnknownLicenseKindError),
        ({"licenses": 0}, InvalidAmountError),
        ({"licenses": -1}, InvalidAmountError),
        ({"licenses": True}, InvalidAmountError),
        ({"list_price": Decimal(0)}, InvalidAmountError),
        ({"list_price": Decimal("-100.00")}, InvalidAmountError),
        ({"list_price": Decimal("100.005")}, InvalidAmountError),
        ({"tier": "gold"}, UnknownTierError),
        ({"timezone": "Mars/Olympus_Mons"}, UnknownTimezoneError),
        ({"customer": "  "}, InvalidInputError),
    ],
    ids=[
        "unknown-license-kind",
        "no-licenses",
        "negative-licenses",
        "bool-licenses",
        "zero-list-price",
        "negative-list-price",
        "sub-cent-list-price",
        "unknown-tier",
        "unknown-timezone",
        "blank-customer",
    ],
)
def test_signing_refuses_bad_input(changes: dict[str, object], error: type[LedgerError]) -> None:
    """Each malformed signing is refused with the LedgerError that names the problem."""
    aggregate_case(given=[], when=sign_with(**changes), then=refused(error))


# -- renewal, lapse, reinstatement, termination ----------------------------------------------


def test_renewal_orders_the_next_term_from_the_end_of_the_latest() -> None:
    """A renewal starts when the latest term ends, for a year, at the tier's share."""
    case = aggregate_case(
        given=signed("premium"),
        when=renew(berlin(2025, 12, 1, 10)),
        then=[
            event(
                Contract.Renewed,
                term_number=2,
                starts_at=TERM1_END,
                ends_at=TERM2_END,
                tier="premium",
                fee_share=Decimal("0.65"),
                fee=Decimal(6500),
            )
        ],
    )
    assert case.aggregate.term_at(TERM1_END).number == 2


def test_renewal_may_change_the_list_price() -> None:
    """A renewal at a new list price assesses the tier's share of that price."""
    aggregate_case(
        given=signed("advanced"),
        when=renew(berlin(2025, 12, 1, 10), list_price=Decimal("12345.67")),
        then=[event(Contract.Renewed, list_price=Decimal("12345.67"), fee=Decimal("4938.27"))],
    )


def test_renewal_after_the_term_ended_is_refused_in_favour_of_reinstatement() -> None:
    """Once the latest term has ended, renew is refused and the message points to reinstate."""
    case = aggregate_case(given=signed(), when=renew(TERM1_END), then=refused(ContractStateError))
    assert "reinstate" in case.error.message  # type: ignore[union-attr]


def test_renewal_of_a_lapsed_agreement_is_refused() -> None:
    """A lapsed agreement cannot be renewed."""
    aggregate_case(
        given=signed("premium", lapse(TERM1_END)),
        when=renew(utc(2026, 1, 2)),
        then=refused(ContractStateError),
    )


def test_renewing_twice_in_advance_is_refused() -> None:
    """A term that has not begun yet is not renewed again."""
    case = aggregate_case(
        given=signed("premium", renew(berlin(2025, 11, 1, 10))),
        when=renew(berlin(2025, 11, 2, 10)),
        then=refused(ContractStateError),
    )
    assert len(case.aggregate.terms) == 2


def test_a_term_lapses_only_after_it_ended() -> None:
    """Lapse is refused before the term's end and recorded from its end on."""
    aggregate_case(
        given=signed(),
        when=lapse(TERM1_END - timedelta(microseconds=1)),
        then=refused(ContractStateError),
    )
    case = aggregate_case(
        given=signed(),
        when=lapse(TERM1_END),
        then=[event(Contract.Lapsed, term_number=1, ended_at=TERM1_END)],
    )
    assert case.aggregate.status == "lapsed"
    assert case.aggregate.term_at(TERM1_END) is None


def test_a_renewed_term_does_not_lapse_at_the_end_of_the_previous_one() -> None:
    """After a renewal, the previous term's end is no lapse."""
    aggregate_case(
        given=signed("premium", renew(berlin(2025, 11, 1, 10))),
        when=lapse(TERM1_END),
        then=refused(ContractStateError),
    )


def test_reinstatement_starts_a_term_on_the_local_day_at_80_percent() -> None:
    """At 00:30 Berlin on 20 April (19 April in UTC) the new term starts at Berlin midnight."""
    case = aggregate_case(
        given=signed("premium", lapse(utc(2026, 1, 2))),
        when=lambda c: c.reinstate(terms=TERMS, at=berlin(2026, 4, 20, 0, 30)),
        then=[
            event(
                Contract.Reinstated,
                term_number=2,
                lapsed_term_number=1,
                starts_at=utc(2026, 4, 19, 22),
                ends_at=utc(2027, 4, 19, 22),
                fee_share=Decimal("0.80"),
                fee=Decimal("8000.00"),
            )
        ],
    )
    contract = case.aggregate
    assert contract.status == "active"
    assert contract.term_at(berlin(2026, 4, 20, 0, 30)).number == 2
    assert contract.term_at(berlin(2026, 4, 19, 23, 59)) is None


def test_the_term_after_a_reinstatement_costs_the_tier_share_again() -> None:
    """Only the first term after a lapse costs 80 %; its renewal costs the tier's share."""
    aggregate_case(
        given=signed(
            "premium",
            lapse(utc(2026, 1, 2)),
            lambda c: c.reinstate(terms=TERMS, at=berlin(2026, 4, 20, 10)),
        ),
        when=renew(berlin(2027, 3, 1, 10)),
        then=[
            event(
                Contract.Renewed,
                term_number=3,
                starts_at=utc(2027, 4, 19, 22),
                fee_share=Decimal("0.65"),
                fee=Decimal("6500.00"),
            )
        ],
    )


@pytest.mark.parametrize(
    "setup",
    [(), (terminate(berlin(2025, 6, 1, 12)),)],
    ids=["active", "terminated"],
)
def test_only_a_lapsed_agreement_is_reinstated(setup: tuple[Callable[[Contract], None]]) -> None:
    """Reinstate is refused for an active or a terminated agreement."""
    aggregate_case(
        given=signed("premium", *setup),
        when=lambda c: c.reinstate(terms=TERMS, at=utc(2026, 2, 1)),
        then=refused(ContractStateError),
    )


def test_termination_needs_a_reason() -> None:
    """A termination without a reason is refused."""
    case = aggregate_case(
        given=signed(),
        when=terminate(berlin(2025, 6, 1, 12), reason=" "),
        then=refused(InvalidInputError),
    )
    assert case.aggregate.status == "active"


def test_termination_ends_the_agreement_at_once() -> None:
    """From the termination on no term is in force; a second termination is refused."""
    case = aggregate_case(
        given=signed(),
        when=terminate(berlin(2025, 6, 1, 12)),
        then=[event(Contract.Terminated, reason="customer insolvent")],
    )
    contract = case.aggregate
    assert contract.status == "terminated"
    assert contract.term_at(berlin(2025, 6, 1, 11, 59)).number == 1
    assert contract.term_at(berlin(2025, 6, 1, 12)) is None
    assert contract.term_at(berlin(2025, 9, 1)) is None
    terminated = signed("premium", terminate(berlin(2025, 6, 1, 12)))
    aggregate_case(
        given=terminated,
        when=terminate(berlin(2025, 6, 2), reason="again"),
        then=refused(ContractStateError),
    )
    aggregate_case(
        given=terminated, when=renew(berlin(2025, 6, 2)), then=refused(ContractStateError)
    )


# -- tier changes ----------------------------------------------------------------------------


# Upgrade instants in the 2025 term (365 days, to 31 Dec 23:00 UTC), with the days left.
LEFT_146_DAYS = berlin(2025, 8, 8, 1)  # share 146/365 = 0.4
LEFT_100_DAYS = berlin(2025, 9, 23, 1)  # share 100/365 = 0.27397260... -> 0.273973


@pytest.mark.parametrize(
    ("from_tier", "to_tier", "licenses", "list_price", "at", "share", "fee", "points", "sessions"),
    [
        # fee 0.25 x 10000 x 0.4; points 16 x 3 x 0.4 = 19.2; sessions 2 x 3 x 0.4 = 2.4 -> 2
        ("advanced", "premium", 3, "10000.00", LEFT_146_DAYS, "0.400000", "1000.00", "19.20", 2),
        # fee 2500 x 0.273973 = 684.9325; points 48 x 0.273973 = 13.150704; sessions 1.64 -> 1
        ("advanced", "premium", 3, "10000.00", LEFT_100_DAYS, "0.273973", "684.93", "13.15", 1),
        # fee 0.40 x 1234.58 x 0.4 = 197.5328; points 32 x 2 x 0.4 = 25.6; sessions 2.4 -> 2
        ("basic", "premium", 2, "1234.58", LEFT_146_DAYS, "0.400000", "197.53", "25.60", 2),
        # fee 0.15 x 10000 x 0.273973 = 410.9595; points 16 x 0.273973 = 4.38; sessions 0.27 -> 0
        ("basic", "advanced", 1, "10000.00", LEFT_100_DAYS, "0.273973", "410.96", "4.38", 0),
    ],
    ids=[
        "advanced-to-premium-146-days-left",
        "advanced-to-premium-100-days-left",
        "basic-to-premium-146-days-left",
        "basic-to-advanced-100-days-left",
    ],
)
def test_an_upgrade_assesses_and_grants_the_difference_pro_rata(
    *,
    from_tier: str,
    to_tier: str,
    licenses: int,
    list_price: str,
    at: datetime,
    share: str,
    fee: str,
    points: str,
    sessions: int,
) -> None:
    """An upgrade applies at once; fee, points and sessions differ by the remaining share."""
    adjustment = {
        "term_number": 1,
        "remaining_share": Decimal(share),
        "fee": Decimal(fee),
        "points": Decimal(points),
        "sessions": sessions,
        "expires_at": TERM1_END,
    }
    case = aggregate_case(
        given=signed(from_tier, licenses=licenses, list_price=list_price),
        when=change_tier(to_tier, at),
        then=[
            event(
                Contract.Upgraded,
                from_tier=from_tier,
                to_tier=to_tier,
                adjustments=[adjustment],
            )
        ],
    )
    contract = case.aggregate
    assert case.result == "upgraded"
    assert contract.tier == to_tier
    assert contract.tier_at(at) == to_tier
    assert contract.tier_at(at - timedelta(microseconds=1)) == from_tier


def test_an_upgrade_assesses_a_renewed_term_not_yet_begun_in_full() -> None:
    """A renewed term that has not begun pays the whole fee difference; its credits come later."""
    case = aggregate_case(
        given=signed("advanced", renew(berlin(2025, 8, 1, 10))),
        when=change_tier("premium", LEFT_146_DAYS),
        then=[event(Contract.Upgraded)],
    )
    assert case.events[0].adjustments[1] == {
        "term_number": 2,
        "remaining_share": Decimal("1.000000"),
        "fee": Decimal("2500.00"),
        "points": Decimal(0),
        "sessions": 0,
        "expires_at": TERM2_END,
    }
    assert [t.tier for t in case.aggregate.terms] == ["premium", "premium"]


def test_an_upgrade_raises_the_contact_limit_at_once() -> None:
    """After an upgrade from Basic to Premium, five contacts may be named."""
    case = aggregate_case(
        given=signed("basic", add("a@acme.example"), change_tier("premium", MONDAY)),
        when=lambda c: [add(f"{name}@acme.example")(c) for name in "bcde"],
        then=[event(Contract.ContactAdded) for _ in "bcde"],
    )
    assert len(case.aggregate.contacts_at(MONDAY)) == 5


def test_a_downgrade_is_scheduled_for_the_end_of_the_latest_term() -> None:
    """A lower tier is not applied at once but scheduled for the latest term's end."""
    case = aggregate_case(
        given=signed("premium"),
        when=change_tier("advanced", berlin(2025, 6, 1)),
        then=[event(Contract.DowngradeScheduled, to_tier="advanced", effective_at=TERM1_END)],
    )
    assert case.result == "downgrade_scheduled"
    assert (case.aggregate.tier, case.aggregate.pending_tier) == ("premium", "advanced")


def test_a_scheduled_downgrade_applies_at_renewal() -> None:
    """The renewed term has the lower tier and costs the lower tier's share."""
    case = aggregate_case(
        given=signed("premium", change_tier("advanced", berlin(2025, 6, 1))),
        when=renew(berlin(2025, 12, 1, 10)),
        then=[
            event(Contract.Renewed, tier="advanced", fee_share=Decimal("0.40"), fee=Decimal(4000))
        ],
    )
    contract = case.aggregate
    assert contract.pending_tier is None
    assert contract.tier_at(TERM1_END - timedelta(microseconds=1)) == "premium"
    assert contract.tier_at(TERM1_END) == "advanced"


def test_an_early_renewal_keeps_the_higher_tier_until_the_current_term_ends() -> None:
    """After renewing in advance into a downgrade, Premium still allows a weekend appointment."""
    # given: a Premium term to 31 December, renewed on 1 December into Advanced
    # when: a Saturday in December, still in the Premium term
    aggregate_case(
        given=signed(
            "premium",
            change_tier("advanced", berlin(2025, 6, 1)),
            renew(berlin(2025, 12, 1, 10)),
        ),
        when=book(
            (berlin(2025, 12, 6, 9), berlin(2025, 12, 6, 17)),
            tier="premium",
            at=berlin(2025, 12, 1, 11),
        ),
        then=[event(Contract.AppointmentBooked)],
    )


def test_upgrading_back_after_an_early_renewal_assesses_only_the_renewed_term() -> None:
    """The current term is Premium already; only the renewed Advanced term pays the difference."""
    # given: a Premium term to 31 December, renewed on 1 December into Advanced
    # then: the renewed term pays 0.25 x 10000 in full; term 1 is not charged again
    aggregate_case(
        given=signed(
            "premium",
            change_tier("advanced", berlin(2025, 6, 1)),
            renew(berlin(2025, 12, 1, 10)),
        ),
        when=change_tier("premium", berlin(2025, 12, 2)),
        then=[
            event(
                Contract.Upgraded,
                adjustments=[
                    {
                        "term_number": 2,
                        "remaining_share": Decimal("1.000000"),
                        "fee": Decimal("2500.00"),
                        "points": Decimal(0),
                        "sessions": 0,
                        "expires_at": TERM2_END,
                    }
                ],
            )
        ],
    )


def test_changing_to_the_same_tier_is_refused() -> None:
    """Without a scheduled downgrade, a change to the current tier is a TierChangeError."""
    aggregate_case(
        given=signed("advanced"),
        when=change_tier("advanced", MONDAY),
        then=refused(TierChangeError),
    )


def test_changing_to_the_current_tier_cancels_a_scheduled_downgrade() -> None:
    """With a downgrade scheduled, the current tier calls it off; the renewal keeps the tier."""
    case = aggregate_case(
        given=signed("premium", change_tier("basic", berlin(2025, 6, 1))),
        when=change_tier("premium", berlin(2025, 6, 2)),
        then=[event(Contract.DowngradeCancelled, to_tier="basic")],
    )
    contract = case.aggregate
    assert case.result == "downgrade_cancelled"
    assert contract.pending_tier is None
    contract.renew(terms=TERMS, at=berlin(2025, 12, 1, 10))
    assert contract.latest_term.tier == "premium"
    assert contract.latest_term.fee_share == Decimal("0.65")


def test_scheduling_the_same_downgrade_twice_is_refused() -> None:
    """A downgrade already scheduled is not scheduled again."""
    aggregate_case(
        given=signed("premium", change_tier("advanced", berlin(2025, 6, 1))),
        when=change_tier("advanced", berlin(2025, 6, 2)),
        then=refused(TierChangeError),
    )


@pytest.mark.parametrize(
    ("to_tier", "emails"),
    [
        ("advanced", ("a@acme.example", "b@acme.example", "c@acme.example")),
        ("basic", ("a@acme.example", "b@acme.example")),
    ],
    ids=["three-contacts-to-advanced", "two-contacts-to-basic"],
)
def test_a_downgrade_is_refused_while_contacts_exceed_the_lower_limit(
    to_tier: str, emails: tuple[str, ...]
) -> None:
    """More named contacts than the lower tier allows block the downgrade."""
    case = aggregate_case(
        given=with_contacts("premium", *emails),
        when=change_tier(to_tier, berlin(2025, 6, 1)),
        then=refused(TierChangeError),
    )
    assert case.aggregate.pending_tier is None


def test_a_downgrade_within_the_lower_contact_limit_is_scheduled() -> None:
    """Exactly as many contacts as the lower tier allows do not block the downgrade."""
    case = aggregate_case(
        given=with_contacts("premium", "a@acme.example", "b@acme.example"),
        when=change_tier("advanced", berlin(2025, 6, 1)),
        then=[event(Contract.DowngradeScheduled)],
    )
    assert case.result == "downgrade_scheduled"


def test_a_downgrade_is_refused_while_a_representative_is_assigned() -> None:
    """A lower tier without a technical account representative needs the representative gone."""
    aggregate_case(
        given=signed(
            "premium",
            lambda c: c.assign_representative(name="Rita Roth", terms=TERMS, at=MONDAY),
        ),
        when=change_tier("advanced", berlin(2025, 6, 1)),
        then=refused(TierChangeError),
    )


# -- named contacts --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tier", "limit"),
    [("premium", 5), ("advanced", 2), ("basic", 1)],
    ids=["premium-5", "advanced-2", "basic-1"],
)
def test_contacts_are_named_up_to_the_tier_limit(tier: str, limit: int) -> None:
    """A tier names up to its limit of contacts; one more is a ContactLimitError."""
    emails = [f"contact{n}@acme.example" for n in range(1, limit + 1)]
    case = aggregate_case(
        given=with_contacts(tier, *emails),
        when=add("one.more@acme.example"),
        then=refused(ContactLimitError),
    )
    assert case.aggregate.contacts_at(MONDAY) == emails


def test_a_contact_is_named_once_whatever_the_case() -> None:
    """An address already named, in any case, is a DuplicateContactError."""
    aggregate_case(
        given=with_contacts("premium", "ann@acme.example"),
        when=add(" Ann@ACME.example "),
        then=refused(DuplicateContactError),
    )


def test_removing_a_contact_that_is_not_named_is_refused() -> None:
    """Only a named contact can be removed."""
    aggregate_case(
        given=with_contacts("premium", "ann@acme.example"),
        when=lambda c: c.remove_contact(email="bob@acme.example", at=MONDAY),
        then=refused(UnknownContactError),
    )


@pytest.mark.parametrize(
    "email",
    ["ann", "ann@acme", "ann @acme.example", "@acme.example", ""],
    ids=["no-at", "no-domain-dot", "space", "no-local-part", "empty"],
)
def test_a_malformed_email_is_refused(email: str) -> None:
    """An address that cannot be one is an InvalidEmailError."""
    aggregate_case(given=signed("premium"), when=add(email), then=refused(InvalidEmailError))


def test_contacts_at_answers_for_any_instant() -> None:
    """The named contacts are kept as a history: added, removed, and a freed slot reused."""
    added_ann, added_bob, removed_ann, added_cy = (
        berlin(2025, 2, 3, 9),
        berlin(2025, 2, 4, 9),
        berlin(2025, 2, 5, 9),
        berlin(2025, 2, 6, 9),
    )

    def history(contract: Contract) -> None:
        contract.add_contact(email="ann@acme.example", terms=TERMS, at=added_ann)
        contract.add_contact(email="bob@acme.example", terms=TERMS, at=added_bob)
        contract.remove_contact(email="ann@acme.example", at=removed_ann)
        contract.add_contact(email="cy@acme.example", terms=TERMS, at=added_cy)

    case = aggregate_case(
        given=signed("advanced"),
        when=history,
        then=[
            event(Contract.ContactAdded, email="ann@acme.example", added_at=added_ann),
            event(Contract.ContactAdded, email="bob@acme.example", added_at=added_bob),
            event(Contract.ContactRemoved, email="ann@acme.example", removed_at=removed_ann),
            event(Contract.ContactAdded, email="cy@acme.example", added_at=added_cy),
        ],
    )
    contract = case.aggregate
    assert contract.contacts_at(berlin(2025, 2, 3, 8, 59)) == []
    assert contract.contacts_at(added_ann) == ["ann@acme.example"]
    assert contract.contacts_at(added_bob) == ["ann@acme.example", "bob@acme.example"]
    assert contract.contacts_at(removed_ann) == ["bob@acme.example"]
    assert contract.contacts_at(added_cy) == ["bob@acme.example", "cy@acme.example"]


@pytest.mark.parametrize(
    ("setup", "at"),
    [
        ((), berlin(2024, 12, 21, 9)),
        ((), TERM1_END),
        ((lapse(TERM1_END),), utc(2026, 1, 2)),
        ((terminate(MONDAY),), MONDAY),
    ],
    ids=["before-the-start", "after-the-term-ended", "lapsed", "terminated"],
)
def test_contacts_need_a_valid_agreement(
    setup: tuple[Callable[[Contract], None]], at: datetime
) -> None:
    """Without a term in force, no contact is named."""
    aggregate_case(
        given=signed("premium", *setup),
        when=add("ann@acme.example", at=at),
        then=refused(AgreementNotValidError),
    )


# -- technical account representative --------------------------------------------------------


def test_premium_includes_a_technical_account_representative() -> None:
    """A Premium contract is assigned a representative."""
    case = aggregate_case(
        given=signed("premium"),
        when=lambda c: c.assign_representative(name="Rita Roth", terms=TERMS, at=MONDAY),
        then=[event(Contract.RepresentativeAssigned, name="Rita Roth")],
    )
    assert case.aggregate.representative == "Rita Roth"


@pytest.mark.parametrize("tier", ["advanced", "basic"], ids=["advanced", "basic"])
def test_lower_tiers_include_no_representative(tier: str) -> None:
    """Advanced and Basic contracts get no technical account representative."""
    case = aggregate_case(
        given=signed(tier),
        when=lambda c: c.assign_representative(name="Rita Roth", terms=TERMS, at=MONDAY),
        then=refused(NotIncludedInTierError),
    )
    assert case.aggregate.representative is None


# -- appointments ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tier", "window"),
    [
        ("premium", TUESDAY_NIGHT),
        ("premium", SATURDAY),
        ("premium", UNITY_DAY),
        ("premium", FRIDAY_TO_MONDAY),
        ("advanced", TUESDAY_NIGHT),
    ],
    ids=[
        "premium-weekday-night",
        "premium-saturday",
        "premium-holiday",
        "premium-friday-night-to-monday",
        "advanced-weekday-night",
    ],
)
def test_appointments_are_booked_as_the_tier_allows(
    tier: str, window: tuple[datetime, datetime]
) -> None:
    """Premium books weekday nights, weekends and holidays; Advanced weekday nights."""
    case = aggregate_case(
        given=signed(tier),
        when=book(window, tier=tier),
        then=[
            event(
                Contract.AppointmentBooked,
                starts_at=window[0],
                ends_at=window[1],
                calendar_revision=2,
            )
        ],
    )
    assert case.aggregate.appointment_windows() == (window,)
    assert case.aggregate.calendar_revision == 2


@pytest.mark.parametrize(
    ("tier", "window"),
    [
        ("advanced", SATURDAY),
        ("advanced", UNITY_DAY),
        ("advanced", FRIDAY_TO_MONDAY),
        ("basic", TUESDAY_NIGHT),
        ("basic", SATURDAY),
    ],
    ids=[
        "advanced-saturday",
        "advanced-holiday",
        "advanced-friday-night-to-monday",
        "basic-weekday-night",
        "basic-saturday",
    ],
)
def test_appointments_beyond_the_tier_are_refused(
    tier: str, window: tuple[datetime, datetime]
) -> None:
    """Advanced has no weekend or holiday appointments, Basic none at all."""
    case = aggregate_case(
        given=signed(tier), when=book(window, tier=tier), then=refused(NotIncludedInTierError)
    )
    assert case.aggregate.calendar_revision == 1


@pytest.mark.parametrize(
    ("window", "reason"),
    [
        ((berlin(2025, 3, 8, 17), berlin(2025, 3, 8, 9)), "before it starts"),
        ((berlin(2025, 3, 1, 9), berlin(2025, 3, 1, 17)), "not in the future"),
        ((MONDAY, berlin(2025, 3, 3, 10)), "not in the future"),
        ((berlin(2025, 3, 8), berlin(2025, 3, 22, 0, 0, 1)), "at most 14 days"),
        ((berlin(2025, 3, 10, 17), berlin(2025, 3, 10, 19)), "overlaps regular coverage"),
        ((berlin(2025, 3, 10, 6), berlin(2025, 3, 10, 8, 0, 1)), "overlaps regular coverage"),
        ((berlin(2026, 1, 3, 9), berlin(2026, 1, 3, 17)), "after the agreement's last term"),
    ],
    ids=[
        "ends-before-it-starts",
        "in-the-past",
        "starting-now",
        "longer-than-14-days",
        "into-regular-hours-at-17",
        "a-second-into-regular-hours",
        "after-the-last-term",
    ],
)
def test_an_appointment_window_must_be_allowed(
    window: tuple[datetime, datetime], reason: str
) -> None:
    """A window in the future, at most 14 days, outside regular hours and within the last term."""
    case = aggregate_case(
        given=signed("premium"), when=book(window, tier="premium"), then=refused(AppointmentError)
    )
    assert reason in case.error.message  # type: ignore[union-attr]


def test_an_appointment_may_end_when_regular_hours_begin() -> None:
    """A night window ending at 08:00 touches regular hours without overlapping them."""
    aggregate_case(
        given=signed("premium"),
        when=book((berlin(2025, 3, 10, 6), berlin(2025, 3, 10, 8)), tier="premium"),
        then=[event(Contract.AppointmentBooked)],
    )


def test_appointments_do_not_overlap_each_other() -> None:
    """A window overlapping a booked one is refused; one touching it is booked."""
    booked = signed("premium", book(SATURDAY, tier="premium"))
    aggregate_case(
        given=booked,
        when=book((berlin(2025, 3, 8, 16), berlin(2025, 3, 8, 20)), tier="premium"),
        then=refused(AppointmentError),
    )
    case = aggregate_case(
        given=booked,
        when=book((berlin(2025, 3, 8, 17), berlin(2025, 3, 8, 20)), tier="premium"),
        then=[event(Contract.AppointmentBooked)],
    )
    assert case.aggregate.calendar_revision == 3


def test_an_appointment_is_cancelled_before_it_begins() -> None:
    """Cancelling a booked window records it and raises the calendar revision again."""
    case = aggregate_case(
        given=signed("premium", book(SATURDAY, tier="premium")),
        when=cancel(SATURDAY, at=berlin(2025, 3, 4)),
        then=[event(Contract.AppointmentCancelled, calendar_revision=3)],
    )
    assert case.aggregate.calendar_revision == 3
    assert case.aggregate.appointment_windows() == ()


def test_a_cancelled_window_can_be_booked_again() -> None:
    """After a cancellation the same window is free; each change raises the revision."""
    case = aggregate_case(
        given=signed("premium", book(SATURDAY, tier="premium"), cancel(SATURDAY)),
        when=book(SATURDAY, tier="premium"),
        then=[event(Contract.AppointmentBooked, calendar_revision=4)],
    )
    assert case.aggregate.calendar_revision == 4
    assert case.aggregate.appointment_windows() == (SATURDAY,)


@pytest.mark.parametrize(
    ("window", "cancel_first"),
    [
        ((SATURDAY[0], berlin(2025, 3, 8, 16)), False),
        (SATURDAY, True),
    ],
    ids=["other-window", "already-cancelled"],
)
def test_cancelling_a_window_not_booked_is_refused(
    window: tuple[datetime, datetime], cancel_first: bool
) -> None:
    """Only a booked window, given exactly, is cancelled."""
    cancelled = (cancel(SATURDAY),) if cancel_first else ()
    aggregate_case(
        given=signed("premium", book(SATURDAY, tier="premium"), *cancelled),
        when=cancel(window),
        then=refused(UnknownAppointmentError),
    )


def test_an_appointment_that_began_cannot_be_cancelled() -> None:
    """Once its window has begun, an appointment stays."""
    case = aggregate_case(
        given=signed("premium", book(SATURDAY, tier="premium")),
        when=cancel(SATURDAY, at=berlin(2025, 3, 8, 10)),
        then=refused(AppointmentError),
    )
    assert case.aggregate.appointment_windows() == (SATURDAY,)


def test_appointments_need_a_valid_agreement() -> None:
    """After termination no appointment is booked."""
    aggregate_case(
        given=signed("premium", terminate(MONDAY)),
        when=book(SATURDAY, tier="premium"),
        then=refused(AgreementNotValidError),
    )


# -- order of facts --------------------------------------------------------------------------

EARLIER = berlin(2025, 3, 2, 12)
OUT_OF_ORDER = [
    pytest.param(add("bob@acme.example", at=EARLIER), id="add-contact"),
    pytest.param(lambda c: c.remove_contact(email="ann@acme.example", at=EARLIER), id="remove"),
    pytest.param(renew(EARLIER), id="renew"),
    pytest.param(terminate(EARLIER, reason="insolvent"), id="terminate"),
    pytest.param(change_tier("basic", EARLIER), id="tier"),
    pytest.param(
        lambda c: c.assign_representative(name="Rita Roth", terms=TERMS, at=EARLIER),
        id="representative",
    ),
    pytest.param(book(SATURDAY, tier="premium", at=EARLIER), id="book"),
]


@pytest.mark.parametrize("command", OUT_OF_ORDER)
def test_a_fact_dated_before_the_last_recorded_one_is_refused(
    command: Callable[[Contract], object],
) -> None:
    """Facts are entered in the order they happened; an earlier instant is an OutOfOrderError."""
    # given: the last recorded fact is a contact added on Monday 3 March
    aggregate_case(
        given=with_contacts("premium", "ann@acme.example"),
        when=command,
        then=refused(OutOfOrderError),
    )
