"""PUT /contracts/{id}/credits/alert-threshold: finance sets the low-balance threshold (an
event); bad input is a 4xx with its code and records nothing; other roles are refused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from ledger.domain.contract_watch import ContractWatch
from tests.scenario import build_world

if TYPE_CHECKING:
    from tests.web.conftest import Api

AT = datetime(2025, 3, 3, 9, tzinfo=UTC).isoformat()


def path(contract: object) -> str:
    return f"/contracts/{contract}/credits/alert-threshold"


def test_finance_sets_the_threshold_and_a_later_consumption_below_it_is_recorded(
    api: Api,
) -> None:
    world = build_world(api.ledger)
    answer = api.call("finance", "PUT", path(world.premium), json={"points": "60", "at": AT})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["threshold"], body["available"], body["low"], body["recorded"]) == (
        "60", "64", False, True,
    )  # fmt: skip
    used = api.post("finance", f"/contracts/{world.premium}/credits/consumptions",
                    {"points": "5", "activity": "work", "key": "k1", "at": AT})  # fmt: skip
    assert used.status_code == 201, used.text
    names = [
        type(e).__name__ for e in api.ledger.list_events(ContractWatch.create_id(world.premium))
    ]
    assert names == ["Started", "ThresholdSet", "BalanceFellLow"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"points": "0"}, 400, "invalid_amount"),
        ({"points": "-1"}, 400, "invalid_amount"),
        ({"points": "1.234"}, 400, "invalid_amount"),
        ({"points": "lots"}, 400, None),
        ({}, 400, None),
    ],
)
def test_a_bad_threshold_is_refused_with_its_code_and_records_nothing(
    sqlite_api: Api, body: dict[str, str], status: int, code: str | None
) -> None:
    world = build_world(sqlite_api.ledger)
    before = sqlite_api.recorded()
    answer = sqlite_api.call("finance", "PUT", path(world.premium), json=body)
    assert answer.status_code in (status, 422), answer.text
    if code is not None:
        assert answer.json()["error"]["code"] == code
    assert sqlite_api.recorded() == before


def test_only_finance_and_admin_set_it_and_an_unknown_contract_is_404(sqlite_api: Api) -> None:
    world = build_world(sqlite_api.ledger)
    before = sqlite_api.recorded()
    refused = sqlite_api.call("agent", "PUT", path(world.premium), json={"points": "5"})
    assert refused.status_code == 403
    missing = sqlite_api.call(
        "finance", "PUT", path("00000000-0000-4000-8000-000000000000"), json={"points": "5"}
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["code"].startswith("unknown_contract")
    assert sqlite_api.recorded() == before
