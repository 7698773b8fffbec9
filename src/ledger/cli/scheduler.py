"""The scheduler (`ledger scheduler ...`): run, tick, status."""

from __future__ import annotations

import signal
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from uuid import UUID

import click

from ledger.cli.support import (
    Runtime,
    Seconds,
    at_option,
    emit,
    emit_rows,
    json_option,
    pass_runtime,
    resolve_at,
)
from ledger.display import time_text
from ledger.domain.errors import InvalidInputError
from ledger.render import console, fmt, kv

if TYPE_CHECKING:
    from ledger.audit.anchors import AnchorPlan


@click.group()
def scheduler() -> None:
    """Records warnings, breaches, lapses, grants and expiries when they fall due."""


@scheduler.command("run")
@click.option(
    "--heartbeat",
    default=1.0,
    show_default=True,
    type=Seconds(0.1, 60),
    help="Seconds between checks for new or changed deadlines.",
)
@click.option("--batch-size", default=200, show_default=True, type=click.IntRange(1, 10_000))
@pass_runtime
def scheduler_run(runtime: Runtime, *, heartbeat: float, batch_size: int) -> None:
    """Run the scheduler until SIGTERM (the fact in flight is finished first)."""
    from ledger.audit.anchors import anchor_plan  # noqa: PLC0415 - not needed at start-up
    from ledger.scheduler.service import (  # noqa: PLC0415 - not needed at start-up
        Periodic,
        Scheduler,
        run_scheduler,
    )
    from ledger.wiring import SCHEDULER_ENV  # noqa: PLC0415 - not needed at start-up

    runtime.log_as(service=True)  # a long-running service logs at info by default
    runtime.ledger_env = SCHEDULER_ENV
    plan = anchor_plan()
    service = Scheduler(runtime.ledger, runtime.database, batch_size=batch_size)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: service.stop.set())
    jobs = []
    if plan is not None:
        jobs.append(Periodic("anchor", plan.every_minutes * 60.0, lambda: _anchor(runtime, plan)))
    run_scheduler(service, heartbeat=heartbeat, periodic=jobs)


def _anchor(runtime: Runtime, plan: AnchorPlan) -> None:
    """Sign the chain's head and deliver it where `LEDGER_ANCHOR_TO` says (the scheduler's
    job every `LEDGER_ANCHOR_EVERY_MINUTES`)."""
    from ledger.audit.anchors import deliver, take_anchor  # noqa: PLC0415 - the job's own
    from ledger.logs import get_logger  # noqa: PLC0415 - the job's own
    from ledger.projections.db import ViewDatabase  # noqa: PLC0415 - the job's own

    db = ViewDatabase(runtime.database)
    try:
        anchor = take_anchor(runtime.ledger, db, plan.key, at=datetime.now(UTC))
    finally:
        db.close()
    deliver(anchor, plan.to)
    get_logger("ledger.scheduler").info(
        "chain_anchored", position=anchor.position, hash=anchor.hash, at=anchor.at
    )


@scheduler.command("tick")
@at_option("Record what is due by this instant (default: now; not in the future).")
@json_option
@pass_runtime
def scheduler_tick(runtime: Runtime, *, at_text: str | None, as_json: bool) -> None:
    """Record everything due by now (once), then exit."""
    from ledger.scheduler.clock import FakeClock  # noqa: PLC0415 - not needed at start-up
    from ledger.scheduler.service import Scheduler  # noqa: PLC0415 - not needed at start-up

    now = datetime.now(UTC)
    at = resolve_at(at_text) if at_text else now
    if at > now:
        raise InvalidInputError("--at: facts cannot be recorded before they are due")
    service = Scheduler(runtime.ledger, runtime.database, clock=FakeClock(at))
    try:
        outcomes = service.tick()
        # Read before closing: closing resigns the lead this tick took.
        leading = service.leading
        leader = None if leading else service.status().leader
    finally:
        service.close()
    names = runtime.ledger.customers_of([o.fact.contract_id for o in outcomes])
    rows = [
        {
            "kind": o.fact.kind,
            "customer": names.get(o.fact.contract_id),
            "contract_id": o.fact.contract_id,
            "aggregate_id": o.fact.aggregate_id,
            "detail": o.fact.detail,
            "due_at": o.fact.due_at,
            "recorded": o.recorded,
            "late": o.late,
            "reason": o.reason,
        }
        for o in outcomes
    ]
    if as_json:
        emit_rows(rows, [], as_json=True, as_csv=False, title="")
        return
    if not leading:
        console.print(f"another scheduler leads ({leader or 'unknown'}); nothing recorded here")
        return
    if not outcomes:
        console.print(f"nothing due at {time_text(at, seconds=True)}; nothing recorded")
        return
    emit_rows(
        rows,
        [("kind", "kind"), ("customer", "customer"), ("aggregate_id", "aggregate"),
         ("detail", "detail"), ("due_at", "due"),
         ("recorded", "recorded"), ("late", "late"), ("reason", "why not")],
        as_json=False, as_csv=False, title="due facts",
    )  # fmt: skip
    done = sum(1 for o in outcomes if o.recorded)
    console.print(
        f"recorded {done} of {len(outcomes)} due fact(s) at {time_text(at, seconds=True)}"
    )


@scheduler.command("status")
@json_option
@pass_runtime
def scheduler_status(runtime: Runtime, *, as_json: bool) -> None:
    """Pending facts by kind, the next one due, the last run and which process leads."""
    from ledger.scheduler.service import Scheduler  # noqa: PLC0415 - not needed at start-up

    service = Scheduler(runtime.ledger, runtime.database, keep_deadlines=False)
    try:
        state = service.status()
    finally:
        service.db.close()
    following = state.next_due
    customer = None
    if following is not None:
        contract = UUID(following.contract_id)
        customer = runtime.ledger.customers_of([contract]).get(contract)
    data = {
        "leader": state.leader,
        "heartbeat_at": state.heartbeat_at,
        "last_tick_at": state.last_tick_at,
        "last_fact_at": state.last_fact_at,
        "facts_recorded": state.facts_recorded,
        "pending": state.pending,
        "next_due": {**vars(following), "customer": customer} if following else None,
    }

    def render() -> None:
        upcoming = (
            f"{following.kind} {following.aggregate_id} ({customer or 'unknown contract'}) "
            f"at {fmt(following.due_at)}"
            if following
            else None
        )
        pending = ", ".join(f"{k} {v}" for k, v in state.pending.items())
        console.print(
            kv(
                "scheduler",
                [
                    ("leader", state.leader),
                    ("heartbeat", state.heartbeat_at),
                    ("last run", state.last_tick_at),
                    ("last fact recorded", state.last_fact_at),
                    ("facts recorded", state.facts_recorded),
                    ("pending", pending),
                    ("next due", upcoming),
                ],
            )
        )

    emit(data, as_json, render)
