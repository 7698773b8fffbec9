"""ledger: an event-sourced SLA and support-credit ledger for software support contracts."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ledger")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
