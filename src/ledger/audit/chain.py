"""The tamper-evident hash chain over the notification log, its digest, and its verification.

The chain links every stored notification, in log order, to the one stored before it (the
arithmetic and the encoding are in `ledger.hashchain`). Ids on PostgreSQL may have gaps:
rolled-back transactions consume sequence values, so the chain links consecutive *stored*
notifications and keeps each link's position.

`audit_chain` keeps one row per notification: its position, originator id and version, topic
and the link in lowercase hex. The chain's head (position and link) is its digest: kept outside
the database, it lets verification notice a chain table rewritten to match a changed log.

Verification recomputes the links from the stored events table itself (the library's own
columns, nothing decoded) and walks the log and the chain side by side in position order, in
windows of positions. It names the first problem, in position order:
- `missing`: a position the chain has is no longer in the log;
- `inserted`: a position in the log below the chain's head that the chain never linked;
- at a position both have whose recomputed link differs from the chained one (everything
  before it being equal), the stored event is compared with what the chain recorded there:
  - same originator and version: its topic or bytes changed. `reordered` if putting the topic
    and bytes of a later stored event in their place gives the chained link (the contents of
    two events were swapped, or moved), else `altered`;
  - another originator or version: `reordered` if the chain recorded this event at another
    position (events swapped or moved); `inserted` if the event the chain recorded here is
    still in the log (an event was put in and the later ones renumbered); else `altered`
    (the event replaced, or its originator or version changed);
- `digest_mismatch`: the recomputed link at the digest's position differs from the digest,
  or neither log nor chain has that position any more. A chain table rewritten to match a
  changed log passes every other check; against a digest kept outside the database it fails
  here;
- `digest_beyond_head`: the digest names a position past the end of the log;
- `chain_truncated`: the log up to the digest's position matches it, but the chain ends before
  that position (its newest links were removed, or a rebuild has not caught up);
- `unchained`: an event of the log the chain has no link for. The recorders link every event
  in the transaction that records it (`ledger.store.chain`), so the chain is exactly as long
  as the log: an event after the chain's head (the chain table dropped or cut, or events that
  pre-date in-transaction chaining and were never linked with `ledger audit chain`), or one
  below it whose link was deleted (the next link still follows from it), fails verification.

Verification also compares every stored snapshot with the fold of its events
(`ledger.audit.snapshots`): each that differs is a `snapshot_mismatch`, with or without a
digest. `problem` is the chain's first problem, else the first snapshot mismatch.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ledger.audit.snapshots import SNAPSHOT_MISMATCH, SnapshotCheck, verify_snapshots
from ledger.domain.errors import InvalidInputError
from ledger.hashchain import GENESIS, Stored, link_of, links_of
from ledger.projections.audit_chain import HashChainProjection
from ledger.projections.db import ViewDatabase
from ledger.store.chain import behind

__all__ = [  # HashChainProjection: read from here by the tests and the benchmark
    "Digest",
    "HashChainProjection",
    "Problem",
    "Verification",
    "catch_up_chain",
    "chain_behind",
    "chain_head",
    "digest",
    "digest_at",
    "id_text",
    "parse_digest",
    "verify_chain",
]

if TYPE_CHECKING:
    from ledger.application import SupportLedger
    from ledger.errors import ChainBehindError
    from ledger.settings import DatabaseSettings

HASH_HEX_LENGTH = 64
HEX_DIGITS = frozenset("0123456789abcdef")

# Kinds of problem, as reported.
ALTERED = "altered"
MISSING = "missing"
INSERTED = "inserted"
REORDERED = "reordered"
DIGEST_MISMATCH = "digest_mismatch"
DIGEST_BEYOND_HEAD = "digest_beyond_head"
CHAIN_TRUNCATED = "chain_truncated"
UNCHAINED = "unchained"
KINDS = (
    ALTERED,
    MISSING,
    INSERTED,
    REORDERED,
    DIGEST_MISMATCH,
    DIGEST_BEYOND_HEAD,
    CHAIN_TRUNCATED,
    UNCHAINED,
    SNAPSHOT_MISMATCH,
)

VERIFY_BATCH = 20_000


# -- ids -------------------------------------------------------------------------------------------


def id_text(value: Any) -> str:
    """An originator id as text, in the UUID's canonical form where it is one."""
    if isinstance(value, UUID):
        return str(value)
    try:
        return str(UUID(str(value)))
    except ValueError:
        return str(value)


# -- digests ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Digest:
    """The chain's head: a position and the link there (64 lowercase hex digits)."""

    position: int
    hash: str

    def __str__(self) -> str:
        return f"{self.position}:{self.hash}"


def parse_digest(text: str) -> Digest:
    """A digest from its text `POSITION:HASH`, as `ledger audit digest` prints it."""
    parts = text.strip().split(":")
    if len(parts) != 2:
        raise InvalidInputError(
            f"digest {text!r}: expected POSITION:HASH, as `ledger audit digest` prints it "
            "(e.g. 1200:3f5a...)",
            field="digest",
        )
    position, value = parts[0].strip(), parts[1].strip().lower()
    if not position.isascii() or not position.isdigit():
        raise InvalidInputError(
            f"digest {text!r}: the position {position!r} is not a whole number >= 0",
            field="digest",
        )
    if len(value) != HASH_HEX_LENGTH:
        raise InvalidInputError(
            f"digest {text!r}: the hash must be {HASH_HEX_LENGTH} hexadecimal digits (a "
            f"SHA-256), got {len(value)} characters",
            field="digest",
        )
    if not set(value) <= HEX_DIGITS:
        raise InvalidInputError(
            f"digest {text!r}: the hash must be {HASH_HEX_LENGTH} hexadecimal digits (0-9, a-f), "
            "but has other characters",
            field="digest",
        )
    return Digest(int(position), value)


def chain_head(db: ViewDatabase, *, prefix: str = "") -> Digest:
    """The chain's stored head; position 0 and the genesis link while it is empty."""
    chain = HashChainProjection(db, prefix=prefix)
    chain.create()
    rows = db.read(f"SELECT position, link FROM {chain.chain} ORDER BY position DESC LIMIT 1")
    return Digest(int(rows[0][0]), rows[0][1]) if rows else Digest(0, GENESIS.hex())


def digest_at(db: ViewDatabase, position: int) -> Digest:
    """The chain's link at the last event at or before `position` (the digest of the log as it
    stood there; `audit verify --digest` checks it)."""
    chain = HashChainProjection(db)
    chain.create()
    rows = db.read(
        f"SELECT position, link FROM {chain.chain} WHERE position <= ? "
        "ORDER BY position DESC LIMIT 1",
        (position,),
    )
    return Digest(int(rows[0][0]), rows[0][1]) if rows else Digest(0, GENESIS.hex())


def digest(source: DatabaseSettings | ViewDatabase) -> Digest:
    """The chain's head as it stands (every recorded event is linked as it is recorded)."""
    if isinstance(source, ViewDatabase):
        return chain_head(source)
    db = ViewDatabase(source)
    try:
        return chain_head(db)
    finally:
        db.close()


def catch_up_chain(app: SupportLedger, *, batch_size: int = 5000) -> int:
    """Link the events after the chain's head as they stand (`ledger audit chain`: events that
    pre-date in-transaction chaining, or after a chain cut short); how many were linked.

    Never done by itself: the events are linked as they are recorded, and re-linking a log
    nobody checked would vouch for whatever was done to it (verify it against the anchors
    kept outside first)."""
    link = getattr(app.recorder, "link_backlog", None)
    return 0 if link is None else int(link(batch_size))


def chain_behind(app: SupportLedger, db: ViewDatabase) -> ChainBehindError | None:
    """The refusal to vouch for the chain's head while the log goes on past it (None when
    the chain reaches the log's last event)."""
    head, log_head = heads(app, db)
    if head.position == log_head:
        return None
    return behind(head.position, log_head)


def heads(app: SupportLedger, db: ViewDatabase, *, prefix: str = "") -> tuple[Digest, int]:
    """The chain's head and the log's last position, read in one statement (one snapshot:
    a save links its events in its own transaction, so the two are equal unless the chain
    or the log was cut)."""
    chain = HashChainProjection(db, prefix=prefix)
    chain.create()
    events = app.recorder.events_table_name  # type: ignore[attr-defined]
    if db.backend == "postgresql":
        events, ident = f'"{events}"', "notification_id"
    else:
        ident = "rowid"
    sql = (
        f"SELECT (SELECT MAX({ident}) FROM {events}), "
        f"(SELECT position FROM {chain.chain} ORDER BY position DESC LIMIT 1), "
        f"(SELECT link FROM {chain.chain} ORDER BY position DESC LIMIT 1)"
    )
    try:
        rows = db.read(sql)
    except Exception:  # noqa: BLE001 - any other error recurs below and propagates
        # The chain's table was dropped since this connection created it: create it again
        # (empty: verification then names every event unchained) and read once more.
        db.forget_created()
        chain.create()
        rows = db.read(sql)
    log_head, position, link = rows[0]
    head = Digest(0, GENESIS.hex()) if position is None else Digest(int(position), str(link))
    return head, int(log_head or 0)


# -- verification --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """The first thing verification found wrong, with what is known of the event."""

    kind: str
    position: int
    originator_id: str | None
    originator_version: int | None
    topic: str | None
    message: str
    other_position: int | None = None  # reordered: where the event or its contents stand


@dataclass(frozen=True)
class Verification:
    """What verification found: the first problem (None when the log checks out), how many
    chained events it recomputed and found equal, the chain's head, the log's head, how many
    events were recorded after the chain's head, the digest checked against, and how many
    stored snapshots were compared with their events, with each that differs."""

    problem: Problem | None
    checked: int
    head: Digest
    log_head: int
    unchained: int
    digest: Digest | None
    snapshots_checked: int = 0
    snapshot_problems: tuple[Problem, ...] = ()
    anchors_checked: int = 0
    anchor_problem: Problem | None = None

    @property
    def ok(self) -> bool:
        """Whether no problem was found."""
        return self.problem is None and not self.snapshot_problems and self.anchor_problem is None

    def as_dict(self) -> dict[str, Any]:
        """The result as plain JSON data."""
        return {
            "ok": self.ok,
            "problem": None if self.problem is None else asdict(self.problem),
            "checked": self.checked,
            "head": {"position": self.head.position, "hash": self.head.hash},
            "log_head": self.log_head,
            "unchained": self.unchained,
            "digest": None if self.digest is None else str(self.digest),
            "snapshots_checked": self.snapshots_checked,
            "snapshot_problems": [asdict(p) for p in self.snapshot_problems],
            "anchors_checked": self.anchors_checked,
            "anchor_problem": None if self.anchor_problem is None else asdict(self.anchor_problem),
        }


def verify_chain(
    app: SupportLedger,
    db: ViewDatabase,
    *,
    digest: Digest | None = None,
    batch_size: int = VERIFY_BATCH,
    prefix: str = "",
    snapshots: bool = True,
) -> Verification:
    """Recompute the chain from the stored events and compare it with `audit_chain` (and the
    external digest, if given), and every stored snapshot with its events (unless
    `snapshots` is false); the result names the first problem found and every snapshot that
    differs."""
    chained = _Walk(app, db, digest, batch_size, prefix).run()
    if not snapshots:
        return chained
    return with_snapshots(chained, verify_snapshots(app))


def with_snapshots(chained: Verification, check: SnapshotCheck) -> Verification:
    """The chain's verification with the snapshots' check added."""
    problems = tuple(
        Problem(SNAPSHOT_MISMATCH, 0, m.originator_id, m.originator_version, m.topic, m.message)
        for m in check.mismatches
    )
    first = chained.problem or (problems[0] if problems else None)
    return replace(
        chained, problem=first, snapshots_checked=check.checked, snapshot_problems=problems
    )


def _describe(originator_id: object, version: object, topic: object) -> str:
    return f"aggregate {originator_id} version {version} ({topic})"


def _select(db: ViewDatabase, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Rows of a query with `%s` / `?` placeholders as the backend wants them (PostgreSQL in
    binary: bytes, UUIDs and integers arrive without parsing text)."""
    with db.transaction() as tx:
        if db.backend == "postgresql":
            tx.cursor.execute(sql, params, binary=True)
        else:
            tx.cursor.execute(sql, params)
        rows: list[tuple[Any, ...]] = tx.cursor.fetchall()
        return rows


class _Walk:
    """One verification: the log and the chain side by side, batch by batch."""

    def __init__(
        self,
        app: SupportLedger,
        db: ViewDatabase,
        digest: Digest | None,
        batch_size: int,
        prefix: str,
    ) -> None:
        self.app = app
        self.db = db
        self.digest = digest
        self.batch_size = batch_size
        chain = HashChainProjection(db, prefix=prefix).chain
        events = app.recorder.events_table_name  # type: ignore[attr-defined]
        # Reads go by windows of positions, not by LIMIT: with stale statistics PostgreSQL
        # may plan "the rest of the log, sorted" for a LIMIT query, but never for a window.
        if db.backend == "postgresql":
            events, ident, mark = f'"{events}"', "notification_id", "%s"
        else:
            ident, mark = "rowid", "?"
        self.log_sql = (
            f"SELECT {ident}, originator_id, originator_version, topic, state FROM {events} "
            f"WHERE {ident} > {mark} AND {ident} <= {mark} ORDER BY {ident}"
        )
        self.following_sql = (
            f"SELECT {ident}, originator_id, originator_version, topic, state FROM {events} "
            f"WHERE {ident} > {mark} ORDER BY {ident} LIMIT 1"
        )
        self.chain_sql = (
            f"SELECT position, link FROM {chain} WHERE position > {mark} AND position <= {mark} "
            "ORDER BY position"
        )
        self.next_sql = (
            f"SELECT (SELECT MIN({ident}) FROM {events} WHERE {ident} > {mark}), "
            f"(SELECT MIN(position) FROM {chain} WHERE position > {mark})"
        )
        self.chain = chain
        # Both heads in one snapshot: a save links its events in its own transaction.
        self.head, self.log_head = heads(app, db, prefix=prefix)
        self.checked = 0
        self.unchained = 0
        self.first_unchained: Stored | None = None
        self.digest_done = digest is None

    def result(self, problem: Problem | None) -> Verification:
        return Verification(
            problem, self.checked, self.head, self.log_head, self.unchained, self.digest
        )

    def run(self) -> Verification:
        if self.digest is not None and self.digest.position == 0:
            self.digest_done = True
            if self.digest.hash != GENESIS.hex():
                return self.result(self._digest_mismatch(0, None))
        return self.result(self._walk())

    # -- reading -------------------------------------------------------------------------------

    def _events(self, after: int, upto: int) -> list[Stored]:
        """The stored events in positions (after, upto], up to the log's head."""
        upto = min(upto, self.log_head)
        return [] if upto <= after else _select(self.db, self.log_sql, (after, upto))

    def _links(self, after: int, upto: int) -> list[tuple[int, str]]:
        """The chain's (position, link) rows in positions (after, upto], up to its head."""
        upto = min(upto, self.head.position)
        return [] if upto <= after else _select(self.db, self.chain_sql, (after, upto))

    def _next(self, after: int) -> int | None:
        """The first position after `after` that the log or the chain has (past a long gap)."""
        found = [p for p in _select(self.db, self.next_sql, (after, after))[0] if p is not None]
        return min(found) if found else None

    def _walk(self) -> Problem | None:
        previous = GENESIS
        position = 0
        end = max(self.log_head, self.head.position)
        while position < end:
            if not self.digest_done and self.digest and self.digest.position <= position:
                return self._digest_not_found()
            upto = min(position + self.batch_size, end)
            batch = self._events(position, upto)
            rows = self._links(position, upto)
            if batch:
                links = links_of(previous, batch)
                if not self._batch_matches(batch, links, rows, upto):
                    problem = self._first_problem(batch, links, rows, previous)
                    if problem is not None:
                        return problem
                previous = links[-1]
            elif rows:
                return self._missing(int(rows[0][0]))
            else:  # an empty window: skip the gap
                following = self._next(upto)
                upto = end if following is None else max(upto, min(following - 1, end))
            position = upto
        if not self.digest_done:
            return self._digest_not_found()
        if self.first_unchained is not None:
            return self._unchained(self.first_unchained)
        return None

    def _digest_not_found(self) -> Problem:
        assert self.digest is not None  # noqa: S101 - only called with a digest
        if self.digest.position <= self.log_head:
            return self._digest_absent()
        return Problem(
            DIGEST_BEYOND_HEAD,
            self.digest.position,
            None,
            None,
            None,
            f"position {self.digest.position}: the digest names this position, but the log "
            f"ends at position {self.log_head}: events at the end of the log were deleted "
            "(or the digest belongs to another ledger)",
        )

    # -- the fast path: a whole batch equal to the chain -----------------------------------------

    def _batch_matches(
        self, batch: list[Stored], links: list[bytes], rows: list[Any], upto: int
    ) -> bool:
        """Whether every event of the window is chained as recomputed (and no digest is due)."""
        positions = [event[0] for event in batch]
        chained = bisect_right(positions, self.head.position)
        if positions[:chained] != [row[0] for row in rows]:
            return False
        if b"".join(links[:chained]).hex() != "".join([row[1] for row in rows]):
            return False
        if not self.digest_done and self.digest is not None and self.digest.position <= upto:
            return False  # let the careful path check the digest
        self.checked += chained
        self.unchained += len(batch) - chained
        if chained < len(batch) and self.first_unchained is None:
            self.first_unchained = batch[chained]
        return True

    # -- the careful path: the first problem, named ----------------------------------------------

    def _first_problem(
        self, batch: list[Stored], links: list[bytes], rows: list[Any], previous: bytes
    ) -> Problem | None:
        head = self.head.position
        index = 0
        for event, link in zip(batch, links, strict=True):
            position = event[0]
            if index < len(rows) and rows[index][0] < position:
                return self._missing(int(rows[index][0]))
            if position <= head:
                if index < len(rows) and rows[index][0] == position:
                    if link.hex() != rows[index][1]:
                        return self._mismatch(event, previous, rows[index][1])
                    index += 1
                    self.checked += 1
                else:
                    return self._not_linked(event, link)
            else:
                self.unchained += 1
                if self.first_unchained is None:
                    self.first_unchained = event
            if not self.digest_done and self.digest is not None:
                if position == self.digest.position:
                    self.digest_done = True
                    if link.hex() != self.digest.hash:
                        return self._digest_mismatch(position, event)
                    if position > head:
                        return self._truncated(event)
                elif position > self.digest.position:
                    return self._digest_absent()
            previous = link
        if index < len(rows):
            return self._missing(int(rows[index][0]))
        return None

    def _chained(self, position: int) -> tuple[str, int, str] | None:
        rows = self.db.read(
            f"SELECT originator_id, originator_version, topic FROM {self.chain} WHERE position = ?",
            (position,),
        )
        return (rows[0][0], int(rows[0][1]), rows[0][2]) if rows else None

    def _missing(self, position: int) -> Problem:
        oid, version, topic = self._chained(position) or (None, None, None)
        return Problem(
            MISSING,
            position,
            oid,
            version,
            topic,
            f"position {position}: {_describe(oid, version, topic)} was chained here but is no "
            "longer in the log: the event was deleted (or moved to another position)",
        )

    def _inserted(self, event: Stored) -> Problem:
        position, oid, version, topic = event[0], id_text(event[1]), event[2], event[3]
        return Problem(
            INSERTED,
            position,
            oid,
            version,
            topic,
            f"position {position}: {_describe(oid, version, topic)} is in the log, but the "
            f"chain, which reaches position {self.head.position}, never linked it: the event "
            "was inserted after it was chained",
        )

    def _not_linked(self, event: Stored, link: bytes) -> Problem:
        """An event below the chain's head that the chain has no link for: `unchained` when
        the next link follows from it (its own link was deleted), else `inserted`."""
        following = _select(self.db, self.following_sql, (event[0],))
        if following:
            after = following[0]
            rows = _select(self.db, self.chain_sql, (after[0] - 1, after[0]))
            if rows and rows[0][1] == link_of(link, after).hex():
                return self._unchained(event, deleted=True)
        return self._inserted(event)

    def _unchained(self, event: Stored, *, deleted: bool = False) -> Problem:
        position, oid, version, topic = event[0], id_text(event[1]), event[2], event[3]
        if deleted:
            why = (
                "is in the log, but the chain has no link at its position although the next "
                "link follows from it: its link was deleted from the chain"
            )
        else:
            why = (
                f"is in the log, but the chain ends at position {self.head.position} "
                f"({self.unchained} event(s) of the log after it are unchained): the chain "
                "table was dropped or its newest links deleted, or the events pre-date "
                "in-transaction chaining. If the log checks out against the anchors kept "
                "outside (`audit verify --anchors`), `ledger audit chain` links them"
            )
        return Problem(
            UNCHAINED,
            position,
            oid,
            version,
            topic,
            f"position {position}: {_describe(oid, version, topic)} {why}",
        )

    def _mismatch(self, event: Stored, previous: bytes, chained_link: str) -> Problem:
        """Name what changed at a position whose recomputed link differs from the chain's."""
        position, oid, version, topic = event[0], id_text(event[1]), event[2], event[3]
        here = _describe(oid, version, topic)
        recorded = self._chained(position)
        if recorded is None:  # pragma: no cover - the row was read a moment ago
            return self._inserted(event)
        c_oid, c_version, c_topic = recorded
        was = _describe(c_oid, c_version, c_topic)
        if (oid, version) == (c_oid, c_version):
            moved_to = self._contents_at(event, previous, chained_link)
            if moved_to is not None:
                return Problem(
                    REORDERED,
                    position,
                    oid,
                    version,
                    topic,
                    f"position {position}: the topic and bytes chained for {was} now stand at "
                    f"position {moved_to}, and this event carries others ({topic}): the "
                    "contents of events were swapped or moved",
                    other_position=moved_to,
                )
            if topic != c_topic:
                what = f"the topic of {was} is now {topic}"
            else:
                what = f"the stored bytes of {here} differ from what was chained"
            return Problem(
                ALTERED,
                position,
                oid,
                version,
                topic,
                f"position {position}: {what}: the event was altered after it was recorded",
            )
        chained_at = self._chained_position(oid, version)
        if chained_at is not None:
            return Problem(
                REORDERED,
                position,
                oid,
                version,
                topic,
                f"position {position}: holds {here}, which was chained at position "
                f"{chained_at}; the chain has {was} here: events were moved or swapped",
                other_position=chained_at,
            )
        if self._in_log(c_oid, c_version):
            return Problem(
                INSERTED,
                position,
                oid,
                version,
                topic,
                f"position {position}: holds {here}, which the chain never linked, where the "
                f"chain has {was}, which is still in the log further on: an event was inserted "
                "and the later ones renumbered",
            )
        return Problem(
            ALTERED,
            position,
            oid,
            version,
            topic,
            f"position {position}: holds {here}, but {was} was chained here and is no longer in "
            "the log: the event was replaced, or its originator or version changed",
        )

    def _contents_at(self, event: Stored, previous: bytes, chained_link: str) -> int | None:
        """The later position whose topic and bytes, in place of `event`'s, give the chained
        link (read again from the log: this runs once, on a problem)."""
        target = bytes.fromhex(chained_link)
        position, originator_id, version = event[0], event[1], event[2]
        after = position
        while after < self.log_head:
            upto = min(after + self.batch_size, self.log_head)
            for other in self._events(after, upto):
                candidate = (position, originator_id, version, other[3], other[4])
                if link_of(previous, candidate) == target:
                    return int(other[0])
            after = upto
        return None

    def _chained_position(self, originator_id: str, version: int) -> int | None:
        rows = self.db.read(
            f"SELECT MIN(position) FROM {self.chain} "
            "WHERE originator_id = ? AND originator_version = ?",
            (originator_id, version),
        )
        return None if not rows or rows[0][0] is None else int(rows[0][0])

    def _in_log(self, originator_id: str, version: int) -> bool:
        try:
            aggregate = UUID(originator_id)
        except ValueError:  # pragma: no cover - ledger ids are UUIDs
            return False
        found = self.app.recorder.select_events(aggregate, gt=version - 1, lte=version, limit=1)
        return bool(found)

    # -- the digest ------------------------------------------------------------------------------

    def _digest_mismatch(self, position: int, event: Stored | None) -> Problem:
        assert self.digest is not None  # noqa: S101 - only called with a digest
        if event is None:
            return Problem(
                DIGEST_MISMATCH,
                position,
                None,
                None,
                None,
                f"position 0: the digest {self.digest} names the empty chain, but its hash is "
                "not the genesis link (64 zeros): the digest is wrong",
            )
        oid, version, topic = id_text(event[1]), event[2], event[3]
        return Problem(
            DIGEST_MISMATCH,
            position,
            oid,
            version,
            topic,
            f"position {position}: the chain recomputed from the log up to "
            f"{_describe(oid, version, topic)} does not match the digest kept outside the "
            "database: this event or an earlier one was changed, deleted or inserted, and the "
            "chain table rewritten to match",
        )

    def _digest_absent(self) -> Problem:
        assert self.digest is not None  # noqa: S101 - only called with a digest
        position = self.digest.position
        return Problem(
            DIGEST_MISMATCH,
            position,
            None,
            None,
            None,
            f"position {position}: the digest names this position, but neither the log nor the "
            "chain has an event there: the event was deleted and the chain table rewritten to "
            "match",
        )

    def _truncated(self, event: Stored) -> Problem:
        position, oid, version, topic = event[0], id_text(event[1]), event[2], event[3]
        return Problem(
            CHAIN_TRUNCATED,
            position,
            oid,
            version,
            topic,
            f"position {position}: the log up to {_describe(oid, version, topic)} matches the "
            f"digest, but the chain ends at position {self.head.position}: the chain table "
            "lost its newest links (or a rebuild has not caught up); rebuild the audit_chain "
            "projection and take a new digest",
        )
