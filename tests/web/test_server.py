"""The real server process: `serve` over HTTP, tokens made by the command, SIGTERM stops it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.e2e.cli import free_port, wait_until_serving

if TYPE_CHECKING:
    from pathlib import Path

    from ledger.settings import DatabaseSettings

COMMAND = [sys.executable, "-m", "ledger.web.commands"]


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def url_of(settings: DatabaseSettings) -> str:
    """The LEDGER_DATABASE_URL of a test store (test servers have no password)."""
    return settings.display_url


@pytest.mark.slow
def test_the_server_serves_the_api_with_tokens_made_by_the_command_and_stops_on_sigterm(
    store_settings: DatabaseSettings, tmp_path: Path
) -> None:
    """Tokens created, used, listed and revoked across processes; SIGTERM ends it cleanly."""
    env = {**os.environ, "LEDGER_DATABASE_URL": url_of(store_settings), "LEDGER_LOG_FORMAT": "json"}
    made = run("tokens", "create", "--role", "admin", "--name", "ops", env=env)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("ldg_")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [*COMMAND, "serve", "--port", str(port)], env=env, stdout=out, stderr=out
        )
    try:
        wait_until_serving(base, server, "/openapi.json")
        auth = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{base}/api/v1/whoami").status_code == 401
        me = httpx.get(f"{base}/api/v1/whoami", headers=auth)
        assert (me.status_code, me.json()["role"]) == (200, "admin")
        release = {"version": "24.2.1", "at": "2025-02-03T09:00:00Z"}
        published = httpx.post(f"{base}/api/v1/releases", headers=auth, json=release)
        assert published.status_code == 201
        listed = json.loads(run("tokens", "list", "--json", env=env).stdout)
        assert [(t["name"], t["role"], t["state"]) for t in listed] == [("ops", "admin", "active")]
        revoked = run("tokens", "revoke", listed[0]["token_id"], env=env)
        assert revoked.returncode == 0, revoked.stderr
        again = httpx.get(f"{base}/api/v1/whoami", headers=auth)
        assert (again.status_code, again.json()["error"]["code"]) == (401, "revoked_token")
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=30)
    assert code == 0
    assert '"api_stopped"' in log.read_text()


def test_the_tokens_command_refuses_an_unknown_role_and_an_unknown_id(
    sqlite_settings: DatabaseSettings,
) -> None:
    """An unknown role and an unknown token id exit 1 with their codes; a missing option is a
    usage error, 2."""
    env = {**os.environ, "LEDGER_DATABASE_URL": url_of(sqlite_settings)}
    role = run("tokens", "create", "--role", "root", "--name", "x", "--json", env=env)
    assert role.returncode == 1
    assert json.loads(role.stderr)["error"]["code"] == "invalid_input"
    assert run("tokens", "create", "--name", "x", env=env).returncode == 2
    missing = run("tokens", "revoke", "ffffffffffffffff", "--json", env=env)
    assert missing.returncode == 1
    assert json.loads(missing.stderr)["error"]["code"] == "unknown_token"
