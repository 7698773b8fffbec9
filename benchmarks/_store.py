"""What the read benchmarks share: the median of timed runs, and a fresh store to run on (a
SQLite file in a temporary folder, or a PostgreSQL schema of its own, dropped afterwards).

Imported by benchmarks/contract_list.py and benchmarks/contract_reads.py (which put this
folder last on `sys.path`).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ledger.settings import parse_database_url
from ledger.store import connect

if TYPE_CHECKING:
    from collections.abc import Callable

    from ledger.settings import DatabaseSettings

PG = "postgresql://postgres@127.0.0.1:5432/test"


def timed(action: Callable[[], object], repeat: int) -> float:
    """The median seconds of `repeat` runs after one untimed run."""
    action()
    rounds = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        rounds.append(time.perf_counter() - start)
    return statistics.median(rounds)


def on_fresh_store(store: str, name: str, run: Callable[[DatabaseSettings], None]) -> None:
    """Run `run` on a fresh store: a SQLite file (`store` "sqlite"), or the schema
    `name_<pid>` of the PostgreSQL database at LEDGER_BENCH_POSTGRES_URL (default: the local
    test database), dropped afterwards."""
    if store == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            run(parse_database_url(f"sqlite:///{Path(folder) / 'bench.db'}"))
        return
    base = parse_database_url(os.environ.get("LEDGER_BENCH_POSTGRES_URL", PG))
    schema = f"{name}_{os.getpid()}"
    with connect(base) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        run(base.with_schema(schema))
    finally:
        with connect(base) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
