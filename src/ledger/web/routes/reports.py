"""Reports and the auditor's reads: the SLA board, breach statistics, credit statements (JSON
or CSV), projection status, as-of replays and the events of an aggregate (`ledger report ...`,
`ledger projections status`, `ledger audit replay`, `ledger events`)."""

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Header, Query
from fastapi.responses import JSONResponse, Response

from ledger.audit.replay import as_of_views
from ledger.domain.errors import InvalidInputError
from ledger.presenters import event_view
from ledger.projections import PROJECTIONS
from ledger.projections.credit_usage import CreditUsageProjection, CreditUsageView, reconcile
from ledger.projections.runner import status
from ledger.projections.sla_breaches import SlaBreachProjection, SlaBreachView
from ledger.reports import caught_up, statements_csv
from ledger.web.auth import AGENT, FINANCE, READERS, require
from ledger.web.inputs import (
    MONTH_PATTERN,
    at_or_now,
    instant,
    instant_query,
    line_query,
    optional_instant,
)
from ledger.web.routing import REPORT_ERRORS, answer, api_router, documented
from ledger.web.schemas import (
    BreachStatsReport,
    Event,
    ProjectionStatus,
    Replay,
    Report,
    StatementReport,
)
from ledger.web.services import Svc, now

router = api_router("reports")

State = Literal["on_track", "at_risk", "paused", "breached", "met", "declined", "all"]
TierName = Literal["premium", "advanced", "basic"]
Grouping = Literal["tier", "customer", "severity", "month"]

CatchUp = Annotated[
    bool,
    Query(
        description="First take in the events recorded since the view last ran (unless a "
        "runner owns it); false reads the view as it stands."
    ),
]
States = Annotated[
    list[State] | None,
    Query(description="Clocks in these states (repeat; default: the live ones; `all`)."),
]
Since = Annotated[str | None, instant_query("Only tickets received at or after this instant.")]
Until = Annotated[str | None, instant_query("Only tickets received before this instant.")]
Period = Annotated[
    str | None,
    Query(
        max_length=7,
        pattern=r"^[0-9]{4}-[0-9]{2}$",
        json_schema_extra={"pattern": MONTH_PATTERN},
        description="A calendar month YYYY-MM (in each contract's timezone).",
        examples=["2025-03"],
    ),
]
TermNumber = Annotated[int | None, Query(ge=1, le=1000, description="Each contract's term N.")]

CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "model": StatementReport,
        "description": "Credit statements (JSON, or CSV with format=csv or Accept: text/csv)",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


@router.get(
    "/reports/breaches",
    dependencies=[require(AGENT, *READERS)],
    responses=documented(Report, "The SLA board", errors=REPORT_ERRORS),
    summary="The SLA board",
)
def breaches(
    *,
    services: Svc,
    state: States = None,
    tier: Annotated[TierName | None, Query(description="Only this tier.")] = None,
    customer: Annotated[str | None, line_query("Only this customer (any case).")] = None,
    since: Since = None,
    until: Until = None,
    at: Annotated[str | None, instant_query("The board at (default now).")] = None,
    catch_up: CatchUp = True,
) -> JSONResponse:
    """Each response clock, its state and business time left, soonest breach first."""
    when = at_or_now(at, now())
    start, end = optional_instant(since, "since"), optional_instant(until, "until")
    name = SlaBreachProjection.name
    position, head = caught_up(services.settings.database, services.ledger, name, catch_up=catch_up)
    with services.views.lease() as db:
        rows = SlaBreachView(db).board(
            when, states=set(state) if state else None, tier=tier, customer=customer,
            since=start, until=end,
        )  # fmt: skip
    return answer({"projection": name, "position": position, "head": head, "rows": rows})


@router.get(
    "/reports/breach-stats",
    dependencies=[require(AGENT, FINANCE, *READERS)],
    responses=documented(BreachStatsReport, "Breach figures by group", errors=REPORT_ERRORS),
    summary="Breach statistics",
)
def breach_stats(
    *,
    services: Svc,
    by: Annotated[Grouping, Query(description="Group the tickets by.")],
    since: Since = None,
    until: Until = None,
    at: Annotated[str | None, instant_query("Breaches as they stand at (default now).")] = None,
    catch_up: CatchUp = True,
) -> JSONResponse:
    """Responses met and breached, breach rate, median and 90th percentile response times."""
    when = at_or_now(at, now())
    start, end = optional_instant(since, "since"), optional_instant(until, "until")
    name = SlaBreachProjection.name
    position, head = caught_up(services.settings.database, services.ledger, name, catch_up=catch_up)
    with services.views.lease() as db:
        rows = SlaBreachView(db).stats(by, when, since=start, until=end)
    return answer({"projection": name, "position": position, "head": head, "rows": rows})


@router.get(
    "/reports/credits",
    dependencies=[require(FINANCE, *READERS)],
    responses={**CSV_RESPONSE, **REPORT_ERRORS},
    summary="Credit statements",
)
def credit_statements(
    *,
    services: Svc,
    period: Period = None,
    term: TermNumber = None,
    contract: Annotated[UUID | None, Query(description="Only this contract.")] = None,
    check: Annotated[
        bool, Query(description="Recompute every figure from the events; list differences.")
    ] = False,
    catch_up: CatchUp = True,
    format: Annotated[  # noqa: A002 - the query parameter is called format
        Literal["json", "csv"] | None,
        Query(description="json or csv (default: by the Accept header, else json)."),
    ] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """Opening + granted + purchased - consumed + reversed - expired = closing, and fees.

    With `check=true` every figure is recomputed from the contracts' and accounts' events and
    `differences` lists each one that disagrees (empty: the view agrees with the log).
    """
    if (period is None) == (term is None):
        raise InvalidInputError("give period=YYYY-MM or term=N (one of them)")
    as_csv = format == "csv" or (format is None and "text/csv" in (accept or ""))
    if check and not catch_up:
        raise InvalidInputError(
            "check compares with the whole log: it cannot read a view that is not caught up"
        )
    if check and as_csv:
        raise InvalidInputError("check: the differences come as JSON; ask for format=json")
    name = CreditUsageProjection.name
    position, head = caught_up(services.settings.database, services.ledger, name, catch_up=catch_up)
    with services.views.lease() as db:
        view = CreditUsageView(db)
        statements = view.statement(period=period, term=term, contract_id=contract)
        differences = (
            reconcile(services.ledger, view, period=period, term=term, contract_id=contract)
            if check
            else None
        )
    if as_csv:
        window = f"period-{period}" if period else f"term-{term}"
        return Response(
            statements_csv(statements),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="credit-statements-{window}.csv"',
                "X-Ledger-Position": str(position),
                "X-Ledger-Head": str(head),
            },
        )
    data: dict[str, object] = {
        "projection": name, "position": position, "head": head, "statements": statements,
    }  # fmt: skip
    if differences is not None:
        data["differences"] = [vars(d) for d in differences]
    return answer(data)


@router.get(
    "/projections",
    dependencies=[require(*READERS)],
    responses=documented(list[ProjectionStatus], "Every read model's position"),
    summary="Projection status",
)
def projections_status(services: Svc) -> JSONResponse:
    """Position, head of the log, lag, owner and last error of every projection."""
    rows = status(services.settings.database, services.ledger, list(PROJECTIONS.values()))
    return answer([vars(r) for r in rows])


@router.get(
    "/audit/replay",
    dependencies=[require(*READERS)],
    responses=documented(Replay, "The report as it stood"),
    summary="A report as it stood",
)
def audit_replay(
    *,
    services: Svc,
    as_of: Annotated[str, instant_query("Replay the events recorded up to this instant.")],
    report: Annotated[
        Literal["breaches", "breach-stats", "credits"], Query(description="Which report.")
    ] = "breaches",
    state: States = None,
    tier: Annotated[TierName | None, Query(description="breaches: one tier.")] = None,
    customer: Annotated[str | None, line_query("breaches: one customer.")] = None,
    by: Annotated[Grouping, Query(description="breach-stats: group by.")] = "tier",
    since: Since = None,
    until: Until = None,
    period: Period = None,
    term: TermNumber = None,
    contract: Annotated[UUID | None, Query(description="credits: one contract.")] = None,
    at: Annotated[
        str | None, instant_query("breaches, breach-stats: figures at (default: as_of).")
    ] = None,
) -> JSONResponse:
    """The views rebuilt from the events recorded by `as_of` in a temporary store (the live
    views are not touched): `rows` (breaches, breach-stats) or `statements` (credits)."""
    recorded_by = instant(as_of, "as_of")
    when = at_or_now(at, recorded_by)
    start, end = optional_instant(since, "since"), optional_instant(until, "until")
    if report == "credits" and (period is None) == (term is None):
        raise InvalidInputError("report=credits: give period=YYYY-MM or term=N (one of them)")
    with as_of_views(services.settings.database, services.ledger, recorded_by) as then:
        if report == "breaches":
            rows = then.breaches.board(
                when, states=set(state) if state else None, tier=tier, customer=customer,
                since=start, until=end,
            )  # fmt: skip
        elif report == "breach-stats":
            rows = then.breaches.stats(by, when, since=start, until=end)
        else:
            rows = then.credits.statement(period=period, term=term, contract_id=contract)
    return answer({
        "as_of": recorded_by, "report": report, "applied": then.applied,
        "last_position": then.last_position, "head": then.head,
        "statements" if report == "credits" else "rows": rows,
    })  # fmt: skip


@router.get(
    "/events/{aggregate_id}",
    dependencies=[require(*READERS)],
    responses=documented(list[Event], "Every event of the aggregate, oldest first"),
    summary="Events of an aggregate",
)
def events(aggregate_id: UUID, services: Svc) -> JSONResponse:
    """Every event recorded for one contract, ticket, credit account, consumption or the
    release catalog."""
    return answer([event_view(e) for e in services.ledger.list_events(aggregate_id)])
