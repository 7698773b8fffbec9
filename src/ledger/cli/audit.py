"""For auditors (`ledger audit ...`): replay as of an instant, the hash chain, export and
re-derivation."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import click
from rich.markup import escape

from ledger.cli.reports import (
    BOARD_COLUMNS,
    BOARD_TABLE,
    STATEMENT_COLUMNS,
    STATS_COLUMNS,
    board_title,
    render_statements,
    since_option,
    until_option,
)
from ledger.cli.support import (
    EXIT_REFUSED,
    Runtime,
    at_option,
    csv_option,
    emit,
    emit_rows,
    json_option,
    optional_instant,
    pass_runtime,
)
from ledger.display import time_text
from ledger.domain.errors import InvalidInputError
from ledger.domain.terms import Tier
from ledger.figures import ALL, GROUPINGS, STATES
from ledger.parsing import parse_instant, parse_int
from ledger.render import console, err_console, fmt
from ledger.serialize import dumps


@click.group()
def audit() -> None:
    """For auditors: replay as of an instant, the hash chain, export and re-derivation."""


@audit.command("replay")
@click.option("--as-of", "as_of_text", required=True, metavar="ISO8601",
              help="Replay the events recorded up to this instant.")  # fmt: skip
@click.option(
    "--report",
    "kind",
    default="breaches",
    show_default=True,
    type=click.Choice(["breaches", "breach-stats", "credits"]),
    help="Which report to print as it stood then.",
)
@click.option("--state", "states", multiple=True, type=click.Choice([*STATES, ALL]),
              help="breaches: clocks in this state (repeatable; default: live ones).")  # fmt: skip
@click.option("--tier", type=click.Choice([t.value for t in Tier]), help="breaches: one tier.")
@click.option("--customer", help="breaches: customers whose name contains this (any case).")
@click.option("--by", "by", type=click.Choice(list(GROUPINGS)), default="tier", show_default=True,
              help="breach-stats: group by.")  # fmt: skip
@since_option
@until_option
@click.option("--period", help="credits: a calendar month, YYYY-MM.")
@click.option("--term", "term_text", help="credits: a term number.")
@click.option("--contract", "contract_ref", help="credits: one contract (id).")
@at_option("breaches, breach-stats: the instant the figures are drawn for (default: --as-of).")
@click.option("--from-start", is_flag=True,
              help="Replay every event from the log's start, not from the views' checkpoints "
                   "(slower; the same answer).")  # fmt: skip
@click.option("--verify-all", is_flag=True,
              help="Check the digests of every row a checkpoint holds, not only the rows "
                   "written since the checkpoint before it (PostgreSQL).")  # fmt: skip
@csv_option
@json_option
@pass_runtime
def audit_replay(
    runtime: Runtime,
    *,
    as_of_text: str,
    kind: str,
    states: tuple[str, ...],
    tier: str | None,
    customer: str | None,
    by: str,
    since_text: str | None,
    until_text: str | None,
    period: str | None,
    term_text: str | None,
    contract_ref: str | None,
    at_text: str | None,
    from_start: bool,
    verify_all: bool,
    as_csv: bool,
    as_json: bool,
) -> None:
    """A report as it stood at an instant: the views rebuilt in a temporary store from their
    newest verified checkpoint whose events were all recorded by then, and the events after it
    recorded by then (the live views are not touched)."""
    from rich.progress import Progress  # noqa: PLC0415 - not needed at start-up

    from ledger.audit.replay import as_of_views  # noqa: PLC0415 - not needed at start-up
    from ledger.presenters import (  # noqa: PLC0415 - not needed at start-up
        board_row_text,
        stats_row_text,
    )
    from ledger.reports import statement_row  # noqa: PLC0415 - not needed at start-up

    as_of = parse_instant(as_of_text, "--as-of")
    at = parse_instant(at_text, "--at") if at_text else as_of
    since, until = optional_instant(since_text, "--since"), optional_instant(until_text, "--until")
    term = None if term_text is None else parse_int(term_text, "--term", minimum=1)
    contract_id = (
        None if contract_ref is None else runtime.ledger.contract_id(contract_ref, "--contract")
    )
    if kind == "credits" and (period is None) == (term is None):
        raise InvalidInputError("--report credits: give --period YYYY-MM or --term N (one of them)")
    if as_json and as_csv:
        raise InvalidInputError("give --json or --csv, not both")
    app = runtime.reader  # the standby's log when LEDGER_READ_DATABASE_URL is set
    standby = runtime.read_database is not None
    bar = Progress(transient=True, disable=as_json or as_csv, console=err_console)
    task = bar.add_task(f"replaying to {time_text(as_of, seconds=True)}", total=None)
    with (
        bar,
        as_of_views(
            runtime.read_database or runtime.database, app, as_of, standby=standby,
            progress=lambda done, head: bar.update(task, completed=done, total=head),
            checkpoints=not from_start, verify_all=verify_all,
        ) as then,
    ):  # fmt: skip
        if kind == "breaches":
            rows = then.breaches.board(
                at, states=set(states) or None, tier=tier, customer=customer, since=since,
                until=until, as_it_stood=True,
            )  # fmt: skip
            columns, title = BOARD_COLUMNS, board_title(at)
        elif kind == "breach-stats":
            rows = then.breaches.stats(by, at, since=since, until=until)
            columns, title = STATS_COLUMNS, f"SLA breaches by {by} at {time_text(at)}"
        else:
            rows = then.credits.statement(period=period, term=term, contract_id=contract_id)
            columns, title = STATEMENT_COLUMNS, "credit statements"
    starts = ", ".join(
        f"{name} from {'checkpoint ' + str(position) if position else 'the start'}"
        f"{checked_text(then.checked_from.get(name, 0)) if position else ''}"
        for name, position in then.started_from.items()
    )
    note = (
        f"as recorded by {time_text(as_of, seconds=True)}: {then.applied} events applied, up to "
        f"position {then.last_position} (the log now holds {then.head}"
        f"{', read on the standby' if standby else ''}); {starts}"
        f"{f'; {then.rejected} checkpoint(s) failed verification' if then.rejected else ''}"
    )
    if as_json:
        key = "statements" if kind == "credits" else "rows"
        click.echo(dumps({
            "as_of": as_of, "report": kind, "applied": then.applied,
            "last_position": then.last_position, "head": then.head,
            "started_from": then.started_from, "rejected_checkpoints": then.rejected,
            "checked_from": then.checked_from,
            "read_from": "replica" if standby else "primary", key: rows,
        }))  # fmt: skip
        return
    if kind == "credits" and not as_csv:
        render_statements(rows, f"{title} as recorded by {time_text(as_of, seconds=True)}")
    else:
        if kind == "credits":
            rows = [statement_row(r) for r in rows]
        elif kind == "breaches" and not as_csv:
            columns = BOARD_TABLE
            rows = [board_row_text(r, at) for r in rows]
        elif kind == "breach-stats" and not as_csv:
            rows = [stats_row_text(r) for r in rows]
        emit_rows(rows, columns, as_json=False, as_csv=as_csv, title=title)
    if not as_csv:
        err_console.print(note)


def checked_text(position: int) -> str:
    """What a replay checked of the checkpoint it started from, for people."""
    if position == 0:
        return " (every row checked)"
    return f" (rows after {position} checked; --verify-all checks every row)"


@audit.command("digest")
@json_option
@pass_runtime
def audit_digest(runtime: Runtime, *, as_json: bool) -> None:
    """The head of the hash chain over the log (position and hash): keep it outside the
    database and give it to `audit verify --digest` (or use `audit anchor`)."""
    from ledger.audit.chain import chain_behind, heads  # noqa: PLC0415 - not needed at start-up
    from ledger.projections.db import ViewDatabase  # noqa: PLC0415 - not needed at start-up

    db = ViewDatabase(runtime.database)
    try:
        refusal = chain_behind(runtime.ledger, db)
        if refusal is not None:
            raise refusal
        head, _ = heads(runtime.ledger, db)
    finally:
        db.close()
    emit(
        {"position": head.position, "hash": head.hash, "digest": str(head)},
        as_json,
        lambda: click.echo(str(head)),
    )


@audit.command("chain")
@json_option
@pass_runtime
def audit_chain(runtime: Runtime, *, as_json: bool) -> None:
    """Link the events after the chain's head as they stand: events recorded before the chain
    was linked with the events, or after a chain cut short. Every event is otherwise linked as
    it is recorded; check the log against your anchors (`audit verify --anchors`) first."""
    from ledger.audit.chain import catch_up_chain, digest  # noqa: PLC0415 - not needed at start-up

    linked = catch_up_chain(runtime.ledger)
    head = digest(runtime.database)
    emit(
        {"linked": linked, "position": head.position, "hash": head.hash},
        as_json,
        lambda: console.print(f"linked {linked} event(s); chain head {head}"),
    )


@audit.command("anchor")
@click.option("--to", "to", required=True, metavar="FILE|URL",
              help="Append the anchor to this JSON-lines file, or POST it to a URL.")  # fmt: skip
@json_option
@pass_runtime
def audit_anchor(runtime: Runtime, *, to: str, as_json: bool) -> None:
    """Sign the chain's head (position, hash, instant) with LEDGER_ANCHOR_KEY and append it to a
    file kept outside the database, or POST it to a URL; `audit verify --anchors FILE` checks
    the log against every anchor."""
    from ledger.audit.anchors import (  # noqa: PLC0415 - not needed at start-up
        anchor_key,
        deliver,
        take_anchor,
        target,
    )
    from ledger.projections.db import ViewDatabase  # noqa: PLC0415 - not needed at start-up

    key = anchor_key()
    target(to)
    db = ViewDatabase(runtime.database)
    try:
        anchor = take_anchor(runtime.ledger, db, key, at=datetime.now(UTC))
    finally:
        db.close()
    deliver(anchor, to)
    emit(
        {**anchor.as_dict(), "to": to},
        as_json,
        lambda: console.print(f"anchored {anchor.position}:{anchor.hash} at {anchor.at} to {to}"),
    )


@audit.command("verify")
@click.option("--digest", "digest_text", metavar="POS:HASH",
              help="A digest kept outside the database (from `audit digest`).")  # fmt: skip
@click.option("--anchors", "anchors_path", metavar="FILE",
              help="A JSON-lines file of anchors (from `audit anchor`), checked with "
                   "LEDGER_ANCHOR_KEY.")  # fmt: skip
@json_option
@pass_runtime
def audit_verify(
    runtime: Runtime, *, digest_text: str | None, anchors_path: str | None, as_json: bool
) -> int:
    """Recompute the hash chain from the stored events; name the first altered, missing,
    inserted, reordered or unchained event and exit 1 (also when the chain itself was
    rewritten, given a digest or anchors kept outside: the first anchor the log contradicts is
    named); compare every stored snapshot with its events and name each that differs
    (snapshot_mismatch, exit 1)."""
    from ledger.audit.anchors import (  # noqa: PLC0415 - not needed at start-up
        anchor_key,
        check_anchors,
        read_anchors,
        with_anchors,
    )
    from ledger.audit.chain import (  # noqa: PLC0415 - not needed at start-up
        parse_digest,
        verify_chain,
    )
    from ledger.projections.db import ViewDatabase  # noqa: PLC0415 - not needed at start-up

    external = None if digest_text is None else parse_digest(digest_text)
    anchors = None if anchors_path is None else read_anchors(anchors_path)
    key = None if anchors is None else anchor_key()
    db = ViewDatabase(runtime.database)
    try:
        result = verify_chain(runtime.ledger, db, digest=external)
        if anchors is not None and key is not None:
            result = with_anchors(result, check_anchors(runtime.ledger, db, anchors, key))
    finally:
        db.close()
    data = result.as_dict()

    def render() -> None:
        head = data["head"]
        console.print(
            f"checked {data['checked']} event(s); chain head {head['position']}:{head['hash']}; "
            f"log head {data['log_head']}"
            + (f"; {data['unchained']} event(s) unchained" if data["unchained"] else "")
        )
        if data["anchors_checked"]:
            console.print(f"{data['anchors_checked']} anchor(s) checked")
        if result.ok:
            console.print("[green]the log is as it was chained[/green]")
        elif result.problem is not None and result.problem.kind != "snapshot_mismatch":
            problem = data["problem"]
            console.print(f"[bold red]{problem['kind']}[/bold red] {escape(problem['message'])}")
        if data["anchor_problem"] and data["anchor_problem"] != data["problem"]:
            problem = data["anchor_problem"]
            console.print(f"[bold red]{problem['kind']}[/bold red] {escape(problem['message'])}")
        for snap in data["snapshot_problems"]:
            console.print(f"[bold red]{snap['kind']}[/bold red] {escape(snap['message'])}")
        if data["snapshots_checked"] and not data["snapshot_problems"]:
            console.print(f"{data['snapshots_checked']} snapshot(s) equal to their events")

    emit(data, as_json, render)
    return 0 if result.ok else EXIT_REFUSED


@audit.command("export")
@click.option("--since", "since_text", default="0", show_default=True, metavar="POSITION",
              help="Only events after this position of the log.")  # fmt: skip
@click.option("--output", "output", type=click.Path(dir_okay=False, writable=True),
              help="Write to this file instead of standard output.")  # fmt: skip
@pass_runtime
def audit_export(runtime: Runtime, *, since_text: str, output: str | None) -> None:
    """Every event as JSON lines: position, recorded_at, aggregate, type, topic, version,
    payload (plain JSON), in log order."""
    from ledger.audit.export import (  # noqa: PLC0415 - not needed at start-up
        export_events,
        open_output,
        parse_since,
    )

    since = parse_since(since_text, "--since")
    if output is None:
        count = export_events(runtime.ledger, sys.stdout, since=since)
    else:
        with open_output(output) as out:
            count = export_events(runtime.ledger, out, since=since)
    err_console.print(f"{count} event(s) exported after position {since}")


@audit.command("reconcile")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--period", help="Compare this month's statements (default: every month).")
@click.option("--term", "term_text", help="Compare term N's statements (default: every term).")
@click.option("--contract", "contract_ref", help="Only this contract's statements.")
@click.option("--by", "by", type=click.Choice(list(GROUPINGS)),
              help="Breach statistics by this grouping (default: every one).")  # fmt: skip
@at_option(
    "Breach statistics at this instant (default: when the export's last event was recorded)."
)
@json_option
@pass_runtime
def audit_reconcile(
    runtime: Runtime,
    *,
    file: str,
    period: str | None,
    term_text: str | None,
    contract_ref: str | None,
    by: str | None,
    at_text: str | None,
    as_json: bool,
) -> int:
    """Re-derive the credit statements and breach statistics from an exported FILE alone and
    compare them with the live views; exit 1 on any difference."""
    from ledger.audit.rederive import (  # noqa: PLC0415 - not needed at start-up
        reconcile as reconcile_views,
    )
    from ledger.audit.rederive import rederive  # noqa: PLC0415 - not needed at start-up
    from ledger.projections import projections_named  # noqa: PLC0415 - not needed at start-up
    from ledger.projections.credit_usage import (  # noqa: PLC0415 - not needed at start-up
        CreditUsageProjection,
    )
    from ledger.projections.runner import (  # noqa: PLC0415 - not needed at start-up
        ProjectionFailedError,
        run_projections,
    )
    from ledger.projections.sla_breaches import (  # noqa: PLC0415 - not needed at start-up
        SlaBreachProjection,
    )

    term = None if term_text is None else parse_int(term_text, "--term", minimum=1)
    contract_id = (
        None if contract_ref is None else runtime.ledger.contract_id(contract_ref, "--contract")
    )
    at = parse_instant(at_text, "--at") if at_text else None
    with Path(file).open(encoding="utf-8") as lines:
        derived = rederive(lines)
    settings = runtime.database
    app = runtime.ledger
    for name in (CreditUsageProjection.name, SlaBreachProjection.name):
        outcome = run_projections(settings, app, projections_named([name]), once=True)[0]
        if outcome.status == "failed":
            raise ProjectionFailedError(
                f"projection {name} stopped at position {outcome.position}: {outcome.error}"
            )
    result = reconcile_views(
        derived, settings, period=period, term=term, contract_id=contract_id, by=by, at=at
    )
    data = {**vars(result), "ok": result.ok, "outdated": result.outdated}
    names = app.customers_of([c for c in map(_contract_of, result.differences) if c])
    data["differences"] = [
        {**vars(d), "customer": names.get(_contract_of(d))}  # type: ignore[arg-type]
        for d in result.differences
    ]

    def render() -> None:
        console.print(
            f"{result.events} events up to position {result.export_position} re-derived; "
            f"compared {', '.join(result.windows) or 'no statement'} and breach statistics by "
            f"{', '.join(result.groupings)} at {fmt(result.at)}"
        )
        for d in result.differences:
            contract = _contract_of(d)
            who = f" ({names[contract]})" if contract in names else ""
            console.print(f"[bold red]difference[/bold red] {escape(d.describe() + who)}")
        if result.ok:
            console.print("every figure agrees with the export")

    emit(data, as_json, render)
    return 0 if result.ok else EXIT_REFUSED


def _contract_of(difference: Any) -> UUID | None:
    """The contract a difference of `audit reconcile` is about (its subject), if it is one."""
    try:
        return UUID(str(difference.subject))
    except ValueError:
        return None
