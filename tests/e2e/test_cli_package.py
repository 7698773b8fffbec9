"""The `ledger` command as a package: every group is listed, and the application lives in
click's context for one run, never in a module."""

from __future__ import annotations

import importlib
import io
import pkgutil
from typing import TYPE_CHECKING, Any

import click

import ledger.cli
from ledger.application import SupportLedger
from ledger.cli import cli, main
from ledger.cli.support import Runtime, pass_runtime
from ledger.logs import configure_logging
from tests.e2e.cli import run

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

GROUPS = [
    "alerts", "audit", "calendar", "contract", "credits", "demo", "events", "projections",
    "releases", "report", "scheduler", "serve", "sla", "statement", "terms", "ticket", "tokens",
]  # fmt: skip


def cli_modules() -> list[Any]:
    """Every module of the `ledger.cli` package, imported."""
    names = [m.name for m in pkgutil.iter_modules(ledger.cli.__path__, "ledger.cli.")]
    return [ledger.cli, *(importlib.import_module(name) for name in names)]


def holds_a_ledger(value: Any) -> bool:
    """Whether `value` is an application, a runtime, or a container holding one."""
    if isinstance(value, SupportLedger | Runtime):
        return True
    if isinstance(value, list | tuple | set | frozenset):
        return any(holds_a_ledger(item) for item in value)
    if isinstance(value, dict):
        return any(holds_a_ledger(item) for item in value.values())
    return False


def test_help_lists_every_group() -> None:
    """`ledger --help` names every group of commands, each with its one-line help."""
    result = run("--help")
    assert result.code == 0
    listed = result.out.split("Commands:", 1)[1].split()
    assert [name for name in GROUPS if name not in listed] == []
    assert sorted(cli.commands) == GROUPS


def test_every_group_is_a_module_of_the_package() -> None:
    """Each group is defined in a module of `ledger.cli` (serve and tokens beside the API)."""
    modules = {m.__name__ for m in cli_modules()}
    assert {
        name: cli.commands[name].callback.__module__  # type: ignore[union-attr]
        for name in GROUPS
        if cli.commands[name].callback.__module__ not in modules  # type: ignore[union-attr]
    } == {"serve": "ledger.web.commands", "tokens": "ledger.web.commands"}


def module_globals_holding_a_ledger(modules: list[Any]) -> list[str]:
    """The module-level names that hold an application, or are declared to."""
    return [
        f"{module.__name__}.{name}"
        for module in modules
        for name, value in vars(module).items()
        if holds_a_ledger(value)
        or any(
            word in str(vars(module).get("__annotations__", {}).get(name, ""))
            for word in ("SupportLedger", "Runtime")
        )
    ]


def test_no_module_holds_an_application_during_or_after_a_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run builds the application in click's context and closes it at exit: no module of
    the CLI keeps one, while a command uses it or afterwards."""
    monkeypatch.setenv("LEDGER_DATABASE_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    monkeypatch.setenv("LEDGER_LOG_FORMAT", "json")
    monkeypatch.setenv("LEDGER_LOG_LEVEL", "warning")
    # the same logging as `main` configures, to a stream that outlives this test's capture
    configure_logging("json", "warning", stream=io.StringIO())
    modules = cli_modules()
    during: list[str] = []

    @click.command("probe")
    @pass_runtime
    def probe(runtime: Runtime) -> None:
        runtime.ledger.get_catalog()
        during.extend(module_globals_holding_a_ledger(modules))

    cli.add_command(probe)
    try:
        assert main(["probe"]) == 0
    finally:
        del cli.commands["probe"]
    assert main(["releases", "publish", "24.1.0", "--at", "2025-01-02T09:00:00Z", "--json"]) == 0
    assert '"24.1.0"' in capsys.readouterr().out
    assert during == []
    assert module_globals_holding_a_ledger(modules) == []


def test_the_application_is_built_on_first_use_and_closed_at_the_end_of_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command that needs no application (the terms) never builds one; one that does
    builds it on first use, and it is closed when the run ends."""
    monkeypatch.setenv("LEDGER_DATABASE_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    monkeypatch.setenv("LEDGER_LOG_LEVEL", "warning")
    runtime = Runtime()
    cli.main(["terms", "show", "--json"], standalone_mode=False, obj=runtime)
    assert not (tmp_path / "ledger.db").exists()
    assert not runtime.holds_ledger
    runtime = Runtime()
    cli.main(["releases", "list", "--json"], standalone_mode=False, obj=runtime)
    assert (tmp_path / "ledger.db").exists()
    assert not runtime.holds_ledger
