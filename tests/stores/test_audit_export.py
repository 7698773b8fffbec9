"""The event log exported as JSON lines, and the reports re-derived from an export alone.

The history: the standard three contracts; in March 2025 eight requests (met, breached,
unanswered, held and resumed, waived, severity changed, declined; an appointment moving an
open deadline); credits on the Advanced contract (a package bought, consumed, reversed,
expired; training; an upgrade; a renewal and its lots expiring at the term's end), the Premium
contract terminated in June (its lots expire then) and the Basic one reinstated in 2026.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from ledger.application import SupportLedger
from ledger.audit.export import EVENT_TYPES, export_events, parse_since, read_export
from ledger.audit.rederive import Difference, reconcile_export, rederive
from ledger.domain.errors import InvalidInputError, UnknownContractError
from ledger.projections.credit_usage import CreditUsageProjection, CreditUsageView
from ledger.projections.runner import run_projections
from ledger.projections.sla_breaches import SlaBreachProjection, SlaBreachView
from ledger.serialize import jsonable
from tests.scenario import World, at, build_world

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path
    from uuid import UUID

    from ledger.projections.db import ViewDatabase
    from ledger.settings import DatabaseSettings

D = Decimal
KEYS = {"position", "recorded_at", "aggregate", "type", "topic", "version", "payload"}
TICKET = {"version": "24.2.1", "platform": "linux"}
MONTHS = [f"2025-{m:02d}" for m in range(1, 13)] + ["2026-01", "2026-02"]
GROUPINGS = ["tier", "customer", "severity", "month"]


@dataclass
class History:
    """The standard world, with everything above recorded."""

    world: World


def record_history(app: SupportLedger) -> History:
    """Record the history of the module docstring, in the order things happened."""
    world = build_world(app)
    premium, advanced, basic = world.premium, world.advanced, world.basic

    def request(key: str, contract: UUID, reporter: str, severity: int, when: datetime) -> None:
        app.open_ticket(contract_id=contract, reporter=reporter, severity=severity, key=key,
                        at=when, **TICKET)  # fmt: skip

    # Premium: S1 sev 1 met in 2 h; S2 sev 2 breached (13 h); S3 sev 3 never answered.
    request("S1", premium, "ops@acme.example", 1, at(3, 3, 9, 15))
    request("S2", premium, "ops@acme.example", 2, at(3, 3, 9))
    request("S3", premium, "qa@acme.example", 3, at(3, 3, 10))
    # Advanced: S4 sev 1 held and resumed, met after 3 h; S5 sev 2 breached (25 h), waived.
    request("S4", advanced, "support@borealis.example", 1, at(3, 3, 8))
    # Basic: S6 sev 3 raised to sev 2, met after 21 h; S7 from someone not named: declined.
    request("S6", basic, "it@cobalt.example", 3, at(3, 3, 8))
    request("S7", basic, "boss@cobalt.example", 1, at(3, 3, 8))
    app.hold_ticket("S4", at=at(3, 3, 10))
    app.record_first_response("S1", at=at(3, 3, 11, 15))
    app.resolve_ticket("S1", at=at(3, 3, 11, 30))
    app.change_severity("S6", severity=2, at=at(3, 3, 12))
    # Tuesday evening booked: S3's deadline moves from Wed 14:00 to Wed 10:00.
    app.book_appointment(premium, starts_at=at(3, 4, 18), ends_at=at(3, 4, 22), at=at(3, 3, 13))
    app.close_ticket("S1", at=at(3, 3, 14))
    request("S5", advanced, "support@borealis.example", 2, at(3, 4, 8))
    app.resume_ticket("S4", at=at(3, 4, 9))
    app.record_first_response("S4", at=at(3, 4, 10))
    app.record_first_response("S2", at=at(3, 4, 12))
    app.record_first_response("S6", at=at(3, 5, 9))
    app.record_breach("S3", at=at(3, 5, 10, 1), late=False)
    app.record_first_response("S5", at=at(3, 6, 13))
    app.waive_breach("S5", reason="customer's own outage", actor="lead@vendor", at=at(3, 6, 14))
    # S8: Premium sev 1 received 00:30 on 1 April (Berlin), counted from 08:00, met in 1.5 h.
    request("S8", premium, "ops@acme.example", 1, at(4, 1, 0, 30))
    app.record_first_response("S8", at=at(4, 1, 9, 30))

    # Credits of the Advanced contract (as in tests/stores/test_credit_usage.py).
    app.purchase_credits(advanced, points=D(20), price=D("1500.00"), key="p1", at=at(3, 3, 10),
                         expires_at=at(3, 20, 0))  # fmt: skip
    app.consume_credits(advanced, points=D(12), activity="analysis", key="c1", at=at(3, 4, 10))
    app.consume_credits(advanced, points=D(5), activity="analysis", key="c2", at=at(3, 5, 10))
    app.reverse_consumption(advanced, key="c2", points=D(2), reason="goodwill", at=at(3, 6, 10))
    app.hold_training(advanced, key="t1", topic="basics", at=at(3, 12, 10))
    app.expire_lot(advanced, lot_id="purchase-1", at=at(3, 20, 0), late=False)
    app.consume_credits(advanced, points=D("7.5"), activity="workshop", key="c3",
                        at=at(3, 24, 10))  # fmt: skip
    app.reverse_consumption(advanced, key="c1", reason="duplicate", at=at(3, 25, 10))
    # Basic buys points without expiry; Premium uses 10 points, then is terminated.
    app.purchase_credits(basic, points=D(20), price=D("1500.00"), key="p1", at=at(3, 4),
                         expires_at=None)  # fmt: skip
    app.consume_credits(basic, points=D(8), activity="analysis", key="c1", at=at(3, 6))
    app.consume_credits(premium, points=D(10), activity="analysis", key="c1", at=at(5, 5, 10))
    app.terminate_contract(premium, reason="insolvency", at=at(6, 2, 12))
    # Advanced: upgraded to Premium half-way, a ticket answered with points, renewed.
    app.change_tier(advanced, tier="premium", at=at(7, 2, 13))
    request("BOR-1", advanced, "support@borealis.example", 2, at(9, 1, 9))
    app.consume_credits(advanced, points=D(20), activity="migration", key="c4", ticket="BOR-1",
                        at=at(9, 1, 10))  # fmt: skip
    app.renew_contract(advanced, at=at(11, 3, 10))
    new_year = at(1, 1, 0, year=2026)
    app.grant_due_terms(advanced, at=new_year)
    for lot in ("term-1-points", "term-1-sessions", "upgrade-1-points", "upgrade-1-sessions"):
        app.expire_lot(advanced, lot_id=lot, at=new_year, late=False)
    app.consume_credits(advanced, points=D(3), activity="review", key="c5",
                        at=at(1, 5, 10, year=2026))  # fmt: skip
    # Basic lapsed at the year's end and is reinstated in February 2026.
    app.reinstate_contract(basic, at=at(2, 2, 11, year=2026))
    return History(world)


def export(app: SupportLedger, **options: Any) -> list[str]:
    """The lines `export_events` writes (checking the count it returns)."""
    out = io.StringIO()
    count = export_events(app, out, **options)
    lines = out.getvalue().splitlines()
    assert count == len(lines)
    return lines


def project(settings: DatabaseSettings, app: SupportLedger) -> None:
    """Bring both views up to the head of the log."""
    outcomes = run_projections(
        settings, app, [CreditUsageProjection, SlaBreachProjection], once=True
    )
    assert [o.status for o in outcomes] == ["caught_up", "caught_up"]


def line_of(lines: list[str], kind: str, **payload: Any) -> dict[str, Any]:
    """The one exported event of type `kind` whose payload has the values given."""
    found = [
        data
        for data in map(json.loads, lines)
        if data["type"] == kind and all(data["payload"].get(k) == v for k, v in payload.items())
    ]
    assert len(found) == 1
    return found[0]


@pytest.fixture
def history(app: SupportLedger) -> History:
    return record_history(app)


@pytest.fixture
def projected(store_settings: DatabaseSettings, app: SupportLedger, history: History) -> History:
    """The history, with both views caught up."""
    project(store_settings, app)
    return history


# -- the export ------------------------------------------------------------------------------------


def test_the_export_writes_every_event_once_in_log_order(
    app: SupportLedger, history: History
) -> None:
    """One line per notification, by increasing position, ending at the head of the log."""
    lines = export(app)
    notifications = app.recorder.select_notifications(start=1, limit=100_000)
    rows = [json.loads(line) for line in lines]
    assert [r["position"] for r in rows] == [n.id for n in notifications]
    assert rows[-1]["position"] == app.recorder.max_notification_id()
    assert [(r["aggregate"], r["version"]) for r in rows] == [
        (str(n.originator_id), n.originator_version) for n in notifications
    ]
    assert all(set(r) == KEYS for r in rows)
    pairs = zip(rows, notifications, strict=True)
    assert all(EVENT_TYPES[r["type"]] == r["topic"] == n.topic for r, n in pairs)
    assert all(r["recorded_at"].endswith("Z") for r in rows)
    kinds = {r["type"] for r in rows}
    assert {
        "Contract.Terminated", "Contract.Upgraded", "Contract.Renewed", "Contract.Reinstated",
        "Contract.AppointmentBooked", "Ticket.RequestDeclined", "Ticket.Held", "Ticket.Resumed",
        "Ticket.SeverityChanged", "Ticket.DeadlineRecalculated", "Ticket.BreachWaived",
        "CreditAccount.AgreementEnded", "CreditAccount.LotExpired",
    } <= kinds  # fmt: skip


def test_a_payload_holds_the_events_own_fields_as_plain_json(
    app: SupportLedger, history: History
) -> None:
    """Decimals as exact strings, instants in UTC with Z, ids as text; no library fields."""
    lines = export(app)
    consumed = line_of(lines, "CreditAccount.PointsConsumed", key="c4")
    assert consumed["payload"] == {
        "key": "c4",
        "points": "20",
        "activity": "migration",
        "ticket_id": str(app.ticket_id("BOR-1")),
        "draws": [{"lot_id": "term-1-points", "amount": "20"}],
        "consumed_at": "2025-09-01T08:00:00Z",
    }
    assert consumed["aggregate"] == str(app.get_account(history.world.advanced).id)
    opened = line_of(lines, "Ticket.Opened", external_key="S1")
    assert opened["aggregate"] == str(app.ticket_id("S1"))
    assert opened["version"] == 1
    assert opened["topic"] == "ledger.domain.ticket:Ticket.Opened"
    assert (opened["payload"]["received_at"], opened["payload"]["due_at"]) == (
        "2025-03-03T08:15:00Z",
        "2025-03-03T16:15:00Z",
    )
    assert opened["payload"]["warnings"][0] == {
        "share": "0.5",
        "at": "2025-03-03T12:15:00Z",
        "reached": False,
    }
    assert not {"originator_id", "originator_version", "timestamp", "originator_topic"} & set(
        opened["payload"]
    )
    responded = line_of(lines, "Ticket.FirstResponseRecorded", responded_at="2025-03-04T11:00:00Z")
    assert (responded["payload"]["outcome"], responded["payload"]["used_seconds"]) == (
        "breached",
        13 * 3600,
    )


def test_since_exports_only_the_events_after_that_position(
    app: SupportLedger, history: History
) -> None:
    """`since` skips the positions up to it; pages of any size give the same lines."""
    lines = export(app)
    cut = json.loads(lines[9])["position"]
    assert export(app, since=cut) == lines[10:]
    assert export(app, since=json.loads(lines[-1])["position"]) == []
    assert export(app, batch_size=7) == lines


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, 0), (0, 0), (12, 12), ("12", 12), (" 3 ", 3)],
    ids=["none", "zero", "int", "text", "spaces"],
)
def test_since_is_read_as_a_log_position(value: Any, expected: int) -> None:
    """Text from the command line or a number: a whole number, 0 or more."""
    assert parse_since(value) == expected


@pytest.mark.parametrize(
    "value",
    [-1, "-3", "--3", "x", "1.5", True, 1.5, ""],
    ids=["neg", "neg-text", "dashes", "word", "dec", "bool", "float", "empty"],
)
def test_since_refuses_anything_but_a_position(value: Any) -> None:
    """A negative, fractional or non-numeric position is an InvalidInputError naming `since`."""
    with pytest.raises(InvalidInputError, match="since"):
        export_events(SupportLedger(), io.StringIO(), since=value)


# -- re-derivation ---------------------------------------------------------------------------------


def test_the_rederived_statements_equal_the_views(
    app: SupportLedger, projected: History, db: ViewDatabase
) -> None:
    """Every month and term, for all contracts and for each, has the view's figures and shape."""
    derived = rederive(export(app))
    view = CreditUsageView(db)
    assert derived.months() == MONTHS
    assert derived.terms() == [1, 2]
    for request in [{"period": m} for m in MONTHS] + [{"term": 1}, {"term": 2}]:
        assert derived.statement(**request) == view.statement(**request)
        for contract in (projected.world.premium, projected.world.advanced):
            assert answer(derived.statement, **request, contract_id=contract) == answer(
                view.statement, **request, contract_id=contract
            )


def answer(ask: Any, **request: Any) -> Any:
    """What a statement request gives: the statements, or the kind of error and its message."""
    try:
        return ask(**request)
    except InvalidInputError as exc:  # e.g. the Premium contract has no term 2
        return (type(exc), exc.message)


def test_the_rederived_statements_add_up_as_worked_out_by_hand(
    app: SupportLedger, history: History
) -> None:
    """Advanced in March: opening 32; +20 bought, -24.5 used, +14 returned, -17 expired; the
    Premium contract terminated in June: 54 points and 6 sessions expire, it closes at 0."""
    derived = rederive(export(app))
    (march,) = derived.statement(period="2025-03", contract_id=history.world.advanced)
    figures = ("opening", "granted", "purchased", "consumed", "reversed", "expired", "closing")
    assert [march["points"][f] for f in figures] == [32, 0, 20, D("24.5"), 14, 17, D("24.5")]
    (june,) = derived.statement(period="2025-06", contract_id=str(history.world.premium))
    assert (june["points"]["expired"], june["sessions"]["expired"]) == (54, 6)
    assert (june["points"]["closing"], june["sessions"]["closing"]) == (0, 0)
    (term,) = derived.statement(term=1, contract_id=history.world.advanced)
    assert [(f["kind"], f["fee"]) for f in term["fees"]] == [
        ("initial", D("8000.00")),
        ("upgrade", D("2500.00")),
    ]  # the renewal charged in term 1 pays for term 2
    (second,) = derived.statement(term=2, contract_id=history.world.advanced)
    assert [(f["kind"], f["fee"]) for f in second["fees"]] == [("renewal", D("13000.00"))]
    (reinstated,) = derived.statement(term=2, contract_id=history.world.basic)
    assert [(f["kind"], f["fee"]) for f in reinstated["fees"]] == [("reinstatement", D("4800.00"))]


@pytest.mark.parametrize(
    "when",
    [at(3, 4, 11), at(3, 5, 10), at(3, 5, 10, 1), at(4, 7, 12), at(12, 1, 12)],
    ids=["tuesday", "s3-deadline", "s3-a-minute-late", "april", "december"],
)
def test_the_rederived_breach_statistics_equal_the_views(
    app: SupportLedger, projected: History, db: ViewDatabase, when: datetime
) -> None:
    """By tier, customer, severity and month, at instants before and after deadlines."""
    derived = rederive(export(app))
    view = SlaBreachView(db)
    for by in GROUPINGS:
        assert derived.stats(by, when) == view.stats(by, when)
    since, until = at(3, 1, 0), at(4, 1, 0)
    assert derived.stats("tier", when, since=since, until=until) == view.stats(
        "tier", when, since=since, until=until
    )


def test_the_rederived_breach_statistics_match_the_figures_worked_out_by_hand(
    app: SupportLedger, history: History
) -> None:
    """Premium: S1 met 2 h, S2 breached 13 h, S3 unanswered past Wed 10:00, S8 met 1.5 h,
    BOR-1 (received under Premium after the upgrade) open; Advanced: S4 met 3 h, S5 breached
    25 h and waived; Basic: S6 met 21 h, S7 declined and not counted."""
    stats = rederive(export(app)).stats("tier", at(4, 7, 12))
    assert stats == [
        {"key": "advanced", "tickets": 2, "met": 1, "breached": 0, "waived": 1,
         "breach_rate": D("0.0000"), "responses": 2, "median_response_seconds": 10800,
         "p90_response_seconds": 90000},
        {"key": "basic", "tickets": 1, "met": 1, "breached": 0, "waived": 0,
         "breach_rate": D("0.0000"), "responses": 1, "median_response_seconds": 75600,
         "p90_response_seconds": 75600},
        {"key": "premium", "tickets": 5, "met": 2, "breached": 2, "waived": 0,
         "breach_rate": D("0.5000"), "responses": 3, "median_response_seconds": 7200,
         "p90_response_seconds": 46800},
    ]  # fmt: skip
    before = rederive(export(app)).stats("severity", at(3, 5, 10))
    assert [(s["key"], s["breached"]) for s in before] == [(1, 0), (2, 1), (3, 0)]


def test_the_rederivation_refuses_an_export_that_starts_mid_history(
    app: SupportLedger, history: History
) -> None:
    """An export made with `since` lacks the start of histories: re-derivation names the line."""
    lines = export(app, since=json.loads(export(app)[30])["position"])
    with pytest.raises(
        InvalidInputError, match=r"line 1 .*the whole log \(without --since\)"
    ) as caught:
        rederive(lines)
    assert caught.value.details["line"] >= 1


def test_the_rederivation_knows_only_the_contracts_of_the_export(
    app: SupportLedger, history: History
) -> None:
    """An unknown contract, or a term a contract does not have, is refused."""
    derived = rederive(export(app))
    with pytest.raises(UnknownContractError):
        derived.statement(term=1, contract_id="00000000-0000-0000-0000-000000000001")
    with pytest.raises(InvalidInputError, match="has no term 3"):
        derived.statement(term=3, contract_id=history.world.basic)
    assert derived.statement(term=3) == []


# -- reconciliation --------------------------------------------------------------------------------


def test_reconcile_finds_no_difference_when_the_views_are_up_to_date(
    store_settings: DatabaseSettings, app: SupportLedger, projected: History
) -> None:
    """Every month, both terms and the four groupings agree; the positions are the same."""
    lines = export(app)
    result = reconcile_export(lines, store_settings)
    assert result.differences == []
    assert result.ok
    assert not result.outdated
    head = app.recorder.max_notification_id()
    assert (result.events, result.export_position) == (len(lines), head)
    assert result.view_positions == {"credit_usage": head, "sla_breaches": head}
    assert result.windows == [*MONTHS, "term 1", "term 2"]
    assert result.groupings == GROUPINGS
    assert result.at == result.recorded_at == rederive(lines).recorded_at
    one = reconcile_export(
        lines, store_settings, term=1, contract_id=projected.world.advanced, by="tier",
        at=at(4, 7, 12),
    )  # fmt: skip
    assert (one.ok, one.windows, one.groupings, one.at) == (
        True,
        ["term 1"],
        ["tier"],
        at(4, 7, 12),
    )


def test_reconcile_reports_figures_altered_in_the_view_tables(
    store_settings: DatabaseSettings, app: SupportLedger, projected: History, db: ViewDatabase
) -> None:
    """A consumption of 7.50 made 8.50 and a met response made breached show figure by figure."""
    advanced = str(projected.world.advanced)
    with db.transaction() as tx:
        tx.execute("UPDATE credit_movements SET amount = 850 WHERE idempotency_key = ?", ("c3",))
        tx.execute("UPDATE sla_clocks SET outcome = 'breached' WHERE external_key = ?", ("S1",))
    result = reconcile_export(
        export(app), store_settings, period="2025-03", by="tier", at=at(4, 7, 12)
    )
    assert result.differences == [
        Difference("statement", "2025-03", advanced, "points", "consumed", D("24.5"), D("25.5")),
        Difference("statement", "2025-03", advanced, "points", "closing", D("24.5"), D("23.5")),
        Difference("breach_stats", "by tier", "premium", None, "met", 2, 1),
        Difference("breach_stats", "by tier", "premium", None, "breached", 2, 3),
        Difference("breach_stats", "by tier", "premium", None, "breach_rate", D("0.5"), D("0.75")),
    ]
    assert not result.ok
    assert not result.outdated
    assert result.differences[0].describe() == (
        f"statement 2025-03 {advanced} points consumed: export 24.50, view 25.50"
    )
    everything = reconcile_export(export(app), store_settings)
    altered = {(d.window, d.figure) for d in everything.differences if d.report == "statement"}
    assert {("2025-03", "consumed"), ("2025-04", "opening"), ("term 1", "closing")} <= altered


def test_reconcile_reports_a_statement_missing_from_the_view(
    store_settings: DatabaseSettings, app: SupportLedger, projected: History, db: ViewDatabase
) -> None:
    """A contract the export has and the view lacks is a difference, not an error."""
    basic = str(projected.world.basic)
    with db.transaction() as tx:
        tx.execute("DELETE FROM credit_contracts WHERE contract_id = ?", (basic,))
    missing = [
        Difference("statement", "term 1", basic, None, "statement", "present", "missing"),
        Difference("revenue", "term 1", basic, None, "revenue", "present", "missing"),
    ]
    assert reconcile_export(export(app), store_settings, term=1, by="tier").differences == missing
    only = reconcile_export(export(app), store_settings, term=1, contract_id=basic, by="tier")
    assert only.differences == missing


def test_reconcile_tells_an_outdated_export_from_a_wrong_view(
    store_settings: DatabaseSettings, app: SupportLedger, projected: History
) -> None:
    """An export made before more events were recorded ends before the views' position."""
    lines = export(app)
    app.consume_credits(projected.world.advanced, points=D(4), activity="review", key="c6",
                        at=at(2, 10, 10, year=2026))  # fmt: skip
    project(store_settings, app)
    head = app.recorder.max_notification_id()
    result = reconcile_export(lines, store_settings, period="2026-02", by="tier")
    advanced = str(projected.world.advanced)
    assert result.outdated
    assert result.differences == [
        Difference("position", None, "credit_usage", None, "position", head - 2, head),
        Difference("position", None, "sla_breaches", None, "position", head - 2, head),
        Difference("statement", "2026-02", advanced, "points", "consumed", D(0), D(4)),
        Difference("statement", "2026-02", advanced, "points", "closing", D(61), D(57)),
    ]
    assert "the export is older than the view" in result.differences[0].describe()


def test_reconcile_tells_views_behind_the_export(
    store_settings: DatabaseSettings, app: SupportLedger, history: History
) -> None:
    """Views that never ran stand at position 0, behind the export: reported as such."""
    result = reconcile_export(export(app), store_settings, term=1, by="tier")
    head = app.recorder.max_notification_id()
    positions = [d for d in result.differences if d.report == "position"]
    assert positions == [
        Difference("position", None, "credit_usage", None, "position", head, 0),
        Difference("position", None, "sla_breaches", None, "position", head, 0),
    ]
    assert not result.outdated
    assert "has not caught up" in positions[0].describe()
    missing = {d.figure for d in result.differences if d.report != "position"}
    assert missing == {"statement", "revenue", "group"}


# -- malformed exports -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_export() -> list[str]:
    """The export of a small in-memory ledger: the release catalog and three contracts."""
    application = SupportLedger()
    build_world(application)
    return export(application)


def _replace(lines: list[str], index: int, change: Any) -> list[str]:
    data = json.loads(lines[index])
    change(data)
    return [*lines[:index], json.dumps(data), *lines[index + 1 :]]


def _drop(key: str) -> Any:
    return lambda data: data.pop(key)


def _set(key: str, value: Any) -> Any:
    return lambda data: data.update({key: value})


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda ls: [ls[0], "{not json", *ls[1:]], r"line 2: not JSON"),
        (lambda ls: [*ls[:2], "[1, 2]", *ls[2:]], r"line 3: expected a JSON object"),
        (lambda ls: _replace(ls, 1, _drop("payload")), r"line 2: missing key payload"),
        (lambda ls: _replace(ls, 2, _drop("type")), r"line 3: missing key type"),
        (lambda ls: [*ls[:6], ls[7], ls[6], *ls[8:]],  # the catalog's last, a contract's first
         r"line 8: position 7 does not come after position 8"),
        (lambda ls: _replace(ls, 1, _set("position", 1)),
         r"line 2: position 1 does not come after position 1"),
        (lambda ls: _replace(ls, 1, _set("type", "Ticket.Exploded")),
         r"line 2: type: 'Ticket.Exploded' is not an event"),
        (lambda ls: _replace(ls, 1, _set("topic", "x:Y")), r"line 2: topic: 'x:Y'"),
        (lambda ls: _replace(ls, 1, _set("recorded_at", "2025-03-03T09:00:00")),
         r"line 2: recorded_at: .* with an offset"),
        (lambda ls: _replace(ls, 1, _set("aggregate", "nope")), r"line 2: aggregate: 'nope'"),
        (lambda ls: _replace(ls, 1, _set("version", 0)), r"line 2: version: expected"),
        (lambda ls: _replace(ls, 1, _set("payload", [])), r"line 2: payload: expected a JSON"),
        (lambda ls: [ls[0], *ls[2:]],
         r"line 2: aggregate \S+ is at version 3 after version 1 \(line 1\): events are missing"),
    ],
    ids=["bad-json", "not-an-object", "no-payload", "no-type", "positions-back",
         "position-repeated", "unknown-type", "wrong-topic", "naive-instant", "bad-aggregate",
         "version-zero", "payload-list", "event-missing"],
)  # fmt: skip
def test_a_malformed_export_is_refused_naming_the_line(
    small_export: list[str], damage: Any, message: str
) -> None:
    """Reading stops at the first bad line with an InvalidInputError that names it."""
    lines = damage(small_export)
    with pytest.raises(InvalidInputError, match=message) as caught:
        list(read_export(lines))
    with pytest.raises(InvalidInputError, match=message):
        rederive(lines)
    assert caught.value.details["line"] == int(message.split()[1].rstrip(":"))


def test_a_malformed_payload_is_refused_naming_the_line_and_the_field(
    small_export: list[str],
) -> None:
    """A figure the re-derivation needs that is not a decimal stops it, naming where."""
    index = next(i for i, line in enumerate(small_export) if '"Contract.Signed"' in line)

    def damage(data: dict[str, Any]) -> None:
        data["payload"]["fee"] = "lots"

    lines = _replace(small_export, index, damage)
    position = json.loads(lines[index])["position"]
    with pytest.raises(
        InvalidInputError,
        match=rf"line {index + 1} \(position {position}, Contract.Signed\): fee: 'lots' is not",
    ):
        rederive(lines)
    assert len(list(read_export(lines))) == len(lines)  # the line itself is well formed


def test_blank_lines_are_skipped(small_export: list[str]) -> None:
    """A trailing newline or an empty line between events is not an event."""
    lines = [small_export[0], "", *small_export[1:], "  "]
    assert [e.position for e in read_export(lines)] == [
        json.loads(line)["position"] for line in small_export
    ]


def test_the_rederivation_needs_nothing_but_the_export_file(tmp_path: Path) -> None:
    """In a fresh process with no database settings, the export file alone gives the figures,
    and no store, projection or database driver module is even imported."""
    application = SupportLedger()
    history = record_history(application)
    path = tmp_path / "ledger-export.jsonl"
    path.write_text("\n".join(export(application)) + "\n", encoding="utf-8")
    script = (
        "import json, sys\n"
        "from datetime import datetime\n"
        "from ledger.audit.rederive import rederive\n"
        "from ledger.serialize import jsonable\n"
        "with open(sys.argv[1], encoding='utf-8') as lines:\n"
        "    derived = rederive(lines)\n"
        "at = datetime.fromisoformat(sys.argv[2])\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in {'sqlite3', 'psycopg'}\n"
        "                or m.startswith(('ledger.projections', 'ledger.application',\n"
        "                                 'ledger.store', 'ledger.settings',\n"
        "                                 'eventsourcing.persistence', 'eventsourcing.sqlite',\n"
        "                                 'eventsourcing.postgres')))\n"
        "print(json.dumps(jsonable({'statements': derived.statement(period='2025-03'),\n"
        "                           'stats': derived.stats('tier', at), 'loaded': loaded})))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEDGER_", "PERSISTENCE"))}
    done = subprocess.run(
        [sys.executable, "-c", script, str(path), "2025-04-07T10:00:00+00:00"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["loaded"] == []
    with path.open(encoding="utf-8") as lines:
        derived = rederive(lines)
    assert printed["statements"] == jsonable(derived.statement(period="2025-03"))
    assert printed["stats"] == jsonable(derived.stats("tier", at(4, 7, 12)))
    assert len(printed["statements"]) == 3
    assert {s["contract_id"] for s in printed["statements"]} == {
        str(c) for c in (history.world.premium, history.world.advanced, history.world.basic)
    }
