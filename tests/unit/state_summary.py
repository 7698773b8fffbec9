"""An aggregate's state as plain JSON values, whatever types hold it (dicts or value objects)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID


def plain(value: Any) -> Any:
    """`value` as JSON values: value objects and dicts as dicts, enums as their values."""
    if isinstance(value, Enum):
        return plain(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    if isinstance(value, datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, UUID):
        return {"uuid": str(value)}
    if value is None or isinstance(value, str | int | bool):
        return value
    msg = f"no plain form for {type(value).__name__}: {value!r}"
    raise TypeError(msg)


def summary(aggregate: Any) -> dict[str, Any]:
    """Every attribute of the aggregate but its pending events, as plain values."""
    state = {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}
    return {"class": type(aggregate).__qualname__, "state": plain(state)}
