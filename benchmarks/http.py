"""Opening tickets over HTTP at a target rate, beside the same use case called in process.

A real `ledger serve` process (1 and 2 uvicorn workers) on PostgreSQL, a schema of its own per
run (dropped afterwards) holding the catalog and --contracts Premium contracts in force, each
with a named contact. 50 clients (--clients) send `POST /api/v1/tickets` with an agent's
bearer token, open loop: request i is due at start + i / rate whatever happened before, a
client takes the next request due as soon as it is free, and latency is counted from the
instant the request was due (not from when a client got to send it), so queueing behind slow
answers shows in the figures instead of lowering the rate (no coordinated omission). The
baseline, in the same run: `SupportLedger.open_ticket` called in this process by 50 threads
on the same schedule. Each run warms up for --warmup seconds first (not counted). Prints each
run (with the CPU the server's processes and the load generator used per request), then the
median over --repeat runs of the achieved rate and the p50 / p99 / max latency per mode.
Goal: p99 at most 100 ms at 200 requests/s.

The load generator runs on the same machine as the server and PostgreSQL, so its own CPU is
taken from them: by default it is a minimal keep-alive HTTP/1.1 client (about 0.2 ms of CPU
per request); `--client httpx` uses httpx.AsyncClient instead (4-6 ms per request here, which
alone saturates 2 cores at 200 requests/s).

Usage: python -P benchmarks/http.py [--rate 200] [--duration 10] [--clients 50]
           [--workers 1,2] [--repeat 3] [--contracts 200] [--warmup 2] [--log-level info]
           [--client raw|httpx] [--no-baseline] [--timeline]
           [--pg postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the standard library's `http`, which httpx imports: run as a script,
# its own folder would come first on sys.path and shadow it (A005: the name is the issue's).
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)


import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import httpx

from ledger.application import SupportLedger
from ledger.logs import configure_logging
from ledger.settings import DatabaseSettings, parse_database_url

sys.path.append(str(Path(__file__).resolve().parent))  # last: it shadows nothing there
import _http_load as http_load

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

TIMELINE: list[tuple[float, float]] | None = None  # (due second, latency) with --timeline


@dataclass
class Run:
    """One measured run: what was sent, what came back, how long each took."""

    mode: str
    sent: int
    ok: int
    seconds: float
    latencies: list[float]
    errors: Counter[str] = field(default_factory=Counter)
    server_cpu: float = 0.0  # CPU seconds of the server's processes while measuring
    client_cpu: float = 0.0  # CPU seconds of this process (the load generator) while measuring

    @property
    def rate(self) -> float:
        return self.ok / self.seconds

    def cpu_ms(self, seconds: float) -> float:
        """CPU milliseconds per request sent."""
        return 1000 * seconds / max(self.sent, 1)

    def percentile(self, percent: float) -> float:
        """Nearest-rank percentile of the latencies, in milliseconds."""
        return http_load.percentile(self.latencies, percent) * 1000


# -- in process ------------------------------------------------------------------------------


def measure(
    mode: str, send: Callable[[int], Awaitable[str | None]], args: argparse.Namespace
) -> Run:
    """A warm-up (not counted), then the measured run on the same schedule."""
    warm = int(args.rate * args.warmup)

    async def both() -> Run:
        await http_load.drive(send, rate=args.rate, seconds=args.warmup, clients=args.clients)
        before = time.process_time()
        ok, seconds, latencies, errors = await http_load.drive(
            send, rate=args.rate, seconds=args.duration, clients=args.clients, first=warm,
            timeline=TIMELINE,
        )  # fmt: skip
        used = time.process_time() - before
        return Run(mode, len(latencies), ok, seconds, latencies, errors, used, used)

    return asyncio.run(both())


def in_process(settings: DatabaseSettings, args: argparse.Namespace) -> Run:
    """SupportLedger.open_ticket called by `clients` threads on the open-loop schedule."""
    app = SupportLedger(settings=settings)
    world = http_load.build_world(app, args.contracts)
    pool = ThreadPoolExecutor(max_workers=args.clients)
    tag = uuid.uuid4().hex[:8]

    def call(n: int) -> str | None:
        body = http_load.request_body(world, n, tag)
        try:
            opening = app.open_ticket(
                contract_id=world[n % len(world)][0], reporter=body["reporter"],
                severity=body["severity"], version=http_load.VERSION, platform="linux",
                key=body["key"], at=datetime.now(UTC),
            )  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - counted and reported
            return type(exc).__name__
        return None if opening.recorded else "not_recorded"

    async def send(n: int) -> str | None:
        return await asyncio.get_running_loop().run_in_executor(pool, call, n)

    try:
        return measure("in process", send, args)
    finally:
        pool.shutdown()
        app.close()


# -- over HTTP -------------------------------------------------------------------------------------


def over_http(settings: DatabaseSettings, workers: int, args: argparse.Namespace) -> Run:
    """POST /api/v1/tickets to a `ledger serve` with `workers` processes."""
    app = SupportLedger(settings=settings)
    try:
        world = http_load.build_world(app, args.contracts)
    finally:
        app.close()
    token = http_load.token(settings, "agent", "benchmarks/http.py")
    tag = uuid.uuid4().hex[:8]
    log = args.logs / f"serve-{workers}.log"
    server = http_load.serve(http_load.url_of(settings), workers, log, log_level=args.log_level)
    base, pid = next(server)
    mode = f"HTTP ({args.client}), {workers} worker{'s' if workers > 1 else ''}"
    try:

        async def run() -> Run:
            limits = httpx.Limits(max_connections=args.clients,
                                  max_keepalive_connections=args.clients)  # fmt: skip
            headers = {"Authorization": f"Bearer {token}"}
            raw = http_load.RawClient(base, token)
            async with httpx.AsyncClient(base_url=base, limits=limits, headers=headers,
                                         timeout=60) as client:  # fmt: skip

                async def send(n: int) -> str | None:
                    body = http_load.request_body(world, n, tag)
                    try:
                        if args.client == "raw":
                            status = await raw.post("/api/v1/tickets", body)
                        else:
                            status = (await client.post("/api/v1/tickets", json=body)).status_code
                    except (httpx.HTTPError, OSError, asyncio.IncompleteReadError) as exc:
                        return type(exc).__name__
                    return None if status == 201 else f"HTTP {status}"

                warm = int(args.rate * args.warmup)
                await http_load.drive(
                    send, rate=args.rate, seconds=args.warmup, clients=args.clients
                )
                server_before, client_before = http_load.cpu_seconds(pid), time.process_time()
                ok, seconds, latencies, errors = await http_load.drive(
                    send, rate=args.rate, seconds=args.duration, clients=args.clients,
                    first=warm, timeline=TIMELINE,
                )  # fmt: skip
                server_cpu = http_load.cpu_seconds(pid) - server_before
                client_cpu = time.process_time() - client_before
                raw.close()
                return Run(mode, len(latencies), ok, seconds, latencies, errors, server_cpu,
                           client_cpu)  # fmt: skip

        return asyncio.run(run())
    finally:
        server.close()


# -- main --------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="target requests per second")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients")
    parser.add_argument(
        "--workers", default="1,2", help="uvicorn workers to try, e.g. 1,2 ('' for none)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per mode (medians)")
    parser.add_argument("--contracts", type=int, default=200, help="contracts tickets go to")
    parser.add_argument("--log-level", default="info", help="the server's LEDGER_LOG_LEVEL")
    parser.add_argument(
        "--client", choices=("raw", "httpx"), default="raw",
        help="load generator: a minimal keep-alive HTTP/1.1 client, or httpx.AsyncClient",
    )  # fmt: skip
    parser.add_argument(
        "--no-baseline", dest="baseline", action="store_false", help="skip the in-process runs"
    )
    parser.add_argument(
        "--pg",
        default=os.environ.get(
            "LEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument(
        "--timeline", action="store_true", help="print each measured second's worst latency"
    )
    args = parser.parse_args()
    global TIMELINE  # noqa: PLW0603 - the driver appends to it when asked for
    TIMELINE = [] if args.timeline else None
    args.logs = Path(tempfile.mkdtemp(prefix="ledger-bench-http-"))
    configure_logging("console", "warning")
    base = parse_database_url(args.pg)
    print(f"python {platform.python_version()} on {platform.machine()}, "
          f"{os.cpu_count()} cores; target {args.rate:g} requests/s for {args.duration:g} s "
          f"(+{args.warmup:g} s warm-up), {args.clients} clients, {args.contracts} contracts, "
          f"server log level {args.log_level}; server logs in {args.logs}")  # fmt: skip
    modes: list[tuple[str, Callable[[DatabaseSettings], Run]]] = [
        *([("in process", lambda s: in_process(s, args))] if args.baseline else []),
        *[
            (f"http-{w}", lambda s, w=int(w): over_http(s, w, args))
            for w in args.workers.split(",")
            if w.strip()
        ],
    ]
    runs: dict[str, list[Run]] = {}
    for repeat in range(args.repeat):
        for key, measured in modes:
            settings = http_load.fresh_schema(base)
            try:
                done = measured(settings)
            finally:
                http_load.drop_schema(settings)
            runs.setdefault(done.mode, []).append(done)
            print(f"  run {repeat + 1} {done.mode:<18} {done.rate:7.1f}/s  "
                  f"p50 {done.percentile(50):7.1f} ms  p99 {done.percentile(99):7.1f} ms  "
                  f"max {max(done.latencies) * 1000:7.1f} ms  errors {dict(done.errors) or 0}  "
                  f"CPU/request: server {done.cpu_ms(done.server_cpu):.2f} ms, load generator "
                  f"{done.cpu_ms(done.client_cpu):.2f} ms  [{key}]")  # fmt: skip
            if TIMELINE is not None:
                worst: dict[int, float] = {}
                for second, latency in TIMELINE:
                    worst[int(second)] = max(worst.get(int(second), 0.0), latency)
                print("    worst latency per second, ms:",
                      " ".join(f"{worst[k] * 1000:.0f}" for k in sorted(worst)))  # fmt: skip
                TIMELINE.clear()
    print()
    print(f"medians of {args.repeat} runs, target {args.rate:g}/s, open loop, "
          f"{args.clients} clients:")  # fmt: skip
    print("| mode | achieved/s | p50 ms | p99 ms | max ms | errors | p99 <= 100 ms "
          "| server CPU ms/request |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---|---:|")
    for mode, done in runs.items():
        p99 = statistics.median(r.percentile(99) for r in done)
        print(
            f"| {mode} | {statistics.median(r.rate for r in done):.1f} "
            f"| {statistics.median(r.percentile(50) for r in done):.1f} "
            f"| {p99:.1f} "
            f"| {statistics.median(max(r.latencies) for r in done) * 1000:.1f} "
            f"| {sum(sum(r.errors.values()) for r in done)} "
            f"| {'yes' if p99 <= 100 else 'no'} "
            f"| {statistics.median(r.cpu_ms(r.server_cpu) for r in done):.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
