"""Every report of the API in CSV too, and every API route refusing query parameters it does
not take (a typo is a 400 naming it, never silently ignored)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from uuid import UUID

import pytest

from ledger.figures import BOARD_COLUMNS, BREACH_STAT_COLUMNS, STATEMENT_COLUMNS
from ledger.web.routes import API_ROUTERS
from ledger.web.routing import LedgerRoute
from tests.scenario import at, build_world

if TYPE_CHECKING:
    from tests.scenario import World
    from tests.web.conftest import Api


def iso(value: datetime) -> str:
    """An instant as the API writes it: UTC with Z."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
def world(api: Api) -> World:
    world = build_world(api.ledger)
    api.ledger.open_ticket(
        contract_id=world.premium, reporter="ops@acme.example", version="24.2.1",
        platform="linux", severity=1, at=at(3, 3, 9), key="ACME-1",
    )  # fmt: skip
    return world


def rows_of(text: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    rows = list(reader)
    return list(reader.fieldnames or []), rows


@pytest.mark.parametrize(
    ("path", "params", "columns"),
    [
        ("/reports/breaches", {"at": iso(at(3, 5)), "state": "all"}, BOARD_COLUMNS),
        ("/reports/breach-stats", {"by": "tier", "at": iso(at(3, 5))}, BREACH_STAT_COLUMNS),
        ("/reports/credits", {"period": "2025-03"}, STATEMENT_COLUMNS),
    ],
    ids=["board", "breach-stats", "statements"],
)
def test_every_report_answers_csv_with_format_csv_or_accept_text_csv(
    api: Api, world: World, path: str, params: dict[str, str], columns: list[str]
) -> None:
    """format=csv (or Accept: text/csv): the declared columns, one row each, and the position."""
    as_json = api.get("auditor", path, params=params).json()
    by_format = api.get("auditor", path, params={**params, "format": "csv"})
    by_accept = api.get("auditor", path, params=params, headers={"Accept": "text/csv"})
    for answer in (by_format, by_accept):
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/csv")
        assert answer.headers["content-disposition"].startswith("attachment; filename=")
        assert answer.headers["x-ledger-position"] == str(as_json["position"])
        header, rows = rows_of(answer.text)
        assert header == columns
        # statements end with a totals row per currency (customer TOTAL, no contract id)
        totals = len(as_json.get("totals", []))
        assert len(rows) == len(as_json.get("rows", as_json.get("statements", []))) + totals
    explicit_json = api.get("auditor", path, params={**params, "format": "json"},
                            headers={"Accept": "text/csv"})  # fmt: skip
    assert explicit_json.headers["content-type"].startswith("application/json")


def test_the_board_in_csv_carries_the_rows_of_the_json(api: Api, world: World) -> None:
    """The CSV board is the JSON board: same tickets, instants in UTC with Z, seconds left."""
    params = {"at": iso(at(3, 3, 10)), "state": "all"}
    [row] = api.get("agent", "/reports/breaches", params=params).json()["rows"]
    _, [csv_row] = rows_of(
        api.get("agent", "/reports/breaches", params={**params, "format": "csv"}).text
    )
    assert (csv_row["key"], csv_row["state"], csv_row["due_at"]) == (
        "ACME-1",
        "on_track",
        row["due_at"],
    )
    assert csv_row["due_at"].endswith("Z")
    assert float(csv_row["business_seconds_left"]) == row["business_seconds_left"]


@pytest.mark.parametrize(
    "report", ["breaches", "breach-stats", "credits"], ids=["board", "stats", "statements"]
)
def test_an_audit_replay_answers_csv_too(api: Api, world: World, report: str) -> None:
    """The replayed report in CSV, in the columns of the live report."""
    params = {"as_of": iso(datetime.now(UTC)), "report": report, "format": "csv"}
    if report == "credits":
        params["period"] = "2025-03"
    else:
        params["at"] = iso(at(3, 5))
        params["state" if report == "breaches" else "by"] = (
            "all" if report == "breaches" else "tier"
        )
    answer = api.get("auditor", "/audit/replay", params=params)
    assert answer.status_code == 200, answer.text
    header, rows = rows_of(answer.text)
    expected = {
        "breaches": BOARD_COLUMNS, "breach-stats": BREACH_STAT_COLUMNS,
        "credits": STATEMENT_COLUMNS,
    }[report]  # fmt: skip
    assert header == expected
    assert rows


def test_a_bad_format_is_refused_by_name(api: Api, world: World) -> None:
    """format takes json or csv only."""
    answer = api.get("agent", "/reports/breaches", params={"format": "xlsx"})
    assert answer.status_code == 400
    assert "format" in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    ("role", "method", "path", "params"),
    [
        ("agent", "GET", "/reports/breaches", {"stat": "breached"}),
        ("finance", "GET", "/reports/credits", {"period": "2025-03", "contract_id": "x"}),
        ("auditor", "GET", "/projections", {"verbose": "1"}),
        ("admin", "GET", "/releases", {"at": "2025-03-01T00:00:00Z", "line": "24.2"}),
        ("admin", "POST", "/releases", {"dry_run": "true"}),
        ("auditor", "GET", f"/events/{UUID(int=5)}", {"limit": "3"}),
    ],
    ids=["board-typo", "statements-wrong-name", "no-params", "releases", "a-command", "events"],
)
def test_an_unknown_query_parameter_is_refused_with_400_naming_it(  # noqa: PLR0917 - parametrized
    api: Api, world: World, role: str, method: str, path: str, params: dict[str, str]
) -> None:
    """A parameter the route does not take: 400 invalid_input naming it, nothing recorded."""
    before = api.recorded()
    answer = api.call(role, method, path, params=params, json={} if method == "POST" else None)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_input"
    [unknown] = [name for name in params if name in error["unknown"]]
    assert f"unknown query parameter {unknown!r}" in error["message"]
    assert api.recorded() == before


def test_the_refusal_lists_every_unknown_parameter_and_what_the_route_takes(
    sqlite_api: Api,
) -> None:
    """Two typos are named together, beside the parameters the route does take."""
    answer = sqlite_api.get("agent", "/reports/breaches", params={"zzz": "1", "aaa": "2"})
    error = answer.json()["error"]
    assert (answer.status_code, error["unknown"]) == (400, ["aaa", "zzz"])
    assert "this route takes" in error["message"]
    assert "at, catch_up, customer, format" in error["message"]


def test_every_api_route_checks_its_query_parameters() -> None:
    """No route of the API is left out of the check (each is a LedgerRoute)."""
    routes = [route for router in API_ROUTERS for route in router.routes]
    assert len(routes) > 20
    assert [r for r in routes if not isinstance(r, LedgerRoute)] == []
