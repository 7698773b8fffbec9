"""LEDGER_DATABASE_URL and the log settings: what is accepted and what is refused, clearly."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from ledger.errors import ConfigurationError
from ledger.settings import Settings, parse_database_url

if TYPE_CHECKING:
    from pathlib import Path


def test_the_default_is_a_sqlite_file_in_the_working_directory() -> None:
    """Without LEDGER_DATABASE_URL the store is ./ledger.db."""
    settings = Settings.from_env({})
    assert settings.database.backend == "sqlite"
    assert settings.database.path == "ledger.db"
    assert settings.database.eventsourcing_env()["SQLITE_DBNAME"] == "ledger.db"


def test_absolute_sqlite_paths_keep_their_leading_slash(tmp_path: Path) -> None:
    """sqlite:////abs/path.db names an absolute path."""
    db = parse_database_url(f"sqlite:///{tmp_path}/x.db")
    assert db.path == f"{tmp_path}/x.db"
    assert db.eventsourcing_env()["PERSISTENCE_MODULE"] == "eventsourcing.sqlite"


def test_postgresql_urls_become_the_eventsourcing_configuration() -> None:
    """Every part of a PostgreSQL URL reaches the eventsourcing configuration; no password shows."""
    db = parse_database_url(
        "postgresql://app:s%40cret@db.internal:6543/ledger?schema=prod&pool_size=3"
    )
    env = db.eventsourcing_env()
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"], env["POSTGRES_DBNAME"]) == (
        "db.internal",
        "6543",
        "ledger",
    )
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]) == ("app", "s@cret")
    assert (env["POSTGRES_SCHEMA"], env["POSTGRES_POOL_SIZE"]) == ("prod", "3")
    assert "s@cret" not in db.display_url
    assert "s@cret" not in repr(db)


def test_postgres_is_accepted_as_a_scheme_alias() -> None:
    """postgres:// means the same as postgresql://."""
    assert parse_database_url("postgres://u@h/d").backend == "postgresql"


BAD_URLS = [
    pytest.param("", "empty", id="empty"),
    pytest.param("ledger.db", "is not a URL", id="no-scheme"),
    pytest.param("mysql://u@h/d", "unknown scheme 'mysql'", id="unknown-scheme"),
    pytest.param("sqlite://ledger.db", "sqlite:///relative.db", id="sqlite-two-slashes"),
    pytest.param("sqlite:////no/such/dir/x.db", "does not exist", id="sqlite-missing-dir"),
    pytest.param("postgresql:///ledger", "no host", id="pg-no-host"),
    pytest.param("postgresql://u@h", "name one database", id="pg-no-db"),
    pytest.param("postgresql://u@h:notaport/d", "malformed", id="pg-bad-port"),
    pytest.param(
        "postgresql://u@h/d?sslmode=require", "unknown option 'sslmode'", id="pg-unknown-option"
    ),
    pytest.param("postgresql://u@h/d?schema=a;drop", "not a plain identifier", id="pg-bad-schema"),
    pytest.param("postgresql://u@h/d?pool_size=0", "pool_size must be", id="pg-bad-pool"),
    pytest.param("memory://x", "takes no path", id="memory-with-path"),
]


@pytest.mark.parametrize(("url", "message"), BAD_URLS)
def test_malformed_urls_are_refused_with_a_clear_message(url: str, message: str) -> None:
    """A malformed URL or unknown scheme is a ConfigurationError naming the problem."""
    with pytest.raises(ConfigurationError, match=message.replace("?", r"\?")):
        parse_database_url(url)


def test_the_password_is_not_repeated_in_errors() -> None:
    """Errors about a PostgreSQL URL never echo its password."""
    with pytest.raises(ConfigurationError) as info:
        parse_database_url("postgresql://u:topsecret@h")
    assert "topsecret" not in info.value.message


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LEDGER_LOG_FORMAT": "xml"}, "LEDGER_LOG_FORMAT 'xml'"),
        ({"LEDGER_LOG_LEVEL": "loud"}, "LEDGER_LOG_LEVEL 'loud'"),
    ],
    ids=["format", "level"],
)
def test_unknown_log_settings_are_refused(env: dict[str, str], message: str) -> None:
    """Log format and level accept only the documented values."""
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env(env)


def test_log_settings_are_read_case_insensitively() -> None:
    """JSON and DEBUG work as well as json and debug."""
    settings = Settings.from_env({"LEDGER_LOG_FORMAT": "JSON", "LEDGER_LOG_LEVEL": "DEBUG"})
    assert (settings.log_format, settings.log_level) == ("json", "debug")


def test_the_snapshot_key_is_optional_and_refused_when_short() -> None:
    """LEDGER_SNAPSHOT_KEY unset or empty: no key (snapshots off); under 32 characters: refused
    without repeating it; otherwise its bytes."""
    assert Settings.from_env({}).snapshot_key is None
    assert Settings.from_env({"LEDGER_SNAPSHOT_KEY": "  "}).snapshot_key is None
    key = "k" * 32
    assert Settings.from_env({"LEDGER_SNAPSHOT_KEY": key}).snapshot_key == key.encode()
    assert key not in repr(Settings.from_env({"LEDGER_SNAPSHOT_KEY": key}))
    with pytest.raises(ConfigurationError, match="at least 32") as refused:
        Settings.from_env({"LEDGER_SNAPSHOT_KEY": "short-secret"})
    assert "short-secret" not in str(refused.value)


PRIMARY = "postgresql://ledger:pw@db.internal:5432/ledger?schema=sla"


def test_a_read_database_is_optional_and_a_standby_of_the_primary() -> None:
    """Without LEDGER_READ_DATABASE_URL reads go to the primary; with it, to the standby,
    in the primary's schema unless it names one, and marked read-only."""
    alone = Settings.from_env({"LEDGER_DATABASE_URL": PRIMARY})
    assert (alone.read_database, alone.reads) == (None, alone.database)
    blank = Settings.from_env({"LEDGER_DATABASE_URL": PRIMARY, "LEDGER_READ_DATABASE_URL": " "})
    assert blank.read_database is None
    env = {
        "LEDGER_DATABASE_URL": PRIMARY,
        "LEDGER_READ_DATABASE_URL": "postgresql://reader:rpw@standby.internal:6432/ledger",
    }
    settings = Settings.from_env(env)
    reads = settings.read_database
    assert reads is not None
    assert settings.reads is reads
    assert (reads.host, reads.port, reads.schema, reads.read_only) == (
        "standby.internal", 6432, "sla", True,
    )  # fmt: skip
    assert not settings.database.read_only
    named = Settings.from_env(
        {**env, "LEDGER_READ_DATABASE_URL": f"{env['LEDGER_READ_DATABASE_URL']}?schema=other"}
    )
    assert named.reads.schema == "other"


@pytest.mark.parametrize(
    ("primary", "reads", "message"),
    [
        ("sqlite:///ledger.db", "postgresql://h/db", "needs LEDGER_DATABASE_URL to be PostgreSQL"),
        (PRIMARY, "sqlite:///replica.db", "must be a postgresql:// URL"),
        (PRIMARY, "mysql://h/db", "LEDGER_READ_DATABASE_URL has unknown scheme"),
        (PRIMARY, "postgresql://h", "LEDGER_READ_DATABASE_URL 'postgresql://h': name one database"),
        (PRIMARY, "postgresql://h/db?pool=3", "LEDGER_READ_DATABASE_URL: unknown option 'pool'"),
        (PRIMARY, "standby:5432", "LEDGER_READ_DATABASE_URL 'standby:5432' is not a URL"),
    ],
    ids=["sqlite-primary", "sqlite-replica", "scheme", "no-database", "option", "not-a-url"],
)
def test_a_bad_read_database_url_is_refused_naming_the_variable(
    primary: str, reads: str, message: str
) -> None:
    """Each mistake in LEDGER_READ_DATABASE_URL is a ConfigurationError naming it."""
    env = {"LEDGER_DATABASE_URL": primary, "LEDGER_READ_DATABASE_URL": reads}
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        Settings.from_env(env)


def test_the_read_database_password_is_not_repeated_in_errors_or_messages() -> None:
    """Neither a refused read URL nor a redacted message shows the standby's secrets."""
    env = {
        "LEDGER_DATABASE_URL": PRIMARY,
        "LEDGER_READ_DATABASE_URL": "postgresql://reader:hunter2@standby.internal/",
    }
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env(env)
    assert "hunter2" not in refused.value.message
    settings = Settings.from_env(
        {**env, "LEDGER_READ_DATABASE_URL": "postgresql://reader:hunter2@standby.internal/rdb"}
    )
    text = settings.redact("reader:hunter2@standby.internal:5432/rdb and ledger:pw on sla")
    assert not {"hunter2", "reader", "rdb", "pw", "sla"} & set(re.findall(r"\w+", text))
    assert "standby.internal" in text
