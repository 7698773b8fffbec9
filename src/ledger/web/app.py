"""The HTTP application: `create_app(settings)` builds it, `app_from_env()` is uvicorn's factory.

At startup the application opens one SupportLedger on the configured store and a pool of
read-model connections, and creates the tokens table if needed; at shutdown it closes them.
A store that cannot be reached at startup stops the server (uvicorn exits non-zero) so that
a supervisor restarts it.

Routers are listed in `ROUTERS` with their prefixes: pages, `/metrics`, `/healthz` and
`/readyz` go there too. A route declares who may call it with `require(...)` or `public()`
(see `ledger.web.auth`); its handlers get the process's services with `Svc`
(`ledger.web.services`).
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from ledger import __version__
from ledger.logs import configure_logging, get_logger
from ledger.projections.db import ViewPool
from ledger.settings import Settings
from ledger.web import docs, observability, pages, records
from ledger.web.errors import install_error_handlers
from ledger.web.routes import API_ROUTERS
from ledger.web.routing import API_PREFIX
from ledger.web.services import Services
from ledger.web.tokens import ensure_table
from ledger.wiring import open_ledger, open_reader

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from fastapi import APIRouter

log = get_logger("ledger.web")

MAX_BODY_BYTES = 1_000_000  # a request body larger than this is refused (413)

# Every router of the application, with the prefix it is mounted under.
ROUTERS: list[tuple[str, APIRouter]] = [
    *[(API_PREFIX, router) for router in API_ROUTERS],
    ("", observability.router),  # /metrics, /healthz, /readyz
    ("", pages.router),  # /, /signin, /signout, /ops, /finance, /audit, /static
    ("", docs.router),  # /docs and Swagger UI's files, served here (no CDN)
    ("", records.router),  # /tickets/{key}, /contracts, /contracts/{id-or-name}
]

DESCRIPTION = """\
The ledger of support contracts, tickets and credits, over HTTP: every use case and report of
the `ledger` command.

**Authentication.** Every call carries `Authorization: Bearer <token>`; tokens are made with
`ledger tokens create --role agent|finance|auditor|admin --name NAME` (or `POST
/api/v1/tokens` by an admin). There are no default credentials.

**Roles.** agent: tickets; finance: credits and statements; auditor: every GET and nothing
else; admin: contracts, releases, tokens, breach waivers and every GET.

**Values.** Instants are ISO 8601 with a UTC offset and come back in UTC with `Z`; amounts are
exact decimals (strings or JSON numbers in, strings out). Every command takes an optional `at`
(default: now) to record a fact at another instant.

**Errors** are `{"error": {"code", "message", ...}}`: 400 malformed input, 401 no valid token,
403 role not allowed, 404 not found, 409 contradicts what is recorded, 422 refused by the
terms, 503 database unavailable. Nothing is recorded by a request that fails.

**Idempotency.** Requests that create (sign, open a ticket, buy, consume, hold a training
session) take `Idempotency-Key`, which is the ledger's own key of what they create; purchases
and consumptions require it. A retry with the same key and request returns the first answer
(200, `Idempotent-Replayed: true`) and records nothing; the same key with another request is
409 `idempotency_conflict`. A support request that is declined is recorded, and answered 201
with `status: "declined"` and the reason.
"""


def open_services(settings: Settings) -> Services:
    """The application, read-model connections and tokens table for one process."""
    ledger = open_ledger(settings.database)
    views = ViewPool(settings.database)
    reads = reader = None
    try:
        if settings.read_database is not None:
            reads = ViewPool(settings.read_database)
            reader = open_reader(settings.read_database)
        with views.lease() as db:
            ensure_table(db)
    except BaseException:
        Services(settings=settings, ledger=ledger, views=views, reads=reads, reader=reader).close()
        raise
    return Services(settings=settings, ledger=ledger, views=views, reads=reads, reader=reader)


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, without FastAPI's own validation-error shape (never sent)."""
    if app.openapi_schema:
        return app.openapi_schema
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    for path in document.get("paths", {}).values():
        for operation in path.values():
            responses = operation.get("responses", {})
            default = responses.get("422", {}).get("content", {}).get("application/json", {})
            if default.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError"):
                del responses["422"]
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    app.openapi_schema = document
    return document


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API on the store of `settings` (default: from the environment)."""
    chosen = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = open_services(chosen)
        log.info("api_started", store=chosen.database.display_url)
        try:
            yield
        finally:
            app.state.services.close()
            log.info("api_stopped")

    app = FastAPI(
        title="ledger",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        max_body_size=MAX_BODY_BYTES,
        # FastAPI's /docs and /redoc load their files from a CDN: ledger.web.docs serves /docs
        # with the files in the package instead.
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    for prefix, router in ROUTERS:
        app.include_router(router, prefix=prefix)
    app.openapi = lambda: openapi_document(app)  # type: ignore[method-assign]
    return app


def app_from_env() -> FastAPI:
    """uvicorn's factory: settings and logging from the environment (one call per worker)."""
    settings = Settings.from_env()
    configure_logging(settings.log_format, settings.log_level)
    return create_app(settings)
