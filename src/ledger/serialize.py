"""Plain JSON for every output: instants in UTC with Z, decimals as exact strings."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from ledger.parsing import format_instant


def jsonable(value: Any) -> Any:
    """`value` turned into JSON-native data, recursively."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, datetime):
        return format_instant(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(jsonable(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    raise TypeError(f"cannot turn {type(value).__name__} into JSON")


def format_decimal(value: Decimal) -> str:
    """A decimal without exponent or trailing zeros beyond what it means (`12.50` -> `12.5`)."""
    normal = value.normalize()
    text = f"{normal:f}"
    return "0" if text in {"-0", "0"} else text


def dumps(value: Any, *, indent: int | None = 2) -> str:
    """JSON text of `value`."""
    return json.dumps(jsonable(value), indent=indent, ensure_ascii=False)
