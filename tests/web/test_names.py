"""Names, not ids, over HTTP on SQLite and PostgreSQL: the contract list, contracts named by
their customer, intake by e-mail, priority troubleshooting and the credit history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.web.conftest import Api

NOW = datetime.now(UTC).replace(microsecond=0)
SIGNED = NOW - timedelta(days=30)
VERSION = f"{NOW.year % 100}.1.0"


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def sign(api: Api, customer: str, tier: str, contact: str) -> str:
    body = {"customer": customer, "tier": tier, "licenses": 1, "list_price": "1000",
            "start": SIGNED.date().isoformat(), "at": iso(SIGNED)}  # fmt: skip
    signed = api.post("admin", "/contracts", body)
    assert signed.status_code == 201, signed.text
    contract = str(signed.json()["contract_id"])
    named = api.post("admin", f"/contracts/{contract}/contacts", {"email": contact})
    assert named.status_code == 200, named.text
    return contract


@pytest.fixture
def acme(api: Api) -> dict[str, str]:
    """Acme GmbH (Premium, ops@acme.example) and Acme Labs (Basic, lab@acme.example)."""
    published = api.post("admin", "/releases", {"version": VERSION, "at": iso(SIGNED)})
    assert published.status_code == 201
    return {
        "gmbh": sign(api, "Acme GmbH", "premium", "ops@acme.example"),
        "labs": sign(api, "Acme Labs", "basic", "lab@acme.example"),
    }


def test_contracts_are_listed_filtered_and_paged(api: Api, acme: dict[str, str]) -> None:
    """GET /contracts: rows by customer with term, status, contacts and balance; `next`
    leads to the following page; filters match any part of the name, in any case."""
    first = api.get("auditor", "/contracts", params={"limit": 1})
    assert first.status_code == 200, first.text
    page = first.json()
    assert [r["customer"] for r in page["rows"]] == ["Acme GmbH"]
    row = page["rows"][0]
    assert (row["tier"], row["status"], row["current_term"], row["credit_balance"]) == (
        "premium", "active", 1, "32",
    )  # fmt: skip
    assert row["named_contacts"] == ["ops@acme.example"]
    assert page["next"] == acme["gmbh"]
    second = api.get("agent", "/contracts", params={"limit": 1, "after": page["next"]}).json()
    assert [r["customer"] for r in second["rows"]] == ["Acme Labs"]
    assert second["next"] is None
    labs = api.get("finance", "/contracts", params={"customer": "ME LA"}).json()
    assert [r["contract_id"] for r in labs["rows"]] == [acme["labs"]]
    basic = api.get("finance", "/contracts", params={"tier": "basic", "status": "active"}).json()
    assert [r["customer"] for r in basic["rows"]] == ["Acme Labs"]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"status": "asleep"}, "status"), ({"tier": "gold"}, "tier"), ({"limit": 0}, "limit"),
     ({"after": "nope"}, "after")],
    ids=["status", "tier", "limit", "cursor"],
)  # fmt: skip
def test_a_bad_list_query_is_refused_naming_the_parameter(
    api: Api, acme: dict[str, str], params: dict[str, Any], field: str
) -> None:
    """Each bad filter or cursor is a 400 naming what was wrong."""
    del acme
    refused = api.get("auditor", "/contracts", params=params)
    assert refused.status_code == 400, refused.text
    assert field in refused.text


def test_a_contract_is_named_by_its_customer_in_paths_bodies_and_queries(
    api: Api, acme: dict[str, str]
) -> None:
    """A name in any case or a unique prefix resolves; an ambiguous one is 400 listing the
    contracts; an unknown one 404; nothing is recorded for either."""
    shown = api.get("agent", "/contracts/acme%20gmbh")
    assert shown.status_code == 200, shown.text
    assert shown.json()["contract_id"] == acme["gmbh"]
    assert api.get("finance", "/contracts/ACME L/credits").json()["contract_id"] == acme["labs"]
    before = api.recorded()
    ambiguous = api.post("admin", "/contracts/acme/contacts", {"email": "x@acme.example"})
    assert ambiguous.status_code == 400
    error = ambiguous.json()["error"]
    assert error["code"] == "ambiguous_contract"
    assert {c["customer"] for c in error["candidates"]} == {"Acme GmbH", "Acme Labs"}
    unknown = api.post("admin", "/contracts/Globex/contacts", {"email": "x@acme.example"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "unknown_contract"
    assert api.recorded() == before
    body = {"contract_id": "acme gmbh", "reporter": "ops@acme.example", "version": VERSION,
            "platform": "linux"}  # fmt: skip
    opened = api.post("agent", "/tickets", body)
    assert opened.status_code == 201
    assert opened.json()["status"] == "open"
    statements = api.get(
        "finance",
        "/reports/credits",
        params={"period": NOW.strftime("%Y-%m"), "contract": "acme g"},
    )
    assert statements.status_code == 200, statements.text
    assert [s["customer"] for s in statements.json()["statements"]] == ["Acme GmbH"]


def test_a_request_without_a_contract_is_matched_by_the_reporter(
    api: Api, acme: dict[str, str]
) -> None:
    """One agreement names the reporter: opened under it. None: 201 declined
    no_valid_agreement, recorded. Several: 400 ambiguous_contract, nothing recorded."""
    request = {"version": VERSION, "platform": "linux"}
    matched = api.post("agent", "/tickets", {**request, "reporter": "lab@acme.example"})
    assert matched.status_code == 201
    shown = api.get("agent", f"/tickets/{matched.json()['ticket_id']}").json()
    assert shown["contract_id"] == acme["labs"]
    before = api.recorded()
    stranger = api.post("agent", "/tickets", {**request, "reporter": "who@else.example"})
    assert stranger.status_code == 201
    assert (stranger.json()["status"], stranger.json()["reason"]) == (
        "declined", "no_valid_agreement",
    )  # fmt: skip
    assert api.recorded() == before + 1
    kept = api.get("auditor", f"/tickets/{stranger.json()['ticket_id']}").json()
    assert (kept["contract_id"], kept["reporter"]) == (None, "who@else.example")
    removed = api.call("admin", "DELETE", f"/contracts/{acme['labs']}/contacts/lab@acme.example")
    assert removed.status_code == 200, removed.text
    assert api.post("admin", f"/contracts/{acme['labs']}/contacts",
                    {"email": "ops@acme.example"}).status_code == 200  # fmt: skip
    before = api.recorded()
    several = api.post("agent", "/tickets", {**request, "reporter": "ops@acme.example"})
    assert several.status_code == 400
    assert several.json()["error"]["code"] == "ambiguous_contract"
    assert api.recorded() == before


def test_priority_troubleshooting_is_recorded_for_premium_and_refused_for_basic(
    api: Api, acme: dict[str, str]
) -> None:
    """POST /tickets/{ref}/priority: Premium recorded and shown on the ticket and the board;
    Basic 422 not_included_in_tier, nothing recorded."""
    del acme
    for key, reporter in (("P-1", "ops@acme.example"), ("B-1", "lab@acme.example")):
        opened = api.post("agent", "/tickets", {"reporter": reporter, "version": VERSION,
                          "platform": "linux", "key": key})  # fmt: skip
        assert opened.status_code == 201, opened.text
    flagged = api.post("agent", "/tickets/P-1/priority")
    assert flagged.status_code == 200, flagged.text
    assert len(flagged.json()["priority_troubleshooting"]) == 1
    before = api.recorded()
    refused = api.post("agent", "/tickets/B-1/priority")
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "not_included_in_tier"
    assert api.recorded() == before
    board = api.get("agent", "/reports/breaches").json()["rows"]
    assert {r["key"]: r["priority"] for r in board} == {"P-1": True, "B-1": False}


def test_the_credit_history_and_the_accounts_events_are_reached_by_name(
    api: Api, acme: dict[str, str]
) -> None:
    """The history lists the grant and the draw with its key; the account's events are
    reached with account=true; the account id is on the balance."""
    drawn = api.post("finance", "/contracts/acme gmbh/credits/consumptions",
                     {"points": "5", "activity": "analysis", "key": "W-1"})  # fmt: skip
    assert drawn.status_code == 201, drawn.text
    history = api.get("auditor", "/contracts/Acme GmbH/credits/history").json()
    points = [(r["kind"], r["amount"], r["available_after"], r["key"])
              for r in history["rows"] if r["unit"] == "points"]  # fmt: skip
    assert points == [("term_grant", "32", "32", None), ("consumption", "5", "27", "W-1")]
    account = api.get("finance", f"/contracts/{acme['gmbh']}/credits").json()["account_id"]
    assert history["account_id"] == account
    events = api.get("auditor", "/events/acme gmbh", params={"account": "true"}).json()
    assert {e["aggregate_id"] for e in events} == {account}
    assert events[-1]["type"] == "CreditAccount.PointsConsumed"
    contract_events = api.get("auditor", "/events/ACME GMBH").json()
    assert contract_events[0]["type"] == "Contract.Signed"
