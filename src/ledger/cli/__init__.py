"""The `ledger` command: one module per group of commands, joined here.

Exit codes: 0 done; 1 refused (a LedgerError: its code and message are printed); 2 usage
error; 3 a support request was declined (and recorded); 4 the database could not be reached.
Every command that prints data takes `--json`; errors are printed to standard error, as JSON
(`{"error": {"code": ..., "message": ...}}`) when `--json` was given. The commands reach the
application through click's context (`ctx.obj`, a `Runtime`), built on first use and closed
when the run ends (see `ledger.cli.support`).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from ledger.cli.alerts import alerts
from ledger.cli.audit import audit
from ledger.cli.contracts import contract
from ledger.cli.credits import credits_group
from ledger.cli.demo import demo
from ledger.cli.events import events
from ledger.cli.projections import projections
from ledger.cli.releases import releases
from ledger.cli.reports import report
from ledger.cli.scheduler import scheduler
from ledger.cli.serve import COMMANDS as WEB_COMMANDS
from ledger.cli.statement import statement
from ledger.cli.support import Runtime, run_group
from ledger.cli.terms import COMMANDS as TERMS_COMMANDS
from ledger.cli.tickets import ticket

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["cli", "main"]


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """`--version`: the package's version (looked up only when asked for), then exit."""
    if not value or ctx.resilient_parsing:
        return
    from ledger import __version__  # noqa: PLC0415 - the package metadata is slow to load

    click.echo(f"ledger, version {__version__}")
    ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and exit.",
)
@click.option(
    "-v",
    "--verbose",
    "verbosity",
    count=True,
    help="Log what happens: -v info, -vv debug (default: warnings and errors only).",
)
@click.pass_context
def cli(ctx: click.Context, verbosity: int) -> None:
    """An event-sourced ledger of support contracts: SLA clocks and support credits."""
    runtime = ctx.ensure_object(Runtime)
    ctx.call_on_close(runtime.close)
    if verbosity:
        runtime.verbosity = verbosity
        runtime.log_as()


for command in (
    *TERMS_COMMANDS,
    releases,
    contract,
    ticket,
    credits_group,
    events,
    projections,
    report,
    statement,
    audit,
    scheduler,
    alerts,
    demo,
    *WEB_COMMANDS,
):
    cli.add_command(command)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and turn outcomes into exit codes."""
    return run_group(cli, list(sys.argv[1:] if argv is None else argv))
