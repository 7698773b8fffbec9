"""How requests come in and answers go out: exact decimals in, plain JSON out.

Request bodies are parsed with every JSON number with a fraction read as a Decimal, never a
float, so `{"points": 0.1}` is exactly 0.1 (amounts may also be strings, `"0.1"`). Answers
are the same plain data as the CLI's `--json`: instants in UTC with `Z`, decimals as exact
strings, ids as strings.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from ledger.domain.errors import InvalidInputError
from ledger.serialize import jsonable
from ledger.web.errors import error_responses

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Sequence

    from fastapi.dependencies.models import Dependant
    from starlette.responses import Response

API_PREFIX = "/api/v1"
REPLAYED_HEADER = "Idempotent-Replayed"


class ExactJSONRequest(Request):
    """A request whose JSON numbers with a fraction or exponent are Decimals."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = json.loads(await self.body(), parse_float=Decimal)
        return self._json


class LedgerRoute(APIRoute):
    """A route whose body is read with ExactJSONRequest, and which refuses a query parameter
    it does not take (400 `invalid_input` naming it: a typo is not silently ignored)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        known = query_parameters(self.dependant)

        async def exact(request: Request) -> Response:
            unknown = sorted(set(request.query_params) - known)
            if unknown:
                raise unknown_parameters(unknown, known)
            return await handler(ExactJSONRequest(request.scope, request.receive))

        return exact


def query_parameters(dependant: Dependant) -> set[str]:
    """The names of the query parameters a route takes, its dependencies' included."""
    names: set[str] = set()
    pending = [dependant]
    while pending:
        current = pending.pop()
        names.update(param.alias for param in current.query_params)
        pending.extend(current.dependencies)
    return names


def unknown_parameters(unknown: Sequence[str], known: set[str]) -> InvalidInputError:
    """The error for query parameters a route does not take, naming them and what it takes."""
    names = ", ".join(repr(name) for name in unknown)
    takes = ", ".join(sorted(known)) or "no query parameters"
    noun = "parameter" if len(unknown) == 1 else "parameters"
    return InvalidInputError(
        f"unknown query {noun} {names}; this route takes {takes}",
        unknown=list(unknown),
    )


# Errors every API route may answer; commands add 409 and 422, reports 409.
COMMON_ERRORS = error_responses(400, 401, 403, 404, 503)
COMMAND_ERRORS = error_responses(409, 422)
REPORT_ERRORS = error_responses(409)


def api_router(tag: str) -> APIRouter:
    """A router of the API: exact JSON bodies, the common errors documented."""
    return APIRouter(tags=[tag], route_class=LedgerRoute, responses=COMMON_ERRORS)


def answer(data: Any, status: int = 200, *, headers: dict[str, str] | None = None) -> JSONResponse:
    """Plain JSON of `data` (instants with Z, exact decimals)."""
    return JSONResponse(jsonable(data), status, headers=headers)


# Where an answer was read, as headers: a CSV report's, and a contract's or ticket's JSON.
READ_HEADERS: dict[str, dict[str, Any]] = {
    "X-Ledger-Position": {
        "description": "The position of the log read (a view's, or the log's head where the "
        "aggregates were read).",
        "schema": {"type": "integer"},
    },
    "X-Ledger-Head": {
        "description": "The newest position of the primary's log.",
        "schema": {"type": "integer"},
    },
    "X-Ledger-Behind": {
        "description": "Events the read is behind the primary's head (0 on the primary).",
        "schema": {"type": "integer"},
    },
    "X-Ledger-Read-From": {
        "description": "primary, or replica: read on LEDGER_READ_DATABASE_URL (a standby).",
        "schema": {"type": "string", "enum": ["primary", "replica"]},
    },
}


def read_headers(where: dict[str, Any]) -> dict[str, str]:
    """`position_fields` (where an answer was read) as the READ_HEADERS."""
    return {
        "X-Ledger-Position": str(where["position"]),
        "X-Ledger-Head": str(where["head"]),
        "X-Ledger-Behind": str(max(where["head"] - where["position"], 0)),
        "X-Ledger-Read-From": str(where["read_from"]),
    }


def created(data: Any, *, recorded: bool, location: str | None = None) -> JSONResponse:
    """201 when this request recorded it; 200 and `Idempotent-Replayed: true` for a retry."""
    headers = {}
    if location is not None:
        headers["Location"] = location
    if not recorded:
        headers[REPLAYED_HEADER] = "true"
    return answer(data, 201 if recorded else 200, headers=headers)


def documented(
    model: Any,
    description: str,
    *,
    creates: bool = False,
    status: int = 200,
    errors: dict[int | str, dict[str, Any]] | None = None,
    read: bool = False,
) -> dict[int | str, dict[str, Any]]:
    """The success responses of a route; one that `creates` answers 201, or 200 for a retry
    under the same idempotency key; one that is `read` says where in READ_HEADERS."""
    responses: dict[int | str, dict[str, Any]] = {}
    if creates:
        responses[201] = {"model": model, "description": f"{description} (recorded now)"}
        responses[200] = {
            "model": model,
            "description": "Answered before under this idempotency key: the first answer, "
            "nothing new recorded (`Idempotent-Replayed: true`).",
        }
    else:
        responses[status] = {"model": model, "description": description}
        if read:
            responses[status]["headers"] = READ_HEADERS
    if errors:
        responses.update(errors)
    return responses
