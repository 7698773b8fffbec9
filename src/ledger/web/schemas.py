"""The shapes of the API: request bodies (validated) and answers (documented).

Bodies refuse unknown fields and hold text without control characters. Answers are the
presenters' plain data (`ledger.presenters`, the same as the CLI's `--json`); the models below
document them in the OpenAPI document, where they allow keys beyond those listed.
"""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID
from zoneinfo import available_timezones

import holidays
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from ledger.domain.currencies import ISO_4217
from ledger.web.inputs import (
    DATE_PATTERN,
    FILLED_LINE,
    INSTANT_PATTERN,
    PRODUCT_VERSION,
    RELEASE_VERSION,
    Amount,
    Body,
    Command,
    ContractRef,
    DateText,
    Email,
    FilledLine,
    FilledText,
    InstantText,
    Key,
    Line,
    PositiveAmount,
    Text,
)

# Values the document names (the server reads any case; the same lists as the domain's)
TIERS: list[JsonValue] = ["premium", "advanced", "basic"]
ROLES: list[JsonValue] = ["agent", "finance", "auditor", "admin"]
SEVERITY: dict[str, JsonValue] = {"minimum": 1, "maximum": 3}
TIMEZONES: list[JsonValue] = ["", *sorted(available_timezones())]
COUNTRIES: list[JsonValue] = ["", *sorted(holidays.list_supported_countries())]

# -- requests ------------------------------------------------------------------------------------


class PublishRelease(Command):
    """Publish a release."""

    version: Line = Field(
        description="MAJOR.MINOR.PATCH with an optional -TAG.",
        json_schema_extra={"pattern": RELEASE_VERSION},
    )
    beta: bool = Field(default=False, description="A beta / pre-GA release (a -TAG implies it).")


class WithdrawRelease(Command):
    """Withdraw a release."""

    reason: FilledText = Field(description="Why the release is withdrawn.")


class SignContract(Command):
    """Sign a maintenance agreement."""

    customer: FilledLine = Field(description="The customer's name.")
    tier: Line = Field(
        description="premium, advanced or basic (any case).", json_schema_extra={"enum": TIERS}
    )
    licenses: int = Field(ge=1, le=100_000, description="Developer licenses.")
    list_price: PositiveAmount = Field(description="List price in the contract's currency.")
    currency: Line | None = Field(
        default=None,
        description="ISO 4217 code of fees and prices (default: the terms', EUR).",
        json_schema_extra={"enum": [*sorted(ISO_4217), None]},
    )
    start: DateText = Field(description="First day of the first term (YYYY-MM-DD).")
    license_kind: Line = Field(
        default="commercial",
        description="commercial or educational.",
        json_schema_extra={"enum": ["commercial", "educational"]},
    )
    timezone: Line | None = Field(
        default=None,
        description="IANA timezone (default: terms).",
        json_schema_extra={"anyOf": [{"enum": TIMEZONES}, {"type": "null"}]},
    )
    holiday_region: Line | None = Field(
        default=None,
        description="Holiday region, e.g. DE, DE-BW, US-CA; '' for none. The document names the "
        "countries; their subdivisions (`DE-BW`) are taken too.",
        json_schema_extra={"anyOf": [{"enum": COUNTRIES}, {"type": "null"}]},
    )
    terms_version: Line | None = Field(default=None, description="Default: the current terms.")
    key: Key | None = Field(
        default=None,
        description="External key of the agreement: signing again with it returns the same "
        "contract. The same as the Idempotency-Key header.",
    )


class RenewContract(Command):
    """Order the next term (a lapsed agreement is reinstated at 80 % instead)."""

    licenses: int | None = Field(default=None, ge=1, le=100_000)
    list_price: PositiveAmount | None = None


class Terminate(Command):
    """End an agreement."""

    reason: Text = Field(default="terminated", description="Why the agreement ends.")


class ChangeTier(Command):
    """Change the tier: higher at once (pro rata), lower at the next renewal."""

    tier: Line = Field(description="premium, advanced or basic.", json_schema_extra={"enum": TIERS})


class AddContact(Command):
    """Name a contact."""

    email: Email


class AssignRepresentative(Command):
    """Assign the technical account representative (Premium)."""

    name: FilledLine


class Appointment(Command):
    """An appointment window."""

    starts_at: InstantText
    ends_at: InstantText


class OpenTicket(Command):
    """A support request, received at `at`."""

    contract_id: ContractRef | None = Field(
        default=None,
        description="The contract's id or its customer's name (any case, whole or a unique "
        "prefix). Without it, the agreement that names the reporter; none is a recorded "
        "decline (`no_valid_agreement`), several are 400 `ambiguous_contract`.",
    )
    reporter: Email = Field(description="Email of the person asking.")
    version: Line = Field(
        description="Product version, e.g. 24.2.1.", json_schema_extra={"pattern": PRODUCT_VERSION}
    )
    platform: FilledLine = Field(description="windows, linux, ...")
    severity: int | None = Field(
        default=None, description="1, 2 or 3 (default 3).", json_schema_extra=SEVERITY
    )
    license_kind: Line | None = Field(
        default=None,
        description="License the installation runs under (default: the contract's).",
        json_schema_extra={"enum": ["commercial", "educational", None]},
    )
    key: Key | None = Field(
        default=None,
        description="External key of the ticket (e.g. the portal's reference), by which it can "
        "be named. The same as the Idempotency-Key header; without either, a new key is made.",
    )


class ChangeSeverity(Command):
    """Change a ticket's severity."""

    severity: int = Field(description="1, 2 or 3.", json_schema_extra=SEVERITY)


class WaiveBreach(Command):
    """Waive a breach."""

    reason: FilledText = Field(description="Why the breach is waived.")
    actor: FilledLine | None = Field(
        default=None, description="Who decided (default: the token's name)."
    )


class Purchase(Command):
    """Buy a package of points."""

    points: PositiveAmount
    price: Amount = Field(description="Price paid, in the contract's currency.")
    expires: Line | None = Field(
        default=None,
        json_schema_extra={
            "anyOf": [
                {"type": "string", "format": "date", "pattern": DATE_PATTERN},
                {"type": "string", "format": "date-time", "pattern": INSTANT_PATTERN},
                {"type": "null"},
            ]
        },
        description="Last day the points can be used (YYYY-MM-DD, in the contract's timezone) "
        "or an instant.",
    )
    key: Key | None = None


class Consume(Command):
    """Use points for a support activity."""

    points: PositiveAmount
    activity: FilledText = Field(description="What the points were used for.")
    ticket: Line | None = Field(default=None, description="The ticket (id or key) it was for.")
    key: Key | None = None


class AlertThreshold(Command):
    """Set the points below which `balance_low` is recorded (once per crossing)."""

    points: PositiveAmount


class Reverse(Command):
    """Return points of a consumption to the lots they came from."""

    key: Key = Field(description="The idempotency key of the consumption to reverse.")
    reason: FilledText
    points: PositiveAmount | None = Field(
        default=None, description="Default: all that is left of it."
    )


class Training(Command):
    """Hold one 30-minute online training session."""

    topic: Text = ""
    key: Key | None = None


class CreateToken(Body):
    """A new API token."""

    name: FilledLine = Field(
        description="Who or what uses it, for people reading the list.",
        json_schema_extra={"pattern": FILLED_LINE, "maxLength": 100},
    )
    role: Line = Field(
        description="agent, finance, auditor or admin.", json_schema_extra={"enum": ROLES}
    )
    expires_in_days: int = Field(default=90, ge=1, le=3650)


# -- answers (documentation) --------------------------------------------------------------------

Dec = Annotated[str, Field(description="An exact decimal.", examples=["12.5"])]


class Out(BaseModel):
    """An answer; keys beyond those listed may come."""

    model_config = ConfigDict(extra="allow")


class ReadAt(Out):
    """An answer read from the log or a view: where it was read, and how far behind the
    primary's head that is (`ledger.reports.position_fields`)."""

    position: int = Field(description="The position of the log the answer was read at.")
    head: int = Field(description="The newest position of the primary's log.")
    behind: int = Field(description="Events the answer is behind the primary's head.")
    read_from: Literal["primary", "replica"] = Field(
        description="primary, or replica: read on LEDGER_READ_DATABASE_URL (a standby)."
    )


class Release(Out):
    """A release of the catalog."""

    version: str
    line: str
    prerelease: bool
    published_at: datetime
    withdrawn_at: datetime | None
    withdrawal_reason: str | None = None


class Catalog(Out):
    """Every release and the lines supported at the instant asked."""

    supported_lines: list[str]
    releases: list[Release]


class Term(Out):
    """A term of a contract."""

    number: int
    kind: str
    starts_at: datetime
    ends_at: datetime
    tier: str
    licenses: int
    list_price: Dec
    terms_version: str
    fee_share: Dec
    fee: Dec


class CreditMovement(Out):
    """One movement of a credit account, with the balance of its unit available after it."""

    at: datetime
    unit: str
    kind: str = Field(
        description="term_grant, upgrade_grant, purchase, consumption, training, reversal, "
        "reversal_expiry or expiry."
    )
    amount: Dec
    available_after: Dec
    lot_id: str
    key: str | None = Field(description="The idempotency key of the draw or purchase.")
    ticket: str | None = Field(description="The key of the ticket the points were drawn for.")
    ticket_id: UUID | None
    from_account: str
    to_account: str
    position: int


class CreditHistory(ReadAt):
    """Every movement of a contract's credit account (`ledger credits history --json`)."""

    projection: str
    contract_id: UUID
    customer: str
    account_id: UUID
    rows: list[CreditMovement]


class ListedContract(Out):
    """A contract as the directory lists it at an instant (`ledger contract list --json`)."""

    contract_id: UUID
    customer: str
    tier: str | None
    licenses: int | None
    license_kind: str
    status: str = Field(
        description="active, lapse_pending (term over, lapse not yet recorded), lapsed, terminated."
    )
    current_term: int | None
    term_starts_at: datetime | None
    term_ends_at: datetime | None
    named_contacts: list[str]
    account_id: UUID | None = Field(description="The credit account (`ledger events` takes it).")
    credit_balance: str | None = Field(description="Points available (decimal as text).")


class ContractList(ReadAt):
    """A page of contracts by customer; `next` is the `after` of the next page (None: last)."""

    projection: str
    rows: list[ListedContract]
    next: UUID | None


class Contract(Out):
    """A contract as of an instant (`ledger contract show --json`)."""

    contract_id: UUID
    customer: str
    account_id: UUID | None = Field(default=None, description="The contract's credit account.")
    status: str = Field(
        description="active, lapsed, terminated, or lapse_pending: the last term ended "
        "without renewal and the lapse is not recorded yet"
    )
    recorded_status: str = Field(description="the status as recorded: active, lapsed, terminated")
    valid: bool
    validity: str | None
    tier: str
    pending_tier: str | None
    license_kind: str
    licenses: int
    list_price: Dec
    currency: str
    timezone: str
    holiday_region: str | None
    current_term: int | None
    terms: list[Term]
    named_contacts: list[str]
    representative: str | None
    appointments: list[dict[str, Any]]
    open_clocks: int | None = Field(
        description="Tickets whose response clock runs (not given for an earlier version)"
    )
    lapses: list[dict[str, Any]]
    upgrades: list[dict[str, Any]]
    terminated_at: datetime | None
    termination_reason: str | None
    calendar_revision: int
    version: int


class TermResult(Out):
    """The term a renewal or reinstatement ordered."""

    contract_id: UUID
    term: Term


class Lapse(Out):
    """A recorded lapse."""

    contract_id: UUID
    term_number: int
    late: bool


class TierChange(Out):
    """What a tier change did: `upgraded`, `downgrade_scheduled` or `downgrade_cancelled`."""

    contract_id: UUID
    outcome: str
    tier: str
    pending_tier: str | None


class Contacts(Out):
    """The named contacts after the change."""

    contract_id: UUID
    named_contacts: list[str]


class AppointmentResult(Out):
    """An appointment booked or cancelled, and the tickets whose deadlines moved."""

    contract_id: UUID
    action: str
    recalculated_tickets: list[UUID]


class Event(Out):
    """One recorded event."""

    aggregate_id: UUID
    version: int
    recorded_at: datetime
    type: str
    data: dict[str, Any]


class ContractStep(Out):
    """An event of a contract and the contract after it."""

    event: Event
    at: datetime
    contract: dict[str, Any]


class TicketOpening(Out):
    """The answer to a support request: `open` with its deadline, or `declined` with why."""

    ticket_id: UUID
    key: str
    status: str
    reason: str | None
    message: str | None
    details: dict[str, Any]
    due_at: datetime | None
    recorded: bool
    contract_id: UUID | None = Field(
        default=None, description="The agreement it came under (null: no agreement names them)."
    )
    customer: str | None = None


class Ticket(Out):
    """A ticket and its clock as of an instant (`ledger ticket show --json`).

    A declined request carries `reason`, `message` and `details` instead of the clock.
    """

    ticket_id: UUID
    key: str
    contract_id: UUID | None = Field(description="None for a request no agreement names.")
    customer: str
    status: str
    reporter: str
    severity: int
    product_version: str
    platform: str
    license_kind: str
    received_at: datetime
    version: int
    tier: str | None = None
    clock: str | None = None
    due_at: datetime | None = None
    original_due_at: datetime | None = None
    business_seconds_left: float | None = None
    breached: bool | None = None
    responded_at: datetime | None = None
    outcome: str | None = None
    breach_recorded: bool | None = None
    breach_waived: bool | None = None
    priority_troubleshooting: list[datetime] | None = Field(
        default=None, description="When priority troubleshooting was requested (if it was)."
    )
    reason: str | None = None
    message: str | None = None
    result: Any = Field(default=None, description="What the command did, when it says.")


class TicketStep(Out):
    """An event of a ticket, the ticket after it and how its deadline was counted."""

    event: Event
    at: datetime
    ticket: dict[str, Any]
    clock: dict[str, Any] | None


class Account(Out):
    """Balances at an instant and every lot."""

    contract_id: UUID
    customer: str
    account_id: UUID | None = Field(
        default=None, description="The credit account (`GET /events/{id}` takes it)."
    )
    at: datetime
    points_available: Dec
    sessions_available: Dec
    lots: list[dict[str, Any]]
    terms: list[dict[str, Any]]
    version: int


class PurchaseResult(Out):
    """The purchased lot."""

    lot_id: str
    recorded: bool
    amount: Dec
    price: Dec | None
    currency: str | None
    expires_at: datetime | None


class ConsumptionResult(Out):
    """A consumption and the balance after it."""

    key: str
    recorded: bool
    points: Dec
    activity: str
    ticket_id: UUID | None
    draws: list[dict[str, Any]]
    balance: Dec


class AlertThresholdResult(Out):
    """A contract's low-balance threshold and where its balance stands."""

    contract_id: UUID
    threshold: Dec
    available: Dec
    low: bool
    crossed: str | None = Field(description="'low' when this recorded a crossing now.")
    recorded: bool


class ReversalResult(Out):
    """A reversal and the balance after it."""

    key: str
    recorded: bool
    points: Dec
    reason: str
    returns: list[dict[str, Any]]
    balance: Dec


class TrainingResult(Out):
    """A training session held and the sessions left."""

    key: str
    recorded: bool
    topic: str
    minutes: int
    sessions_left: Dec


class Token(Out):
    """An API token (never its secret)."""

    token_id: str
    name: str
    role: str
    state: str
    created_at: datetime
    created_by: str
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class IssuedToken(Token):
    """A new token: `token` is the bearer secret, shown this once."""

    token: str


class WhoAmI(Out):
    """The caller's token."""

    token_id: str
    name: str
    role: str
    expires_at: datetime


class Deadline(Out):
    """When a response is due, and why."""

    tier: str
    severity: int
    due_at: datetime
