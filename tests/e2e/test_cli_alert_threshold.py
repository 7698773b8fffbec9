"""`ledger credits alert-threshold` as a subprocess, and the same over HTTP: the threshold is
set (an event), a balance already below it is told at once, bad input is refused with its code
and records nothing; bad notice days in the environment are a configuration error."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ledger.errors import ConfigurationError
from ledger.settings import alert_notice_days, parse_database_url
from ledger.wiring import open_ledger
from tests.e2e.test_cli_core import Ledger

if TYPE_CHECKING:
    from pathlib import Path

AT = "2025-03-03T09:00:00Z"


def recorded(ledger: Ledger) -> int:
    app = open_ledger(parse_database_url(ledger.env["LEDGER_DATABASE_URL"]))
    try:
        return int(app.recorder.max_notification_id() or 0)
    finally:
        app.close()


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "ledger.db")


def test_the_threshold_is_set_and_a_balance_below_it_is_told_at_once(ledger: Ledger) -> None:
    contract = ledger.sign("Threshold AG")
    balance = ledger.ok("credits", "balance", contract, "--at", AT)
    points = balance["points_available"]
    below = ledger.ok(
        "credits", "alert-threshold", contract, "--points", "5", "--actor", "fin", "--at", AT
    )
    assert (below["threshold"], below["low"], below["crossed"], below["recorded"]) == (
        "5", False, None, True,
    )  # fmt: skip
    assert below["available"] == points
    above = ledger.ok("credits", "alert-threshold", "Threshold AG", "--points", "100000",
                      "--at", AT)  # fmt: skip
    assert (above["low"], above["crossed"]) == (True, "low")
    same = ledger.ok("credits", "alert-threshold", contract, "--points", "100000", "--at", AT)
    assert (same["recorded"], same["crossed"]) == (False, None)
    text = ledger("credits", "alert-threshold", contract, "--points", "100000", "--at", AT)
    assert text.code == 0


@pytest.mark.parametrize(
    ("points", "code"),
    [("0", "invalid_amount"), ("-3", "invalid_amount"), ("ten", "invalid_input"),
     ("1.234", "invalid_amount")],
)  # fmt: skip
def test_a_bad_threshold_exits_1_with_its_code_and_records_nothing(
    ledger: Ledger, points: str, code: str
) -> None:
    contract = ledger.sign("Bad Threshold AG")
    before = recorded(ledger)
    result = ledger("credits", "alert-threshold", contract, "--points", points, "--at", AT)
    assert result.code == 1
    assert result.error["code"] == code
    assert "--points" in result.error["message"]
    assert recorded(ledger) == before


def test_a_threshold_for_an_unknown_contract_exits_1(ledger: Ledger) -> None:
    ledger.sign("Known AG")
    before = recorded(ledger)
    result = ledger("credits", "alert-threshold", "Nobody GmbH", "--points", "5")
    assert result.code == 1
    assert result.error["code"].startswith("unknown_contract")
    assert recorded(ledger) == before


@pytest.mark.parametrize("value", ["0", "abc", "400", "-1", "2.5"])
def test_bad_notice_days_are_a_configuration_error_naming_the_variable(value: str) -> None:
    for name in ("LEDGER_ALERTS_EXPIRING_DAYS", "LEDGER_ALERTS_TERM_DAYS"):
        with pytest.raises(ConfigurationError, match=name):
            alert_notice_days({name: value})
    assert alert_notice_days({}) == (30, 60)
    assert alert_notice_days({"LEDGER_ALERTS_EXPIRING_DAYS": "7"}) == (7, 60)
