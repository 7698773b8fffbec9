"""The eventsourcing functions ledger overrides or relies on are the ones last checked."""

from __future__ import annotations

import inspect

import pytest
from eventsourcing.application import Application
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder

from ledger.store.application import LedgerApplication
from ledger.store.fingerprints import FINGERPRINTS, Fingerprint, changed, report
from ledger.store.recorders import PostgresLedgerRecorder, SQLiteLedgerRecorder


def test_the_installed_library_is_the_one_ledgers_overrides_were_checked_against() -> None:
    """Each fingerprinted function's source hashes as recorded; else it names what to re-check."""
    moved = changed()
    assert not moved, report(moved)


def test_a_changed_source_is_reported_with_where_ours_lives() -> None:
    """A fingerprint that no longer matches the installed source is named, with our code."""
    real = FINGERPRINTS[0]
    stale = Fingerprint(real.name, "0" * 64, "ours.module:Class.method")
    assert changed((real, stale)) == [stale]
    assert report([stale]).splitlines()[1] == f"- {real.name}: ours in ours.module:Class.method"


@pytest.mark.parametrize(
    ("ours", "library"),
    [
        (SQLiteLedgerRecorder, SQLiteApplicationRecorder),
        (PostgresLedgerRecorder, PostgresApplicationRecorder),
        (LedgerApplication, Application),
    ],
    ids=["sqlite", "postgres", "application"],
)
def test_every_library_method_the_store_overrides_is_fingerprinted(
    ours: type, library: type
) -> None:
    """A method of a store class that replaces one of the library's has a fingerprint."""
    ancestors = {cls.__name__ for cls in library.__mro__}
    fingerprinted = {
        method
        for f in FINGERPRINTS
        for owner, method in [f.name.split(":")[1].split(".", 1)]
        if owner in ancestors
    }
    overridden = {
        name
        for name, value in vars(ours).items()
        if inspect.isfunction(value) and hasattr(library, name)
    }
    assert overridden
    assert overridden <= fingerprinted
