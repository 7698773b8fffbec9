"""The `ledger` command starts light: the store, the views, the web server and structlog are
loaded by the commands that use them, not by `ledger --help` or `ledger terms show`.

The time it takes is measured by `benchmarks/startup.py` (docs/performance.md, "Start-up");
these tests pin the structure that keeps it short, in a fresh interpreter each.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = (
    "psycopg",
    "psycopg_pool",
    "eventsourcing.domain",
    "eventsourcing.persistence",
    "fastapi",
    "uvicorn",
    "structlog",
    "holidays",
    "ledger.projections",
    "ledger.application",
    "ledger.audit",
    "ledger.scheduler",
    "ledger.store",
)

LOADED = """
import contextlib, io, json, sys
from ledger.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def loaded_by(*args: str) -> tuple[int, set[str]]:
    """The exit code of `ledger ARGS` run in a fresh interpreter, and the modules it loaded."""
    result = subprocess.run(
        [sys.executable, "-c", LOADED, *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "LEDGER_LOG_LEVEL": "warning"},
    )
    out = json.loads(result.stdout.splitlines()[-1])
    return out["code"], set(out["modules"])


@pytest.mark.parametrize(
    "args",
    [("--help",), ("terms", "show"), ("terms", "show", "--json"), ("--version",)],
    ids=["help", "terms-show", "terms-show-json", "version"],
)
def test_a_light_command_loads_neither_the_store_nor_the_views_nor_the_web(
    args: tuple[str, ...],
) -> None:
    """`ledger --help` and `ledger terms show` load none of the heavy libraries or parts."""
    code, modules = loaded_by(*args)
    assert code == 0
    assert [m for m in HEAVY if m in modules] == []


def test_importing_the_cli_loads_nothing_heavy() -> None:
    """Importing `ledger.cli` (every group and its options) loads none of the heavy parts."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, sys, ledger.cli; print(json.dumps(sorted(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    modules = set(json.loads(result.stdout))
    assert [m for m in HEAVY if m in modules] == []


def test_logging_configured_before_structlog_is_loaded_applies_when_it_is() -> None:
    """A configuration asked for before structlog is loaded is the one a logger then uses."""
    program = """
import sys
from ledger.logs import configure_logging, get_logger
configure_logging("json", "warning")
assert "structlog" not in sys.modules
log = get_logger("ledger.test")
log.info("dropped")
log.warning("kept", n=1)
"""
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert [(e["event"], e["level"], e["n"]) for e in lines] == [("kept", "warning", 1)]
