"""A streaming standby of the test server, made for a test session and dropped after it.

`pg_basebackup -R` copies the running primary into a temporary folder (a standby.signal and
the primary's conninfo included), and `pg_ctl` starts it as a hot standby on a free port.
PostgreSQL's server binaries refuse to run as root: as root they run as the `postgres` user,
which then owns the folder. What cannot be done (no binaries, no replication entry in the
primary's pg_hba.conf, a standby that does not start) is a `StandbyUnavailable` with the reason.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg

from ledger.settings import parse_database_url

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ledger.settings import DatabaseSettings

BIN_DIR = Path(os.environ.get("LEDGER_TEST_PG_BINDIR", "/usr/lib/postgresql/15/bin"))
# A standby may not have fewer of these than its primary, or recovery stops.
MATCHED = (
    "max_connections",
    "max_worker_processes",
    "max_wal_senders",
    "max_prepared_transactions",
    "max_locks_per_transaction",
)


class StandbyUnavailableError(Exception):
    """A standby cannot be made on this machine; the message says why."""


@dataclass
class Standby:
    """A running standby: its folder, port, server log, and settings for the test database."""

    folder: Path
    port: int
    settings: DatabaseSettings

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    def log_text(self) -> str:
        """What the standby's server logged so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _as_server_user() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _run(args: list[str], what: str, timeout: float = 300) -> None:
    done = subprocess.run(
        [*_as_server_user(), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise StandbyUnavailableError(f"{what} failed: {' '.join(detail)}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_standby(primary: DatabaseSettings) -> Standby:
    """A hot standby of `primary`'s server, streaming from it (stop it with `stop_standby`)."""
    missing = [name for name in ("pg_basebackup", "pg_ctl") if not (BIN_DIR / name).is_file()]
    if missing:
        msg = f"PostgreSQL's server binaries are missing from {BIN_DIR}: {', '.join(missing)}"
        raise StandbyUnavailableError(msg)
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            msg = "running as root and there is no postgres user to run the server as"
            raise StandbyUnavailableError(msg) from None
    with psycopg.connect(**primary.psycopg_conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
        matched = {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in MATCHED}  # type: ignore[index]
    folder = Path(tempfile.mkdtemp(prefix="ledger-standby-"))
    if os.geteuid() == 0:
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    folder.chmod(0o700)
    data, port = folder / "data", _free_port()
    standby = Standby(
        folder,
        port,
        parse_database_url(
            f"postgresql://{primary.user}@127.0.0.1:{port}/{primary.dbname}?connect_timeout=5"
        ),
    )
    try:
        _run(
            [
                str(BIN_DIR / "pg_basebackup"), "-h", primary.host, "-p", str(primary.port),
                "-U", primary.user, "-D", str(data), "-R", "-X", "stream", "-c", "fast",
            ],
            "pg_basebackup from the primary (does its pg_hba.conf allow replication?)",
        )  # fmt: skip
        # Debian keeps the configuration outside the data folder: give the copy its own.
        for name, text in (
            ("postgresql.conf", ""),
            ("pg_ident.conf", ""),
            ("pg_hba.conf", "local all all trust\nhost all all 127.0.0.1/32 trust\n"),
        ):
            (data / name).write_text(text)
            if os.geteuid() == 0:
                os.chown(data / name, owner.pw_uid, owner.pw_gid)
        options = " ".join(
            [
                f"-c port={port}",
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={folder}",
                "-c hot_standby=on",
                "-c shared_buffers=16MB",
                *(f"-c {name}={value}" for name, value in matched.items()),
            ]
        )
        _run(
            [
                str(BIN_DIR / "pg_ctl"), "-D", str(data), "-l", str(standby.log), "-w",
                "-t", "120", "-o", options, "start",
            ],
            "starting the standby",
        )  # fmt: skip
    except BaseException:
        stop_standby(standby)
        raise
    return standby


def stop_standby(standby: Standby) -> None:
    """Stop the standby (if it runs) and delete its folder."""
    data = standby.folder / "data"
    if (data / "postmaster.pid").exists():
        subprocess.run(
            [*_as_server_user(), str(BIN_DIR / "pg_ctl"), "-D", str(data), "-m", "immediate",
             "-w", "stop"],
            capture_output=True, timeout=60, check=False,
        )  # fmt: skip
    shutil.rmtree(standby.folder, ignore_errors=True)


def wait_for_replay(primary: DatabaseSettings, standby: Standby, timeout: float = 60) -> None:
    """Wait until the standby has replayed everything the primary had written when called."""
    with psycopg.connect(**primary.psycopg_conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
        target = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]  # type: ignore[index]
    deadline = time.monotonic() + timeout
    with psycopg.connect(**standby.settings.psycopg_conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
        while time.monotonic() < deadline:
            row = conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target]).fetchone()
            if row and row[0]:
                return
            time.sleep(0.05)
    msg = f"the standby did not replay {target} within {timeout} s"
    raise TimeoutError(msg)


@contextmanager
def replay_paused(standby: Standby, timeout: float = 60) -> Iterator[None]:
    """The standby stops replaying what it receives until the block ends (it still answers
    queries, with what it had replayed when it paused), then resumes."""
    with psycopg.connect(**standby.settings.psycopg_conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute("SELECT pg_wal_replay_pause()")
        try:
            deadline = time.monotonic() + timeout
            while conn.execute("SELECT pg_get_wal_replay_pause_state()").fetchone() != ("paused",):
                if time.monotonic() > deadline:
                    msg = f"the standby did not pause its replay within {timeout} s"
                    raise TimeoutError(msg)
                time.sleep(0.05)
            yield
        finally:
            conn.execute("SELECT pg_wal_replay_resume()")
