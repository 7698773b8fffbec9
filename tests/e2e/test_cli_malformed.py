"""Every command of `ledger`, given malformed values, answers with a coded error: no traceback,
exit 1 (a value refused) or 2 (usage), and nothing recorded.

The commands run in this process (`ledger.cli.main` inside click's CliRunner isolation, with
logging configured beforehand on a stream of its own, as tests/e2e/test_cli_package.py does).
"""

from __future__ import annotations

import io
import itertools
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.cli import cli, main
from ledger.logs import configure_logging
from ledger.settings import parse_database_url
from ledger.wiring import open_ledger

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

SIGNED_AT = "2025-01-02T09:00:00Z"
LATER = "2025-03-10T10:00:00Z"
MALFORMED = ("not-a-date", "1e400", "1e26", "-5", "abc", "NaN", "Infinity")

# Options whose value is free text (a name, a reason, a key, a host, a file to write): any
# text is a value, so there is nothing malformed to give them.
FREE_TEXT = {"customer", "key", "reason", "actor", "activity", "topic", "name", "host",
             "output", "database", "reporter", "customer_filter"}  # fmt: skip
# Options where a wrong value is a recorded decline (exit 3), which is the ledger's answer.
DECLINED = {("ticket", "open", "platform"), ("ticket", "open", "version")}
# Commands that run until stopped once their values are accepted.
LONG_RUNNING = {("serve",), ("projections", "run"), ("scheduler", "run"), ("demo",)}


@dataclass
class Outcome:
    """What one in-process run of `ledger` answered."""

    code: int
    out: str
    err: str


class InProcess:
    """`ledger` run in this process on one SQLite file."""

    def __init__(self, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.url = f"sqlite:///{tmp / 'ledger.db'}"
        monkeypatch.setenv("LEDGER_DATABASE_URL", self.url)
        monkeypatch.setenv("LEDGER_LOG_FORMAT", "json")
        monkeypatch.setenv("LEDGER_LOG_LEVEL", "warning")
        monkeypatch.chdir(tmp)
        configure_logging("json", "warning", stream=io.StringIO())
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Outcome:
        """Run `ledger ARGS...`; an exception escaping `main` would be a traceback."""
        with self.runner.isolation() as streams:
            code = main(list(args))
        out, err = streams[0].getvalue(), streams[1].getvalue()
        return Outcome(code, out.decode(errors="replace"), err.decode(errors="replace"))

    def ok(self, *args: str) -> str:
        """The standard output of a command that must succeed."""
        result = self(*args)
        assert result.code == 0, result.err
        return result.out

    def recorded(self) -> int:
        """How many events the store holds."""
        app = open_ledger(parse_database_url(self.url))
        try:
            return int(app.recorder.max_notification_id() or 0)
        finally:
            app.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[InProcess, dict[str, str]]]:
    """A store with a contract, its contact, a consumption and a ticket, and the files some
    commands read; and the values that fill each command's required parameters."""
    tmp = tmp_path_factory.mktemp("malformed")
    patch = pytest.MonkeyPatch()
    ledger = InProcess(tmp, patch)
    try:
        ledger.ok("releases", "publish", "24.2.0", "--at", SIGNED_AT)
        ledger.ok("releases", "publish", "24.2.1", "--at", SIGNED_AT)
        contract = json.loads(ledger.ok(
            "contract", "sign", "--customer", "Malformed AG", "--tier", "premium",
            "--licenses", "2", "--list-price", "10000", "--start", "2025-01-01",
            "--key", "malformed", "--at", SIGNED_AT, "--json",
        ))["contract_id"]  # fmt: skip
        ledger.ok("contract", "contacts", "add", contract, "ann@acme.example", "--at", SIGNED_AT)
        ledger.ok("credits", "consume", contract, "--points", "1", "--activity", "a",
                  "--key", "used", "--at", "2025-02-03T10:00:00Z")  # fmt: skip
        ledger.ok("ticket", "open", "--contract", contract, "--reporter", "ann@acme.example",
                  "--version", "24.2.1", "--platform", "linux", "--key", "T-1",
                  "--at", "2025-03-03T08:15:00Z")  # fmt: skip
        (tmp / "calendar.json").write_text(
            json.dumps({"timezone": "Europe/Berlin", "weekly": {"mon": [["08:00", "18:00"]]}})
        )
        (tmp / "export.jsonl").write_text(ledger.ok("audit", "export"))
        (tmp / "terms.toml").write_text("")
        fill = {
            "contract_ref": contract, "aggregate_ref": contract, "reference": "T-1",
            "email": "bob@acme.example", "name": "credit_usage", "version": "24.2.5",
            "severity": "2", "token_id": "0123456789abcdef", "path": str(tmp / "terms.toml"),
            "file": str(tmp / "export.jsonl"), "names": "credit_usage",
            "customer": "Other AG", "tier": "advanced", "licenses": "1", "list_price": "100",
            "start": "2025-01-01", "calendar": str(tmp / "calendar.json"), "from_text": LATER,
            "to_text": "2025-03-10T12:00:00Z", "received": LATER, "reason": "r", "actor": "a",
            "activity": "a", "key": "k-new", "points": "1", "price": "10", "contract": contract,
            "reporter": "ann@acme.example", "platform": "linux", "as_of": LATER, "by": "tier",
            "role": "admin",
        }  # fmt: skip
        yield ledger, fill
    finally:
        patch.undo()


def commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The path of every command of the click tree under `group`."""
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))
        else:
            yield (*path, name)


def command_at(path: tuple[str, ...]) -> click.Command:
    """The click command at `path` in `ledger`'s tree."""
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


def valued_options(path: tuple[str, ...]) -> list[click.Option]:
    """The options of the command at `path` that take a value that can be malformed."""
    return [
        param
        for param in command_at(path).params
        if isinstance(param, click.Option)
        and not param.is_flag
        and param.name not in FREE_TEXT
        and (*path, param.name) not in DECLINED
        and "--help" not in param.opts
    ]


def required_arguments(path: tuple[str, ...], fill: dict[str, str], skip: str) -> list[str]:
    """Valid values for every required parameter of the command at `path` but `skip`."""
    args: list[str] = []
    for param in command_at(path).params:
        if not param.required or param.name == skip:
            continue
        value = fill.get(str(param.name), "x")
        if isinstance(param, click.Option):
            args += [param.opts[0], value]
        else:
            args.append(value)
    return args


CASES = [
    pytest.param(path, option.name, id=f"{' '.join(path)} {option.opts[0]}")
    for path in commands(cli)
    for option in valued_options(path)
]


def test_every_command_with_a_value_is_walked() -> None:
    """The walk covers every group's commands (a command without such options is listed)."""
    walked = {case.values[0] for case in CASES}
    assert ("credits", "purchase") in walked
    assert ("calendar", "add") in walked
    assert ("audit", "export") in walked
    assert len(walked) > 40


@pytest.mark.parametrize(("path", "option_name"), CASES)
def test_a_malformed_value_is_refused_without_a_traceback(
    world: tuple[InProcess, dict[str, str]], path: tuple[str, ...], option_name: str
) -> None:
    """Each malformed value of the option exits 1 or 2 with a coded error and records nothing."""
    ledger, fill = world
    option = next(p for p in command_at(path).params if p.name == option_name)
    base = required_arguments(path, fill, skip=option_name)
    before = ledger.recorded()
    answers = {}
    for value in MALFORMED:
        if path in LONG_RUNNING and isinstance(option.type, click.types.StringParamType):
            continue
        result = ledger(*path, *base, option.opts[0], value)
        answers[value] = (result.code, result.err.strip().splitlines()[-1:])
        assert "Traceback" not in result.err, result.err
    assert {code for code, _ in answers.values()} <= {1, 2}, answers
    assert ledger.recorded() == before


NUMERIC = {
    ("credits", "purchase"): ("--points", "--price"),
    ("contract", "sign"): ("--licenses", "--list-price"),
    ("calendar", "add"): ("--hours", "--seconds"),
}
numbers = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.floats().map(str),
    st.integers().map(str),
    st.builds(lambda m, e: f"{m}e{e}", st.integers(-99, 99), st.integers(-500, 500)),
    st.text(max_size=12),
)
_keys = itertools.count()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_numeric_options_answer_a_result_or_a_coded_refusal(
    world: tuple[InProcess, dict[str, str]], data: st.DataObject
) -> None:
    """Whatever number (or text) is given to --points, --price, --licenses, --list-price or
    --hours, the command succeeds (0) or refuses it (1), and records nothing when it refuses."""
    ledger, fill = world
    path = data.draw(st.sampled_from(sorted(NUMERIC)))
    option = data.draw(st.sampled_from(NUMERIC[path]))
    value = data.draw(numbers)
    base = {
        ("credits", "purchase"): [fill["contract_ref"], "--points", "1", "--price", "10"],
        ("contract", "sign"): ["--customer", "Fuzz AG", "--tier", "premium", "--licenses", "1",
                               "--list-price", "100", "--start", "2025-01-01"],
        ("calendar", "add"): ["--calendar", fill["calendar"], "--start", LATER],
    }[path]  # fmt: skip
    if option in base:
        base = [*base[: base.index(option)], *base[base.index(option) + 2 :]]
    key = [] if path == ("calendar", "add") else ["--key", f"fuzz-{next(_keys)}", "--at", LATER]
    before = ledger.recorded()

    result = ledger(*path, *base, *key, f"{option}={value}")

    assert "Traceback" not in result.err, result.err
    assert result.code in {0, 1}, (value, result.err)
    if result.code != 0:
        assert ledger.recorded() == before
