"""What every aggregate shares: deterministic ids, instants and amounts checked at the door."""

from __future__ import annotations

import dataclasses
import inspect
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from hashlib import sha1
from typing import Any, Self
from uuid import UUID, SafeUUID

from eventsourcing.domain import Aggregate, CanInitAggregate, DomainEvent
from eventsourcing.utils import get_topic

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


_NAMESPACE_BYTES = NAMESPACE.bytes
# uuid5's version (5) and RFC 4122 variant bits, set over the first 16 bytes of the SHA-1.
_UUID5_KEEP = ~((0xF000 << 64) | (0xC000 << 48)) & (2**128 - 1)
_UUID5_SET = (5 << 76) | (0x8000 << 48)


@lru_cache(maxsize=4096)
def deterministic_id(kind: str, key: str) -> UUID:
    """The id of the `kind` aggregate with natural key `key` (idempotent ingestion):
    `uuid5(NAMESPACE, f"{kind}:{key}")`.

    Cached: a use case asks for the same id several times (to find the aggregate, then to
    create it). Computed as `uuid5` computes it, without `UUID.__init__`'s checks of five
    ways to give a UUID (half of uuid5's 3 µs); `tests/unit/test_ids.py` compares the two.
    """
    digest = sha1(_NAMESPACE_BYTES + f"{kind}:{key}".encode(), usedforsecurity=False).digest()
    value = int.from_bytes(digest[:16]) & _UUID5_KEEP | _UUID5_SET
    made = object.__new__(UUID)
    object.__setattr__(made, "int", value)
    object.__setattr__(made, "is_safe", SafeUUID.unknown)
    return made


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


# -- events built as the library's mapper rebuilds them ----------------------------------------

# An event class's fields in their order, and as a set; None when its constructor does more than
# set them (a __post_init__ of its own, a field it fills in, an __init__ of its own): such an
# event is always constructed (see `new_event`).
_EVENT_FIELDS: dict[type, tuple[tuple[str, ...], frozenset[str]] | None] = {}


def _event_fields(event_class: type) -> tuple[tuple[str, ...], frozenset[str]] | None:
    try:
        return _EVENT_FIELDS[event_class]
    except KeyError:
        pass
    fields: tuple[tuple[str, ...], frozenset[str]] | None = None
    every = dataclasses.fields(event_class)
    names = tuple(f.name for f in every)
    if (
        getattr(event_class, "__post_init__", None) is DomainEvent.__post_init__
        # every field a parameter of the constructor: none it fills in by itself
        and tuple(inspect.signature(vars(event_class)["__init__"]).parameters) == ("self", *names)
    ):
        fields = (names, frozenset(names))
    _EVENT_FIELDS[event_class] = fields
    return fields


def new_event(event_class: type[Any], values: dict[str, Any]) -> Any:
    """The event `event_class(**values)`, built the way the library's mapper rebuilds a stored
    event: a new object given its attributes at once (in the fields' order, as the constructor
    sets them, so it is stored as the same bytes).

    Events are frozen dataclasses, whose constructor sets each field through
    `object.__setattr__`: some 7 µs for a ticket's twenty fields, about a twentieth of opening
    one. Values that are not exactly the event's fields, or an id that is not a UUID, go to
    the constructor, which refuses them with the library's errors.
    """
    fields = _event_fields(event_class)
    if fields is None or values.keys() != fields[1] or type(values["originator_id"]) is not UUID:
        return event_class(**values)
    event = object.__new__(event_class)
    object.__setattr__(event, "__dict__", {name: values[name] for name in fields[0]})
    return event


class LedgerAggregate(Aggregate):
    """The library's aggregate, with events built by `new_event`.

    Creating an aggregate and triggering an event do what the library's `_create` and
    `trigger_event` do (eventsourcing 9.5) for an aggregate given its id and without an
    explicit topic; anything else takes the library's path.
    """

    @classmethod
    def _create(
        cls,
        event_class: type[Any],
        *,
        id: UUID | None = None,  # noqa: A002 - the library's name for it
        **kwargs: Any,
    ) -> Self:
        if type(id) is not UUID or getattr(cls, "TOPIC", None):
            return super()._create(event_class, id=id, **kwargs)
        kwargs["originator_topic"] = get_topic(cls)
        kwargs["originator_id"] = id
        kwargs["originator_version"] = cls.INITIAL_VERSION
        if kwargs.get("timestamp") is None:
            kwargs["timestamp"] = event_class.create_timestamp()
        try:
            created = new_event(event_class, kwargs)
        except TypeError as e:  # worded as the library words it
            msg = f"Unable to construct '{event_class.__qualname__}' event: {e}"
            raise TypeError(msg) from e
        aggregate: Self
        if cls.__init__ is object.__init__ and type(created).mutate is CanInitAggregate.mutate:
            # What the library's `mutate` does for an aggregate without an __init__ of its own,
            # without matching the event's fields to two signatures on the way.
            aggregate = cls.__new__(cls)
            aggregate.__base_init__(
                originator_id=id,
                originator_version=cls.INITIAL_VERSION,
                timestamp=kwargs["timestamp"],
            )
            created.apply(aggregate)
        else:
            aggregate = created.mutate(None)
        aggregate.pending_events.append(created)
        return aggregate

    def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None:
        if getattr(type(self), "TOPIC", None):
            super().trigger_event(event_class, **kwargs)
            return
        kwargs["originator_id"] = self.id
        kwargs["originator_version"] = self.version + 1
        if kwargs.get("timestamp") is None:
            kwargs["timestamp"] = event_class.create_timestamp()
        try:
            event = new_event(event_class, kwargs)
        except TypeError as e:  # worded as the library words it
            msg = f"Can't construct event {event_class}: {e}"
            raise TypeError(msg) from None
        event.mutate(self)
        self.pending_events.append(event)
