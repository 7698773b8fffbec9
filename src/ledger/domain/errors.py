"""Every rule violation and every bad input is a LedgerError with a stable code."""

from __future__ import annotations

from typing import Any, ClassVar


class LedgerError(Exception):
    """A request the ledger refuses, with a stable code and a message a person can act on.

    `kind` groups the codes for transports: `invalid` (the input is malformed), `not_found`,
    `conflict` (the input contradicts what is recorded) and `refused` (a rule of the terms
    forbids it). The CLI prints code and message; the API answers 4xx with them as JSON.
    """

    code: ClassVar[str] = "ledger_error"
    kind: ClassVar[str] = "invalid"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        """The error as plain JSON data: code, message and any details."""
        return {"code": self.code, "message": self.message, **self.details}

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class InvalidInputError(LedgerError):
    """A value could not be read (a malformed number, instant, date or name)."""

    code = "invalid_input"


class NaiveDatetimeError(LedgerError):
    """An instant without a UTC offset, which would be ambiguous."""

    code = "naive_datetime"


class InvalidDurationError(LedgerError):
    """A negative or otherwise unusable duration."""

    code = "invalid_duration"


class InvalidCalendarError(LedgerError):
    """A calendar definition that cannot describe covered time."""

    code = "invalid_calendar"


class UnknownTimezoneError(LedgerError):
    """A timezone name that is not in the IANA database."""

    code = "unknown_timezone"


class UnknownHolidayRegionError(LedgerError):
    """A holiday region (country or country-subdivision) that is not known."""

    code = "unknown_holiday_region"


class CalendarExhaustedError(LedgerError):
    """A duration that the calendar's covered time can never reach."""

    code = "calendar_exhausted"


class UnknownTierError(LedgerError):
    """A support tier name that the terms do not define."""

    code = "unknown_tier"


class UnknownSeverityError(LedgerError):
    """A severity level that the terms do not define."""

    code = "unknown_severity"


class InvalidTermsError(LedgerError):
    """A terms file that is malformed; the message names the key."""

    code = "invalid_terms"


class UnknownTermsVersionError(LedgerError):
    """A terms version for which no terms file ships with the package."""

    code = "unknown_terms_version"
    kind = "not_found"


class ConfigurationError(LedgerError):
    """A setting (environment variable) that cannot be used."""

    code = "invalid_configuration"
