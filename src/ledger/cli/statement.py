"""`ledger statement`: one customer's statement as a printable HTML document."""

from __future__ import annotations

from pathlib import Path

import click

from ledger.cli.support import Runtime, pass_runtime
from ledger.domain.errors import InvalidInputError
from ledger.parsing import parse_int
from ledger.render import err_console


@click.command("statement")
@click.argument("contract_ref", metavar="CONTRACT")
@click.option("--period", help="A calendar month, YYYY-MM (in the contract's timezone).")
@click.option("--term", "term_text", help="A term number.")
@click.option("--output", "output", help="Write the HTML to this file (default: standard output).")
@pass_runtime
def statement(
    runtime: Runtime,
    *,
    contract_ref: str,
    period: str | None,
    term_text: str | None,
    output: str | None,
) -> None:
    """A statement for the customer: agreement, movements, fees, packages, totals and the
    hash-chain digest to verify it by (HTML, printable on A4)."""
    from ledger.documents import (  # noqa: PLC0415 - not needed at start-up
        customer_statement,
        render_statement,
    )
    from ledger.projections.credit_usage import (  # noqa: PLC0415 - not needed at start-up
        CreditUsageProjection,
    )
    from ledger.projections.db import ViewDatabase  # noqa: PLC0415 - not needed at start-up
    from ledger.reports import caught_up  # noqa: PLC0415 - not needed at start-up

    if (period is None) == (term_text is None):
        raise InvalidInputError("give --period YYYY-MM or --term N (one of them)")
    term = None if term_text is None else parse_int(term_text, "--term", minimum=1)
    contract_id = runtime.ledger.contract_id(contract_ref, "CONTRACT")
    settings = runtime.database
    caught_up(settings, runtime.ledger, CreditUsageProjection.name, catch_up=True)
    db = ViewDatabase(settings)
    try:
        data = customer_statement(runtime.ledger, db, contract_id, period=period, term=term)
    finally:
        db.close()
    html = render_statement(data)
    if output is None:
        click.echo(html)
        return
    try:
        Path(output).write_text(html, encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"--output: cannot write {output!r}: {exc.strerror}") from None
    err_console.print(f"statement written to {output} (digest {data['digest']})")
