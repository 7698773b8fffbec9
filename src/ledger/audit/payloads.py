"""The fields of an export's payloads, read strictly: a field missing or of another kind is named.

The re-derivation (`ledger.audit.rederivation`) reads every payload through these, and turns a
`PayloadError` into an `InvalidInputError` naming the line of the export.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class PayloadError(Exception):
    """A payload field missing or of the wrong kind (turned into InvalidInputError per line)."""


def read_field(payload: dict[str, Any], name: str) -> Any:
    """The field `name` of a payload (or of an item in it)."""
    if name not in payload:
        raise PayloadError(f"payload has no {name}")
    return payload[name]


def read_text(value: Any, name: str) -> str:
    """Text."""
    if not isinstance(value, str):
        raise PayloadError(f"{name}: expected text, got {value!r}")
    return value


def read_integer(value: Any, name: str) -> int:
    """A whole number (not a boolean)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise PayloadError(f"{name}: expected a whole number, got {value!r}")
    return value


def read_decimal(value: Any, name: str) -> Decimal:
    """An exact amount: a decimal string as the export writes it (or a whole number)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise PayloadError(f"{name}: expected a decimal string, got {value!r}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite():
        raise PayloadError(f"{name}: {value!r} is not a decimal number")
    return number


def read_optional_decimal(value: Any, name: str) -> Decimal | None:
    """An exact amount, or None."""
    return None if value is None else read_decimal(value, name)


def read_instant(value: Any, name: str) -> datetime:
    """An ISO 8601 instant with an offset, in UTC."""
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.utcoffset() is None:
        raise PayloadError(f"{name}: {value!r} is not an ISO 8601 instant with an offset")
    return parsed.astimezone(UTC)


def read_optional_instant(value: Any, name: str) -> datetime | None:
    """An instant, or None."""
    return None if value is None else read_instant(value, name)


def read_uuid(value: Any, name: str) -> UUID:
    """An id (a UUID in its text form)."""
    if isinstance(value, str):
        try:
            return UUID(value)
        except ValueError:
            pass
    raise PayloadError(f"{name}: {value!r} is not an id (a UUID)")


def read_items(value: Any, name: str) -> list[dict[str, Any]]:
    """A list of objects."""
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise PayloadError(f"{name}: expected a list of objects, got {value!r}")
    return value


def sum_amounts(items: list[dict[str, Any]], name: str, *, only: str | None = None) -> Decimal:
    """The sum of the `amount` of each item (of those whose `only` flag is true)."""
    total = Decimal(0)
    for index, item in enumerate(items):
        if only is not None and not read_field(item, only):
            continue
        total += read_decimal(read_field(item, "amount"), f"{name}[{index}].amount")
    return total


def read_zone(name: str) -> ZoneInfo:
    """An IANA timezone by its name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise PayloadError(f"timezone: {name!r} is not an IANA timezone") from None
