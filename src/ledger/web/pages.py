"""Pages for people, rendered on the server (Jinja2, autoescaped; no build step, nothing loaded
from elsewhere): the breach board, the credit statements, the audit view, and signing in.

- `/ops`: the wall board (`ledger.web.wall`: counters, next to breach, breach figures and
  charts; `/ops/wall` alone, fetched again like the board), then the live breach board. Open
  response clocks, breached first, then at risk, on track and on hold, each soonest deadline
  first, with the business time left in the contract's calendar and whether the scheduler has
  recorded the breach yet. Filters: tier, customer, states. The page fetches the board again
  every 5 seconds (`/ops/board`, the same HTML the page was drawn with) and puts it in place, so
  it follows the ledger without being reloaded; without scripts it reloads itself every 30
  seconds.
- `/finance`: the credit statement of every contract for a month (`YYYY-MM`, in each
  contract's timezone) or a term (N), its CSV (`/finance/statements.csv`), and on request a
  check of every figure against the events; the window's revenue and its CSV
  (`/finance/revenue.csv`); charts of points per month.
- `/audit`: the hash chain (brought up to date, then verified; optionally against a digest
  kept elsewhere) and its digest, and the breach board or credit statement as recorded at an
  instant (`as_of`: rebuilt from the events recorded by then, as `ledger audit replay` does).

Reading a report first brings its view up to date unless a runner keeps it current, as the
API's reports do; with a read database (a standby) every page reads there as it stands and
says how far behind the primary it is (the chain's verification stays on the primary).
Instants are shown in UTC. Who may open which page, and how a browser signs
in, is in `ledger.web.sessions`. Every page is sent with a Content-Security-Policy allowing
only the ledger's own script and stylesheet (`/static/...`), `Cache-Control: no-store`, and
may not be framed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.concurrency import run_in_threadpool

from ledger.audit.chain import parse_digest, verify_chain
from ledger.audit.replay import as_of_views
from ledger.display import deadline_text, duration_text, time_text
from ledger.domain.errors import InvalidInputError, LedgerError
from ledger.errors import StoreUnavailableError
from ledger.figures import FEES_TOTAL, REVENUE_FIGURES, STATEMENT_FIGURES, UNITS
from ledger.logs import get_logger
from ledger.parsing import format_instant, parse_int
from ledger.presenters import local_window, money
from ledger.projections.credit_usage import CreditUsageProjection, CreditUsageView, reconcile
from ledger.projections.sla_breaches import (
    AT_RISK,
    BREACHED,
    DECLINED,
    MAX_PAGE,
    MET,
    ON_TRACK,
    PAUSED,
    SlaBreachProjection,
    SlaBreachView,
    read_cursor,
)
from ledger.reports import (
    caught_up,
    money_totals,
    position_fields,
    read_from,
    revenue_csv,
    statements_csv,
)
from ledger.web import assets
from ledger.web.auth import Principal, public
from ledger.web.errors import STORE_OUTAGES, status_of
from ledger.web.inputs import instant
from ledger.web.observability import alert_counts
from ledger.web.routing import read_headers
from ledger.web.services import Services, Svc, now
from ledger.web.sessions import (
    AUDIT,
    FINANCE_PAGE,
    MAX_TOKEN_LENGTH,
    OPS,
    PageDeniedError,
    PageForbiddenError,
    SignInRequiredError,
    clear_session,
    landing,
    page,
    pages_for,
    safe_next,
    same_origin,
    session_of,
    set_session,
    sign_in_url,
)
from ledger.web.tokens import AuthenticationError, verify_token
from ledger.web.wall import points_charts, revenue_of, wall_of

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine
    from datetime import datetime

log = get_logger("ledger.web.pages")

REFRESH_SECONDS = 5  # the board's own refresh (of the page shown)
BOARD_PAGE = 50  # rows of one page of /ops
NO_SCRIPT_REFRESH_SECONDS = 30
# What a page says when the store cannot be used: no part of the database URL.
PAGE_OUTAGE_MESSAGE = "The database could not be reached; try again in a moment."
MAX_FORM_BYTES = 4096
MAX_FIELD_LENGTH = 200
STATE_ORDER = {BREACHED: 0, AT_RISK: 1, ON_TRACK: 2, PAUSED: 3}
STATE_LABELS = {BREACHED: "breached", AT_RISK: "at risk", ON_TRACK: "on track", PAUSED: "on hold"}
COUNT_LABELS = {**STATE_LABELS, MET: "met", DECLINED: "declined"}  # the counts of every state
TIERS = ("premium", "advanced", "basic")
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
SIGN_IN_REASONS = {
    "signed_out": "You signed out.",
    "expired_token": "Your token has expired: sign in with a new one.",
    "revoked_token": "Your token was revoked: sign in with a new one.",
    "invalid_token": "That token is not known.",
    "malformed_token": "That is not a ledger token (ldg_<id>_<secret>).",
}


# -- templates and static files ------------------------------------------------------------------


STATIC = assets.load(
    "static", {"ledger.css": "text/css; charset=utf-8", "ledger.js": "text/javascript"}
)


def static_url(name: str) -> str:
    """The URL of a static file, versioned by its content (so it may be cached long)."""
    return f"/static/{name}?v={STATIC[name][2]}"


def when(value: datetime | None) -> str:
    """An instant for people, to the minute in the display zone (`LEDGER_DISPLAY_TZ`):
    `2025-03-12 12:00 CET` (nothing for None)."""
    return "" if value is None else time_text(value)


def due(value: datetime | None, at: datetime) -> str:
    """A deadline on a board drawn at `at`: to the minute, to the second within the hour."""
    return "" if value is None else deadline_text(value, at)


TEMPLATES = Environment(
    loader=PackageLoader("ledger.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.globals.update(static_url=static_url, state_labels=STATE_LABELS,
                         count_labels=COUNT_LABELS,
                         figures=STATEMENT_FIGURES, units=UNITS, fees_total=FEES_TOTAL,
                         tiers=TIERS, revenue_figures=REVENUE_FIGURES)  # fmt: skip
TEMPLATES.filters.update(
    when=when, due=due, duration=duration_text, money=money, local_window=local_window
)


def render(
    request: Request,
    template: str,
    *,
    caller: Principal | None = None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page from its template, with the navigation of the caller's role."""
    html = TEMPLATES.get_template(template).render(
        caller=caller,
        nav=pages_for(caller.role) if caller else [],
        current=request.url.path,
        **context,
    )
    return HTMLResponse(html, status, headers=PAGE_HEADERS)


def error_page(
    request: Request,
    status: int,
    code: str,
    message: str,
    *,
    caller: Principal | None = None,
) -> HTMLResponse:
    """A page saying what went wrong (the error's code and message, as the API says them)."""
    return render(
        request, "error.html", caller=caller, status=status, title="Error", code=code,
        message=message,
    )  # fmt: skip


def _denied(request: Request, exc: PageDeniedError) -> Response:
    if isinstance(exc, SignInRequiredError):
        if exc.fragment:
            response: Response = Response(
                "sign in again", 401, media_type="text/plain", headers=PAGE_HEADERS
            )
        else:
            response = RedirectResponse(
                sign_in_url(exc.path, exc.reason), 303, headers=PAGE_HEADERS
            )
        if exc.reason is not None:
            clear_session(response, request)
        return response
    if isinstance(exc, PageForbiddenError):
        allowed = ", ".join(exc.page.roles)
        return error_page(
            request, 403, "forbidden",
            f"Your role ({exc.caller.role}) may not open {exc.page.title} "
            f"({exc.page.path}); it is for: {allowed}.",
            caller=exc.caller,
        )  # fmt: skip
    raise exc  # pragma: no cover - every refusal is one of the two


class PageRoute(APIRoute):
    """A page's route: refusals and errors are answered as pages, not as JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def as_page(request: Request) -> Response:
            try:
                return await handler(request)
            except PageDeniedError as exc:
                return _denied(request, exc)
            except RequestValidationError:
                return error_page(request, 400, "invalid_input", "The request is malformed.")
            except StoreUnavailableError as exc:
                log.error("page_store_unavailable", error=exc.message)  # noqa: TRY400 - same
                return error_page(request, 503, exc.code, PAGE_OUTAGE_MESSAGE)
            except LedgerError as exc:
                return error_page(request, status_of(exc), exc.code, exc.message)
            except STORE_OUTAGES as exc:
                log.error(  # noqa: TRY400 - an expected outage, no traceback wanted
                    "page_store_unavailable", error=str(exc).strip()
                )
                return error_page(request, 503, "store_unavailable", PAGE_OUTAGE_MESSAGE)

        return as_page


router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _line(value: str | None, name: str) -> str | None:
    """A one-line text input: stripped, None when empty, refused when long or not one line."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if len(text) > MAX_FIELD_LENGTH or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise InvalidInputError(f"{name}: one line of at most {MAX_FIELD_LENGTH} characters")
    return text


# -- signing in and out ----------------------------------------------------------------------------


@router.get("/", dependencies=[public()])
async def home(request: Request, services: Svc) -> Response:
    """The signed-in role's first page, or the sign-in page."""
    caller = await session_of(request, services)
    target = landing(caller.role) if caller else "/signin"
    return RedirectResponse(target, 303, headers=PAGE_HEADERS)


@router.get("/signin", dependencies=[public()])
def sign_in_form(
    request: Request,
    next: str | None = None,  # noqa: A002 - the form's field is called next
    reason: str | None = None,
) -> HTMLResponse:
    """The sign-in form: a token, posted, never in the URL."""
    return render(
        request, "signin.html", title="Sign in", next=safe_next(next) or "",
        message=SIGN_IN_REASONS.get(reason or ""), error=None,
    )  # fmt: skip


async def _form(request: Request) -> dict[str, str]:
    """The fields of a posted form (application/x-www-form-urlencoded), first value each."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise InvalidInputError("the form is too large")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInputError("the form is not UTF-8") from None
    return {key: values[0] for key, values in parse_qs(text, max_num_fields=10).items()}


def _cross_site(request: Request) -> HTMLResponse:
    log.warning(
        "page_request_denied",
        status=403,
        reason="cross_site",
        method=request.method,
        path=request.url.path,
        origin=request.headers.get("origin"),
    )
    return error_page(
        request, 403, "cross_site_request",
        "This form must be sent from the ledger's own pages.",
    )  # fmt: skip


@router.post("/signin", dependencies=[public()])
async def sign_in(request: Request, services: Svc) -> Response:
    """Check the token posted; keep it in the session cookie and go to the page asked for."""
    if not same_origin(request):
        return _cross_site(request)
    fields = await _form(request)
    text = fields.get("token", "").strip()
    wanted = fields.get("next")

    def verify() -> Principal:
        if not text or len(text) > MAX_TOKEN_LENGTH:
            raise AuthenticationError("paste a token made with `ledger tokens create`")
        with services.views.lease() as db:
            token = verify_token(db, text, at=now())
        return Principal(token.token_id, token.name, token.role, token.expires_at)

    try:
        caller = await run_in_threadpool(verify)
    except AuthenticationError as exc:
        log.warning("page_sign_in_refused", reason=exc.code, token_id=exc.token_id)
        return render(
            request, "signin.html", status=401, title="Sign in", next=safe_next(wanted) or "",
            message=None, error=SIGN_IN_REASONS.get(exc.code, exc.message),
        )  # fmt: skip
    log.info("page_signed_in", token_id=caller.token_id, role=caller.role)
    target = safe_next(wanted, caller.role) or landing(caller.role)
    response = RedirectResponse(target, 303, headers=PAGE_HEADERS)
    set_session(response, request, text, caller.expires_at)
    return response


@router.post("/signout", dependencies=[public()])
async def sign_out(request: Request) -> Response:
    """Forget the session cookie (the token itself stays valid) and show the sign-in page."""
    if not same_origin(request):
        return _cross_site(request)
    response = RedirectResponse(sign_in_url(reason="signed_out"), 303, headers=PAGE_HEADERS)
    clear_session(response, request)
    return response


@router.get("/static/{name}", dependencies=[public()])
def static(name: str) -> Response:
    """The pages' stylesheet and script."""
    return assets.answer(STATIC, name)


# -- /ops: the breach board ------------------------------------------------------------------------


def _board_filters(
    *,
    tier: str | None,
    customer: str | None,
    state: list[str],
    at: str | None,
    after: str | None,
    limit: str | None,
) -> dict[str, Any]:
    """The board's filters, page and instant from the query (each value checked)."""
    chosen_tier = _line(tier, "tier")
    if chosen_tier is not None and chosen_tier.lower() not in TIERS:
        raise InvalidInputError(f"tier: {chosen_tier!r} is not a tier; use {', '.join(TIERS)}")
    unknown = sorted(set(state) - set(STATE_ORDER))
    if unknown:
        raise InvalidInputError(
            f"state: {unknown[0]!r} is not a state of the board; use {', '.join(STATE_ORDER)}"
        )
    chosen_at = _line(at, "at")
    chosen_after = _line(after, "after")
    chosen_limit = _line(limit, "limit")
    if chosen_after is not None:
        read_cursor(chosen_after)  # a bad cursor is named before anything is read
    return {
        "tier": chosen_tier.lower() if chosen_tier else None,
        "customer": _line(customer, "customer"),
        "state": sorted(set(state), key=STATE_ORDER.__getitem__),
        "at": None if chosen_at is None else instant(chosen_at, "at"),
        "at_text": chosen_at,
        "after": chosen_after,
        "limit": None
        if chosen_limit is None
        else parse_int(chosen_limit, "limit", minimum=1, maximum=MAX_PAGE),
    }


def board_of(services: Services, filters: dict[str, Any]) -> dict[str, Any]:
    """A page of the board (now, or as it stood at the filters' `at`): open clocks in the
    filters' states, soonest deadline first (so breached first), a page of BOARD_PAGE from the
    filters' cursor; the counts of every state; the log position read; the next page's query."""
    at = filters["at"] or now()
    name = SlaBreachProjection.name
    with services.read_views.lease() as db:
        position, head = caught_up(
            services.settings.database, services.ledger, name, catch_up=True, db=db,
            reads=services.read_database,
        )  # fmt: skip
        page = SlaBreachView(db).page(
            at, limit=filters["limit"] or BOARD_PAGE, after=filters["after"],
            states=filters["state"] or None, tier=filters["tier"], customer=filters["customer"],
            as_it_stood=filters["at"] is not None,
        )  # fmt: skip
    more = page["next"]
    return {
        "at": at, "position": position, "head": head, "rows": page["rows"],
        "counts": page["counts"], "first": filters["after"] is not None,
        "as_it_stood": filters["at"] is not None, "read_from": services.read_from,
        "first_query": _query({**filters, "after": None}),
        "next_query": None if more is None else _query({**filters, "after": more}),
    }  # fmt: skip


def _query(filters: dict[str, Any]) -> str:
    pairs = [(k, filters[k]) for k in ("tier", "customer") if filters[k]]
    pairs += [("state", s) for s in filters["state"]]
    pairs += [
        (k, filters[f]) for k, f in (("at", "at_text"), ("limit", "limit"), ("after", "after"))
        if filters[f]
    ]  # fmt: skip
    return urlencode(pairs)


NO_FILTERS: dict[str, Any] = {
    "tier": None, "customer": None, "state": [], "at": None, "at_text": None, "after": None,
    "limit": None,
}  # fmt: skip


@router.get("/ops")
def ops(
    *,
    request: Request,
    services: Svc,
    caller: Annotated[Principal, page(OPS)],
    tier: str | None = None,
    customer: str | None = None,
    at: str | None = None,
    after: str | None = None,
    limit: str | None = None,
) -> HTMLResponse:
    """The breach board a page at a time, refreshing its page (a board for an instant does
    not change, and is not refreshed)."""
    try:
        filters = _board_filters(
            tier=tier, customer=customer, state=request.query_params.getlist("state"), at=at,
            after=after, limit=limit,
        )  # fmt: skip
    except LedgerError as exc:
        filters = dict(NO_FILTERS)
        return render(
            request, "ops.html", caller=caller, status=400, title=OPS.title, error=exc.message,
            filters=filters, board=board_of(services, filters), source="/ops/board",
            refresh=REFRESH_SECONDS, noscript_refresh=NO_SCRIPT_REFRESH_SECONDS,
            alerts=alert_counts(services), wall=wall_of(services, now()), wall_source="/ops/wall",
        )  # fmt: skip
    query = _query(filters)
    return render(
        request, "ops.html", caller=caller, title=OPS.title, error=None, filters=filters,
        board=board_of(services, filters), source=f"/ops/board?{query}" if query else "/ops/board",
        refresh=0 if filters["at"] else REFRESH_SECONDS,
        noscript_refresh=NO_SCRIPT_REFRESH_SECONDS,
        alerts=alert_counts(services),
        wall=None if filters["at"] else wall_of(services, now(), filters["tier"]),
        wall_source=_wall_source(filters["tier"]),
    )  # fmt: skip


@router.get("/ops/board")
def ops_board(
    *,
    request: Request,
    services: Svc,
    _caller: Annotated[Principal, page(OPS, fragment=True)],
    tier: str | None = None,
    customer: str | None = None,
    at: str | None = None,
    after: str | None = None,
    limit: str | None = None,
) -> HTMLResponse:
    """A page of the board alone (the HTML the page puts in place at each refresh)."""
    filters = _board_filters(
        tier=tier, customer=customer, state=request.query_params.getlist("state"), at=at,
        after=after, limit=limit,
    )  # fmt: skip
    html = TEMPLATES.get_template("_board.html").render(board=board_of(services, filters))
    return HTMLResponse(html, headers=PAGE_HEADERS)


def _wall_source(tier: str | None) -> str:
    return "/ops/wall" + (f"?{urlencode({'tier': tier})}" if tier else "")


@router.get("/ops/wall")
def ops_wall(
    *,
    services: Svc,
    _caller: Annotated[Principal, page(OPS, fragment=True)],
    tier: str | None = None,
) -> HTMLResponse:
    """The wall's counters, next tickets to breach, breach figures and charts alone (the HTML
    the page puts in place at each refresh)."""
    filters = _board_filters(tier=tier, customer=None, state=[], at=None, after=None, limit=None)
    with services.read_views.lease() as db:  # up to date, unless a runner does or on a standby
        caught_up(services.settings.database, services.ledger, SlaBreachProjection.name,
                  catch_up=True, db=db, reads=services.read_database)  # fmt: skip
    html = TEMPLATES.get_template("_wall.html").render(
        wall=wall_of(services, now(), filters["tier"])
    )
    return HTMLResponse(html, headers=PAGE_HEADERS)


# -- /finance: credit statements ---------------------------------------------------------------


def _window(period: str | None, term: str | None) -> tuple[str | None, int | None]:
    """The month or term asked for (the current UTC month when neither is)."""
    chosen_period, chosen_term = _line(period, "period"), _line(term, "term")
    if chosen_period is not None and chosen_term is not None:
        raise InvalidInputError("give a month or a term, not both")
    if chosen_term is not None:
        number = parse_int(chosen_term, "term", minimum=1)
        if number > 1000:
            raise InvalidInputError(f"term: at most 1000, got {number}")
        return None, number
    return chosen_period or now().strftime("%Y-%m"), None


def statements_of(
    services: Services, period: str | None, term: int | None, *, check: bool
) -> dict[str, Any]:
    """The credit statements of every contract for the window, and the check's differences."""
    name = CreditUsageProjection.name
    # The check compares with the whole log: it reads the primary's view, caught up.
    reads = None if check else services.read_database
    position, head = caught_up(
        services.settings.database, services.ledger, name, catch_up=True, reads=reads
    )
    with (services.views if check else services.read_views).lease() as db:
        view = CreditUsageView(db)
        statements = view.statement(period=period, term=term)
        found = reconcile(services.ledger, view, period=period, term=term) if check else None
    names = services.ledger.customers_of([d.contract_id for d in found or []])
    differences = (
        None
        if found is None
        else [{**vars(d), "customer": names.get(d.contract_id)} for d in found]
    )
    return {
        "position": position, "head": head, "statements": statements,
        "totals": money_totals(statements), "differences": differences,
        "read_from": read_from(reads),
    }  # fmt: skip


@router.get("/finance")
def finance(
    *,
    request: Request,
    services: Svc,
    caller: Annotated[Principal, page(FINANCE_PAGE)],
    period: str | None = None,
    term: str | None = None,
    check: str | None = None,
) -> HTMLResponse:
    """The credit statement of every contract for a month or a term, with its CSV."""
    try:
        chosen_period, chosen_term = _window(period, term)
        report = statements_of(services, chosen_period, chosen_term, check=bool(check))
    except InvalidInputError as exc:
        return render(
            request, "finance.html", caller=caller, status=400, title=FINANCE_PAGE.title,
            error=exc.message, period=_line(period, "period") or "", term="", report=None,
            csv_url=None,
        )  # fmt: skip
    window = {"period": chosen_period} if chosen_period else {"term": chosen_term}
    return render(
        request, "finance.html", caller=caller, title=FINANCE_PAGE.title, error=None,
        period=chosen_period or "", term=chosen_term or "", report=report,
        csv_url=f"/finance/statements.csv?{urlencode(window)}", window_query=urlencode(window),
        revenue=revenue_of(services, chosen_period, chosen_term, check=bool(check)),
        revenue_csv_url=f"/finance/revenue.csv?{urlencode(window)}",
        points=points_charts(services, now(), check=bool(check)),
    )  # fmt: skip


@router.get("/finance/statements.csv")
def finance_csv(
    *,
    services: Svc,
    _caller: Annotated[Principal, page(FINANCE_PAGE)],
    period: str | None = None,
    term: str | None = None,
) -> Response:
    """The statements as CSV (one row per contract), as a download."""
    chosen_period, chosen_term = _window(period, term)
    report = statements_of(services, chosen_period, chosen_term, check=False)
    window = f"period-{chosen_period}" if chosen_period else f"term-{chosen_term}"
    return Response(
        statements_csv(report["statements"]),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="credit-statements-{window}.csv"',
            **read_headers(report),
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/finance/revenue.csv")
def finance_revenue_csv(
    *,
    services: Svc,
    _caller: Annotated[Principal, page(FINANCE_PAGE)],
    period: str | None = None,
    term: str | None = None,
) -> Response:
    """The revenue of every contract for the window as CSV (totals rows last), as a download."""
    chosen_period, chosen_term = _window(period, term)
    name, reads = CreditUsageProjection.name, services.read_database
    position, head = caught_up(
        services.settings.database, services.ledger, name, catch_up=True, reads=reads
    )
    window = f"period-{chosen_period}" if chosen_period else f"term-{chosen_term}"
    return Response(
        revenue_csv(revenue_of(services, chosen_period, chosen_term)["rows"]),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="revenue-{window}.csv"',
            **read_headers(position_fields(position, head, read_from(reads))),
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/finance/statements/{contract_id}")
def customer_statement_page(
    *,
    services: Svc,
    _caller: Annotated[Principal, page(FINANCE_PAGE)],
    contract_id: str,
    period: str | None = None,
    term: str | None = None,
) -> HTMLResponse:
    """One customer's statement as a printable document (A4): agreement, movements, fees,
    packages, totals and the hash-chain digest at its position."""
    from ledger.documents import (  # noqa: PLC0415 - this page only
        customer_statement,
        render_statement,
        style_source,
    )

    chosen_period, chosen_term = _window(period, term)
    app = services.replayed  # the standby's log and views when one is set
    contract = app.contract_id(contract_id, "contract")
    with services.read_views.lease() as db:
        _, head = caught_up(
            services.settings.database, services.ledger, CreditUsageProjection.name,
            catch_up=True, db=db, reads=services.read_database,
        )  # fmt: skip
        data = customer_statement(app, db, contract, period=chosen_period, term=chosen_term)
    html = render_statement(data)
    policy = CSP.replace("style-src 'self'", f"style-src {style_source(html)}")
    where = read_headers(position_fields(data["position"], head, services.read_from))
    return HTMLResponse(html, headers={**PAGE_HEADERS, **where, "Content-Security-Policy": policy})


# -- /audit: the hash chain and the reports as recorded ----------------------------------------


def chain_of(services: Services, digest_text: str | None) -> dict[str, Any]:
    """The chain verified (every event is linked as it is recorded: one unchained fails)."""
    digest = parse_digest(digest_text) if digest_text else None
    with services.views.lease() as db:
        verification = verify_chain(services.ledger, db, digest=digest)
    return {"verification": verification.as_dict()}


def replay_of(
    services: Services,
    as_of: datetime,
    *,
    report: str,
    at: datetime | None,
    period: str | None,
    term: int | None,
) -> dict[str, Any]:
    """The board or the statements as recorded at `as_of` (rebuilt in a temporary store)."""
    with as_of_views(
        services.settings.reads, services.replayed, as_of, standby=services.reader is not None
    ) as then:
        if report == "breaches":
            rows = then.breaches.board(at or as_of, as_it_stood=True)
            rows.sort(key=lambda r: STATE_ORDER.get(r["state"], 9))
            counts = dict.fromkeys(STATE_ORDER, 0)
            for row in rows:
                counts[row["state"]] = counts.get(row["state"], 0) + 1
            board = {"at": at or as_of, "position": then.last_position, "head": then.head,
                     "rows": rows, "counts": counts, "as_it_stood": True, "first": False,
                     "next_query": None}  # fmt: skip
            return {"report": report, "board": board, "applied": then.applied}
        statements = then.credits.statement(period=period, term=term)
        return {
            "report": report, "applied": then.applied,
            "statements": {"position": then.last_position, "head": then.head,
                           "statements": statements, "differences": None,
                           "totals": money_totals(statements)},
        }  # fmt: skip


@router.get("/audit")
def audit(
    *,
    request: Request,
    services: Svc,
    caller: Annotated[Principal, page(AUDIT)],
    digest: str | None = None,
    as_of: str | None = None,
    report: str | None = None,
    at: str | None = None,
    period: str | None = None,
    term: str | None = None,
) -> HTMLResponse:
    """The chain verified (and its digest), and a report as recorded at an instant."""
    errors: list[str] = []
    form = {
        "digest": _line(digest, "digest") or "",
        "as_of": _line(as_of, "as_of") or format_instant(now().replace(microsecond=0)),
        "report": report if report in ("breaches", "credits") else "breaches",
        "at": _line(at, "at") or "",
        "period": _line(period, "period") or "",
        "term": _line(term, "term") or "",
    }
    try:
        chain = chain_of(services, form["digest"] or None)
    except InvalidInputError as exc:
        errors.append(exc.message)
        chain = chain_of(services, None)
    replay = None
    if as_of is not None:
        try:
            recorded_by = instant(form["as_of"], "as_of")
            business = instant(form["at"], "at") if form["at"] else None
            chosen_period, chosen_term = (None, None)
            if form["report"] == "credits":
                chosen_period, chosen_term = _window(form["period"] or None, form["term"] or None)
                if chosen_term is None and not form["period"]:
                    chosen_period = recorded_by.strftime("%Y-%m")
            replay = replay_of(
                services, recorded_by, report=form["report"], at=business,
                period=chosen_period, term=chosen_term,
            )  # fmt: skip
            replay["as_of"] = recorded_by
        except InvalidInputError as exc:
            errors.append(exc.message)
    return render(
        request, "audit.html", caller=caller, status=400 if errors else 200,
        title=AUDIT.title, errors=errors, chain=chain, form=form, replay=replay,
    )  # fmt: skip
