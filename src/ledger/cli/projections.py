"""The read models (`ledger projections ...`): run, status, rebuild, verify."""

from __future__ import annotations

import signal
import threading

import click
from rich.markup import escape
from rich.table import Table

from ledger.cli.support import (
    EXIT_REFUSED,
    Runtime,
    Seconds,
    done,
    emit,
    json_option,
    pass_runtime,
)
from ledger.render import console, err_console, fmt


@click.group()
def projections() -> None:
    """Read models built from the event log: run, status, rebuild, verify."""


@projections.command("run")
@click.argument("names", nargs=-1)
@click.option("--once", is_flag=True, help="Catch up to the head of the log, then exit.")
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--poll", "poll_interval", default=1.0, show_default=True, type=Seconds(0.05, 60))
@json_option
@pass_runtime
def projections_run(
    runtime: Runtime,
    *,
    names: tuple[str, ...],
    once: bool,
    batch_size: int,
    poll_interval: float,
    as_json: bool,
) -> int:
    """Keep the read models current (all of them, or NAMES). SIGTERM stops after the batch."""
    from ledger.projections import projections_named  # noqa: PLC0415 - not needed at start-up
    from ledger.projections.runner import run_projections  # noqa: PLC0415 - not needed at start-up

    if not once:
        runtime.log_as(service=True)  # a long-running worker logs at info by default
    chosen = projections_named(names)
    settings = runtime.database
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    outcomes = run_projections(
        settings, runtime.ledger, chosen, once=once, stop=stop, batch_size=batch_size,
        poll_interval=poll_interval,
    )  # fmt: skip
    data = [vars(o) for o in outcomes]

    def render() -> None:
        for o in outcomes:
            note = f": {o.error}" if o.error else ""
            console.print(f"{o.name}: {o.status} at position {o.position}{escape(note)}")

    emit(data, as_json, render)
    # --once that could not own a view did not bring it up to date: refused, like a failure
    unfinished = {"failed", "owned_elsewhere"} if once else {"failed"}
    return EXIT_REFUSED if any(o.status in unfinished for o in outcomes) else 0


@projections.command("status")
@json_option
@pass_runtime
def projections_status(runtime: Runtime, *, as_json: bool) -> None:
    """Position, head of the log, lag, owner and last error of every projection."""
    from ledger.projections import PROJECTIONS  # noqa: PLC0415 - not needed at start-up
    from ledger.projections.runner import status  # noqa: PLC0415 - not needed at start-up

    rows = status(runtime.database, runtime.ledger, list(PROJECTIONS.values()))

    def render() -> None:
        table = Table("projection", "position", "head", "lag", "updated", "owner", "last error")
        for r in rows:
            error = f"at {r.error_position}: {r.error}" if r.error else "-"
            table.add_row(
                r.name,
                str(r.position),
                str(r.head),
                str(r.lag),
                fmt(r.updated_at),
                r.owner or "-",
                escape(error),
            )
        console.print(table)

    emit([vars(r) for r in rows], as_json, render)


@projections.command("rebuild")
@click.argument("name")
@click.option(
    "--wait",
    default=0.0,
    type=Seconds(0, 86_400),
    help="Seconds to wait for a running runner to stop.",
)
@json_option
@pass_runtime
def projections_rebuild(runtime: Runtime, *, name: str, wait: float, as_json: bool) -> None:
    """Drop a read model and replay the whole log into it."""
    from rich.progress import Progress  # noqa: PLC0415 - not needed at start-up

    from ledger.projections import projections_named  # noqa: PLC0415 - not needed at start-up
    from ledger.projections.runner import rebuild  # noqa: PLC0415 - not needed at start-up

    chosen = projections_named([name])[0]
    app = runtime.ledger
    with Progress(transient=True, disable=as_json, console=err_console) as bar:
        task = bar.add_task(f"rebuilding {name}", total=app.recorder.max_notification_id() or 0)
        position = rebuild(
            runtime.database, app, chosen, wait=wait,
            progress=lambda done, head: bar.update(task, completed=done, total=head),
        )  # fmt: skip
    done(
        {"projection": name, "position": position},
        as_json,
        f"{name} rebuilt to position {position}",
    )


@projections.command("verify")
@click.argument("name")
@click.option(
    "--wait",
    default=0.0,
    type=Seconds(0, 86_400),
    help="Seconds to wait for a running runner to stop.",
)
@json_option
@pass_runtime
def projections_verify(runtime: Runtime, *, name: str, wait: float, as_json: bool) -> int:
    """Rebuild a read model beside the live one at its position; exit 1 if they differ."""
    from ledger.projections import projections_named  # noqa: PLC0415 - not needed at start-up
    from ledger.projections.runner import verify  # noqa: PLC0415 - not needed at start-up

    chosen = projections_named([name])[0]
    position, differences = verify(runtime.database, runtime.ledger, chosen, wait=wait)
    data = {
        "projection": name,
        "position": position,
        "equal": not differences,
        "differences": [vars(d) for d in differences],
    }

    def render() -> None:
        if not differences:
            console.print(f"{name} at position {position} equals a rebuild")
            return
        for d in differences:
            console.print(
                f"{d.table}: {d.only_live} row(s) only live, {d.only_rebuilt} only in the rebuild"
            )

    emit(data, as_json, render)
    return 0 if not differences else EXIT_REFUSED
