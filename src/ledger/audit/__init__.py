"""For auditors: the hash chain over the log, as-of replay, export and re-derivation."""
