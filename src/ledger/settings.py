"""Settings from the environment, frozen, and the eventsourcing configuration they imply.

`LEDGER_DATABASE_URL` picks the store:
- `sqlite:///relative/path.db` or `sqlite:////absolute/path.db` (default `sqlite:///ledger.db`,
  a file in the working directory): the embedded default;
- `postgresql://user:password@host:port/dbname?schema=ledger&pool_size=5`: production;
- `memory://`: an in-process store that vanishes with the process (tests only).
Read models live in the same database as the events.

`LEDGER_READ_DATABASE_URL` (optional, PostgreSQL only) names a streaming standby of that
database: the pages, the reports, the metrics and `audit replay` read there, and nothing is
written there; every command, the scheduler and the projection runners use the primary.
"""

from __future__ import annotations

import getpass
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from ledger.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Mapping

DEFAULT_DATABASE_URL = "sqlite:///ledger.db"
Backend = Literal["sqlite", "postgresql", "memory"]
LOG_FORMATS = ("auto", "console", "json")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
_PG_OPTIONS = {"schema", "pool_size", "max_overflow", "connect_timeout", "lock_timeout"}
SNAPSHOT_KEY = "LEDGER_SNAPSHOT_KEY"
DATABASE_URL = "LEDGER_DATABASE_URL"
READ_DATABASE_URL = "LEDGER_READ_DATABASE_URL"
SNAPSHOT_KEY_MIN_LENGTH = 32
COPIES_MB = "LEDGER_COPIES_MB"
DEFAULT_COPIES_MB = 192
COPIES_MB_MAX = 1_000_000
# Anchors of the audit chain (read by ledger.audit.anchors): the signing key, kept outside the
# database, and where and how often the scheduler sends one.
ANCHOR_KEY = "LEDGER_ANCHOR_KEY"
ANCHOR_TO = "LEDGER_ANCHOR_TO"
ANCHOR_EVERY = "LEDGER_ANCHOR_EVERY_MINUTES"


@dataclass(frozen=True)
class DatabaseSettings:
    """Where events and read models are stored."""

    backend: Backend
    path: str = ""
    host: str = ""
    port: int = 5432
    dbname: str = ""
    user: str = ""
    password: str = field(default="", repr=False)
    schema: str = "public"
    pool_size: int = 5
    max_overflow: int = 10
    connect_timeout: int = 10
    lock_timeout: int = 0
    read_only: bool = False  # a standby (LEDGER_READ_DATABASE_URL): nothing is written there

    @property
    def display_url(self) -> str:
        """The URL with the password hidden, for logs and status output."""
        if self.backend == "sqlite":
            return f"sqlite:///{self.path}"
        if self.backend == "memory":
            return "memory://"
        secret = ":***" if self.password else ""
        schema = f"?schema={self.schema}" if self.schema != "public" else ""
        return (
            f"postgresql://{quote(self.user)}{secret}@{self.host}:{self.port}/{self.dbname}{schema}"
        )

    @property
    def location(self) -> str:
        """Where the store is, naming the host only (no user, port, database or schema)."""
        if self.backend == "postgresql":
            return f"PostgreSQL on {self.host or 'the local socket'}"
        return "the SQLite file" if self.backend == "sqlite" else "memory"

    def redact(self, text: str, *, keep_host: bool = True) -> str:
        """`text` with every part of the database URL (user, password, port, database, schema,
        file; the host too unless `keep_host`) replaced by `***`, for messages people see."""
        parts = {self.user, self.password, self.dbname, self.schema, self.path}
        if self.path:
            parts.add(Path(self.path).name)
            parts.add(str(Path(self.path).resolve()))
        if self.backend == "postgresql":
            parts.add(str(self.port))
        if not keep_host:
            parts.add(self.host)
        pattern = "|".join(re.escape(part) for part in sorted(parts - {""}, key=len, reverse=True))
        if not pattern:
            return text
        kept = [self.host] if keep_host and self.host else []
        pieces = text.split(kept[0]) if kept else [text]
        hidden = [re.sub(rf"(?<!\w)(?:{pattern})(?!\w)", "***", piece) for piece in pieces]
        return (kept[0] if kept else "").join(hidden)

    def with_schema(self, schema: str) -> DatabaseSettings:
        """The same PostgreSQL database, another schema (tests and as-of replays use this)."""
        return replace(self, schema=schema)

    def eventsourcing_env(self) -> dict[str, str]:
        """The eventsourcing configuration for this store."""
        if self.backend == "memory":
            return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
        if self.backend == "sqlite":
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": self.path,
                "SQLITE_LOCK_TIMEOUT": "30",
                "APPLICATION_RECORDER_TOPIC": "ledger.store.recorders:SQLiteLedgerRecorder",
            }
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "APPLICATION_RECORDER_TOPIC": "ledger.store.recorders:PostgresLedgerRecorder",
            "POSTGRES_DBNAME": self.dbname,
            "POSTGRES_HOST": self.host,
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD": self.password,
            "POSTGRES_SCHEMA": self.schema,
            "POSTGRES_POOL_SIZE": str(self.pool_size),
            "POSTGRES_MAX_OVERFLOW": str(self.max_overflow),
            "POSTGRES_CONNECT_TIMEOUT": str(self.connect_timeout),
            "POSTGRES_LOCK_TIMEOUT": str(self.lock_timeout),
            # No pre-ping: it costs a round trip per checkout, and broken connections are
            # already discarded by the pool and retried by the recorders.
            "POSTGRES_PRE_PING": "n",
        }

    def psycopg_conninfo(self) -> dict[str, str | int]:
        """Keyword arguments for `psycopg.connect` (PostgreSQL only)."""
        return {
            "dbname": self.dbname,
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "connect_timeout": self.connect_timeout,
        }


def parse_database_url(url: str, variable: str = DATABASE_URL) -> DatabaseSettings:
    """Database settings from a URL; a malformed URL or unknown scheme is a ConfigurationError
    naming `variable`, the setting the URL came from."""
    text = url.strip()
    if not text:
        raise ConfigurationError(f"{variable} is empty")
    scheme, sep, rest = text.partition("://")
    if not sep:
        raise ConfigurationError(
            f"{variable} {text!r} is not a URL; use sqlite:///path.db or "
            "postgresql://user:password@host:5432/dbname"
        )
    scheme = scheme.lower()
    if scheme == "sqlite":
        return _sqlite(text, rest, variable)
    if scheme in {"postgresql", "postgres"}:
        return _postgres(text, variable)
    if scheme == "memory":
        if rest:
            raise ConfigurationError(f"{variable} {text!r}: memory:// takes no path")
        return DatabaseSettings(backend="memory")
    raise ConfigurationError(
        f"{variable} has unknown scheme {scheme!r}; use sqlite, postgresql or memory"
    )


def _sqlite(text: str, rest: str, variable: str) -> DatabaseSettings:
    if not rest.startswith("/") or len(rest) < 2:
        raise ConfigurationError(
            f"{variable} {text!r}: a SQLite URL is sqlite:///relative.db or "
            "sqlite:////absolute/path.db"
        )
    path = unquote(rest[1:])
    if "?" in path or "#" in path:
        raise ConfigurationError(f"{variable} {text!r}: SQLite URLs take no options")
    parent = Path(path).expanduser().parent
    if not parent.is_dir():
        raise ConfigurationError(f"{variable} {text!r}: directory {str(parent)!r} does not exist")
    return DatabaseSettings(backend="sqlite", path=str(Path(path).expanduser()))


def _postgres(text: str, variable: str) -> DatabaseSettings:
    try:
        parts = urlsplit(text)
        port = parts.port or 5432
    except ValueError as exc:
        raise ConfigurationError(f"{variable} is malformed: {exc}") from None
    if not parts.hostname:
        raise ConfigurationError(f"{variable} {_redact(text)!r}: no host")
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname or "/" in dbname:
        raise ConfigurationError(
            f"{variable} {_redact(text)!r}: name one database, as in .../dbname"
        )
    options: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in _PG_OPTIONS:
            raise ConfigurationError(
                f"{variable}: unknown option {key!r}; known: {', '.join(sorted(_PG_OPTIONS))}"
            )
        options[key] = value
    schema = options.get("schema", "public")
    if not schema.replace("_", "").isalnum() or schema[0].isdigit():
        raise ConfigurationError(f"{variable}: schema {schema!r} is not a plain identifier")

    def number(key: str, default: int, minimum: int) -> int:
        raw = options.get(key)
        if raw is None:
            return default
        if not raw.isdigit() or int(raw) < minimum:
            raise ConfigurationError(
                f"{variable}: {key} must be a whole number >= {minimum}, got {raw!r}"
            )
        return int(raw)

    return DatabaseSettings(
        backend="postgresql",
        host=parts.hostname,
        port=port,
        dbname=dbname,
        user=unquote(parts.username) if parts.username else getpass.getuser(),
        password=unquote(parts.password) if parts.password else "",
        schema=schema,
        pool_size=number("pool_size", 5, 1),
        max_overflow=number("max_overflow", 10, 0),
        connect_timeout=number("connect_timeout", 10, 1),
        lock_timeout=number("lock_timeout", 0, 0),
    )


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def parse_read_database_url(text: str | None, primary: DatabaseSettings) -> DatabaseSettings | None:
    """The standby the reads go to (`LEDGER_READ_DATABASE_URL`); None when it is unset or empty.

    It must be PostgreSQL, like the primary it replicates; the schema defaults to the
    primary's (a standby holds the same schemas). A malformed URL is a ConfigurationError
    naming the variable, with the password hidden.
    """
    if not (text or "").strip():
        return None
    if primary.backend != "postgresql":
        raise ConfigurationError(
            f"{READ_DATABASE_URL} needs {DATABASE_URL} to be PostgreSQL (a standby replicates a "
            f"PostgreSQL primary); {DATABASE_URL} is {primary.backend}"
        )
    reads = parse_database_url(text or "", READ_DATABASE_URL)
    if reads.backend != "postgresql":
        raise ConfigurationError(
            f"{READ_DATABASE_URL} must be a postgresql:// URL (a standby of the primary), "
            f"not {reads.backend}"
        )
    if "schema=" not in (text or ""):
        reads = reads.with_schema(primary.schema)
    return replace(reads, read_only=True)


def parse_snapshot_key(text: str | None) -> bytes | None:
    """The key snapshots are sealed with (`LEDGER_SNAPSHOT_KEY`); None when it is unset or empty.

    A key of fewer than 32 characters is a ConfigurationError: it could be guessed.
    """
    key = (text or "").strip()
    if not key:
        return None
    if len(key) < SNAPSHOT_KEY_MIN_LENGTH:
        raise ConfigurationError(
            f"{SNAPSHOT_KEY} is {len(key)} characters long; use at least "
            f"{SNAPSHOT_KEY_MIN_LENGTH} (for example `python -c 'import secrets; "
            "print(secrets.token_hex(32))'`)"
        )
    return key.encode("utf-8")


def parse_copies_mb(text: str | None) -> float:
    """The megabytes a process keeps aggregates in between commands (`LEDGER_COPIES_MB`,
    default 192): a number above 0 and at most 1,000,000, else a ConfigurationError."""
    value = (text or "").strip()
    if not value:
        return DEFAULT_COPIES_MB
    try:
        megabytes = float(value)
    except ValueError:
        megabytes = float("nan")
    if not 0 < megabytes <= COPIES_MB_MAX:
        raise ConfigurationError(
            f"{COPIES_MB} is {value!r}; use a number of megabytes above 0 and at most "
            f"{COPIES_MB_MAX:,} (default {DEFAULT_COPIES_MB})"
        )
    return megabytes


@dataclass(frozen=True)
class Settings:
    """All settings of a ledger process."""

    database: DatabaseSettings
    log_format: str = "auto"
    log_level: str = "info"
    snapshot_key: bytes | None = field(default=None, repr=False)
    read_database: DatabaseSettings | None = None  # a standby the reads go to

    @property
    def reads(self) -> DatabaseSettings:
        """Where the pages, reports, metrics and replays read: the standby, else the primary."""
        return self.read_database or self.database

    def redact(self, text: str, *, keep_host: bool = True) -> str:
        """`text` with every part of both database URLs hidden (see `DatabaseSettings.redact`)."""
        hidden = self.database.redact(text, keep_host=keep_host)
        if self.read_database is not None:
            hidden = self.read_database.redact(hidden, keep_host=keep_host)
        return hidden

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings read from `env` (default: the process environment)."""
        source = os.environ if env is None else env
        log_format = source.get("LEDGER_LOG_FORMAT", "auto").strip().lower() or "auto"
        if log_format not in LOG_FORMATS:
            raise ConfigurationError(
                f"LEDGER_LOG_FORMAT {log_format!r} is unknown; use {', '.join(LOG_FORMATS)}"
            )
        log_level = source.get("LEDGER_LOG_LEVEL", "info").strip().lower() or "info"
        if log_level not in LOG_LEVELS:
            raise ConfigurationError(
                f"LEDGER_LOG_LEVEL {log_level!r} is unknown; use {', '.join(LOG_LEVELS)}"
            )
        database = parse_database_url(source.get(DATABASE_URL, DEFAULT_DATABASE_URL))
        return cls(
            database=database,
            read_database=parse_read_database_url(source.get(READ_DATABASE_URL), database),
            log_format=log_format,
            log_level=log_level,
            snapshot_key=parse_snapshot_key(source.get(SNAPSHOT_KEY)),
        )


ALERT_NOTICE_DEFAULTS = {"LEDGER_ALERTS_EXPIRING_DAYS": 30, "LEDGER_ALERTS_TERM_DAYS": 60}


def alert_notice_days(env: Mapping[str, str] | None = None) -> tuple[int, int]:
    """Days of notice for `lots_expiring` and `term_ending` (the deadlines view plans them):
    `LEDGER_ALERTS_EXPIRING_DAYS` (default 30) and `LEDGER_ALERTS_TERM_DAYS` (default 60),
    whole days from 1 to 366; anything else is a ConfigurationError naming the variable."""
    source = os.environ if env is None else env
    days = []
    for name, default in ALERT_NOTICE_DEFAULTS.items():
        text = source.get(name, "").strip()
        if not text:
            days.append(default)
            continue
        if not text.isdigit() or not 1 <= int(text) <= 366:
            raise ConfigurationError(f"{name} {text!r}: a whole number of days from 1 to 366")
        days.append(int(text))
    return days[0], days[1]
