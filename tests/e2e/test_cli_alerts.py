"""`ledger alerts ...` as a subprocess: results as JSON, refusals with their codes (exit 1)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.e2e.cli import run

if TYPE_CHECKING:
    from pathlib import Path

ZERO = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"LEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}",
            "LEDGER_ALERTS_ALLOW_PRIVATE": "1"}  # fmt: skip


def test_subscribe_list_remove_and_deliveries_as_json(env: dict[str, str]) -> None:
    """A subscription is listed until removed; the secret is printed once; no deliveries yet."""
    added = run(
        "alerts", "subscribe", "--kinds", "breach,warning_50", "--email", "Ops@Vendor.example",
        "--customer", "Acme", "--quiet-hours", "--json", env=env,
    )  # fmt: skip
    assert added.code == 0, added.err
    sub = added.json
    assert (sub["channel"], sub["target"], sub["kinds"]) == (
        "email", "ops@vendor.example", ["warning_50", "breach"],
    )  # fmt: skip
    assert sub["quiet_hours"] is True
    assert "secret" not in sub
    hook = run("alerts", "subscribe", "--kinds", "breach", "--webhook", "http://127.0.0.1:9/h",
               "--json", env=env).json  # fmt: skip
    assert hook["secret"].startswith("whsec_")
    listed = run("alerts", "list", "--json", env=env).json
    assert [s["id"] for s in listed] == [sub["id"], hook["id"]]
    assert all("secret" not in s for s in listed)
    assert run("alerts", "remove", sub["id"], "--json", env=env).code == 0
    assert [s["id"] for s in run("alerts", "list", "--json", env=env).json] == [hook["id"]]
    assert len(run("alerts", "list", "--all", "--json", env=env).json) == 2
    assert run("alerts", "deliveries", "--json", env=env).json == []
    assert run("alerts", "deliveries", "--failed", "--subscription", hook["id"], "--json",
               env=env).json == []  # fmt: skip
    failed_test = run("alerts", "test", hook["id"], "--json", env=env)
    assert failed_test.code == 1  # nothing listens on port 9
    assert failed_test.json["delivered"] is False


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["subscribe", "--kinds", "breach,soon", "--email", "a@b.example"], "unknown_alert_kind"),
        (["subscribe", "--kinds", "breach"], "invalid_alert_target"),
        (["subscribe", "--kinds", "breach", "--email", "a@b.example", "--secret", "x" * 20],
         "invalid_alert_target"),
        (["subscribe", "--kinds", "breach", "--webhook", "file:///etc/passwd"],
         "invalid_alert_target"),
        (["subscribe", "--kinds", "breach", "--email", "a@b.example", "--tier", "gold"],
         "invalid_alert_target"),
        (["remove", "not-an-id"], "invalid_input"),
        (["remove", ZERO], "unknown_subscription"),
        (["test", ZERO], "unknown_subscription"),
        (["retry", ZERO], "unknown_delivery"),
        (["deliveries", "--subscription", "nope"], "invalid_input"),
    ],
    ids=["unknown-kind", "no-channel", "secret-without-webhook", "not-http", "unknown-tier",
         "bad-id", "unknown-subscription", "test-unknown", "retry-unknown", "bad-filter"],
)  # fmt: skip
def test_bad_input_exits_1_with_its_code_and_records_nothing(
    env: dict[str, str], args: list[str], code: str
) -> None:
    """Each refusal names what was wrong; the log stays empty."""
    result = run("alerts", *args, "--json", env=env)
    assert result.code == 1, result.err
    assert result.error["code"] == code
    assert run("alerts", "list", "--all", "--json", env=env).json == []
