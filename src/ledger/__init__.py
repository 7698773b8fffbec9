"""ledger: an event-sourced SLA and support-credit ledger for software support contracts."""

from __future__ import annotations

from functools import cache


@cache
def _version() -> str:
    """The installed package's version (read on first use: the metadata is slow to load)."""
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415 - see above

    try:
        return version("ledger")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0.0.0"


def __getattr__(name: str) -> str:
    """`ledger.__version__`, looked up when first asked for."""
    if name == "__version__":
        return _version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
