"""Module-level loggers follow the configuration, and captures see their lines."""

from __future__ import annotations

import io
import json
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
    logs._generation += 1


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.usefixtures("restored")
def test_a_module_logger_follows_every_configuration() -> None:
    log = get_logger("ledger.test", component="tests")
    first, second = io.StringIO(), io.StringIO()
    configure_logging("json", "warning", stream=first)
    log.info("dropped")
    log.warning("kept", n=1)
    configure_logging("json", "info", stream=second)
    log.info("now_kept", n=2)
    assert [(e["event"], e["n"], e["logger_name"], e["component"]) for e in lines(first)] == [
        ("kept", 1, "ledger.test", "tests")
    ]
    assert [(e["event"], e["level"]) for e in lines(second)] == [("now_kept", "info")]
    bound = log.bind(ticket="t-1")
    bound.info("with_more")
    assert lines(second)[-1]["ticket"] == "t-1"


@pytest.mark.usefixtures("restored")
def test_a_capture_sees_the_lines_of_a_logger_used_before_it() -> None:
    log = get_logger("ledger.test")
    configure_logging("json", "info", stream=io.StringIO())
    log.info("before")
    with capture_logs() as captured:
        log.info("during", n=3)
    assert [(e["event"], e["n"]) for e in captured] == [("during", 3)]
