"""What every request needs: the settings, the one SupportLedger, and read-model connections.

One SupportLedger serves the whole process (built at startup, closed at shutdown). Endpoints
are plain functions that FastAPI runs in its thread pool, so it is shared between threads;
it is made for that: its store connections come from a pool (psycopg_pool on PostgreSQL; on
SQLite the library's own pool, which hands each thread its own connection, lets one writer at
a time through and keeps the file in WAL mode), its cache of saved and reference copies is
locked, the retry state of a use case is thread-local, and the library locks the aggregate
cache's fast-forwarding. Writes by several processes are kept apart by the store (optimistic
concurrency on versions), so several API workers are fine on PostgreSQL; SQLite has one
writer at a time for the whole file.

A ViewDatabase (the read models, and the tokens table) is one connection for one thread at a
time: a request borrows one from a small pool and gives it back when it is done. With a read
database (`LEDGER_READ_DATABASE_URL`, a standby) the pages, reports and metrics borrow from a
second pool on it (`read_views`), and read the aggregates from its log (`replayed`, with
`log_read` saying how far behind it is); sign-in, tokens and every command stay on the primary.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request

from ledger.domain.errors import LedgerError
from ledger.reports import log_fields

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ledger.application import SupportLedger
    from ledger.projections.db import ViewPool
    from ledger.settings import DatabaseSettings, Settings


@dataclass
class Services:
    """The process's settings, application and read-model connections."""

    settings: Settings
    ledger: SupportLedger
    views: ViewPool
    extras: dict[str, object] = field(default_factory=dict)  # for routers added later
    reads: ViewPool | None = None  # the read database's views, when one is set
    reader: SupportLedger | None = None  # the read database's log (replays), when one is set

    @property
    def replayed(self) -> SupportLedger:
        """The application whose log the reads of aggregates (`audit replay`, the look-aheads,
        a contract's and a ticket's pages and API reads) use: the standby's, else the
        primary's."""
        return self.reader or self.ledger

    def log_read(self) -> dict[str, Any]:
        """Where a read of the aggregates through `replayed` stands (`position_fields`: the
        log's head it reads, the primary's head, how far behind); ask before reading them."""
        return log_fields(self.ledger, self.replayed)

    @contextmanager
    def reading(self) -> Iterator[dict[str, Any]]:
        """A read of the aggregates through `replayed`: where it stands (`log_read`, taken
        first), and what it does not find on the standby said to be perhaps not there yet."""
        where = self.log_read()
        with self.not_yet_replayed(where):
            yield where

    @contextmanager
    def not_yet_replayed(self, where: dict[str, Any] | None = None) -> Iterator[None]:
        """A contract, ticket or other thing not found on the standby (`not_found`) is refused
        as before, its message saying how far behind the primary the standby is."""
        try:
            yield
        except LedgerError as exc:
            if self.reader is None or exc.kind != "not_found":
                raise
            behind = (where or self.log_read())["behind"]
            raise type(exc)(
                f"{exc.message} (read on the standby, {behind} event(s) behind the primary: "
                "it may not hold it yet)",
                **exc.details,
            ) from None

    @property
    def read_views(self) -> ViewPool:
        """The views the pages, reports and metrics read: the standby's, else the primary's."""
        return self.reads or self.views

    @property
    def read_database(self) -> DatabaseSettings | None:
        """The standby reads go to (`LEDGER_READ_DATABASE_URL`), or None."""
        return self.settings.read_database

    @property
    def read_from(self) -> str:
        """Where reports read: `replica` or `primary`."""
        return "primary" if self.reads is None else "replica"

    def close(self) -> None:
        """Close the read-model connections and the application's store connections."""
        try:
            self.views.close()
            if self.reads is not None:
                self.reads.close()
            if self.reader is not None:
                self.reader.close()
        finally:
            self.ledger.close()


def now() -> datetime:
    """The wall clock, read once per request and passed down."""
    return datetime.now(UTC)


async def get_services(request: Request) -> Services:
    """The services of the application serving this request."""
    services: Services = request.app.state.services
    return services


Svc = Annotated[Services, Depends(get_services)]
