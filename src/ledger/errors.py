"""Errors of the machinery around the domain: settings that cannot be used, a store out of reach."""

from __future__ import annotations

from ledger.domain.errors import LedgerError


class ConfigurationError(LedgerError):
    """A setting (environment variable) that cannot be used."""

    code = "invalid_configuration"


class StoreUnavailableError(LedgerError):
    """The database could not be reached or used (exit code 4 in the CLI, 503 in the API)."""

    code = "store_unavailable"
    kind = "unavailable"


class ChainBehindError(LedgerError):
    """The audit chain ends before the log: a save is refused until the chain is whole."""

    code = "chain_behind"
    kind = "conflict"
