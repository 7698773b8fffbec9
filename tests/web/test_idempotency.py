"""Idempotency-Key: a retry returns the first answer and records nothing; another request
under the same key is a conflict."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.scenario import at, build_world

if TYPE_CHECKING:
    from tests.scenario import World
    from tests.web.conftest import Api

WHEN = at(3, 3, 9).isoformat()


@pytest.fixture
def world(api: Api) -> World:
    return build_world(api.ledger)


def creations(world: World) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(role, path, body, a different body) of every request that creates."""
    ticket = {"contract_id": str(world.premium), "reporter": "ops@acme.example", "severity": 2,
              "version": "24.2.1", "platform": "linux", "at": WHEN}  # fmt: skip
    contract = {"customer": "Delta", "tier": "basic", "licenses": 1, "list_price": "5000",
                "start": "2025-01-01", "at": WHEN}  # fmt: skip
    account = f"/contracts/{world.premium}/credits"
    return [
        ("agent", "/tickets", ticket, {**ticket, "severity": 1}),
        ("agent", "/tickets", {**ticket, "reporter": "boss@acme.example"},
         {**ticket, "reporter": "other@acme.example"}),  # declined, then another request
        ("admin", "/contracts", contract, {**contract, "customer": "Epsilon"}),
        ("finance", f"{account}/purchases", {"points": "10", "price": "800", "at": WHEN},
         {"points": "10", "price": "900", "at": WHEN}),
        ("finance", f"{account}/consumptions",
         {"points": "2.5", "activity": "analysis", "at": WHEN},
         {"points": "3", "activity": "analysis", "at": WHEN}),
        ("finance", f"{account}/training-sessions", {"topic": "test design", "at": WHEN},
         {"topic": "other", "at": WHEN}),
    ]  # fmt: skip


CASES = ["ticket", "declined ticket", "contract", "purchase", "consumption", "training"]


@pytest.mark.parametrize("case", range(len(CASES)), ids=CASES)
def test_a_retry_with_the_same_key_returns_the_first_answer_and_records_nothing(
    api: Api, world: World, case: int
) -> None:
    """201 the first time; 200, Idempotent-Replayed and the same answer after; one record."""
    role, path, body, _ = creations(world)[case]
    headers = {"Idempotency-Key": f"K-{case}"}
    first = api.post(role, path, body, headers=headers)
    assert first.status_code == 201, first.text
    recorded = api.recorded()
    again = api.post(role, path, body, headers=headers)
    assert again.status_code == 200, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert api.recorded() == recorded
    changing = {"recorded", "balance", "version", "sessions_left", "at"}
    assert {k: v for k, v in again.json().items() if k not in changing} == {
        k: v for k, v in first.json().items() if k not in changing
    }


@pytest.mark.parametrize("case", range(len(CASES)), ids=CASES)
def test_the_same_key_with_another_request_is_a_conflict(api: Api, world: World, case: int) -> None:
    """409 idempotency_conflict, and nothing recorded."""
    role, path, body, other = creations(world)[case]
    headers = {"Idempotency-Key": f"K-{case}"}
    assert api.post(role, path, body, headers=headers).status_code == 201
    recorded = api.recorded()
    clash = api.post(role, path, other, headers=headers)
    assert clash.status_code == 409, clash.text
    assert clash.json()["error"]["code"] == "idempotency_conflict"
    assert api.recorded() == recorded


def test_the_key_in_the_body_and_the_header_are_one_key(api: Api, world: World) -> None:
    """The body's key is the header's: the same is fine, different ones are refused."""
    ticket = {"contract_id": str(world.premium), "reporter": "ops@acme.example",
              "version": "24.2.1", "platform": "linux", "at": WHEN}  # fmt: skip
    both = api.post("agent", "/tickets", {**ticket, "key": "ACME-7"},
                    headers={"Idempotency-Key": "ACME-7"})  # fmt: skip
    assert (both.status_code, both.json()["key"]) == (201, "ACME-7")
    by_body = api.post("agent", "/tickets", {**ticket, "key": "ACME-7"})
    assert (by_body.status_code, by_body.json()["ticket_id"]) == (200, both.json()["ticket_id"])
    recorded = api.recorded()
    differ = api.post("agent", "/tickets", {**ticket, "key": "ACME-8"},
                      headers={"Idempotency-Key": "ACME-9"})  # fmt: skip
    assert differ.status_code == 400
    assert "key and Idempotency-Key differ" in differ.json()["error"]["message"]
    assert api.recorded() == recorded


def test_a_consumption_is_reversed_by_the_key_it_was_made_with(api: Api, world: World) -> None:
    """The Idempotency-Key of a consumption names it for its reversal."""
    path = f"/contracts/{world.premium}/credits"
    api.post("finance", f"{path}/consumptions", {"points": "4", "activity": "a", "at": WHEN},
             headers={"Idempotency-Key": "W-1"})  # fmt: skip
    back = api.post("finance", f"{path}/reversals", {"key": "W-1", "reason": "goodwill",
                                                     "at": at(3, 4).isoformat()})  # fmt: skip
    assert (back.status_code, back.json()["points"]) == (201, "4")


def test_a_request_without_a_key_is_not_replayed(api: Api, world: World) -> None:
    """Without a key a ticket gets a new one (not an id), and each request is a new ticket."""
    ticket = {"contract_id": str(world.premium), "reporter": "ops@acme.example",
              "version": "24.2.1", "platform": "linux", "at": WHEN}  # fmt: skip
    first = api.post("agent", "/tickets", ticket).json()
    second = api.post("agent", "/tickets", ticket).json()
    assert first["ticket_id"] != second["ticket_id"]
    assert api.get("agent", f"/tickets/{first['key']}").json()["ticket_id"] == first["ticket_id"]


def test_an_empty_or_unprintable_key_is_refused(api: Api, world: World) -> None:
    """Idempotency-Key must hold 1 to 200 printable ASCII characters."""
    path = f"/contracts/{world.premium}/credits/consumptions"
    body = {"points": "1", "activity": "a", "at": WHEN}
    for key in ("", "k" * 201):
        answer = api.post("finance", path, body, headers={"Idempotency-Key": key})
        assert answer.status_code == 400, key
        assert answer.json()["error"]["message"].startswith("Idempotency-Key:")
