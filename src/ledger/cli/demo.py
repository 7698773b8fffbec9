"""`ledger demo`: the terms, deadlines explained and two weeks of business on SQLite, up to now;
with `--serve`, the pages on the demo's store and a token per role, until Ctrl-C."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

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
@click.option(
    "--now",
    "now",
    default=None,
    metavar="ISO8601",
    help="Tell the story as if it were this instant (default: now); the same instant gives "
    "the same story.",
)
@click.option("--serve", is_flag=True, help="Then serve the pages and the API on the demo's store.")
@click.option("--host", default="127.0.0.1", show_default=True, help="With --serve: interface.")
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(1, 65535),
    help="With --serve: TCP port.",
)  # fmt: skip
@click.pass_context
def demo(
    ctx: click.Context, database: str, now: str | None, *, serve: bool, host: str, port: int
) -> None:
    """Show the terms, deadlines with their explanation, and two weeks of business up to now
    on SQLite; then how to go on."""
    # The demo and the server are only loaded when asked for.
    from ledger.demo import next_steps, run_demo  # noqa: PLC0415
    from ledger.parsing import parse_instant  # noqa: PLC0415

    instant: datetime | None = None if now is None else parse_instant(now, "now")
    story = run_demo(database, console, now=instant)
    if not serve:
        next_steps(console, story)
        return
    import os  # noqa: PLC0415

    from ledger.web.commands import serve as serve_command  # noqa: PLC0415

    url = f"http://{host}:{port}"
    os.environ["LEDGER_DATABASE_URL"] = f"sqlite:///{Path(database).resolve()}"
    next_steps(console, story, url=url, tokens=_tokens())
    ctx.invoke(serve_command, host=host, port=port, workers=1)


def _tokens() -> dict[str, str]:
    """A token for each role on the demo's store (LEDGER_DATABASE_URL), valid for a day."""
    from ledger.projections.db import ViewDatabase  # noqa: PLC0415
    from ledger.settings import Settings  # noqa: PLC0415
    from ledger.web.tokens import ROLES, create_token  # noqa: PLC0415

    db = ViewDatabase(Settings.from_env().database)
    try:
        return {
            role: create_token(
                db, name=f"demo-{role}", role=role, at=datetime.now(UTC),
                created_by="ledger demo", expires_in_days=1,
            ).text
            for role in ROLES
        }  # fmt: skip
    finally:
        db.close()
