"""A command over HTTP while the audit chain ends before the log: 409 `chain_behind`, nothing
recorded, on SQLite and PostgreSQL (issue 17)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ledger.projections.db import ViewDatabase
from tests.scenario import World, at, build_world
from tests.web.test_endpoints import iso

if TYPE_CHECKING:
    from tests.web.conftest import Api


@pytest.fixture
def world(api: Api) -> World:
    return build_world(api.ledger)


def test_a_command_is_refused_while_the_chain_is_behind_the_log(api: Api, world: World) -> None:
    """The chain's links deleted behind the API's back: a consumption answers 409
    `chain_behind`, naming both heads, and records nothing."""
    before = api.recorded()
    db = ViewDatabase(api.settings)
    try:
        with db.transaction() as tx:
            tx.execute("DELETE FROM audit_chain")
    finally:
        db.close()
    refused = api.post(
        "finance", f"/contracts/{world.premium}/credits/consumptions",
        {"points": "1", "activity": "analysis", "at": iso(at(3, 4))},
        headers={"Idempotency-Key": "W-9"},
    )  # fmt: skip
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "chain_behind"
    assert (error["chain_head"], error["log_head"]) == (0, before)
    assert "ledger audit chain" in error["message"]
    assert api.recorded() == before
