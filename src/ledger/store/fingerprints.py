"""The eventsourcing functions ledger overrides, copies or relies on the inside of, with the hash
of their source as last checked, and where ledger's code that depends on each lives.

When the installed library's source of one of them changes, `tests/unit/test_library_fingerprint.py`
fails and names it: read the new source, check the code named beside it, then update the hash
(`python -m ledger.store.fingerprints` prints the installed ones).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Fingerprint:
    """A library function (`module:Class.method`), its source's sha256, and what depends on it."""

    name: str
    sha256: str
    ours: str


_SQLITE = "ledger.store.recorders:SQLiteLedgerRecorder"
_POSTGRES = "ledger.store.recorders:PostgresLedgerRecorder"
_APP = "ledger.store.application:LedgerApplication"
_SNAPSHOTS = "ledger.store.snapshots:SignedSnapshots"

# eventsourcing 9.5.x, as installed when these were last checked.
FINGERPRINTS = (
    Fingerprint(
        "eventsourcing.sqlite:SQLiteApplicationRecorder.__init__",
        "9eee5bfa898419314c6100a50abf08efa284dd813a21921bd211aa3e4b3a4f1a",
        f"{_SQLITE}.__init__ (its statements read events_table_name)",
    ),
    Fingerprint(
        "eventsourcing.sqlite:SQLiteApplicationRecorder._insert_events",
        "413cdf219c7bae6361386b240f477256549c5675adc02089fed33453160f1611",
        f"{_SQLITE}._insert_events (calls it, then checks in the same cursor; the ids it returns)",
    ),
    Fingerprint(
        "eventsourcing.sqlite:SQLiteAggregateRecorder.insert_events",
        "32f60619a2ca6e6a68cc63612d17c5e2e64defa63baa14cb1800f8e7d872eed5",
        f"{_SQLITE}._insert_events (one writer's transaction, kwargs passed on, rolled back "
        "on IntegrityError)",
    ),
    Fingerprint(
        "eventsourcing.sqlite:SQLiteApplicationRecorder.construct_create_table_statements",
        "0e52bba3d0092d396b69895e25c8e8637ab658834eb098d0bcc6080414455881",
        f"{_SQLITE}.construct_create_table_statements (adds the audit chain's table to it)",
    ),
    Fingerprint(
        "eventsourcing.postgres:PostgresApplicationRecorder._fetch_ids_after_insert_events",
        "9c8efbc1baf72b52213eeaa4c689bfb06cdbdacfac07643939a65c2e3102de9b",
        f"{_POSTGRES}._fetch_ids_after_insert_events (calls it for the ids, then links them in "
        "the chain on a cursor of its own, in the insert's transaction, under its table lock)",
    ),
    Fingerprint(
        "eventsourcing.postgres:PostgresApplicationRecorder.__init__",
        "db36fb3de49a5292adbe422c79bfc1ef22658df8f60915befa85d16949b3fa9e",
        f"{_POSTGRES}.__init__ (appends its refusing function to sql_create_statements)",
    ),
    Fingerprint(
        "eventsourcing.postgres:PostgresApplicationRecorder.insert_events",
        "f1a98da0239e3ea7462c6b725cd66d0c932fc533814c92e04bf9802ac81ebddf",
        f"{_POSTGRES}._insert_stored_events (pipelined in its transaction, which it commits "
        "whatever Python raises; the db-functions path that skips it, refused by "
        f"ledger.store.setup:tune_factory); overridden by {_POSTGRES}.insert_events, which reads "
        "a chain refusal back from the IntegrityError it raises",
    ),
    Fingerprint(
        "eventsourcing.postgres:PostgresApplicationRecorder._insert_stored_events",
        "139580714a6590854299f5b5c1630b9cf56c65825cb463eb287bbf97996b29f1",
        f"{_POSTGRES}._insert_stored_events (calls it: table lock, notify, insert; checks after)",
    ),
    Fingerprint(
        "eventsourcing.application:Application.__init__",
        "1e9449f600820ed770c22ad6c1d3889727cd81db98f577aabb96e98e4ff1bae4",
        f"{_APP}.__init__ (overrides it: the settings' environment, under the schema lock)",
    ),
    Fingerprint(
        "eventsourcing.application:Application.construct_factory",
        "1aef6e25e3019ce50880da93c46f5c63a447f8ebe52ad3cda600d9efa6486ed4",
        f"{_APP}.construct_factory (overrides it, calls it; ledger.store.setup:tune_factory)",
    ),
    Fingerprint(
        "eventsourcing.application:Application.save",
        "4e9747d14b8fd046df1b9b8ce688be89030978de0c04a632e6a7ec783dc7c5cc",
        "ledger.application.uow:UnitOfWork.commit (calls it with expected_versions and "
        "nothing_after, which it passes on to _record)",
    ),
    Fingerprint(
        "eventsourcing.application:Application._record",
        "104c6186b29d50595198443b697de23b0dab4344c50d4dca54688b32fce52340",
        "ledger.application.uow:UnitOfWork.commit (the save's kwargs reach insert_events through "
        f"it); {_APP}._record (overrides it: restamps the events with the recording clock, "
        "then calls it)",
    ),
    Fingerprint(
        "eventsourcing.application:Application._take_snapshots",
        "ae98c5b97ed9a8e3c50f324a01081e277572d192fac93ef738fdb3c053421562",
        f"{_APP}._take_snapshots (overrides it: from the objects saved, at shifted points)",
    ),
    Fingerprint(
        "eventsourcing.application:Application.construct_snapshot_store",
        "c37ed9d58b22ca34db2be30bae282ddba6643a55eb30105c07dbf3d82958c149",
        f"{_APP}.construct_snapshot_store (overrides it: the same recorder, in {_SNAPSHOTS})",
    ),
    Fingerprint(
        "eventsourcing.persistence:EventStore.put",
        "7cbbe45730a0d3b9355785e9109891d0557fc19f258981b3b0c8e31e8c65b386",
        f"{_SNAPSHOTS}.put (overrides it: seals each stored snapshot, returns no recordings)",
    ),
    Fingerprint(
        "eventsourcing.persistence:EventStore.get",
        "3ea75505f6457d8908fa729b68a0e34c7addd16af1863dca2285b90c206b1a72",
        f"{_SNAPSHOTS}.get (overrides it: only the snapshots whose seal checks)",
    ),
    Fingerprint(
        "eventsourcing.application:Repository._reconstruct_aggregate",
        "56d7c30cb77083be7c16678d6dfb3ff108837f206db3ba979046bcdbffe0e685",
        f"{_SNAPSHOTS}.get (the repository asks for the newest snapshot, desc and limit 1, "
        "then replays the events after it: an ignored snapshot means a replay from the start); "
        f"{_APP}.load_many and {_SNAPSHOTS}.newest_of (do the same for many aggregates at once)",
    ),
    Fingerprint(
        "eventsourcing.sqlite:SQLiteAggregateRecorder.__init__",
        "88895a2823b5a2d2f890deebd39eef5e7872ef7f7aeab8686ce4a93c4513ed1c",
        f"{_SNAPSHOTS}.stored (reads every row of events_table_name through the datastore); "
        "ledger.store.recorders:select_many (the same table's columns)",
    ),
    Fingerprint(
        "eventsourcing.postgres:PostgresAggregateRecorder.__init__",
        "78adbde8e22843caf9a353dacbe9ebfa3f9e047e6a7cce05d50067d510e1a4a7",
        f"{_SNAPSHOTS}.stored (reads every row of events_table_name in datastore.schema); "
        "ledger.store.recorders:select_many (the same table's columns, originator_id_type)",
    ),
)


def resolve(name: str) -> Any:
    """The function named `module:Class.method`."""
    module, qualname = name.split(":")
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return inspect.unwrap(found)


def source_hash(name: str) -> str:
    """The sha256 of the installed source of the function named `module:Class.method`."""
    return hashlib.sha256(inspect.getsource(resolve(name)).encode()).hexdigest()


def changed(fingerprints: tuple[Fingerprint, ...] = FINGERPRINTS) -> list[Fingerprint]:
    """The fingerprints whose function's installed source is not the one last checked."""
    return [f for f in fingerprints if source_hash(f.name) != f.sha256]


def report(moved: list[Fingerprint]) -> str:
    """What to re-check: each changed library function, and where ledger's code for it lives."""
    lines = [f"- {f.name}: ours in {f.ours}" for f in moved]
    return "\n".join(
        ["eventsourcing changed; re-check these, then update ledger.store.fingerprints:", *lines]
    )


if __name__ == "__main__":  # pragma: no cover - a maintainer's tool
    for fingerprint in FINGERPRINTS:
        print(fingerprint.name, source_hash(fingerprint.name))
