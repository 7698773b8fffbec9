"""What the HTTP benchmarks share (benchmarks/http.py, hot_account.py, board.py): a store of
their own, Premium contracts to open tickets on, a bearer token (`token`), a `ledger serve`
started and stopped, a minimal keep-alive HTTP/1.1 client, and the open-loop driver.

Open loop: request i is due at start + i / rate whatever happened before, a sender takes the
next request due as soon as it is free, and its latency is counted from the instant it was due
(not from when a sender got to send it), so queueing behind slow answers shows in the figures
instead of lowering the rate (no coordinated omission).

The scripts run with `python -P` (benchmarks/ off sys.path: http.py and calendar.py would
shadow the standard library) and find this module by appending their folder to sys.path.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from ledger.projections.db import ViewDatabase
from ledger.store import connect
from ledger.web.tokens import create_token

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator
    from uuid import UUID

    from ledger.application import SupportLedger
    from ledger.settings import DatabaseSettings

LEDGER = str(Path(sys.executable).parent / "ledger")
VERSION = "24.2.1"


def percentile(values: list[float], percent: float) -> float:
    """Nearest-rank percentile of `values`, in their unit."""
    ordered = sorted(values)
    return ordered[max(int(-(-percent * len(ordered) // 100)), 1) - 1]


# -- the store and the world ---------------------------------------------------------------------


def fresh_schema(base: DatabaseSettings, prefix: str = "bench_http") -> DatabaseSettings:
    """A new, empty PostgreSQL schema of `base`'s database (drop it with `drop_schema`)."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with connect(base) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return base.with_schema(schema)


def drop_schema(settings: DatabaseSettings) -> None:
    """Drop the schema of `settings` (PostgreSQL; a SQLite file is left to its folder)."""
    if settings.backend != "postgresql":
        return
    with connect(settings) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{settings.schema}" CASCADE')


def url_of(settings: DatabaseSettings) -> str:
    """The LEDGER_DATABASE_URL of a PostgreSQL schema."""
    password = f":{settings.password}" if settings.password else ""
    return (
        f"postgresql://{settings.user}{password}@{settings.host}:{settings.port}/"
        f"{settings.dbname}?schema={settings.schema}"
    )


def token(settings: DatabaseSettings, role: str, created_by: str) -> str:
    """A bearer token of `role` (the default expiry) on `settings`' tokens table, its text."""
    db = ViewDatabase(settings)
    try:
        return create_token(
            db, name="bench", role=role, at=datetime.now(UTC), created_by=created_by
        ).text
    finally:
        db.close()


def build_world(app: SupportLedger, contracts: int) -> list[tuple[UUID, str]]:
    """The catalog and Premium contracts in force now, each with one named contact."""
    now = datetime.now(UTC)
    signed = now - timedelta(days=30)
    app.publish_release(VERSION, prerelease=False, at=now - timedelta(days=60))
    world = []
    for n in range(contracts):
        contract = app.sign_contract(
            customer=f"Customer {n}", tier="premium", licenses=2, license_kind="commercial",
            list_price=Decimal(40000), start=signed.date(), at=signed,
        )  # fmt: skip
        contact = f"ops@c{n}.example"
        app.add_contact(contract, email=contact, at=signed)
        world.append((contract, contact))
    return world


def request_body(world: list[tuple[UUID, str]], n: int, tag: str) -> dict[str, Any]:
    """The body of the `n`th `POST /api/v1/tickets` (keys tagged with the run's `tag`)."""
    contract, contact = world[n % len(world)]
    return {
        "contract_id": str(contract), "reporter": contact, "severity": 1 + n % 3,
        "version": VERSION, "platform": "linux", "key": f"{tag}-{n}",
    }  # fmt: skip


# -- the open-loop driver ------------------------------------------------------------------------


async def drive(
    send: Callable[[int], Awaitable[str | None]], *, rate: float, seconds: float, clients: int,
    first: int = 0, timeline: list[tuple[float, float]] | None = None,
) -> tuple[int, float, list[float], Counter[str]]:  # fmt: skip
    """Send requests `first`.. at `rate` for `seconds` with `clients` senders; each latency is
    measured from the instant its request was due. `send` returns None or an error name;
    `timeline` (when given) gets (due second, latency) of each request."""
    total = int(rate * seconds)
    start = time.perf_counter() + 0.1
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    ok = 0
    cursor = iter(range(total))

    async def client() -> None:
        nonlocal ok
        for i in cursor:
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            error = await send(first + i)
            latencies.append(time.perf_counter() - due)
            if timeline is not None:
                timeline.append((i / rate, latencies[-1]))
            if error is None:
                ok += 1
            else:
                errors[error] += 1

    await asyncio.gather(*(client() for _ in range(clients)))
    return ok, time.perf_counter() - start, latencies, errors


# -- the server and the client ---------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by process `pid` and its children (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(stat.parent.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(
    url: str, workers: int, log: Path, *, log_level: str = "warning", pythonpath: str | None = None
) -> Iterator[tuple[str, int]]:
    """`ledger serve --workers N` on the store at `url` until the generator is closed; yields
    its base URL and process id. With `pythonpath` the server runs that code (a baseline)."""
    port = free_port()
    env = {**os.environ, "LEDGER_DATABASE_URL": url, "LEDGER_LOG_FORMAT": "json",
           "LEDGER_LOG_LEVEL": log_level}  # fmt: skip
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    with log.open("ab") as out:
        server = subprocess.Popen(
            [LEDGER, "serve", "--port", str(port), "--workers", str(workers)],
            env=env, stdout=out, stderr=out,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                msg = f"ledger serve exited with {server.returncode}; see {log}"
                raise RuntimeError(msg)
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield base, server.pid
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


class RawClient:
    """A minimal HTTP/1.1 client: one kept-alive connection per sender, JSON posts and gets.

    httpx costs the load generator about 2.5 ms of CPU per request, which on a 2-core machine
    is taken from the server it measures; this costs a tenth of that.
    """

    def __init__(self, base: str, token: str) -> None:
        host, _, port = base.removeprefix("http://").partition(":")
        self.host, self.port = host, int(port)
        self.auth = f"Authorization: Bearer {token}\r\n"
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(self, path: str, body: dict[str, Any]) -> int:
        """POST `body` as JSON; the status of the answer (its body is read and dropped)."""
        data = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self.auth}"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        )
        return await self._exchange(head.encode() + data)

    async def get(self, path: str) -> int:
        """GET `path`; the status of the answer (its body is read and dropped)."""
        head = f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self.auth}\r\n"
        return await self._exchange(head.encode())

    async def _exchange(self, request: bytes) -> int:
        """Send `request` on a kept-alive connection and read the answer.

        A kept-alive connection the server has closed meanwhile (uvicorn closes those idle for
        5 seconds) fails before any answer: the request is sent again on a new connection.
        """
        while True:
            reused = bool(self.idle)
            reader, writer = (
                self.idle.pop() if reused else await asyncio.open_connection(self.host, self.port)
            )
            try:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                writer.close()
                if reused and not getattr(exc, "partial", b""):
                    continue
                raise
            lines = head.decode("latin-1").split("\r\n")
            length = next(int(line.split(":", 1)[1]) for line in lines
                          if line.lower().startswith("content-length:"))  # fmt: skip
            await reader.readexactly(length)
            self.idle.append((reader, writer))
            return int(lines[0].split()[1])

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
