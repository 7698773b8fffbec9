"""/metrics, /healthz and /readyz in process, on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import math
import socket
import threading
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from ledger.projections import PROJECTIONS
from ledger.projections.runner import run_projections
from ledger.scheduler.clock import FakeClock
from ledger.scheduler.service import Scheduler
from ledger.settings import Settings
from ledger.web.app import create_app
from ledger.web.observability import READINESS, LedgerCollector, ReadinessRules
from tests.conftest import create_schema, drop_schema, require_postgres
from tests.scenario import at, build_world
from tests.web.conftest import TestClient

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import datetime
    from uuid import UUID

    from ledger.application import SupportLedger
    from ledger.settings import DatabaseSettings
    from ledger.web.services import Services
    from tests.web.conftest import Api

SCRAPED_AT = at(3, 3, 16)  # Monday 2025-03-03 16:00 Berlin


def services_of(api: Api) -> Services:
    services: Services = api.client.app.state.services  # type: ignore[attr-defined]
    return services


def scrape(api: Api, when: datetime) -> dict[str, float]:
    """GET /metrics with the store read as at `when`: every sample by name and labels."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LedgerCollector(services_of(api), clock=lambda: when))
    services_of(api).extras["metrics_registry"] = registry
    answer = api.client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def open_ticket(
    app: SupportLedger, contract: UUID, reporter: str, severity: int, *, when: datetime, key: str
) -> None:
    app.open_ticket(
        contract_id=contract, reporter=reporter, severity=severity, version="24.2.1",
        platform="linux", at=when, key=key,
    )  # fmt: skip


def known_history(app: SupportLedger) -> None:
    """Seven requests: at 2025-03-03 16:00 Berlin one is on track, one at risk, one on hold and
    one breached without an answer; one premium was answered late, one advanced breach was
    waived, one request was declined."""
    world = build_world(app)
    # advanced, severity 1 (16 h): due Tue 02-25 15:00, answered Wed (late), breach waived
    open_ticket(app, world.advanced, "support@borealis.example", 1, when=at(2, 24, 9), key="T6")
    app.record_first_response("T6", at=at(2, 26, 9))
    app.waive_breach("T6", reason="our outage", actor="J. Doe", at=at(2, 27, 9))
    # premium, severity 1 (8 h): due Wed 02-26 17:00, answered Thursday (late)
    open_ticket(app, world.premium, "ops@acme.example", 1, when=at(2, 26, 9), key="T5")
    app.record_first_response("T5", at=at(2, 27, 9))
    # premium, severity 2 (12 h): due Mon 03-03 11:00, never answered
    open_ticket(app, world.premium, "ops@acme.example", 2, when=at(2, 28, 9), key="T4")
    # premium, severity 1 (8 h) from Monday 09:00: 7 h used at 16:00, past the 75 % warning
    open_ticket(app, world.premium, "qa@acme.example", 1, when=at(3, 3, 9), key="T1")
    # advanced, severity 3 (36 h): on track
    open_ticket(app, world.advanced, "support@borealis.example", 3, when=at(3, 3, 9), key="T2")
    # basic, severity 1: on hold from 10:00
    open_ticket(app, world.basic, "it@cobalt.example", 1, when=at(3, 3, 9), key="T3")
    app.hold_ticket("T3", at=at(3, 3, 10))
    # declined: not a named contact
    open_ticket(app, world.basic, "stranger@cobalt.example", 1, when=at(3, 3, 9), key="T7")


def catch_up_all(api: Api) -> None:
    outcomes = run_projections(api.settings, api.ledger, list(PROJECTIONS.values()), once=True)
    assert {o.status for o in outcomes} == {"caught_up"}


def test_metrics_report_the_known_history_by_state_tier_and_projection(api: Api) -> None:
    """Open tickets by state, breaches by tier, lags and the scheduler's figures match the log."""
    known_history(api.ledger)
    catch_up_all(api)
    head = api.recorded()

    before = scrape(api, SCRAPED_AT)

    assert before["ledger_store_up"] == 1
    assert before["ledger_log_head"] == head
    for name in PROJECTIONS:
        assert before[f"ledger_projection_position{{projection={name}}}"] == head
        assert before[f"ledger_projection_lag_events{{projection={name}}}"] == 0
        assert before[f"ledger_projection_failed{{projection={name}}}"] == 0
    states = {s: before[f"ledger_open_tickets{{state={s}}}"]
              for s in ("on_track", "at_risk", "paused", "breached")}  # fmt: skip
    assert states == {"on_track": 1, "at_risk": 1, "paused": 1, "breached": 1}
    breaches = {t: before[f"ledger_breaches{{tier={t}}}"] for t in ("premium", "advanced", "basic")}
    assert breaches == {"premium": 2, "advanced": 0, "basic": 0}
    assert before["ledger_breaches_waived{tier=advanced}"] == 1
    # the oldest fact due and not recorded: T4's 50 % warning, Friday 02-28 15:00 Berlin
    oldest = SCRAPED_AT - at(2, 28, 15)
    assert before["ledger_scheduler_due_lag_seconds"] == oldest.total_seconds()
    assert before["ledger_scheduler_due_facts"] >= 1
    assert math.isinf(before["ledger_scheduler_heartbeat_age_seconds"])
    assert before["ledger_scheduler_facts_recorded_total"] == 0

    scheduler = Scheduler(api.ledger, api.settings, clock=FakeClock(SCRAPED_AT))
    try:
        recorded = sum(1 for outcome in scheduler.tick() if outcome.recorded)
    finally:
        scheduler.close()
    catch_up_all(api)
    after = scrape(api, SCRAPED_AT + timedelta(seconds=30))

    assert recorded >= 4  # T1's two warnings, T4's two warnings and its breach
    assert after["ledger_scheduler_facts_recorded_total"] == recorded
    assert after["ledger_scheduler_due_facts"] == 0
    assert after["ledger_scheduler_due_lag_seconds"] == 0
    assert after["ledger_scheduler_heartbeat_age_seconds"] == 30
    assert after["ledger_scheduler_last_tick_age_seconds"] == 30
    assert after["ledger_breaches{tier=premium}"] == 2  # recording T4's breach changes nothing

    api.ledger.resolve_ticket("T2", at=SCRAPED_AT)  # one more event, no projection run
    lagging = scrape(api, SCRAPED_AT + timedelta(minutes=1))
    assert lagging["ledger_log_head"] == api.recorded()
    for name in PROJECTIONS:
        lag = lagging[f"ledger_projection_lag_events{{projection={name}}}"]
        assert lag == api.recorded() - after[f"ledger_projection_position{{projection={name}}}"]
        assert lag >= 1


def test_metrics_need_no_token_and_name_no_customer(sqlite_api: Api) -> None:
    """/metrics is public and holds counts only: no customer name or ticket key appears."""
    known_history(sqlite_api.ledger)
    answer = sqlite_api.client.get("/metrics")
    assert answer.status_code == 200
    assert "ledger_store_up 1.0" in answer.text
    for secret in ("Premium Customer", "acme", "T4", sqlite_api.tokens["admin"]):
        assert secret not in answer.text


def test_healthz_answers_without_a_token(sqlite_api: Api) -> None:
    """The liveness probe is public and does not depend on the store."""
    answer = sqlite_api.client.get("/healthz")
    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})
    assert answer.headers["cache-control"] == "no-store"


def test_readyz_is_ready_when_every_projection_keeps_up(api: Api) -> None:
    """A store that answers and views at the head of the log: 200."""
    build_world(api.ledger)
    catch_up_all(api)
    answer = api.client.get("/readyz")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["status"], body["reasons"]) == ("ready", [])
    assert body["projections"]["sla_breaches"] == {"position": api.recorded(), "lag": 0,
                                                   "error": None}  # fmt: skip


def test_readyz_names_a_projection_that_stopped_at_an_event(api: Api) -> None:
    """A view stopped at an event it cannot apply makes the process not ready, named."""
    from ledger.projections.base import record_error  # noqa: PLC0415

    build_world(api.ledger)
    catch_up_all(api)
    with services_of(api).views.lease() as db:
        record_error(db, "credit_usage", 7, "ValueError: boom", at(3, 3))
    answer = api.client.get("/readyz")
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "not_ready"
    assert body["reasons"] == ["projection credit_usage stopped at position 7: ValueError: boom"]


def test_readyz_names_projections_left_behind_and_still(api: Api) -> None:
    """Views more than N events behind that have not moved for T: 503; caught up again: 200."""
    build_world(api.ledger)
    catch_up_all(api)
    services_of(api).extras[READINESS] = ReadinessRules(
        max_lag_events=3, stalled_after=timedelta(0)
    )
    assert api.client.get("/readyz").status_code == 200
    before = api.recorded()
    for n in range(4):
        api.ledger.publish_release(f"26.{n}.0", prerelease=False, at=at(4, 1 + n))
    behind = api.client.get("/readyz")
    assert behind.status_code == 503
    reasons = behind.json()["reasons"]
    assert len(reasons) == len(PROJECTIONS)
    assert reasons[0].startswith(
        f"projection sla_breaches is {api.recorded() - before} events behind the log "
        "(more than 3) and has not moved for"
    )
    services_of(api).extras[READINESS] = ReadinessRules(
        max_lag_events=3, stalled_after=timedelta(minutes=5)
    )
    assert api.client.get("/readyz").status_code == 200  # behind, but it moved a moment ago
    services_of(api).extras[READINESS] = ReadinessRules(
        max_lag_events=3, stalled_after=timedelta(0)
    )
    catch_up_all(api)
    assert api.client.get("/readyz").status_code == 200


class Relay:
    """A TCP relay to the PostgreSQL server that can be cut: the database goes away."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.server.getsockname()[1])
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Stop accepting and drop every connection."""
        self.server.close()
        with self.lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


@pytest.fixture
def relayed() -> Iterator[tuple[DatabaseSettings, Relay]]:
    """A PostgreSQL schema of its own, reached through a relay the test can cut."""
    settings = create_schema(require_postgres())
    relay = Relay(settings.host, settings.port)
    try:
        yield settings, relay
    finally:
        relay.cut()
        drop_schema(settings)


@pytest.mark.postgres
def test_readyz_is_not_ready_while_the_database_is_unreachable(
    relayed: tuple[DatabaseSettings, Relay],
) -> None:
    """Database gone: /readyz 503 naming the store, /metrics reports it down, /healthz 200."""
    settings, relay = relayed
    through = settings.__class__(**{**vars(settings), "host": "127.0.0.1", "port": relay.port,
                                    "connect_timeout": 2})  # fmt: skip
    with TestClient(create_app(Settings(database=through))) as client:
        assert client.get("/readyz").status_code == 200
        relay.cut()
        answer = client.get("/readyz")
        assert answer.status_code == 503, answer.text
        assert answer.json()["reasons"][0].startswith("the store cannot be used")
        assert "ledger_store_up 0.0" in client.get("/metrics").text
        assert client.get("/healthz").status_code == 200


def test_metrics_count_the_snapshots_rejected_by_their_seal(sqlite_api: Api) -> None:
    """A stored snapshot changed in the database is ignored when read, and counted."""
    import sqlite3  # noqa: PLC0415 - only this test writes the file behind the API's back
    from decimal import Decimal  # noqa: PLC0415

    from ledger.domain.credit_account import CreditAccount  # noqa: PLC0415

    app = sqlite_api.ledger
    world = build_world(app)
    for n in range(60):
        app.consume_credits(
            world.premium, points=Decimal(1), activity="a", key=f"k{n}",
            at=at(3, 3) + timedelta(minutes=n),
        )  # fmt: skip
    assert scrape(sqlite_api, SCRAPED_AT)["ledger_snapshots_rejected_total"] == 0
    account_id = CreditAccount.create_id(world.premium)
    with sqlite3.connect(sqlite_api.settings.path) as conn:
        conn.execute(
            "UPDATE stored_snapshots SET state = replace(state, X'3132', X'3939') "
            "WHERE originator_id = ?",
            (account_id.hex,),
        )
    version = app.get_account(world.premium).version
    app.repository.get(account_id, version=version)  # a read at a version reads a snapshot
    assert scrape(sqlite_api, SCRAPED_AT)["ledger_snapshots_rejected_total"] >= 1
