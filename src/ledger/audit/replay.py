"""As-of replay: the read models as they stood at an instant, built in a temporary store.

The events recorded up to the instant (by their own recording time, `timestamp`) are applied,
in log order, to fresh copies of the views in a store of their own: a temporary SQLite file,
or a temporary schema of the same PostgreSQL database (a temporary SQLite file when the events
are read on a standby, where nothing can be written). The live views are never touched, and
the temporary store is dropped afterwards. Because the selection depends only on what was
recorded by the instant, the answer for a past instant does not change when events arrive
later.
"""

from __future__ import annotations

import bisect
import itertools
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ledger.domain.calendar import to_us
from ledger.domain.errors import InvalidInputError
from ledger.logs import get_logger
from ledger.projections.checkpoints import (
    Checkpoint,
    Overlay,
    Source,
    chain_link,
    list_checkpoints,
    list_spans,
    read_marks,
    restore,
)
from ledger.projections.credit_usage import CreditUsageProjection, CreditUsageView
from ledger.projections.db import ViewDatabase
from ledger.projections.reader import READ_SPAN
from ledger.projections.runner import fewer_collections
from ledger.projections.sla_breaches import SlaBreachProjection, SlaBreachView
from ledger.settings import parse_database_url
from ledger.store import connect

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from ledger.application import SupportLedger
    from ledger.projections.base import Projection
    from ledger.settings import DatabaseSettings

log = get_logger("ledger.audit")

REPLAYED: tuple[type[Projection], ...] = (SlaBreachProjection, CreditUsageProjection)


@dataclass
class AsOf:
    """The views as they stood at `as_of`, and what went into them."""

    as_of: datetime
    head: int  # the newest position in the log when the replay read it
    applied: int  # events recorded by `as_of` applied by this replay (after its checkpoints)
    last_position: int  # the position of the last event recorded by `as_of` (0: none)
    breaches: SlaBreachView
    credits: CreditUsageView
    # per view, the position of the checkpoint the replay started from (0: the log's start)
    started_from: dict[str, int] = field(default_factory=dict)
    rejected: int = 0  # checkpoints that failed their verification and were not used
    # per view, the position after which the checkpoint's rows were digested (0: every row;
    # else the rows below it are as the sealed checkpoint before it claims)
    checked_from: dict[str, int] = field(default_factory=dict)


@contextmanager
def as_of_views(
    settings: DatabaseSettings,
    app: SupportLedger,
    as_of: datetime,
    *,
    batch_size: int = 5000,
    progress: Callable[[int, int], None] | None = None,
    standby: bool = False,
    checkpoints: bool = True,
    verify_all: bool = False,
) -> Iterator[AsOf]:
    """Replay the events recorded up to `as_of` into temporary views; drop them on exit.

    Each view starts from its newest checkpoint whose events were all recorded by `as_of` and
    that verifies (`checkpoints=False`: from the log's start, the baseline), and only the
    events after it recorded by `as_of` are replayed. On PostgreSQL (the same database) a
    checkpoint's growing tables are checked over the rows of its interval, after the checkpoint
    before it, whose digests carry the rows below: the cost does not grow with the log
    (`verify_all`: every row, as a SQLite or standby replay always does).
    `standby`: `app` reads a standby (`LEDGER_READ_DATABASE_URL`), so the temporary views go
    to a SQLite file rather than a schema beside the live one; checkpoints are read there."""
    if as_of.tzinfo is None:
        raise InvalidInputError("--as-of: give the instant with its UTC offset")
    now = datetime.now(UTC)
    if as_of > now:
        raise InvalidInputError(
            f"--as-of: {as_of.isoformat()} is in the future; the log can only be read up to now"
        )
    with _temporary_store(settings, standby=standby) as store:
        db = ViewDatabase(store, scratch=True)
        live = ViewDatabase(settings)
        try:
            head = int(app.recorder.max_notification_id() or 0)
            plans = [
                _plan(p(db), live, as_of, store, use=checkpoints, verify_all=verify_all)
                for p in REPLAYED
            ]
            for plan in plans:
                if plan.overlay is not None:  # the view's tables are SQL views: no DDL again
                    db.mark_created(type(plan.projection)(db).ddl())
            with fewer_collections():
                applied, last = _replay(
                    app, db, plans, as_of, head, batch_size=batch_size, progress=progress
                )
            started = {p.projection.name: p.start for p in plans}
            rejected = sum(p.rejected for p in plans)
            log.info(
                "as_of_replayed", as_of=as_of.isoformat(), applied=applied, head=head,
                started_from=started, rejected=rejected,
            )  # fmt: skip
            yield AsOf(
                as_of=as_of,
                head=head,
                applied=applied,
                last_position=max([last, *(p.last for p in plans)]),
                breaches=SlaBreachView(db),
                credits=CreditUsageView(db),
                started_from=started,
                rejected=rejected,
                checked_from={p.projection.name: p.checked_from for p in plans},
            )
        finally:
            live.close()
            db.close()


@dataclass
class _Plan:
    """One view's replay: where it starts, and the ranges of the log it must read."""

    projection: Projection
    topics: frozenset[str]
    start: int = 0  # the checkpoint's position (0: the log's start)
    last: int = 0  # the view's last event in the checkpoint
    skipped: list[tuple[int, int]] = field(default_factory=list)  # (a, b]: nothing by as_of
    rejected: int = 0
    overlay: Overlay | None = None  # PostgreSQL: the checkpoint read in place, replayed beside
    checked_from: int = 0  # the rows after this position were digested (0: every row)

    def wants(self, position: int) -> bool:
        """Whether the event at `position` may be one this view replays."""
        if position <= self.start:
            return False
        index = bisect.bisect_left(self.skipped, (position, position)) - 1
        return index < 0 or not (self.skipped[index][0] < position <= self.skipped[index][1])


def _plan(
    projection: Projection,
    live: ViewDatabase,
    as_of: datetime,
    store: DatabaseSettings,
    *,
    use: bool,
    verify_all: bool = False,
) -> _Plan:
    """Restore the newest usable checkpoint into `projection` (else create it empty) and
    note the ranges after it whose events were all recorded after `as_of`."""
    plan = _Plan(projection, type(projection).topics())
    found = list_checkpoints(live, projection.name) if use else []
    limit = to_us(as_of)
    source = _source(live, store)
    shape = type(projection).shape
    for index in reversed(range(len(found))):
        checkpoint = found[index]
        if checkpoint.recorded_max is not None and checkpoint.recorded_max > limit:
            continue
        reason = _unusable(checkpoint, shape, live)
        since = None if verify_all or index == 0 else found[index - 1]
        if since is not None and (not since.sealed or since.shape != shape):
            since = None
        overlay = (
            None if source.qualifier is None else Overlay(source, projection, checkpoint, since)
        )
        if reason is None:
            differ = restore(source, projection, checkpoint) if overlay is None else overlay.build()
            if differ:
                reason = f"its rows do not match their digests: {', '.join(differ)}"
        if reason is not None:
            plan.rejected += 1
            log.warning(
                "checkpoint_rejected", projection=projection.name,
                position=checkpoint.position, reason=reason,
            )  # fmt: skip
            continue
        plan.start, plan.last = checkpoint.position, checkpoint.last_event
        if overlay is not None:
            plan.projection, plan.overlay = overlay.delta, overlay
            plan.checked_from = 0 if since is None else since.position
        break
    if plan.start == 0:
        projection.create()
    for checkpoint in found:
        if (
            checkpoint.position > plan.start
            and _after(checkpoint.range_min, limit)
            and checkpoint.sealed
        ):
            plan.skipped.append((checkpoint.range_start, checkpoint.position))
    marks = read_marks(live, projection.name) if use else None
    usable = marks is not None and marks.sealed and marks.position > plan.start
    if marks is not None and usable and _after(marks.range_min, limit):
        plan.skipped.append((max(marks.range_start, plan.start), marks.position))
    # the spans, finer than the checkpoints, only where these skip nothing: how many there are
    # past the instant grows with the log, and each one's seal is checked
    for low, high in _gaps(_merged(plan.skipped), plan.start) if use else []:
        for span in list_spans(live, projection.name, low, high):
            if _after(span.recorded_min, limit) and span.sealed:  # a tampered one is read
                plan.skipped.append((max(span.start, plan.start), span.stop))
    plan.skipped = _merged(plan.skipped)
    return plan


def _gaps(ranges: list[tuple[int, int]], start: int) -> list[tuple[int, int | None]]:
    """The positions after `start` outside merged ranges (a, b], as ranges (a, b] (the last
    one open: b None)."""
    found: list[tuple[int, int | None]] = []
    low = start
    for a, b in ranges:
        if b <= low:
            continue
        if a > low:
            found.append((low, a))
        low = max(low, b)
    found.append((low, None))
    return found


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Ranges (a, b] sorted, with those that overlap or touch joined."""
    joined: list[tuple[int, int]] = []
    for low, high in sorted(ranges):
        if joined and low <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(high, joined[-1][1]))
        else:
            joined.append((low, high))
    return joined


def _after(least: int | None, limit: int) -> bool:
    """Whether every event of a range was recorded after the instant (or it has none)."""
    return least is None or least > limit


def _unusable(checkpoint: Checkpoint, shape: int, live: ViewDatabase) -> str | None:
    """Why a checkpoint cannot be used (None: its fields and chain link check)."""
    if checkpoint.shape != shape:
        return f"it is of shape {checkpoint.shape}, the view is of shape {shape}"
    if not checkpoint.sealed:
        return "its seal does not match its fields"
    link = chain_link(live, checkpoint.position)
    if link != checkpoint.link:
        return "the chain's link at its position differs"
    return None


def _source(live: ViewDatabase, store: DatabaseSettings) -> Source:
    """How the temporary store reads the live views (in its own SQL when the same database)."""
    same = live.backend == "postgresql" == store.backend and live.settings.dbname == store.dbname
    return Source(live, f'"{live.settings.schema}".' if same and not live.read_only else None)


def _replay(
    app: SupportLedger,
    db: ViewDatabase,
    plans: list[_Plan],
    as_of: datetime,
    head: int,
    *,
    batch_size: int,
    progress: Callable[[int, int], None] | None,
) -> tuple[int, int]:
    """Apply, batch by batch, the followed events whose recording time is by `as_of`, each to
    the views that start before it, reading only the ranges some view needs."""
    followed = frozenset().union(*(p.topics for p in plans))
    applied = last = 0
    for low, high in _ranges(plans, head):
        position = low
        while position < high:
            stop = min(high, position + batch_size * READ_SPAN)  # a bounded range a query
            batch = app.recorder.select_notifications(
                start=position + 1, limit=batch_size, stop=stop, topics=sorted(followed)
            )
            chosen: list[tuple[int, str, Any]] = []
            for notification in batch:
                if notification.topic not in followed or not any(
                    p.wants(notification.id) for p in plans
                ):
                    continue
                event: Any = app.mapper.to_domain_event(notification)
                if event.timestamp <= as_of:
                    chosen.append((notification.id, notification.topic, event))
                    last = notification.id
            if chosen:
                with db.transaction() as tx:
                    for plan in plans:
                        events = [
                            (pos, e) for pos, topic, e in chosen
                            if topic in plan.topics and plan.wants(pos)
                        ]  # fmt: skip
                        if events:
                            plan.projection.apply(tx, events)
                applied += len(chosen)
            position = batch[-1].id if len(batch) == batch_size else stop
            if progress is not None:
                progress(position, head)
    return applied, last


def _ranges(plans: list[_Plan], head: int) -> list[tuple[int, int]]:
    """The ranges (a, b] of the log some view must read, merged, in order."""
    edges = sorted({0, head, *(p.start for p in plans),
                    *(x for p in plans for r in p.skipped for x in r)})  # fmt: skip
    ranges: list[tuple[int, int]] = []
    for low, high in itertools.pairwise(edges):
        if high > head or not any(p.wants(high) for p in plans):
            continue  # every position of (low, high] is alike for each view
        if ranges and ranges[-1][1] == low:
            ranges[-1] = (ranges[-1][0], high)
        else:
            ranges.append((low, high))
    return ranges


@contextmanager
def _temporary_store(
    settings: DatabaseSettings, *, standby: bool = False
) -> Iterator[DatabaseSettings]:
    """A fresh SQLite file in a temporary folder, or a fresh schema beside the live one."""
    if settings.backend == "postgresql" and not standby:
        schema = f"ledger_asof_{uuid.uuid4().hex[:12]}"
        with connect(settings, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield settings.with_schema(schema)
        finally:
            with connect(settings, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        return
    if settings.backend not in ("sqlite", "postgresql"):
        raise InvalidInputError(
            f"as-of replay needs SQLite or PostgreSQL, not {settings.backend}"
        )  # pragma: no cover - the memory store is for tests of the domain
    folder = Path(tempfile.mkdtemp(prefix="ledger-asof-"))
    try:
        yield parse_database_url(f"sqlite:///{folder / 'views.db'}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
