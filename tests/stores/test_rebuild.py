"""Rebuilds on SQLite and PostgreSQL: the rows a live projection wrote, made again from the log."""

from __future__ import annotations

import gc
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from ledger.projections import PROJECTIONS, sla_clocks
from ledger.projections.base import REBUILDING, read_state
from ledger.projections.deadlines import DeadlinesProjection
from ledger.projections.runner import (
    BULK_COLLECTION_THRESHOLD,
    UnknownProjectionError,
    rebuild,
    run_projections,
    verify,
)
from ledger.projections.sla_clocks import SlaBreachProjection
from tests.scenario import World, at

if TYPE_CHECKING:
    from ledger.application import SupportLedger
    from ledger.projections.base import Projection
    from ledger.projections.db import Transaction, ViewDatabase
    from ledger.settings import DatabaseSettings


# app, world and db: tests/stores/conftest.py


def project(settings: DatabaseSettings, app: SupportLedger, projection: type[Projection]) -> None:
    """Catch the projection up as a live runner does, a few events per batch."""
    outcome = run_projections(settings, app, [projection], once=True, batch_size=3)[0]
    assert outcome.status == "caught_up", outcome.error


def business(
    settings: DatabaseSettings, app: SupportLedger, world: World, projection: type[Projection]
) -> None:
    """Tickets held, answered late and in time, resolved and declined; credits bought, used,
    given back and expired; an appointment; the view projected live between the commands."""
    clock = at(3, 3, 9)
    contacts = {"premium": "ops@acme.example", "advanced": "support@borealis.example"}
    app.book_appointment(
        world.premium, starts_at=at(3, 3, 19), ends_at=at(3, 3, 22), at=at(3, 3, 8)
    )
    for n in range(12):
        tier = "premium" if n % 3 else "advanced"
        key = f"R-{n}"
        app.open_ticket(
            contract_id=world.by_tier(tier), reporter=contacts[tier], version="24.2.1",
            platform="linux", severity=1 + n % 3, key=key, at=clock + timedelta(hours=n),
        )  # fmt: skip
        if n % 4 == 0:
            app.hold_ticket(key, at=clock + timedelta(hours=n, minutes=20))
            app.resume_ticket(key, at=clock + timedelta(hours=n + 2))
        if n % 5 != 4:  # some stay unanswered
            app.record_first_response(key, at=clock + timedelta(hours=n + 3 + 9 * (n % 3)))
        if n % 2 == 0:
            app.resolve_ticket(key, at=clock + timedelta(hours=n + 30))
        if n % 3 == 1:
            app.consume_credits(
                world.premium, points=Decimal(2), activity="analysis", key=f"c-{n}",
                ticket=key, at=clock + timedelta(hours=n + 31),
            )  # fmt: skip
        if n == 4:
            project(settings, app, projection)  # a live view part of the way
    app.open_ticket(
        contract_id=world.premium, reporter="stranger@nowhere.example", version="24.2.1",
        platform="linux", severity=2, key="R-declined", at=clock,
    )  # fmt: skip
    app.purchase_credits(
        world.premium, points=Decimal(50), price=Decimal(900), key="pkg", at=at(3, 6)
    )
    app.reverse_consumption(
        world.premium, key="c-1", points=Decimal(1), reason="goodwill", at=at(3, 7)
    )
    app.hold_training(world.premium, key="t1", topic="intro", at=at(3, 8))
    project(settings, app, projection)


def contents(db: ViewDatabase, projection: Projection) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the view, in a stable order."""
    with db.transaction() as tx:
        return {t: sorted(tx.fetchall(f"SELECT * FROM {t}"), key=repr) for t in projection.tables()}


@pytest.mark.parametrize("name", list(PROJECTIONS))
def test_a_rebuild_writes_the_rows_the_live_projection_wrote(
    store_settings: DatabaseSettings,
    app: SupportLedger,
    world: World,
    db: ViewDatabase,
    *,
    name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A rebuild's tables hold exactly the rows projected event by event, in small batches."""
    monkeypatch.setattr(sla_clocks, "HELD_CLOCKS", 2)  # clocks leave memory and come back
    projection = PROJECTIONS[name]
    business(store_settings, app, world, projection)
    live = contents(db, projection(db))
    assert any(live.values())

    position = rebuild(store_settings, app, projection, batch_size=4)

    assert position == app.recorder.max_notification_id()
    assert contents(db, projection(db)) == live
    state = read_state(db, name)
    assert state is not None
    assert (state.position, state.shape) == (position, projection.shape)


class CutShort(DeadlinesProjection):
    """The deadlines view, failing in a rebuild once past its first batch."""

    def fold(self, tx: Transaction, extracts: list[tuple[int, Any]]) -> None:
        if self.rebuilding and extracts[0][0] > 20:
            msg = "the rebuild's process was stopped"
            raise RuntimeError(msg)
        super().fold(tx, extracts)


def test_a_rebuild_cut_short_is_started_again_from_scratch_by_the_next_runner(
    store_settings: DatabaseSettings, app: SupportLedger, world: World, db: ViewDatabase
) -> None:
    """A rebuild that stops half way leaves its view marked as rebuilding: the next runner
    builds it again from the first event, to the rows a full rebuild writes."""
    business(store_settings, app, world, DeadlinesProjection)
    with pytest.raises(UnknownProjectionError):
        rebuild(store_settings, app, CutShort, batch_size=4)
    assert read_state(db, "deadlines").shape == REBUILDING  # type: ignore[union-attr]

    project(store_settings, app, DeadlinesProjection)

    head = app.recorder.max_notification_id()
    assert read_state(db, "deadlines").shape == DeadlinesProjection.shape  # type: ignore[union-attr]
    assert verify(store_settings, app, DeadlinesProjection) == (head, [])


def test_a_rebuilt_view_has_statistics_for_the_planner(
    store_settings: DatabaseSettings, app: SupportLedger, world: World, db: ViewDatabase
) -> None:
    """On PostgreSQL a rebuild ends by analyzing its tables: the board's keyset pages need the
    planner's statistics at once, not when autovacuum comes by."""
    if store_settings.backend != "postgresql":
        pytest.skip("statistics of the planner are PostgreSQL's")
    business(store_settings, app, world, SlaBreachProjection)

    rebuild(store_settings, app, SlaBreachProjection)

    with db.transaction() as tx:
        columns = tx.fetchall(
            "SELECT attname FROM pg_stats WHERE schemaname = current_schema() "
            "AND tablename = 'sla_clocks'"
        )
    assert ("tier",) in columns  # a column's statistics come from ANALYZE alone


def test_a_rebuild_collects_cycles_less_often_and_restores_the_collector_after(
    store_settings: DatabaseSettings, app: SupportLedger, world: World
) -> None:
    """While a rebuild replays, the cyclic collector waits for many more new objects than its
    default (a batch's decoded events all live until applied); after it, and after a rebuild
    that fails, the process's own threshold holds again."""
    business(store_settings, app, world, DeadlinesProjection)
    before = gc.get_threshold()
    seen: list[int] = []

    rebuild(store_settings, app, DeadlinesProjection, batch_size=4,
            progress=lambda _p, _h: seen.append(gc.get_threshold()[0]))  # fmt: skip

    *batches, finished = seen  # a call per batch, then one when the rebuild has finished
    assert batches
    assert min(batches) >= BULK_COLLECTION_THRESHOLD > before[0]
    assert finished == before[0]
    assert gc.get_threshold() == before
    with pytest.raises(UnknownProjectionError):
        rebuild(store_settings, app, CutShort, batch_size=4)
    assert gc.get_threshold() == before
