"""Bearer tokens: stored hashed, expiring, revocable; every refusal logged without the secret."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from structlog.testing import capture_logs

from ledger.projections.db import ViewDatabase
from ledger.web.tokens import create_token, list_tokens

if TYPE_CHECKING:
    from ledger.settings import DatabaseSettings
    from tests.web.conftest import Api


def issue(settings: DatabaseSettings, *, role: str = "agent", days_ago: int = 0) -> str:
    """A token for `role` made `days_ago` days ago, valid for one day."""
    db = ViewDatabase(settings)
    try:
        return create_token(
            db, name="made here", role=role, created_by="test", expires_in_days=1,
            at=datetime.now(UTC) - timedelta(days=days_ago),
        ).text  # fmt: skip
    finally:
        db.close()


def whoami(api: Api, authorization: str | None) -> tuple[int, str, str | None]:
    headers = {} if authorization is None else {"Authorization": authorization}
    answer = api.client.get("/api/v1/whoami", headers=headers)
    code = answer.json()["error"]["code"] if answer.status_code >= 400 else ""
    return answer.status_code, code, answer.headers.get("www-authenticate")


def test_a_request_without_a_token_is_refused_and_told_how_to_authenticate(api: Api) -> None:
    """401 missing_token with `WWW-Authenticate: Bearer realm="ledger"`."""
    assert whoami(api, None) == (401, "missing_token", 'Bearer realm="ledger"')


@pytest.mark.parametrize(
    "authorization",
    ["Bearer", "Bearer nonsense", "Basic dXNlcjpwYXNz", "ldg_0123456789abcdef_x", "Bearer ldg__x"],
    ids=["no token", "not a ledger token", "basic auth", "no scheme", "no id"],
)
def test_a_malformed_authorization_is_refused(api: Api, authorization: str) -> None:
    """401 malformed_token, with error="invalid_token" in WWW-Authenticate."""
    status, code, challenge = whoami(api, authorization)
    assert (status, code) == (401, "malformed_token")
    assert challenge is not None
    assert 'error="invalid_token"' in challenge


def test_an_unknown_token_or_a_wrong_secret_is_refused_alike(api: Api) -> None:
    """Neither says whether the id exists: 401 invalid_token both."""
    real = api.tokens["agent"]
    token_id = real.split("_")[1]
    forged = f"ldg_{token_id}_{'A' * 43}"
    unknown = f"ldg_{'0' * 16}_{'A' * 43}"
    assert whoami(api, f"Bearer {forged}")[:2] == (401, "invalid_token")
    assert whoami(api, f"Bearer {unknown}")[:2] == (401, "invalid_token")


def test_an_expired_token_is_refused(api: Api) -> None:
    """A token past its expiry is 401 expired_token."""
    old = issue(api.settings, days_ago=2)
    assert whoami(api, f"Bearer {old}")[:2] == (401, "expired_token")


def test_a_revoked_token_is_refused_from_its_revocation_on(api: Api) -> None:
    """An admin revokes a token; from then on it is 401 revoked_token; revoking again keeps it."""
    token = issue(api.settings)
    token_id = token.split("_")[1]
    assert whoami(api, f"Bearer {token}")[0] == 200
    revoked = api.post("admin", f"/tokens/{token_id}/revoke")
    assert (revoked.status_code, revoked.json()["state"]) == (200, "revoked")
    assert whoami(api, f"Bearer {token}")[:2] == (401, "revoked_token")
    again = api.post("admin", f"/tokens/{token_id}/revoke")
    assert again.json()["revoked_at"] == revoked.json()["revoked_at"]
    unknown = api.post("admin", "/tokens/ffffffffffffffff/revoke")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "unknown_token")


def test_a_role_that_is_not_allowed_is_forbidden(api: Api) -> None:
    """403 forbidden, naming the roles that are allowed."""
    answer = api.post("agent", "/releases", {"version": "24.2.1"})
    assert answer.status_code == 403
    assert answer.json()["error"] == {
        "code": "forbidden",
        "message": "role agent may not POST /api/v1/releases; allowed: admin",
    }


def test_every_denied_request_is_logged_without_the_secret(api: Api) -> None:
    """401s and 403s are logged with token id, role, method, path and reason; never a secret."""
    expired = issue(api.settings, role="finance", days_ago=2)
    with capture_logs() as logs:
        api.client.get("/api/v1/whoami")
        api.client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {expired}"})
        api.post("auditor", "/tokens", {"name": "x", "role": "admin"})
    denied = [e for e in logs if e["event"] == "api_request_denied"]
    assert [(e["status"], e["reason"], e["role"], e["method"], e["path"]) for e in denied] == [
        (401, "missing_token", None, "GET", "/api/v1/whoami"),
        (401, "expired_token", "finance", "GET", "/api/v1/whoami"),
        (403, "role_not_allowed", "auditor", "POST", "/api/v1/tokens"),
    ]
    assert denied[1]["token_id"] == expired.split("_")[1]
    assert denied[2]["token_id"] == api.tokens["auditor"].split("_")[1]
    secrets = [expired.split("_", 2)[2], api.tokens["auditor"].split("_", 2)[2]]
    assert not any(s in repr(e) for e in logs for s in secrets)


def test_an_admin_creates_lists_and_uses_tokens_whose_secret_is_only_hashed(api: Api) -> None:
    """The secret is answered once; the list and the table hold no secret, only its SHA-256."""
    made = api.post("admin", "/tokens", {"name": "finance bot", "role": "finance",
                                         "expires_in_days": 30})  # fmt: skip
    assert made.status_code == 201
    token = made.json()
    secret = token["token"].split("_", 2)[2]
    me = api.client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {token['token']}"})
    assert (me.json()["role"], me.json()["name"]) == ("finance", "finance bot")
    listed = api.get("auditor", "/tokens").json()
    mine = next(t for t in listed if t["token_id"] == token["token_id"])
    assert mine["state"] == "active"
    assert mine["last_used_at"] is not None
    assert mine["created_by"] == f"token:{api.tokens['admin'].split('_')[1]}"
    assert secret not in repr(listed)
    db = ViewDatabase(api.settings)
    try:
        rows = db.read("SELECT * FROM api_tokens WHERE token_id = ?", (token["token_id"],))
    finally:
        db.close()
    assert secret not in repr(rows)
    assert hashlib.sha256(secret.encode()).hexdigest() in rows[0]
    bad_role = api.post("admin", "/tokens", {"name": "x", "role": "root"})
    assert (bad_role.status_code, bad_role.json()["error"]["code"]) == (400, "unknown_role")


def test_there_are_no_default_credentials(sqlite_settings: DatabaseSettings) -> None:
    """A new store has no token: nothing can be called until one is created."""
    from ledger.web.tokens import ensure_table  # noqa: PLC0415 - a fresh store, table made here

    db = ViewDatabase(sqlite_settings)
    try:
        ensure_table(db)
        assert list_tokens(db) == []
    finally:
        db.close()
