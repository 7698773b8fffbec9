"""The role matrix: every route declares who may call it, and every role is held to it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from ledger.settings import Settings, parse_database_url
from ledger.web.app import create_app
from ledger.web.auth import Public, Require
from ledger.web.tokens import ADMIN, AGENT, AUDITOR, FINANCE, ROLES

if TYPE_CHECKING:
    from tests.web.conftest import Api

ALL = frozenset(ROLES)
READ = frozenset({AUDITOR, ADMIN})
P = "/api/v1"
TICKET_STEPS = ("respond", "hold", "resume", "resolve", "reopen", "close", "remote-assistance",
                "patch", "severity", "priority")  # fmt: skip
CONTRACT_COMMANDS = [
    ("POST", "/contracts"), ("POST", "/contracts/{contract_id}/renew"),
    ("POST", "/contracts/{contract_id}/reinstate"), ("POST", "/contracts/{contract_id}/lapse"),
    ("POST", "/contracts/{contract_id}/terminate"), ("POST", "/contracts/{contract_id}/tier"),
    ("POST", "/contracts/{contract_id}/contacts"),
    ("DELETE", "/contracts/{contract_id}/contacts/{email}"),
    ("PUT", "/contracts/{contract_id}/representative"),
    ("DELETE", "/contracts/{contract_id}/representative"),
    ("POST", "/contracts/{contract_id}/appointments"),
    ("POST", "/contracts/{contract_id}/appointments/cancel"),
]  # fmt: skip

# The documented matrix (README / docs): who may call each route.
EXPECTED: dict[tuple[str, str], frozenset[str]] = {
    ("POST", "/releases"): frozenset({ADMIN}),
    ("POST", "/releases/{version}/withdraw"): frozenset({ADMIN}),
    ("GET", "/releases"): READ | {AGENT},
    **{route: frozenset({ADMIN}) for route in CONTRACT_COMMANDS},
    ("GET", "/contracts"): ALL,
    ("GET", "/contracts/{contract_id}"): ALL,
    ("GET", "/contracts/{contract_id}/history"): READ | {FINANCE},
    ("POST", "/tickets"): frozenset({AGENT}),
    **{("POST", f"/tickets/{{reference}}/{step}"): frozenset({AGENT}) for step in TICKET_STEPS},
    ("POST", "/tickets/{reference}/waive"): frozenset({ADMIN}),
    ("GET", "/tickets/{reference}"): READ | {AGENT},
    ("GET", "/tickets/{reference}/history"): READ | {AGENT},
    ("GET", "/contracts/{contract_id}/credits"): READ | {FINANCE},
    ("GET", "/contracts/{contract_id}/credits/history"): READ | {FINANCE},
    ("POST", "/contracts/{contract_id}/credits/purchases"): frozenset({FINANCE}),
    ("POST", "/contracts/{contract_id}/credits/consumptions"): frozenset({FINANCE}),
    ("POST", "/contracts/{contract_id}/credits/reversals"): frozenset({FINANCE}),
    ("PUT", "/contracts/{contract_id}/credits/alert-threshold"): frozenset({FINANCE}),
    ("POST", "/contracts/{contract_id}/credits/training-sessions"): frozenset({FINANCE}),
    ("GET", "/reports/breaches"): READ | {AGENT},
    ("GET", "/reports/breach-stats"): ALL,
    ("GET", "/reports/credits"): READ | {FINANCE},
    ("GET", "/reports/revenue"): READ | {FINANCE},
    ("GET", "/reports/credits/expiring"): READ | {FINANCE},
    ("GET", "/reports/renewals"): READ | {FINANCE},
    ("GET", "/projections"): READ,
    ("GET", "/audit/replay"): READ,
    ("GET", "/events/{aggregate_id}"): READ,
    ("GET", "/terms"): ALL,
    ("GET", "/sla/deadline"): ALL,
    ("GET", "/whoami"): ALL,
    ("GET", "/tokens"): READ,
    ("POST", "/tokens"): frozenset({ADMIN}),
    ("POST", "/tokens/{token_id}/revoke"): frozenset({ADMIN}),
    ("POST", "/alerts/subscriptions"): frozenset({ADMIN}),
    ("GET", "/alerts/subscriptions"): READ,
    ("DELETE", "/alerts/subscriptions/{subscription_id}"): frozenset({ADMIN}),
    ("POST", "/alerts/subscriptions/{subscription_id}/test"): frozenset({ADMIN}),
    ("GET", "/alerts/deliveries"): ALL,
    ("POST", "/alerts/deliveries/{delivery_id}/retry"): frozenset({ADMIN}),
}


@dataclass(frozen=True)
class Declared:
    """A route of the application: its full path, its methods and its access rules."""

    path: str
    methods: frozenset[str]
    rules: list[Any]


def api_routes() -> list[Declared]:
    """The routes of the application (built on a store it does not open)."""
    app = create_app(Settings(database=parse_database_url("sqlite:////tmp/unopened.db")))
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        dependant = getattr(context, "dependant", route.dependant)
        rules = [d.call for d in dependant.dependencies if isinstance(d.call, Require | Public)]
        found.append(Declared(str(context.path), frozenset(context.methods or ()), rules))
    return found


def declared() -> dict[tuple[str, str], frozenset[str]]:
    """Who may call each route under /api/v1, as the routes declare it."""
    table = {}
    for route in api_routes():
        if not route.path.startswith(f"{P}/"):
            continue
        roles = route.rules[0].roles if isinstance(route.rules[0], Require) else frozenset()
        for method in route.methods:
            table[method, route.path.removeprefix(P)] = roles
    return table


def test_every_route_declares_exactly_one_access_rule() -> None:
    """A route without a declared role (or a public mark) fails here."""
    routes = api_routes()
    assert len(routes) >= len(EXPECTED)
    for route in routes:
        assert len(route.rules) == 1, f"{sorted(route.methods)} {route.path}"


def test_the_declared_roles_are_the_documented_matrix() -> None:
    """Every route's roles match the documented table, and the table names every route."""
    assert declared() == EXPECTED


def test_auditors_only_read_and_every_read_is_theirs() -> None:
    """Auditors may call every GET and nothing else; admins every GET too."""
    for (method, path), roles in declared().items():
        assert (AUDITOR in roles) == (method == "GET"), (method, path)
        if method == "GET":
            assert ADMIN in roles, path


SAMPLE = {"contract_id": "00000000-0000-4000-8000-000000000001", "reference": "NOPE-1",
          "version": "1.2.3", "token_id": "0000000000000000", "email": "x@y.example",
          "aggregate_id": "00000000-0000-4000-8000-000000000002",
          "subscription_id": "00000000-0000-4000-8000-000000000003",
          "delivery_id": "00000000-0000-4000-8000-000000000004"}  # fmt: skip
ROUTES = sorted(EXPECTED)


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_every_role_is_let_through_or_refused_as_declared(
    sqlite_api: Api, method: str, path: str
) -> None:
    """Allowed roles get past the check (whatever their input); others get 403; no token 401."""
    url = path.format(**SAMPLE)
    body = {"json": {}} if method in {"POST", "PUT"} else {}
    for role in ROLES:
        answer = sqlite_api.call(role, method, url, **body)
        if role in EXPECTED[method, path]:
            assert answer.status_code not in {401, 403}, (role, answer.text)
        else:
            assert answer.status_code == 403, (role, answer.text)
            assert answer.json()["error"]["code"] == "forbidden"
    anonymous = sqlite_api.call(None, method, url, **body)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "missing_token"
