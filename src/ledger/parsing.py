"""Reading values people type (CLI options, API fields, calendar files), naming them in errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from ledger.domain.errors import (
    InvalidAmountError,
    InvalidDurationError,
    InvalidInputError,
    NaiveDatetimeError,
)

# The largest amount (points, money) and whole number the ledger takes: far beyond any real
# figure, and small enough that every sum and share of them stays exact to the cent.
MAX_AMOUNT = Decimal(10) ** 15
MAX_WHOLE = 10**9
# The longest duration in hours (about 114 years of wall time).
MAX_HOURS = Decimal(1_000_000)


def parse_instant(text: str, name: str = "instant") -> datetime:
    """An aware instant from ISO 8601 text (`2025-03-03T09:00:00+01:00` or `...Z`), in UTC."""
    try:
        value = datetime.fromisoformat(str(text).strip())
    except ValueError:
        raise InvalidInputError(
            f"{name}: {text!r} is not an ISO 8601 instant like 2025-03-03T09:00:00+01:00"
        ) from None
    if value.tzinfo is None or value.utcoffset() is None:
        example = str(text).strip() if "T" in str(text) else f"{str(text).strip()}T00:00:00"
        raise NaiveDatetimeError(
            f"{name}: {text!r} has no UTC offset; add one, e.g. {example}Z or {example}+01:00"
        )
    value = value.astimezone(UTC)
    from ledger.domain.base import within_years  # noqa: PLC0415 - eventsourcing loads slowly

    within_years(value.year, name, str(text).strip())
    return value


def parse_date(text: str, name: str = "date") -> date:
    """A calendar date from ISO text `YYYY-MM-DD`."""
    try:
        value = date.fromisoformat(str(text).strip())
    except ValueError:
        raise InvalidInputError(f"{name}: {text!r} is not a date like 2025-03-01") from None
    from ledger.domain.base import within_years  # noqa: PLC0415 - eventsourcing loads slowly

    within_years(value.year, name, value.isoformat())
    return value


def parse_decimal(text: str | int | Decimal, name: str, *, positive: bool = False) -> Decimal:
    """An exact decimal amount; `positive` refuses zero and negatives, else only negatives."""
    if isinstance(text, float):
        raise InvalidInputError(f"{name}: give amounts as text or integers, not floats")
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise InvalidInputError(f"{name}: {text!r} is not a decimal number") from None
    if not value.is_finite():
        raise InvalidInputError(f"{name}: {text!r} is not a finite number")
    if abs(value) >= MAX_AMOUNT:
        raise InvalidAmountError(f"{name}: must be less than {MAX_AMOUNT:,.0f}, got {text}")
    if positive and value <= 0:
        raise InvalidAmountError(f"{name}: must be greater than zero, got {value}")
    if value < 0:
        raise InvalidAmountError(f"{name}: must not be negative, got {value}")
    return value


def parse_int(
    text: str | int, name: str, *, minimum: int | None = None, maximum: int = MAX_WHOLE
) -> int:
    """A whole number, at least `minimum` when given and at most `maximum`."""
    try:
        value = int(str(text).strip())
    except ValueError:
        raise InvalidInputError(f"{name}: {text!r} is not a whole number") from None
    if minimum is not None and value < minimum:
        raise InvalidInputError(f"{name}: must be at least {minimum}, got {value}")
    if value > maximum:
        raise InvalidInputError(f"{name}: must be at most {maximum:,}, got {value}")
    return value


def parse_hours(text: str | int | Decimal, name: str = "hours") -> timedelta:
    """A non-negative duration in hours (decimals allowed, exact to the microsecond)."""
    try:
        hours = parse_decimal(text, name)
    except InvalidAmountError as exc:
        raise InvalidDurationError(exc.message) from None
    if hours > MAX_HOURS:
        raise InvalidDurationError(f"{name}: at most {MAX_HOURS:,.0f} hours, got {text}")
    micro = hours * 3_600_000_000
    if micro != micro.to_integral_value():
        raise InvalidInputError(f"{name}: {text} hours is not a whole number of microseconds")
    return timedelta(microseconds=int(micro))


def format_instant(value: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, as every JSON output writes instants."""
    text = value.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")
