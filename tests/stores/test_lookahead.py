"""Looking ahead on SQLite and PostgreSQL: lots about to expire with their value, and terms
about to end without a renewal with the fee it would assess."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from ledger.domain.errors import InvalidInputError
from ledger.lookahead import (
    expiring_lots,
    expiring_report,
    parse_within,
    renewals_due,
    renewals_report,
)
from tests.scenario import World, at, build_world

if TYPE_CHECKING:
    from ledger.application import SupportLedger

D = Decimal
DAYS = timedelta(days=1)


@pytest.fixture
def world(app: SupportLedger) -> World:
    """Basic buys 20 points for 1,500.00 expiring 15 April and uses 8; Advanced buys 10 points
    for 1,000.00 expiring 1 May at midnight."""
    world = build_world(app)
    app.purchase_credits(world.basic, points=D(20), price=D("1500.00"), key="p1",
                         at=at(3, 3, 10), expires_at=at(4, 15, 0))  # fmt: skip
    app.consume_credits(world.basic, points=D(8), activity="analysis", key="c1", at=at(3, 4))
    app.purchase_credits(world.advanced, points=D(10), price=D("1000.00"), key="p1",
                         at=at(3, 3, 10), expires_at=at(5, 1, 0))  # fmt: skip
    return world


def test_lots_expiring_within_the_window_show_what_is_left_and_its_value(
    app: SupportLedger, world: World
) -> None:
    """30 days from 1 April: Basic's package (12 of 20 left, 75.00 a point: 900.00); the one
    expiring at the window's end is in the next window; term lots carry no price."""
    rows = expiring_lots(app, at=at(4, 1, 0), within=30 * DAYS)
    assert [(r["customer"], r["lot_id"], r["left"], r["value"]) for r in rows] == [
        ("Basic Customer", "purchase-1", D(12), D("900.00"))
    ]
    assert (rows[0]["unit_value"], rows[0]["currency"]) == (D(75), "EUR")
    later = expiring_lots(app, at=at(4, 1, 0), within=31 * DAYS)
    assert [r["customer"] for r in later] == ["Basic Customer", "Advanced Customer"]
    year_end = expiring_lots(app, at=at(12, 1, 0), within=32 * DAYS)
    assert {(r["unit"], r["value"]) for r in year_end} == {("points", None), ("sessions", None)}
    assert len({r["customer"] for r in year_end}) == 2  # Basic's term grants no points


def test_a_lot_used_up_or_already_expired_is_not_listed(app: SupportLedger, world: World) -> None:
    """Nothing left, nothing to lose."""
    app.consume_credits(world.basic, points=D(12), activity="analysis", key="c2", at=at(3, 5))
    app.expire_lot(world.advanced, lot_id="purchase-1", at=at(5, 1, 0), late=False)
    assert expiring_lots(app, at=at(4, 1, 0), within=31 * DAYS) == []


def test_renewals_due_show_the_renewal_fee_and_the_fee_after_a_lapse(
    app: SupportLedger, world: World
) -> None:
    """Every term ends on 1 January 2026: from 15 November, 60 days hold all three; Advanced
    renewed drops out; Premium with a downgrade scheduled renews at Advanced's 40 %."""
    app.renew_contract(world.advanced, at=at(11, 3, 10))
    app.change_tier(world.premium, tier="advanced", at=at(11, 4, 10))
    rows = renewals_due(app, at=at(11, 15, 0), within=60 * DAYS)
    assert [(r["customer"], r["tier"], r["renewal_fee"], r["reinstatement_fee"]) for r in rows] == [
        ("Basic Customer", "basic", D("1500.00"), D("4800.00")),
        ("Premium Customer", "advanced", D("16000.00"), D("32000.00")),
    ]
    assert rows[0]["ends_at"] == at(1, 1, 0, year=2026)
    assert renewals_due(app, at=at(11, 15, 0), within=30 * DAYS) == []


def test_a_look_ahead_on_the_primary_says_it_read_the_whole_log(
    app: SupportLedger, world: World
) -> None:
    """Read from the application that records, a look-ahead read the log up to its head: the
    primary, nothing behind; its rows are the lots and renewals of the window."""
    head = int(app.recorder.max_notification_id() or 0)
    expiring = expiring_report(app, app, at=at(4, 1, 0), within=30 * DAYS)
    renewals = renewals_report(app, app, at=at(11, 15, 0), within=60 * DAYS)
    for report in (expiring, renewals):
        assert (report["read_from"], report["position"], report["head"], report["behind"]) == (
            "primary", head, head, 0,
        )  # fmt: skip
    assert expiring["lots"] == expiring_lots(app, at=at(4, 1, 0), within=30 * DAYS)
    assert expiring["totals"] == [{"currency": "EUR", "value": D("900.00")}]
    assert len(renewals["renewals"]) == 3


@pytest.mark.parametrize("text", ["30", "0d", "-3d", "3661d", "thirty days", "", "3w"], ids=repr)
def test_a_window_that_is_not_a_number_of_days_is_refused(text: str) -> None:
    """`--within` takes 1d to 3660d and names itself when refused."""
    with pytest.raises(InvalidInputError, match="--within"):
        parse_within(text)
