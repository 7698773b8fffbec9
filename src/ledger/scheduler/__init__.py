"""The scheduler: due facts recorded once, on time, by one leader."""
