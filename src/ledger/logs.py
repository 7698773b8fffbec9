"""structlog, configured once: readable in a terminal, JSON lines otherwise."""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO, cast

import structlog

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
_configured: tuple[str, str] | None = None


class _StandardError:
    """Standard error as it is when a line is written, not when the logger was bound.

    A logger keeps its configuration from its first use; what `sys.stderr` is may change after
    that (a test's capture, a CLI runner), and a stream captured then may be closed since.
    """

    def write(self, text: str) -> int:
        """Write `text` to the current standard error."""
        return sys.stderr.write(text)

    def flush(self) -> None:
        """Flush the current standard error."""
        sys.stderr.flush()


def configure_logging(fmt: str = "auto", level: str = "info", stream: TextIO | None = None) -> None:
    """Configure structlog for the process; calling again with the same values does nothing.

    `fmt` is `console`, `json`, or `auto` (console when the stream is a terminal). Log lines
    go to standard error so that command output on standard output stays machine-readable.
    A logger keeps the configuration in force when it is first used (structlog's
    `cache_logger_on_first_use`): configure logging once, before logging anything.
    """
    global _configured  # noqa: PLW0603 - logging is process-wide state by nature
    out = stream or sys.stderr
    if fmt == "auto":
        fmt = "console" if out.isatty() else "json"
    if _configured == (fmt, level) and stream is None:
        return
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=out.isatty())
        if fmt == "console"
        else structlog.processors.JSONRenderer(sort_keys=True)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        # PrintLogger only writes and flushes: standard error looked up at each line will do.
        logger_factory=structlog.PrintLoggerFactory(
            file=stream or cast("TextIO", _StandardError())
        ),
        cache_logger_on_first_use=True,
    )
    _configured = (fmt, level)


def get_logger(name: str, **bound: Any) -> Any:
    """A structlog logger for `name` with keys bound.

    It is structlog's lazy proxy, so a module-level logger made before logging is configured
    binds to the configuration at its first use, and keeps that logger from then on.
    """
    return structlog.get_logger(logger_name=name, **bound)
