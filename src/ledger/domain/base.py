"""What every aggregate shares: deterministic ids, instants and amounts checked at the door."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from ledger.domain.calendar import require_aware
from ledger.domain.errors import (
    InvalidAmountError,
    InvalidEmailError,
    InvalidInputError,
    OutOfOrderError,
)

# Deterministic ids are uuid5 in this namespace; it never changes.
NAMESPACE = UUID("7d0c52a4-3c47-5a0e-9d5e-4c1b0e3c2a10")
CENT = Decimal("0.01")
MAX_AMOUNT = Decimal(1_000_000_000_000)  # points and money: a trillion is a typing mistake
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@lru_cache(maxsize=4096)
def deterministic_id(kind: str, key: str) -> UUID:
    """The id of the `kind` aggregate with natural key `key` (idempotent ingestion):
    `uuid5(NAMESPACE, f"{kind}:{key}")`, cached (a use case asks for the same id several times)."""
    return uuid5(NAMESPACE, f"{kind}:{key}")


FIRST_YEAR, LAST_YEAR = 1970, 2999  # instants outside are typing mistakes, not business


def instant(value: datetime, name: str = "at") -> datetime:
    """An aware instant in UTC; naive datetimes and years outside 1970-2999 are refused."""
    if type(value) is not datetime or value.tzinfo is not UTC:  # else already aware UTC
        value = require_aware(value, name).astimezone(UTC)
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        within_years(value.year, name, value.isoformat())
    return value


def within_years(year: int, name: str, shown: str) -> None:
    """Refuse a year outside 1970-2999 (the arithmetic of terms and deadlines needs room)."""
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidInputError(f"{name}: {shown} is outside the years {FIRST_YEAR}-{LAST_YEAR}")


def clean_text(value: object, name: str, *, limit: int = 1000) -> str:
    """Text a person typed, stripped: no control characters, at most `limit` characters."""
    text = str(value).strip()
    # Printable text has no control characters or surrogates; only other text is scanned.
    if not text.isprintable() and any(unicodedata.category(c) in {"Cc", "Cs"} for c in text):
        raise InvalidInputError(f"{name}: control characters are not allowed")
    if len(text) > limit:
        raise InvalidInputError(f"{name}: at most {limit} characters")
    return text


def money(value: Decimal) -> Decimal:
    """An amount of money rounded half-up to cents."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def points(value: Decimal) -> Decimal:
    """Support points, rounded half-up to hundredths (the ledger's smallest unit of points)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def show(amount: Decimal) -> str:
    """An amount for a message: `2.00` as `2`, `12.50` as `12.5`."""
    text = f"{amount.normalize():f}"
    return "0" if text in {"-0", "0"} else text


def positive_points(value: Decimal, name: str = "points") -> Decimal:
    """Points that must be greater than zero and exact to hundredths."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidAmountError(f"{name} must be a decimal number, got {value!r}")
    if value <= 0:
        raise InvalidAmountError(f"{name} must be greater than zero, got {value}")
    if value != value.quantize(CENT):
        raise InvalidAmountError(f"{name} can have at most two decimal places, got {value}")
    if value > MAX_AMOUNT:
        raise InvalidAmountError(f"{name} can be at most {MAX_AMOUNT:,}, got {value}")
    return value.quantize(CENT)


def non_negative_money(value: Decimal, name: str) -> Decimal:
    """A price or fee: zero or more, exact to cents."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidAmountError(f"{name} must be a decimal number, got {value!r}")
    if value < 0:
        raise InvalidAmountError(f"{name} must not be negative, got {value}")
    if value != value.quantize(CENT):
        raise InvalidAmountError(f"{name} can have at most two decimal places, got {value}")
    if value > MAX_AMOUNT:
        raise InvalidAmountError(f"{name} can be at most {MAX_AMOUNT:,}, got {value}")
    return value.quantize(CENT)


def email_address(value: str, name: str = "email") -> str:
    """A plausible email address, lower-cased for comparison."""
    text = str(value).strip().lower()
    if not _EMAIL.match(text):
        raise InvalidEmailError(f"{name}: {value!r} is not an email address")
    return text


# Writers that stamp facts with "now" race each other: the one that loses a write conflict is
# retried with an instant a little older than the winner's. Facts this close are accepted in
# either order; anything older must be entered in the order it happened.
CONCURRENCY_TOLERANCE = timedelta(seconds=60)


def not_before(at: datetime, last: datetime | None, what: str) -> None:
    """Refuse a fact dated clearly before the last fact it must follow."""
    if last is not None and at < last - CONCURRENCY_TOLERANCE:
        raise OutOfOrderError(
            f"{what}: {at.isoformat()} is before the last recorded fact at {last.isoformat()}; "
            "facts of this record are entered in the order they happened"
        )


def later(a: datetime | None, b: datetime) -> datetime:
    """The later of two instants (the first may be missing)."""
    return b if a is None or b > a else a


class LedgerAggregate(Aggregate):
    """The library's aggregate, as it ships: the base class of ledger's aggregates."""
