"""API tokens: bearer secrets with a role, stored hashed in the ledger's own database.

A token reads `ldg_<id>_<secret>`: `ldg_`, 16 hex digits naming the token, `_`, and 43
URL-safe characters of secret (256 random bits). The table `api_tokens` (in the SQLite file,
or the PostgreSQL schema, of the events; created on first use) keeps the id, a name for
people, the role, the SHA-256 of the secret (never the secret: it is shown once, when the
token is created), when it was created and by whom, when it expires (90 days by default),
when it was revoked and when it was last used. A request's token is looked up by its id and
its secret compared in constant time. A revoked token stays listed; revoking again changes
nothing. There are no default tokens: until one is created (`ledger tokens create`), every
API call is refused.

`last_used_at` is written at most once a minute per token, so that reads do not each take the
database's write lock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ledger.domain.calendar import from_us, to_us
from ledger.domain.errors import InvalidInputError, LedgerError

if TYPE_CHECKING:
    from ledger.projections.db import ViewDatabase

AGENT = "agent"
FINANCE = "finance"
AUDITOR = "auditor"
ADMIN = "admin"
ROLES = (AGENT, FINANCE, AUDITOR, ADMIN)

PREFIX = "ldg"
DEFAULT_EXPIRY_DAYS = 90
MAX_EXPIRY_DAYS = 3650
MAX_NAME_LENGTH = 100
LAST_USED_EVERY = timedelta(minutes=1)
_TOKEN = re.compile(rf"{PREFIX}_([0-9a-f]{{16}})_([A-Za-z0-9_-]{{43}})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
TABLE = "api_tokens"
COLUMNS = (
    "token_id, name, role, secret_sha256, created_at, created_by, expires_at, revoked_at, "
    "last_used_at"
)
DDL = [
    (
        f"CREATE TABLE IF NOT EXISTS {TABLE} ("
        "token_id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, "
        "secret_sha256 TEXT NOT NULL, created_at BIGINT NOT NULL, created_by TEXT NOT NULL, "
        "expires_at BIGINT NOT NULL, revoked_at BIGINT, last_used_at BIGINT)"
    )
]


class UnknownRoleError(LedgerError):
    """A role the API does not know."""

    code = "unknown_role"


class UnknownTokenError(LedgerError):
    """No token with that id (administration of tokens)."""

    code = "unknown_token"
    kind = "not_found"


class AuthenticationError(LedgerError):
    """A request without a usable bearer token (401, with `WWW-Authenticate`)."""

    code = "unauthenticated"
    kind = "unauthenticated"

    def __init__(self, message: str, *, token: Token | None = None, token_id: str | None = None):
        super().__init__(message)
        self.token = token
        self.token_id = token_id or (token.token_id if token else None)

    @property
    def response_headers(self) -> dict[str, str]:
        """RFC 6750: the scheme, and for a token that was sent, why it was refused."""
        description = self.message.replace('"', "'")
        return {
            "WWW-Authenticate": f'Bearer realm="ledger", error="invalid_token", '
            f'error_description="{description}"'
        }


class MissingTokenError(AuthenticationError):
    """No `Authorization: Bearer ...` header."""

    code = "missing_token"

    @property
    def response_headers(self) -> dict[str, str]:
        """RFC 6750: no error code when no credentials were sent."""
        return {"WWW-Authenticate": 'Bearer realm="ledger"'}


class MalformedTokenError(AuthenticationError):
    """An Authorization header that is not `Bearer ldg_<id>_<secret>`."""

    code = "malformed_token"


class InvalidTokenError(AuthenticationError):
    """No token with that id, or a secret that does not match it."""

    code = "invalid_token"


class ExpiredTokenError(AuthenticationError):
    """A token past its expiry."""

    code = "expired_token"


class RevokedTokenError(AuthenticationError):
    """A revoked token."""

    code = "revoked_token"


@dataclass(frozen=True)
class Token:
    """A token as stored (without its secret)."""

    token_id: str
    name: str
    role: str
    created_at: datetime
    created_by: str
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    def state(self, at: datetime) -> str:
        """`active`, `expired` or `revoked` at `at`."""
        if self.revoked_at is not None and self.revoked_at <= at:
            return "revoked"
        if self.expires_at <= at:
            return "expired"
        return "active"

    def as_dict(self, at: datetime) -> dict[str, Any]:
        """The token as plain data, with its state at `at` (never the secret)."""
        return {
            "token_id": self.token_id,
            "name": self.name,
            "role": self.role,
            "state": self.state(at),
            "created_at": self.created_at,
            "created_by": self.created_by,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "last_used_at": self.last_used_at,
        }


@dataclass(frozen=True)
class IssuedToken:
    """A token just created and its text: the only time the secret is seen."""

    token: Token
    text: str


def _digest(secret: str) -> str:
    import hashlib  # noqa: PLC0415 - OpenSSL loads slowly: not at the CLI's start-up

    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def _token(row: tuple[Any, ...]) -> Token:
    token_id, name, role, _, created, by, expires, revoked, used = row
    return Token(
        token_id=str(token_id),
        name=str(name),
        role=str(role),
        created_at=from_us(int(created)),
        created_by=str(by),
        expires_at=from_us(int(expires)),
        revoked_at=None if revoked is None else from_us(int(revoked)),
        last_used_at=None if used is None else from_us(int(used)),
    )


def check_role(role: str) -> str:
    """A known role, in lower case."""
    value = str(role).strip().lower()
    if value not in ROLES:
        raise UnknownRoleError(f"role: {role!r} is not a role; use {', '.join(ROLES)}")
    return value


def check_name(name: str) -> str:
    """A token's name: 1 to 100 characters without control characters."""
    text = str(name).strip()
    if not text or len(text) > MAX_NAME_LENGTH:
        raise InvalidInputError(f"name: between 1 and {MAX_NAME_LENGTH} characters")
    if _CONTROL.search(text):
        raise InvalidInputError("name: must not contain control characters")
    return text


def ensure_table(db: ViewDatabase) -> None:
    """Create the tokens table if it does not exist."""
    db.create(DDL)


def create_token(
    db: ViewDatabase,
    *,
    name: str,
    role: str,
    at: datetime,
    created_by: str,
    expires_in_days: int = DEFAULT_EXPIRY_DAYS,
) -> IssuedToken:
    """A new token; its text holds the secret and is shown only now."""
    chosen_role = check_role(role)
    label = check_name(name)
    if isinstance(expires_in_days, bool) or not 1 <= int(expires_in_days) <= MAX_EXPIRY_DAYS:
        raise InvalidInputError(
            f"expires_in_days: between 1 and {MAX_EXPIRY_DAYS}, got {expires_in_days}"
        )
    import secrets  # noqa: PLC0415 - OpenSSL loads slowly: not at the CLI's start-up

    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    expires_at = at + timedelta(days=int(expires_in_days))
    ensure_table(db)
    with db.transaction() as tx:
        tx.execute(
            f"INSERT INTO {TABLE} ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
            (token_id, label, chosen_role, _digest(secret), to_us(at), created_by,
             to_us(expires_at)),
        )  # fmt: skip
    token = Token(token_id, label, chosen_role, from_us(to_us(at)), created_by,
                  from_us(to_us(expires_at)), None, None)  # fmt: skip
    return IssuedToken(token, f"{PREFIX}_{token_id}_{secret}")


def list_tokens(db: ViewDatabase) -> list[Token]:
    """Every token, oldest first (no secrets)."""
    ensure_table(db)
    return [
        _token(row)
        for row in db.read(f"SELECT {COLUMNS} FROM {TABLE} ORDER BY created_at, token_id")
    ]


def get_token(db: ViewDatabase, token_id: str) -> Token:
    """One token by id."""
    ensure_table(db)
    rows = db.read(f"SELECT {COLUMNS} FROM {TABLE} WHERE token_id = ?", (str(token_id),))
    if not rows:
        raise UnknownTokenError(f"no token {token_id!r}")
    return _token(rows[0])


def revoke_token(db: ViewDatabase, token_id: str, *, at: datetime) -> Token:
    """Revoke a token from `at` on; a token already revoked keeps its first revocation."""
    ensure_table(db)
    with db.transaction() as tx:
        changed = tx.execute(
            f"UPDATE {TABLE} SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL",
            (to_us(at), str(token_id)),
        )
    token = get_token(db, token_id)
    if changed == 0 and token.revoked_at is None:  # pragma: no cover - a race with itself
        raise UnknownTokenError(f"no token {token_id!r}")
    return token


def parse_token(text: str) -> tuple[str, str]:
    """The id and secret of a token's text; MalformedTokenError if it is not one."""
    match = _TOKEN.fullmatch(text.strip())
    if match is None:
        raise MalformedTokenError(
            "the bearer token is not a ledger token (ldg_<16 hex digits>_<43 characters>)"
        )
    return match.group(1), match.group(2)


def verify_token(db: ViewDatabase, text: str, *, at: datetime) -> Token:
    """The token a request presents, if it is known, its secret matches, and it is active.

    Whether a token expired or was revoked is said only to whoever holds its secret.
    """
    import hmac  # noqa: PLC0415 - OpenSSL loads slowly: not at the CLI's start-up

    token_id, secret = parse_token(text)
    ensure_table(db)
    rows = db.read(
        f"SELECT {COLUMNS} FROM {TABLE} WHERE token_id = ?",
        (token_id,),
    )
    stored = str(rows[0][3]) if rows else _digest("")
    if not hmac.compare_digest(stored, _digest(secret)) or not rows:
        raise InvalidTokenError("the bearer token is not known", token_id=token_id)
    token = _token(rows[0])
    state = token.state(at)
    if state == "revoked":
        raise RevokedTokenError("the bearer token was revoked", token=token)
    if state == "expired":
        raise ExpiredTokenError(
            f"the bearer token expired at {token.expires_at.isoformat()}", token=token
        )
    if token.last_used_at is None or at - token.last_used_at >= LAST_USED_EVERY:
        with db.transaction() as tx:
            tx.execute(
                f"UPDATE {TABLE} SET last_used_at = ? WHERE token_id = ?", (to_us(at), token_id)
            )
    return token
