"""Application recorders that check, in the transaction of a save's events, what it decided on.

A use case that decides on an aggregate it does not write (the release catalog for
eligibility, a contract's calendar for a ticket's clock) passes the versions it read as
`expected_versions=[(id, version), ...]` to `save()`. The recorder checks them in the same
transaction as the insert, after the insert has taken the store's write lock, and fails the
transaction with IntegrityError when one moved on: the use case is then re-run on fresh reads,
exactly as for a write conflict. Decisions thus rest on what is current when they commit.

A use case that decides on every event of some kinds up to a position of the log (a calendar
change, on the tickets opened under the contract) passes `nothing_after=NothingAfter(position,
topics, concerns)`: the recorder fails the transaction the same way when an event of those
topics that concerns the use case (`concerns(stored_event)`; a ticket of that contract), of
an aggregate the save does not write, was recorded after the position. Both stores commit in
the order of the notification ids (one writer on SQLite, the table lock on PostgreSQL), so
what the use case read up to the position and what the check finds after it leave no gap.

Every save's events are also linked into the audit chain in the same transaction, after the
checks (`ledger.store.chain`): the chain's head is read under the same write lock, so the
chain is always exactly as long as the log, and a save whose log goes on past the chain's
head is refused (`ChainBehindError`).

Reading many aggregates at once (`select_many`, the scheduler's read-ahead): the events of
many originators, each after a version of its own, in one query per 500 of them, where the
library's `select_events` takes a query for each.

Everything else is the library's: its inserts, its transactions, its pools.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, PersistenceError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.sql import SQL, Identifier

from ledger.store.chain import (
    BEHIND_MARK,
    CHAIN_COLUMNS,
    backlog_rows,
    behind,
    behind_from,
    chain_ddl,
    chain_table,
    link_rows,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from eventsourcing.sqlite import SQLiteCursor


@dataclass(frozen=True)
class NothingAfter:
    """A save's condition: no event of these topics that `concerns` the use case recorded
    after this position of the log (events of the aggregates the save writes aside)."""

    position: int
    topics: tuple[str, ...]
    concerns: Callable[[StoredEvent], bool] = field(default=lambda _: True)

    def refusal(self, rows: Iterable[tuple[Any, ...]], own: set[Any]) -> str | None:
        """Why the save is refused: the first of `rows` (notification id, originator id,
        version, topic, state; after the position, of the topics) that concerns it and is not
        the save's own; None when there is none."""
        for position, originator_id, version, topic, state in rows:
            if originator_id in own:
                continue
            aggregate_id = originator_id if isinstance(originator_id, UUID) else UUID(originator_id)
            if self.concerns(StoredEvent(aggregate_id, version, topic, bytes(state))):
                return (
                    f"{topic} of {aggregate_id} was recorded at position {position}, "
                    f"after position {self.position}"
                )
        return None


# Originators asked about in one query by `select_many` (SQLite binds two values each).
MANY_CHUNK = 500


def select_many(
    recorder: Any, after: Mapping[UUID, int], *, newest: bool = False
) -> list[StoredEvent]:
    """The stored events of many originators, each after its version in `after` (0: all of
    them), by originator then version; with `newest`, only the newest of each originator
    (the snapshots' read). One query per MANY_CHUNK originators, on any of the library's SQL
    aggregate recorders (events or snapshots: the same table), where its `select_events`
    takes a query for each."""
    wanted = list(after.items())
    found: list[StoredEvent] = []
    for first in range(0, len(wanted), MANY_CHUNK):
        chunk = wanted[first : first + MANY_CHUNK]
        if hasattr(recorder.datastore, "schema"):
            found.extend(_select_many_postgres(recorder, chunk, newest=newest))
        else:
            found.extend(_select_many_sqlite(recorder, chunk, newest=newest))
    return found


def _select_many_postgres(
    recorder: Any, chunk: Sequence[tuple[UUID, int]], *, newest: bool
) -> list[StoredEvent]:
    names = {
        "schema": Identifier(recorder.datastore.schema),
        "table": Identifier(recorder.events_table_name),
        "kind": Identifier(recorder.datastore.originator_id_type),
    }
    if newest:  # the primary key's index, backwards, once per originator
        statement = SQL(
            "SELECT e.originator_id, e.originator_version, e.topic, e.state "
            "FROM unnest(%s::{kind}[]) AS w(id) CROSS JOIN LATERAL ("
            "SELECT originator_id, originator_version, topic, state FROM {schema}.{table} "
            "WHERE originator_id = w.id ORDER BY originator_version DESC LIMIT 1) AS e"
        ).format(**names)
        params: list[Any] = [[i for i, _ in chunk]]
    else:
        statement = SQL(
            "SELECT e.originator_id, e.originator_version, e.topic, e.state "
            "FROM unnest(%s::{kind}[], %s::bigint[]) AS w(id, after) "
            "JOIN {schema}.{table} AS e "
            "ON e.originator_id = w.id AND e.originator_version > w.after "
            "ORDER BY e.originator_id, e.originator_version"
        ).format(**names)
        params = [[i for i, _ in chunk], [v for _, v in chunk]]
    with recorder.datastore.get_connection() as conn, conn.cursor() as curs:
        curs.execute(statement, params, prepare=True)
        return [
            StoredEvent(
                originator_id=row["originator_id"],
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=bytes(row["state"]),
            )
            for row in curs.fetchall()
        ]


def _select_many_sqlite(
    recorder: Any, chunk: Sequence[tuple[UUID, int]], *, newest: bool
) -> list[StoredEvent]:
    table = recorder.events_table_name
    values = ", ".join(["(?, ?)"] * len(chunk))
    condition = (
        f"e.originator_version = (SELECT MAX(originator_version) FROM {table} "
        "WHERE originator_id = w.id)"
        if newest
        else "e.originator_version > w.after"
    )
    statement = (
        f"WITH w(id, after) AS (VALUES {values}) "
        "SELECT e.originator_id, e.originator_version, e.topic, e.state "
        f"FROM w JOIN {table} AS e ON e.originator_id = w.id AND {condition} "
        "ORDER BY e.originator_id, e.originator_version"
    )
    params = [value for i, v in chunk for value in (i.hex, v)]
    with recorder.datastore.transaction(commit=False) as c:
        c.execute(statement, params)
        return [
            StoredEvent(
                originator_id=recorder.convert_originator_id(row["originator_id"]),
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=row["state"],
            )
            for row in c.fetchall()
        ]


def _expected(kwargs: dict[str, Any]) -> list[tuple[UUID, int]]:
    return list(kwargs.get("expected_versions") or ())


def _nothing_after(kwargs: dict[str, Any]) -> NothingAfter | None:
    condition = kwargs.get("nothing_after")
    return condition if condition is not None and condition.topics else None


class SQLiteLedgerRecorder(SQLiteApplicationRecorder):
    """SQLite application recorder that verifies expected read versions at commit."""

    def __init__(self, datastore: Any, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name)
        self.chain_table = chain_table(events_table_name)
        self.expect_statement = (
            f"SELECT MAX(originator_version) FROM {self.events_table_name} WHERE originator_id = ?"
        )
        self.after_statement = (
            f"SELECT rowid, originator_id, originator_version, topic, state "
            f"FROM {self.events_table_name} WHERE rowid > ? AND topic IN ({{topics}})"
        )
        # The log's event before the save's first, and the chain's head (position, link).
        self.chain_head_statement = (
            f"SELECT (SELECT MAX(rowid) FROM {self.events_table_name} WHERE rowid < ?), "
            f"(SELECT position FROM {self.chain_table} ORDER BY position DESC LIMIT 1), "
            f"(SELECT link FROM {self.chain_table} ORDER BY position DESC LIMIT 1)"
        )
        self.chain_insert_statement = (
            f"INSERT INTO {self.chain_table} ({CHAIN_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
        )

    def construct_create_table_statements(self) -> list[str]:
        """The library's table, and the audit chain's."""
        return [
            *super().construct_create_table_statements(),
            chain_ddl(chain_table(self.events_table_name)),
        ]

    def select_events_of(self, after: Mapping[UUID, int]) -> list[StoredEvent]:
        """The events of many aggregates, each after its version in `after` (`select_many`)."""
        return select_many(self, after)

    def link_backlog(self, batch_size: int = 5000) -> int:
        """Link the events after the chain's head, as they stand, in one transaction that holds
        the write lock from its start (`ledger audit chain`); how many were linked."""
        events = self.events_table_name
        linked = 0
        with self.datastore.transaction(commit=True) as c:
            c.execute(chain_ddl(self.chain_table))
            c.execute(f"DELETE FROM {self.chain_table} WHERE position < 0")  # the write lock, now
            while True:
                c.execute(
                    f"SELECT position, link FROM {self.chain_table} ORDER BY position DESC LIMIT 1"
                )
                found = c.fetchone()
                head = None if found is None else (int(found[0]), str(found[1]))
                c.execute(
                    f"SELECT rowid, originator_id, originator_version, topic, state FROM {events} "
                    "WHERE rowid > ? ORDER BY rowid LIMIT ?",
                    (0 if head is None else head[0], batch_size),
                )
                batch = [tuple(row) for row in c.fetchall()]
                if not batch:
                    return linked
                c.executemany(self.chain_insert_statement, backlog_rows(head, batch))
                linked += len(batch)

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The library's insert, then the save's checks, in its transaction."""
        ids = super()._insert_events(c, stored_events, **kwargs)
        for aggregate_id, version in _expected(kwargs):
            c.execute(self.expect_statement, (aggregate_id.hex,))
            current = c.fetchone()[0] or 0
            if current != version:
                msg = f"aggregate {aggregate_id} moved from version {version} to {current}"
                raise IntegrityError(msg)
        condition = _nothing_after(kwargs)
        if condition is not None:
            marks = ", ".join("?" * len(condition.topics))
            c.execute(
                self.after_statement.format(topics=marks), (condition.position, *condition.topics)
            )
            own = {getattr(e.originator_id, "hex", e.originator_id) for e in stored_events}
            refusal = condition.refusal(c.fetchall(), own)
            if refusal is not None:
                raise IntegrityError(refusal)
        if ids:
            self._link(c, ids, stored_events)
        return ids

    def _link(
        self, c: SQLiteCursor, ids: Sequence[int], stored_events: Sequence[StoredEvent]
    ) -> None:
        """The links of the events just inserted at `ids`, after the chain's head (refused
        when the chain's table was dropped while this process runs: nothing is linked then)."""
        try:
            c.execute(self.chain_head_statement, (ids[0],))
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise
            c.execute(f"SELECT MAX(rowid) FROM {self.events_table_name} WHERE rowid < ?", ids[:1])
            raise behind(0, int(c.fetchone()[0] or 0)) from None
        previous, position, link = c.fetchone()
        head = None if position is None else (int(position), str(link))
        c.executemany(
            self.chain_insert_statement, link_rows(head, int(previous or 0), ids, stored_events)
        )


class PostgresLedgerRecorder(PostgresApplicationRecorder):
    """PostgreSQL application recorder that verifies expected read versions at commit.

    The checks are queries pipelined after the library's insert (which holds the table lock),
    so they cost no extra round trip. A refusal is raised by a function in the server, so that
    the transaction is rolled back: the library commits it whatever Python raises while
    inserting (it re-raises after the commit). The function is only called to refuse.
    """

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.chain_table = chain_table(events_table_name)
        schema = Identifier(self.datastore.schema)
        table = Identifier(events_table_name)
        refuse = Identifier(f"{events_table_name}_refuse")
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {schema}.{function}(message text) RETURNS void "
                "LANGUAGE plpgsql AS $BODY$ BEGIN "
                "RAISE EXCEPTION '%', message USING ERRCODE = 'unique_violation'; "
                "END $BODY$"
            ).format(schema=schema, function=refuse)
        )
        self.expect_statement = SQL(
            "SELECT CASE WHEN COALESCE(max(originator_version), 0) <> %(expected)s "
            "THEN {schema}.{function}(format('aggregate %%s moved on from version %%s', "
            "%(aggregate)s, %(expected)s)) END "
            "FROM {schema}.{table} WHERE originator_id = %(aggregate)s"
        ).format(schema=schema, function=refuse, table=table)
        self.refuse_statement = SQL("SELECT {schema}.{function}(%s)").format(
            schema=schema, function=refuse
        )
        # The events after a position a save requires nothing of are fetched: whether one
        # concerns the save is decided in Python (see NothingAfter).
        self.after_statement = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {schema}.{table} WHERE notification_id > %(after)s "
            "AND topic = ANY(%(topics)s::text[]) ORDER BY notification_id"
        ).format(schema=schema, table=table)
        chain = Identifier(self.chain_table)
        self.sql_create_statements.append(
            SQL(chain_ddl("{schema}.{chain}")).format(schema=schema, chain=chain)
        )
        # A save's links are computed in the server, by a function called right after the
        # insert (pipelined: no round trip while the table lock is held), from the chain's
        # head, refusing (as `refuse` does) when the log goes on past it. The encoding is
        # ledger.hashchain's: int8send and int4send are big-endian, uuid_send the UUID's 16
        # bytes in network order (tests/stores/test_audit_chain.py checks the links).
        link_function = Identifier(f"{self.chain_table}_link")
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {schema}.{function}(first_id bigint, last_id bigint) "
                "RETURNS void LANGUAGE plpgsql AS $BODY$ "
                "DECLARE head_position bigint; head_link bytea; previous bigint; r record; "
                "link bytea; name bytea; "
                "BEGIN "
                "SELECT c.position, decode(c.link, 'hex') INTO head_position, head_link "
                "FROM {schema}.{chain} c ORDER BY c.position DESC LIMIT 1; "
                "SELECT max(e.notification_id) INTO previous FROM {schema}.{table} e "
                "WHERE e.notification_id < first_id; "
                "IF COALESCE(head_position, 0) <> COALESCE(previous, 0) THEN "
                "RAISE EXCEPTION '%', format('" + BEHIND_MARK + " head=%s previous=%s', "
                "COALESCE(head_position, 0), COALESCE(previous, 0)) "
                "USING ERRCODE = 'unique_violation'; "
                "END IF; "
                "link := COALESCE(head_link, decode(repeat('00', 32), 'hex')); "
                "FOR r IN SELECT e.notification_id, e.originator_id, e.originator_version, "
                "e.topic, e.state FROM {schema}.{table} e "
                "WHERE e.notification_id BETWEEN first_id AND last_id "
                "ORDER BY e.notification_id LOOP "
                "name := convert_to(r.topic, 'UTF8'); "
                "link := sha256(link || int8send(r.notification_id) "
                "|| int8send(r.originator_version) || int4send(16) "
                "|| int4send(octet_length(name)) || int4send(octet_length(r.state)) "
                "|| uuid_send(r.originator_id) || name || r.state); "
                "INSERT INTO {schema}.{chain} (" + CHAIN_COLUMNS + ") VALUES (r.notification_id, "
                "r.originator_id::text, r.originator_version, r.topic, encode(link, 'hex')); "
                "END LOOP; "
                "END $BODY$"
            ).format(schema=schema, function=link_function, chain=chain, table=table)
        )
        self.link_statement = SQL("SELECT {schema}.{function}(%s, %s)").format(
            schema=schema, function=link_function
        )
        self.chain_last_statement = SQL(
            "SELECT position, link FROM {schema}.{chain} ORDER BY position DESC LIMIT 1"
        ).format(schema=schema, chain=chain)
        self.backlog_statement = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {schema}.{table} WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
        ).format(schema=schema, table=table)
        self.chain_insert_statement = SQL(
            "INSERT INTO {schema}.{chain} (" + CHAIN_COLUMNS + ") "
            "SELECT * FROM unnest(%s::bigint[], %s::text[], %s::bigint[], %s::text[], %s::text[])"
        ).format(schema=schema, chain=chain)

    def select_events_of(self, after: Mapping[UUID, int]) -> list[StoredEvent]:
        """The events of many aggregates, each after its version in `after` (`select_many`)."""
        return select_many(self, after)

    def link_backlog(self, batch_size: int = 5000) -> int:
        """Link the events after the chain's head, as they stand, in one transaction under the
        table lock saves take (`ledger audit chain`); how many were linked."""
        linked = 0
        with self.datastore.transaction(commit=True) as curs:
            for statement in self.lock_table_statements:
                curs.execute(statement)
            while True:
                curs.execute(self.chain_last_statement)
                found = curs.fetchone()
                head = None if found is None else (int(found["position"]), str(found["link"]))
                curs.execute(self.backlog_statement, (0 if head is None else head[0], batch_size))
                batch = [tuple(row.values()) for row in curs.fetchall()]
                if not batch:
                    return linked
                rows = backlog_rows(head, batch)
                curs.execute(
                    self.chain_insert_statement, [list(c) for c in zip(*rows, strict=True)]
                )
                linked += len(batch)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The library's insert; a save refused because the chain is behind the log raises
        ChainBehindError."""
        try:
            ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
        except PersistenceError as exc:
            refusal = behind_from(str(exc))
            if refusal is None and f'{self.chain_table}" does not exist' in str(exc):
                # The chain's table dropped while this process runs: nothing was recorded
                # (the transaction failed), and nothing can be linked.
                refusal = behind(0, int(self.max_notification_id() or 0))
            if refusal is not None:
                raise refusal from exc
            raise
        return ids

    def _fetch_ids_after_insert_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The library's ids of the inserted events, then their links in the chain, in the
        same transaction (under the table lock the insert took)."""
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        if ids:
            self._link(curs, ids, stored_events)
        return ids

    def _link(self, curs: Any, ids: Sequence[int], _stored: Sequence[StoredEvent]) -> None:
        """The links of the events just inserted at `ids`, after the chain's head: computed
        in the server, pipelined with the commit (a refusal fails the transaction there)."""
        chain = curs.connection.cursor()  # its own: the library reads `curs` no more
        chain.execute(self.link_statement, (ids[0], ids[-1]), prepare=True)

    def _insert_stored_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        """The library's insert, then the save's checks, in its transaction."""
        super()._insert_stored_events(curs, stored_events, **kwargs)
        expected = _expected(kwargs)
        condition = _nothing_after(kwargs)
        if not expected and condition is None:
            return
        # The checks go on a cursor of their own: the library fetches the inserted events'
        # notification ids from `curs` afterwards.
        check = curs.connection.cursor()
        for aggregate_id, version in expected:
            check.execute(
                self.expect_statement,
                {"aggregate": aggregate_id, "expected": version},
                prepare=True,
            )
        if condition is not None:
            after = curs.connection.cursor()  # its own: its rows are read here
            after.execute(
                self.after_statement,
                {"after": condition.position, "topics": list(condition.topics)},
            )
            rows = [tuple(row.values()) for row in after.fetchall()]  # the library's dict rows
            refusal = condition.refusal(rows, {e.originator_id for e in stored_events})
            if refusal is not None:
                after.execute(self.refuse_statement, (refusal,))
