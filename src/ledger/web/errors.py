"""Every error the API answers, in one shape: `{"error": {"code", "message", ...details}}`.

The shape is the CLI's `--json` error. A LedgerError's `kind` picks the status:

| kind | status | meaning |
|---|---|---|
| `invalid` | 400 | malformed input (an instant, amount, email, version; a missing field) |
| `unauthenticated` | 401 | no token, or one that is malformed, unknown, expired or revoked |
| `forbidden` | 403 | the token's role may not do this |
| `not_found` | 404 | no such contract, ticket, consumption, token, ... |
| `conflict` | 409 | contradicts what is recorded (a state, a reused idempotency key) |
| `refused` | 422 | well-formed, but a rule of the terms forbids it (credits, tier) |
| `unavailable` | 503 | the database could not be reached or used (with `Retry-After`) |

A 503 names no part of the database URL (not even the host): its message is always
`OUTAGE_MESSAGE`, and what went wrong is logged for the operators.

FastAPI's own validation errors (a field of the wrong type, a missing field, an unknown field,
a body that is not JSON) are `invalid_input` (400), the message naming the field; `errors`
lists every problem found. Unknown paths are `not_found` (404), wrong methods
`method_not_allowed` (405). Anything else is a bug: `internal_error` (500), logged with its
traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import psycopg
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException
from starlette.routing import Match

from ledger.domain.errors import LedgerError
from ledger.logs import get_logger
from ledger.serialize import jsonable
from ledger.store import InterfaceError, OperationalError, StoreUnavailableError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from fastapi import FastAPI, Request
    from starlette.responses import Response

log = get_logger("ledger.web")

KIND_STATUS = {
    "invalid": 400,
    "unauthenticated": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "refused": 422,
    "unavailable": 503,
}
RETRY_AFTER_SECONDS = 5
OUTAGE_MESSAGE = "the database could not be reached or used; try again later"
# Text inputs must not hold control characters (PostgreSQL text cannot hold NUL at all).
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1F\x7F]*$"
NO_NUL = r"^[^\x00]*$"
_PATTERN_MESSAGES = {
    NO_CONTROL_CHARACTERS: "must not contain control characters",
    NO_NUL: "must not contain NUL characters",
}


class IdempotencyKeyRequiredError(LedgerError):
    """A request that records money or points must carry an idempotency key."""

    code = "idempotency_key_required"


class ErrorDetail(BaseModel):
    """What went wrong: a stable code and a message a person can act on."""

    model_config = ConfigDict(extra="allow")

    code: str = Field(description="Stable error code, e.g. `insufficient_credits`.")
    message: str = Field(description="What was wrong, naming the field or the rule.")


class ErrorResponse(BaseModel):
    """The body of every error response (details beyond code and message vary by code)."""

    error: ErrorDetail


_DESCRIPTIONS = {
    400: "Malformed input (`invalid_input` and the other codes of kind `invalid`); "
    "nothing was recorded.",
    401: "No valid bearer token (`missing_token`, `malformed_token`, `invalid_token`, "
    "`expired_token`, `revoked_token`).",
    403: "The token's role may not do this (`forbidden`).",
    404: "Nothing recorded under that id or key.",
    409: "Contradicts what is recorded (a state, a reused idempotency key); nothing was recorded.",
    422: "Refused by the terms (e.g. `insufficient_credits`); nothing was recorded.",
    503: "The database could not be reached (`store_unavailable`); try again later.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI documentation of error statuses, all in the ErrorResponse shape."""
    return {
        status: {"model": ErrorResponse, "description": _DESCRIPTIONS[status]}
        for status in statuses
    }


def error_body(code: str, message: str, **details: Any) -> dict[str, Any]:
    """The JSON body of an error."""
    return {"error": jsonable({"code": code, "message": message, **details})}


def status_of(error: LedgerError) -> int:
    """The HTTP status of a LedgerError, by its kind."""
    return KIND_STATUS.get(error.kind, 400)


def ledger_error_response(error: LedgerError) -> JSONResponse:
    """The response for a LedgerError."""
    status = status_of(error)
    headers = dict(getattr(error, "response_headers", None) or {})
    if status == 503:
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return JSONResponse(error_body(error.code, OUTAGE_MESSAGE), status, headers=headers)
    return JSONResponse(
        error_body(error.code, error.message, **error.details), status, headers=headers
    )


async def _ledger_error(_request: Request, exc: Exception) -> Response:
    if not isinstance(exc, LedgerError):  # pragma: no cover - registered for LedgerError only
        raise exc
    if isinstance(exc, StoreUnavailableError):
        log.error("api_store_unavailable", error=exc.message)
    return ledger_error_response(exc)


async def _store_outage(_request: Request, exc: Exception) -> Response:
    log.error("api_store_unavailable", error=str(exc).strip())
    return ledger_error_response(
        StoreUnavailableError(f"the database could not be reached or used: {str(exc).strip()}")
    )


def _field(loc: Sequence[Any]) -> tuple[str, str]:
    """Where a validation error is (`body`, `query`, ...) and the field's dotted name."""
    where = str(loc[0]) if loc else "body"
    rest = [str(part) for part in loc[1:]]
    return where, ".".join(rest) if rest else where


def _message(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return "not a known field"
    if kind == "json_invalid":
        return f"not valid JSON ({error.get('ctx', {}).get('error', 'decode error')})"
    if kind == "string_pattern_mismatch":
        pattern = error.get("ctx", {}).get("pattern")
        if pattern in _PATTERN_MESSAGES:
            return _PATTERN_MESSAGES[pattern]
    text = str(error.get("msg", "invalid"))
    return text[:1].lower() + text[1:]


def validation_problems(errors: Iterable[dict[str, Any]]) -> list[dict[str, str]]:
    """FastAPI's validation errors as plain problems: where, field, message, type."""
    problems = []
    for error in errors:
        where, name = _field(error.get("loc", ()))
        if error.get("type") == "json_invalid":
            name = "body"
        problems.append(
            {"in": where, "field": name, "message": _message(error), "type": error.get("type", "")}
        )
    return problems


async def _validation_error(_request: Request, exc: Exception) -> Response:
    if not isinstance(exc, RequestValidationError):  # pragma: no cover - registered for it only
        raise exc
    problems = validation_problems(exc.errors())
    first = problems[0] if problems else {"field": "request", "message": "invalid"}
    message = f"{first['field']}: {first['message']}"
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more problem(s))"
    return JSONResponse(error_body("invalid_input", message, errors=problems), 400)


_HTTP_CODES = {
    400: "invalid_input",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the application answers at the request's path.

    Starlette's own 405 names only the methods of the first route matching the path, not of
    every route at it (GET and POST of one path are two routes).
    """
    methods: set[str] = set()
    for context in iter_route_contexts(request.app.routes):
        match, _ = context.matches(request.scope)
        if match != Match.NONE:
            methods.update(context.methods or ())
    return sorted(methods)


async def _http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):  # pragma: no cover - registered for it only
        raise exc
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = str(exc.detail) if exc.detail else code
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        message = "no such endpoint; see /openapi.json"
    if exc.status_code == 405:
        allowed = allowed_methods(request)
        headers["Allow"] = ", ".join(allowed)
        message = f"{request.method} is not allowed here; allowed: {', '.join(allowed)}"
    return JSONResponse(error_body(code, message), exc.status_code, headers=headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("api_internal_error", method=request.method, path=request.url.path, exc_info=exc)
    return JSONResponse(
        error_body("internal_error", "an unexpected error occurred; it was logged"), 500
    )


# Exceptions that mean the store cannot be used at the moment (not a mistake in the request).
STORE_OUTAGES: tuple[type[Exception], ...] = (
    OperationalError,  # eventsourcing's, raised by its recorders (pool timeouts included)
    InterfaceError,
    psycopg.OperationalError,  # psycopg_pool.PoolTimeout is one
)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error in the one shape."""
    app.add_exception_handler(LedgerError, _ledger_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    for outage in STORE_OUTAGES:
        app.add_exception_handler(outage, _store_outage)
    app.add_exception_handler(Exception, _unexpected)
