"""A statement that closes below zero is a finding of the check against the events and of the
audit's re-derivation, on SQLite and PostgreSQL, whatever the views say."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import TYPE_CHECKING

from ledger.audit.export import export_events
from ledger.audit.rederive import reconcile_export
from ledger.domain.credit_account import CreditAccount
from ledger.projections.credit_reconcile import NEGATIVE_CLOSING
from ledger.projections.credit_usage import CreditUsageProjection, CreditUsageView, reconcile
from ledger.projections.db import ViewDatabase
from ledger.projections.runner import run_projections
from ledger.projections.sla_breaches import SlaBreachProjection
from tests.scenario import at, build_world

if TYPE_CHECKING:
    from ledger.application import SupportLedger
    from ledger.settings import DatabaseSettings


def forge_an_expiry_beyond_the_balance(app: SupportLedger) -> str:
    """Premium (64 points) with an expiry of 100 points recorded past every rule of the
    domain, as a faulty import or a tampered store would: the log now closes at -36."""
    world = build_world(app)
    account = app.repository.get(CreditAccount.create_id(world.premium))
    account.trigger_event(
        CreditAccount.LotExpired, lot_id="term-1-points", unit="points", amount=Decimal(100),
        expires_at=at(3, 10), recorded_at=at(3, 10), late=False,
    )  # fmt: skip
    app.save(account)
    return str(world.premium)


def test_the_check_against_the_events_finds_a_closing_below_zero(
    store_settings: DatabaseSettings, app: SupportLedger
) -> None:
    """The view agrees with the events figure by figure, and still the check fails: March
    closes at -36 points."""
    premium = forge_an_expiry_beyond_the_balance(app)
    run_projections(store_settings, app, [CreditUsageProjection], once=True)
    db = ViewDatabase(store_settings)
    try:
        found = reconcile(app, CreditUsageView(db), period="2025-03")
    finally:
        db.close()
    assert [(str(d.contract_id), d.unit, d.figure, d.recomputed) for d in found] == [
        (premium, "points", NEGATIVE_CLOSING, 0)
    ]
    assert found[0].view == Decimal(-36)


def test_audit_reconcile_finds_a_closing_below_zero_in_the_export(
    store_settings: DatabaseSettings, app: SupportLedger
) -> None:
    """Re-derived from the export, March and term 1 close below zero: a difference each."""
    premium = forge_an_expiry_beyond_the_balance(app)
    run_projections(store_settings, app, [CreditUsageProjection, SlaBreachProjection], once=True)
    out = io.StringIO()
    export_events(app, out)
    result = reconcile_export(out.getvalue().splitlines(), store_settings, by="tier")
    negative = [(d.window, d.subject, d.unit) for d in result.differences
                if d.figure == "negative_closing"]  # fmt: skip
    assert ("2025-03", premium, "points") in negative
    assert ("term 1", premium, "points") in negative
    assert not result.ok
