"""The credit statements and breach statistics re-derived from an export alone, and compared.

`rederive` folds the lines of an export (ledger.audit.export) in plain Python: no event store,
no database, no view table and no projection code, only the JSON payloads. A figure that
agrees with the live view was therefore reached twice, independently. The rules are the read
models' own, restated here from their docs:

Credits (ledger.projections.credit_usage), per contract and unit, each movement at its
business instant: `PointsGranted` / `SessionsGranted` granted at `available_from`;
`PackagePurchased` purchased at `purchased_at`; `PointsConsumed` consumed at `consumed_at`
(the lots drawn); `TrainingSessionHeld` sessions consumed at `held_at`; `ConsumptionReversed`
reversed at `reversed_at` (the lots returned to), and what went back to an expired lot expired
at the same instant; `LotExpired` expired at `expires_at`. A statement's window is a month in
the contract's timezone or a term `[starts_at, ends_at)`; a movement belongs to the window
holding its instant; opening and closing are the balance of what is available before the
window and before its end. Fees: `Contract.Signed` (initial), `Renewed` (renewal),
`Reinstated` (reinstatement) and each adjustment of `Upgraded` with a fee (upgrade), at their
instants.

Breaches (ledger.projections.sla_breaches), one clock per ticket: its tier, customer and
month of receipt (in the contract's timezone) from `Ticket.Opened`, its severity and deadline
as the clock events last set them (`Held`, `Resumed`, `SeverityChanged` before a response,
`DeadlineRecalculated`), the outcome and business seconds used from `FirstResponseRecorded`
(the business time is written into the event when it happens, so no calendar is needed
here), waived by `BreachWaived`; declined requests are not counted.

`reconcile` then asks the live views the same questions and lists every figure that differs,
and whether the export and the views stand at the same position of the log.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ledger.audit.export import ExportedEvent, read_export
from ledger.domain.errors import InvalidInputError, LedgerError, UnknownContractError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from ledger.settings import DatabaseSettings

POINTS = "points"
SESSIONS = "sessions"
UNITS = (POINTS, SESSIONS)
# A statement's flows and the sign each has in the balance of what is available.
FLOWS = {"granted": 1, "purchased": 1, "consumed": -1, "reversed": 1, "expired": -1}
FIGURES = ("opening", *FLOWS, "closing")
FEE_FIELDS = ("term_number", "kind", "fee", "fee_share", "remaining_share", "assessed_at")

GROUPINGS = ("tier", "customer", "severity", "month")
STAT_FIGURES = (
    "tickets",
    "met",
    "breached",
    "waived",
    "breach_rate",
    "responses",
    "median_response_hours",
    "p90_response_hours",
)

CENT = Decimal("0.01")
RATE_PLACES = Decimal("0.0001")
HOUR = Decimal(3600)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PERIOD = re.compile(r"(\d{4})-(\d{2})")
WHOLE_LOG = "; re-derive from an export of the whole log (without --since)"


# -- reading payloads ------------------------------------------------------------------------------


class _PayloadError(Exception):
    """A payload field missing or of the wrong kind (turned into InvalidInputError per line)."""


def _field(payload: dict[str, Any], name: str) -> Any:
    if name not in payload:
        raise _PayloadError(f"payload has no {name}")
    return payload[name]


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise _PayloadError(f"{name}: expected text, got {value!r}")
    return value


def _integer(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _PayloadError(f"{name}: expected a whole number, got {value!r}")
    return value


def _decimal(value: Any, name: str) -> Decimal:
    """An exact amount: a decimal string as the export writes it (or a whole number)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _PayloadError(f"{name}: expected a decimal string, got {value!r}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite():
        raise _PayloadError(f"{name}: {value!r} is not a decimal number")
    return number


def _optional_decimal(value: Any, name: str) -> Decimal | None:
    return None if value is None else _decimal(value, name)


def _instant(value: Any, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.utcoffset() is None:
        raise _PayloadError(f"{name}: {value!r} is not an ISO 8601 instant with an offset")
    return parsed.astimezone(UTC)


def _optional_instant(value: Any, name: str) -> datetime | None:
    return None if value is None else _instant(value, name)


def _uuid(value: Any, name: str) -> UUID:
    if isinstance(value, str):
        try:
            return UUID(value)
        except ValueError:
            pass
    raise _PayloadError(f"{name}: {value!r} is not an id (a UUID)")


def _items(value: Any, name: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise _PayloadError(f"{name}: expected a list of objects, got {value!r}")
    return value


def _sum(items: list[dict[str, Any]], name: str, *, only: str | None = None) -> Decimal:
    """The sum of the `amount` of each item (of those whose `only` flag is true)."""
    total = Decimal(0)
    for index, item in enumerate(items):
        if only is not None and not _field(item, only):
            continue
        total += _decimal(_field(item, "amount"), f"{name}[{index}].amount")
    return total


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise _PayloadError(f"timezone: {name!r} is not an IANA timezone") from None


# -- requests --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Window:
    """A statement asked for: a month (`YYYY-MM`) or a term number."""

    period: str | None
    term: int | None
    month: tuple[int, int] | None

    @property
    def label(self) -> str:
        return self.period if self.period is not None else f"term {self.term}"


def _window(period: str | None, term: int | None) -> _Window:
    if (period is None) == (term is None):
        raise InvalidInputError("give either a period (YYYY-MM) or a term number, not both")
    if period is not None:
        match = _PERIOD.fullmatch(str(period).strip())
        month = (int(match.group(1)), int(match.group(2))) if match else None
        if month is None or not 1 <= month[1] <= 12 or month[0] < 1:
            raise InvalidInputError(f"period: {period!r} is not a month; expected YYYY-MM")
        return _Window(f"{month[0]:04d}-{month[1]:02d}", None, month)
    if isinstance(term, bool) or not isinstance(term, int) or term < 1:
        raise InvalidInputError(f"term: expected a term number (1 or more), got {term!r}")
    return _Window(None, term, None)


def _month_bounds(year: int, month: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[local midnight of the 1st, local midnight of the next month's 1st), in UTC."""
    following = (year + 1, 1) if month == 12 else (year, month + 1)
    try:
        return (
            datetime(year, month, 1, tzinfo=zone).astimezone(UTC),
            datetime(*following, 1, tzinfo=zone).astimezone(UTC),
        )
    except (ValueError, OverflowError):
        raise InvalidInputError(f"period: {year:04d}-{month:02d} is out of range") from None


def _contract_key(contract_id: UUID | str | None) -> UUID | None:
    if contract_id is None or isinstance(contract_id, UUID):
        return contract_id
    try:
        return UUID(str(contract_id).strip())
    except ValueError:
        raise InvalidInputError(f"contract: {contract_id!r} is not an id (a UUID)") from None


# -- the folded state ------------------------------------------------------------------------------


@dataclass
class _Flows:
    """One unit's movements of a contract, and (once asked) running sums by instant."""

    moves: list[tuple[datetime, str, Decimal]] = field(default_factory=list)
    times: list[datetime] = field(default_factory=list)
    sums: dict[str, list[Decimal]] = field(default_factory=dict)
    indexed: int = -1

    def add(self, at: datetime, figure: str, value: Decimal) -> None:
        if value != 0:
            self.moves.append((at, figure, value))

    def _index(self) -> None:
        if self.indexed == len(self.moves):
            return
        self.moves.sort(key=lambda m: m[0])
        self.times = [m[0] for m in self.moves]
        self.sums = {figure: [Decimal(0)] for figure in FLOWS}
        for _, figure, value in self.moves:
            for name, running in self.sums.items():
                running.append(running[-1] + (value if name == figure else 0))
        self.indexed = len(self.moves)

    def figures(self, start: datetime, end: datetime) -> dict[str, Decimal]:
        """Opening, each flow within [start, end), and closing."""
        self._index()
        before, until = bisect_left(self.times, start), bisect_left(self.times, end)
        result = {
            "opening": sum((sign * self.sums[f][before] for f, sign in FLOWS.items()), Decimal(0))
        }
        for figure in FLOWS:
            result[figure] = self.sums[figure][until] - self.sums[figure][before]
        result["closing"] = sum(
            (sign * self.sums[f][until] for f, sign in FLOWS.items()), Decimal(0)
        )
        return {k: v.quantize(CENT) for k, v in result.items()}


@dataclass
class _Contract:
    contract_id: UUID
    customer: str
    currency: str
    zone: ZoneInfo
    terms: dict[int, tuple[datetime, datetime]] = field(default_factory=dict)
    fees: list[dict[str, Any]] = field(default_factory=list)
    flows: dict[str, _Flows] = field(default_factory=lambda: {u: _Flows() for u in UNITS})

    def fee(self, term: int, kind: str, fee: Decimal, at: datetime, **shares: Any) -> None:
        self.fees.append(
            {"term_number": term, "kind": kind, "fee": fee.quantize(CENT), "fee_share": None,
             "remaining_share": None, **shares, "assessed_at": at}
        )  # fmt: skip


@dataclass(slots=True)
class _Clock:
    customer: str
    tier: str | None
    severity: int
    declined: bool
    received_at: datetime
    received_month: str
    due_at: datetime | None = None
    stopped: bool = False
    outcome: str | None = None
    used_seconds: int | None = None
    waived: bool = False


class Rederivation:
    """What an export alone says: statements and breach statistics, folded from its lines."""

    def __init__(self) -> None:
        self.events = 0
        self.position = 0
        self.recorded_at: datetime | None = None
        self.contracts: dict[UUID, _Contract] = {}
        self.accounts: dict[UUID, UUID] = {}
        self.clocks: dict[UUID, _Clock] = {}
        self._versions: set[UUID] = set()
        self._handlers: dict[str, Callable[[ExportedEvent], None]] = {
            "Contract.Signed": self._signed,
            "Contract.Renewed": self._renewed,
            "Contract.Reinstated": self._reinstated,
            "Contract.Upgraded": self._upgraded,
            "CreditAccount.Opened": self._account_opened,
            "CreditAccount.PointsGranted": self._points_granted,
            "CreditAccount.SessionsGranted": self._sessions_granted,
            "CreditAccount.PackagePurchased": self._purchased,
            "CreditAccount.PointsConsumed": self._consumed,
            "CreditAccount.TrainingSessionHeld": self._training,
            "CreditAccount.ConsumptionReversed": self._reversed,
            "CreditAccount.LotExpired": self._expired,
            "Ticket.Opened": self._ticket_opened,
            "Ticket.RequestDeclined": self._ticket_declined,
            "Ticket.Held": self._deadline_moved,
            "Ticket.Resumed": self._deadline_moved,
            "Ticket.SeverityChanged": self._severity_changed,
            "Ticket.DeadlineRecalculated": self._deadline_moved,
            "Ticket.FirstResponseRecorded": self._responded,
            "Ticket.BreachWaived": self._waived,
        }

    # -- folding -----------------------------------------------------------------------------

    def apply(self, event: ExportedEvent) -> None:
        """Fold one event of the export (in log order)."""
        if event.aggregate not in self._versions:
            if event.version != 1:
                raise _error(
                    event,
                    f"the export starts in the middle of the history of {event.aggregate} (its "
                    f"first event here is version {event.version}){WHOLE_LOG}",
                )
            self._versions.add(event.aggregate)
        handler = self._handlers.get(event.type)
        if handler is not None:
            try:
                handler(event)
            except _PayloadError as exc:
                raise _error(event, str(exc)) from None
        self.events += 1
        self.position = event.position
        self.recorded_at = event.recorded_at

    def _contract(self, contract_id: UUID) -> _Contract:
        found = self.contracts.get(contract_id)
        if found is None:
            raise _PayloadError(
                f"contract {contract_id} was not signed earlier in the export{WHOLE_LOG}"
            )
        return found

    def _account(self, event: ExportedEvent) -> _Contract:
        contract_id = self.accounts.get(event.aggregate)
        if contract_id is None:
            raise _PayloadError(
                f"credit account {event.aggregate} was not opened earlier in the export{WHOLE_LOG}"
            )
        return self._contract(contract_id)

    def _signed(self, event: ExportedEvent) -> None:
        p = event.payload
        contract = _Contract(
            contract_id=event.aggregate,
            customer=_text(_field(p, "customer"), "customer"),
            currency=_text(_field(p, "currency"), "currency"),
            zone=_zone(_text(_field(p, "timezone"), "timezone")),
        )
        contract.terms[1] = (
            _instant(_field(p, "starts_at"), "starts_at"),
            _instant(_field(p, "ends_at"), "ends_at"),
        )
        contract.fee(1, "initial", _decimal(_field(p, "fee"), "fee"),
                     _instant(_field(p, "signed_at"), "signed_at"),
                     fee_share=_decimal(_field(p, "fee_share"), "fee_share"))  # fmt: skip
        self.contracts[event.aggregate] = contract

    def _renewed(self, event: ExportedEvent) -> None:
        self._term(event, "renewal", "renewed_at")

    def _reinstated(self, event: ExportedEvent) -> None:
        self._term(event, "reinstatement", "reinstated_at")

    def _term(self, event: ExportedEvent, kind: str, instant_field: str) -> None:
        p, contract = event.payload, self._contract(event.aggregate)
        number = _integer(_field(p, "term_number"), "term_number")
        contract.terms[number] = (
            _instant(_field(p, "starts_at"), "starts_at"),
            _instant(_field(p, "ends_at"), "ends_at"),
        )
        contract.fee(number, kind, _decimal(_field(p, "fee"), "fee"),
                     _instant(_field(p, instant_field), instant_field),
                     fee_share=_decimal(_field(p, "fee_share"), "fee_share"))  # fmt: skip

    def _upgraded(self, event: ExportedEvent) -> None:
        p, contract = event.payload, self._contract(event.aggregate)
        at = _instant(_field(p, "upgraded_at"), "upgraded_at")
        for index, adjustment in enumerate(_items(_field(p, "adjustments"), "adjustments")):
            name = f"adjustments[{index}]"
            fee = _decimal(_field(adjustment, "fee"), f"{name}.fee")
            if fee != 0:
                contract.fee(
                    _integer(_field(adjustment, "term_number"), f"{name}.term_number"),
                    "upgrade",
                    fee,
                    at,
                    remaining_share=_optional_decimal(
                        _field(adjustment, "remaining_share"), f"{name}.remaining_share"
                    ),
                )

    def _account_opened(self, event: ExportedEvent) -> None:
        contract_id = _uuid(_field(event.payload, "contract_id"), "contract_id")
        self._contract(contract_id)
        self.accounts[event.aggregate] = contract_id

    def _points_granted(self, event: ExportedEvent) -> None:
        p = event.payload
        self._account(event).flows[POINTS].add(
            _instant(_field(p, "available_from"), "available_from"),
            "granted",
            _decimal(_field(p, "points"), "points"),
        )

    def _sessions_granted(self, event: ExportedEvent) -> None:
        p = event.payload
        self._account(event).flows[SESSIONS].add(
            _instant(_field(p, "available_from"), "available_from"),
            "granted",
            Decimal(_integer(_field(p, "sessions"), "sessions")),
        )

    def _purchased(self, event: ExportedEvent) -> None:
        p = event.payload
        self._account(event).flows[POINTS].add(
            _instant(_field(p, "purchased_at"), "purchased_at"),
            "purchased",
            _decimal(_field(p, "points"), "points"),
        )

    def _consumed(self, event: ExportedEvent) -> None:
        p = event.payload
        self._account(event).flows[POINTS].add(
            _instant(_field(p, "consumed_at"), "consumed_at"),
            "consumed",
            _sum(_items(_field(p, "draws"), "draws"), "draws"),
        )

    def _training(self, event: ExportedEvent) -> None:
        p = event.payload
        self._account(event).flows[SESSIONS].add(
            _instant(_field(p, "held_at"), "held_at"),
            "consumed",
            _sum(_items(_field(p, "draws"), "draws"), "draws"),
        )

    def _reversed(self, event: ExportedEvent) -> None:
        p = event.payload
        flows = self._account(event).flows[POINTS]
        at = _instant(_field(p, "reversed_at"), "reversed_at")
        returns = _items(_field(p, "returns"), "returns")
        flows.add(at, "reversed", _sum(returns, "returns"))
        flows.add(at, "expired", _sum(returns, "returns", only="expired"))

    def _expired(self, event: ExportedEvent) -> None:
        p = event.payload
        unit = _text(_field(p, "unit"), "unit")
        if unit not in UNITS:
            raise _PayloadError(f"unit: {unit!r} is not one of {', '.join(UNITS)}")
        self._account(event).flows[unit].add(
            _instant(_field(p, "expires_at"), "expires_at"),
            "expired",
            _decimal(_field(p, "amount"), "amount"),
        )

    def _received(self, event: ExportedEvent) -> tuple[str, datetime, str]:
        p = event.payload
        contract = self._contract(_uuid(_field(p, "contract_id"), "contract_id"))
        received = _instant(_field(p, "received_at"), "received_at")
        local = received.astimezone(contract.zone)
        return (
            _text(_field(p, "customer"), "customer"),
            received,
            f"{local.year:04d}-{local.month:02d}",
        )

    def _ticket_opened(self, event: ExportedEvent) -> None:
        p = event.payload
        customer, received, month = self._received(event)
        self.clocks[event.aggregate] = _Clock(
            customer=customer,
            tier=_text(_field(p, "tier"), "tier"),
            severity=_integer(_field(p, "severity"), "severity"),
            declined=False,
            received_at=received,
            received_month=month,
            due_at=_optional_instant(_field(p, "due_at"), "due_at"),
        )

    def _ticket_declined(self, event: ExportedEvent) -> None:
        customer, received, month = self._received(event)
        self.clocks[event.aggregate] = _Clock(
            customer=customer,
            tier=None,
            severity=_integer(_field(event.payload, "severity"), "severity"),
            declined=True,
            received_at=received,
            received_month=month,
        )

    def _clock(self, event: ExportedEvent) -> _Clock:
        clock = self.clocks.get(event.aggregate)
        if clock is None or clock.declined:
            raise _PayloadError(
                f"ticket {event.aggregate} was not opened earlier in the export{WHOLE_LOG}"
            )
        return clock

    def _deadline_moved(self, event: ExportedEvent) -> None:
        self._clock(event).due_at = _optional_instant(_field(event.payload, "due_at"), "due_at")

    def _severity_changed(self, event: ExportedEvent) -> None:
        clock = self._clock(event)
        clock.severity = _integer(_field(event.payload, "severity"), "severity")
        if not clock.stopped:
            clock.due_at = _optional_instant(_field(event.payload, "due_at"), "due_at")

    def _responded(self, event: ExportedEvent) -> None:
        p, clock = event.payload, self._clock(event)
        outcome = _text(_field(p, "outcome"), "outcome")
        if outcome not in {"met", "breached"}:
            raise _PayloadError(f"outcome: {outcome!r} is neither met nor breached")
        clock.stopped = True
        clock.outcome = outcome
        clock.used_seconds = _integer(_field(p, "used_seconds"), "used_seconds")

    def _waived(self, event: ExportedEvent) -> None:
        self._clock(event).waived = True

    # -- questions ---------------------------------------------------------------------------

    def statement(
        self,
        *,
        period: str | None = None,
        term: int | None = None,
        contract_id: UUID | str | None = None,
    ) -> list[dict[str, Any]]:
        """The statement of each contract (or of the one given) for a month or a term.

        The same figures and shape as `CreditUsageView.statement`: contract_id, customer,
        currency, period, term, start, end; per unit (points, sessions) opening, granted,
        purchased, consumed, reversed, expired and closing; the fees assessed within the
        window and their total. Ordered by customer, then contract id.
        """
        window = _window(period, term)
        key = _contract_key(contract_id)
        if key is not None and key not in self.contracts:
            raise UnknownContractError(f"no contract {key} in the export")
        chosen = [self.contracts[key]] if key is not None else list(self.contracts.values())
        result = []
        for contract in sorted(chosen, key=lambda c: (c.customer, str(c.contract_id))):
            if window.month is not None:
                start, end = _month_bounds(*window.month, contract.zone)
            elif window.term in contract.terms:
                start, end = contract.terms[window.term]
            elif key is not None:
                raise InvalidInputError(f"contract {key} has no term {window.term}")
            else:
                continue
            statement: dict[str, Any] = {
                "contract_id": contract.contract_id,
                "customer": contract.customer,
                "currency": contract.currency,
                "period": window.period,
                "term": window.term,
                "start": start,
                "end": end,
            }
            for unit in UNITS:
                statement[unit] = contract.flows[unit].figures(start, end)
            fees = [dict(f) for f in contract.fees if start <= f["assessed_at"] < end]
            fees.sort(key=lambda f: f["assessed_at"])  # stable: log order within an instant
            statement["fees"] = fees
            statement["fees_total"] = sum((f["fee"] for f in fees), Decimal("0.00"))
            result.append(statement)
        return result

    def stats(
        self,
        by: str,
        at: datetime,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Breach figures per tier, customer, severity or month of receipt, sorted by key.

        The same figures and definitions as `SlaBreachView.stats`: `tickets` counts opened
        (not declined) requests received in [since, until); `met` and `breached` the clocks
        met and breached by `at`, waived breaches apart in `waived`; the breach rate
        breached / (met + breached); median and 90th percentile (nearest rank) of the
        business hours used to respond.
        """
        if by not in GROUPINGS:
            raise InvalidInputError(f"by: {by!r} is not a grouping; use {', '.join(GROUPINGS)}")
        if at.utcoffset() is None:
            raise InvalidInputError("at: the instant needs a UTC offset")
        groups: dict[Any, list[_Clock]] = {}
        for clock in self.clocks.values():
            if clock.declined:
                continue
            if since is not None and clock.received_at < since:
                continue
            if until is not None and clock.received_at >= until:
                continue
            groups.setdefault(_group_key(clock, by), []).append(clock)
        return [_stat(key, groups[key], at) for key in sorted(groups)]

    def months(self) -> list[str]:
        """Every month from the first to the last holding a credit movement or a fee (each
        in its contract's timezone), as YYYY-MM."""
        found: set[tuple[int, int]] = set()
        for contract in self.contracts.values():
            instants = [f["assessed_at"] for f in contract.fees]
            for flows in contract.flows.values():
                instants.extend(m[0] for m in flows.moves)
            for instant in instants:
                local = instant.astimezone(contract.zone)
                found.add((local.year, local.month))
        if not found:
            return []
        (year, month), last = min(found), max(found)
        months = []
        while (year, month) <= last:
            months.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return months

    def terms(self) -> list[int]:
        """Every term number some contract of the export has."""
        return sorted({n for c in self.contracts.values() for n in c.terms})


def _error(event: ExportedEvent, problem: str) -> InvalidInputError:
    return InvalidInputError(
        f"line {event.line} (position {event.position}, {event.type}): {problem}",
        line=event.line,
        position=event.position,
    )


def _group_key(clock: _Clock, by: str) -> Any:
    if by == "tier":
        return clock.tier
    if by == "customer":
        return clock.customer
    if by == "severity":
        return clock.severity
    return clock.received_month


def _stat(key: Any, clocks: list[_Clock], at: datetime) -> dict[str, Any]:
    met = breached = waived = 0
    used: list[int] = []
    for clock in clocks:
        if clock.outcome == "met":
            met += 1
        late = clock.outcome == "breached" or (
            not clock.stopped and clock.due_at is not None and at > clock.due_at
        )
        if late and clock.waived:
            waived += 1
        elif late:
            breached += 1
        if clock.stopped and clock.used_seconds is not None:
            used.append(clock.used_seconds)
    used.sort()
    return {
        "key": key,
        "tickets": len(clocks),
        "met": met,
        "breached": breached,
        "waived": waived,
        "breach_rate": (
            (Decimal(breached) / Decimal(met + breached)).quantize(
                RATE_PLACES, rounding=ROUND_HALF_UP
            )
            if met + breached
            else None
        ),
        "responses": len(used),
        "median_response_hours": _hours(_nearest_rank(used, 50)),
        "p90_response_hours": _hours(_nearest_rank(used, 90)),
    }


def _nearest_rank(values: list[int], percent: int) -> int | None:
    """The nearest-rank percentile of sorted `values`: the value at rank ceil(p/100 * n)."""
    if not values:
        return None
    rank = -(-percent * len(values) // 100)
    return values[max(rank, 1) - 1]


def _hours(seconds: int | None) -> Decimal | None:
    if seconds is None:
        return None
    return (Decimal(seconds) / HOUR).quantize(CENT, rounding=ROUND_HALF_UP)


def rederive(lines: Iterable[str]) -> Rederivation:
    """Fold an export (its lines, as read from the file) into statements and statistics.

    Reads nothing but `lines`. The export must hold the whole log (an export made with
    `--since` starts in the middle of histories and is refused, naming the line).
    """
    derivation = Rederivation()
    for event in read_export(lines):
        derivation.apply(event)
    return derivation


# -- comparing with the live views -----------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """A figure on which the export and a live view disagree.

    `report` is `position` (where the export ends vs where a view stands in the log),
    `statement` (`window` a month or `term N`, `subject` a contract id, `unit` points or
    sessions or None for customer, currency, start, end, fees and fees_total) or
    `breach_stats` (`window` `by <grouping>`, `subject` a group key). `figure` names the
    figure (`statement` / `group` when one side has no such statement or group at all).
    """

    report: str
    window: str | None
    subject: str
    unit: str | None
    figure: str
    export: Any
    view: Any

    def describe(self) -> str:
        """One line for people."""
        if self.report == "position":
            relation = (
                "the export is older than the view: export again, or reconcile the view as it was"
                if self.export < self.view
                else "the view has not caught up with the export: run the projections"
            )
            return (
                f"{self.subject}: the export ends at position {self.export}, the view stands "
                f"at {self.view} ({relation})"
            )
        where = " ".join(p for p in (self.report, self.window, self.subject, self.unit) if p)
        return f"{where} {self.figure}: export {self.export}, view {self.view}"


@dataclass(frozen=True)
class Reconciliation:
    """What was compared, and every difference found (none: the views agree with the export)."""

    events: int
    export_position: int
    recorded_at: datetime | None
    view_positions: dict[str, int]
    at: datetime
    windows: list[str]
    groupings: list[str]
    differences: list[Difference]

    @property
    def ok(self) -> bool:
        """Whether no figure and no position differs."""
        return not self.differences

    @property
    def outdated(self) -> bool:
        """Whether the export ends before where a view stands (it misses later events)."""
        return any(p > self.export_position for p in self.view_positions.values())


def reconcile_export(
    lines: Iterable[str],
    settings: DatabaseSettings,
    *,
    period: str | None = None,
    term: int | None = None,
    contract_id: UUID | str | None = None,
    by: str | None = None,
    at: datetime | None = None,
) -> Reconciliation:
    """Re-derive from `lines` alone, then compare with the live views in `settings`' database.

    See `reconcile` for what is compared; bring the views up to date first.
    """
    return reconcile(
        rederive(lines), settings, period=period, term=term, contract_id=contract_id, by=by,
        at=at,
    )  # fmt: skip


def reconcile(
    derived: Rederivation,
    settings: DatabaseSettings,
    *,
    period: str | None = None,
    term: int | None = None,
    contract_id: UUID | str | None = None,
    by: str | None = None,
    at: datetime | None = None,
) -> Reconciliation:
    """Compare a re-derivation with the credit-usage and SLA-breach views.

    Statements: the month `period` or the term `term` (of one contract or of all); with
    neither, every month from the first to the last with credit activity in the export and
    every term. Breach statistics: by the grouping `by`, or by each of tier, customer,
    severity and month; at `at`, by default the instant the export's last event was recorded
    (as the log stood when it was exported; the statistics depend on it only for clocks
    without a response). Positions: where each view stands against the export's last
    position, so that an outdated export is not mistaken for a wrong view.
    """
    from ledger.projections.base import read_state  # noqa: PLC0415 - only the comparison needs it
    from ledger.projections.credit_usage import (  # noqa: PLC0415 - same
        CreditUsageProjection,
        CreditUsageView,
    )
    from ledger.projections.db import ViewDatabase  # noqa: PLC0415 - same
    from ledger.projections.sla_breaches import (  # noqa: PLC0415 - same
        SlaBreachProjection,
        SlaBreachView,
    )

    if period is not None or term is not None:
        windows = [_window(period, term)]
    else:
        windows = [_window(m, None) for m in derived.months()]
        windows += [_window(None, t) for t in derived.terms()]
    key = _contract_key(contract_id)
    if by is not None and by not in GROUPINGS:
        raise InvalidInputError(f"by: {by!r} is not a grouping; use {', '.join(GROUPINGS)}")
    groupings = [by] if by is not None else list(GROUPINGS)
    if at is not None and at.utcoffset() is None:
        raise InvalidInputError("at: the instant needs a UTC offset")
    when = (at or derived.recorded_at or EPOCH).astimezone(UTC)

    db = ViewDatabase(settings)
    try:
        positions = {}
        for name in (CreditUsageProjection.name, SlaBreachProjection.name):
            state = read_state(db, name)
            positions[name] = state.position if state is not None else 0
        CreditUsageProjection(db).create()  # an empty view before its projection first ran
        credit_view, breach_view = CreditUsageView(db), SlaBreachView(db)
        found = [
            Difference("position", None, name, None, "position", derived.position, position)
            for name, position in positions.items()
            if position != derived.position
        ]
        for window in windows:
            mine, problem = _statements(derived, window, key)
            theirs, _ = _statements(credit_view, window, key)
            if problem is not None and theirs is None:
                raise problem  # neither the export nor the view knows the contract (or term)
            found.extend(_compare_statements(window.label, mine or [], theirs or []))
        for grouping in groupings:
            found.extend(
                _compare_stats(
                    f"by {grouping}",
                    derived.stats(grouping, when),
                    breach_view.stats(grouping, when),
                )
            )
    finally:
        db.close()
    return Reconciliation(
        events=derived.events,
        export_position=derived.position,
        recorded_at=derived.recorded_at,
        view_positions=positions,
        at=when,
        windows=[w.label for w in windows],
        groupings=groupings,
        differences=found,
    )


class _Statements(Protocol):
    def statement(
        self,
        *,
        period: str | None = None,
        term: int | None = None,
        contract_id: UUID | str | None = None,
    ) -> list[dict[str, Any]]: ...


def _statements(
    side: _Statements, window: _Window, key: UUID | None
) -> tuple[list[dict[str, Any]] | None, LedgerError | None]:
    """The statements one side gives; None (and why) when it does not know the contract asked
    (or its term)."""
    try:
        return side.statement(period=window.period, term=window.term, contract_id=key), None
    except (UnknownContractError, InvalidInputError) as exc:
        if key is None:
            raise
        return None, exc


def _compare_rows(
    kind: str,
    window: str,
    mine: list[dict[str, Any]],
    theirs: list[dict[str, Any]],
    compare: Callable[[str, dict[str, Any], dict[str, Any]], Iterable[Difference]],
    *,
    field: str,
    what: str,
) -> list[Difference]:
    """The rows of both sides matched by `field`, in its order: a row found on one side only is
    a difference of its presence (named `what`); a matched pair is compared by `compare`."""
    exported = {s[field]: s for s in mine}
    viewed = {s[field]: s for s in theirs}
    found: list[Difference] = []
    for key in sorted(exported.keys() | viewed.keys(), key=str):
        ours, view = exported.get(key), viewed.get(key)
        if ours is None or view is None:
            found.append(
                Difference(kind, window, str(key), None, what,
                           "missing" if ours is None else "present",
                           "missing" if view is None else "present")
            )  # fmt: skip
        else:
            found.extend(compare(str(key), ours, view))
    return found


def _compare_statements(
    window: str, mine: list[dict[str, Any]], theirs: list[dict[str, Any]]
) -> list[Difference]:
    def compare(cid: str, ours: dict[str, Any], view: dict[str, Any]) -> list[Difference]:
        found = [
            Difference("statement", window, cid, None, name, ours[name], view[name])
            for name in ("customer", "currency", "start", "end", "fees_total")
            if ours[name] != view[name]
        ]
        for unit in UNITS:
            found.extend(
                Difference("statement", window, cid, unit, figure, ours[unit][figure],
                           view[unit][figure])
                for figure in FIGURES
                if ours[unit][figure] != view[unit][figure]
            )  # fmt: skip
        our_fees, view_fees = _fee_lines(ours["fees"]), _fee_lines(view["fees"])
        if our_fees != view_fees:
            found.append(Difference("statement", window, cid, None, "fees", our_fees, view_fees))
        return found

    return _compare_rows(
        "statement", window, mine, theirs, compare, field="contract_id", what="statement"
    )


def _fee_lines(fees: list[dict[str, Any]]) -> list[dict[str, Any]]:
    lines = [{name: f[name] for name in FEE_FIELDS} for f in fees]
    return sorted(lines, key=lambda f: (f["assessed_at"], f["term_number"], f["kind"]))


def _compare_stats(
    window: str, mine: list[dict[str, Any]], theirs: list[dict[str, Any]]
) -> list[Difference]:
    def compare(key: str, ours: dict[str, Any], view: dict[str, Any]) -> list[Difference]:
        return [
            Difference("breach_stats", window, key, None, figure, ours[figure], view[figure])
            for figure in STAT_FIGURES
            if ours[figure] != view[figure]
        ]

    return _compare_rows("breach_stats", window, mine, theirs, compare, field="key", what="group")
