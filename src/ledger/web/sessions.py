"""How a browser signs in to the pages: the token in a cookie, checked on every request.

A person signs in by pasting a token (`ledger tokens create`) into the form at `/signin`.
The form is posted (never a query string: tokens do not go into URLs, logs or history); when
the token is valid, the answer sets the cookie `ledger_token` holding it, `HttpOnly` (scripts
cannot read it), `SameSite=Strict` (the browser sends it only with requests started from the
ledger's own pages), `Path=/`, `Secure` when the page was served over https, and a lifetime
of 8 hours or the token's own expiry if that comes first. Every page request looks the token
up again, as the API does with a bearer token: a token revoked or expired ends the session at
the next request (the browser is sent back to the sign-in page, and the cookie cleared).
`POST /signout` clears the cookie; it does not revoke the token, which may be in use
elsewhere (`ledger tokens revoke ID` does that).

Pages take the token only from the cookie, the API (`/api/v1`) only from the
`Authorization` header: a cookie never authorizes an API call.

Cross-site request forgery: the only POSTs of the pages are signing in and out, and both
check that the request comes from the ledger's own pages (the `Origin` header, or the
`Referer` when a browser sends no Origin, must name the origin the request was made to; a
request naming neither is refused too). The cookie being `SameSite=Strict`, a request from
another site carries no session anyway. Pages send `Content-Security-Policy` allowing nothing
but the ledger's own scripts, styles and requests, and may not be framed.

Who sees which page is declared on each route with `page(...)`, like `require(...)` for the
API (`tests/web/test_roles.py` counts it as the route's access rule):

| page | roles |
|---|---|
| `/ops`, the live breach board | agent, auditor, admin |
| `/finance`, credit statements and their CSV | finance, auditor, admin |
| `/audit`, the hash chain and the reports as recorded at an instant | auditor, admin |
| `/contracts`, `/contracts/{id-or-name}`, the contracts and one contract | every role |
| `/tickets/{key-or-id}`, one ticket and its clock (not in the navigation) | agent, auditor, admin |
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlencode, urlsplit

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from ledger.logs import get_logger
from ledger.web.auth import (
    ADMIN,
    AGENT,
    AUDITOR,
    FINANCE,
    Principal,
    Require,
    log_denied,
    log_refused_token,
    principal_of,
)
from ledger.web.services import Services, Svc, now
from ledger.web.tokens import AuthenticationError

if TYPE_CHECKING:
    from starlette.responses import Response

log = get_logger("ledger.web.pages")

COOKIE = "ledger_token"
SESSION_HOURS = 8
MAX_TOKEN_LENGTH = 200


@dataclass(frozen=True)
class Page:
    """A page people open: its path, its title in the navigation, who may open it."""

    path: str
    title: str
    roles: tuple[str, ...]


OPS = Page("/ops", "Breach board", (AGENT, AUDITOR, ADMIN))
FINANCE_PAGE = Page("/finance", "Credit statements", (FINANCE, AUDITOR, ADMIN))
AUDIT = Page("/audit", "Audit", (AUDITOR, ADMIN))
CONTRACTS = Page("/contracts", "Contracts", (AGENT, FINANCE, AUDITOR, ADMIN))
TICKET = Page("/tickets", "Ticket", (AGENT, AUDITOR, ADMIN))
PAGES = (OPS, FINANCE_PAGE, AUDIT, CONTRACTS)
# Pages of one thing under a path (`/tickets/ACME-1`), reached by links, not the navigation.
RECORD_PAGES = (CONTRACTS, TICKET)


def pages_for(role: str) -> list[Page]:
    """The pages a role may open, in navigation order."""
    return [p for p in PAGES if role in p.roles]


def landing(role: str) -> str:
    """Where a role goes after signing in: its first page."""
    allowed = pages_for(role)
    return allowed[0].path if allowed else "/signin"


def safe_next(target: str | None, role: str | None = None) -> str | None:
    """`target` if it is one of the pages (the role may open, when given), else None.

    Only the known page paths (and one ticket or contract under theirs) are accepted, so the
    sign-in form cannot be made to send a browser anywhere else (an open redirect).
    """
    for known in PAGES:
        if target == known.path and (role is None or role in known.roles):
            return known.path
    for known in RECORD_PAGES:
        if not target or not target.startswith(f"{known.path}/"):
            continue
        rest = unquote(target[len(known.path) + 1 :])
        if (
            0 < len(rest) <= 200
            and rest.isprintable()
            and not set(rest) & set("/\\?#")
            and (role is None or role in known.roles)
        ):
            return f"{known.path}/{quote(rest, safe='')}"
    return None


# -- refusals ------------------------------------------------------------------------------------


class PageDeniedError(Exception):
    """A page request refused before its handler ran; `pages` renders the answer."""

    def __init__(self, path: str, *, fragment: bool) -> None:
        super().__init__(path)
        self.path = path
        self.fragment = fragment


class SignInRequiredError(PageDeniedError):
    """No session, or its token is no longer valid: the browser goes to the sign-in page."""

    def __init__(self, path: str, *, fragment: bool, reason: str | None) -> None:
        super().__init__(path, fragment=fragment)
        self.reason = reason


class PageForbiddenError(PageDeniedError):
    """The session's role may not open this page (403)."""

    def __init__(self, path: str, *, fragment: bool, caller: Principal, page: Page) -> None:
        super().__init__(path, fragment=fragment)
        self.caller = caller
        self.page = page


DENIED_EVENT = "page_request_denied"


def _denied(request: Request, status: int, reason: str, **known: Any) -> None:
    log_denied(request, status, reason, event=DENIED_EVENT, **known)


async def session_of(request: Request, services: Services) -> Principal | None:
    """The signed-in caller, or None (no cookie, or a token no longer valid)."""
    text = request.cookies.get(COOKIE)
    if not text or len(text) > MAX_TOKEN_LENGTH:
        return None
    try:
        return await run_in_threadpool(principal_of, services, text)
    except AuthenticationError:
        return None


class PageAccess(Require):
    """A page's access rule: the roles that may open it, the token read from the cookie.

    A request without a valid session is sent to the sign-in page (a fragment the page's
    script fetches answers 401 instead, and the script goes there); a role not allowed gets
    the 403 page.
    """

    def __init__(self, page: Page, *, fragment: bool = False) -> None:
        super().__init__(*page.roles)
        self.page = page
        self.fragment = fragment

    # Another signature than Require's: the token comes from the cookie, not the header.
    async def __call__(  # type: ignore[override]
        self, request: Request, services: Svc
    ) -> Principal:
        path = request.url.path
        text = request.cookies.get(COOKIE)
        if not text:
            _denied(request, 401, "no_session")
            raise SignInRequiredError(path, fragment=self.fragment, reason=None)
        if len(text) > MAX_TOKEN_LENGTH:
            _denied(request, 401, "malformed_token")
            raise SignInRequiredError(path, fragment=self.fragment, reason="malformed_token")
        try:
            caller = await run_in_threadpool(principal_of, services, text)
        except AuthenticationError as exc:
            log_refused_token(request, exc, event=DENIED_EVENT)
            raise SignInRequiredError(path, fragment=self.fragment, reason=exc.code) from None
        if caller.role not in self.roles:
            _denied(request, 403, "role_not_allowed", token_id=caller.token_id, role=caller.role)
            raise PageForbiddenError(path, fragment=self.fragment, caller=caller, page=self.page)
        return caller

    def __repr__(self) -> str:
        return f"PageAccess({self.page.path}: {', '.join(self.page.roles)})"


def page(which: Page, *, fragment: bool = False) -> Any:
    """The dependency that lets only the roles of `which` open a page (or its fragment)."""
    return Depends(PageAccess(which, fragment=fragment))


# -- the cookie ----------------------------------------------------------------------------------


def is_https(request: Request) -> bool:
    """Whether the request came over https (behind a proxy: as uvicorn's proxy headers say)."""
    return request.url.scheme == "https"


def set_session(response: Response, request: Request, token: str, expires_at: datetime) -> None:
    """Keep `token` in the session cookie for 8 hours, or until it expires if sooner."""
    seconds = int(min(timedelta(hours=SESSION_HOURS), expires_at - now()).total_seconds())
    response.set_cookie(
        COOKIE,
        token,
        max_age=max(seconds, 0),
        path="/",
        httponly=True,
        samesite="strict",
        secure=is_https(request),
    )


def clear_session(response: Response, request: Request) -> None:
    """Tell the browser to forget the session cookie."""
    response.delete_cookie(
        COOKIE, path="/", httponly=True, samesite="strict", secure=is_https(request)
    )


def sign_in_url(next_path: str | None = None, reason: str | None = None) -> str:
    """The sign-in page, remembering where to go afterwards and why the session ended."""
    query = {
        key: value
        for key, value in (("next", safe_next(next_path)), ("reason", reason))
        if value is not None
    }
    return f"/signin?{urlencode(query)}" if query else "/signin"


# -- cross-site requests -------------------------------------------------------------------------


def own_origin(request: Request) -> str:
    """The origin the request was made to: scheme, host and port, as the browser names it."""
    return f"{request.url.scheme}://{request.url.netloc}".lower()


def same_origin(request: Request) -> bool:
    """Whether a POST comes from the ledger's own pages (Origin, else Referer, names us)."""
    origin = request.headers.get("origin")
    if origin is not None:
        return origin.strip().lower() == own_origin(request)
    referer = request.headers.get("referer")
    if not referer:
        return False
    parts = urlsplit(referer)
    return f"{parts.scheme}://{parts.netloc}".lower() == own_origin(request)
