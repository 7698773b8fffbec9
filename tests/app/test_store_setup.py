"""How SupportLedger stores events: library bytes, read checks at commit, snapshots (SQLite)."""

from __future__ import annotations

import io
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import TYPE_CHECKING, Any
from uuid import NAMESPACE_URL, uuid5

import pytest
from eventsourcing.application import project_aggregate
from eventsourcing.persistence import (
    ConnectionUnavailableError,
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    TranscodingNotRegisteredError,
    UUIDAsHex,
)
from rich.console import Console

from ledger.application import SupportLedger, snapshot_due
from ledger.demo import run_demo
from ledger.domain.credit_account import CreditAccount
from ledger.settings import parse_database_url
from tests.scenario import at, build_world

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path
    from uuid import UUID

    from ledger.settings import DatabaseSettings


def transcoders() -> tuple[JSONTranscoder, JSONTranscoder]:
    """The library's transcoder as it ships, and the one SupportLedger builds."""
    library = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        library.register(transcoding)
    app = SupportLedger()
    try:
        ledger = app.mapper.transcoder
    finally:
        app.close()
    assert isinstance(ledger, JSONTranscoder)
    return library, ledger


# A state as the previous, orjson-based encoder of ledger.store wrote it (every kind of value
# ledger stores: instants in UTC and in another zone, decimals, ids, lists, nested dicts, and
# integers beyond 64 bits, floats, tuples, which it sent to the `json` module).
WRITTEN_BEFORE = (
    b'{"originator_topic":"ledger.domain.ticket:Ticket","received_at":{"_type_":"datetime_iso",'
    b'"_data_":"2025-03-03T09:30:00+00:00"},"points":{"_type_":"decimal_str","_data_":"12.50"},'
    b'"contract_id":{"_type_":"uuid_hex","_data_":"7d0c52a43c475a0e9d5e4c1b0e3c2a10"},'
    b'"severity":3,"labels":["a","\xc3\xbc\xe2\x82\xac"],"due":{"50":{"_type_":"datetime_iso",'
    b'"_data_":"2025-03-03T13:30:15.250000+01:00"}},"big":1180591620717411303424,"ratio":0.5,'
    b'"none":null,"flag":true,"pair":[1,"x"]}'
)


def test_bytes_written_before_read_back_and_are_written_again_as_they_were() -> None:
    """A state stored by the previous encoder decodes to its values with the application's
    transcoder, and encodes to the same bytes again (so hashes over stored states hold)."""
    _, ledger = transcoders()
    state = ledger.decode(WRITTEN_BEFORE)
    assert state["received_at"] == datetime(2025, 3, 3, 9, 30, tzinfo=UTC)
    assert state["points"] == Decimal("12.50")
    assert state["contract_id"].hex == "7d0c52a43c475a0e9d5e4c1b0e3c2a10"
    assert state["due"]["50"].utcoffset() == timedelta(hours=1)
    assert ledger.encode(state) == WRITTEN_BEFORE


def test_the_ledger_transcoder_refuses_what_the_library_refuses() -> None:
    """A lone surrogate cannot be written as UTF-8, a cycle not at all: both fail alike."""
    library, ledger = transcoders()
    cycle: dict[str, Any] = {}
    cycle["self"] = cycle
    for transcoder in (library, ledger):
        with pytest.raises(UnicodeEncodeError):
            transcoder.encode({"text": "\ud800"})
        with pytest.raises(ValueError, match="Circular reference"):
            transcoder.encode(cycle)


def test_the_ledger_transcoder_refuses_types_without_a_transcoding() -> None:
    """A value of an unregistered type is refused with the library's error."""
    _, ledger = transcoders()
    with pytest.raises(TranscodingNotRegisteredError):
        ledger.encode({"when": timedelta(hours=1)})


def test_the_sqlite_store_is_in_wal_mode(sqlite_settings: DatabaseSettings) -> None:
    """The SQLite store's connections use the write-ahead log (readers do not wait on writers)."""
    app = SupportLedger(settings=sqlite_settings)
    try:
        build_world(app)
        with app.factory.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
            cursor.execute("PRAGMA journal_mode")
            assert cursor.fetchone()[0] == "wal"
    finally:
        app.close()


def test_sqlite_writers_take_turns(sqlite_settings: DatabaseSettings) -> None:
    """One writer at a time; readers meanwhile; the next writer once the first is done."""
    app = SupportLedger(settings=sqlite_settings)
    pool = app.factory.datastore.pool  # type: ignore[attr-defined]
    writer = pool.get_connection(is_writer=True)
    try:
        with pytest.raises(ConnectionUnavailableError):
            pool.get_connection(timeout=0.05, is_writer=True)  # a second writer gives up
        reader = pool.get_connection(is_writer=False)  # readers are not held up
        assert reader is not writer
        pool.put_connection(reader)
    finally:
        pool.put_connection(writer)
    pool.put_connection(pool.get_connection(timeout=0.05, is_writer=True))  # its turn now
    build_world(app)  # saves go through it
    app.close()


@pytest.fixture
def apps(store_settings: DatabaseSettings) -> Iterator[tuple[SupportLedger, SupportLedger]]:
    """Two applications on one store, as two processes would have."""
    first, second = SupportLedger(settings=store_settings), SupportLedger(settings=store_settings)
    yield first, second
    first.close()
    second.close()


def consume_until(app: SupportLedger, contract_id: UUID, version: int, key: str) -> int:
    """Consume a point at a time until the account is at `version`; returns how many."""
    done = 0
    while app.get_account(contract_id).version < version:
        app.consume_credits(
            contract_id, points=Decimal(1), activity="a", key=f"{key}{done}",
            at=at(3, 3) + timedelta(minutes=done),
        )  # fmt: skip
        done += 1
    return done


def next_snapshot_point(app: SupportLedger, contract_id: UUID) -> int:
    """The first version after the account's current one at which a snapshot falls due."""
    account = app.get_account(contract_id)
    interval = SupportLedger.snapshotting_intervals[CreditAccount]
    version = account.version + 1
    while not snapshot_due(account.id, version, 1, interval):
        version += 1
    return version


def snapshot_versions(app: SupportLedger, account_id: UUID) -> list[int]:
    assert app.snapshots is not None
    return [s.originator_version for s in app.snapshots.get(account_id)]


def test_a_snapshot_is_written_with_the_events_it_sums_up(
    apps: tuple[SupportLedger, SupportLedger],
) -> None:
    """The snapshot at the account's next snapshot point is the state its events give, and
    there is one."""
    first, second = apps
    world = build_world(first)
    account_id = CreditAccount.create_id(world.premium)
    before = snapshot_versions(second, account_id)
    point = next_snapshot_point(first, world.premium)
    consume_until(first, world.premium, point + 1, "k")
    assert snapshot_versions(second, account_id) == [*before, point]
    from_snapshot = second.repository.get(account_id, version=point)
    replayed = project_aggregate(None, second.events.get(account_id, lte=point))
    assert vars(from_snapshot) == vars(replayed)


def test_a_save_refused_on_a_stale_copy_leaves_no_snapshot_of_its_own(
    apps: tuple[SupportLedger, SupportLedger],
) -> None:
    """Two writers reach a snapshot point in turn: one snapshot, the winner's, equal to a
    replay."""
    first, second = apps
    world = build_world(first)
    account_id = CreditAccount.create_id(world.premium)
    before = snapshot_versions(second, account_id)
    point = next_snapshot_point(first, world.premium)
    consume_until(first, world.premium, point - 1, "k")  # `first` holds the account there
    second.consume_credits(
        world.premium, points=Decimal(1), activity="a", key="second", at=at(3, 4, 10)
    )  # at the point: snapshot due
    first.consume_credits(
        world.premium, points=Decimal(1), activity="a", key="first", at=at(3, 4, 11)
    )  # its copy is stale: refused, then done again one version later
    assert snapshot_versions(second, account_id) == [*before, point]
    at_point = project_aggregate(None, second.events.get(account_id, lte=point))
    assert vars(second.repository.get(account_id, version=point)) == vars(at_point)
    account = second.get_account(world.premium)
    assert account.version == point + 1
    assert vars(account) == vars(project_aggregate(None, second.events.get(account_id)))


def test_accounts_moving_in_step_reach_their_snapshot_points_in_different_saves() -> None:
    """Fifty accounts at the same versions: their snapshot points are spread over the interval."""
    interval = SupportLedger.snapshotting_intervals[CreditAccount]
    ids = [CreditAccount.create_id(uuid5(NAMESPACE_URL, f"contract-{n}")) for n in range(50)]
    points = [next(v for v in range(1, 200) if snapshot_due(i, v, 1, interval)) for i in ids]
    assert len(set(points)) > interval // 2  # not all at one version
    for aggregate_id in ids:  # one point every `interval` versions, whatever the save sizes
        due = [v for v in range(1, 1001) if snapshot_due(aggregate_id, v, 1, interval)]
        assert [b - a for a, b in pairwise(due)] == [interval] * (len(due) - 1)
        assert snapshot_due(aggregate_id, 1000, 1000, interval)  # a save spanning them all
        assert not snapshot_due(aggregate_id, due[0] - 1, due[0] - 1, interval)


def test_sqlite_rows_decode_with_the_library_transcoder(sqlite_settings: DatabaseSettings) -> None:
    """Every stored event and snapshot of a SQLite store decodes with the library's transcoder."""
    app = SupportLedger(settings=sqlite_settings)
    try:
        world = build_world(app)
        consume_until(app, world.premium, 55, "k")
    finally:
        app.close()
    library, _ = transcoders()
    with sqlite3.connect(sqlite_settings.path) as conn:
        rows = conn.execute(
            "SELECT state FROM stored_events UNION ALL SELECT state FROM stored_snapshots"
        ).fetchall()
    assert rows
    for (state,) in rows:
        assert isinstance(library.decode(state), dict)


def test_every_event_is_stored_as_the_library_would_build_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's events (every kind of aggregate, 30-odd kinds of event): the bytes stored
    are the bytes of the same event built by its own constructor (the order of their fields
    is the order they are stored in)."""
    database = tmp_path / "demo.db"
    # Set, so the demo leaves logging as it is (configured, it would keep this test's stderr).
    monkeypatch.setenv("LEDGER_LOG_LEVEL", "warning")
    run_demo(str(database), Console(file=io.StringIO()))
    app = SupportLedger(settings=parse_database_url(f"sqlite:///{database}"))
    try:
        notifications = app.recorder.select_notifications(1, 10_000)
        assert len({n.topic for n in notifications}) >= 30
        for notification in notifications:
            event = app.mapper.to_domain_event(notification)
            rebuilt = type(event)(**vars(event))
            assert app.mapper.to_stored_event(rebuilt).state == notification.state
    finally:
        app.close()


def test_postgres_rows_are_the_rows_the_library_writes(pg_settings: DatabaseSettings) -> None:
    """The same stored events through ledger's recorder and the library's: the same rows, in
    the same order of notification ids (states with every byte value, topics with quotes)."""
    from eventsourcing.persistence import StoredEvent  # noqa: PLC0415 - this test only
    from eventsourcing.postgres import PostgresApplicationRecorder  # noqa: PLC0415

    from ledger.store import PostgresLedgerRecorder  # noqa: PLC0415

    app = SupportLedger(settings=pg_settings)
    try:
        datastore = app.factory.datastore  # type: ignore[attr-defined]
        ours = PostgresLedgerRecorder(datastore, events_table_name="ours_events")
        theirs = PostgresApplicationRecorder(datastore, events_table_name="theirs_events")
        ours.create_table()
        theirs.create_table()
        first, second = uuid5(NAMESPACE_URL, "first"), uuid5(NAMESPACE_URL, "second")
        batches = [
            [StoredEvent(first, 1, "a:B", bytes(range(256)))],
            [
                StoredEvent(second, 1, "t'o\"p\\ic ü", b'{"x":"\\u0000 \' \\" \\\\"}'),
                StoredEvent(first, 2, "a:C", b""),
                StoredEvent(second, 2, "a:D", "é€𝄞".encode() * 500),
            ],
        ]
        ids = [(ours.insert_events(b), theirs.insert_events(b)) for b in batches]
        assert [len(o or ()) for o, _ in ids] == [1, 3]
        assert [o for o, _ in ids] == [t for _, t in ids]
        for aggregate_id in (first, second):
            assert ours.select_events(aggregate_id) == theirs.select_events(aggregate_id)
        assert [n.state for n in ours.select_notifications(1, 10)] == [
            n.state for n in theirs.select_notifications(1, 10)
        ]
    finally:
        app.close()


def test_a_save_checks_the_versions_it_decided_on(store_settings: DatabaseSettings) -> None:
    """`expected_versions`: the insert is committed when each aggregate is still at the version
    the save names (0 for one never recorded), refused with IntegrityError and nothing stored
    when one has moved on."""
    from eventsourcing.persistence import IntegrityError, StoredEvent  # noqa: PLC0415

    app = SupportLedger(settings=store_settings)
    try:
        recorder = app.recorder
        read, written = uuid5(NAMESPACE_URL, "read"), uuid5(NAMESPACE_URL, "written")
        recorder.insert_events([StoredEvent(read, 1, "a:A", b"{}")])
        recorder.insert_events(
            [StoredEvent(written, 1, "a:A", b"{}")],
            expected_versions=[(read, 1), (uuid5(NAMESPACE_URL, "never"), 0)],
        )
        assert [e.originator_version for e in recorder.select_events(written)] == [1]
        for stale in ([(read, 0)], [(read, 2)], [(uuid5(NAMESPACE_URL, "never"), 1)]):
            with pytest.raises(IntegrityError):
                recorder.insert_events(
                    [StoredEvent(written, 2, "a:A", b"{}")], expected_versions=stale
                )
            assert [e.originator_version for e in recorder.select_events(written)] == [1]
    finally:
        app.close()


def test_a_stale_version_is_refused_whoever_wrote_last(
    store_settings: DatabaseSettings,
) -> None:
    """Every save checks every version it names, on both stores: a version found current at
    one save and changed since, by another writer or by the same one, is refused at the next."""
    from eventsourcing.persistence import IntegrityError, StoredEvent  # noqa: PLC0415

    ours, theirs = SupportLedger(settings=store_settings), SupportLedger(settings=store_settings)
    try:
        read, written = uuid5(NAMESPACE_URL, "read"), uuid5(NAMESPACE_URL, "written")
        ours.recorder.insert_events([StoredEvent(read, 1, "a:A", b"{}")])
        for version in (1, 2):  # current at both saves
            ours.recorder.insert_events(
                [StoredEvent(written, version, "a:A", b"{}")], expected_versions=[(read, 1)]
            )
        theirs.recorder.insert_events([StoredEvent(read, 2, "a:A", b"{}")])
        with pytest.raises(IntegrityError):
            ours.recorder.insert_events(
                [StoredEvent(written, 3, "a:A", b"{}")], expected_versions=[(read, 1)]
            )
        ours.recorder.insert_events(
            [StoredEvent(written, 3, "a:A", b"{}")], expected_versions=[(read, 2)]
        )
        # A save naming an aggregate it writes is judged after its own insert, as ever.
        with pytest.raises(IntegrityError):
            ours.recorder.insert_events(
                [StoredEvent(written, 4, "a:A", b"{}")], expected_versions=[(written, 3)]
            )
        assert [e.originator_version for e in ours.recorder.select_events(written)] == [1, 2, 3]
        # The same writer moves the aggregate on: its own earlier check counts for nothing.
        ours.recorder.insert_events(
            [StoredEvent(written, 4, "a:A", b"{}")], expected_versions=[(read, 2)]
        )
        ours.recorder.insert_events([StoredEvent(read, 3, "a:A", b"{}")])
        with pytest.raises(IntegrityError):
            ours.recorder.insert_events(
                [StoredEvent(written, 5, "a:A", b"{}")], expected_versions=[(read, 2)]
            )
        assert [e.originator_version for e in ours.recorder.select_events(written)] == [1, 2, 3, 4]
    finally:
        ours.close()
        theirs.close()


@pytest.mark.parametrize("seed", range(4))
def test_two_writers_saves_are_refused_exactly_when_a_version_they_name_moved_on(
    store_settings: DatabaseSettings, seed: int
) -> None:
    """Two writers (each its own recorder and connections) take turns at random, each save
    writing one aggregate and naming versions of others, current or not: a save is committed
    exactly when every version it names is current, whoever wrote last."""
    from eventsourcing.persistence import IntegrityError, StoredEvent  # noqa: PLC0415

    rng = random.Random(seed)
    writers = [SupportLedger(settings=store_settings) for _ in range(2)]
    ids = [uuid5(NAMESPACE_URL, f"aggregate-{n}") for n in range(4)]
    versions = dict.fromkeys(ids, 0)
    writer, committed, refused = 0, 0, 0
    try:
        for _ in range(150):
            if rng.random() < 0.25:  # mostly runs of saves by one writer
                writer = 1 - writer
            written, *others = rng.sample(ids, 3)
            expected = [
                (i, max(versions[i] + rng.choice([0, 0, 0, 0, -1, 1]), 0))
                for i in others[: rng.randint(1, 2)]
            ]
            event = StoredEvent(written, versions[written] + 1, "a:A", b"{}")
            if all(versions[i] == version for i, version in expected):
                writers[writer].recorder.insert_events([event], expected_versions=expected)
                versions[written] += 1
                committed += 1
            else:
                with pytest.raises(IntegrityError):
                    writers[writer].recorder.insert_events([event], expected_versions=expected)
                refused += 1
        for aggregate_id, version in versions.items():
            stored = writers[0].recorder.select_events(aggregate_id)
            assert [e.originator_version for e in stored] == list(range(1, version + 1))
        assert committed > 50
        assert refused > 20
    finally:
        for app in writers:
            app.close()


def test_a_save_checks_that_nothing_of_some_kinds_came_after_what_it_read(
    store_settings: DatabaseSettings,
) -> None:
    """`nothing_after`: the insert is committed when no event of the named topics that concerns
    it, other than the save's own aggregates', was recorded after the position; refused with
    IntegrityError and nothing stored otherwise (also on PostgreSQL, where the library commits
    whatever Python raises during the insert)."""
    from eventsourcing.persistence import IntegrityError, StoredEvent  # noqa: PLC0415

    from ledger.store import NothingAfter  # noqa: PLC0415

    app = SupportLedger(settings=store_settings)
    try:
        recorder = app.recorder
        booked, other = uuid5(NAMESPACE_URL, "booked"), uuid5(NAMESPACE_URL, "other")
        recorder.insert_events([StoredEvent(booked, 1, "a:Opened", b"{}")])
        seen = recorder.max_notification_id()
        recorder.insert_events([StoredEvent(other, 1, "a:Noted", b"{}")])  # another topic
        recorder.insert_events(
            [StoredEvent(booked, 2, "a:Opened", b"{}")],  # its own topic, its own aggregate
            nothing_after=NothingAfter(seen, ("a:Opened",)),
        )
        recorder.insert_events([StoredEvent(other, 2, "a:Opened", b'{"of":"them"}')])
        recorder.insert_events(  # an event of those topics that does not concern the save
            [StoredEvent(booked, 3, "a:Changed", b"{}")],
            nothing_after=NothingAfter(seen, ("a:Opened",), lambda e: e.state == b'{"of":"us"}'),
        )
        recorder.insert_events([StoredEvent(other, 3, "a:Opened", b'{"of":"us"}')])
        with pytest.raises(IntegrityError, match=rf"a:Opened of {other} .* after position {seen}"):
            recorder.insert_events(
                [StoredEvent(booked, 4, "a:Changed", b"{}")],
                nothing_after=NothingAfter(
                    seen, ("a:Gone", "a:Opened"), lambda e: e.state == b'{"of":"us"}'
                ),
            )
        assert [e.originator_version for e in recorder.select_events(booked)] == [1, 2, 3]
        recorder.insert_events(
            [StoredEvent(booked, 4, "a:Changed", b"{}")],
            nothing_after=NothingAfter(recorder.max_notification_id(), ("a:Opened",)),
        )
        assert [e.originator_version for e in recorder.select_events(booked)] == [1, 2, 3, 4]
    finally:
        app.close()


def test_postgres_refuses_the_library_insert_function(pg_settings: DatabaseSettings) -> None:
    """The library's database-function insert would skip the read-version check: refused."""
    with pytest.raises(ValueError, match="POSTGRES_ENABLE_DB_FUNCTIONS"):
        SupportLedger({"POSTGRES_ENABLE_DB_FUNCTIONS": "y"}, settings=pg_settings)
