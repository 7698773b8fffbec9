"""Who may call what: bearer tokens and the roles each route allows.

Every route of the API declares, in its decorator, the roles it allows with
`dependencies=[require(AGENT, ADMIN)]` (or `public()` for the few that need no token): that
declaration is the role matrix, and `tests/web/test_roles.py` walks the app's routes to check
that each has exactly one, that it matches the documented table, and that it is enforced.

- `agent`: opens and answers tickets (hold, resume, respond, severity, remote assistance,
  patch, resolve, reopen, close); reads tickets, contracts, releases, the SLA board and the
  breach statistics.
- `finance`: credits (balance, purchase, consume, reverse, training sessions); reads contracts
  (fees), credit statements and the breach statistics.
- `auditor`: every GET of the API (reports, histories, events, as-of replays, projection
  status, the token list) and nothing else.
- `admin`: contracts (sign, renew, reinstate, lapse, terminate, tier, contacts, representative,
  appointments), releases, tokens, breach waivers; and every GET.

Waivers are the admin's: a waiver corrects the SLA record, and the people whose response times
it corrects should not make it. The authentication is checked before anything else (a request
with no valid token learns nothing about its input); every refusal (401 and 403) is logged as
`api_request_denied` with the token's id and role when known, the method, the path, the client
and the reason, never the secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ledger.domain.errors import LedgerError
from ledger.logs import get_logger
from ledger.web.services import Services, Svc, now
from ledger.web.tokens import (
    ADMIN,
    AGENT,
    AUDITOR,
    FINANCE,
    ROLES,
    AuthenticationError,
    MalformedTokenError,
    MissingTokenError,
    verify_token,
)

if TYPE_CHECKING:
    from datetime import datetime

__all__ = ["ADMIN", "AGENT", "AUDITOR", "EVERYONE", "FINANCE", "READERS", "ROLES"]

log = get_logger("ledger.web.auth")

EVERYONE = ROLES
READERS = (AUDITOR, ADMIN)  # every GET is theirs

# Declared so that the OpenAPI document names the scheme; the header is read below.
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="A ledger token: `Authorization: Bearer ldg_<id>_<secret>`.",
)


class ForbiddenError(LedgerError):
    """The token's role may not call this route."""

    code = "forbidden"
    kind = "forbidden"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's id, name and role."""

    token_id: str
    name: str
    role: str
    expires_at: datetime


def log_denied(
    request: Request, status: int, reason: str, *, event: str = "api_request_denied", **known: Any
) -> None:
    """Log a denied request: what was asked, by whom (as far as known), and why not."""
    log.warning(
        event,
        status=status,
        reason=reason,
        method=request.method,
        path=request.url.path,
        client=request.client.host if request.client else None,
        **known,
    )


def principal_of(services: Services, text: str) -> Principal:
    """The caller a token names, checked against the token table now (AuthenticationError)."""
    with services.views.lease() as db:
        token = verify_token(db, text, at=now())
    return Principal(token.token_id, token.name, token.role, token.expires_at)


def log_refused_token(
    request: Request, exc: AuthenticationError, *, event: str = "api_request_denied"
) -> None:
    """Log a request refused for its token (401), with the token's id and role when known."""
    log_denied(
        request,
        401,
        exc.code,
        event=event,
        token_id=exc.token_id,
        role=exc.token.role if exc.token else None,
    )


def authenticate(
    request: Request,
    services: Svc,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller named by the request's bearer token; 401 when there is none usable."""
    header = request.headers.get("authorization")
    try:
        if header is None or not header.strip():
            raise MissingTokenError("send the header Authorization: Bearer <token>")
        scheme, _, text = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not text.strip():
            raise MalformedTokenError("the Authorization header is not 'Bearer <token>'")
        return principal_of(services, text)
    except AuthenticationError as exc:
        log_refused_token(request, exc)
        raise


Caller = Annotated[Principal, Depends(authenticate)]


class Require:
    """A route's access rule: the roles that may call it."""

    def __init__(self, *roles: str) -> None:
        unknown = sorted(set(roles) - set(ROLES))
        if unknown or not roles:
            msg = f"roles must be some of {ROLES}, got {roles}"
            raise ValueError(msg)
        self.roles = frozenset(roles)

    async def __call__(self, request: Request, caller: Caller) -> Principal:
        if caller.role not in self.roles:
            log_denied(request, 403, "role_not_allowed", token_id=caller.token_id, role=caller.role)
            allowed = ", ".join(r for r in ROLES if r in self.roles)
            raise ForbiddenError(
                f"role {caller.role} may not {request.method} {request.url.path}; "
                f"allowed: {allowed}"
            )
        return caller

    def __repr__(self) -> str:
        return f"Require({', '.join(r for r in ROLES if r in self.roles)})"


class Public:
    """A route's access rule: no token needed (health checks, metrics)."""

    async def __call__(self) -> None:
        return None


def require(*roles: str) -> Any:
    """The dependency that lets only `roles` call a route (401 without a token, 403 else)."""
    return Depends(Require(*roles))


def public() -> Any:
    """The dependency that marks a route as open to anyone."""
    return Depends(Public())
