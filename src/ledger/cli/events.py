"""The events of one aggregate (`ledger events AGGREGATE_ID`)."""

from __future__ import annotations

import click
from rich.markup import escape
from rich.table import Table

from ledger.cli.support import Runtime, emit, json_option, pass_runtime
from ledger.render import console, fmt
from ledger.serialize import dumps


@click.command("events")
@click.argument("aggregate_ref", metavar="AGGREGATE_ID")
@click.option(
    "--account",
    is_flag=True,
    help="AGGREGATE_ID names a contract (id or customer's name): its credit account's events.",
)
@json_option
@pass_runtime
def events(runtime: Runtime, *, aggregate_ref: str, account: bool, as_json: bool) -> None:
    """Every event recorded for one contract, ticket, credit account or the release catalog.

    A customer's name names its contract; with --account, the contract's credit account."""
    from ledger.presenters import event_view  # noqa: PLC0415 - not needed at start-up

    aggregate_id = runtime.ledger.aggregate_id(aggregate_ref, account=account)
    items = [event_view(e) for e in runtime.ledger.list_events(aggregate_id)]

    def render() -> None:
        table = Table("version", "recorded", "event", "data")
        for item in items:
            table.add_row(
                str(item["version"]),
                fmt(item["recorded_at"]),
                item["type"],
                escape(dumps(item["data"], indent=None)),
            )
        console.print(table)

    emit(items, as_json, render)
