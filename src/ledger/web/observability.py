"""Operations endpoints: `/metrics` (Prometheus), `/healthz` (liveness), `/readyz` (readiness).

All three are public: a probe or a scraper carries no token. `/metrics` exposes counts and
lags only (no customer, ticket or contract names or ids), so it tells an outsider how busy
the ledger is and nothing else; publish the API's port only to the network Prometheus
scrapes from (docker-compose binds it to 127.0.0.1), or block `/metrics` at the proxy in
front of the API.

`/metrics` reads the store when it is scraped, with a handful of aggregate queries on the read
models (no projection is run, nothing is written): the figures are those of the views as they
stand, so a view's lag says how fresh its figures are. Every worker process answers the same
figures, since they come from the database.

Metrics (gauges unless said otherwise):
- `ledger_store_up`: 1 when the store answered this scrape, else 0 (and nothing below).
- `ledger_log_head`: the position of the newest event in the log.
- `ledger_projection_position{projection}`: the last position the view applied.
- `ledger_projection_lag_events{projection}`: head - position, the events not applied yet.
- `ledger_projection_failed{projection}`: 1 when the view stopped at an event it cannot apply.
- `ledger_projection_idle_seconds{projection}`: seconds since it last applied a batch (+Inf:
  never).
- `ledger_scheduler_due_lag_seconds`: seconds since the oldest pending fact fell due (0: none
  is due).
- `ledger_scheduler_due_facts`: facts due by now and not recorded yet.
- `ledger_scheduler_pending_facts{kind}`: every pending fact (due or not) by kind: warning,
  breach, lapse, term_grant, lot_expiry.
- `ledger_scheduler_heartbeat_age_seconds`: seconds since the leading scheduler's last
  heartbeat (+Inf: never).
- `ledger_scheduler_last_tick_age_seconds`: seconds since a scheduler last ran a tick (+Inf:
  never).
- `ledger_scheduler_facts_recorded_total` (counter): facts the schedulers have recorded.
- `ledger_open_tickets{state}`: tickets awaiting their first response (clock running or on
  hold), by their state now: on_track, at_risk, paused, breached.
- `ledger_breaches{tier}`: response clocks breached (answered late, or overdue without an
  answer), waived breaches excluded; `ledger_breaches_waived{tier}`: those waived.
- `ledger_build_info{version}`: 1, labelled with the running version.
- `ledger_snapshots_rejected_total` (counter, of this process): stored snapshots ignored
  because their seal did not check under `LEDGER_SNAPSHOT_KEY` (tampered, or sealed under
  another key); each was replayed from its events instead. Alert on any increase.

The scheduler's figures come from the deadlines view, which the leading scheduler keeps
current itself. Alert, for example, on `ledger_scheduler_due_lag_seconds > 60` (facts are
not being recorded), `ledger_scheduler_heartbeat_age_seconds > 30` (no scheduler leads),
`ledger_projection_failed == 1`, or `ledger_projection_lag_events > 1000 and
ledger_projection_idle_seconds > 60` (a view stalled: what `/readyz` checks).

`/healthz` answers 200 as long as the process serves requests; it does not touch the store
(a database outage must not make a supervisor restart every API process).

`/readyz` answers 200 when the process can do its work, else 503 with the reasons:
- the store answers (the read models' database and the event log);
- no projection is stalled: none stopped at an event it cannot apply (`projections status`
  names it), and none is more than `max_lag_events` (1,000) events behind while its position
  has not moved for `stalled_after` (60 seconds). A view catching up, however far behind, is
  moving and therefore not stalled; a view nobody runs falls behind and stays still. (Without
  `ledger projections run`, reports catch their view up when asked: a ledger served without a
  projector turns not ready once 1,000 events wait for a view nobody has asked about for a
  minute, which is what a deployment wants to know.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from ledger import __version__
from ledger.errors import StoreUnavailableError
from ledger.logs import get_logger
from ledger.projections import PROJECTIONS
from ledger.projections.base import all_states
from ledger.projections.db import instant
from ledger.projections.deadlines import DeadlinesProjection, DeadlinesView
from ledger.projections.sla_breaches import (
    AT_RISK,
    BREACHED,
    ON_TRACK,
    PAUSED,
    SlaBreachView,
)
from ledger.scheduler.service import NAME as SCHEDULER
from ledger.scheduler.service import STATE_DDL as SCHEDULER_DDL
from ledger.scheduler.service import STATE_TABLE as SCHEDULER_TABLE
from ledger.web.auth import public
from ledger.web.errors import STORE_OUTAGES
from ledger.web.services import Services, Svc, now

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from prometheus_client.core import Metric

    from ledger.projections.base import State
    from ledger.projections.db import ViewDatabase

log = get_logger("ledger.web.observability")

router = APIRouter(tags=["operations"], include_in_schema=False)

OPEN_STATES = (ON_TRACK, AT_RISK, PAUSED, BREACHED)
TIERS = ("premium", "advanced", "basic")
NO_STORE = {"Cache-Control": "no-store"}
OUTAGES: tuple[type[Exception], ...] = (StoreUnavailableError, *STORE_OUTAGES)


# -- reading the store -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SchedulerFigures:
    """The scheduler's state row and the deadlines view, at one instant."""

    heartbeat_at: datetime | None
    last_tick_at: datetime | None
    facts_recorded: int
    pending: dict[str, int]
    due: int
    oldest_due_at: datetime | None


@dataclass(frozen=True)
class Snapshot:
    """What a scrape reports, read from the store at `at`."""

    at: datetime
    head: int
    projections: dict[str, State | None]
    scheduler: SchedulerFigures
    open_tickets: dict[str, int]
    breaches: dict[str, int]
    waived: dict[str, int]


def log_head(services: Services) -> int:
    """The position of the newest event in the log (0 when it is empty)."""
    return int(services.ledger.recorder.max_notification_id() or 0)


def projection_states(db: ViewDatabase) -> dict[str, State | None]:
    """Every projection's stored state (None for one that never ran)."""
    stored = {s.name: s for s in all_states(db)}
    return {name: stored.get(name) for name in PROJECTIONS}


def scheduler_figures(db: ViewDatabase, at: datetime) -> SchedulerFigures:
    """The scheduler's heartbeat, last tick and count, and the pending facts by kind."""
    db.create([SCHEDULER_DDL, *DeadlinesProjection(db).ddl()])
    rows = db.read(
        f"SELECT heartbeat_at, last_tick_at, facts_recorded FROM {SCHEDULER_TABLE} WHERE name = ?",
        (SCHEDULER,),
    )
    heartbeat, last_tick, recorded = rows[0] if rows else (None, None, 0)
    pending, due, oldest = DeadlinesView(db).pending(at)
    return SchedulerFigures(
        heartbeat_at=instant(heartbeat),
        last_tick_at=instant(last_tick),
        facts_recorded=int(recorded or 0),
        pending=pending,
        due=due,
        oldest_due_at=oldest,
    )


def clock_figures(
    db: ViewDatabase, at: datetime
) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Open tickets by state at `at`; breaches and waived breaches by tier.

    Read through the SLA-breach view's own queries, so the states are the board's.
    """
    view = SlaBreachView(db)
    open_tickets = dict.fromkeys(OPEN_STATES, 0) | view.open_clocks(at)
    breached, waived_breaches = view.breaches_by_tier(at)
    breaches = dict.fromkeys(TIERS, 0) | breached
    waived = dict.fromkeys(TIERS, 0) | waived_breaches
    return open_tickets, breaches, waived


def snapshot(services: Services, at: datetime) -> Snapshot:
    """Everything a scrape reports, read from the store (the standby's views when
    `LEDGER_READ_DATABASE_URL` is set; the head of the log is the primary's)."""
    with services.read_views.lease() as db:
        states = projection_states(db)
        scheduler = scheduler_figures(db, at)
        open_tickets, breaches, waived = clock_figures(db, at)
    return Snapshot(
        at=at,
        head=log_head(services),
        projections=states,
        scheduler=scheduler,
        open_tickets=open_tickets,
        breaches=breaches,
        waived=waived,
    )


# -- /metrics --------------------------------------------------------------------------------------


def _age(at: datetime, then: datetime | None) -> float:
    """Seconds from `then` to `at`; +Inf when it never happened."""
    return math.inf if then is None else max((at - then).total_seconds(), 0.0)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _labelled(
    name: str, documentation: str, label: str, values: dict[str, float]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for key, value in values.items():
        family.add_metric([key], value)
    return family


def metric_families(figures: Snapshot) -> list[Metric]:
    """The Prometheus metric families of a snapshot."""
    at, head, scheduler = figures.at, figures.head, figures.scheduler
    states = figures.projections

    def position(name: str) -> int:
        state = states[name]
        return state.position if state else 0

    recorded = CounterMetricFamily(
        "ledger_scheduler_facts_recorded", "Facts the schedulers have recorded."
    )
    recorded.add_metric([], scheduler.facts_recorded)
    return [
        _gauge("ledger_log_head", "The position of the newest event in the log.", head),
        _labelled("ledger_projection_position", "The last position the view applied.",
                  "projection", {n: position(n) for n in states}),
        _labelled("ledger_projection_lag_events", "Events recorded that the view has not "
                  "applied yet (head - position).", "projection",
                  {n: max(head - position(n), 0) for n in states}),
        _labelled("ledger_projection_failed", "1 when the view stopped at an event it cannot "
                  "apply.", "projection",
                  {n: int(bool(s and s.error)) for n, s in states.items()}),
        _labelled("ledger_projection_idle_seconds", "Seconds since the view last applied a "
                  "batch (+Inf: never).", "projection",
                  {n: _age(at, s.updated_at if s else None) for n, s in states.items()}),
        _gauge("ledger_scheduler_due_lag_seconds", "Seconds since the oldest pending fact "
               "fell due (0 when none is due).", _age(at, scheduler.oldest_due_at)
               if scheduler.oldest_due_at else 0.0),
        _gauge("ledger_scheduler_due_facts", "Facts due by now and not recorded yet.",
               scheduler.due),
        _labelled("ledger_scheduler_pending_facts", "Pending facts (due or not), by kind.",
                  "kind", dict(scheduler.pending)),
        _gauge("ledger_scheduler_heartbeat_age_seconds", "Seconds since the leading "
               "scheduler's last heartbeat (+Inf: never).", _age(at, scheduler.heartbeat_at)),
        _gauge("ledger_scheduler_last_tick_age_seconds", "Seconds since a scheduler last ran "
               "a tick (+Inf: never).", _age(at, scheduler.last_tick_at)),
        recorded,
        _labelled("ledger_open_tickets", "Tickets awaiting their first response, by state.",
                  "state", dict(figures.open_tickets)),
        _labelled("ledger_breaches", "Response clocks breached (late, or overdue without a "
                  "response), waived ones excluded.", "tier", dict(figures.breaches)),
        _labelled("ledger_breaches_waived", "Breaches waived.", "tier", dict(figures.waived)),
    ]  # fmt: skip


class LedgerCollector(Collector):
    """Reads the store at scrape time and reports it as metrics."""

    def __init__(self, services: Services, clock: Callable[[], datetime] = now) -> None:
        self.services = services
        self.clock = clock

    def describe(self) -> Iterable[Metric]:
        """Nothing at registration: the store is read only when scraped."""
        return []

    def collect(self) -> Iterable[Metric]:
        build = GaugeMetricFamily(
            "ledger_build_info", "The running version of ledger.", labels=["version"]
        )
        build.add_metric([__version__], 1)
        yield build
        rejected = CounterMetricFamily(
            "ledger_snapshots_rejected",
            "Stored snapshots ignored because their seal did not check (this process).",
        )
        rejected.add_metric([], self.services.ledger.snapshots_rejected)
        yield rejected
        try:
            figures = snapshot(self.services, self.clock())
        except OUTAGES as exc:
            log.error(  # noqa: TRY400 - an expected outage, no traceback wanted
                "metrics_store_unavailable", error=str(exc).strip()
            )
            yield _gauge("ledger_store_up", "1 when the store answered this scrape.", 0)
            return
        yield _gauge("ledger_store_up", "1 when the store answered this scrape.", 1)
        yield from metric_families(figures)
        yield _labelled(
            "ledger_alert_deliveries", "Alert messages by status (failed: given up, see "
            "`ledger alerts deliveries --failed`).", "status", alert_counts(self.services),
        )  # fmt: skip


def alert_counts(services: Services) -> dict[str, float]:
    """Alert messages by status: pending, delivered, failed, cancelled (on the standby when
    one is set, as the rest of a scrape and the wall are)."""
    from ledger.alerts.outbox import counts  # noqa: PLC0415 - only when scraped or shown

    with services.read_views.lease() as db:
        return {status: float(n) for status, n in counts(db).items()}


def registry_of(services: Services) -> CollectorRegistry:
    """The process's metrics registry (made at the first scrape)."""
    registry = services.extras.get("metrics_registry")
    if not isinstance(registry, CollectorRegistry):
        registry = CollectorRegistry(auto_describe=False)
        registry.register(LedgerCollector(services))
        services.extras["metrics_registry"] = registry
    return registry


@router.get("/metrics", dependencies=[public()])
def metrics(services: Svc) -> Response:
    """The ledger's figures in the Prometheus text format."""
    return Response(generate_latest(registry_of(services)), media_type=CONTENT_TYPE_LATEST)


# -- /healthz, /readyz -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadinessRules:
    """When a projection counts as stalled: this far behind, and still for this long."""

    max_lag_events: int = 1000
    stalled_after: timedelta = field(default=timedelta(seconds=60))


READINESS = "readiness"  # the key of the rules in Services.extras (tests set their own)


def rules_of(services: Services) -> ReadinessRules:
    """The readiness rules of the process (the defaults unless set in `Services.extras`)."""
    rules = services.extras.get(READINESS)
    return rules if isinstance(rules, ReadinessRules) else ReadinessRules()


def stalled(
    name: str, state: State | None, head: int, at: datetime, rules: ReadinessRules
) -> str | None:
    """Why the projection `name` is stalled, or None when it is not."""
    if state is not None and state.error:
        return f"projection {name} stopped at position {state.error_position}: {state.error}"
    lag = max(head - (state.position if state else 0), 0)
    if lag <= rules.max_lag_events:
        return None
    since = state.updated_at if state else None
    if since is not None and at - since <= rules.stalled_after:
        return None
    still = "has never run" if since is None else f"has not moved for {_age(at, since):.0f} s"
    return (
        f"projection {name} is {lag} events behind the log (more than "
        f"{rules.max_lag_events}) and {still}"
    )


def readiness(services: Services, at: datetime, rules: ReadinessRules) -> dict[str, Any]:
    """The readiness checks: `ready`, the `reasons` when not, and each projection's lag."""
    try:
        with services.views.lease() as db:
            states = projection_states(db)
        head = log_head(services)
    except OUTAGES as exc:
        log.warning("api_store_unavailable", error=str(exc).strip())
        return {"ready": False, "reasons": ["the store cannot be used"]}
    # The answer is public: a projection's error names no part of the database URL.
    hide = services.settings.database.redact
    reasons = [
        hide(reason, keep_host=False)
        for name, state in states.items()
        if (reason := stalled(name, state, head, at, rules)) is not None
    ]
    return {
        "ready": not reasons,
        "reasons": reasons,
        "head": head,
        "projections": {
            name: {
                "position": state.position if state else 0,
                "lag": max(head - (state.position if state else 0), 0),
                "error": (hide(state.error, keep_host=False) if state.error else state.error)
                if state
                else None,
            }
            for name, state in states.items()
        },
    }


@router.get("/healthz", dependencies=[public()])
def healthz() -> JSONResponse:
    """The process serves requests (the store is not asked)."""
    return JSONResponse({"status": "ok"}, headers=NO_STORE)


@router.get("/readyz", dependencies=[public()])
def readyz(services: Svc) -> JSONResponse:
    """200 when the store answers and no projection is stalled; 503 with the reasons."""
    result = readiness(services, now(), rules_of(services))
    if not result["ready"]:
        log.warning("api_not_ready", reasons=result["reasons"])
    return JSONResponse(
        {"status": "ready" if result["ready"] else "not_ready", **result},
        200 if result["ready"] else 503,
        headers=NO_STORE,
    )
