"""The recording clock: events stamped with the instant of the clock the application is given
(the demo's), on SQLite and PostgreSQL; without one, the wall clock as the library stamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from ledger.application import SupportLedger
from ledger.scheduler.clock import FakeClock
from tests.scenario import at, build_world

if TYPE_CHECKING:
    from ledger.settings import DatabaseSettings


def test_events_are_stamped_by_the_recording_clock_and_read_back_so(
    store_settings: DatabaseSettings,
) -> None:
    clock = FakeClock(at(1, 2, 10))
    app = SupportLedger(settings=store_settings, recording_clock=clock.now)
    try:
        world = build_world(app)
        clock.set(at(3, 3, 9, 15))
        opening = app.open_ticket(
            contract_id=world.premium, reporter="ops@acme.example", severity=1,
            version="24.2.1", platform="linux", key="P-1", at=at(3, 3, 9, 15),
        )  # fmt: skip
        clock.set(at(3, 3, 11))
        app.record_first_response("P-1", at=at(3, 3, 10))
        in_hand = app.get_ticket("P-1")
    finally:
        app.close()
    # Read back by an application on the wall clock: the stamps are in the store.
    reader = SupportLedger(settings=store_settings)
    try:
        stamps = [e.timestamp for e in reader.list_events(opening.ticket_id)]
        assert stamps == [at(3, 3, 9, 15), at(3, 3, 11)]
        contract_stamps = {e.timestamp for e in reader.list_events(world.premium)}
        assert contract_stamps <= {at(1, 2, 10)}  # every event of the set-up, at its instant
        stored = reader.get_ticket("P-1")
        assert (stored.created_on, stored.modified_on) == (at(3, 3, 9, 15), at(3, 3, 11))
        assert (in_hand.created_on, in_hand.modified_on) == (stored.created_on, stored.modified_on)
    finally:
        reader.close()


def test_without_a_recording_clock_events_are_stamped_by_the_wall_clock(
    store_settings: DatabaseSettings,
) -> None:
    app = SupportLedger(settings=store_settings)
    try:
        before = datetime.now(UTC)
        world = build_world(app)  # business instants in 2025; recording time is now
        after = datetime.now(UTC)
        stamps = [e.timestamp for e in app.list_events(world.premium)]
    finally:
        app.close()
    assert stamps
    assert all(before - timedelta(seconds=1) <= s <= after for s in stamps)
