"""Snapshots decide commands only when their seal proves them (`LEDGER_SNAPSHOT_KEY`), and
`audit verify` compares every stored snapshot with its events, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from eventsourcing.application import project_aggregate
from structlog.testing import capture_logs

from ledger.application import SupportLedger
from ledger.audit.chain import verify_chain
from ledger.domain.credit_account import CreditAccount
from ledger.domain.errors import InsufficientCreditsError
from ledger.projections.db import ViewDatabase
from ledger.store import connect
from ledger.store.snapshots import SnapshotSeal, unseal
from tests.conftest import TEST_SNAPSHOT_KEY
from tests.scenario import World, at, build_snapshotted_world, build_world

if TYPE_CHECKING:
    from collections.abc import Iterator
    from uuid import UUID

    from ledger.settings import DatabaseSettings

OTHER_KEY = "another-snapshot-key-fedcba9876543210fedcba9876543210"
LOT = "term-1-points"
RAISE = Decimal(10_000)


@pytest.fixture
def writer(store_settings: DatabaseSettings) -> Iterator[SupportLedger]:
    application = SupportLedger(settings=store_settings)
    yield application
    application.close()


@pytest.fixture
def world(writer: SupportLedger) -> World:
    return build_snapshotted_world(writer)


def open_app(settings: DatabaseSettings, key: str | None = None) -> SupportLedger:
    """A fresh application (as another process: nothing cached), with `key` if given."""
    return SupportLedger(None if key is None else {"LEDGER_SNAPSHOT_KEY": key}, settings=settings)


def table(settings: DatabaseSettings) -> str:
    if settings.backend == "sqlite":
        return "stored_snapshots"
    return f'"{settings.schema}".ledger_snapshots'


def snapshot_rows(settings: DatabaseSettings, account_id: UUID) -> list[tuple[int, bytes]]:
    """The account's stored snapshots (version, state bytes as stored), oldest first."""
    sql = f"SELECT originator_version, state FROM {table(settings)} WHERE originator_id = "
    if settings.backend == "sqlite":
        with sqlite3.connect(settings.path) as conn:
            rows = conn.execute(sql + "? ORDER BY 1", (account_id.hex,)).fetchall()
    else:
        with connect(settings) as conn:
            rows = conn.execute(sql + "%s ORDER BY 1", (account_id,)).fetchall()
    return [(int(v), bytes(s)) for v, s in rows]  # type: ignore[call-overload]


def write_state(settings: DatabaseSettings, account_id: UUID, version: int, state: bytes) -> None:
    """Overwrite a stored snapshot's state bytes, as an attacker with SQL access would."""
    sql = f"UPDATE {table(settings)} SET state = {{m}} WHERE originator_id = {{m}} AND "
    sql += "originator_version = {m}"
    if settings.backend == "sqlite":
        with sqlite3.connect(settings.path) as conn:
            conn.execute(sql.format(m="?"), (state, account_id.hex, version))
    else:
        with connect(settings) as conn:
            conn.execute(sql.format(m="%s"), (state, account_id, version))  # type: ignore[arg-type]


def raised(inner: bytes) -> bytes:
    """The library's snapshot bytes with the term lot's remaining points raised by 10,000."""
    data = json.loads(inner)
    remaining = data["state"]["lots"][LOT]["remaining"]
    remaining["_data_"] = str(Decimal(remaining["_data_"]) + RAISE)
    return json.dumps(data, separators=(",", ":")).encode()


def sealed(key: str, account_id: UUID, version: int, topic: str, inner: bytes) -> bytes:
    stored = SnapshotSeal(key.encode()).seal(_stored(account_id, version, topic, inner))
    return bytes(stored.state)


def _stored(account_id: UUID, version: int, topic: str, inner: bytes) -> Any:
    from ledger.store import StoredEvent  # noqa: PLC0415 - only these helpers need it

    return StoredEvent(account_id, version, topic, inner)


TOPIC = "ledger.domain.values:PlainSnapshot"


def latest(settings: DatabaseSettings, account_id: UUID) -> tuple[int, str | None, bytes]:
    """The newest stored snapshot of the account: version, seal, the library's bytes."""
    version, state = snapshot_rows(settings, account_id)[-1]
    mac, inner = unseal(state)
    return version, mac, inner


def balance(app: SupportLedger, contract_id: UUID) -> Decimal:
    return Decimal(app.get_account(contract_id).available("points", at(3, 5)))


def replayed(app: SupportLedger, account_id: UUID) -> Any:
    return project_aggregate(None, app.events.get(account_id))


def verify(settings: DatabaseSettings, app: SupportLedger) -> Any:
    db = ViewDatabase(settings)
    try:
        return verify_chain(app, db)
    finally:
        db.close()


def test_a_tampered_snapshot_decides_nothing_and_is_logged_and_counted(
    store_settings: DatabaseSettings, world: World, writer: SupportLedger
) -> None:
    """The attack of issue 17: a lot raised by 10,000 points in the stored snapshot (its seal
    left as it was) is ignored: the balance is the events', 5,000 points are refused, and the
    rejection is logged (id and version, never the key) and counted."""
    account_id = CreditAccount.create_id(world.premium)
    truth = balance(writer, world.premium)
    version, mac, inner = latest(store_settings, account_id)
    assert mac is not None
    write_state(store_settings, account_id, version, sealed(TEST_SNAPSHOT_KEY, account_id,
                version, TOPIC, inner).replace(inner, raised(inner)))  # fmt: skip
    app = open_app(store_settings)
    try:
        with capture_logs() as logs:
            assert balance(app, world.premium) == truth
            with pytest.raises(InsufficientCreditsError):
                app.consume_credits(
                    world.premium, points=Decimal(5000), activity="a", key="big", at=at(3, 5)
                )
        assert vars(app.get_account(world.premium)) == vars(replayed(app, account_id))
        assert app.snapshots_rejected >= 1
        rejected = [e for e in logs if e["event"] == "snapshot_rejected"]
        assert rejected
        assert rejected[0]["aggregate_id"] == str(account_id)
        assert rejected[0]["version"] == version
        assert TEST_SNAPSHOT_KEY not in repr(logs)
    finally:
        app.close()


def test_audit_verify_names_a_changed_snapshot_whatever_its_seal(
    store_settings: DatabaseSettings, world: World, writer: SupportLedger
) -> None:
    """An honest store verifies clean, snapshots included; a snapshot changed and sealed again
    under the right key (the key stolen) is used for loading, and `audit verify` names it
    `snapshot_mismatch`, without a digest."""
    account_id = CreditAccount.create_id(world.premium)
    clean = verify(store_settings, writer)
    assert clean.ok
    assert clean.snapshots_checked >= 1
    truth = balance(writer, world.premium)
    version, _, inner = latest(store_settings, account_id)
    forged = sealed(TEST_SNAPSHOT_KEY, account_id, version, TOPIC, raised(inner))
    write_state(store_settings, account_id, version, forged)
    app = open_app(store_settings)
    try:
        assert balance(app, world.premium) == truth + RAISE  # a sealed snapshot is used
        result = verify(store_settings, app)
    finally:
        app.close()
    assert not result.ok
    assert result.problem is not None
    assert result.problem.kind == "snapshot_mismatch"
    named = [(p.kind, p.originator_id, p.originator_version) for p in result.snapshot_problems]
    assert named == [("snapshot_mismatch", str(account_id), version)]
    assert "lots" in result.snapshot_problems[0].message
    assert result.as_dict()["snapshot_problems"][0]["kind"] == "snapshot_mismatch"


def test_an_honest_snapshot_is_read_and_loads_what_the_events_give(
    store_settings: DatabaseSettings, world: World
) -> None:
    """A fresh application reads the sealed snapshot (it verifies), loads the events' state,
    and rejects nothing."""
    account_id = CreditAccount.create_id(world.premium)
    version, _, _ = latest(store_settings, account_id)
    app = open_app(store_settings)
    try:
        with capture_logs() as logs:
            assert app.snapshots is not None
            found = list(app.snapshots.get(account_id, desc=True, limit=1))
            account = app.repository.get(account_id)
        assert [s.originator_version for s in found] == [version]
        assert vars(account) == vars(replayed(app, account_id))
        assert app.snapshots_rejected == 0
        assert not [e for e in logs if e["event"] == "snapshot_rejected"]
    finally:
        app.close()


def test_a_snapshot_under_another_key_or_unsealed_is_ignored(
    store_settings: DatabaseSettings, world: World
) -> None:
    """Under another key every snapshot is ignored (and counted); one stripped of its seal
    (as written before snapshots were sealed) is ignored without being counted."""
    account_id = CreditAccount.create_id(world.premium)
    stranger = open_app(store_settings, OTHER_KEY)
    try:
        assert stranger.snapshots is not None
        assert list(stranger.snapshots.get(account_id)) == []
        assert stranger.snapshots_rejected == len(snapshot_rows(store_settings, account_id))
        assert vars(stranger.get_account(world.premium)) == vars(replayed(stranger, account_id))
    finally:
        stranger.close()
    version, _, inner = latest(store_settings, account_id)
    write_state(store_settings, account_id, version, raised(inner))  # no seal at all
    app = open_app(store_settings)
    try:
        assert app.snapshots is not None
        assert version not in [s.originator_version for s in app.snapshots.get(account_id)]
        assert app.snapshots_rejected == 0
        assert vars(app.get_account(world.premium)) == vars(replayed(app, account_id))
    finally:
        app.close()


def test_a_changed_seal_is_caught(store_settings: DatabaseSettings, world: World) -> None:
    """One hex digit of the seal changed, the bytes left alone: the snapshot is rejected."""
    account_id = CreditAccount.create_id(world.premium)
    version, state = snapshot_rows(store_settings, account_id)[-1]
    digit = state[8:9]
    write_state(
        store_settings, account_id, version, state[:8] + (b"0" if digit != b"0" else b"1")
        + state[9:],
    )  # fmt: skip
    app = open_app(store_settings)
    try:
        assert app.snapshots is not None
        assert version not in [s.originator_version for s in app.snapshots.get(account_id)]
        assert app.snapshots_rejected == 1
    finally:
        app.close()


def test_without_a_key_snapshots_are_neither_written_nor_read(
    store_settings: DatabaseSettings,
) -> None:
    """`LEDGER_SNAPSHOT_KEY` empty: a long account stream writes no snapshot, and the sealed
    ones already stored are not read (every aggregate is replayed from its events)."""
    app = open_app(store_settings, "")
    try:
        world = build_world(app)
        account_id = CreditAccount.create_id(world.premium)
        for n in range(60):
            app.consume_credits(
                world.premium, points=Decimal(1), activity="a", key=f"n{n}",
                at=at(3, 3) + timedelta(minutes=n),
            )  # fmt: skip
        assert snapshot_rows(store_settings, account_id) == []
    finally:
        app.close()
    keyed = open_app(store_settings)
    try:
        keyed.consume_credits(
            world.premium, points=Decimal(1), activity="a", key="keyed", at=at(3, 4)
        )
        for n in range(50):
            keyed.consume_credits(
                world.premium, points=Decimal("0.01"), activity="a", key=f"m{n}", at=at(3, 4)
            )
    finally:
        keyed.close()
    assert snapshot_rows(store_settings, account_id) != []
    keyless = open_app(store_settings, "")
    try:
        assert keyless.snapshots is not None
        assert list(keyless.snapshots.get(account_id)) == []
        assert vars(keyless.get_account(world.premium)) == vars(replayed(keyless, account_id))
    finally:
        keyless.close()
