"""`ledger serve` and `ledger tokens ...`: the HTTP API and its bearer tokens.

The commands are defined beside the API in `ledger.web.commands`, which runs them on its own
too (`python -m ledger.web.commands`); the `ledger` command adds them from here.
"""

from ledger.web.commands import serve, tokens

COMMANDS = (serve, tokens)
