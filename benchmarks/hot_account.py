"""One hot account: consumptions on a single credit account over HTTP, open loop.

A real `ledger serve` with --workers processes (2 by default) on each store (a SQLite file of
its own, a PostgreSQL schema of its own, dropped afterwards), one Premium contract with enough
points for the whole run, and a finance token. --clients senders `POST
/api/v1/contracts/{id}/credits/consumptions` (1 point, a new idempotency key each) at --rate
requests per second, open loop: request i is due at start + i / rate whatever happened before,
and its latency counts from that instant (no coordinated omission; the driver, the server's
start-up and the minimal HTTP client are benchmarks/_http_load.py's, shared with http.py).
Every consumption conflicts with the ones in flight on the same account, so this measures how
conflicts are settled inside the server.
Prints each run's counts of 2xx / 409 / other answers and p50 / p99 / max, then the medians.

The baseline in the same run: with --baseline-ref REF (a git commit or branch, e.g. `main`
before this change), the same load on a server running that commit's `src/` (extracted with
`git archive`, put first on PYTHONPATH), on a fresh store of the same shape.
Goal: no 409 and p99 under 500 ms at 200 requests/s with 2 workers, on both stores.

Usage: python -P benchmarks/hot_account.py [--rate 200] [--duration 10] [--warmup 2]
           [--workers 2] [--clients 50] [--repeat 1] [--stores sqlite,postgresql]
           [--baseline-ref main] [--pg postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import statistics
import sys
import tempfile
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ledger.application import SupportLedger
from ledger.logs import configure_logging
from ledger.settings import DatabaseSettings, parse_database_url

sys.path.append(str(Path(__file__).resolve().parent))  # last: it shadows nothing there
import _http_load as http_load
from _baseline import extract

if TYPE_CHECKING:
    from uuid import UUID

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Run:
    """One measured run: answers by kind and the latencies."""

    mode: str
    store: str
    seconds: float
    latencies: list[float]
    answers: Counter[str] = field(default_factory=Counter)

    @property
    def sent(self) -> int:
        return len(self.latencies)

    def percentile(self, percent: float) -> float:
        """Nearest-rank percentile of the latencies, in milliseconds."""
        return http_load.percentile(self.latencies, percent) * 1000


# -- the stores ----------------------------------------------------------------------------------


def fresh_store(store: str, pg: str, folder: Path) -> tuple[DatabaseSettings, str]:
    """Settings and URL of a new, empty store."""
    if store == "sqlite":
        url = f"sqlite:///{folder / f'hot-{uuid.uuid4().hex[:8]}.db'}"
        return parse_database_url(url), url
    settings = http_load.fresh_schema(parse_database_url(pg), "bench_hot")
    return settings, http_load.url_of(settings)


def build_account(settings: DatabaseSettings, points: int) -> tuple[UUID, str]:
    """One Premium contract in force with at least `points` points, and a finance token."""
    app = SupportLedger(settings=settings)
    try:
        signed = datetime.now(UTC) - timedelta(days=30)
        contract = app.sign_contract(
            customer="Hot account", tier="premium", licenses=points // 32 + 1,
            license_kind="commercial", list_price=Decimal(40000), start=signed.date(), at=signed,
        )  # fmt: skip
    finally:
        app.close()
    return contract, http_load.token(settings, "finance", "benchmarks/hot_account.py")


# -- the load ----------------------------------------------------------------------------------


def measure(
    store: str, mode: str, args: argparse.Namespace, pythonpath: str | None
) -> Run:  # fmt: skip
    """The load on one fresh store, against a server of `mode`'s code."""
    total = int(args.rate * (args.warmup + args.duration)) + 10
    settings, url = fresh_store(store, args.pg, args.folder)
    try:
        contract, token = build_account(settings, total)
        log = args.folder / f"serve-{store}-{mode}.log"
        server = http_load.serve(url, args.workers, log, pythonpath=pythonpath)
        base, _pid = next(server)
        try:
            return asyncio.run(load(base, token, contract, store=store, mode=mode, args=args))
        finally:
            server.close()
    finally:
        http_load.drop_schema(settings)


async def load(
    base: str, token: str, contract: UUID, *, store: str, mode: str, args: argparse.Namespace
) -> Run:
    """Warm up (not counted), then the measured open-loop run."""
    raw = http_load.RawClient(base, token)
    path = f"/api/v1/contracts/{contract}/credits/consumptions"
    tag = uuid.uuid4().hex[:8]
    answers: Counter[str] = Counter()

    async def send(n: int) -> str | None:
        body: dict[str, Any] = {"points": "1", "activity": "hot account", "key": f"{tag}-{n}"}
        try:
            status = await raw.post(path, body)
        except (OSError, asyncio.IncompleteReadError) as exc:
            answers[type(exc).__name__] += 1
            return type(exc).__name__
        kind = "2xx" if 200 <= status < 300 else str(status)
        answers[kind] += 1
        return None if kind == "2xx" else kind

    await http_load.drive(send, rate=args.rate, seconds=args.warmup, clients=args.clients)
    answers.clear()
    warm = int(args.rate * args.warmup)
    _ok, seconds, latencies, _errors = await http_load.drive(
        send, rate=args.rate, seconds=args.duration, clients=args.clients, first=warm
    )
    raw.close()
    return Run(mode, store, seconds, latencies, answers)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="target requests per second")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--clients", type=int, default=50, help="concurrent senders")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--repeat", type=int, default=1, help="runs per store and code")
    parser.add_argument("--stores", default="sqlite,postgresql", help="stores to run on")
    parser.add_argument("--baseline-ref", default=None, help="git ref to compare with")
    parser.add_argument(
        "--pg",
        default=os.environ.get(
            "LEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    # snapshots written and read under a key, as in production (and as `make bench` does)
    os.environ.setdefault("LEDGER_SNAPSHOT_KEY", "benchmark-snapshot-key-0123456789abcdef")
    args.folder = Path(tempfile.mkdtemp(prefix="ledger-bench-hot-"))
    configure_logging("console", "warning")
    modes: list[tuple[str, str | None]] = [("this tree", None)]
    if args.baseline_ref:
        modes.insert(0, (f"baseline {args.baseline_ref}", extract(args.baseline_ref, args.folder)))
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores; "
          f"{args.rate:g} consumptions/s on one account for {args.duration:g} s "
          f"(+{args.warmup:g} s warm-up), {args.clients} senders, {args.workers} workers; "
          f"server logs in {args.folder}")  # fmt: skip
    runs: dict[tuple[str, str], list[Run]] = {}
    try:
        for _ in range(args.repeat):
            for store in args.stores.split(","):
                for mode, pythonpath in modes:
                    done = measure(store, mode, args, pythonpath)
                    runs.setdefault((store, mode), []).append(done)
                    print(f"  {store:<10} {mode:<16} sent {done.sent}  answers "
                          f"{dict(sorted(done.answers.items()))}  p50 {done.percentile(50):.0f} "
                          f"ms  p99 {done.percentile(99):.0f} ms  max "
                          f"{max(done.latencies) * 1000:.0f} ms")  # fmt: skip
    finally:
        shutil.rmtree(args.folder / "baseline", ignore_errors=True)
    print()
    print(f"medians of {args.repeat} run(s), {args.rate:g}/s on one account, {args.workers} "
          "workers, open loop:")  # fmt: skip
    print("| store | code | sent | 2xx | 409 | other | p50 ms | p99 ms | max ms | goal met |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for (store, mode), done in runs.items():
        answers: Counter[str] = Counter()
        for r in done:
            answers.update(r.answers)
        other = sum(n for kind, n in answers.items() if kind not in {"2xx", "409"})
        p99 = statistics.median(r.percentile(99) for r in done)
        print(
            f"| {store} | {mode} | {sum(r.sent for r in done)} | {answers['2xx']} "
            f"| {answers['409']} | {other} "
            f"| {statistics.median(r.percentile(50) for r in done):.0f} | {p99:.0f} "
            f"| {statistics.median(max(r.latencies) for r in done) * 1000:.0f} "
            f"| {'yes' if answers['409'] == 0 and other == 0 and p99 < 500 else 'no'} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
