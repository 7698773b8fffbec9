"""Module loggers bind to the configuration at their first use; captures see their lines."""

from __future__ import annotations

import io
import json
import sys
from typing import TYPE_CHECKING

import pytest
import structlog
from structlog.testing import capture_logs

from ledger import logs
from ledger.logs import configure_logging, get_logger

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def restored() -> Iterator[None]:
    """Logging configured as it was before the test (it is process-wide)."""
    saved, configured = structlog.get_config(), logs._configured
    yield
    structlog.configure(**saved)
    logs._configured = configured


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.usefixtures("restored")
def test_a_module_logger_made_before_logging_is_configured_follows_the_configuration() -> None:
    """A logger made at import time writes with the level, format, stream and keys in force
    when it is first used, and keeps them (structlog's `cache_logger_on_first_use`)."""
    log = get_logger("ledger.test", component="tests")
    first, second = io.StringIO(), io.StringIO()
    configure_logging("json", "warning", stream=first)
    log.info("dropped")
    log.warning("kept", n=1)
    bound = log.bind(ticket="t-1")
    bound.warning("with_more")
    assert [(e["event"], e["logger_name"], e["component"]) for e in lines(first)] == [
        ("kept", "ledger.test", "tests"),
        ("with_more", "ledger.test", "tests"),
    ]
    assert lines(first)[0]["n"] == 1
    assert lines(first)[-1]["ticket"] == "t-1"
    configure_logging("json", "info", stream=second)
    fresh = get_logger("ledger.fresh")
    fresh.info("now_kept", n=2)
    log.warning("cached", n=3)  # bound at its first use: the first configuration
    assert [(e["event"], e["level"]) for e in lines(second)] == [("now_kept", "info")]
    assert lines(first)[-1]["event"] == "cached"


@pytest.mark.usefixtures("restored")
def test_configuring_again_with_the_same_values_changes_nothing() -> None:
    """The CLI configures logging at every command: a second, equal configuration is a no-op;
    one to a given stream (a test's) is not the same as one to standard error."""
    configure_logging("json", "info")
    configured = structlog.get_config()
    configure_logging("json", "info")
    assert structlog.get_config() == configured
    stream = io.StringIO()
    configure_logging("json", "info", stream=stream)
    configure_logging("json", "info")
    get_logger("ledger.test.again").info("to_standard_error")
    assert stream.getvalue() == ""


@pytest.mark.usefixtures("restored")
def test_a_capture_sees_the_lines_of_a_logger_used_before_it() -> None:
    """A logger bound before `capture_logs` shares the processors the capture replaces."""
    log = get_logger("ledger.test")
    configure_logging("json", "info", stream=io.StringIO())
    log.info("before")
    with capture_logs() as captured:
        log.info("during", n=3)
    assert [(e["event"], e["n"]) for e in captured] == [("during", 3)]


@pytest.mark.usefixtures("restored")
def test_a_logger_configured_for_standard_error_writes_to_it_as_it_is_now(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A logger first used while standard error was a stream since closed (a test's capture, a
    CLI runner) writes to standard error as it is at each line, never to the closed stream."""
    log = get_logger("ledger.test.stderr")
    earlier, later = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stderr", earlier)
    configure_logging("json", "info")
    log.info("first")
    earlier.close()
    monkeypatch.setattr("sys.stderr", later)
    log.info("second")
    assert [e["event"] for e in lines(later)] == ["second"]


@pytest.mark.usefixtures("restored")
def test_a_log_line_during_a_progress_bar_comes_out_whole_above_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A line logged while a bar is drawn on a terminal is printed above the bar, whole, and the
    bar goes on below it (the logger writes to standard error as it is at each line, which
    the bar takes over while it is drawn)."""
    from rich.console import Console  # noqa: PLC0415 - only here
    from rich.progress import Progress  # noqa: PLC0415 - only here

    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=80, color_system=None)
    # standard error as a run starts with it (not a bar's proxy left by an earlier test)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    configure_logging("json", "warning")
    log = get_logger("ledger.progress")
    with Progress(console=terminal, transient=True) as bar:
        task = bar.add_task("replaying", total=10)
        bar.update(task, completed=3)
        bar.refresh()
        log.warning("halfway_warning", done=3)
        bar.update(task, completed=10)
    out = screen.getvalue()
    # The bar's line is erased, the log line printed in its place, then the bar drawn again.
    erased_then_logged = '\r\x1b[2K{"done": 3, "event": "halfway_warning"'
    assert out.count(erased_then_logged) == 1
    after = out[out.index(erased_then_logged) :]
    line_end = after.index('Z"}\n') + len('Z"}\n')
    assert "replaying" not in after[:line_end]
    assert after[line_end:].startswith("replaying")
