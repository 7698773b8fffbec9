"""Alerts: subscriptions' secrets, the outbox fed from the log, the channels, the worker."""
