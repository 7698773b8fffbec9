"""Run the installed `ledger` command as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
