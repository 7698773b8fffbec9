"""`GET /api/v1/reports/breaches` in pages, on SQLite and PostgreSQL: `limit`, `after`,
`next`, `next_url` and `counts`, the board as it stood at `at`, and bad paging refused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest

from ledger.projections.runner import Worker
from ledger.projections.sla_breaches import SlaBreachProjection
from tests.scenario import at, build_world

if TYPE_CHECKING:
    from tests.scenario import World
    from tests.web.conftest import Api


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
def world(api: Api) -> World:
    """Five Premium sev 1 requests on Monday 3 March, 12 minutes apart from 08:00
    (due 16:00 to 16:48); the first answered at 09:00."""
    built = build_world(api.ledger)
    for n in range(5):
        api.ledger.open_ticket(
            contract_id=built.premium, reporter="ops@acme.example", version="24.2.1",
            platform="linux", severity=1, at=at(3, 3, 8, 12 * n), key=f"P-{n}",
        )  # fmt: skip
    api.ledger.record_first_response("P-0", at=at(3, 3, 9))
    return built


def test_the_board_comes_in_pages_following_next(api: Api, world: World) -> None:
    del world
    params: dict[str, Any] = {"state": "all", "limit": 2, "tier": "premium"}
    first = api.get("agent", "/reports/breaches", params=params)
    assert first.status_code == 200, first.text
    body = first.json()
    assert [r["key"] for r in body["rows"]] == ["P-0", "P-1"]
    assert body["counts"] == {
        "on_track": 0, "at_risk": 0, "breached": 4, "met": 1, "paused": 0, "declined": 0
    }  # fmt: skip
    query = parse_qs(urlsplit(body["next_url"]).query)
    assert query["after"] == [body["next"]]
    assert (query["limit"], query["tier"], query["state"]) == (["2"], ["premium"], ["all"])
    keys = [r["key"] for r in body["rows"]]
    while body["next"] is not None:
        body = api.get("agent", "/reports/breaches", params={**params, "after": body["next"]})
        body = body.json()
        keys += [r["key"] for r in body["rows"]]
    assert keys == ["P-0", "P-1", "P-2", "P-3", "P-4"]
    assert body["next_url"] is None
    default = api.get("auditor", "/reports/breaches").json()  # the live board, 100 a page
    assert ([r["key"] for r in default["rows"]], default["next"]) == (
        ["P-1", "P-2", "P-3", "P-4"],
        None,
    )


def test_the_board_at_an_instant_is_the_board_as_it_stood(api: Api, world: World) -> None:
    """At 08:30 P-3 and P-4 were not received yet and P-0's answer at 09:00 not known."""
    del world
    then = api.get("agent", "/reports/breaches", params={"at": iso(at(3, 3, 8, 30))}).json()
    assert [(r["key"], r["state"]) for r in then["rows"]] == [
        ("P-0", "on_track"),
        ("P-1", "on_track"),
        ("P-2", "on_track"),
    ]
    assert then["counts"]["on_track"] == 3
    replayed = api.get(
        "auditor", "/audit/replay",
        params={"as_of": iso(datetime.now(UTC)), "at": iso(at(3, 3, 8, 30)), "state": "all"},
    ).json()  # fmt: skip
    assert [r["key"] for r in replayed["rows"]] == ["P-0", "P-1", "P-2"]
    assert replayed["rows"][0]["responded_at"] is None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": 1001}, "limit"),
        ({"limit": 0}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"after": "not a cursor"}, "after"),
        ({"after": "bm90LWEtY3Vyc29y"}, "after: 'bm90LWEtY3Vyc29y' is not a cursor of the board"),
    ],
    ids=["limit-1001", "limit-0", "limit-text", "after-characters", "after-not-a-cursor"],
)
def test_bad_paging_is_refused_naming_the_parameter(
    api: Api, world: World, params: dict[str, Any], message: str
) -> None:
    del world
    answer = api.get("agent", "/reports/breaches", params=params)
    assert answer.status_code in {400, 422}, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_input"
    assert message in error["message"]


def test_a_board_read_leaves_a_view_a_runner_owns_to_it(api: Api, world: World) -> None:
    """While a runner owns the view the API reads it as it stands (and says how far behind
    it is); with nobody running it, the read first takes in the new events."""
    settings = api.settings
    first = api.get("agent", "/reports/breaches", params={"state": "all"}).json()
    assert first["position"] == first["head"]
    runner = Worker(SlaBreachProjection, settings, api.ledger)
    try:
        assert runner.try_own()
        api.ledger.open_ticket(
            contract_id=world.premium,
            reporter="ops@acme.example", version="24.2.1", platform="linux", severity=1,
            at=at(3, 3, 12), key="LATE-1",
        )  # fmt: skip
        stale = api.get("agent", "/reports/breaches", params={"state": "all"}).json()
        assert stale["position"] < stale["head"]
        assert "LATE-1" not in {r["key"] for r in stale["rows"]}
    finally:
        runner.release()
        runner.db.close()
    fresh = api.get("agent", "/reports/breaches", params={"state": "all"}).json()
    assert fresh["position"] == fresh["head"]
    assert "LATE-1" in {r["key"] for r in fresh["rows"]}
