"""The chain cannot be quietly dropped, and digests leave the database (issue 17), on SQLite and
PostgreSQL: every event is linked in the transaction that records it; a chain dropped, cut or
missing a row fails verification and refuses further saves; anchors signed under a key kept
outside the database catch a log and chain rewritten together; concurrent writer processes
keep a valid chain.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from ledger.application import SupportLedger
from ledger.audit.anchors import (
    AnchorNotDeliveredError,
    anchor_key,
    anchor_plan,
    check_anchors,
    deliver,
    read_anchors,
    take_anchor,
    with_anchors,
)
from ledger.audit.chain import catch_up_chain, chain_behind, digest, verify_chain
from ledger.domain.errors import InvalidInputError
from ledger.errors import ChainBehindError, ConfigurationError
from tests.scenario import at
from tests.stores.test_audit_chain import (  # the fixtures and the attacker's SQL
    WORLD_CONTRACT,
    Log,
    chained,
    check,
    flipped,
    kind_at,
    log,
    record_business,
)
from tests.stores.test_concurrent_processes import url_of

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ledger.projections.db import ViewDatabase
    from ledger.settings import DatabaseSettings

__all__ = ["chained", "log"]  # fixtures, used by name (app and db: tests/stores/conftest.py)

ROOT = Path(__file__).parents[2]
KEY = b"k" * 40
OTHER_KEY = b"o" * 40


def now() -> Any:
    from datetime import UTC, datetime  # noqa: PLC0415 - the clock, read once per anchor

    return datetime.now(UTC)


def count_events(log: Log) -> int:
    return len(log.positions())


# -- the chain cannot be quietly dropped -------------------------------------------------------


def test_a_dropped_chain_table_fails_verification_naming_the_first_event(
    chained: Log, db: ViewDatabase
) -> None:
    """`DROP TABLE audit_chain`: verify without a digest fails, `unchained` at the first
    event, with every event of the log counted unchained."""
    first = chained.positions()[0]
    assert check(chained, db).ok  # the connection has seen the table
    chained.sql("DROP TABLE audit_chain")
    result = check(chained, db)
    assert not result.ok
    assert kind_at(result) == ("unchained", first)
    assert result.unchained == count_events(chained)
    assert result.problem is not None
    assert "ledger audit chain" in result.problem.message


def test_an_emptied_chain_refuses_the_next_save_and_records_nothing(
    chained: Log, db: ViewDatabase
) -> None:
    """The chain emptied behind the application's back: the next save is refused with
    `chain_behind`, naming both heads, and the log is unchanged."""
    before = chained.positions()
    chained.sql("DELETE FROM audit_chain")
    with pytest.raises(ChainBehindError) as refused:
        record_business(chained.app, "T-2", day=4)
    assert refused.value.code == "chain_behind"
    assert refused.value.details == {"chain_head": 0, "log_head": before[-1]}
    assert chained.positions() == before
    assert chained.links() == []


def test_a_chain_table_dropped_is_recreated_empty_at_start_and_saves_stay_refused(
    store_settings: DatabaseSettings, chained: Log, db: ViewDatabase
) -> None:
    """After `DROP TABLE audit_chain` a restarted application recreates the table empty and
    refuses to record until the chain is linked again explicitly."""
    before = chained.positions()
    chained.sql("DROP TABLE audit_chain")
    restarted = SupportLedger(settings=store_settings)
    try:
        contract = WORLD_CONTRACT[chained.app]
        with pytest.raises(ChainBehindError):
            restarted.purchase_credits(
                contract, points=Decimal(5), price=Decimal(100), key="p-9", at=at(3, 6, 12)
            )
        assert chained.positions() == before
        assert chain_behind(restarted, db) is not None
    finally:
        restarted.close()


def test_a_chain_table_dropped_while_the_application_runs_refuses_its_saves(
    chained: Log, db: ViewDatabase
) -> None:
    """`DROP TABLE audit_chain` under a running application: its next save is refused
    `chain_behind` (not a crash, not an outage) and records nothing."""
    before = chained.positions()
    chained.sql("DROP TABLE audit_chain")
    with pytest.raises(ChainBehindError) as refused:
        record_business(chained.app, "T-2", day=4)
    assert refused.value.details == {"chain_head": 0, "log_head": before[-1]}
    assert chained.positions() == before


def test_the_newest_links_deleted_refuse_the_next_save(chained: Log, db: ViewDatabase) -> None:
    """The chain cut short by three links: verify names the first unlinked event; a save is
    refused (it would otherwise link past a hole)."""
    positions = chained.positions()
    chained.sql("DELETE FROM audit_chain WHERE position > ?", (positions[-4],))
    assert kind_at(check(chained, db)) == ("unchained", positions[-3])
    with pytest.raises(ChainBehindError):
        record_business(chained.app, "T-2", day=4)
    assert chained.positions() == positions


def test_one_deleted_chain_row_is_named(chained: Log, db: ViewDatabase) -> None:
    """A link deleted in the middle: `unchained` at its position, saying the link was deleted
    (the next link still follows from the event), whatever the batch size."""
    position = chained.positions()[9]
    chained.sql("DELETE FROM audit_chain WHERE position = ?", (position,))
    for size in (1, 4, 20_000):
        result = check(chained, db, batch_size=size)
        assert kind_at(result) == ("unchained", position)
        assert result.problem is not None
        assert "its link was deleted" in result.problem.message
    record_business(chained.app, "T-2", day=4)  # the head is intact: saves go on
    assert kind_at(check(chained, db)) == ("unchained", position)


def test_audit_chain_links_the_backlog_explicitly_then_saves_resume(
    chained: Log, db: ViewDatabase
) -> None:
    """Events that pre-date in-transaction chaining (here: the chain emptied) are linked by
    `catch_up_chain` only, once; verification then passes and saves are linked again."""
    positions = chained.positions()
    chained.sql("DELETE FROM audit_chain")
    assert catch_up_chain(chained.app, batch_size=7) == len(positions)
    assert catch_up_chain(chained.app) == 0
    assert check(chained, db).ok
    record_business(chained.app, "T-2", day=4)
    result = check(chained, db, digest(db))
    assert result.ok
    assert result.checked == count_events(chained) > len(positions)


def test_a_chain_that_reaches_the_log_is_not_behind(chained: Log, db: ViewDatabase) -> None:
    """`chain_behind` is None on an intact store (digests and anchors may be taken)."""
    assert chain_behind(chained.app, db) is None


# -- anchors -----------------------------------------------------------------------------------


def test_anchors_are_appended_signed_and_verify(
    chained: Log, db: ViewDatabase, tmp_path: Path
) -> None:
    """Two anchors appended as JSON lines, the second after more events; both check against
    the log; each names the chain's head when it was taken."""
    file = tmp_path / "anchors.jsonl"
    first = take_anchor(chained.app, db, KEY, at=now())
    deliver(first, str(file))
    record_business(chained.app, "T-2", day=4)
    second = take_anchor(chained.app, db, KEY, at=now())
    deliver(second, str(file))
    lines = [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines()]
    assert [line["position"] for line in lines] == [first.position, second.position]
    assert second.position == chained.positions()[-1] > first.position
    assert set(lines[0]) == {"position", "hash", "at", "signature"}
    checked = check_anchors(chained.app, db, read_anchors(str(file)), KEY)
    assert (checked.checked, checked.problem) == (2, None)
    result = with_anchors(verify_chain(chained.app, db), checked)
    assert result.ok
    assert result.as_dict()["anchors_checked"] == 2


def test_a_tampered_anchor_is_named_as_forged(
    chained: Log, db: ViewDatabase, tmp_path: Path
) -> None:
    """An anchor whose hash was edited, or checked under another key, is `anchor_forged`."""
    file = tmp_path / "anchors.jsonl"
    deliver(take_anchor(chained.app, db, KEY, at=now()), str(file))
    record = json.loads(file.read_text(encoding="utf-8"))
    record["position"] -= 1
    file.write_text(file.read_text(encoding="utf-8") + json.dumps(record) + "\n", encoding="utf-8")
    anchors = read_anchors(str(file))
    checked = check_anchors(chained.app, db, anchors, KEY)
    assert checked.problem is not None
    assert (checked.problem.kind, checked.problem.position) == ("anchor_forged", record["position"])
    assert "anchor 2 " in checked.problem.message
    other = check_anchors(chained.app, db, anchors[:1], OTHER_KEY)
    assert other.problem is not None
    assert other.problem.kind == "anchor_forged"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda log, p: log.set(p, state=flipped(log.row(p)[3])),
        lambda log, p: log.delete(p),
    ],
    ids=["altered", "deleted"],
)
def test_history_rewritten_with_its_chain_contradicts_the_first_anchor_after_it(
    chained: Log, db: ViewDatabase, tmp_path: Path, tamper: Any
) -> None:
    """Three anchors; an event between the first and the second altered (or deleted) and the
    chain table rewritten to match: the chain alone checks out, the anchors name the second
    one as contradicted; verify fails."""
    file = tmp_path / "anchors.jsonl"
    deliver(take_anchor(chained.app, db, KEY, at=now()), str(file))
    record_business(chained.app, "T-2", day=4)
    deliver(take_anchor(chained.app, db, KEY, at=now()), str(file))
    record_business(chained.app, "T-3", day=5)
    deliver(take_anchor(chained.app, db, KEY, at=now()), str(file))
    anchors = read_anchors(str(file))
    target = next(p for p in chained.positions() if anchors[0].position < p < anchors[1].position)
    tamper(chained, target)
    chained.rewrite_chain()
    assert check(chained, db).ok
    checked = check_anchors(chained.app, db, anchors, KEY)
    assert checked.problem is not None
    assert (checked.problem.kind, checked.problem.position) == (
        "anchor_contradicted",
        anchors[1].position,
    )
    assert "anchor 2 " in checked.problem.message
    result = with_anchors(verify_chain(chained.app, db), checked)
    assert not result.ok
    assert kind_at(result) == ("anchor_contradicted", anchors[1].position)


def test_an_anchor_past_the_end_of_the_log_is_contradicted(
    chained: Log, db: ViewDatabase, tmp_path: Path
) -> None:
    """The newest events, their links and any snapshot taken at them deleted: the log is
    consistent again, but the last anchor's position is gone."""
    file = tmp_path / "anchors.jsonl"
    anchor = take_anchor(chained.app, db, KEY, at=now())
    deliver(anchor, str(file))
    snapshots = chained.app.snapshots.recorder.events_table_name  # type: ignore[union-attr]
    for position in chained.positions()[-2:]:
        oid, version, _, _ = chained.row(position)
        chained.delete(position)
        chained.sql("DELETE FROM audit_chain WHERE position = ?", (position,))
        chained.sql(  # a snapshot point falls on such a version now and then
            f"DELETE FROM {snapshots} WHERE originator_id = ? AND originator_version >= ?",
            (oid, version),
        )
    assert check(chained, db).ok
    checked = check_anchors(chained.app, db, read_anchors(str(file)), KEY)
    assert checked.problem is not None
    assert (checked.problem.kind, checked.problem.position) == (
        "anchor_contradicted",
        anchor.position,
    )


def test_no_anchor_is_taken_while_the_chain_is_behind(chained: Log, db: ViewDatabase) -> None:
    """An anchor vouches for the whole log: refused while events are unchained."""
    chained.sql("DELETE FROM audit_chain WHERE position = ?", (chained.positions()[-1],))
    with pytest.raises(ChainBehindError):
        take_anchor(chained.app, db, KEY, at=now())


class _Receiver(BaseHTTPRequestHandler):
    bodies: ClassVar[list[bytes]] = []
    status: ClassVar[int] = 201

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).bodies.append(self.rfile.read(length))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    """An HTTP server on 127.0.0.1 that keeps the bodies POSTed to it."""
    _Receiver.bodies = []
    _Receiver.status = 201
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/anchors"
    server.shutdown()
    server.server_close()


def test_an_anchor_is_posted_to_a_url(
    chained: Log, db: ViewDatabase, receiver: str, tmp_path: Path
) -> None:
    """The anchor is POSTed as one JSON object; kept as a line, it verifies; a receiver that
    answers 500 is `anchor_not_delivered`."""
    anchor = take_anchor(chained.app, db, KEY, at=now())
    deliver(anchor, receiver)
    assert [json.loads(b) for b in _Receiver.bodies] == [anchor.as_dict()]
    kept = tmp_path / "received.jsonl"
    kept.write_bytes(_Receiver.bodies[0] + b"\n")
    assert check_anchors(chained.app, db, read_anchors(str(kept)), KEY).problem is None
    _Receiver.status = 500
    with pytest.raises(AnchorNotDeliveredError, match="HTTP 500"):
        deliver(anchor, receiver)


def test_anchoring_refuses_a_missing_key_and_bad_targets(tmp_path: Path) -> None:
    """No key, a short key, a missing folder, another scheme, half a schedule: each refused
    naming what is wrong."""
    with pytest.raises(ConfigurationError, match="LEDGER_ANCHOR_KEY is not set"):
        anchor_key({})
    with pytest.raises(ConfigurationError, match="at least 32"):
        anchor_key({"LEDGER_ANCHOR_KEY": "short"})
    from ledger.audit.anchors import target  # noqa: PLC0415 - the checked target

    with pytest.raises(InvalidInputError, match="does not exist"):
        target(str(tmp_path / "missing" / "anchors.jsonl"))
    with pytest.raises(InvalidInputError, match="http:// or https://"):
        target("ftp://example.com/anchors")
    with pytest.raises(ConfigurationError, match="LEDGER_ANCHOR_EVERY_MINUTES is not"):
        anchor_plan({"LEDGER_ANCHOR_TO": str(tmp_path / "a.jsonl")})
    with pytest.raises(InvalidInputError, match="does not exist"):
        anchor_plan(
            {"LEDGER_ANCHOR_TO": str(tmp_path / "no" / "a.jsonl"),
             "LEDGER_ANCHOR_EVERY_MINUTES": "5"}
        )  # fmt: skip
    with pytest.raises(ConfigurationError, match="whole number of minutes"):
        anchor_plan({"LEDGER_ANCHOR_TO": "a.jsonl", "LEDGER_ANCHOR_EVERY_MINUTES": "0"})
    with pytest.raises(ConfigurationError, match="LEDGER_ANCHOR_KEY"):
        anchor_plan({"LEDGER_ANCHOR_TO": "a.jsonl", "LEDGER_ANCHOR_EVERY_MINUTES": "15"})
    assert anchor_plan({}) is None
    assert anchor_plan({"LEDGER_ANCHOR_TO": "", "LEDGER_ANCHOR_EVERY_MINUTES": "15"}) is None
    plan = anchor_plan(
        {"LEDGER_ANCHOR_TO": "https://anchors.example/in", "LEDGER_ANCHOR_EVERY_MINUTES": "15",
         "LEDGER_ANCHOR_KEY": "k" * 32}
    )  # fmt: skip
    assert plan is not None
    assert (plan.to, plan.every_minutes, plan.key) == ("https://anchors.example/in", 15, b"k" * 32)


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("not json", "line 1: not JSON"),
        ("[1]", "not a JSON object"),
        ('{"position": -1, "hash": "' + "0" * 64 + '", "at": "x", "signature": "y"}', "position"),
        ('{"position": 1, "hash": "XY", "at": "x", "signature": "y"}', "hash must be"),
        ('{"position": 1, "hash": "' + "0" * 64 + '", "at": 5, "signature": "y"}', "strings"),
    ],
    ids=["not-json", "not-object", "negative", "bad-hash", "bad-at"],
)
def test_a_malformed_anchors_file_is_refused_naming_the_line(
    tmp_path: Path, line: str, says: str
) -> None:
    file = tmp_path / "anchors.jsonl"
    file.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match=says):
        read_anchors(str(file))


# -- concurrent writers ------------------------------------------------------------------------


def test_concurrent_writer_processes_keep_a_valid_chain(
    store_settings: DatabaseSettings, db: ViewDatabase
) -> None:
    """Four processes sign contracts at once: every event is linked, in log order, and the
    chain verifies with its digest."""
    if store_settings.backend == "sqlite":
        url = f"sqlite:///{store_settings.path}"
    else:
        url = url_of(store_settings)
    start = time.time() + 3
    writers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.stores.chain_writer", url, str(n), str(start), "12"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        for n in range(4)
    ]
    for writer in writers:
        assert writer.wait(timeout=240) == 0
    app = SupportLedger(settings=store_settings)
    try:
        log = Log(app, store_settings)
        assert [p for p, _ in log.links()] == log.positions()
        assert len(log.positions()) >= 4 * 12
        result = verify_chain(app, db, digest=digest(db))
        assert result.ok, result.problem
        assert result.checked == len(log.positions())
        log.db.close()
    finally:
        app.close()
