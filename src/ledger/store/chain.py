"""The audit chain, linked in the transaction that records the events.

`audit_chain` holds one row per stored notification: its position, originator id and version,
topic, and the hash-chain link there in lowercase hex (the arithmetic is `ledger.hashchain`).
The recorders (`ledger.store.recorders`) insert the links of a save's events in the save's own
transaction, after the insert has taken the store's write lock (SQLite's one writer, the
table lock on PostgreSQL): the previous link is the chain's head as committed, and both
stores commit in the order of the notification ids, so the chain is always exactly as long
as the log. No event is ever recorded unchained, and no edit can slip in before it is linked.

A save finds the chain's head at the position of the log's previous event, or it is refused
with `ChainBehindError` and records nothing: the chain was cut (its table dropped, its newest
rows deleted) or the store's events pre-date in-transaction chaining. Linking those events is
an explicit act, `ledger audit chain` (`link_backlog`), never a side effect of a write: a
chain silently re-linked over the events as they stand would vouch for whatever was done to
them meanwhile (docs/decisions.md, "The chain is linked with the events").
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ledger.errors import ChainBehindError
from ledger.hashchain import GENESIS, Stored, links_of

if TYPE_CHECKING:
    from collections.abc import Sequence

CHAIN_TABLE = "audit_chain"
CHAIN_COLUMNS = "position, originator_id, originator_version, topic, link"
CHAIN_DDL = (
    "CREATE TABLE IF NOT EXISTS {table} ("
    "position BIGINT PRIMARY KEY, originator_id TEXT NOT NULL, "
    "originator_version BIGINT NOT NULL, topic TEXT NOT NULL, link TEXT NOT NULL)"
)
# The marker of a refusal raised in PostgreSQL's server (the recorder's link function), read
# back into ChainBehindError.
BEHIND_MARK = "ledger-chain-behind"
_BEHIND = re.compile(rf"{BEHIND_MARK} head=(\d+) previous=(\d+)")


# The ledger's events tables: SQLite's (every application shares it) and PostgreSQL's (the
# application's name, `ledger`, before `_events`).
LEDGER_EVENTS_TABLES = ("stored_events", "ledger_events")


def chain_table(events_table: str) -> str:
    """The chain of an events table: `audit_chain` for the ledger's; another application's
    events table in the same schema (a benchmark's baseline) gets a chain of its own."""
    return CHAIN_TABLE if events_table in LEDGER_EVENTS_TABLES else f"{events_table}_chain"


def chain_ddl(table: str = CHAIN_TABLE) -> str:
    """The chain table's idempotent DDL (portable: SQLite and PostgreSQL)."""
    return CHAIN_DDL.format(table=table)


def behind(head: int, previous: int) -> ChainBehindError:
    """The refusal of a save whose log goes on past the chain's head."""
    return ChainBehindError(
        f"the audit chain ends at position {head}, but the log's last event is at position "
        f"{previous}: the events after the chain's head are unchained (its table was dropped "
        "or its newest links deleted, or the events pre-date in-transaction chaining); nothing "
        "was recorded. Check the log with `ledger audit verify --anchors FILE` (or a digest "
        "kept outside), then link them with `ledger audit chain`",
        chain_head=head,
        log_head=previous,
    )


def behind_from(message: str) -> ChainBehindError | None:
    """The refusal named in a database error's message, if it is one."""
    found = _BEHIND.search(message)
    return None if found is None else behind(int(found[1]), int(found[2]))


def link_rows(
    head: tuple[int, str] | None,
    previous: int,
    ids: Sequence[int],
    stored_events: Sequence[Any],
) -> list[tuple[int, str, int, str, str]]:
    """The chain's rows for events just inserted at `ids`, after the chain's `head` (position
    and link; None when empty), where the log's event before them is at `previous` (0 when
    none): refused with ChainBehindError unless the head is that event."""
    head_position = 0 if head is None else int(head[0])
    if head_position != previous:
        raise behind(head_position, previous)
    start = GENESIS if head is None else bytes.fromhex(head[1])
    events: list[Stored] = [
        (position, e.originator_id, e.originator_version, e.topic, e.state)
        for position, e in zip(ids, stored_events, strict=True)
    ]
    return [
        (position, str(e.originator_id), e.originator_version, e.topic, link.hex())
        for position, e, link in zip(ids, stored_events, links_of(start, events), strict=True)
    ]


def backlog_rows(
    head: tuple[int, str] | None, events: Sequence[Stored]
) -> list[tuple[int, str, int, str, str]]:
    """The chain's rows for stored events after the chain's `head` (read from the log)."""
    start = GENESIS if head is None else bytes.fromhex(head[1])
    return [
        (int(e[0]), _id_text(e[1]), int(e[2]), str(e[3]), link.hex())
        for e, link in zip(events, links_of(start, events), strict=True)
    ]


def _id_text(value: Any) -> str:
    """An originator id as the chain keeps it (a UUID's canonical text)."""
    if isinstance(value, UUID):
        return str(value)
    try:
        return str(UUID(str(value)))
    except ValueError:
        return str(value)
