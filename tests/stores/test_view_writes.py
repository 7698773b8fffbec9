"""The view database's bulk writes on both stores: rows appended, upserted and deleted come
back exactly, whatever the texts hold (PostgreSQL writes them by binary COPY and deletes by
array literals)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ledger.projections.db import ViewDatabase

AWKWARD = ["plain", "", 'a "quoted" word', "back\\slash", "{braces,comma}", "NULL", " spaced ",
           "é ünïcode", "tab\tand\nnewline"]  # fmt: skip
COLUMNS = ("name", "detail", "n", "big", "flag", "maybe")


@pytest.fixture
def table(db: ViewDatabase) -> str:
    name = "test_view_writes"
    with db.transaction() as tx:
        tx.execute(f"DROP TABLE IF EXISTS {name}")
        tx.execute(
            f"CREATE TABLE {name} (name TEXT NOT NULL, detail TEXT NOT NULL, n INTEGER, "
            "big BIGINT, flag BOOLEAN, maybe TEXT, PRIMARY KEY (name, detail))"
        )
    return name


def rows_of(db: ViewDatabase, table: str) -> list[tuple[object, ...]]:
    with db.transaction() as tx:
        found = tx.fetchall(f"SELECT {', '.join(COLUMNS)} FROM {table} ORDER BY name, detail")
    return [(*r[:4], None if r[4] is None else bool(r[4]), r[5]) for r in found]


def test_rows_appended_upserted_and_deleted_come_back_exactly(db: ViewDatabase, table: str) -> None:
    rows = [(text, f"d{i}", i, 2**62 + i, i % 2 == 0, None if i % 3 else text)
            for i, text in enumerate(AWKWARD)]  # fmt: skip
    with db.transaction() as tx:
        tx.append(table, COLUMNS, rows)
    assert rows_of(db, table) == sorted(rows)

    changed = [(text, f"d{i}", -i, None, None, "changed") for i, text in enumerate(AWKWARD[:4])]
    with db.transaction() as tx:
        tx.upsert(table, COLUMNS, changed, key=2)
    assert rows_of(db, table) == sorted(changed + rows[4:])

    gone = [(text, f"d{i}") for i, text in enumerate(AWKWARD) if i % 2]
    with db.transaction() as tx:
        tx.delete(table, ("name", "detail"), gone)
    kept = [r for r in sorted(changed + rows[4:]) if (r[0], r[1]) not in gone]
    assert rows_of(db, table) == kept
    assert len(kept) == len(AWKWARD) - len(gone)


def test_a_value_of_the_wrong_type_is_refused_and_nothing_is_written(
    db: ViewDatabase, table: str
) -> None:
    """A number where the table holds text is a mistake in the view's code: refused, the
    transaction rolled back."""
    if db.backend != "postgresql":
        pytest.skip("SQLite stores any value in any column")

    def write() -> None:
        with db.transaction() as tx:
            tx.append(table, COLUMNS, [("ok", "d", 1, 1, True, None)])
            tx.append(table, COLUMNS, [(1, "d", 1, 1, True, None)])

    with pytest.raises(TypeError):  # the binary COPY cannot write a number as text
        write()
    assert rows_of(db, table) == []


def test_an_upsert_after_a_rolled_back_first_one_writes(db: ViewDatabase, table: str) -> None:
    """The first upsert of a connection makes its staging table; when that transaction rolls
    back, the table goes with it and the next upsert makes it again."""

    def fail_after_upsert() -> None:
        with db.transaction() as tx:
            tx.upsert(table, COLUMNS, [("a", "d", 1, 1, True, None)], key=2)
            msg = "the batch failed after its upsert"
            raise RuntimeError(msg)

    with pytest.raises(RuntimeError):
        fail_after_upsert()
    with db.transaction() as tx:
        tx.upsert(table, COLUMNS, [("b", "d", 2, 2, False, "x")], key=2)
    with db.transaction() as tx:
        tx.upsert(table, COLUMNS, [("b", "d", 3, 3, True, "y")], key=2)
    assert rows_of(db, table) == [("b", "d", 3, 3, True, "y")]
