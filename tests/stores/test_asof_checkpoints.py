"""As-of replay from view checkpoints on SQLite and PostgreSQL: the same rows as a replay from
the log's start, at any instant, with checkpoints that are verified, skipped when tampered
with, and made anew by a rebuild."""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from ledger.application import SupportLedger
from ledger.audit.replay import AsOf, as_of_views
from ledger.domain.calendar import from_us, to_us
from ledger.errors import ConfigurationError
from ledger.projections import runner
from ledger.projections.checkpoints import (
    SPANS_PER_INTERVAL,
    every_from_env,
    list_checkpoints,
    seal_of,
)
from ledger.projections.credit_usage import CreditUsageProjection
from ledger.projections.db import ViewDatabase
from ledger.projections.runner import rebuild, run_projections
from ledger.projections.sla_breaches import SlaBreachProjection
from tests.scenario import at, build_world

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ledger.settings import DatabaseSettings

EVERY = 10  # events between checkpoints
BATCH = 7  # the runner's batches end off the multiples, as they do in production
START = datetime(2026, 1, 5, 8, tzinfo=UTC)
REPLAYED = [SlaBreachProjection, CreditUsageProjection]
D = Decimal


class SteppingClock:
    """Recording time one minute apart that steps back 90 seconds now and then (a clock set
    back, two writers): recording time is not monotonic in log order."""

    def __init__(self) -> None:
        self.calls = 0
        self.stamps: list[datetime] = []

    def __call__(self) -> datetime:
        self.calls += 1
        back = timedelta(seconds=90) if self.calls % 9 == 0 and self.calls > 20 else timedelta(0)
        stamp = START + timedelta(minutes=self.calls) - back
        self.stamps.append(stamp)
        return stamp


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock()


@pytest.fixture
def app(store_settings: DatabaseSettings, clock: SteppingClock) -> Iterator[SupportLedger]:
    application = SupportLedger(settings=store_settings, recording_clock=clock)
    yield application
    application.close()


def business(app: SupportLedger) -> None:
    """Contracts, tickets answered in time or late, credits consumed and reversed."""
    world = build_world(app)
    contracts = [world.premium, world.advanced, world.basic]
    reporters = ["ops@acme.example", "support@borealis.example", "it@cobalt.example"]
    for n in range(24):
        which = n % 3
        key = f"T-{n}"
        app.open_ticket(
            contract_id=contracts[which], reporter=reporters[which], severity=1 + n % 3,
            version="24.2.1", platform="linux", key=key, at=at(3, 3 + n, 9),
        )  # fmt: skip
        if n % 4 != 3:
            app.record_first_response(key, at=at(3, 3 + n, 10 + n % 9))
        if which == 1:
            app.consume_credits(
                world.advanced, points=D(1), activity="review", key=f"c{n}", at=at(3, 3 + n, 12)
            )
        if n in (9, 18):  # a calendar written again late in the log (copied at a checkpoint)
            app.book_appointment(
                world.premium, starts_at=at(3, 4 + n, 19), ends_at=at(3, 4 + n, 21),
                at=at(3, 3 + n, 13),
            )  # fmt: skip
    app.reverse_consumption(world.advanced, key="c1", reason="mistake", at=at(3, 30))


def rows_of(then: AsOf) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the replayed views, in a stable order."""
    db = then.breaches.db
    tables = [*SlaBreachProjection(db).tables(), *CreditUsageProjection(db).tables()]
    return {t: sorted(db.read(f"SELECT * FROM {t}"), key=repr) for t in tables}


def replay(settings: DatabaseSettings, app: SupportLedger, as_of: datetime, *, use: bool) -> Any:
    with as_of_views(settings, app, as_of, checkpoints=use) as then:
        return rows_of(then), then.started_from, then.rejected, then.last_position


def checkpointed(settings: DatabaseSettings, app: SupportLedger) -> None:
    business(app)
    run_projections(settings, app, REPLAYED, once=True, batch_size=BATCH, checkpoint_every=EVERY)


def positions(settings: DatabaseSettings, name: str) -> list[int]:
    db = ViewDatabase(settings)
    try:
        return [c.position for c in list_checkpoints(db, name)]
    finally:
        db.close()


def test_a_replay_from_the_nearest_checkpoint_equals_one_from_the_start_at_random_instants(
    store_settings: DatabaseSettings, app: SupportLedger, clock: SteppingClock
) -> None:
    """At random instants (recording time stepping back now and then), the views replayed
    from the newest usable checkpoint hold the same rows as a replay of the whole log."""
    checkpointed(store_settings, app)
    assert len(positions(store_settings, "sla_breaches")) >= 8
    rng = random.Random(18)
    instants = [*rng.sample(clock.stamps, 10), clock.stamps[-1] + timedelta(seconds=1)]
    instants += [s - timedelta(microseconds=1) for s in rng.sample(clock.stamps, 4)]
    started = set()
    for instant in instants:
        fast, started_from, rejected, last = replay(store_settings, app, instant, use=True)
        full, _, _, full_last = replay(store_settings, app, instant, use=False)
        assert fast == full, instant
        assert last == full_last
        assert rejected == 0
        started.update(started_from.values())
    assert max(started) > 0  # checkpoints were used, not only the log's start


def test_instants_around_a_clock_stepping_back_answer_as_a_full_replay(
    store_settings: DatabaseSettings, app: SupportLedger
) -> None:
    """Around an event recorded earlier than the one before it, a checkpoint holding the later
    recorded one is not used, and the views equal a replay of the whole log."""
    checkpointed(store_settings, app)
    stamps = [
        (n.id, n.topic, app.mapper.to_domain_event(n).timestamp)
        for n in app.recorder.select_notifications(start=1, limit=10_000)
    ]
    stepped = [
        (previous, topic, stamp, before)
        for (previous, topic, before), (_, _, stamp) in itertools.pairwise(stamps)
        if stamp < before
    ]
    assert len(stepped) >= 3
    for previous, topic, stamp, before in stepped:
        for instant in (stamp, before - timedelta(microseconds=1)):
            fast, started_from, _, _ = replay(store_settings, app, instant, use=True)
            full, _, _, _ = replay(store_settings, app, instant, use=False)
            assert fast == full, (previous, instant)
            for view in REPLAYED:  # the event before, recorded after the instant, is not in
                if topic in view.topics():
                    assert started_from[view.name] < previous


def test_a_tampered_checkpoint_is_not_used_and_the_answer_is_still_right(
    store_settings: DatabaseSettings, app: SupportLedger
) -> None:
    """Edited copies, edited fields, or a view's rows edited under a checkpoint: the replay
    starts from an earlier checkpoint (counted as rejected) and answers as a full replay."""
    checkpointed(store_settings, app)
    sla = positions(store_settings, "sla_breaches")
    credit = positions(store_settings, "credit_usage")
    db = ViewDatabase(store_settings)
    try:
        with db.transaction() as tx:
            # the newest copy of a calendar: every checkpoint from it on reads it
            (copied,) = tx.fetchone(
                "SELECT MAX(checkpoint_position) FROM checkpoint_sla_calendars "
                "WHERE checkpoint_position <= ?",
                (sla[-1],),
            ) or (0,)
            assert copied > sla[0]  # written again after the first checkpoint copied them all
            tx.execute(
                "UPDATE checkpoint_sla_calendars SET customer = customer || ' (edited)' "
                "WHERE checkpoint_position = ?",
                (copied,),
            )
            tx.execute(
                "UPDATE view_checkpoints SET recorded_max = recorded_max - 1 "
                "WHERE name = ? AND position = ?",
                ("sla_breaches", sla[-2]),
            )
            tx.execute(  # a row of the live view that the newest credit checkpoint holds
                "UPDATE credit_movements SET amount = amount + 100 WHERE position = "
                "(SELECT MAX(position) FROM credit_movements WHERE position <= ?)",
                (credit[-1],),
            )
    finally:
        db.close()
    now = datetime.now(UTC)
    fast, started_from, rejected, _ = replay(store_settings, app, now, use=True)
    full, _, _, _ = replay(store_settings, app, now, use=False)
    assert fast == full
    assert started_from["sla_breaches"] == max(p for p in sla[:-2] if p < copied)
    assert started_from["credit_usage"] < credit[-1]
    assert rejected >= 3


@pytest.mark.parametrize(
    ("table", "edit"),
    [
        ("credit_contracts", "customer = customer || ' (edited)'"),
        ("credit_terms", "ends_at = ends_at + 1"),
        ("credit_accounts", "customer = customer || ' (edited)'"),
    ],
)
def test_a_credit_contract_term_or_account_edited_under_a_checkpoint_is_caught(
    store_settings: DatabaseSettings, app: SupportLedger, table: str, edit: str
) -> None:
    """The credit view's contracts, terms and accounts are read as they stand up to a
    checkpoint's position, and checked by its digests: one edited makes every checkpoint that
    holds it unusable, and the answer is still a full replay's."""
    checkpointed(store_settings, app)
    credit = positions(store_settings, "credit_usage")
    db = ViewDatabase(store_settings)
    try:
        with db.transaction() as tx:
            (edited,) = tx.fetchone(f"SELECT MAX(position) FROM {table}") or (0,)
            assert edited <= credit[-1]
            tx.execute(f"UPDATE {table} SET {edit} WHERE position = ?", (edited,))
    finally:
        db.close()
    now = datetime.now(UTC)
    full, _, _, _ = replay(store_settings, app, now, use=False)
    with as_of_views(store_settings, app, now, verify_all=True) as then:
        assert rows_of(then) == full
        assert then.started_from["credit_usage"] < edited
        assert then.rejected >= len([p for p in credit if p >= edited])


def test_a_row_edited_below_the_interval_is_caught_when_every_row_is_checked(
    store_settings: DatabaseSettings, app: SupportLedger
) -> None:
    """On PostgreSQL a replay digests a checkpoint's growing tables over its interval only (the
    checkpoint before carries the rows below) and says from where; `verify_all` digests every
    row, so a live row edited below the interval rejects the checkpoints that hold it. On
    SQLite every row is always checked."""
    checkpointed(store_settings, app)
    sla = positions(store_settings, "sla_breaches")
    now = datetime.now(UTC)
    with as_of_views(store_settings, app, now) as then:
        checked = then.checked_from
    if store_settings.backend == "postgresql":
        assert checked == {"sla_breaches": sla[-2], "credit_usage": checked["credit_usage"]}
        assert checked["credit_usage"] > 0
    else:
        assert checked == {"sla_breaches": 0, "credit_usage": 0}
    db = ViewDatabase(store_settings)
    try:
        with db.transaction() as tx:
            edited = tx.fetchone(  # of a clock that did not change in the newest interval
                "SELECT MAX(position) FROM sla_clock_versions v WHERE position <= ? AND NOT "
                "EXISTS (SELECT 1 FROM sla_clock_versions w WHERE w.ticket_id = v.ticket_id "
                "AND w.position > ?)",
                (sla[-2], sla[-2]),
            )[0]
            tx.execute(
                "UPDATE sla_clock_versions SET customer = customer || ' (edited)' "
                "WHERE position = ?",
                (edited,),
            )
    finally:
        db.close()
    full, _, _, _ = replay(store_settings, app, now, use=False)
    if store_settings.backend == "postgresql":  # below the newest interval: not digested
        with as_of_views(store_settings, app, now) as then:
            assert then.started_from["sla_breaches"] == sla[-1]
    with as_of_views(store_settings, app, now, verify_all=True) as then:
        assert rows_of(then) == full
        assert then.started_from["sla_breaches"] < edited
        assert then.rejected >= len([p for p in sla if p >= edited])
        assert then.checked_from["sla_breaches"] == 0


@pytest.mark.parametrize(
    "edit",
    [
        (
            "UPDATE credit_movements SET amount = amount + 100 WHERE position = "
            "(SELECT MIN(position) FROM credit_movements)"
        ),
        (
            "INSERT INTO credit_movements SELECT 0, seq, contract_id, customer, unit, kind, "
            "from_account, to_account, amount, at, lot_id, idempotency_key, ticket_id "
            "FROM credit_movements WHERE position = (SELECT MIN(position) FROM credit_movements)"
        ),
        (  # a clock the first checkpoint holds
            "DELETE FROM sla_clocks WHERE ticket_id = (SELECT MIN(ticket_id) "
            "FROM sla_clock_versions WHERE position <= (SELECT MIN(position) "
            "FROM view_checkpoints WHERE name = 'sla_breaches'))"
        ),
    ],
    ids=["movement edited", "movement at position 0", "clock deleted"],
)
def test_the_first_checkpoint_is_checked_over_every_row_below_it(
    store_settings: DatabaseSettings, app: SupportLedger, edit: str
) -> None:
    """The first checkpoint has no checkpoint before it to carry the rows below its interval:
    a replay from it checks every row it reads, so a row edited, added below every position,
    or deleted there rejects it, and the answer is a full replay's."""
    business(app)  # checkpoints far enough apart that the first holds clocks
    run_projections(store_settings, app, REPLAYED, once=True, batch_size=BATCH,
                    checkpoint_every=3 * EVERY)  # fmt: skip
    db = ViewDatabase(store_settings)
    try:
        firsts = [list_checkpoints(db, name)[:2] for name in ("sla_breaches", "credit_usage")]
        assert all(a.recorded_max is not None for a, _ in firsts)
        # an instant both views answer from their first checkpoint
        instant = from_us(max(int(a.recorded_max or 0) for a, _ in firsts))
        assert all(b.recorded_max is not None and b.recorded_max > to_us(instant)
                   for _, b in firsts)  # fmt: skip
        with as_of_views(store_settings, app, instant) as then:
            assert then.started_from == {a.name: a.position for a, _ in firsts}
            assert then.checked_from == {a.name: 0 for a, _ in firsts}
            assert then.rejected == 0
        full, _, _, _ = replay(store_settings, app, instant, use=False)
        with db.transaction() as tx:
            tx.execute(edit)
    finally:
        db.close()
    with as_of_views(store_settings, app, instant) as then:
        assert rows_of(then) == full
        # SQLite restores the clocks from their versions and never reads a live clock row
        if store_settings.backend == "postgresql" or "sla_clocks" not in edit:
            assert then.rejected >= 1
            assert 0 in then.started_from.values()


def test_a_calendar_copy_slipped_in_between_checkpoints_is_caught(
    store_settings: DatabaseSettings, app: SupportLedger
) -> None:
    """A calendar is read as its contract's newest copy up to the checkpoint; one inserted
    with a position between two checkpoints, for a contract the newer did not copy, is read,
    so it must be checked: the newer checkpoint is rejected and the answer is a full
    replay's."""
    checkpointed(store_settings, app)
    sla = positions(store_settings, "sla_breaches")
    db = ViewDatabase(store_settings)
    try:
        with db.transaction() as tx:
            (contract,) = tx.fetchone(
                "SELECT MIN(contract_id) FROM checkpoint_sla_calendars c WHERE NOT EXISTS ("
                "SELECT 1 FROM checkpoint_sla_calendars d WHERE d.contract_id = c.contract_id "
                "AND d.checkpoint_position = ?)",
                (sla[-1],),
            ) or (None,)
            assert contract is not None
            tx.execute(
                "INSERT INTO checkpoint_sla_calendars SELECT ?, contract_id, "
                "customer || ' (edited)', timezone, holiday_region, appointments "
                "FROM checkpoint_sla_calendars WHERE contract_id = ? AND checkpoint_position = "
                "(SELECT MAX(checkpoint_position) FROM checkpoint_sla_calendars "
                "WHERE contract_id = ?)",
                (sla[-1] - 1, contract, contract),
            )
    finally:
        db.close()
    now = datetime.now(UTC)
    full, _, _, _ = replay(store_settings, app, now, use=False)
    with as_of_views(store_settings, app, now) as then:
        assert then.started_from["sla_breaches"] < sla[-1]
        assert then.rejected >= 1
        assert rows_of(then) == full


def test_a_live_clock_edited_inside_the_interval_is_read_from_its_checked_versions(
    store_settings: DatabaseSettings, app: SupportLedger
) -> None:
    """A clock last changed inside the newest checkpoint's interval is read, as it stood at
    the checkpoint, from its versions (which the interval's digest checks), not from its live
    row: an edit of that row does not reach the answer, which stays a full replay's."""
    checkpointed(store_settings, app)
    sla = positions(store_settings, "sla_breaches")
    now = datetime.now(UTC)
    full, _, _, _ = replay(store_settings, app, now, use=False)
    db = ViewDatabase(store_settings)
    try:
        with db.transaction() as tx:
            edited = tx.execute(  # the clocks changed in the interval and not since
                "UPDATE sla_clocks SET outcome = 'met', customer = customer || ' (edited)' "
                "WHERE position > ? AND position <= ?",
                (sla[-2], sla[-1]),
            )
    finally:
        db.close()
    assert edited > 0
    with as_of_views(store_settings, app, now) as then:
        assert then.started_from["sla_breaches"] == sla[-1]
        assert then.rejected == 0
        replayed = rows_of(then)
    edited_clocks = {t for t in full if t.endswith("sla_clocks")}
    assert {t: replayed[t] for t in edited_clocks} == {t: full[t] for t in edited_clocks}


def test_a_replay_reads_the_log_only_about_as_far_as_its_instant(
    store_settings: DatabaseSettings, app: SupportLedger, clock: SteppingClock
) -> None:
    """The spans (the least recording time of each stretch of the log, sealed) let a replay
    skip what was recorded after its instant; spans whose seals do not match are read, so the
    replay reads further, and the answer is the full replay's either way."""
    checkpointed(store_settings, app)
    instants = clock.stamps[3::6]

    def furthest_read(instant: datetime) -> tuple[dict[str, list[tuple[Any, ...]]], int]:
        seen: list[int] = []
        with as_of_views(
            store_settings, app, instant, progress=lambda p, _: seen.append(p)
        ) as then:
            return rows_of(then), max(seen, default=0)

    full = {i: replay(store_settings, app, i, use=False)[0] for i in instants}
    fresh = {i: furthest_read(i) for i in instants}
    db = ViewDatabase(store_settings)
    try:
        with db.transaction() as tx:
            tx.execute("UPDATE view_checkpoint_spans SET recorded_min = recorded_min + 1")
    finally:
        db.close()
    tampered = {i: furthest_read(i) for i in instants}
    for instant in instants:
        assert fresh[instant][0] == full[instant] == tampered[instant][0], instant
        assert tampered[instant][1] >= fresh[instant][1]
    assert any(tampered[i][1] > fresh[i][1] for i in instants)


def test_a_checkpoint_made_before_the_counts_were_kept_is_still_used(
    store_settings: DatabaseSettings, app: SupportLedger
) -> None:
    """Checkpoints made before they kept the board's counts (no digest for them) are used: the
    replay counts the restored clocks, and answers as a full replay."""
    checkpointed(store_settings, app)
    db = ViewDatabase(store_settings)
    try:
        for checkpoint in list_checkpoints(db, "sla_breaches"):
            digests = {
                t: d for t, d in checkpoint.digests.items()
                if t not in ("sla_counts", "sla_count_times")
            }  # fmt: skip
            old = replace(checkpoint, digests=digests)
            fields = (old.name, old.position, old.shape, old.recorded_max, old.range_start,
                      old.range_min, old.last_event, old.link, digests)  # fmt: skip
            with db.transaction() as tx:
                tx.execute(
                    "UPDATE view_checkpoints SET digests = ?, seal = ? WHERE name = ? "
                    "AND position = ?",
                    (json.dumps(digests, sort_keys=True), seal_of(*fields), old.name,
                     old.position),
                )  # fmt: skip
    finally:
        db.close()
    now = datetime.now(UTC)
    fast, started_from, rejected, _ = replay(store_settings, app, now, use=True)
    full, _, _, _ = replay(store_settings, app, now, use=False)
    assert fast == full
    assert rejected == 0
    assert started_from["sla_breaches"] > 0


def test_a_missing_checkpoint_is_made_again_by_a_rebuild(
    store_settings: DatabaseSettings, app: SupportLedger, clock: SteppingClock
) -> None:
    """A deleted checkpoint is skipped by the replay; a rebuild (which reads only the events
    the view follows and counts the board once at its end) makes the checkpoints again, at
    every multiple of the interval, and replays from them answer as replays of the whole
    log."""
    checkpointed(store_settings, app)
    before = positions(store_settings, "sla_breaches")
    gone = before[len(before) // 2]
    db = ViewDatabase(store_settings)
    try:
        with db.transaction() as tx:
            tx.execute(
                "DELETE FROM view_checkpoints WHERE name = ? AND position = ?",
                ("sla_breaches", gone),
            )
    finally:
        db.close()
    assert gone not in positions(store_settings, "sla_breaches")
    rebuild(store_settings, app, SlaBreachProjection, batch_size=BATCH, checkpoint_every=EVERY)
    after = positions(store_settings, "sla_breaches")
    # a rebuild's batches end at the multiples of the interval, as the live runner's cross them
    assert after == list(range(EVERY, after[-1] + 1, EVERY))
    rng = random.Random(17)
    started = set()
    for instant in [*rng.sample(clock.stamps, 6), clock.stamps[-1] + timedelta(seconds=1)]:
        fast, started_from, rejected, _ = replay(store_settings, app, instant, use=True)
        full, _, _, _ = replay(store_settings, app, instant, use=False)
        assert fast == full, instant
        assert rejected == 0
        started.add(started_from["sla_breaches"])
    assert max(started) in after  # a checkpoint the rebuild made was used


def test_a_replay_on_a_standby_reads_its_checkpoints_and_writes_nothing_there(
    store_settings: DatabaseSettings, app: SupportLedger
) -> None:
    """Read as a standby (`LEDGER_READ_DATABASE_URL`), the checkpoints are read there, their
    rows copied into a SQLite file and their digests computed there; nothing is written."""
    if store_settings.backend != "postgresql":
        pytest.skip("a standby is PostgreSQL")
    checkpointed(store_settings, app)
    standby = replace(store_settings, read_only=True)
    before = table_sizes(store_settings)
    now = datetime.now(UTC)
    with as_of_views(standby, app, now, standby=True) as then:
        assert then.breaches.db.settings.backend == "sqlite"
        fast, started_from, rejected = rows_of(then), then.started_from, then.rejected
    full, _, _, _ = replay(store_settings, app, now, use=False)
    assert fast == full
    assert min(started_from.values()) > 0
    assert rejected == 0
    assert table_sizes(store_settings) == before


def table_sizes(settings: DatabaseSettings) -> dict[str, int]:
    """Every table of the schema and its rows."""
    db = ViewDatabase(settings)
    try:
        names = db.read(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ? "
            "AND table_type = 'BASE TABLE'",
            (settings.schema,),
        )
        return {n: db.read(f'SELECT count(*) FROM "{n}"')[0][0] for (n,) in names}
    finally:
        db.close()


@pytest.mark.parametrize("text", ["ten", "-5", "1e4"], ids=["word", "negative", "float"])
def test_a_checkpoint_interval_that_is_not_a_whole_number_is_refused(
    monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    """`LEDGER_CHECKPOINT_EVERY` is a whole number of events, or a coded error naming it."""
    monkeypatch.setenv("LEDGER_CHECKPOINT_EVERY", text)
    with pytest.raises(ConfigurationError) as refused:
        every_from_env()
    assert refused.value.code == "invalid_configuration"
    assert "LEDGER_CHECKPOINT_EVERY" in refused.value.message


def test_batches_rolled_back_after_their_checkpoint_figures_leave_no_trace(
    store_settings: DatabaseSettings,
    app: SupportLedger,
    clock: SteppingClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch whose transaction fails after its marks, spans and checkpoint were written
    rolls them back with its rows; the runner started again carries them on from the table:
    every span holds the least recording time of the view's events in it, the marks end at
    the head, and replays from the checkpoints answer as replays of the whole log."""
    every = 2 * SPANS_PER_INTERVAL  # spans of two positions: batches start inside them
    business(app)
    calls = itertools.count()
    real_advance = runner.advance

    def failing_advance(*args: Any, **kwargs: Any) -> None:
        if next(calls) % 3 == 1:
            msg = "the server went away before the commit"
            raise RuntimeError(msg)
        real_advance(*args, **kwargs)

    monkeypatch.setattr(runner, "advance", failing_advance)
    head = app.recorder.max_notification_id()
    for _ in range(300):
        outcomes = run_projections(
            store_settings, app, REPLAYED, once=True, batch_size=BATCH, checkpoint_every=every
        )
        if all(o.position == head for o in outcomes):
            break
    else:
        pytest.fail("the runners never caught up")
    monkeypatch.setattr(runner, "advance", real_advance)
    assert next(calls) > 30  # many batches failed on the way

    log = [(n.id, n.topic, app.mapper.to_domain_event(n).timestamp)
           for n in app.recorder.select_notifications(start=1, limit=head or 1)]  # fmt: skip
    db = ViewDatabase(store_settings)
    try:
        with db.transaction() as tx:
            marks = tx.fetchall("SELECT name, position FROM view_checkpoint_marks ORDER BY name")
            spans = tx.fetchall(
                "SELECT name, start, stop, recorded_min FROM view_checkpoint_spans "
                "ORDER BY name, start"
            )
    finally:
        db.close()
    assert marks == [("credit_usage", head), ("sla_breaches", head)]
    span = every // SPANS_PER_INTERVAL
    for view in REPLAYED:
        rows = [r[1:] for r in spans if r[0] == view.name]
        assert [r[0] for r in rows[1:]] == [r[1] for r in rows[:-1]]  # contiguous
        assert (rows[0][0], rows[-1][1]) == (0, head)
        assert all(start % span == 0 for start, _, _ in rows)  # a row per twentieth, whole
        for start, stop, low in rows:
            assert (stop - 1) // span == start // span  # within one twentieth of an interval
            times = [to_us(t) for p, topic, t in log
                     if start < p <= stop and topic in view.topics()]  # fmt: skip
            assert low == min(times, default=None), (view.name, start, stop)
    rng = random.Random(5)
    started = set()
    for instant in [*rng.sample(clock.stamps, 6), clock.stamps[-1]]:
        fast, started_from, rejected, _ = replay(store_settings, app, instant, use=True)
        assert fast == replay(store_settings, app, instant, use=False)[0], instant
        assert rejected == 0
        started.update(started_from.values())
    assert max(started) > 0  # from checkpoints made by the runners that failed on the way
    assert len(positions(store_settings, "sla_breaches")) >= 2
