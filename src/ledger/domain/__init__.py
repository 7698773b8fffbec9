"""The domain: aggregates, rules and the business calendar (no I/O)."""
