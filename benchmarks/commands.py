"""Commands per second: SupportLedger beside the bare eventsourcing library, same run, same store.

Two commands are measured on SQLite (a file) and on PostgreSQL (a schema of its own, dropped at
the end):
- open-ticket: eligibility, deadline and warnings checked against the contract and the
  release catalog it reads, the ticket saved (1 event per command);
- consume-credits: draw from the lots; the account's event and the consumption record keyed
  by the idempotency key saved together (2 events per command).
The baselines write the same number of events per command (counted in the log on a warm-up
before the runs) with a minimal aggregate and one save per command, in the same process
against the same store and settings (file or schema,
pool size, pre-ping), interleaved with the measured commands in chunks of --chunk commands (each
chunk in another order, so that a slow stretch of a noisy machine falls on all three alike):
- library: the bare eventsourcing library as it ships (its recorders, transcoder and SQLite
  pool); the former goal of 0.8x its rate is withdrawn (issue 13): the figures are
  information, the goals that count are the user-visible ones in docs/performance.md;
- tuned: the same, with SupportLedger's store set-up (its recorders, which check read
  versions at commit and link the audit chain; the pool and transcoder are the library's,
  see ledger.store): the
  ratio to it is what ledger's rules and bookkeeping cost.
And the write cost of the audit chain (issue 17: each save links its events in its own
transaction): the same SupportLedger commands with recorders that skip the linking
("unchained", as before issue 17), on a store of their own (a second file or schema, the
same settings: their events would leave the chain behind the log, which the chained
recorders refuse; the library's baseline writes there too, for the same reason),
interleaved in the same chunks; the ratio is chained/s over unchained/s.
Medians of --repeat runs. After the rates, the CPU time of the benchmark's thread per command
(what the rules and the bookkeeping cost beside the bare save, without the disk's waits).

Usage: python benchmarks/commands.py [--n 2000] [--repeat 3] [--contracts 50] [--chunk 100]
           [--stores sqlite,postgresql] [--pg postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/calendar.py would shadow the standard library's calendar module (see its header).
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import argparse
import platform
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from ledger.application import SupportLedger
from ledger.logs import configure_logging
from ledger.settings import DatabaseSettings, parse_database_url
from ledger.store import (
    LedgerTranscoder,
    PostgresLedgerRecorder,
    SQLiteLedgerRecorder,
    connect,
    tune_factory,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from eventsourcing.persistence import InfrastructureFactory, Transcoder
    from eventsourcing.utils import Environment


class Note(Aggregate):
    """The baseline's minimal aggregate."""

    @event("Written")
    def __init__(self, text: str) -> None:
        self.text = text

    @event("Amended")
    def amend(self, text: str) -> None:
        self.text = text


class Library(Application[uuid.UUID]):
    """The bare library, as it ships, on the same store as SupportLedger."""

    name = "bare"


class Bare(Library):
    """The bare library on the same store as SupportLedger, set up the same way."""

    def construct_factory(self, env: Environment) -> InfrastructureFactory[Any]:
        return tune_factory(super().construct_factory(env))

    def construct_transcoder(self) -> Transcoder:
        transcoder = LedgerTranscoder()
        self.register_transcodings(transcoder)
        return transcoder


class UnchainedSQLiteRecorder(SQLiteLedgerRecorder):
    """Ledger's SQLite recorder as before issue 17: nothing linked with the events."""

    def _link(self, *_: Any) -> None:
        return None


class UnchainedPostgresRecorder(PostgresLedgerRecorder):
    """Ledger's PostgreSQL recorder as before issue 17: nothing linked with the events."""

    def _link(self, *_: Any) -> None:
        return None


def unchained_env(settings: DatabaseSettings) -> dict[str, str]:
    """The store's settings with the recorders that skip the chain (this script's own)."""
    recorder = (
        UnchainedSQLiteRecorder if settings.backend == "sqlite" else UnchainedPostgresRecorder
    )
    return {"APPLICATION_RECORDER_TOPIC": f"{__name__}:{recorder.__name__}"}


START = datetime(2025, 3, 3, 8, tzinfo=UTC)


def setup_world(app: SupportLedger, contracts: int) -> list[uuid.UUID]:
    app.publish_release("24.2.1", prerelease=False, at=datetime(2025, 2, 3, tzinfo=UTC))
    ids = []
    for n in range(contracts):
        contract_id = app.sign_contract(
            customer=f"Customer {n}", tier="premium", licenses=2, license_kind="commercial",
            list_price=Decimal(40000), start=date(2025, 1, 1), at=datetime(2025, 1, 2, tzinfo=UTC),
        )  # fmt: skip
        app.add_contact(contract_id, email="ops@example.com", at=datetime(2025, 1, 2, tzinfo=UTC))
        app.purchase_credits(
            contract_id, points=Decimal(100000), price=Decimal(1), key="load",
            at=datetime(2025, 1, 3, tzinfo=UTC),
        )  # fmt: skip
        ids.append(contract_id)
    return ids


def run_open_tickets(app: SupportLedger, ids: list[uuid.UUID], n: int, first: int) -> None:
    """`n` open-ticket commands, numbered from `first` (their keys and instants)."""
    rng = random.Random(first)
    for i in range(first, first + n):
        app.open_ticket(
            contract_id=rng.choice(ids), reporter="ops@example.com", version="24.2.1",
            platform="linux", severity=rng.randint(1, 3), key=f"r{i}",
            at=START + timedelta(seconds=i),
        )  # fmt: skip


def run_consumptions(app: SupportLedger, ids: list[uuid.UUID], n: int, first: int) -> None:
    """`n` consume-credits commands, numbered from `first` (their keys and instants)."""
    rng = random.Random(first + 10**9)
    for i in range(first, first + n):
        app.consume_credits(
            rng.choice(ids), points=Decimal("1.5"), activity="load", key=f"c{i}",
            at=START + timedelta(seconds=i),
        )  # fmt: skip


def events_per_command(app: SupportLedger, run: Callable[[int], None], n: int = 50) -> int:
    """How many events one command records: `n` commands on a warm-up, counted in the log."""
    before = app.recorder.max_notification_id() or 0
    run(n)
    recorded = len(app.recorder.select_notifications(before + 1, 10 * n))
    if recorded % n:
        msg = f"{recorded} events for {n} commands: not the same number each"
        raise RuntimeError(msg)
    return recorded // n


def run_bare(app: Library, n: int, _first: int, events_per_command: int) -> None:
    """`n` saves of a new minimal aggregate with `events_per_command` events each."""
    for i in range(n):
        note = Note(f"note {i}")
        for _ in range(events_per_command - 1):
            note.amend("again")
        app.save(note)


def library_env(settings: DatabaseSettings) -> dict[str, str]:
    """The store's settings with the library's own recorder (ledger's checks read versions)."""
    env = settings.eventsourcing_env()
    env.pop("APPLICATION_RECORDER_TOPIC", None)
    return env


def measure(
    settings: DatabaseSettings, before: DatabaseSettings, args: argparse.Namespace
) -> dict[str, Any]:
    app = SupportLedger(settings=settings)
    unchained = SupportLedger(unchained_env(before), settings=before)
    bare = Bare(env=settings.eventsourcing_env())
    library = Library(env=library_env(before))  # unchained: beside the unchained ledger
    ids = setup_world(app, args.contracts)
    old_ids = setup_world(unchained, args.contracts)
    warm_up = -(10**6)  # keys and instants of its own, before the runs'
    counts = {
        "open": events_per_command(app, lambda n: run_open_tickets(app, ids, n, warm_up)),
        "consume": events_per_command(app, lambda n: run_consumptions(app, ids, n, warm_up + n)),
    }
    run_open_tickets(unchained, old_ids, 50, warm_up)
    run_consumptions(unchained, old_ids, 50, warm_up + 50)
    keys = (
        "open", "consume", "bare_open", "bare_consume", "lib_open", "lib_consume",
        "old_open", "old_consume",
    )  # fmt: skip
    rates: dict[str, list[float]] = {key: [] for key in keys}
    cpu: dict[str, list[float]] = {key: [] for key in keys}  # µs of this thread per command
    for run in range(args.repeat):
        for command, measured, before_measured in (
            (
                "open",
                partial(run_open_tickets, app, ids),
                partial(run_open_tickets, unchained, old_ids),
            ),
            (
                "consume",
                partial(run_consumptions, app, ids),
                partial(run_consumptions, unchained, old_ids),
            ),
        ):
            contenders = [
                (f"lib_{command}", partial(run_bare, library, events_per_command=counts[command])),
                (f"bare_{command}", partial(run_bare, bare, events_per_command=counts[command])),
                (f"old_{command}", before_measured),
                (command, measured),
            ]
            elapsed = dict.fromkeys((key for key, _ in contenders), 0.0)
            used = dict.fromkeys(elapsed, 0.0)
            # In chunks, taking turns, each chunk in another order: a slow stretch of the
            # machine (or a store that just took a chunk's commits) falls on all three alike.
            for number, start in enumerate(range(0, args.n, args.chunk)):
                size = min(args.chunk, args.n - start)
                shift = (run + number) % len(contenders)
                for key, chunk in contenders[shift:] + contenders[:shift]:
                    cpu_started, started = time.thread_time(), time.perf_counter()
                    chunk(size, run * args.n + start)
                    elapsed[key] += time.perf_counter() - started
                    used[key] += time.thread_time() - cpu_started
            for key in elapsed:
                rates[key].append(args.n / elapsed[key])
                cpu[key].append(used[key] / args.n * 1e6)
    app.close()
    unchained.close()
    bare.close()
    library.close()
    return (
        {k: statistics.median(v) for k, v in rates.items()}
        | {f"cpu_{k}": statistics.median(v) for k, v in cpu.items()}
        | {"events": counts}
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--contracts", type=int, default=50)
    parser.add_argument("--chunk", type=int, default=100)
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    configure_logging("json", "warning")

    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"machine: {platform.machine()}, {python}")
    print(f"{args.n} commands per run, {args.repeat} runs (medians), {args.contracts} contracts")
    header = (
        f"{'store':12}{'command':18}{'ledger/s':>10}{'library/s':>11}{'ratio':>8}"
        f"{'tuned/s':>10}{'ratio':>8}{'events':>8}"
    )
    print(f"{header}   (baselines: the same events per save)")
    results = []
    for store in args.stores.split(","):
        if store == "sqlite":
            folder = tempfile.mkdtemp(prefix="ledger-bench-")
            settings = parse_database_url(f"sqlite:///{Path(folder) / 'bench.db'}")
            before = parse_database_url(f"sqlite:///{Path(folder) / 'unchained.db'}")
            result = measure(settings, before, args)
        else:
            base = parse_database_url(args.pg)
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            with connect(base) as conn:
                conn.execute(f'CREATE SCHEMA "{schema}"')
                conn.execute(f'CREATE SCHEMA "{schema}_old"')
            try:
                result = measure(base.with_schema(schema), base.with_schema(f"{schema}_old"), args)
            finally:
                with connect(base) as conn:
                    conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
                    conn.execute(f'DROP SCHEMA "{schema}_old" CASCADE')
        results.append((store, result))
        for command, key in (("open-ticket", "open"), ("consume-credits", "consume")):
            ours, lib, bare = result[key], result[f"lib_{key}"], result[f"bare_{key}"]
            print(
                f"{store:12}{command:18}{ours:>10,.0f}{lib:>11,.0f}{ours / lib:>7.2f}x"
                f"{bare:>10,.0f}{ours / bare:>7.2f}x{result['events'][key]:>8}"
            )
    print("information only (the former goal of 0.8x the library is withdrawn, issue 13)")
    print()
    print("The audit chain linked in each save's transaction (issue 17), medians:")
    print(
        f"{'store':12}{'command':18}{'chained/s':>10}{'unchained/s':>13}{'ratio':>8}"
        f"{'CPU µs':>9}{'unchained':>11}{'ratio':>8}"
    )
    for store, result in results:
        for command, key in (("open-ticket", "open"), ("consume-credits", "consume")):
            ours, old = result[key], result[f"old_{key}"]
            cpu, old_cpu = result[f"cpu_{key}"], result[f"cpu_old_{key}"]
            print(
                f"{store:12}{command:18}{ours:>10,.0f}{old:>13,.0f}{ours / old:>7.2f}x"
                f"{cpu:>9.0f}{old_cpu:>11.0f}{cpu / old_cpu:>7.2f}x"
            )
    print()
    print("CPU of the benchmark's thread per command, µs (medians; the store's own threads aside):")
    print(f"{'store':12}{'command':18}{'ledger':>10}{'library':>11}{'tuned':>10}")
    for store, result in results:
        for command, key in (("open-ticket", "open"), ("consume-credits", "consume")):
            print(
                f"{store:12}{command:18}{result[f'cpu_{key}']:>10.0f}"
                f"{result[f'cpu_lib_{key}']:>11.0f}{result[f'cpu_bare_{key}']:>10.0f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
