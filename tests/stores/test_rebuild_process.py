"""A large rebuild on PostgreSQL reads, decodes and extracts the log in a process of its own
(`ledger.projections.reader`): the same rows and checkpoints as reading in a thread, a clear
error when that process dies or fails, nothing left running, and the view rebuilt from
scratch by the next runner."""

from __future__ import annotations

import pickle
import subprocess
from typing import TYPE_CHECKING, Any

import pytest

from ledger.domain.calendar import to_us
from ledger.errors import StoreUnavailableError
from ledger.projections import reader
from ledger.projections.base import REBUILDING, read_state
from ledger.projections.checkpoints import CHECKPOINTS, MARKS, SPANS, copy_table
from ledger.projections.deadlines import DeadlinesProjection
from ledger.projections.runner import UnknownProjectionError, rebuild, verify
from ledger.projections.sla_clocks import SlaBreachProjection
from ledger.projections.sla_extracts import Changed, extract
from tests.stores.test_rebuild import business, contents, project

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ledger.application import SupportLedger
    from ledger.projections.base import Projection
    from ledger.projections.db import Transaction, ViewDatabase
    from ledger.settings import DatabaseSettings
    from tests.scenario import World


@pytest.fixture
def postgres(store_settings: DatabaseSettings) -> DatabaseSettings:
    if store_settings.backend != "postgresql":
        pytest.skip("a rebuild reads in a process on PostgreSQL only")
    return store_settings


def in_processes(monkeypatch: pytest.MonkeyPatch) -> list[subprocess.Popen[bytes]]:
    """From now on every rebuild reads in a process (none in a thread): the processes."""
    started: list[subprocess.Popen[bytes]] = []
    popen = subprocess.Popen

    def spawn(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        child = popen(*args, **kwargs)
        started.append(child)
        return child

    def no_thread(*_: Any) -> Iterator[Any]:
        msg = "this rebuild was to read in a process"
        raise AssertionError(msg)

    monkeypatch.setattr(reader, "PROCESS_FROM", 0)
    monkeypatch.setattr(reader, "in_thread", no_thread)
    monkeypatch.setattr(subprocess, "Popen", spawn)
    return started


@pytest.fixture
def children(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Every rebuild of the test reads in a process; none is left running after it."""
    started = in_processes(monkeypatch)
    yield started
    assert all(child.poll() is not None for child in started)


def checkpoints(db: ViewDatabase) -> dict[str, list[tuple[Any, ...]]]:
    """The views' checkpoints (not when made), their copies, marks and spans, if any."""
    tables = (CHECKPOINTS, copy_table("sla_calendars"), copy_table("sla_counts"), MARKS, SPANS)
    found: dict[str, list[tuple[Any, ...]]] = {}
    with db.transaction() as tx:
        for table in tables:
            if tx.fetchone("SELECT to_regclass(?)", (table,)) == (None,):
                continue
            rows = tx.fetchall(f"SELECT * FROM {table}")
            if table == CHECKPOINTS:  # without `made_at`, the wall clock
                rows = [row[:-1] for row in rows]
            found[table] = sorted(rows, key=repr)
    return found


@pytest.mark.parametrize("view", [SlaBreachProjection, DeadlinesProjection])
def test_a_rebuild_read_in_a_process_writes_what_one_read_in_a_thread_writes(
    postgres: DatabaseSettings,
    app: SupportLedger,
    world: World,
    db: ViewDatabase,
    *,
    monkeypatch: pytest.MonkeyPatch,
    view: type[Projection],
) -> None:
    """The rows of the live view, and the checkpoints a rebuild read in a thread makes, to
    the byte, with batches and checkpoint intervals that end anywhere."""
    business(postgres, app, world, view)
    live = contents(db, view(db))
    rebuild(postgres, app, view, batch_size=4, checkpoint_every=7)
    in_thread = checkpoints(db)
    assert bool(in_thread.get(CHECKPOINTS)) == (view is SlaBreachProjection)
    assert contents(db, view(db)) == live

    children = in_processes(monkeypatch)
    position = rebuild(postgres, app, view, batch_size=4, checkpoint_every=7)

    assert len(children) == 1
    assert children[0].poll() is not None
    assert position == app.recorder.max_notification_id()
    assert contents(db, view(db)) == live
    assert checkpoints(db) == in_thread
    assert verify(postgres, app, view) == (position, [])


@pytest.mark.usefixtures("children")
def test_a_reading_process_that_dies_fails_the_rebuild_clearly_and_the_next_runner_rebuilds(
    postgres: DatabaseSettings,
    app: SupportLedger,
    world: World,
    db: ViewDatabase,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The process killed as it starts: the rebuild says so, with its exit code; the view is
    left marked as rebuilding, and the next runner builds it from the first event."""
    business(postgres, app, world, SlaBreachProjection)
    live = contents(db, SlaBreachProjection(db))
    popen = subprocess.Popen

    def killed(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        child = popen(*args, **kwargs)
        child.kill()
        return child

    monkeypatch.setattr(subprocess, "Popen", killed)
    with pytest.raises(StoreUnavailableError, match=r"sla_breaches ended without a word \(exit"):
        rebuild(postgres, app, SlaBreachProjection, batch_size=4)
    assert read_state(db, "sla_breaches").shape == REBUILDING  # type: ignore[union-attr]

    project(postgres, app, SlaBreachProjection)

    assert read_state(db, "sla_breaches").shape == SlaBreachProjection.shape  # type: ignore[union-attr]
    assert contents(db, SlaBreachProjection(db)) == live


class NoResponses(SlaBreachProjection):
    """The SLA view, unable to extract a first response (in the reading process)."""

    @staticmethod
    def extract(event: Any) -> Any:
        found = extract(event)
        if isinstance(found, Changed) and found.kind == "FirstResponseRecorded":
            msg = "no extract of a response"
            raise ValueError(msg)
        return found


class FailsAtResponses(SlaBreachProjection):
    """The SLA view, failing to fold a first response (in the rebuilding process)."""

    def fold(self, tx: Transaction, extracts: list[tuple[int, Any]]) -> None:
        for _, found in extracts:
            if isinstance(found, Changed) and found.kind == "FirstResponseRecorded":
                msg = "cannot fold a response"
                raise ValueError(msg)
        super().fold(tx, extracts)


def test_a_failure_in_the_reading_process_is_told_and_a_failing_fold_names_its_event(
    postgres: DatabaseSettings,
    app: SupportLedger,
    world: World,
    db: ViewDatabase,
    children: list[subprocess.Popen[bytes]],
) -> None:
    """What the reading process could not do comes back as its error; a batch the rebuild
    cannot fold is read again, event by event, to name the event that fails. Either way the
    reading process is stopped."""
    business(postgres, app, world, SlaBreachProjection)

    with pytest.raises(StoreUnavailableError, match="failed: ValueError: no extract of a resp"):
        rebuild(postgres, app, NoResponses, batch_size=4)
    with pytest.raises(UnknownProjectionError, match="cannot fold a response"):
        rebuild(postgres, app, FailsAtResponses, batch_size=4)

    state = read_state(db, "sla_breaches")
    assert state is not None
    assert state.error_position is not None
    (notification,) = app.recorder.select_notifications(start=state.error_position, limit=1)
    assert notification.topic.endswith("Ticket.FirstResponseRecorded")
    assert state.position < state.error_position
    assert len(children) == 2


@pytest.mark.parametrize("view", [SlaBreachProjection, DeadlinesProjection])
def test_every_extract_is_plain_values_that_cross_a_process_unchanged(
    store_settings: DatabaseSettings, app: SupportLedger, world: World, view: type[Projection]
) -> None:
    """Each followed event's extract pickles to and from the same values, with its key and
    recording time; most kinds the view follows are in the log of the business above."""
    business(store_settings, app, world, view)
    topics = view.topics()
    seen = set()
    for notification in app.recorder.select_notifications(start=1, limit=10_000):
        if notification.topic not in topics:
            continue
        event: Any = app.mapper.to_domain_event(notification)
        found = view.extract(event)
        seen.add(type(event))
        assert pickle.loads(pickle.dumps(found, pickle.HIGHEST_PROTOCOL)) == found  # noqa: S301
        assert found.key == str(event.originator_id)
        assert found.recorded_at == view.recorded_at(found) == to_us(event.timestamp)
        assert all(plain(value) for value in found), found
    assert seen <= set(view.follows)
    assert len(seen) >= 8


def plain(value: Any) -> bool:
    """Text, a number, a flag or nothing, or a tuple of those."""
    if isinstance(value, tuple):
        return all(plain(v) for v in value)
    return value is None or isinstance(value, (str, int))
