"""Inputs a person cannot have meant are refused before anything is recorded."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from ledger.domain.base import clean_text, instant, non_negative_money, positive_points
from ledger.domain.contract import Contract
from ledger.domain.errors import InvalidAmountError, InvalidInputError, LedgerError
from ledger.domain.releases import ReleaseCatalog
from ledger.parsing import parse_date, parse_instant
from ledger.terms import load_terms


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (datetime(1969, 12, 31, tzinfo=UTC), "at: 1969-12-31T00:00:00+00:00 is outside the years"),
        (datetime(3000, 1, 1, tzinfo=UTC), "at: 3000-01-01T00:00:00+00:00 is outside the years"),
    ],
    ids=["before-1970", "after-2999"],
)
def test_instants_outside_the_years_1970_to_2999_are_refused(value: datetime, message: str) -> None:
    """Deadline and term arithmetic needs room; such instants are typing mistakes."""
    with pytest.raises(InvalidInputError) as refused:
        instant(value)
    assert refused.value.message.startswith(message)


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (parse_instant, "9999-12-31T23:00:00Z"),
        (parse_instant, "0001-01-01T00:00:00Z"),
        (parse_date, "9999-12-31"),
    ],
    ids=["instant-9999", "instant-0001", "date-9999"],
)
def test_parsed_instants_and_dates_outside_the_years_are_refused(parse: object, text: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        parse(text, "--at")  # type: ignore[operator]
    assert refused.value.message == f"--at: {text} is outside the years 1970-2999"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Acme\x00", "customer: control characters are not allowed"),
        ("Acme\nGmbH", "customer: control characters are not allowed"),
        ("x" * 1001, "customer: at most 1000 characters"),
    ],
    ids=["nul", "newline", "too-long"],
)
def test_text_with_control_characters_or_too_long_is_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        clean_text(text, "customer")
    assert refused.value.message == message


def test_text_is_stripped_and_may_hold_any_printable_character() -> None:
    assert clean_text("  Ærø Søftware — GmbH  ", "customer") == "Ærø Søftware — GmbH"


@pytest.mark.parametrize("check", [positive_points, non_negative_money], ids=["points", "money"])
def test_amounts_above_a_trillion_are_refused(check: object) -> None:
    with pytest.raises(InvalidAmountError) as refused:
        check(Decimal("1000000000000.01"), "amount")  # type: ignore[operator]
    assert "can be at most 1,000,000,000,000" in refused.value.message


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"licenses": 100_001}, "invalid_amount"),
        ({"start": date(9999, 1, 1)}, "invalid_input"),
        ({"customer": "Acme\x07"}, "invalid_input"),
    ],
    ids=["licenses", "start-9999", "bell-in-name"],
)
def test_a_contract_with_impossible_figures_is_not_signed(
    change: dict[str, object], code: str
) -> None:
    args: dict[str, object] = {
        "terms": load_terms(), "customer": "Acme", "tier": "premium", "licenses": 2,
        "license_kind": "commercial", "list_price": Decimal(40000), "start": date(2025, 1, 1),
        "at": datetime(2025, 1, 2, tzinfo=UTC), "timezone": None, "holiday_region": None,
    }  # fmt: skip
    with pytest.raises(LedgerError) as refused:
        Contract.sign(**{**args, **change})  # type: ignore[arg-type]
    assert refused.value.code == code


def test_withdrawing_a_release_without_a_reason_is_an_input_error() -> None:
    catalog = ReleaseCatalog.start()
    catalog.publish("24.1.0", prerelease=False, at=datetime(2024, 6, 3, tzinfo=UTC))
    with pytest.raises(InvalidInputError) as refused:
        catalog.withdraw("24.1.0", reason="  ", at=datetime(2024, 7, 1, tzinfo=UTC))
    assert refused.value.message == "reason: give a reason for withdrawing a release"
