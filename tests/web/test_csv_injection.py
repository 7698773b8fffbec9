"""Every CSV of the API and the pages neutralises cells a spreadsheet would read as formulas."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from ledger.reports import csv_table, csv_value
from tests.web.test_pages import sign_in

if TYPE_CHECKING:
    from tests.web.conftest import Api

# Names a customer could be given, each read by a spreadsheet as a formula if left as it is.
HOSTILE = ('=HYPERLINK("http://x","y")', "@SUM(1)", "+1", "-1+2")


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("@SUM(1)", "'@SUM(1)"),
        ("+1", "'+1"),
        ("-1+2", "'-1+2"),
        ("\tname", "'\tname"),
        ("\rname", "'\rname"),
        ("ACME GmbH", "ACME GmbH"),
        ("a=b", "a=b"),
        (Decimal(-4955), "-4955"),
        (Decimal("-0.50"), "-0.5"),
        (-3, "-3"),
        (datetime(2025, 1, 1, tzinfo=UTC), "2025-01-01T00:00:00Z"),
        (date(2025, 1, 1), "2025-01-01"),
        (None, ""),
    ],
    ids=["hyperlink", "at", "plus", "minus", "tab", "carriage return", "plain", "inner equals",
         "negative decimal", "negative cents", "negative int", "instant", "date", "none"],
)  # fmt: skip
def test_text_that_starts_a_formula_is_quoted_and_figures_are_not(value: object, cell: str) -> None:
    """Text starting with =, +, -, @, tab or carriage return gets a leading `'`; a number the
    ledger formats (a negative figure too) stays a number."""
    assert csv_value(value) == cell


def test_a_table_keeps_negative_figures_beside_a_neutralised_name() -> None:
    """In one row, the hostile name is quoted and the negative figure is written as it is."""
    text = csv_table(["customer", "closing"], [{"customer": "-1+2", "closing": Decimal(-4955)}])

    assert list(csv.reader(io.StringIO(text))) == [["customer", "closing"], ["'-1+2", "-4955"]]


def sign_hostile_customers(api: Api) -> None:
    """A contract for every hostile name, signed at the start of 2025."""
    for number, name in enumerate(HOSTILE):
        answer = api.post("admin", "/contracts", {
            "customer": name, "tier": "premium", "licenses": 1, "list_price": "1000",
            "start": "2025-01-01", "at": "2025-01-01T09:00:00Z",
        }, headers={"Idempotency-Key": f"hostile-{number}"})  # fmt: skip
        assert answer.status_code in {200, 201}, answer.text


def customers_and_points(text: str) -> dict[str, str]:
    """The customer cells of a statements CSV, with the points granted of each (the totals
    rows, which have no contract, apart)."""
    rows = csv.DictReader(io.StringIO(text))
    return {row["customer"]: row["points_granted"] for row in rows if row["contract_id"]}


def test_the_api_csv_neutralises_hostile_customer_names(sqlite_api: Api) -> None:
    """`format=csv` writes each hostile name with a leading `'`, and the figures as numbers."""
    sign_hostile_customers(sqlite_api)

    answer = sqlite_api.get("finance", "/reports/credits", params={"term": 1, "format": "csv"})

    assert answer.status_code == 200
    assert customers_and_points(answer.text) == {f"'{name}": "32" for name in HOSTILE}


def test_the_finance_page_csv_neutralises_hostile_customer_names(sqlite_api: Api) -> None:
    """The statements CSV the finance page links to is neutralised the same way."""
    sign_hostile_customers(sqlite_api)
    sign_in(sqlite_api, "finance")

    download = sqlite_api.client.get("/finance/statements.csv", params={"term": "1"})

    assert download.status_code == 200
    assert customers_and_points(download.text) == {f"'{name}": "32" for name in HOSTILE}
