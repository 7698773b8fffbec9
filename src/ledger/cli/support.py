"""What every command of `ledger` shares: the application through click's context, the exit
codes and error output, `--json` / `--csv` output and the parsing of common options.

Exit codes: 0 done; 1 refused (a LedgerError: its code and message are printed; a value
click refuses is `invalid_input`); 2 usage error (the command line's shape); 3 a support
request was declined (and recorded); 4 the database could not be reached.
Every command that prints data takes `--json`; errors are printed to standard error, as JSON
(`{"error": {"code": ..., "message": ...}}`) when `--json` was given.
"""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

import click
from rich.markup import escape

from ledger.domain.errors import InvalidInputError, LedgerError
from ledger.errors import StoreUnavailableError
from ledger.parsing import parse_date, parse_instant
from ledger.render import console, err_console, fmt, rows_table
from ledger.serialize import dumps
from ledger.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from zoneinfo import ZoneInfo

    from ledger.application import SupportLedger
    from ledger.settings import DatabaseSettings


F = TypeVar("F", bound="Callable[..., Any]")

LOG_LEVEL_VARIABLE = "LEDGER_LOG_LEVEL"
# Columns shown as text for people that are numbers all the same (right-aligned).
NUMERIC_TEXT = frozenset({
    "business_seconds_left", "breach_rate", "severity", "median_response_seconds",
    "p90_response_seconds",
})  # fmt: skip

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_DECLINED = 3
EXIT_UNAVAILABLE = 4


# -- the application, through click's context ----------------------------------------------


class Runtime:
    """What the commands of one `ledger` run share (click's `ctx.obj`): the settings and the
    application on the configured store, each built on first use; `close` ends it."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings
        self._ledger: SupportLedger | None = None
        self._reader: SupportLedger | None = None
        self.verbosity = 0  # -v: 1, -vv: 2
        self.ledger_env: dict[str, str] = {}  # the application's own settings (the scheduler's)

    def log_as(self, *, service: bool = False) -> None:
        """(Re)configure logging for this run (see `log_level_for`)."""
        from ledger.logs import configure_logging  # noqa: PLC0415 - structlog only for a run

        settings = self.settings
        level = log_level_for(settings, self.verbosity, service=service)
        configure_logging(settings.log_format, level)

    @property
    def settings(self) -> Settings:
        """The settings from the environment (read once per run)."""
        if self._settings is None:
            self._settings = Settings.from_env()
        return self._settings

    @property
    def database(self) -> DatabaseSettings:
        """Where the events and the read models are stored."""
        return self.settings.database

    @property
    def ledger(self) -> SupportLedger:
        """The application on the configured store (built on first use)."""
        if self._ledger is None:
            from ledger.wiring import open_ledger  # noqa: PLC0415 - built only when used

            self._ledger = open_ledger(self.database, self.ledger_env or None)
        return self._ledger

    @property
    def read_database(self) -> DatabaseSettings | None:
        """The standby the reports and replays read (`LEDGER_READ_DATABASE_URL`), or None."""
        return self.settings.read_database

    @property
    def reader(self) -> SupportLedger:
        """The application whose log the replays read: on the standby when one is configured
        (it never records anything), else the application on the primary."""
        if self.read_database is None:
            return self.ledger
        if self._reader is None:
            from ledger.wiring import open_reader  # noqa: PLC0415 - built only when used

            self._reader = open_reader(self.read_database)
        return self._reader

    @property
    def holds_ledger(self) -> bool:
        """Whether the application is built and not closed yet."""
        return self._ledger is not None

    def close(self) -> None:
        """Close the application's connections, if it was built."""
        ledger, self._ledger = self._ledger, None
        reader, self._reader = self._reader, None
        try:
            if ledger is not None:
                ledger.close()
        finally:
            if reader is not None:
                reader.close()


pass_runtime = click.make_pass_decorator(Runtime)


def log_level_for(settings: Settings, verbosity: int, *, service: bool = False) -> str:
    """The level a run logs at: `-v` info, `-vv` debug; else `LEDGER_LOG_LEVEL` when it is
    set; else `info` for a service (`scheduler run`, `projections run`, `serve`) and `warning`
    for an interactive command, whose output is for the person who typed it."""
    if verbosity >= 2:
        return "debug"
    if verbosity == 1:
        return "info"
    if os.environ.get(LOG_LEVEL_VARIABLE, "").strip():
        return settings.log_level
    return "info" if service else "warning"


# -- output --------------------------------------------------------------------------------

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON (a stable contract for scripts)."
)
csv_option = click.option(
    "--csv", "as_csv", is_flag=True, help="Print CSV (a header row, then one row each)."
)


def emit(data: Any, as_json: bool, render: Callable[[], None]) -> None:
    """Print `data` as JSON, or call `render` to print it for people."""
    if as_json:
        click.echo(dumps(data))
    else:
        render()


def done(data: dict[str, Any], as_json: bool, message: str) -> None:
    """Print a command's result: its data as JSON, or one line for people."""
    emit(data, as_json, lambda: console.print(escape(message)))


def emit_rows(
    rows: list[dict[str, Any]],
    columns: Sequence[tuple[str, str]],
    *,
    as_json: bool,
    as_csv: bool,
    title: str,
) -> None:
    """Rows as JSON, CSV (the given columns) or a table for people."""
    if as_json and as_csv:
        raise InvalidInputError("give --json or --csv, not both")
    if as_json:
        click.echo(dumps(rows))
        return
    if as_csv:
        from ledger.reports import csv_table  # noqa: PLC0415 - loaded for CSV only

        click.echo(csv_table([key for key, _ in columns], rows), nl=False)
        return
    console.print(rows_table(rows, columns, title, numeric=NUMERIC_TEXT))
    if not rows:
        console.print("(none)")


def details(data: dict[str, Any]) -> str:
    """An event's plain fields (not its instants or nested data) as `name=value`."""
    return ", ".join(
        f"{name}={fmt(value)}"
        for name, value in data.items()
        if not isinstance(value, datetime | list | dict | UUID) and value not in (None, "")
    )


def wall(value: datetime, zone: ZoneInfo, pattern: str = "%a %Y-%m-%d %H:%M %Z") -> str:
    """An instant as wall time in a zone."""
    return value.astimezone(zone).strftime(pattern)


# -- options and their parsing -------------------------------------------------------------


class Seconds(click.FloatRange):
    """A number of seconds within a range; unlike click's FloatRange, NaN is refused."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The number, refusing NaN (which compares false with both bounds)."""
        number = super().convert(value, param, ctx)
        if math.isnan(number):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        return number


def at_option(help_text: str = "ISO 8601 instant of the fact (default: now).") -> Callable[[F], F]:
    """`--at`: back-office entry of a fact at an earlier (or given) instant."""
    return click.option("--at", "at_text", metavar="ISO8601", help=help_text)


def resolve_at(text: str | None, name: str = "--at") -> datetime:
    """The instant given, or now (the clock is read once per command)."""
    return parse_instant(text, name) if text else datetime.now(UTC)


def optional_instant(text: str | None, name: str) -> datetime | None:
    """The instant given, or None."""
    return None if text is None else parse_instant(text, name)


def parse_id(text: str, name: str) -> UUID:
    """A UUID argument."""
    try:
        return UUID(str(text).strip())
    except ValueError:
        raise InvalidInputError(f"{name}: {text!r} is not an id (a UUID)") from None


def parse_expiry(text: str, timezone: str) -> datetime:
    """`--expires`: a date (valid through that day, local time) or an instant."""
    from ledger.domain.contract import local_midnight  # noqa: PLC0415 - the aggregate is heavy

    value = text.strip()
    if "T" in value or " " in value:
        return parse_instant(value, "--expires")
    day = parse_date(value, "--expires")
    return local_midnight(day + timedelta(days=1), timezone)


# -- running the group: outcomes to exit codes ---------------------------------------------


def print_error(error: LedgerError, as_json: bool) -> None:
    """An error on standard error: code and message, as JSON when asked."""
    if as_json:
        click.echo(dumps({"error": error.as_dict()}), err=True)
    else:
        err_console.print(
            f"[bold red]error[/bold red] {escape(f'[{error.code}]')} {escape(error.message)}"
        )


def _store_outage(exc: Exception) -> bool:
    """Whether `exc` says the database could not be reached or used."""
    import sqlite3  # noqa: PLC0415 - only on errors

    from psycopg_pool import PoolTimeout  # noqa: PLC0415 - same

    from ledger.store import PersistenceError  # noqa: PLC0415 - same

    # A plain sqlite3.DatabaseError (not one of its subclasses) is a file that is not a
    # database, or a damaged one.
    return isinstance(exc, PersistenceError | PoolTimeout | OSError) or (
        type(exc) is sqlite3.DatabaseError
    )


def outage_error(
    database: DatabaseSettings | None, detail: str, reads: DatabaseSettings | None = None
) -> StoreUnavailableError:
    """The error to print when the store cannot be used: where it is (the host only) and what
    failed, naming no other part of the database URL (user, password, port, database, schema),
    nor of the read database's URL (`reads`)."""
    if database is None:
        return StoreUnavailableError("the database could not be reached or used")
    if reads is not None:
        detail = detail.replace(reads.display_url, f"the read database ({reads.location})")
        detail = reads.redact(detail)
    one_line = " ".join(detail.replace(database.display_url, database.location).split())
    text = database.redact(one_line)
    if not text.startswith(("the ", "cannot ")):
        text = f"the database ({database.location}) could not be reached or used: {text}"
    return StoreUnavailableError(text)


def _database_of(runtime: Runtime) -> DatabaseSettings | None:
    """The runtime's database settings, or None when they cannot be read."""
    try:
        return runtime.database
    except LedgerError:
        return None


def _read_database_of(runtime: Runtime) -> DatabaseSettings | None:
    """The runtime's read database settings, or None (none set, or unreadable)."""
    try:
        return runtime.read_database
    except LedgerError:
        return None


def run_group(group: click.Group, args: list[str]) -> int:
    """Run `group` on `args` with a `Runtime` in its context (closed at the end), and turn the
    outcome into an exit code.

    A value click refuses (a wrong number, an unknown choice, a missing file) exits 1 with
    `invalid_input`, as a value the ledger refuses does; a command line of the wrong shape (an
    unknown command or option, a missing option or argument) is a usage error, 2.
    """
    as_json = "--json" in args
    runtime = Runtime()
    try:
        try:
            runtime.log_as()
            result = group.main(args=args, prog_name="ledger", standalone_mode=False, obj=runtime)
        finally:
            runtime.close()
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.MissingParameter as exc:
        exc.show()
        return EXIT_USAGE
    except click.BadParameter as exc:
        print_error(InvalidInputError(exc.format_message()), as_json)
        return EXIT_REFUSED
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE
    except click.exceptions.Abort:
        err_console.print("aborted")
        return 130
    except StoreUnavailableError as exc:
        print_error(
            outage_error(_database_of(runtime), exc.message, _read_database_of(runtime)), as_json
        )
        return EXIT_UNAVAILABLE
    except LedgerError as exc:
        print_error(exc, as_json)
        return EXIT_REFUSED
    except Exception as exc:
        if not _store_outage(exc):
            raise
        print_error(
            outage_error(_database_of(runtime), str(exc), _read_database_of(runtime)), as_json
        )
        return EXIT_UNAVAILABLE
    return result if isinstance(result, int) else 0
