"""Run the installed `ledger` command as a subprocess, and wait for a server it started."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

LEDGER = str(Path(sys.executable).parent / "ledger")


@dataclass
class Result:
    """What a `ledger` run printed and how it exited."""

    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)

    @property
    def error(self) -> dict[str, Any]:
        """The error printed last on standard error (log lines may come before it)."""
        start = self.err.rfind('{\n  "error"')
        return dict(json.loads(self.err[max(start, 0) :])["error"])


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60
) -> Result:
    """`ledger ARGS...` with LEDGER_* settings from `env` on top of this process's environment."""
    full_env = {**os.environ, "LEDGER_LOG_FORMAT": "json", **(env or {})}
    done = subprocess.run(
        [LEDGER, *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_serving(
    base: str, server: subprocess.Popen[bytes], path: str = "/healthz", timeout: float = 30
) -> None:
    """Poll `path` until the server answers 200 (fail when it exits or `timeout` passes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the server exited with {server.returncode}")
        try:
            if httpx.get(f"{base}{path}", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"the server did not answer within {timeout} s")
