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

import shutil
import tempfile
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ledger.domain.errors import InvalidInputError
from ledger.logs import get_logger
from ledger.projections.credit_usage import CreditUsageProjection, CreditUsageView
from ledger.projections.db import ViewDatabase
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
    applied: int  # events recorded by `as_of` that the views follow, applied
    last_position: int  # the position of the last event recorded by `as_of` (0: none)
    breaches: SlaBreachView
    credits: CreditUsageView


@contextmanager
def as_of_views(
    settings: DatabaseSettings,
    app: SupportLedger,
    as_of: datetime,
    *,
    batch_size: int = 5000,
    progress: Callable[[int, int], None] | None = None,
    standby: bool = False,
) -> Iterator[AsOf]:
    """Replay the events recorded up to `as_of` into temporary views; drop them on exit.

    `standby`: `app` reads a standby (`LEDGER_READ_DATABASE_URL`), so the temporary views go
    to a SQLite file rather than a schema beside the live one."""
    if as_of.tzinfo is None:
        raise InvalidInputError("--as-of: give the instant with its UTC offset")
    now = datetime.now(UTC)
    if as_of > now:
        raise InvalidInputError(
            f"--as-of: {as_of.isoformat()} is in the future; the log can only be read up to now"
        )
    with _temporary_store(settings, standby=standby) as store:
        db = ViewDatabase(store)
        try:
            projections = [p(db) for p in REPLAYED]
            for projection in projections:
                projection.create()
            head, applied, last = _replay(
                app, db, projections, as_of, batch_size=batch_size, progress=progress
            )
            log.info("as_of_replayed", as_of=as_of.isoformat(), applied=applied, head=head)
            yield AsOf(
                as_of=as_of,
                head=head,
                applied=applied,
                last_position=last,
                breaches=SlaBreachView(db),
                credits=CreditUsageView(db),
            )
        finally:
            db.close()


def _replay(
    app: SupportLedger,
    db: ViewDatabase,
    projections: list[Projection],
    as_of: datetime,
    *,
    batch_size: int,
    progress: Callable[[int, int], None] | None,
) -> tuple[int, int, int]:
    """Apply, batch by batch, the followed events whose recording time is by `as_of`."""
    head = int(app.recorder.max_notification_id() or 0)
    topics = {p.name: type(p).topics() for p in projections}
    followed = frozenset().union(*topics.values())
    position = applied = last = 0
    while position < head:
        batch = app.recorder.select_notifications(start=position + 1, limit=batch_size, stop=head)
        if not batch:
            break
        chosen: list[tuple[int, str, Any]] = []
        for notification in batch:
            if notification.topic not in followed:
                continue
            event: Any = app.mapper.to_domain_event(notification)
            if event.timestamp <= as_of:
                chosen.append((notification.id, notification.topic, event))
                last = notification.id
        if chosen:
            with db.transaction() as tx:
                for projection in projections:
                    mine = topics[projection.name]
                    events = [(pos, e) for pos, topic, e in chosen if topic in mine]
                    if events:
                        projection.apply(tx, events)
            applied += len(chosen)
        position = batch[-1].id
        if progress is not None:
            progress(position, head)
    return head, applied, last


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
