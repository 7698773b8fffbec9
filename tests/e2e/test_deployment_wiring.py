"""docker-compose.yml and the Dockerfile name only what the project has.

No Docker engine is needed: the files are read, every command they give the `ledger` script
is run with `--help` (click parses the options given, then prints the help), every
`LEDGER_*` variable set must be one the settings read (and its value must parse), and the
API's health check must name a public route of the application that answers.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from ledger.settings import Settings, parse_database_url
from ledger.web.app import create_app
from ledger.web.auth import Public
from tests.e2e.cli import run
from tests.web.conftest import TestClient
from tests.web.test_roles import api_routes

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
PYPROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
LEDGER_SERVICES = ("api", "projector", "scheduler", "alerts")
INTERPOLATED = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions (keyword, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE)
    found = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, arguments = stripped.partition(" ")
            found.append((keyword.upper(), arguments.strip()))
    return found


def final_stage() -> list[tuple[str, str]]:
    """The instructions of the image that ships (after the last FROM)."""
    steps = instructions()
    last = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last:]


def exec_form(arguments: str) -> list[str]:
    """An instruction in exec (JSON) form, as a list."""
    value = json.loads(arguments)
    assert isinstance(value, list), arguments
    return [str(v) for v in value]


def interpolated(value: str) -> str:
    """A compose value with `${VAR:-default}` replaced by its default."""
    return INTERPOLATED.sub(lambda m: m.group(2) or "", value)


def settings_variables() -> set[str]:
    """Every LEDGER_* variable `Settings.from_env` (or the alert worker's settings) reads."""
    source = (ROOT / "src" / "ledger" / "settings.py").read_text() + "".join(
        path.read_text() for path in (ROOT / "src" / "ledger" / "alerts").glob("*.py")
    )
    return set(re.findall(r'"(LEDGER_[A-Z_]+)"', source))


def test_compose_runs_postgres_and_the_three_ledger_services() -> None:
    """postgres with a volume and a health check; api, projector, scheduler after it (and,
    only in a profile, the optional standby)."""
    services = COMPOSE["services"]
    assert {name for name, s in services.items() if "profiles" not in s} == {
        "postgres", *LEDGER_SERVICES,
    }  # fmt: skip
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:15"
    assert postgres["healthcheck"]["test"]
    volume = postgres["volumes"][0].split(":")[0]
    assert volume in COMPOSE["volumes"]
    for name in LEDGER_SERVICES:
        service = services[name]
        assert service["build"] == "."
        assert service["depends_on"] == {"postgres": {"condition": "service_healthy"}}
        assert service["restart"] in {"unless-stopped", "always", "on-failure"}


@pytest.mark.parametrize("name", LEDGER_SERVICES)
def test_every_command_compose_gives_is_one_the_ledger_command_has(name: str) -> None:
    """`ledger <command> --help` succeeds for each service's command and options."""
    command = COMPOSE["services"][name]["command"]
    arguments = command if isinstance(command, list) else shlex.split(command)
    answer = run(*arguments, "--help")
    assert answer.code == 0, answer.err
    assert answer.out.startswith("Usage: ledger ")


def test_the_services_do_what_the_issue_asks() -> None:
    """The API listens on every interface of its container; projector and scheduler run."""
    services = COMPOSE["services"]
    every_interface = "0.0.0.0"  # noqa: S104 - inside its container, behind the port mapping
    assert services["api"]["command"][:3] == ["serve", "--host", every_interface]
    assert services["projector"]["command"] == ["projections", "run"]
    assert services["scheduler"]["command"] == ["scheduler", "run"]
    assert services["alerts"]["command"] == ["alerts", "run"]


@pytest.mark.parametrize("name", LEDGER_SERVICES)
def test_every_ledger_variable_compose_sets_is_read_by_the_settings(name: str) -> None:
    """Only LEDGER_* names the settings know, with values they accept: PostgreSQL at the
    compose service, with its database and user."""
    environment = COMPOSE["services"][name]["environment"]
    env = {key: interpolated(str(value)) for key, value in environment.items()}
    ledger_names = {key for key in env if key.startswith("LEDGER_")}
    assert ledger_names <= settings_variables(), ledger_names - settings_variables()
    assert "LEDGER_DATABASE_URL" in ledger_names
    settings = Settings.from_env(env)
    postgres = COMPOSE["services"]["postgres"]["environment"]
    database = settings.database
    assert (database.backend, database.host, database.port) == ("postgresql", "postgres", 5432)
    assert (database.dbname, database.user) == (postgres["POSTGRES_DB"], postgres["POSTGRES_USER"])
    assert database.password == interpolated(postgres["POSTGRES_PASSWORD"])


def test_the_optional_standby_streams_from_the_primary_that_allows_it() -> None:
    """postgres-replica (profile `replica`) copies `postgres` with pg_basebackup -R, runs as a
    hot standby with a volume and a health check; the primary's init script it relies on
    exists and allows replication; the read URL the file documents is one the settings take."""
    services = COMPOSE["services"]
    replica = services["postgres-replica"]
    assert replica["profiles"] == ["replica"]
    assert replica["image"] == services["postgres"]["image"]
    assert replica["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert replica["volumes"][0].split(":")[0] in COMPOSE["volumes"]
    assert replica["healthcheck"]["test"]
    script = replica["command"][-1]
    backup = next(line.split() for line in script.splitlines() if "pg_basebackup" in line)
    assert {"-R", "-X"} <= set(backup)
    assert backup[backup.index("-h") + 1] == "postgres"
    assert backup[backup.index("-U") + 1] == services["postgres"]["environment"]["POSTGRES_USER"]
    assert "exec postgres -D" in script
    assert "hot_standby=on" in script
    used = set(re.findall(r"\$\$(\w+)", script))
    assert used <= set(replica["environment"]), used - set(replica["environment"])
    mounted = [v for v in services["postgres"]["volumes"] if "docker-entrypoint-initdb.d" in v]
    source = ROOT / mounted[0].split(":")[0]
    assert source.is_file()
    assert "host replication ${POSTGRES_USER} all" in source.read_text()
    documented = re.search(
        r"LEDGER_READ_DATABASE_URL=(\S+)", (ROOT / "docker-compose.yml").read_text()
    )
    assert documented is not None
    env = {
        "LEDGER_DATABASE_URL": interpolated(services["api"]["environment"]["LEDGER_DATABASE_URL"]),
        "LEDGER_READ_DATABASE_URL": documented.group(1),
    }
    reads = Settings.from_env(env).read_database
    assert reads is not None
    assert (reads.host, reads.port) == ("postgres-replica", 5432)


def test_the_scheduler_anchors_the_chain_when_compose_is_given_a_target() -> None:
    """The scheduler has LEDGER_ANCHOR_KEY, LEDGER_ANCHOR_TO and LEDGER_ANCHOR_EVERY_MINUTES
    (off while the target is empty) and a volume for an anchors file; with a target and a key
    given, the settings parse into a plan every 15 minutes."""
    from ledger.audit.anchors import anchor_plan  # noqa: PLC0415 - what the scheduler reads

    scheduler = COMPOSE["services"]["scheduler"]
    environment = {key: str(value) for key, value in scheduler["environment"].items()}
    names = {"LEDGER_ANCHOR_KEY", "LEDGER_ANCHOR_TO", "LEDGER_ANCHOR_EVERY_MINUTES"}
    assert names <= set(environment)
    assert anchor_plan({k: interpolated(v) for k, v in environment.items()}) is None
    given = {
        **{k: interpolated(v) for k, v in environment.items()},
        "LEDGER_ANCHOR_TO": "https://anchors.example/ledger",
        "LEDGER_ANCHOR_KEY": "k" * 32,
    }
    plan = anchor_plan(given)
    assert plan is not None
    assert plan.every_minutes == 15
    assert any(v.endswith(":/anchors") for v in scheduler["volumes"])
    assert scheduler["volumes"][0].split(":")[0] in COMPOSE["volumes"]


def test_the_api_health_check_names_a_public_route_that_answers(tmp_path: Path) -> None:
    """The health check fetches, on the port the API listens on, a public path of the app."""
    api = COMPOSE["services"]["api"]
    probe = " ".join(api["healthcheck"]["test"])
    assert api["healthcheck"]["test"][:2] == ["CMD", "python"]  # no curl in python:*-slim
    match = re.search(r"http://127\.0\.0\.1:(\d+)(/[\w/]*)", probe)
    assert match is not None, probe
    port, path = match.group(1), match.group(2)
    command = api["command"]
    listens = command[command.index("--port") + 1] if "--port" in command else "8000"
    assert port == listens
    assert any(mapping.endswith(f":{port}") for mapping in api["ports"])
    exposed = [arguments for keyword, arguments in final_stage() if keyword == "EXPOSE"]
    assert exposed == [port]
    app = create_app(Settings(database=parse_database_url(f"sqlite:///{tmp_path / 'l.db'}")))
    declared = [route for route in api_routes() if route.path == path and "GET" in route.methods]
    assert len(declared) == 1, path
    assert [type(rule) for rule in declared[0].rules] == [Public]
    with TestClient(app) as client:
        assert client.get(path).status_code == 200


def test_the_image_installs_this_project_and_runs_its_script() -> None:
    """python:3.11-slim; the project's wheels only, without the dev extra; a user without
    privileges; the `ledger` script of pyproject.toml as the entry point."""
    steps = final_stage()
    assert steps[0] == ("FROM", "python:3.11-slim")
    name = PYPROJECT["project"]["name"]
    scripts = PYPROJECT["project"]["scripts"]
    installs = [arguments for keyword, arguments in steps if "pip install" in arguments]
    assert len(installs) == 1
    assert re.search(rf"pip install --no-index --find-links /wheels {name}\b", installs[0])
    assert "[dev]" not in DOCKERFILE
    assert "apt-get" not in DOCKERFILE
    built = [arguments for keyword, arguments in instructions() if "pip wheel" in arguments]
    assert built == ["pip wheel --wheel-dir /wheels ."]
    users = [arguments for keyword, arguments in steps if keyword == "USER"]
    assert users
    assert users[-1] not in {"root", "0"}
    entry = exec_form(next(arguments for keyword, arguments in steps if keyword == "ENTRYPOINT"))
    assert len(entry) == 1
    assert entry[0] in scripts
    assert scripts[entry[0]] == "ledger.cli:main"
    default = exec_form(next(arguments for keyword, arguments in steps if keyword == "CMD"))
    assert run(*default, "--help").code == 0


def test_the_build_context_holds_what_the_build_copies() -> None:
    """.dockerignore keeps out the virtualenv, git and databases, not what COPY needs."""
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "*.db"} <= ignored
    copied = {
        part
        for keyword, arguments in instructions()
        if keyword == "COPY" and "--from" not in arguments
        for part in arguments.split()[:-1]
    }
    assert copied == {"pyproject.toml", "README.md", "src"}
    assert not copied & ignored
    assert PYPROJECT["project"]["readme"] in copied
    for part in copied:
        assert (ROOT / part).exists()
