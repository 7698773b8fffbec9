"""`ledger demo`: the terms, deadlines explained and two weeks of business on SQLite."""

from __future__ import annotations

import click

from ledger.render import console


@click.command("demo")
@click.option(
    "--database",
    "database",
    default="ledger-demo.db",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="SQLite file for the demo; it is made anew on every run.",
)
def demo(database: str) -> None:
    """Show the terms, deadlines with their explanation, and a day of business on SQLite."""
    from ledger.demo import run_demo  # noqa: PLC0415 - the demo is only loaded when asked for

    run_demo(database, console)
