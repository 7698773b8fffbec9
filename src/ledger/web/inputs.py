"""Values of requests, read with the CLI's parsers so that the errors say the same things.

Instants are ISO 8601 with an offset (`2025-03-03T09:00:00+01:00` or `...Z`), as for `--at`;
the API takes them between 1970 and 2999 (later ones would carry terms and deadlines past
what dates can hold). Amounts are exact decimals. An omitted `at` is now, read once per
request.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Header, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from ledger.domain.contract import local_midnight
from ledger.domain.errors import InvalidInputError
from ledger.parsing import parse_date, parse_decimal, parse_instant
from ledger.web.errors import NO_CONTROL_CHARACTERS, NO_NUL, IdempotencyKeyRequiredError
from ledger.web.services import Svc  # noqa: TC001 - FastAPI reads it when the app is built

MAX_KEY_LENGTH = 200

# -- what the OpenAPI document says beyond the checks the types make --------------------------
# The document is as strict as the validation (tests/web/test_schemathesis.py sends it
# schema-valid requests and accepts no 400): these patterns and bounds are written into the
# document only, the server checks the same with the CLI's parsers and their messages.

# Years whose instants stay within 1970-2999 in UTC, whatever the offset.
YEARS = r"(197[1-9]|19[89][0-9]|2[0-8][0-9]{2}|29[0-8][0-9]|299[0-8])"
INSTANT_PATTERN = rf"^{YEARS}-[^\x00-\x1F\x7F]*$"
DATE_PATTERN = rf"^{YEARS}-[0-9]{{2}}-[0-9]{{2}}$"
MONTH_PATTERN = rf"^{YEARS}-(0[1-9]|1[0-2])$"
CONTROL = r"\x00-\x1F\x7F-\x9F"  # what the parsers refuse in text a person typed
LINE = rf"^[^{CONTROL}]*$"
FILLED_LINE = rf"^[^{CONTROL}]*[^\s{CONTROL}][^{CONTROL}]*$"  # and not blank
EMAIL = rf"^[^@\s{CONTROL}]+@[^@\s{CONTROL}]+\.[^@\s{CONTROL}]+$"
TEXT_LIMIT = 1000  # characters of a reason, an activity, a topic
POSITIVE_DECIMAL = r"^(0*[1-9][0-9]{0,9}(\.[0-9]{1,2})?|0*\.(0[1-9]|[1-9][0-9]?))$"
DECIMAL = r"^(0|[1-9][0-9]{0,9})(\.[0-9]{1,2})?$"
RELEASE_VERSION = r"^[0-9]{1,4}\.[0-9]{1,4}\.[0-9]{1,6}(-[0-9A-Za-z][0-9A-Za-z.]*)?$"
PRODUCT_VERSION = r"^[0-9]{1,4}\.[0-9]{1,4}(\.[0-9]{1,6})?(-[0-9A-Za-z][0-9A-Za-z.]*)?$"


def amount_document(*, positive: bool) -> dict[str, Any]:
    """An amount as the document gives it: text with at most two decimals, or a whole number."""
    return {
        "anyOf": [
            {"type": "string", "pattern": POSITIVE_DECIMAL if positive else DECIMAL},
            {"type": "integer", "minimum": 1 if positive else 0, "maximum": 10**10 - 1},
        ]
    }


# -- field types of request bodies and query parameters --------------------------------------

CONTRACT_REF = (
    "The contract's id, or its customer's name: any case, the whole name or a prefix only one "
    "contract's customer has (several: 400 `ambiguous_contract`, listing them)."
)
ContractRef = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        pattern=NO_CONTROL_CHARACTERS,
        description=CONTRACT_REF,
        examples=["Acme GmbH"],
    ),
]

InstantText = Annotated[
    str,
    Field(
        max_length=64,
        pattern=NO_CONTROL_CHARACTERS,
        json_schema_extra={"format": "date-time", "pattern": INSTANT_PATTERN},
        description="ISO 8601 instant with a UTC offset, e.g. 2025-03-03T09:00:00+01:00.",
        examples=["2025-03-03T09:00:00+01:00"],
    ),
]
DateText = Annotated[
    str,
    Field(
        max_length=32,
        pattern=NO_CONTROL_CHARACTERS,
        json_schema_extra={"format": "date", "pattern": DATE_PATTERN},
        description="A calendar date, YYYY-MM-DD.",
        examples=["2025-01-01"],
    ),
]
Line = Annotated[
    str,
    Field(max_length=200, pattern=NO_CONTROL_CHARACTERS, json_schema_extra={"pattern": LINE}),
]
Name = Line
Text = Annotated[
    str,
    Field(
        max_length=2000,
        pattern=NO_NUL,
        json_schema_extra={"pattern": LINE, "maxLength": TEXT_LIMIT},
    ),
]
# Lines and texts that must say something (the server refuses a blank one)
FilledLine = Annotated[
    str,
    Field(
        max_length=200, pattern=NO_CONTROL_CHARACTERS, json_schema_extra={"pattern": FILLED_LINE}
    ),
]
FilledText = Annotated[
    str,
    Field(
        max_length=2000,
        pattern=NO_NUL,
        json_schema_extra={"pattern": FILLED_LINE, "maxLength": TEXT_LIMIT},
    ),
]
Email = Annotated[
    str,
    Field(
        max_length=254,
        pattern=NO_CONTROL_CHARACTERS,
        examples=["ops@acme.example"],
        json_schema_extra={"pattern": EMAIL},
    ),
]
Key = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        pattern=NO_CONTROL_CHARACTERS,
        description="The idempotency key (the same as the Idempotency-Key header).",
        json_schema_extra={"pattern": FILLED_LINE},
    ),
]
IdempotencyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        pattern=r"^[\x20-\x7E]*$",
        json_schema_extra={"pattern": r"^[\x20-\x7E]*[\x21-\x7E][\x20-\x7E]*$"},
        description="Makes a retry safe: the same key and request return the first answer "
        "and record nothing (200, `Idempotent-Replayed: true`); the same key with another "
        "request is 409 `idempotency_conflict`. It is the domain's own key (the body's `key`).",
    ),
]
# At most 15 digits: amounts stay far inside what the read models' integer hundredths hold.
Amount = Annotated[
    Decimal,
    Field(
        max_digits=15,
        description='An exact decimal, as a string (`"12.5"`) or a JSON number.',
        examples=["12.5"],
        json_schema_extra=amount_document(positive=False),
    ),
]
PositiveAmount = Annotated[
    Decimal,
    Field(
        max_digits=15,
        description='An exact decimal greater than zero, as a string (`"12.5"`) or a JSON number.',
        examples=["12.5"],
        json_schema_extra=amount_document(positive=True),
    ),
]


class Body(BaseModel):
    """A request body: unknown fields are refused (a typo is not silently ignored)."""

    model_config = ConfigDict(extra="forbid")


class Command(Body):
    """A command's body: `at` records the fact at another instant (back-office entry)."""

    at: InstantText | None = Field(
        default=None,
        description="When the fact happened (default: now). ISO 8601 with a UTC offset.",
    )


# -- readers -----------------------------------------------------------------------------------


def instant(text: str, name: str) -> datetime:
    """An instant given as ISO 8601 text with an offset, in UTC (years 1970-2999, as the
    parser has it)."""
    return parse_instant(text, name)


def optional_instant(text: str | None, name: str) -> datetime | None:
    """An instant, or None when not given."""
    return None if text is None else instant(text, name)


def at_or_now(text: str | None, now: datetime, name: str = "at") -> datetime:
    """The instant given, or now."""
    return now if text is None else instant(text, name)


def day(text: str, name: str) -> date:
    """A calendar date, YYYY-MM-DD, from 1970 to 2999 (as the parser has it)."""
    return parse_date(text, name)


def amount(value: Decimal, name: str, *, positive: bool = False) -> Decimal:
    """An exact amount; `positive` refuses zero and negatives, else only negatives."""
    return parse_decimal(value, name, positive=positive)


def expiry(text: str, timezone: str, name: str = "expires") -> datetime:
    """A date (valid through that day, in the contract's timezone) or an instant."""
    value = text.strip()
    if "T" in value or " " in value:
        return instant(value, name)
    return local_midnight(day(value, name) + timedelta(days=1), timezone)


def idempotency(header: str | None, body_key: str | None, *, required: bool) -> str | None:
    """The idempotency key of a request: the body's `key` or the Idempotency-Key header.

    Both may be given when they are the same; a request that records money or points
    (`required`) must give one.
    """
    header_key = header.strip() if header is not None else None
    given = body_key.strip() if body_key is not None else None
    if header is not None and not header_key:
        raise InvalidInputError("Idempotency-Key: must not be empty")
    if body_key is not None and not given:
        raise InvalidInputError("key: must not be empty")
    if header_key and given and header_key != given:
        raise InvalidInputError(
            "key and Idempotency-Key differ; give one of them, or the same in both"
        )
    key = given or header_key
    if key is None and required:
        raise IdempotencyKeyRequiredError(
            "Idempotency-Key: required here (or `key` in the body), so that a retry "
            "records nothing twice"
        )
    return key


# -- query parameters -----------------------------------------------------------------------


def instant_query(description: str) -> Any:
    """A query parameter holding an instant."""
    return Query(
        description=f"{description} ISO 8601 with a UTC offset.",
        max_length=64,
        pattern=NO_CONTROL_CHARACTERS,
        json_schema_extra={"format": "date-time", "pattern": INSTANT_PATTERN},
    )


def line_query(description: str) -> Any:
    """A query parameter holding one line of text."""
    return Query(description=description, max_length=200, pattern=NO_CONTROL_CHARACTERS)


def _contract_in_path(
    contract_id: Annotated[
        str,
        Path(min_length=1, max_length=200, pattern=NO_CONTROL_CHARACTERS, description=CONTRACT_REF),
    ],
    services: Svc,
) -> UUID:
    """The contract a path names, by id or customer's name."""
    return services.ledger.contract_id(contract_id, "contract_id")


def _contract_read_in_path(
    contract_id: Annotated[
        str,
        Path(min_length=1, max_length=200, pattern=NO_CONTROL_CHARACTERS, description=CONTRACT_REF),
    ],
    services: Svc,
) -> UUID:
    """The contract a read's path names, by id or customer's name, found where the read reads
    (the standby's log and directory when `LEDGER_READ_DATABASE_URL` is set)."""
    with services.not_yet_replayed():
        return services.replayed.contract_id(contract_id, "contract_id")


# A contract named in a path (`/contracts/{contract_id}/...`), by id or customer's name.
ContractId = Annotated[UUID, Depends(_contract_in_path)]
# The same in a read's path, resolved on the log the read reads.
ReadContractId = Annotated[UUID, Depends(_contract_read_in_path)]
