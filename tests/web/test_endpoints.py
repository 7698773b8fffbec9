"""The API's use cases and reports on SQLite and PostgreSQL: what they record and answer."""

from __future__ import annotations

import csv
import io
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING
from uuid import UUID

import pytest
from fastapi import FastAPI
from psycopg_pool import PoolTimeout

from ledger.audit.replay import REPLAYED
from ledger.errors import StoreUnavailableError
from ledger.projections.runner import run_projections
from ledger.store import OperationalError
from ledger.web.errors import install_error_handlers
from tests.scenario import CONTACTS, at, build_world
from tests.web.conftest import TestClient

if TYPE_CHECKING:
    from tests.scenario import World
    from tests.web.conftest import Api


def iso(value: datetime) -> str:
    """An instant as the API writes it: UTC with Z."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
def world(api: Api) -> World:
    return build_world(api.ledger)


def test_an_admin_publishes_signs_names_and_shows_a_contract(api: Api) -> None:
    """Releases and contracts made over HTTP read back with exact decimals and UTC instants."""
    published = api.post("admin", "/releases", {"version": "24.2.1", "at": "2025-02-03T09:00:00Z"})
    assert published.status_code == 201
    assert published.json()["published_at"] == "2025-02-03T09:00:00Z"
    signed = api.post(
        "admin",
        "/contracts",
        {"customer": "Acme", "tier": "Premium", "licenses": 2, "list_price": "40000.50",
         "start": "2025-01-01", "at": "2025-01-02T09:00:00+01:00"},
    )  # fmt: skip
    assert signed.status_code == 201
    contract = signed.json()
    assert signed.headers["location"] == f"/api/v1/contracts/{contract['contract_id']}"
    assert (contract["tier"], contract["list_price"], contract["terms"][0]["fee"]) == (
        "premium", "40000.5", "26000.33",
    )  # fmt: skip
    assert contract["terms"][0]["starts_at"] == "2024-12-31T23:00:00Z"
    cid = contract["contract_id"]
    named = api.post("admin", f"/contracts/{cid}/contacts",
                     {"email": "ops@acme.example", "at": "2025-01-03T09:00:00Z"})  # fmt: skip
    assert named.json()["named_contacts"] == ["ops@acme.example"]
    shown = api.get("agent", f"/contracts/{cid}", params={"at": "2025-01-04T00:00:00Z"})
    assert shown.status_code == 200
    assert shown.json()["named_contacts"] == ["ops@acme.example"]
    first = api.get("finance", f"/contracts/{cid}", params={"version": 1})
    assert first.json()["named_contacts"] == []
    history = api.get("auditor", f"/contracts/{cid}/history").json()
    assert [s["event"]["type"] for s in history] == ["Contract.Signed", "Contract.ContactAdded"]
    releases = api.get("agent", "/releases", params={"at": "2025-03-01T00:00:00Z"}).json()
    assert releases["supported_lines"] == ["24.2"]


def test_contract_commands_renew_tier_representative_and_appointments(
    api: Api, world: World
) -> None:
    """Each contract command answers with what it did, as the CLI's --json does."""
    cid = world.premium
    upgrade = {"tier": "premium", "at": iso(at(3, 4))}
    tier = api.post("admin", f"/contracts/{world.advanced}/tier", upgrade)
    assert tier.json()["outcome"] == "upgraded"
    assert tier.json()["adjustments"][0]["points"] == "26.53"
    rep = api.call(
        "admin",
        "PUT",
        f"/contracts/{cid}/representative",
        json={"name": "Dana", "at": iso(at(3, 4))},
    )
    assert rep.json()["representative"] == "Dana"
    gone = api.call("admin", "DELETE", f"/contracts/{cid}/representative",
                    params={"at": iso(at(3, 4, 10))})  # fmt: skip
    assert gone.json()["representative"] is None
    window = {"starts_at": iso(at(3, 8, 10)), "ends_at": iso(at(3, 8, 12)), "at": iso(at(3, 4, 11))}
    booked = api.post("admin", f"/contracts/{cid}/appointments", window)
    assert (booked.status_code, booked.json().get("action")) == (200, "booked"), booked.text
    cancelled = api.post("admin", f"/contracts/{cid}/appointments/cancel", window)
    assert cancelled.json()["action"] == "cancelled"
    removed = api.call("admin", "DELETE", f"/contracts/{cid}/contacts/qa@acme.example",
                       params={"at": iso(at(3, 5))})  # fmt: skip
    assert removed.json()["named_contacts"] == ["ops@acme.example"]
    renewed = api.post("admin", f"/contracts/{world.basic}/renew", {"at": iso(at(3, 6))})
    assert renewed.json()["term"]["number"] == 2
    ended = api.post("admin", f"/contracts/{world.basic}/terminate", {"at": iso(at(3, 7))})
    assert ended.json()["status"] == "terminated"


def test_an_agent_opens_holds_answers_and_resolves_a_ticket(api: Api, world: World) -> None:
    """A ticket's life over HTTP: its clock, its history and its events."""
    opened = api.post(
        "agent",
        "/tickets",
        {"contract_id": str(world.premium), "reporter": "ops@acme.example", "severity": 1,
         "version": "24.2.1", "platform": "linux", "key": "ACME-1", "at": iso(at(3, 3, 9))},
    )  # fmt: skip
    assert opened.status_code == 201
    body = opened.json()
    assert (body["status"], body["key"], body["due_at"]) == (
        "open",
        "ACME-1",
        "2025-03-03T16:00:00Z",
    )
    assert opened.headers["location"] == f"/api/v1/tickets/{body['ticket_id']}"
    api.post("agent", "/tickets/ACME-1/hold", {"at": iso(at(3, 3, 10))})
    resumed = api.post("agent", "/tickets/ACME-1/resume", {"at": iso(at(3, 3, 11))})
    assert resumed.json()["due_at"] == "2025-03-03T17:00:00Z"
    severity = api.post(
        "agent", "/tickets/ACME-1/severity", {"severity": 2, "at": iso(at(3, 3, 12))}
    )
    assert severity.json()["severity"] == 2
    assert api.post("agent", "/tickets/ACME-1/remote-assistance", {"at": iso(at(3, 3, 12))}).json()[
        "remote_assistance"
    ] == ["2025-03-03T11:00:00Z"]
    assert api.post("agent", "/tickets/ACME-1/patch", {"at": iso(at(3, 3, 12))}).status_code == 200
    answered = api.post("agent", f"/tickets/{body['ticket_id']}/respond", {"at": iso(at(3, 3, 13))})
    assert (answered.json()["result"], answered.json()["clock"]) == ("met", "stopped")
    for step in ("resolve", "reopen", "resolve", "close"):
        assert (
            api.post("agent", f"/tickets/ACME-1/{step}", {"at": iso(at(3, 4))}).status_code == 200
        )
    shown = api.get("auditor", "/tickets/ACME-1", params={"at": iso(at(3, 5))}).json()
    assert (shown["status"], shown["outcome"]) == ("closed", "met")
    history = api.get("agent", "/tickets/ACME-1/history").json()
    assert history[0]["clock"]["target_seconds"] == 8 * 3600
    events = api.get("auditor", f"/events/{body['ticket_id']}").json()
    assert events[0]["type"] == "Ticket.Opened"
    assert events[-1]["type"] == "Ticket.Closed"


def test_a_declined_request_is_recorded_and_answered_with_its_reason(
    api: Api, world: World
) -> None:
    """Declined is an answer (201, status declined, the reason), and it is recorded."""
    before = api.recorded()
    declined = api.post(
        "agent",
        "/tickets",
        {"contract_id": str(world.basic), "reporter": "boss@cobalt.example", "version": "24.2.1",
         "platform": "linux", "at": iso(at(3, 3, 14))},
    )  # fmt: skip
    assert declined.status_code == 201
    body = declined.json()
    assert (body["status"], body["reason"]) == ("declined", "not_a_named_contact")
    assert body["details"]["named_contacts"] == CONTACTS["basic"]
    assert api.recorded() == before + 1
    shown = api.get("agent", f"/tickets/{body['key']}").json()
    assert shown["status"] == "declined"
    held = api.post("agent", f"/tickets/{body['key']}/hold", {"at": iso(at(3, 3, 15))})
    assert (held.status_code, held.json()["error"]["code"]) == (409, "ticket_declined")


def test_finance_buys_uses_reverses_and_trains(api: Api, world: World) -> None:
    """Credits over HTTP: exact decimals in (strings or numbers) and out (strings)."""
    cid = world.premium
    bought = api.post(
        "finance", f"/contracts/{cid}/credits/purchases",
        {"points": 0.1, "price": "4000", "expires": "2025-12-31", "at": iso(at(3, 3))},
        headers={"Idempotency-Key": "PO-1"},
    )  # fmt: skip
    assert bought.status_code == 201
    assert (bought.json()["amount"], bought.json()["expires_at"]) == ("0.1", "2025-12-31T23:00:00Z")
    used = api.post(
        "finance", f"/contracts/{cid}/credits/consumptions",
        {"points": "8.25", "activity": "root-cause analysis", "at": iso(at(3, 4))},
        headers={"Idempotency-Key": "W-1"},
    )  # fmt: skip
    assert used.status_code == 201
    assert (used.json()["key"], used.json()["balance"]) == ("W-1", "55.85")
    reversal = {"key": "W-1", "points": 3, "reason": "goodwill", "at": iso(at(3, 5))}
    back = api.post("finance", f"/contracts/{cid}/credits/reversals", reversal)
    assert (back.status_code, back.json()["balance"]) == (201, "58.85")
    again = api.post("finance", f"/contracts/{cid}/credits/reversals", reversal)
    assert (again.status_code, again.json()["recorded"]) == (200, False)
    trained = api.post("finance", f"/contracts/{cid}/credits/training-sessions",
                       {"topic": "test design", "at": iso(at(3, 6))})  # fmt: skip
    assert (trained.status_code, trained.json()["sessions_left"]) == (201, "5")
    balance = api.get("auditor", f"/contracts/{cid}/credits", params={"at": iso(at(3, 7))}).json()
    assert (balance["points_available"], balance["sessions_available"]) == ("58.85", "5")
    then = api.get("finance", f"/contracts/{cid}/credits",
                   params={"as_of": iso(datetime.now(UTC))}).json()  # fmt: skip
    assert then["version"] == balance["version"]


def test_reports_bring_the_views_up_to_date_and_say_where_they_read(api: Api, world: World) -> None:
    """Board, statistics and statements read the views after taking in the new events."""
    api.ledger.open_ticket(
        contract_id=world.premium, reporter="ops@acme.example", version="24.2.1",
        platform="linux", severity=1, at=at(3, 3, 9), key="ACME-1",
    )  # fmt: skip
    api.ledger.consume_credits(world.premium, points=__import__("decimal").Decimal(4),
                               activity="work", key="W-1", at=at(3, 4))  # fmt: skip
    head = api.recorded()
    board = api.get("agent", "/reports/breaches", params={"at": iso(at(3, 3, 10))}).json()
    assert (board["position"], board["head"]) == (head, head)
    assert [(r["key"], r["state"]) for r in board["rows"]] == [("ACME-1", "on_track")]
    breached = {"at": iso(at(3, 5)), "state": ["breached"], "tier": "premium"}
    late = api.get("auditor", "/reports/breaches", params=breached).json()
    assert [r["key"] for r in late["rows"]] == ["ACME-1"]
    stats = api.get("finance", "/reports/breach-stats", params={"by": "tier", "at": iso(at(3, 5))})
    assert stats.json()["rows"][0]["breached"] == 1
    checked = {"period": "2025-03", "contract": str(world.premium), "check": True}
    statement = api.get("finance", "/reports/credits", params=checked)
    body = statement.json()
    assert body["differences"] == []
    assert body["statements"][0]["points"]["consumed"] == "4"
    as_csv = api.get("finance", "/reports/credits", params={"period": "2025-03"},
                     headers={"Accept": "text/csv"})  # fmt: skip
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.headers["x-ledger-position"] == str(head)
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert {r["customer"]: r["points_consumed"] for r in rows}["Premium Customer"] == "4"
    by_format = api.get("auditor", "/reports/credits", params={"term": 1, "format": "csv"})
    assert by_format.text.splitlines()[0].startswith("customer,contract_id,currency,start,end")
    status = api.get("auditor", "/projections").json()
    assert {s["name"]: s["position"] for s in status}["sla_breaches"] == head


def test_an_audit_replay_shows_a_report_as_it_stood(api: Api, world: World) -> None:
    """The board as recorded by an instant ignores what was recorded after it."""
    between = datetime.now(UTC)
    api.ledger.open_ticket(
        contract_id=world.premium, reporter="ops@acme.example", version="24.2.1",
        platform="linux", severity=1, at=at(3, 3, 9), key="ACME-1",
    )  # fmt: skip
    params = {"report": "breaches", "state": "all", "at": iso(at(3, 4))}
    then = api.get("auditor", "/audit/replay", params={**params, "as_of": iso(between)}).json()
    assert then["rows"] == []
    now = api.get("admin", "/audit/replay",
                  params={**params, "as_of": iso(datetime.now(UTC))}).json()  # fmt: skip
    assert [r["key"] for r in now["rows"]] == ["ACME-1"]
    every = api.get("auditor", "/audit/replay", params={
        **params, "as_of": iso(datetime.now(UTC)), "verify_all": "true"}).json()  # fmt: skip
    assert every["rows"] == now["rows"]
    assert every["checked_from"] == {"sla_breaches": 0, "credit_usage": 0}
    refused = api.get("auditor", "/audit/replay", params={
        **params, "as_of": iso(datetime.now(UTC)), "verify_all": "maybe"})  # fmt: skip
    assert refused.status_code == 400
    assert "verify_all" in refused.text
    january = {"as_of": iso(datetime.now(UTC)), "report": "credits", "period": "2025-01"}
    statements = api.get("auditor", "/audit/replay", params=january).json()
    assert len(statements["statements"]) == 3


def test_an_audit_replay_from_the_start_answers_as_one_from_the_checkpoints(
    api: Api, world: World
) -> None:
    """With checkpoints kept (every 5 events here), `/audit/replay` names the checkpoint each
    view started from; `from_start=true` replays the whole log, every view from 0, to the
    same rows and statements."""
    for n in range(8):
        api.ledger.open_ticket(
            contract_id=world.premium, reporter="ops@acme.example", version="24.2.1",
            platform="linux", severity=1 + n % 3, at=at(3, 3, 9 + n), key=f"ACME-{n}",
        )  # fmt: skip
        api.ledger.consume_credits(
            world.premium, points=Decimal(1), activity="a", key=f"k{n}", at=at(3, 3, 9 + n)
        )
    run_projections(api.settings, api.ledger, list(REPLAYED), once=True, checkpoint_every=5)
    as_of = iso(datetime.now(UTC))
    asked = [
        {"report": "breaches", "state": "all", "at": iso(at(3, 4))},
        {"report": "breach-stats", "by": "tier", "at": iso(at(3, 4))},
        {"report": "credits", "period": "2025-03"},
    ]
    for params in asked:
        fast = api.get("auditor", "/audit/replay", params={**params, "as_of": as_of}).json()
        full = api.get(
            "auditor", "/audit/replay", params={**params, "as_of": as_of, "from_start": "true"}
        ).json()
        assert min(fast["started_from"].values()) > 0, params
        assert full["started_from"] == {"sla_breaches": 0, "credit_usage": 0}
        assert full["applied"] > fast["applied"]
        key = "statements" if params["report"] == "credits" else "rows"
        assert fast[key] == full[key], params
        assert fast[key], params
        assert fast["last_position"] == full["last_position"]
        assert fast["head"] == full["head"] == api.recorded()
    refused = api.get(
        "auditor", "/audit/replay", params={"as_of": as_of, "from_start": "sometimes"}
    )
    assert refused.status_code == 400, refused.text
    assert "from_start" in refused.text


def test_terms_deadlines_and_who_am_i_are_for_every_role(sqlite_api: Api) -> None:
    """Any token reads the terms, a deadline under them, and its own description."""
    terms = sqlite_api.get("finance", "/terms").json()
    assert terms["version"] == "expecco-2025-02"
    due = sqlite_api.get("agent", "/sla/deadline", params={
        "tier": "basic", "severity": "3", "received": "2025-03-28T09:00:00Z"}).json()  # fmt: skip
    assert due["due_at"] == "2025-04-08T10:00:00Z"
    me = sqlite_api.get("auditor", "/whoami").json()
    assert (me["role"], me["name"]) == ("auditor", "test auditor")


BAD_INPUTS = [
    ("admin", "/contracts", {"customer": "X", "tier": "gold", "licenses": 1, "list_price": "1",
                             "start": "2025-01-01"}, 400, "unknown_tier", "unknown tier 'gold'"),
    ("admin", "/contracts", {"customer": "X", "tier": "basic", "licenses": "two",
                             "list_price": "1", "start": "2025-01-01"}, 400, "invalid_input",
     "licenses: input should be a valid integer"),
    ("admin", "/contracts", {"customer": "X", "tierr": "basic", "licenses": 1, "list_price": "1",
                             "start": "2025-01-01"}, 400, "invalid_input", "tier: required"),
    ("admin", "/contracts", {"customer": "X", "tier": "basic", "licenses": 1,
                             "list_price": "12.345", "start": "2025-01-01"}, 400,
     "invalid_amount", "at most two decimal places"),
    ("admin", "/contracts", {"customer": "X", "tier": "basic", "licenses": 1, "list_price": "-5",
                             "start": "2025-01-01"}, 400, "invalid_amount", "list_price: must be"),
    ("admin", "/contracts", {"customer": "A\u0000B", "tier": "basic", "licenses": 1,
                             "list_price": "1", "start": "2025-01-01"}, 400, "invalid_input",
     "customer: must not contain control characters"),
    ("admin", "/contracts", {"customer": "X", "tier": "basic", "licenses": 1, "list_price": "1",
                             "start": "9999-01-01"}, 400, "invalid_input", "outside the years"),
    ("agent", "/tickets", {"contract_id": "{premium}", "reporter": "ops@acme.example",
                           "version": "24.2.1", "platform": "linux",
                           "at": "2025-03-03T09:00:00"}, 400, "naive_datetime",
     "at: '2025-03-03T09:00:00' has no UTC offset"),
    ("agent", "/tickets", {"contract_id": "{premium}", "reporter": "ops@acme.example",
                           "version": "24.2.1", "platform": "linux", "at": "yesterday"}, 400,
     "invalid_input", "at: 'yesterday' is not an ISO 8601 instant"),
    ("agent", "/tickets", {"contract_id": "{premium}", "reporter": "not an email",
                           "version": "24.2.1", "platform": "linux"}, 400, "invalid_email",
     "not an email address"),
    ("agent", "/tickets", {"contract_id": "{premium}", "reporter": "ops@acme.example",
                           "version": "24.2.1", "platform": "linux", "severity": 7}, 400,
     "unknown_severity", "unknown severity 7"),
    ("agent", "/tickets", {"contract_id": "not-a-uuid", "reporter": "ops@acme.example",
                           "version": "24.2.1", "platform": "linux"}, 404, "unknown_contract",
     "no contract is an id or a customer named 'not-a-uuid'"),  # a name no customer has
    ("agent", "/tickets", {"contract_id": "{unknown}", "reporter": "ops@acme.example",
                           "version": "24.2.1", "platform": "linux"}, 404, "unknown_contract",
     "no contract"),
    ("finance", "/contracts/{premium}/credits/consumptions",
     {"points": "100", "activity": "x", "key": "W-9", "at": "2025-03-03T09:00:00Z"}, 422,
     "insufficient_credits", "64 available"),
    ("finance", "/contracts/{premium}/credits/consumptions", {"points": "1", "activity": "x"},
     400, "idempotency_key_required", "Idempotency-Key: required"),
    ("finance", "/contracts/{premium}/credits/consumptions",
     {"points": "0", "activity": "x", "key": "W-0"}, 400, "invalid_amount",
     "points: must be greater than zero"),
    ("admin", "/contracts/{basic}/contacts", {"email": "second@cobalt.example",
                                              "at": "2025-03-03T09:00:00Z"}, 422,
     "contact_limit_reached", ""),
    ("admin", "/contracts/{basic}/tier", {"tier": "basic", "at": "2025-03-03T09:00:00Z"}, 422,
     "invalid_tier_change", ""),
    ("admin", "/contracts/{premium}/lapse", {"at": "2025-03-03T09:00:00Z"}, 409,
     "invalid_contract_state", "cannot lapse before it ends"),
    ("admin", "/releases", {"version": "24.2.1"}, 409, "release_exists", ""),
    ("admin", "/releases", {"version": "24.2"}, 400, "invalid_version", ""),
]  # fmt: skip


@pytest.mark.parametrize(
    ("role", "path", "body", "status", "code", "message"),
    BAD_INPUTS,
    ids=[f"{case[4]}-{n}" for n, case in enumerate(BAD_INPUTS)],
)
def test_a_bad_request_names_what_was_wrong_and_records_nothing(  # noqa: PLR0917 - parametrized
    api: Api,
    world: World,
    role: str,
    path: str,
    body: dict[str, object],
    status: int,
    code: str,
    message: str,
) -> None:
    """Each bad input is answered with its LedgerError code and message; the log is unchanged."""
    ids = {"premium": str(world.premium), "basic": str(world.basic),
           "unknown": "00000000-0000-4000-8000-000000000000"}  # fmt: skip
    filled = {k: v.format(**ids) if isinstance(v, str) and "{" in v else v for k, v in body.items()}
    before = api.recorded()
    answer = api.post(role, path.format(**ids), filled)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] == code
    assert message in error["message"]
    assert api.recorded() == before


def test_a_body_that_is_not_json_or_is_missing_is_refused_by_name(api: Api, world: World) -> None:
    """Malformed JSON and a missing body are invalid_input, naming the body."""
    path = f"/contracts/{world.premium}/credits/consumptions"
    broken = api.call("finance", "POST", path, content=b"{points: 1",
                      headers={"Content-Type": "application/json"})  # fmt: skip
    assert broken.status_code == 400
    assert broken.json()["error"]["message"].startswith("body: not valid JSON")
    missing = api.call("finance", "POST", path)
    assert missing.json()["error"] == {
        "code": "invalid_input", "message": "body: required",
        "errors": [{"in": "body", "field": "body", "message": "required", "type": "missing"}],
    }  # fmt: skip


def test_reports_refuse_conflicting_or_missing_choices(api: Api, world: World) -> None:
    """A statement needs a period or a term; check needs JSON and a caught-up view."""
    for params, fragment in [
        ({}, "give period=YYYY-MM or term=N"),
        ({"period": "2025-13"}, "period: '2025-13' is not a month"),
        ({"term": 1, "check": True, "catch_up": False}, "cannot read a view"),
        ({"term": 1, "check": True, "format": "csv"}, "differences come as JSON"),
        ({"term": 0}, "term: input should be greater than or equal to 1"),
    ]:
        answer = api.get("finance", "/reports/credits", params=params)
        assert answer.status_code == 400, params
        assert fragment in answer.json()["error"]["message"]
    unknown = api.get("auditor", f"/events/{UUID(int=5)}")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "unknown_aggregate")


def test_unknown_paths_and_methods_answer_in_the_error_shape(sqlite_api: Api) -> None:
    """404 and 405 come as {"error": {...}} too."""
    missing = sqlite_api.get("admin", "/nothing-here")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    wrong = sqlite_api.call("admin", "PUT", "/releases")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (405, "method_not_allowed")


def test_concurrent_requests_share_one_ledger_safely(api: Api, world: World) -> None:
    """Requests run in threads on one SupportLedger: 24 racing consumptions of 4 of 64 points."""
    path = f"/contracts/{world.premium}/credits/consumptions"

    def consume(n: int) -> int:
        body = {"points": "4", "activity": "race", "at": iso(at(3, 3, 9) + timedelta(seconds=n))}
        return api.post("finance", path, body, headers={"Idempotency-Key": f"race-{n}"}).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(consume, range(24)))
    assert sorted(statuses) == [201] * 16 + [422] * 8
    balance = api.get("finance", f"/contracts/{world.premium}/credits",
                      params={"at": iso(at(3, 4))}).json()  # fmt: skip
    assert balance["points_available"] == "0"


@pytest.mark.parametrize(
    "outage",
    [
        StoreUnavailableError("cannot connect to postgresql://db:5432/ledger"),
        PoolTimeout("couldn't get a connection after 30.00 sec"),
        OperationalError("database is locked"),
    ],
    ids=["store unavailable", "pool timeout", "locked"],
)
def test_a_store_outage_is_503_with_retry_after(outage: Exception) -> None:
    """An unreachable or exhausted store is 503 store_unavailable, never a 500."""
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/down")
    def down() -> None:
        raise outage

    with TestClient(app) as client:
        answer = client.get("/down")
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"
    assert answer.json()["error"]["code"] == "store_unavailable"
