"""Reports and the auditor's reads: the SLA board, breach statistics, credit statements and
revenue (JSON or CSV), projection status, as-of replays and the events of an aggregate
(`ledger report ...`, `ledger projections status`, `ledger audit replay`, `ledger events`)."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from ledger.audit.replay import as_of_views
from ledger.domain.errors import InvalidInputError
from ledger.figures import BOARD_COLUMNS, BREACH_STAT_COLUMNS
from ledger.lookahead import (
    EXPIRING_COLUMNS,
    RENEWAL_COLUMNS,
    expiring_report,
    parse_within,
    renewals_report,
)
from ledger.presenters import event_view
from ledger.projections import PROJECTIONS
from ledger.projections.credit_usage import CreditUsageProjection, CreditUsageView, reconcile
from ledger.projections.db import ViewDatabase
from ledger.projections.revenue import RevenueView, reconcile_revenue
from ledger.projections.runner import status
from ledger.projections.sla_breaches import MAX_PAGE, SlaBreachProjection, SlaBreachView
from ledger.reports import (
    caught_up,
    csv_table,
    money_totals,
    position_fields,
    read_from,
    revenue_csv,
    revenue_totals,
    statements_csv,
)
from ledger.web.auth import AGENT, FINANCE, READERS, require
from ledger.web.inputs import (
    FILLED_LINE,
    MONTH_PATTERN,
    at_or_now,
    instant,
    instant_query,
    line_query,
    optional_instant,
)
from ledger.web.report_schemas import (
    BoardReport,
    BreachStatsReport,
    ExpiringReport,
    ProjectionStatus,
    RenewalsReport,
    Replay,
    RevenueReport,
    StatementReport,
)
from ledger.web.routing import REPORT_ERRORS, answer, api_router, documented, read_headers
from ledger.web.schemas import Event
from ledger.web.services import Services, Svc, now

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
OneContract = Annotated[
    str | None,
    Query(
        max_length=200,
        description="Only this contract (id or customer's name).",
        json_schema_extra={"pattern": FILLED_LINE},
    ),
]
Check = Annotated[
    bool, Query(description="Recompute every figure from the events; list differences.")
]


def csv_response(model: type, what: str) -> dict[int | str, dict[str, Any]]:
    """The documented 200 of a report that answers JSON or CSV."""
    return {
        200: {
            "model": model,
            "description": f"{what} (JSON, or CSV with format=csv or Accept: text/csv)",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    }


CSV_RESPONSE = csv_response(StatementReport, "Credit statements")
Format = Annotated[
    Literal["json", "csv"] | None,
    Query(description="json or csv (default: by the Accept header, else json)."),
]
AcceptHeader = Annotated[str | None, Header(include_in_schema=False)]


def wants_csv(format: str | None, accept: str | None) -> bool:  # noqa: A002 - the parameter
    """Whether the answer is CSV: format=csv, or no format and an Accept of text/csv."""
    return format == "csv" or (format is None and "text/csv" in (accept or ""))


def csv_answer(
    text: str,
    name: str,
    position: int | None = None,
    head: int | None = None,
    source: str = "primary",
) -> Response:
    """A CSV answer as a download named `name`.csv, with the read model's position, how far
    behind the primary's head it is and where it was read (`primary` or `replica`)."""
    headers = {"Content-Disposition": f'attachment; filename="{name}.csv"'}
    if position is not None and head is not None:
        headers.update(read_headers({"position": position, "head": head, "read_from": source}))
    return Response(text, media_type="text/csv; charset=utf-8", headers=headers)


@dataclass(frozen=True)
class WindowRead:
    """The credit-usage view open for a month or a term (`window_read`), and where it is."""

    db: ViewDatabase
    chosen: UUID | None  # the contract asked for, if one was
    window: str  # period-YYYY-MM or term-N, for a CSV's name
    fields: dict[str, Any]  # the projection and `position_fields`

    def csv(self, text: str, name: str) -> Response:
        """The CSV download `name`-`window`.csv, with where it was read."""
        f = self.fields
        return csv_answer(text, f"{name}-{self.window}", f["position"], f["head"], f["read_from"])


@contextmanager
def window_read(
    services: Services,
    period: str | None,
    term: int | None,
    contract: str | None,
    *,
    check: bool,
    catch_up: bool,
    as_csv: bool,
) -> Iterator[WindowRead]:
    """The credit-usage view for a month or a term (statements, revenue), the request's
    refusals first: on the standby when one is set, except for `check`, which compares with
    the whole log and so reads the primary's view, caught up."""
    if (period is None) == (term is None):
        raise InvalidInputError("give period=YYYY-MM or term=N (one of them)")
    if check and not catch_up:
        raise InvalidInputError(
            "check compares with the whole log: it cannot read a view that is not caught up"
        )
    if check and as_csv:
        raise InvalidInputError("check: the differences come as JSON; ask for format=json")
    chosen = None
    if contract is not None and check:
        chosen = services.ledger.contract_id(contract, "contract")
    elif contract is not None:  # named as the standby knows it, when one is set
        with services.not_yet_replayed():
            chosen = services.replayed.contract_id(contract, "contract")
    name = CreditUsageProjection.name
    reads = None if check else services.read_database
    position, head = caught_up(
        services.settings.database, services.ledger, name, catch_up=catch_up, reads=reads
    )
    fields = {"projection": name, **position_fields(position, head, read_from(reads))}
    window = f"period-{period}" if period else f"term-{term}"
    with (services.views if check else services.read_views).lease() as db:
        yield WindowRead(db, chosen, window, fields)


def csv_responses(model: Any, description: str) -> dict[int | str, dict[str, Any]]:
    """A report's 200 answer, JSON or CSV, and its errors."""
    return {**csv_response(model, description), **REPORT_ERRORS}


@router.get(
    "/reports/breaches",
    dependencies=[require(AGENT, *READERS)],
    responses=csv_responses(BoardReport, "A page of the SLA board"),
    summary="The SLA board",
)
def breaches(
    *,
    request: Request,
    services: Svc,
    state: States = None,
    tier: Annotated[TierName | None, Query(description="Only this tier.")] = None,
    customer: Annotated[
        str | None, line_query("Only customers whose name contains this (any case).")
    ] = None,
    since: Since = None,
    until: Until = None,
    at: Annotated[
        str | None,
        instant_query(
            "The board as it stood at this instant: tickets received by then, each as it "
            "stood (default now)."
        ),
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE, description="Rows of one page (at most 1,000).")
    ] = 100,
    after: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=r"^[A-Za-z0-9_-]+$",
            description="The page after this cursor (the `next` of the page before).",
        ),
    ] = None,
    catch_up: CatchUp = True,
    format: Format = None,  # noqa: A002 - the query parameter is called format
    accept: AcceptHeader = None,
) -> Response:
    """A page of the board: each response clock, its state and business time left, soonest
    breach first; `next` (and `next_url`) the cursor of the next page, null on the last;
    `counts` the clocks in every state the filters other than `state` select."""
    when = at_or_now(at, now())
    start, end = optional_instant(since, "since"), optional_instant(until, "until")
    name = SlaBreachProjection.name
    reads = services.read_database
    with services.read_views.lease() as db:
        position, head = caught_up(
            services.settings.database, services.ledger, name, catch_up=catch_up, db=db,
            reads=reads,
        )  # fmt: skip
        page = SlaBreachView(db).page(
            when, limit=limit, after=after, states=set(state) if state else None, tier=tier,
            customer=customer, since=start, until=end, as_it_stood=at is not None,
        )  # fmt: skip
    more = page["next"]
    if wants_csv(format, accept):
        return csv_answer(
            csv_table(BOARD_COLUMNS, page["rows"]), "sla-board", position, head,
            services.read_from,
        )  # fmt: skip
    url = None if more is None else str(request.url.include_query_params(after=more))
    where = position_fields(position, head, services.read_from)
    return answer({"projection": name, **where, **page, "next_url": url})


@router.get(
    "/reports/breach-stats",
    dependencies=[require(AGENT, FINANCE, *READERS)],
    responses=csv_responses(BreachStatsReport, "Breach figures by group"),
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
    format: Format = None,  # noqa: A002 - the query parameter is called format
    accept: AcceptHeader = None,
) -> Response:
    """Responses met and breached, breach rate, median and 90th percentile response times."""
    when = at_or_now(at, now())
    start, end = optional_instant(since, "since"), optional_instant(until, "until")
    name = SlaBreachProjection.name
    position, head = caught_up(
        services.settings.database, services.ledger, name, catch_up=catch_up,
        reads=services.read_database,
    )  # fmt: skip
    with services.read_views.lease() as db:
        rows = SlaBreachView(db).stats(by, when, since=start, until=end)
    if wants_csv(format, accept):
        text = csv_table(BREACH_STAT_COLUMNS, rows)
        return csv_answer(text, f"breach-stats-by-{by}", position, head, services.read_from)
    where = position_fields(position, head, services.read_from)
    return answer({"projection": name, **where, "rows": rows})


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
    contract: OneContract = None,
    check: Check = False,
    catch_up: CatchUp = True,
    format: Format = None,  # noqa: A002 - the query parameter is called format
    accept: AcceptHeader = None,
) -> Response:
    """Opening + granted + purchased - consumed + reversed - expired = closing, and fees.

    With `check=true` every figure is recomputed from the contracts' and accounts' events and
    `differences` lists each one that disagrees (empty: the view agrees with the log).
    """
    as_csv = wants_csv(format, accept)
    with window_read(services, period, term, contract, check=check, catch_up=catch_up,
                     as_csv=as_csv) as read:  # fmt: skip
        view = CreditUsageView(read.db)
        statements = view.statement(period=period, term=term, contract_id=read.chosen)
        differences = (
            reconcile(services.ledger, view, period=period, term=term, contract_id=read.chosen)
            if check
            else None
        )
    if as_csv:
        return read.csv(statements_csv(statements), "credit-statements")
    data: dict[str, object] = {
        **read.fields, "statements": statements, "totals": money_totals(statements),
    }  # fmt: skip
    if differences is not None:
        names = services.ledger.customers_of([d.contract_id for d in differences])
        data["differences"] = [
            {**vars(d), "customer": names.get(d.contract_id)} for d in differences
        ]
    return answer(data)


@router.get(
    "/reports/revenue",
    dependencies=[require(FINANCE, *READERS)],
    responses={**csv_response(RevenueReport, "Revenue per contract"), **REPORT_ERRORS},
    summary="Revenue: billed, recognised, deferred, breakage",
)
def revenue_report(
    *,
    services: Svc,
    period: Period = None,
    term: TermNumber = None,
    contract: OneContract = None,
    check: Check = False,
    catch_up: CatchUp = True,
    format: Format = None,  # noqa: A002 - the query parameter is called format
    accept: AcceptHeader = None,
) -> Response:
    """Per contract: fees and packages deferred at the window's start, billed, recognised (and
    breakage) within it, deferred at its end; totals per currency (docs/decisions.md).

    With `check=true` every figure is recomputed from the events and `differences` lists each
    one that disagrees, and each row whose identity does not hold.
    """
    as_csv = wants_csv(format, accept)
    with window_read(services, period, term, contract, check=check, catch_up=catch_up,
                     as_csv=as_csv) as read:  # fmt: skip
        view = RevenueView(read.db)
        rows = view.revenue(period=period, term=term, contract_id=read.chosen)
        differences = (
            reconcile_revenue(
                services.ledger, view, period=period, term=term, contract_id=read.chosen
            )
            if check
            else None
        )
    if as_csv:
        return read.csv(revenue_csv(rows), "revenue")
    data: dict[str, object] = {**read.fields, "revenue": rows, "totals": revenue_totals(rows)}
    if differences is not None:
        data["differences"] = [vars(d) for d in differences]
    return answer(data)


# 1d to 3660d, as `ledger.lookahead.parse_within` reads it
WITHIN = r"^(?:[1-9][0-9]{0,2}|[12][0-9]{3}|3[0-5][0-9]{2}|36[0-5][0-9]|3660)d$"
Within = Annotated[
    str,
    Query(
        max_length=8,
        description="Days ahead, 1d to 3660d, e.g. 30d.",
        examples=["30d"],
        json_schema_extra={"pattern": WITHIN},
    ),
]
WindowStart = Annotated[
    str | None, instant_query("The window starts at this instant (default now).")
]


@router.get(
    "/reports/credits/expiring",
    dependencies=[require(FINANCE, *READERS)],
    responses={**csv_response(ExpiringReport, "Lots expiring"), **REPORT_ERRORS},
    summary="Credit lots expiring soon",
)
def credits_expiring(
    *,
    services: Svc,
    within: Within,
    at: WindowStart = None,
    format: Format = None,  # noqa: A002 - the query parameter is called format
    accept: AcceptHeader = None,
) -> Response:
    """Lots that expire in [at, at + within) with points or sessions left, and the value of a
    bought package's points left (price / points each), soonest first."""
    days, start = parse_within(within, "within"), at_or_now(at, now())
    data = expiring_report(services.ledger, services.replayed, at=start, within=days)
    if wants_csv(format, accept):
        text = csv_table([key for key, _ in EXPIRING_COLUMNS], data["lots"])
        return lookahead_csv(text, "credits-expiring", data)
    return answer(data)


@router.get(
    "/reports/renewals",
    dependencies=[require(FINANCE, *READERS)],
    responses={**csv_response(RenewalsReport, "Renewals due"), **REPORT_ERRORS},
    summary="Terms ending without a renewal ordered",
)
def renewals(
    *,
    services: Svc,
    within: Within,
    at: WindowStart = None,
    format: Format = None,  # noqa: A002 - the query parameter is called format
    accept: AcceptHeader = None,
) -> Response:
    """Active agreements whose term ends in [at, at + within) unrenewed: the fee a renewal
    would assess, and the reinstatement fee (80 %) if it lapses, soonest first."""
    days, start = parse_within(within, "within"), at_or_now(at, now())
    data = renewals_report(services.ledger, services.replayed, at=start, within=days)
    if wants_csv(format, accept):
        text = csv_table([key for key, _ in RENEWAL_COLUMNS], data["renewals"])
        return lookahead_csv(text, "renewals", data)
    return answer(data)


def lookahead_csv(text: str, name: str, data: dict[str, Any]) -> Response:
    """A look-ahead's CSV, named after its window's start, with where it was read."""
    named = f"{name}-from-{data['at']:%Y%m%dT%H%M%SZ}"
    return csv_answer(text, named, data["position"], data["head"], data["read_from"])


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
    responses=csv_responses(Replay, "The report as it stood"),
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
    customer: Annotated[
        str | None, line_query("breaches: customers whose name contains this.")
    ] = None,
    by: Annotated[Grouping, Query(description="breach-stats: group by.")] = "tier",
    since: Since = None,
    until: Until = None,
    period: Period = None,
    term: TermNumber = None,
    contract: Annotated[
        str | None,
        Query(
            max_length=200,
            description="credits: one contract (id or name).",
            json_schema_extra={"pattern": FILLED_LINE},
        ),
    ] = None,
    at: Annotated[
        str | None, instant_query("breaches, breach-stats: figures at (default: as_of).")
    ] = None,
    from_start: Annotated[
        bool,
        Query(
            description="Replay every event from the log's start, not from the views' "
            "checkpoints (slower; the same answer). `started_from` says where each view "
            "started: 0 for every view with this."
        ),
    ] = False,
    verify_all: Annotated[
        bool,
        Query(
            description="Check the digests of every row a checkpoint holds, not only of the rows "
            "written since the checkpoint before it (PostgreSQL; grows with the log)."
        ),
    ] = False,
    format: Format = None,  # noqa: A002 - the query parameter is called format
    accept: AcceptHeader = None,
) -> Response:
    """The views rebuilt from the events recorded by `as_of` in a temporary store (the live
    views are not touched): `rows` (breaches, breach-stats) or `statements` (credits). Each
    view starts from its newest verified checkpoint recorded by `as_of` (`started_from`), or
    from the log's start with `from_start=true`."""
    recorded_by = instant(as_of, "as_of")
    when = at_or_now(at, recorded_by)
    start, end = optional_instant(since, "since"), optional_instant(until, "until")
    if report == "credits" and (period is None) == (term is None):
        raise InvalidInputError("report=credits: give period=YYYY-MM or term=N (one of them)")
    chosen = None if contract is None else services.replayed.contract_id(contract, "contract")
    with as_of_views(
        services.settings.reads,
        services.replayed,
        recorded_by,
        standby=services.reader is not None,
        checkpoints=not from_start,
        verify_all=verify_all,
    ) as then:
        if report == "breaches":
            rows = then.breaches.board(
                when, states=set(state) if state else None, tier=tier, customer=customer,
                since=start, until=end, as_it_stood=True,
            )  # fmt: skip
        elif report == "breach-stats":
            rows = then.breaches.stats(by, when, since=start, until=end)
        else:
            rows = then.credits.statement(period=period, term=term, contract_id=chosen)
    if wants_csv(format, accept):
        name = f"{report}-as-of-{recorded_by:%Y%m%dT%H%M%SZ}"
        if report == "credits":
            return csv_answer(statements_csv(rows), name)
        columns = BOARD_COLUMNS if report == "breaches" else BREACH_STAT_COLUMNS
        return csv_answer(csv_table(columns, rows), name)
    return answer({
        "as_of": recorded_by, "report": report, "applied": then.applied,
        "last_position": then.last_position, "head": then.head,
        "started_from": then.started_from, "rejected_checkpoints": then.rejected,
        "checked_from": then.checked_from, "read_from": services.read_from,
        "statements" if report == "credits" else "rows": rows,
    })  # fmt: skip


@router.get(
    "/events/{aggregate_id}",
    dependencies=[require(*READERS)],
    responses=documented(list[Event], "Every event of the aggregate, oldest first", read=True),
    summary="Events of an aggregate",
)
def events(
    aggregate_id: Annotated[
        str,
        Path(
            min_length=1,
            max_length=200,
            description="An aggregate's id, or a customer's name (its contract).",
        ),
    ],
    services: Svc,
    account: Annotated[
        bool, Query(description="aggregate_id names a contract: its credit account's events.")
    ] = False,
) -> JSONResponse:
    """Every event recorded for one contract, ticket, credit account, consumption or the
    release catalog; a customer's name names its contract (with `account=true`, the contract's
    credit account). Read on the standby when one is set (the X-Ledger-* headers say where)."""
    app = services.replayed
    with services.reading() as where:
        found = app.aggregate_id(aggregate_id, account=account)
        listed = [event_view(e) for e in app.list_events(found)]
    return answer(listed, headers=read_headers(where))
