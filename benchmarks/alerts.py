"""Alert delivery lag: from a fact's recording to its receiver's 2xx, with many subscriptions.

Two phases in one run, each on a fresh store (a SQLite file, or a PostgreSQL schema of its
own), with a real `ledger alerts run` worker process and a local webhook receiver answering
200 at once:
1. the baseline: ONE subscription, --baseline-facts facts;
2. the goal: --subscriptions subscriptions (webhooks, each filtered to one customer name, so
   every fact is matched against all of them and reaches exactly one), --facts facts.
Facts are declined support requests (`ticket_declined`, one event per command) of 20
customers, recorded by this process at --rate facts per second. Each message's lag is
`delivered_at - recorded_at` (the event's recording instant to the acknowledgement), split
into the outbox's part (`queued_at - recorded_at`). Prints p50 / p90 / p99 / max of both
phases side by side. Goal: p99 <= 2 s with 1,000 subscriptions and 10,000 facts. Usage:
  python -P benchmarks/alerts.py --store sqlite
  python -P benchmarks/alerts.py --store postgresql --facts 10000 --subscriptions 1000
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ledger.alerts.channels import AlertSettings
from ledger.alerts.service import subscribe
from ledger.application import SupportLedger
from ledger.logs import configure_logging
from ledger.projections.db import ViewDatabase
from ledger.settings import DatabaseSettings, parse_database_url
from ledger.store import connect

LEDGER = str(Path(sys.executable).parent / "ledger")
CUSTOMERS = 20
GOAL_P99 = 2.0


class Receiver:
    """A webhook receiver on 127.0.0.1 answering 200 to everything, counting requests."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.count += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def fresh_store(kind: str, base: str, folder: Path) -> DatabaseSettings:
    if kind == "sqlite":
        return parse_database_url(f"sqlite:///{folder / f'alerts-{uuid.uuid4().hex[:6]}.db'}")
    settings = parse_database_url(base)
    schema = f"bench_alerts_{uuid.uuid4().hex[:8]}"
    with connect(settings) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return settings.with_schema(schema)


def drop_store(settings: DatabaseSettings) -> None:
    if settings.backend == "postgresql":
        with connect(settings) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{settings.schema}" CASCADE')


def url_of(settings: DatabaseSettings) -> str:
    if settings.backend == "sqlite":
        return f"sqlite:///{settings.path}"
    password = f":{settings.password}" if settings.password else ""
    return (
        f"postgresql://{settings.user}{password}@{settings.host}:{settings.port}/"
        f"{settings.dbname}?schema={settings.schema}"
    )


def outbox_tables(db: ViewDatabase) -> None:
    from ledger.alerts.outbox import ensure_outbox  # noqa: PLC0415 - the worker may be later

    ensure_outbox(db)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def phase(
    kind: str, base: str, folder: Path, *, subscriptions: int, facts: int, rate: float
) -> dict[str, float]:
    """One phase: subscriptions, a worker, facts at `rate`; the lags when all are delivered."""
    settings = fresh_store(kind, base, folder)
    app = SupportLedger(settings=settings)
    receiver = Receiver()
    db = ViewDatabase(settings)
    worker = None
    try:
        now = datetime.now(UTC)
        contracts = [
            app.sign_contract(
                customer=f"Bench {c:04d}", tier="premium", licenses=1,
                license_kind="commercial", list_price=Decimal(1000),
                start=date(now.year - 1, 1, 1), at=datetime(now.year - 1, 1, 1, tzinfo=UTC),
            )
            for c in range(CUSTOMERS)
        ]  # fmt: skip
        config = AlertSettings(allow_private=True)
        for s in range(subscriptions):
            subscribe(
                app, db, kinds=["ticket_declined"], webhook=receiver.url, secret="x" * 24,
                customer=None if subscriptions == 1 else f"Bench {s:04d}", actor="bench",
                at=now, settings=config,
            )  # fmt: skip
        env = {**os.environ, "LEDGER_DATABASE_URL": url_of(settings),
               "LEDGER_ALERTS_ALLOW_PRIVATE": "1", "LEDGER_LOG_LEVEL": "warning"}  # fmt: skip
        worker = subprocess.Popen(
            [LEDGER, "alerts", "run", "--poll", "0.1"], env=env,
            stdout=subprocess.DEVNULL, stderr=sys.stderr,
        )  # fmt: skip
        started = time.perf_counter()
        for n in range(facts):
            app.open_ticket(
                contract_id=contracts[n % CUSTOMERS], reporter="stranger@elsewhere.example",
                version="24.2.1", platform="linux", at=datetime.now(UTC), key=f"D-{n}",
            )  # fmt: skip
            ahead = started + (n + 1) / rate - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
        written = time.perf_counter() - started
        deadline = time.monotonic() + 600
        outbox_tables(db)
        while True:
            done = db.read("SELECT COUNT(*) FROM alert_messages WHERE status = 'delivered'")
            if int(done[0][0]) >= facts or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        rows = db.read(
            "SELECT recorded_at, queued_at, delivered_at FROM alert_messages "
            "WHERE status = 'delivered'"
        )
        lags = [(r[2] - r[0]) / 1e6 for r in rows]
        outbox = [(r[1] - r[0]) / 1e6 for r in rows]
        return {
            "delivered": len(rows), "expected": facts, "received": receiver.count,
            "rate": facts / written, "p50": percentile(lags, 0.5),
            "p90": percentile(lags, 0.9), "p99": percentile(lags, 0.99), "max": max(lags),
            "mean": statistics.fmean(lags), "outbox_p50": percentile(outbox, 0.5),
            "outbox_p99": percentile(outbox, 0.99),
        }  # fmt: skip
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
        db.close()
        receiver.close()
        app.close()
        drop_store(settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--subscriptions", type=int, default=1000)
    parser.add_argument("--facts", type=int, default=10_000)
    parser.add_argument("--baseline-facts", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=100.0, help="facts recorded per second")
    args = parser.parse_args()
    configure_logging("console", "warning")
    python = platform.python_version()
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {python}, "
          f"store {args.store}, facts at {args.rate:g}/s")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        base = phase(args.store, args.postgres, Path(folder), subscriptions=1,
                     facts=args.baseline_facts, rate=args.rate)  # fmt: skip
        goal = phase(args.store, args.postgres, Path(folder), subscriptions=args.subscriptions,
                     facts=args.facts, rate=args.rate)  # fmt: skip
    print(f"{'lag (s), fact recorded -> receiver 2xx':42} {'1 subscription':>16} "
          f"{f'{args.subscriptions} subscriptions':>20}")  # fmt: skip
    for key in ("p50", "p90", "p99", "max", "mean", "outbox_p50", "outbox_p99"):
        print(f"{key:42} {base[key]:16.3f} {goal[key]:20.3f}")
    for key in ("expected", "delivered", "received", "rate"):
        print(f"{key:42} {base[key]:16.0f} {goal[key]:20.0f}")
    verdict = (
        "met" if goal["p99"] <= GOAL_P99 and goal["delivered"] == goal["expected"] else "MISSED"
    )
    print(f"goal p99 <= {GOAL_P99} s with {args.subscriptions} subscriptions and {args.facts} "
          f"facts: {verdict}")  # fmt: skip


if __name__ == "__main__":
    main()
