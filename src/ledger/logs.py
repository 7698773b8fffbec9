"""structlog, configured once: readable in a terminal, JSON lines otherwise."""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
_configured: tuple[str, str] | None = None
_generation = 0  # how many times logging was configured here; loggers rebind when it moves


def configure_logging(fmt: str = "auto", level: str = "info", stream: TextIO | None = None) -> None:
    """Configure structlog for the process; calling again with the same values does nothing.

    `fmt` is `console`, `json`, or `auto` (console when the stream is a terminal). Log lines
    go to standard error so that command output on standard output stays machine-readable.
    """
    global _configured, _generation  # noqa: PLW0603 - logging is process-wide state by nature
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
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    _configured = (fmt, level)
    _generation += 1


class _Logger:
    """A module-level logger that follows `configure_logging`, bound once per configuration.

    structlog's lazy proxy builds a new bound logger (context, printer, filter) for every call,
    some 4 µs even when the level drops the line.
    This one keeps the logger it bound until logging is configured again. The bound logger
    shares the configuration's processor list, which structlog's `capture_logs` changes in
    place, so captures still see every line.
    """

    __slots__ = ("_bound", "_generation", "_name", "_values")

    def __init__(self, name: str, values: dict[str, Any]) -> None:
        self._name = name
        self._values = values
        self._bound: Any = None
        self._generation = -1

    def _logger(self) -> Any:
        generation = _generation  # read once: a configuration made meanwhile rebinds next time
        if self._generation != generation:
            self._bound = structlog.get_logger(logger_name=self._name, **self._values).bind()
            self._generation = generation
        return self._bound

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logger(), name)


def get_logger(name: str, **bound: Any) -> Any:
    """A structlog logger for `name` with keys bound.

    A module-level logger follows `configure_logging` even when the module was imported before
    logging was configured (see `_Logger`).
    """
    return _Logger(name, bound)
