"""The audit hash chain on SQLite and PostgreSQL: every event linked, each kind of tampering named.

The tampering is done the way an attacker with database access would: plain SQL on the stored
events table (and on the chain table), behind the application's back.
"""

from __future__ import annotations

import hashlib
import json
import struct
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import pytest

from ledger.audit.chain import (
    Digest,
    Verification,
    catch_up_chain,
    digest,
    parse_digest,
    verify_chain,
)
from ledger.domain.errors import InvalidInputError
from ledger.projections.db import ViewDatabase
from tests.scenario import at, build_world

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from ledger.application import SupportLedger
    from ledger.settings import DatabaseSettings


def record_business(app: SupportLedger, key: str = "T-1", day: int = 3) -> None:
    """The standard world (on first use), then a ticket answered and credits used for it on
    a day of March."""
    contract = build_world(app).premium if app.get_catalog() is None else WORLD_CONTRACT[app]
    WORLD_CONTRACT[app] = contract
    app.open_ticket(
        contract_id=contract, reporter="ops@acme.example", version="24.2.1", platform="linux",
        severity=2, at=at(3, day, 9, 15), key=key,
    )  # fmt: skip
    app.record_first_response(key, at=at(3, day, 11))
    app.purchase_credits(
        contract, points=Decimal(20), price=Decimal(1500), key=f"p-{key}", at=at(3, day, 12)
    )
    app.consume_credits(
        contract, points=Decimal(3), activity="analysis", key=f"c-{key}", at=at(3, day, 13)
    )


WORLD_CONTRACT: dict[SupportLedger, UUID] = {}


@pytest.fixture
def log(store_settings: DatabaseSettings, app: SupportLedger) -> Iterator[Log]:
    """Plain SQL on the store's tables."""
    tables = Log(app, store_settings)
    yield tables
    tables.db.close()


@pytest.fixture
def chained(store_settings: DatabaseSettings, app: SupportLedger, log: Log) -> Log:
    """A history of a few dozen events of every kind, all of them chained."""
    record_business(app)
    chain(store_settings, app)
    return log


def chain(settings: DatabaseSettings, app: SupportLedger, batch_size: int = 5000) -> None:
    """Nothing is left to link: every event was linked in the transaction that recorded it."""
    assert settings.backend in ("sqlite", "postgresql")
    assert catch_up_chain(app, batch_size=batch_size) == 0


class Log:
    """The stored events table, reached with plain SQL as an attacker would."""

    def __init__(self, app: SupportLedger, settings: DatabaseSettings) -> None:
        self.app = app
        self.settings = settings
        self.db = ViewDatabase(settings)
        self.table = app.recorder.events_table_name  # type: ignore[attr-defined]
        self.id = "rowid" if settings.backend == "sqlite" else "notification_id"

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self.db.transaction() as tx:
            tx.execute(statement, params)
            return [tuple(r) for r in tx.cursor.fetchall()] if tx.cursor.description else []

    def positions(self) -> list[int]:
        return [r[0] for r in self.sql(f"SELECT {self.id} FROM {self.table} ORDER BY {self.id}")]

    def row(self, position: int) -> tuple[Any, int, str, bytes]:
        """originator id (as stored), version, topic, state."""
        found = self.sql(
            f"SELECT originator_id, originator_version, topic, state FROM {self.table} "
            f"WHERE {self.id} = ?",
            (position,),
        )
        oid, version, topic, state = found[0]
        return oid, int(version), topic, bytes(state)

    def set(self, position: int, **columns: Any) -> None:
        assignments = ", ".join(f"{name} = ?" for name in columns)
        self.sql(
            f"UPDATE {self.table} SET {assignments} WHERE {self.id} = ?",
            (*columns.values(), position),
        )

    def delete(self, position: int) -> None:
        self.sql(f"DELETE FROM {self.table} WHERE {self.id} = ?", (position,))

    def insert(self, position: int, oid: Any, version: int, topic: str, state: bytes) -> None:
        self.sql(
            f"INSERT INTO {self.table} ({self.id}, originator_id, originator_version, topic, "
            "state) VALUES (?, ?, ?, ?, ?)",
            (position, oid, version, topic, state),
        )

    def renumber_from(self, position: int) -> None:
        """Move every event from `position` on one place up (in two steps: ids are unique)."""
        self.sql(f"UPDATE {self.table} SET {self.id} = -({self.id} + 1) WHERE {self.id} >= ?",
                 (position,))  # fmt: skip
        self.sql(f"UPDATE {self.table} SET {self.id} = -{self.id} WHERE {self.id} < 0")

    def swap_positions(self, p: int, q: int) -> None:
        self.sql(f"UPDATE {self.table} SET {self.id} = -1 WHERE {self.id} = ?", (p,))
        self.sql(f"UPDATE {self.table} SET {self.id} = ? WHERE {self.id} = ?", (p, q))
        self.sql(f"UPDATE {self.table} SET {self.id} = ? WHERE {self.id} = -1", (q,))

    def new_id(self, oid: Any) -> Any:
        """Another originator id in the form the store keeps them."""
        fresh = uuid4()
        return fresh.hex if isinstance(oid, str) else fresh

    def leave_gap(self, record: Callable[[], None], size: int = 1) -> int:
        """Record events after a gap of `size` ids, as rolled-back transactions on PostgreSQL
        leave them; returns the first id of the gap."""
        if self.settings.backend != "postgresql":
            pytest.skip("SQLite leaves no gaps: a rowid is the last one + 1, none is consumed")
        sequence = f"pg_get_serial_sequence('{self.table}', 'notification_id')"
        last = self.sql(f"SELECT setval({sequence}, nextval({sequence}) + ? - 1)", (size,))
        record()
        return int(last[0][0]) - size + 1

    def links(self) -> list[tuple[int, str]]:
        """The chain table as stored: (position, link)."""
        return [
            (int(p), link)
            for p, link in self.sql("SELECT position, link FROM audit_chain ORDER BY position")
        ]

    def rewrite_chain(self) -> None:
        """Recompute every link from the log as it now stands, as an attacker covering up."""
        self.sql("DELETE FROM audit_chain")
        previous = bytes(32)
        for position in self.positions():
            oid, version, topic, _ = row = self.row(position)
            previous = documented_link(previous, position, row)
            self.sql(
                "INSERT INTO audit_chain (position, originator_id, originator_version, topic, "
                "link) VALUES (?, ?, ?, ?, ?)",
                (position, str(UUID(str(oid))), version, topic, previous.hex()),
            )


def documented_link(previous: bytes, position: int, row: tuple[Any, int, str, bytes]) -> bytes:
    """The link as the module docstring defines it, written out independently."""
    oid, version, topic, state = row
    origin = UUID(str(oid)).bytes
    name = topic.encode()
    header = struct.pack(">qqIII", position, version, len(origin), len(name), len(state))
    return hashlib.sha256(previous + header + origin + name + state).digest()


def check(
    log: Log, db: ViewDatabase, digest: Digest | None = None, batch_size: int = 20_000
) -> Verification:
    result = verify_chain(log.app, db, digest=digest, batch_size=batch_size)
    json.dumps(result.as_dict())  # what the CLI prints
    return result


def kind_at(result: Verification) -> tuple[str, int] | None:
    return None if result.problem is None else (result.problem.kind, result.problem.position)


def flipped(state: bytes) -> bytes:
    return bytes([state[0] ^ 1]) + state[1:]


# -- the chain ------------------------------------------------------------------------------------


def test_every_stored_event_is_linked_and_the_digest_is_the_last_link(
    chained: Log, db: ViewDatabase
) -> None:
    """One link per stored event of any topic; each link is SHA-256 over the previous link and
    the event's id, originator, version, topic and bytes, as documented."""
    positions = chained.positions()
    assert [p for p, _ in chained.links()] == positions
    previous = bytes(32)
    for position in positions:
        previous = documented_link(previous, position, chained.row(position))
    assert digest(db) == Digest(positions[-1], previous.hex())
    assert [link for _, link in chained.links()][-1] == previous.hex()


def test_an_empty_chain_has_the_genesis_digest(db: ViewDatabase) -> None:
    """Before any event the digest is position 0 and 64 zeros."""
    assert str(digest(db)) == "0:" + "0" * 64


def test_an_untouched_log_verifies_clean_with_and_without_its_digest(
    chained: Log, db: ViewDatabase
) -> None:
    """Every event is checked; the head is the digest; nothing is unchained."""
    head = digest(db)
    for given in (None, head):
        result = check(chained, db, given)
        assert result.ok
        assert result.checked == len(chained.positions())
        assert result.head == head
        assert result.unchained == 0


def test_events_are_linked_in_the_transaction_that_records_them(
    chained: Log, db: ViewDatabase
) -> None:
    """New events are chained as soon as they are recorded, nothing caught up; the old digest
    still holds."""
    head = digest(db)
    record_business(chained.app, "T-2", day=4)
    assert [p for p, _ in chained.links()] == chained.positions()
    result = check(chained, db, head)
    assert result.ok
    assert (result.unchained, result.checked) == (0, len(chained.positions()))
    assert check(chained, db, digest(db)).ok


def test_an_event_altered_right_after_it_was_recorded_is_caught(
    chained: Log, db: ViewDatabase
) -> None:
    """No window: an event edited the moment its save returned is already linked, so altered."""
    record_business(chained.app, "T-2", day=4)
    newest = chained.positions()[-1]
    chained.set(newest, state=flipped(chained.row(newest)[3]))
    assert kind_at(check(chained, db)) == ("altered", newest)


def test_gaps_in_the_notification_ids_verify_clean(
    store_settings: DatabaseSettings, app: SupportLedger, log: Log, db: ViewDatabase
) -> None:
    """Ids skipped by rolled-back transactions are no problem: the chain links stored events."""
    record_business(app)
    gap = log.leave_gap(lambda: record_business(app, "T-2", day=4))
    chain(store_settings, app, batch_size=7)
    assert gap not in log.positions()
    assert check(log, db, digest(db), batch_size=5).ok


def test_a_long_gap_verifies_clean_in_small_batches(
    store_settings: DatabaseSettings, app: SupportLedger, log: Log, db: ViewDatabase
) -> None:
    """A gap many times the batch size is passed over; a digest naming a position inside it
    names no event, so it does not verify."""
    record_business(app)
    gap = log.leave_gap(lambda: record_business(app, "T-2", day=4), size=50)
    chain(store_settings, app)
    assert set(range(gap, gap + 50)).isdisjoint(log.positions())
    result = check(log, db, digest(db), batch_size=3)
    assert result.ok
    assert result.checked == len(log.positions())
    inside = Digest(gap + 20, digest(db).hash)
    assert kind_at(check(log, db, inside, batch_size=3)) == ("digest_mismatch", gap + 20)


# -- tampering with the log -----------------------------------------------------------------------


def test_altered_bytes_are_named_at_their_position(chained: Log, db: ViewDatabase) -> None:
    """One flipped bit in an event's stored state: `altered`, naming aggregate, version, topic."""
    position = chained.positions()[10]
    oid, version, topic, state = chained.row(position)
    chained.set(position, state=flipped(state))
    result = check(chained, db)
    assert kind_at(result) == ("altered", position)
    assert result.problem is not None
    assert (result.problem.originator_id, result.problem.originator_version) == (
        str(UUID(str(oid))),
        version,
    )
    assert result.problem.topic == topic
    assert f"position {position}" in result.problem.message
    assert str(UUID(str(oid))) in result.problem.message
    assert result.checked == 10


def test_an_altered_topic_is_named(chained: Log, db: ViewDatabase) -> None:
    """An event relabelled as another kind of event is `altered`."""
    position = chained.positions()[-3]
    chained.set(position, topic="ledger.domain.ticket:Ticket.Opened")
    result = check(chained, db)
    assert kind_at(result) == ("altered", position)
    assert result.problem is not None
    assert "Ticket.Opened" in result.problem.message


@pytest.mark.parametrize(
    "change",
    [{"state": "text, not bytes"}, {"state": None}, {"topic": None}, {"state": b""}],
    ids=["text-state", "null-state", "null-topic", "empty-state"],
)
def test_values_of_other_types_are_altered_not_a_crash(
    chained: Log, db: ViewDatabase, change: dict[str, Any]
) -> None:
    """Whatever an attacker writes into a column, verification names the event."""
    position = chained.positions()[6]
    chained.set(position, **change)
    assert kind_at(check(chained, db)) == ("altered", position)


def test_a_changed_version_is_altered(chained: Log, db: ViewDatabase) -> None:
    """An event given another version number (the original gone) is `altered`."""
    position = chained.positions()[-1]
    version = chained.row(position)[1]
    chained.set(position, originator_version=version + 100)
    assert kind_at(check(chained, db)) == ("altered", position)


def test_a_deleted_event_is_missing(chained: Log, db: ViewDatabase) -> None:
    """The chain knows which event stood there: `missing`, with its aggregate and topic."""
    position = chained.positions()[7]
    _, version, topic, _ = chained.row(position)
    chained.delete(position)
    result = check(chained, db)
    assert kind_at(result) == ("missing", position)
    assert result.problem is not None
    assert (result.problem.originator_version, result.problem.topic) == (version, topic)


def test_deleting_the_newest_events_is_missing(chained: Log, db: ViewDatabase) -> None:
    """The last two events deleted: `missing` at the first of them."""
    positions = chained.positions()
    chained.delete(positions[-1])
    chained.delete(positions[-2])
    assert kind_at(check(chained, db)) == ("missing", positions[-2])


def test_an_event_inserted_into_a_gap_below_the_head_is_inserted(
    store_settings: DatabaseSettings, app: SupportLedger, log: Log, db: ViewDatabase
) -> None:
    """A copy of an event with a new id in a gap the chain passed over: `inserted`."""
    record_business(app)
    gap = log.leave_gap(lambda: record_business(app, "T-2", day=4))
    chain(store_settings, app)
    oid, version, topic, state = log.row(log.positions()[-5])
    log.insert(gap, oid, version + 1000, topic, state)
    result = check(log, db, digest(db))
    assert kind_at(result) == ("inserted", gap)
    assert result.problem is not None
    assert result.problem.originator_version == version + 1000


def test_an_event_inserted_with_the_later_ones_renumbered_is_inserted(
    chained: Log, db: ViewDatabase
) -> None:
    """Making room by moving every later event one place up does not hide an insertion."""
    position = chained.positions()[12]
    oid, _, topic, state = chained.row(position)
    chained.renumber_from(position)
    chained.insert(position, chained.new_id(oid), 1, topic, state)
    assert kind_at(check(chained, db)) == ("inserted", position)


def test_an_event_appended_behind_the_applications_back_is_unchained(
    chained: Log, db: ViewDatabase
) -> None:
    """Past the chain's head an event the recorder never linked fails: `unchained`, named."""
    head = max(chained.positions())
    oid, version, topic, state = chained.row(head)
    chained.insert(head + 1, oid, version + 1, topic, state)
    result = check(chained, db)
    assert kind_at(result) == ("unchained", head + 1)
    assert result.unchained == 1
    assert result.problem is not None
    assert result.problem.originator_version == version + 1


def test_swapped_contents_are_reordered_at_the_first_of_the_two(
    chained: Log, db: ViewDatabase
) -> None:
    """Two events exchange topic and bytes: `reordered` at the first, naming the second."""
    p, q = chained.positions()[5], chained.positions()[20]
    _, _, topic_p, state_p = chained.row(p)
    _, _, topic_q, state_q = chained.row(q)
    chained.set(p, topic=topic_q, state=state_q)
    chained.set(q, topic=topic_p, state=state_p)
    result = check(chained, db, batch_size=4)
    assert kind_at(result) == ("reordered", p)
    assert result.problem is not None
    assert result.problem.other_position == q
    assert f"position {q}" in result.problem.message


def test_two_events_swapped_in_the_log_are_reordered(chained: Log, db: ViewDatabase) -> None:
    """Two whole events exchange positions: `reordered` at the first, naming where it was."""
    p, q = chained.positions()[8], chained.positions()[9]
    chained.swap_positions(p, q)
    result = check(chained, db)
    assert kind_at(result) == ("reordered", p)
    assert result.problem is not None
    assert result.problem.other_position == q


def test_the_first_problem_is_named_whatever_the_batch_size(chained: Log, db: ViewDatabase) -> None:
    """An alteration and a later deletion: the alteration, in batches of 1 to 50."""
    positions = chained.positions()
    chained.set(positions[9], state=flipped(chained.row(positions[9])[3]))
    chained.delete(positions[15])
    for size in (1, 2, 3, 7, 50):
        assert kind_at(check(chained, db, batch_size=size)) == ("altered", positions[9])


# -- a chain table rewritten to match, and the digest kept outside ---------------------------------


@pytest.mark.parametrize(
    "tamper",
    [
        lambda log, p: log.set(p, state=flipped(log.row(p)[3])),
        lambda log, p: log.delete(p),
    ],
    ids=["altered", "deleted"],
)
def test_a_chain_rewritten_to_match_is_caught_only_by_the_digest(
    chained: Log, db: ViewDatabase, tamper: Callable[[Log, int], None]
) -> None:
    """Log and chain rewritten together pass on their own, but not against the earlier digest."""
    kept = digest(db)
    tamper(chained, chained.positions()[4])
    chained.rewrite_chain()
    assert check(chained, db).ok
    result = check(chained, db, kept)
    assert kind_at(result) == ("digest_mismatch", kept.position)
    assert result.problem is not None
    assert "digest" in result.problem.message


def test_a_wrong_hash_in_the_digest_is_a_mismatch(chained: Log, db: ViewDatabase) -> None:
    """The right position with another hash does not verify."""
    head = digest(db)
    wrong = Digest(head.position, ("0" if head.hash[0] != "0" else "1") + head.hash[1:])
    assert kind_at(check(chained, db, wrong)) == ("digest_mismatch", head.position)


def test_a_digest_past_the_end_of_the_log_is_refused(chained: Log, db: ViewDatabase) -> None:
    """The newest event and its link removed: the log ends before the digest's position."""
    kept = digest(db)
    chained.delete(kept.position)
    chained.sql("DELETE FROM audit_chain WHERE position = ?", (kept.position,))
    assert check(chained, db).ok  # a cut at the end of both is found only by what is outside
    assert kind_at(check(chained, db, kept)) == ("digest_beyond_head", kept.position)


def test_a_chain_cut_short_is_truncated_against_the_digest(chained: Log, db: ViewDatabase) -> None:
    """The newest links removed: the log still matches the digest, the chain ends early."""
    kept = digest(db)
    chained.sql("DELETE FROM audit_chain WHERE position > ?", (chained.positions()[-4],))
    alone = check(chained, db)
    assert alone.unchained == 3
    assert kind_at(alone) == ("unchained", chained.positions()[-3])
    result = check(chained, db, kept)
    assert kind_at(result) == ("chain_truncated", kept.position)


def test_a_problem_before_the_digest_position_comes_first(chained: Log, db: ViewDatabase) -> None:
    """With a digest given, an altered event is still named as altered, where it is."""
    kept = digest(db)
    position = chained.positions()[3]
    chained.set(position, state=flipped(chained.row(position)[3]))
    assert kind_at(check(chained, db, kept)) == ("altered", position)


# -- reading a digest -----------------------------------------------------------------------------


def test_a_digest_reads_back_from_its_text() -> None:
    """POSITION:HASH, as printed; upper-case hex and surrounding blanks are accepted."""
    text = "42:" + "AB" * 32
    assert parse_digest(f"  {text} ") == Digest(42, "ab" * 32)
    assert str(parse_digest(text)) == "42:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "expected POSITION:HASH"),
        ("12", "expected POSITION:HASH"),
        ("1:2:" + "a" * 64, "expected POSITION:HASH"),
        ("x:" + "a" * 64, "not a whole number"),
        ("-3:" + "a" * 64, "not a whole number"),
        ("1.5:" + "a" * 64, "not a whole number"),
        ("12:" + "a" * 63, "64 hexadecimal digits"),
        ("12:" + "g" * 64, "64 hexadecimal digits"),
    ],
    ids=["empty", "no-hash", "three-parts", "word", "negative", "fraction", "short", "not-hex"],
)
def test_malformed_digests_are_refused(text: str, says: str) -> None:
    """Each malformed digest is an invalid_input error that says what is wrong."""
    with pytest.raises(InvalidInputError, match=says) as caught:
        parse_digest(text)
    assert caught.value.code == "invalid_input"
