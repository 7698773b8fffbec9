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


# -- not found -----------------------------------------------------------------------------


class UnknownContractError(LedgerError):
    """No contract with that id."""

    code = "unknown_contract"
    kind = "not_found"


class AmbiguousContractError(LedgerError):
    """A customer's name (or a prefix) that fits several contracts; the refusal lists them."""

    code = "ambiguous_contract"


class UnknownTicketError(LedgerError):
    """No ticket with that id or key."""

    code = "unknown_ticket"
    kind = "not_found"


class UnknownAggregateError(LedgerError):
    """No contract, ticket, account or catalog with that id."""

    code = "unknown_aggregate"
    kind = "not_found"


class UnknownReleaseError(LedgerError):
    """The release catalog has no such version."""

    code = "unknown_release"
    kind = "not_found"


class UnknownContactError(LedgerError):
    """The email is not a named contact of the contract."""

    code = "unknown_contact"
    kind = "not_found"


class UnknownAppointmentError(LedgerError):
    """No appointment booked for exactly that window."""

    code = "unknown_appointment"
    kind = "not_found"


class UnknownConsumptionError(LedgerError):
    """No consumption recorded under that idempotency key."""

    code = "unknown_consumption"
    kind = "not_found"


# -- malformed values ----------------------------------------------------------------------


class InvalidVersionError(LedgerError):
    """A product version that is not MAJOR.MINOR.PATCH (with an optional pre-release tag)."""

    code = "invalid_version"


class InvalidEmailError(LedgerError):
    """An email address that cannot be one."""

    code = "invalid_email"


class UnknownCurrencyError(LedgerError):
    """A currency that is not an ISO 4217 code."""

    code = "unknown_currency"


class InvalidAmountError(LedgerError):
    """Zero, negative or otherwise unusable points, prices or counts."""

    code = "invalid_amount"


class UnknownLicenseKindError(LedgerError):
    """A license kind the terms do not know."""

    code = "unknown_license_kind"


# -- conflicts with what is recorded -------------------------------------------------------


class IdempotencyConflictError(LedgerError):
    """An idempotency key reused with different content."""

    code = "idempotency_conflict"
    kind = "conflict"


class OutOfOrderError(LedgerError):
    """A fact dated before the facts already recorded that it would contradict."""

    code = "out_of_order"
    kind = "conflict"


class ConcurrentModificationError(LedgerError):
    """Other writers kept changing the same records; the command was retried and gave up."""

    code = "concurrent_modification"
    kind = "conflict"


class ReleaseExistsError(LedgerError):
    """A version that the catalog already holds."""

    code = "release_exists"
    kind = "conflict"


class DuplicateContactError(LedgerError):
    """The email is already a named contact."""

    code = "duplicate_contact"
    kind = "conflict"


class AlreadyReversedError(LedgerError):
    """A consumption already reversed in full."""

    code = "already_reversed"
    kind = "conflict"


class ContractStateError(LedgerError):
    """The contract is not in a state that allows the command (e.g. renewing a terminated one)."""

    code = "invalid_contract_state"
    kind = "conflict"


class TicketStateError(LedgerError):
    """The ticket is not in a state that allows the command (e.g. a second first response)."""

    code = "invalid_ticket_state"
    kind = "conflict"


class TicketDeclinedError(LedgerError):
    """The request was declined; a declined request takes no further commands."""

    code = "ticket_declined"
    kind = "conflict"


# -- refused by the terms ------------------------------------------------------------------


class FreeLicenseError(LedgerError):
    """Free licenses do not include support."""

    code = "free_license"
    kind = "refused"


class AgreementNotValidError(LedgerError):
    """No valid maintenance agreement at that instant (not started, lapsed or terminated)."""

    code = "no_valid_agreement"
    kind = "refused"


class ContactLimitError(LedgerError):
    """The tier's limit of named contacts is reached."""

    code = "contact_limit_reached"
    kind = "refused"


class NotIncludedInTierError(LedgerError):
    """The tier does not include the service asked for."""

    code = "not_included_in_tier"
    kind = "refused"


class TierChangeError(LedgerError):
    """A tier change that the terms do not allow now (e.g. to the same tier)."""

    code = "invalid_tier_change"
    kind = "refused"


class AppointmentError(LedgerError):
    """An appointment window that the terms do not allow."""

    code = "invalid_appointment"
    kind = "refused"


class PatchNotEligibleError(LedgerError):
    """Patches are for severity 1 and 2 defects on supported release lines only."""

    code = "patch_not_eligible"
    kind = "refused"


class InsufficientCreditsError(LedgerError):
    """Consuming more support points than the account holds."""

    code = "insufficient_credits"
    kind = "refused"


class InsufficientTrainingError(LedgerError):
    """Holding a training session with none left."""

    code = "insufficient_training_sessions"
    kind = "refused"
