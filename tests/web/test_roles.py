"""The role matrix: every route declares who may call it, and every role is held to it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from ledger.settings import Settings, parse_database_url
from ledger.web.app import create_app
from ledger.web.auth import Public, Require
from ledger.web.sessions import PageAccess
from ledger.web.tokens import ADMIN, AGENT, AUDITOR, FINANCE, ROLES

if TYPE_CHECKING:
    from tests.web.conftest import Api

P = "/api/v1"
README = Path(__file__).parents[2] / "README.md"
ROUTE_ROW = re.compile(r"^\| `(GET|POST|PUT|DELETE|PATCH) (/[^`]*)` \|(.*)\|$")


def documented() -> dict[tuple[str, str], frozenset[str]]:
    """The README's role table: a row per route, a column per role, `✓` where it may call it."""
    lines = README.read_text(encoding="utf-8").splitlines()
    header = f"| route | {' | '.join(ROLES)} |"
    assert header in lines, f"the README's role table must start with {header!r}"
    table: dict[tuple[str, str], frozenset[str]] = {}
    for line in lines[lines.index(header) + 2 :]:
        if not line.startswith("|"):
            break
        row = ROUTE_ROW.match(line)
        assert row is not None, f"not a route row of the role table: {line!r}"
        method, path, cells = row.groups()
        marks = [cell.strip() for cell in cells.split("|")]
        assert len(marks) == len(ROLES), line
        assert set(marks) <= {"", "✓"}, line
        assert (method, path) not in table, f"listed twice: {method} {path}"
        table[method, path] = frozenset(r for r, mark in zip(ROLES, marks, strict=True) if mark)
    return table


# The documented matrix (README): who may call each route.
EXPECTED = documented()

ALL = frozenset(ROLES)
READ = frozenset({AUDITOR, ADMIN})

# The documented pages (README, `ledger.web.sessions`): who may open each.
PAGE_EXPECTED: dict[str, frozenset[str]] = {
    "/ops": READ | {AGENT},
    "/ops/board": READ | {AGENT},
    "/ops/wall": READ | {AGENT},
    "/finance": READ | {FINANCE},
    "/finance/statements.csv": READ | {FINANCE},
    "/finance/revenue.csv": READ | {FINANCE},
    "/finance/statements/{contract_id}": READ | {FINANCE},
    "/audit": READ,
    "/contracts": ALL,
    "/contracts/{reference:path}": ALL,
    "/tickets/{reference:path}": READ | {AGENT},
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


def test_the_declared_roles_are_the_readme_table_both_ways() -> None:
    """Every route is in the README's table with the roles it declares, and every row of the
    table is a route with exactly those roles."""
    code, readme = declared(), documented()
    missing = sorted(set(code) - set(readme))
    stale = sorted(set(readme) - set(code))
    assert not missing, f"routes the README's role table does not list: {missing}"
    assert not stale, f"rows of the README's role table that are no route: {stale}"
    differ = {k: (sorted(code[k]), sorted(readme[k])) for k in code if code[k] != readme[k]}
    assert not differ, f"(declared, README) roles differ: {differ}"


def test_the_readme_table_is_parsed_whole() -> None:
    """The table parser sees every route row (a check on the check: it stops at the table's end
    only, and knows the reads the issue found missing)."""
    table = documented()
    assert len(table) >= 40
    assert AGENT in table["GET", "/reports/breach-stats"]
    assert FINANCE in table["GET", "/contracts/{contract_id}"]


def test_the_pages_declare_the_documented_roles() -> None:
    """Every page's roles match the documented table, and the table names every page."""
    pages = {
        route.path: route.rules[0].roles
        for route in api_routes()
        if route.rules and isinstance(route.rules[0], PageAccess)
    }
    assert pages == PAGE_EXPECTED


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
