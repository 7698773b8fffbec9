"""The API documents each declared report figure, and its answers hold what it documents."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from ledger.figures import (
    BREACH_STAT_FIGURES,
    BREACH_STAT_KEY,
    REVENUE_FIGURES,
    REVENUE_HEADING,
    STATEMENT_FIGURES,
    UNIT_NAMES,
)
from tests.scenario import World, at, build_world

if TYPE_CHECKING:
    from tests.web.conftest import Api

TYPES = {"string": str, "integer": int, "object": dict, "array": list, "null": type(None)}


@pytest.fixture
def world(api: Api) -> World:
    return build_world(api.ledger)


def problems(value: Any, schema: dict[str, Any], where: str = "") -> list[str]:
    """Where `value` differs from the parts of JSON schema the report schemas use."""
    if "anyOf" in schema:
        if all(problems(value, option, where) for option in schema["anyOf"]):
            return [f"{where}: {value!r} matches none of {schema['anyOf']}"]
        return []
    expected = TYPES.get(schema.get("type", ""), object)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        return [f"{where}: {value!r} is not {schema.get('type')}"]
    found = [f"{where}.{name}: missing" for name in schema.get("required", []) if name not in value]
    for name, inner in schema.get("properties", {}).items():
        if name in value:
            found += problems(value[name], inner, f"{where}.{name}")
    if "items" in schema:
        for index, item in enumerate(value):
            found += problems(item, schema["items"], f"{where}[{index}]")
    return found


def answer_schema(api: Api, path: str) -> dict[str, Any]:
    """The documented JSON schema of the 200 answer of GET `path`."""
    document = api.client.app.openapi()  # type: ignore[attr-defined]
    content = document["paths"][f"/api/v1{path}"]["get"]["responses"]["200"]["content"]
    reference = content["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    schema: dict[str, Any] = document["components"]["schemas"][reference]
    return schema


def test_the_schema_of_the_statements_names_every_declared_figure(sqlite_api: Api) -> None:
    """Each unit of a statement documents the declared figures, each one required."""
    statement = answer_schema(sqlite_api, "/reports/credits")["properties"]["statements"]["items"]
    for unit in UNIT_NAMES:
        assert list(statement["properties"][unit]["properties"]) == list(STATEMENT_FIGURES)
        assert statement["properties"][unit]["required"] == list(STATEMENT_FIGURES)


def test_the_schema_of_the_breach_statistics_names_every_declared_figure(sqlite_api: Api) -> None:
    """A row of the statistics documents its group and the declared figures."""
    row = answer_schema(sqlite_api, "/reports/breach-stats")["properties"]["rows"]["items"]
    assert list(row["properties"]) == [BREACH_STAT_KEY.name, *BREACH_STAT_FIGURES]


def test_the_report_answers_hold_what_their_schema_documents(api: Api, world: World) -> None:
    """Statements and statistics with figures of every kind (None included) pass their schema."""
    for key, severity in (("ACME-1", 1), ("ACME-2", 2)):
        api.ledger.open_ticket(
            contract_id=world.premium, reporter="ops@acme.example", version="24.2.1",
            platform="linux", severity=severity, at=at(3, 3, 9), key=key,
        )  # fmt: skip
    api.ledger.record_first_response("ACME-1", at=at(3, 3, 10))
    api.ledger.consume_credits(world.premium, points=Decimal("4.5"), activity="work", key="W-1",
                               at=at(3, 4))  # fmt: skip
    for path, params in (
        ("/reports/credits", {"period": "2025-03"}),
        ("/reports/credits", {"term": 1}),
        ("/reports/breach-stats", {"by": "tier", "at": "2025-03-05T00:00:00Z"}),
        ("/reports/breach-stats", {"by": "severity", "at": "2025-03-05T00:00:00Z"}),
        ("/reports/breach-stats", {"by": "month", "at": "2025-03-03T12:00:00Z"}),
    ):
        body = api.get("finance", path, params=params).json()
        assert body["statements" if "credits" in path else "rows"]
        assert problems(body, answer_schema(api, path)) == []


def test_the_schema_of_revenue_names_every_declared_figure_and_the_answers_hold_it(
    api: Api, world: World
) -> None:
    """A revenue row documents the declared fields and figures, each required; answers of a
    month and of a term pass it."""
    row = answer_schema(api, "/reports/revenue")["properties"]["revenue"]["items"]
    declared = [f.name for f in (*REVENUE_HEADING, *REVENUE_FIGURES)]
    assert list(row["properties"])[: len(declared)] == declared
    assert set(declared) <= set(row["required"])
    for params in ({"period": "2025-03"}, {"term": 1}):
        body = api.get("finance", "/reports/revenue", params=params).json()
        assert body["revenue"]
        assert problems(body, answer_schema(api, "/reports/revenue")) == []


READS_OF_ONE = [
    "/api/v1/contracts/{contract_id}",
    "/api/v1/contracts/{contract_id}/history",
    "/api/v1/contracts/{contract_id}/credits",
    "/api/v1/tickets/{reference}",
    "/api/v1/tickets/{reference}/history",
    "/api/v1/events/{aggregate_id}",
]


def test_the_reads_of_one_thing_document_and_send_where_they_read(api: Api, world: World) -> None:
    """A contract's, ticket's, balance's or aggregate's read documents the X-Ledger-* headers
    and sends them (on the primary: behind 0); the replay documents `from_start`."""
    doc = api.client.get("/openapi.json").json()["paths"]
    wanted = {"X-Ledger-Position", "X-Ledger-Head", "X-Ledger-Behind", "X-Ledger-Read-From"}
    for path in READS_OF_ONE:
        assert set(doc[path]["get"]["responses"]["200"]["headers"]) == wanted, path
    replay = {p["name"]: p for p in doc["/api/v1/audit/replay"]["get"]["parameters"]}
    assert replay["from_start"]["schema"]["type"] == "boolean"
    api.ledger.open_ticket(
        contract_id=world.premium, reporter="ops@acme.example", version="24.2.1",
        platform="linux", severity=2, at=at(3, 3, 9), key="ACME-7",
    )  # fmt: skip
    head = str(api.recorded())
    for path in READS_OF_ONE:
        url = path.format(contract_id=world.premium, reference="ACME-7", aggregate_id=world.premium)
        answer = api.get("auditor", url.removeprefix("/api/v1"))
        assert answer.status_code == 200, (url, answer.text)
        where = [answer.headers[h] for h in ("x-ledger-read-from", "x-ledger-behind")]
        assert where == ["primary", "0"], url
        assert answer.headers["x-ledger-position"] == answer.headers["x-ledger-head"] == head
