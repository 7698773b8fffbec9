"""As-of replay on SQLite and PostgreSQL: the reports as they stood at a recording instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ledger.audit.replay import as_of_views
from ledger.domain.errors import InvalidInputError
from ledger.projections.credit_usage import CreditUsageProjection, CreditUsageView
from ledger.projections.db import ViewDatabase
from ledger.projections.runner import run_projections
from ledger.projections.sla_breaches import SlaBreachProjection, SlaBreachView
from ledger.store import connect
from tests.scenario import World, at, build_world

if TYPE_CHECKING:
    from ledger.application import SupportLedger
    from ledger.settings import DatabaseSettings

BOARD_AT = at(3, 14, 18)
D = Decimal


def first_week(app: SupportLedger) -> World:
    world = build_world(app)
    for key, contract, reporter, severity in [
        ("P-1", world.premium, "ops@acme.example", 1),
        ("A-1", world.advanced, "support@borealis.example", 2),
    ]:
        app.open_ticket(
            contract_id=contract, reporter=reporter, severity=severity, version="24.2.1",
            platform="linux", key=key, at=at(3, 3, 9),
        )  # fmt: skip
    app.record_first_response("P-1", at=at(3, 3, 10))
    app.consume_credits(world.advanced, points=D(5), activity="review", key="c1", at=at(3, 4))
    return world


def second_week(app: SupportLedger, world: World) -> None:
    """Later facts about the same weeks: a late response, a new ticket, more credits."""
    app.record_first_response("A-1", at=at(3, 7, 9))
    app.open_ticket(
        contract_id=world.basic, reporter="it@cobalt.example", severity=3, version="24.2.1",
        platform="linux", key="B-1", at=at(3, 5, 9),
    )  # fmt: skip
    app.consume_credits(world.advanced, points=D(7), activity="review", key="c2", at=at(3, 6))
    app.reverse_consumption(world.advanced, key="c1", reason="mistake", at=at(3, 6, 12))


def reports(db: ViewDatabase, prefix: str = "") -> dict[str, Any]:
    breaches = SlaBreachView(db, prefix=prefix)
    return {
        "board": breaches.board(BOARD_AT, states={"all"}),
        "stats": breaches.stats("tier", BOARD_AT),
        "statement": CreditUsageView(db, prefix=prefix).statement(period="2025-03"),
    }


def snapshot(then: Any) -> dict[str, Any]:
    return {
        "board": then.breaches.board(BOARD_AT, states={"all"}),
        "stats": then.breaches.stats("tier", BOARD_AT),
        "statement": then.credits.statement(period="2025-03"),
    }


def live_rows(db: ViewDatabase) -> dict[str, list[tuple[Any, ...]]]:
    tables = [
        *SlaBreachProjection(db).tables(),
        *CreditUsageProjection(db).tables(),
        "projection_state",
    ]
    return {t: sorted(db.read(f"SELECT * FROM {t}"), key=repr) for t in tables}


def test_the_answer_for_a_past_instant_does_not_change_when_later_events_arrive(
    store_settings: DatabaseSettings, app: SupportLedger
) -> None:
    """The views as they stood at T equal a replay as of T, before and after later events."""
    world = first_week(app)
    run_projections(store_settings, app, [SlaBreachProjection, CreditUsageProjection], once=True)
    db = ViewDatabase(store_settings)
    try:
        then = reports(db)
    finally:
        db.close()
    cut = datetime.now(UTC)
    with as_of_views(store_settings, app, cut) as replayed:
        before = snapshot(replayed)
    second_week(app, world)
    with as_of_views(store_settings, app, cut) as replayed:
        after = snapshot(replayed)
        assert replayed.last_position < replayed.head
    assert before == then
    assert after == then
    states = {row["key"]: row["state"] for row in then["board"]}
    assert states == {"P-1": "met", "A-1": "breached"}  # no response recorded by then


def test_a_replay_as_of_now_equals_the_live_views_and_leaves_them_untouched(
    store_settings: DatabaseSettings, app: SupportLedger
) -> None:
    world = first_week(app)
    second_week(app, world)
    run_projections(store_settings, app, [SlaBreachProjection, CreditUsageProjection], once=True)
    db = ViewDatabase(store_settings)
    try:
        live, rows_before = reports(db), live_rows(db)
        with as_of_views(store_settings, app, datetime.now(UTC)) as replayed:
            assert snapshot(replayed) == live
            assert replayed.last_position == replayed.head
        assert live_rows(db) == rows_before
        advanced = next(s for s in live["statement"] if s["contract_id"] == world.advanced)
        assert advanced["points"]["consumed"] == D(12)
        assert advanced["points"]["reversed"] == D(5)
    finally:
        db.close()


def test_a_replay_before_anything_was_recorded_is_empty(
    store_settings: DatabaseSettings, app: SupportLedger
) -> None:
    start = datetime.now(UTC) - timedelta(seconds=1)
    first_week(app)
    with as_of_views(store_settings, app, start) as replayed:
        assert snapshot(replayed) == {"board": [], "stats": [], "statement": []}
        assert (replayed.applied, replayed.last_position) == (0, 0)


def test_the_temporary_store_is_dropped(
    store_settings: DatabaseSettings, app: SupportLedger
) -> None:
    first_week(app)
    with as_of_views(store_settings, app, datetime.now(UTC)) as replayed:
        temporary = replayed.breaches.db.settings
    assert temporary != store_settings
    if store_settings.backend == "postgresql":
        assert temporary.schema.startswith("ledger_asof_")
        with connect(store_settings, autocommit=True) as conn:
            found = conn.execute(
                "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s",
                (temporary.schema,),
            ).fetchone()
        assert found is None
    else:
        assert not Path(temporary.path).parent.exists()


@pytest.mark.parametrize(
    ("as_of", "message"),
    [
        (datetime.now(UTC) + timedelta(days=1), "is in the future"),
        (datetime(2025, 3, 3, 9), "UTC offset"),
    ],
)
def test_bad_instants_are_refused(
    store_settings: DatabaseSettings, app: SupportLedger, as_of: datetime, message: str
) -> None:
    with pytest.raises(InvalidInputError) as refused, as_of_views(store_settings, app, as_of):
        pass  # pragma: no cover - refused before
    assert message in refused.value.message
