"""`ledger serve` and `ledger tokens ...`: the HTTP API and its bearer tokens.

`serve` runs uvicorn with `ledger.web.app:app_from_env` as its factory, on `--host` (default
127.0.0.1) and `--port` (default 8000), with `--workers` processes (default 1). SIGTERM (or
Ctrl-C) stops it gracefully: no new connections, requests in flight are finished (for up to
30 seconds), then the application closes its store connections. On PostgreSQL run as many
workers (and servers) as you like; on SQLite the file has one writer at a time, so more
workers only queue behind each other: keep one.

`tokens create --role R --name N [--expires-in-days D]` prints the token's secret on standard
output (once: only its hash is kept) and what it is on standard error, so
`TOKEN=$(ledger tokens create --role admin --name ops)` works; `tokens list` shows every
token without secrets; `tokens revoke ID` ends one at once.

The `ledger` command adds these with `cli.add_command(serve)` and `cli.add_command(tokens)`;
`python -m ledger.web.commands serve|tokens ...` runs them on their own.
"""

from __future__ import annotations

import getpass
import signal
import sqlite3
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from ledger.domain.errors import InvalidInputError, LedgerError
from ledger.errors import StoreUnavailableError
from ledger.parsing import format_instant
from ledger.serialize import dumps
from ledger.settings import Settings
from ledger.web.tokens import (
    DEFAULT_EXPIRY_DAYS,
    MAX_EXPIRY_DAYS,
    ROLES,
    create_token,
    list_tokens,
    revoke_token,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ledger.projections.db import ViewDatabase
    from ledger.settings import DatabaseSettings

GRACEFUL_SHUTDOWN_SECONDS = 30


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="TCP port."
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes (PostgreSQL: any number; SQLite: one writer at a time, keep 1).",
)
def serve(*, host: str, port: int, workers: int) -> None:
    """Serve the HTTP API under /api/v1 (OpenAPI at /openapi.json) until SIGTERM."""
    import uvicorn  # noqa: PLC0415 - only the server needs it

    from ledger.display import display_zone  # noqa: PLC0415 - not needed at start-up
    from ledger.logs import configure_logging  # noqa: PLC0415 - not needed at start-up

    settings = Settings.from_env()
    configure_logging(settings.log_format, settings.log_level)
    display_zone()  # an unknown LEDGER_DISPLAY_TZ is refused now, not on the first page
    if settings.database.backend == "memory":
        raise StoreUnavailableError("the API needs SQLite or PostgreSQL, not memory://")
    check_store(settings.database)
    if settings.database.backend == "sqlite" and workers > 1:
        click.echo(
            f"note: SQLite lets one process write at a time; {workers} workers will queue "
            "behind each other (use PostgreSQL to scale out)",
            err=True,
        )
    # uvicorn finishes the requests in flight on SIGTERM, then raises the signal again: end
    # then with exit code 0, a clean stop, as `projections run` and `scheduler run` do.
    signal.signal(signal.SIGTERM, _stop)
    uvicorn.run(
        "ledger.web.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        server_header=False,
    )


def check_store(database: DatabaseSettings) -> None:
    """Refuse to serve a store that cannot be used (StoreUnavailableError, exit 4), before
    uvicorn would fail at startup with a traceback."""
    import psycopg  # noqa: PLC0415 - not needed at start-up

    from ledger.projections.db import ViewDatabase  # noqa: PLC0415 - not needed at start-up

    db = ViewDatabase(database)
    try:
        # SQLite opens any file; reading its schema shows whether it is a database.
        db.read("SELECT count(*) FROM sqlite_master" if db.backend == "sqlite" else "SELECT 1")
    except (sqlite3.DatabaseError, psycopg.Error, OSError) as exc:
        raise StoreUnavailableError(
            f"cannot serve: {database.location} could not be reached or used: "
            f"{database.redact(' '.join(str(exc).split()))}"
        ) from None
    finally:
        db.close()


def _stop(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


@click.group("tokens")
def tokens() -> None:
    """Bearer tokens of the HTTP API: create, list, revoke."""


def now() -> datetime:
    """The wall clock (read once per command)."""
    return datetime.now(UTC)


def _db() -> ViewDatabase:
    from ledger.projections.db import ViewDatabase  # noqa: PLC0415 - not needed at start-up

    return ViewDatabase(Settings.from_env().database)


def _creator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no user name in some containers
        return "cli"


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON (a stable contract for scripts)."
)


@tokens.command("create")
@click.option("--role", required=True, type=click.Choice(ROLES), help="What the token may do.")
@click.option("--name", required=True, help="Who or what uses it (for people reading the list).")
@click.option(
    "--expires-in-days",
    default=DEFAULT_EXPIRY_DAYS,
    show_default=True,
    type=click.IntRange(1, MAX_EXPIRY_DAYS),
    help="Days until the token expires.",
)
@json_option
def tokens_create(*, role: str, name: str, expires_in_days: int, as_json: bool) -> None:
    """Create a token and print its secret (shown once: only its hash is kept)."""
    at = now()
    db = _db()
    try:
        issued = create_token(
            db, name=name, role=role, at=at, expires_in_days=expires_in_days,
            created_by=_creator(),
        )  # fmt: skip
    finally:
        db.close()
    if as_json:
        click.echo(dumps({**issued.token.as_dict(at), "token": issued.text}))
        return
    token = issued.token
    click.echo(
        f"token {token.token_id} for {token.role} {token.name!r}, expires "
        f"{format_instant(token.expires_at)}; the secret follows, shown "
        "this once:",
        err=True,
    )
    click.echo(issued.text)


def _rows(at: Any) -> list[dict[str, Any]]:
    db = _db()
    try:
        return [t.as_dict(at) for t in list_tokens(db)]
    finally:
        db.close()


@tokens.command("list")
@json_option
def tokens_list(*, as_json: bool) -> None:
    """Every token: id, name, role, state, expiry, last use (never a secret)."""
    rows = _rows(now())
    if as_json:
        click.echo(dumps(rows))
        return
    from rich.table import Table  # noqa: PLC0415

    from ledger.render import console, fmt  # noqa: PLC0415 - tables only for people

    table = Table("id", "name", "role", "state", "created", "expires", "revoked", "last used")
    for r in rows:
        table.add_row(
            r["token_id"], r["name"], r["role"], r["state"], fmt(r["created_at"]),
            fmt(r["expires_at"]), fmt(r["revoked_at"]), fmt(r["last_used_at"]),
        )  # fmt: skip
    console.print(table)
    if not rows:
        console.print("(none)")


@tokens.command("revoke")
@click.argument("token_id", metavar="ID")
@json_option
def tokens_revoke(*, token_id: str, as_json: bool) -> None:
    """Revoke the token ID: every request with it is refused from now on."""
    at = now()
    db = _db()
    try:
        token = revoke_token(db, token_id.strip(), at=at)
    finally:
        db.close()
    if as_json:
        click.echo(dumps(token.as_dict(at)))
    else:
        click.echo(f"token {token.token_id} ({token.role} {token.name!r}) revoked")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main_group() -> None:
    """The HTTP API of the ledger (the `ledger` command includes these)."""


main_group.add_command(serve)
main_group.add_command(tokens)


def main(argv: Sequence[str] | None = None) -> int:
    """Run `serve` or `tokens` with the CLI's exit codes (1 refused, 2 usage, 4 no database)."""
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in args
    try:
        main_group.main(args=args, prog_name="ledger", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.MissingParameter as exc:
        exc.show()
        return 2
    except click.BadParameter as exc:
        _print_error(InvalidInputError(exc.format_message()), as_json)
        return 1
    except click.ClickException as exc:
        exc.show()
        return 2
    except click.exceptions.Abort:
        return 130
    except LedgerError as exc:
        _print_error(exc, as_json)
        return 4 if isinstance(exc, StoreUnavailableError) else 1
    except Exception as exc:
        from psycopg_pool import PoolTimeout  # noqa: PLC0415 - only on errors

        from ledger.store import PersistenceError  # noqa: PLC0415 - only on errors

        if not isinstance(exc, PersistenceError | PoolTimeout | OSError):
            raise
        database = Settings.from_env().database
        problem = f"the database ({database.location}) could not be reached: {exc}"
        _print_error(StoreUnavailableError(database.redact(problem)), as_json)
        return 4
    return 0


def _print_error(error: LedgerError, as_json: bool) -> None:
    if as_json:
        click.echo(dumps({"error": error.as_dict()}), err=True)
    else:
        click.echo(f"error [{error.code}] {error.message}", err=True)


if __name__ == "__main__":
    sys.exit(main())
