"""structlog, configured once: readable in a terminal, JSON lines otherwise.

structlog is imported when a logger is first asked for, not before: a command that logs
nothing (`ledger --help`) does not pay for it. The configuration asked for before then is
applied at that moment.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any, TextIO, cast

if TYPE_CHECKING:
    from types import ModuleType

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
_configured: tuple[str, str] | None = None
# The configuration asked for before structlog was loaded: format, level, stream, colours.
_pending: tuple[str, str, TextIO | None, bool] | None = None


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
    `cache_logger_on_first_use`): configure logging once, before logging anything. Until
    structlog is loaded (by `get_logger`), the configuration waits and is applied then.
    """
    global _pending  # noqa: PLW0603 - logging is process-wide state by nature
    out = stream or sys.stderr
    if fmt == "auto":
        fmt = "console" if out.isatty() else "json"
    if _configured == (fmt, level) and stream is None:
        return
    if "structlog" in sys.modules:
        _pending = None
        _apply(fmt, level, stream, colors=out.isatty())
    else:
        _pending = (fmt, level, stream, out.isatty())


def _apply(fmt: str, level: str, stream: TextIO | None, *, colors: bool) -> None:
    """Configure structlog now."""
    global _configured  # noqa: PLW0603 - logging is process-wide state by nature
    structlog = _structlog()
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=colors)
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
    # Only the configuration to standard error counts as "already so": one to a given stream
    # must not make a later call for standard error with the same values a no-op.
    _configured = (fmt, level) if stream is None else None


def _structlog() -> ModuleType:
    """structlog, loaded on first use, with the configuration that waited for it applied."""
    global _pending  # noqa: PLW0603 - logging is process-wide state by nature
    import structlog  # noqa: PLC0415 - loaded when first needed, not at start-up

    if _pending is not None:
        fmt, level, stream, colors = _pending
        _pending = None
        _apply(fmt, level, stream, colors=colors)
    return structlog


def get_logger(name: str, **bound: Any) -> Any:
    """A structlog logger for `name` with keys bound.

    It is structlog's lazy proxy, so a module-level logger made before logging is configured
    binds to the configuration at its first use, and keeps that logger from then on.
    """
    return _structlog().get_logger(logger_name=name, **bound)
