"""The credit statements and breach statistics folded from an export alone (see `rederive`).

Reads nothing but the lines of an export: no event store, no database, no view table and no
projection code. The rules it restates are in the docstring of `ledger.audit.rederive`.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ledger.audit.export import ExportedEvent, read_export
from ledger.audit.payloads import (
    PayloadError,
    read_decimal,
    read_field,
    read_instant,
    read_integer,
    read_items,
    read_optional_decimal,
    read_optional_instant,
    read_text,
    read_uuid,
    read_zone,
    sum_amounts,
)
from ledger.domain.errors import InvalidInputError, UnknownContractError
from ledger.figures import GROUPINGS

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from zoneinfo import ZoneInfo

POINTS = "points"
SESSIONS = "sessions"
UNITS = (POINTS, SESSIONS)
# A statement's flows and the sign each has in the balance of what is available: the
# re-derivation's own, on purpose (a test checks it re-derives every figure ledger.figures
# declares).
FLOWS = {"granted": 1, "purchased": 1, "consumed": -1, "reversed": 1, "expired": -1}


CENT = Decimal("0.01")
RATE_PLACES = Decimal("0.0001")
_PERIOD = re.compile(r"(\d{4})-(\d{2})")
WHOLE_LOG = "; re-derive from an export of the whole log (without --since)"


# -- requests --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """A statement asked for: a month (`YYYY-MM`) or a term number."""

    period: str | None
    term: int | None
    month: tuple[int, int] | None

    @property
    def label(self) -> str:
        return self.period if self.period is not None else f"term {self.term}"


def statement_window(period: str | None, term: int | None) -> Window:
    """The statement asked for, checked (the views' twin is `projections.credit_windows`; the
    re-derivation keeps its own so that it imports nothing of the views or the store)."""
    if (period is None) == (term is None):
        raise InvalidInputError("give either a period (YYYY-MM) or a term number, not both")
    if period is not None:
        match = _PERIOD.fullmatch(str(period).strip())
        month = (int(match.group(1)), int(match.group(2))) if match else None
        if month is None or not 1 <= month[1] <= 12 or month[0] < 1:
            raise InvalidInputError(f"period: {period!r} is not a month; expected YYYY-MM")
        return Window(f"{month[0]:04d}-{month[1]:02d}", None, month)
    if isinstance(term, bool) or not isinstance(term, int) or term < 1:
        raise InvalidInputError(f"term: expected a term number (1 or more), got {term!r}")
    return Window(None, term, None)


def month_bounds(year: int, month: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[local midnight of the 1st, local midnight of the next month's 1st), in UTC."""
    following = (year + 1, 1) if month == 12 else (year, month + 1)
    try:
        return (
            datetime(year, month, 1, tzinfo=zone).astimezone(UTC),
            datetime(*following, 1, tzinfo=zone).astimezone(UTC),
        )
    except (ValueError, OverflowError):
        raise InvalidInputError(f"period: {year:04d}-{month:02d} is out of range") from None


def contract_key(contract_id: UUID | str | None) -> UUID | None:
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
    packages: list[dict[str, Any]] = field(default_factory=list)
    # (at, lot id, "consumed" | "expired", points) of every lot movement; a reversal consumes
    # negative points (the revenue fold, ledger.audit.revenue, reads those of package lots)
    lot_moves: list[tuple[datetime, str, str, Decimal]] = field(default_factory=list)
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
            except PayloadError as exc:
                raise _error(event, str(exc)) from None
        self.events += 1
        self.position = event.position
        self.recorded_at = event.recorded_at

    def _contract(self, contract_id: UUID) -> _Contract:
        found = self.contracts.get(contract_id)
        if found is None:
            raise PayloadError(
                f"contract {contract_id} was not signed earlier in the export{WHOLE_LOG}"
            )
        return found

    def _account(self, event: ExportedEvent) -> _Contract:
        contract_id = self.accounts.get(event.aggregate)
        if contract_id is None:
            raise PayloadError(
                f"credit account {event.aggregate} was not opened earlier in the export{WHOLE_LOG}"
            )
        return self._contract(contract_id)

    def _signed(self, event: ExportedEvent) -> None:
        p = event.payload
        contract = _Contract(
            contract_id=event.aggregate,
            customer=read_text(read_field(p, "customer"), "customer"),
            currency=read_text(read_field(p, "currency"), "currency"),
            zone=read_zone(read_text(read_field(p, "timezone"), "timezone")),
        )
        contract.terms[1] = (
            read_instant(read_field(p, "starts_at"), "starts_at"),
            read_instant(read_field(p, "ends_at"), "ends_at"),
        )
        contract.fee(1, "initial", read_decimal(read_field(p, "fee"), "fee"),
                     read_instant(read_field(p, "signed_at"), "signed_at"),
                     fee_share=read_decimal(read_field(p, "fee_share"), "fee_share"))  # fmt: skip
        self.contracts[event.aggregate] = contract

    def _renewed(self, event: ExportedEvent) -> None:
        self._term(event, "renewal", "renewed_at")

    def _reinstated(self, event: ExportedEvent) -> None:
        self._term(event, "reinstatement", "reinstated_at")

    def _term(self, event: ExportedEvent, kind: str, instant_field: str) -> None:
        p, contract = event.payload, self._contract(event.aggregate)
        number = read_integer(read_field(p, "term_number"), "term_number")
        contract.terms[number] = (
            read_instant(read_field(p, "starts_at"), "starts_at"),
            read_instant(read_field(p, "ends_at"), "ends_at"),
        )
        contract.fee(number, kind, read_decimal(read_field(p, "fee"), "fee"),
                     read_instant(read_field(p, instant_field), instant_field),
                     fee_share=read_decimal(read_field(p, "fee_share"), "fee_share"))  # fmt: skip

    def _upgraded(self, event: ExportedEvent) -> None:
        p, contract = event.payload, self._contract(event.aggregate)
        at = read_instant(read_field(p, "upgraded_at"), "upgraded_at")
        for index, adjustment in enumerate(read_items(read_field(p, "adjustments"), "adjustments")):
            name = f"adjustments[{index}]"
            fee = read_decimal(read_field(adjustment, "fee"), f"{name}.fee")
            if fee != 0:
                contract.fee(
                    read_integer(read_field(adjustment, "term_number"), f"{name}.term_number"),
                    "upgrade",
                    fee,
                    at,
                    remaining_share=read_optional_decimal(
                        read_field(adjustment, "remaining_share"), f"{name}.remaining_share"
                    ),
                )

    def _account_opened(self, event: ExportedEvent) -> None:
        contract_id = read_uuid(read_field(event.payload, "contract_id"), "contract_id")
        self._contract(contract_id)
        self.accounts[event.aggregate] = contract_id

    def _points_granted(self, event: ExportedEvent) -> None:
        p = event.payload
        self._account(event).flows[POINTS].add(
            read_instant(read_field(p, "available_from"), "available_from"),
            "granted",
            read_decimal(read_field(p, "points"), "points"),
        )

    def _sessions_granted(self, event: ExportedEvent) -> None:
        p = event.payload
        self._account(event).flows[SESSIONS].add(
            read_instant(read_field(p, "available_from"), "available_from"),
            "granted",
            Decimal(read_integer(read_field(p, "sessions"), "sessions")),
        )

    def _purchased(self, event: ExportedEvent) -> None:
        p, contract = event.payload, self._account(event)
        at = read_instant(read_field(p, "purchased_at"), "purchased_at")
        points = read_decimal(read_field(p, "points"), "points")
        contract.flows[POINTS].add(at, "purchased", points)
        contract.packages.append(
            {"lot_id": read_text(read_field(p, "lot_id"), "lot_id"), "points": points,
             "price": read_decimal(read_field(p, "price"), "price").quantize(CENT),
             "purchased_at": at}
        )  # fmt: skip

    def _consumed(self, event: ExportedEvent) -> None:
        p, contract = event.payload, self._account(event)
        at = read_instant(read_field(p, "consumed_at"), "consumed_at")
        draws = read_items(read_field(p, "draws"), "draws")
        contract.flows[POINTS].add(at, "consumed", sum_amounts(draws, "draws"))
        for index, draw in enumerate(draws):
            contract.lot_moves.append(
                (at, read_text(read_field(draw, "lot_id"), f"draws[{index}].lot_id"), "consumed",
                 read_decimal(read_field(draw, "amount"), f"draws[{index}].amount"))
            )  # fmt: skip

    def _training(self, event: ExportedEvent) -> None:
        p = event.payload
        self._account(event).flows[SESSIONS].add(
            read_instant(read_field(p, "held_at"), "held_at"),
            "consumed",
            sum_amounts(read_items(read_field(p, "draws"), "draws"), "draws"),
        )

    def _reversed(self, event: ExportedEvent) -> None:
        p, contract = event.payload, self._account(event)
        flows = contract.flows[POINTS]
        at = read_instant(read_field(p, "reversed_at"), "reversed_at")
        returns = read_items(read_field(p, "returns"), "returns")
        flows.add(at, "reversed", sum_amounts(returns, "returns"))
        flows.add(at, "expired", sum_amounts(returns, "returns", only="expired"))
        for index, back in enumerate(returns):
            lot = read_text(read_field(back, "lot_id"), f"returns[{index}].lot_id")
            points = read_decimal(read_field(back, "amount"), f"returns[{index}].amount")
            contract.lot_moves.append((at, lot, "consumed", -points))
            if read_field(back, "expired"):  # back to a lot that has expired: it expires at once
                contract.lot_moves.append((at, lot, "expired", points))

    def _expired(self, event: ExportedEvent) -> None:
        p = event.payload
        unit = read_text(read_field(p, "unit"), "unit")
        if unit not in UNITS:
            raise PayloadError(f"unit: {unit!r} is not one of {', '.join(UNITS)}")
        contract = self._account(event)
        at = read_instant(read_field(p, "expires_at"), "expires_at")
        lost = read_decimal(read_field(p, "amount"), "amount")
        contract.flows[unit].add(at, "expired", lost)
        if unit == POINTS:
            contract.lot_moves.append(
                (at, read_text(read_field(p, "lot_id"), "lot_id"), "expired", lost)
            )

    def _received(self, event: ExportedEvent) -> tuple[str, datetime, str]:
        p = event.payload
        contract = self._contract(read_uuid(read_field(p, "contract_id"), "contract_id"))
        received = read_instant(read_field(p, "received_at"), "received_at")
        local = received.astimezone(contract.zone)
        return (
            read_text(read_field(p, "customer"), "customer"),
            received,
            f"{local.year:04d}-{local.month:02d}",
        )

    def _ticket_opened(self, event: ExportedEvent) -> None:
        p = event.payload
        customer, received, month = self._received(event)
        self.clocks[event.aggregate] = _Clock(
            customer=customer,
            tier=read_text(read_field(p, "tier"), "tier"),
            severity=read_integer(read_field(p, "severity"), "severity"),
            declined=False,
            received_at=received,
            received_month=month,
            due_at=read_optional_instant(read_field(p, "due_at"), "due_at"),
        )

    def _ticket_declined(self, event: ExportedEvent) -> None:
        customer, received, month = self._received(event)
        self.clocks[event.aggregate] = _Clock(
            customer=customer,
            tier=None,
            severity=read_integer(read_field(event.payload, "severity"), "severity"),
            declined=True,
            received_at=received,
            received_month=month,
        )

    def _clock(self, event: ExportedEvent) -> _Clock:
        clock = self.clocks.get(event.aggregate)
        if clock is None or clock.declined:
            raise PayloadError(
                f"ticket {event.aggregate} was not opened earlier in the export{WHOLE_LOG}"
            )
        return clock

    def _deadline_moved(self, event: ExportedEvent) -> None:
        self._clock(event).due_at = read_optional_instant(
            read_field(event.payload, "due_at"), "due_at"
        )

    def _severity_changed(self, event: ExportedEvent) -> None:
        clock = self._clock(event)
        clock.severity = read_integer(read_field(event.payload, "severity"), "severity")
        if not clock.stopped:
            clock.due_at = read_optional_instant(read_field(event.payload, "due_at"), "due_at")

    def _responded(self, event: ExportedEvent) -> None:
        p, clock = event.payload, self._clock(event)
        outcome = read_text(read_field(p, "outcome"), "outcome")
        if outcome not in {"met", "breached"}:
            raise PayloadError(f"outcome: {outcome!r} is neither met nor breached")
        clock.stopped = True
        clock.outcome = outcome
        clock.used_seconds = read_integer(read_field(p, "used_seconds"), "used_seconds")

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
        window = statement_window(period, term)
        result = []
        for contract, heading in self.windows(window, contract_id):
            statement: dict[str, Any] = dict(heading)
            start, end = heading["start"], heading["end"]
            for unit in UNITS:
                statement[unit] = contract.flows[unit].figures(start, end)
            # a term's fees: those paying for it, whenever charged; a month's: charged in it
            fees = [
                dict(f)
                for f in contract.fees
                if (
                    f["term_number"] == window.term
                    if window.term
                    else start <= f["assessed_at"] < end
                )
            ]
            fees.sort(key=lambda f: f["assessed_at"])  # stable: log order within an instant
            statement["fees_basis"] = "paying_for_term" if window.term else "charged_in_period"
            statement["fees"] = fees
            statement["fees_total"] = sum((f["fee"] for f in fees), Decimal("0.00"))
            bought = [dict(b) for b in contract.packages if start <= b["purchased_at"] < end]
            statement["packages"] = bought
            statement["packages_total"] = sum((b["price"] for b in bought), Decimal("0.00"))
            result.append(statement)
        return result

    def windows(
        self, window: Window, contract_id: UUID | str | None
    ) -> list[tuple[_Contract, dict[str, Any]]]:
        """Each contract (or the one given) with its window's heading: contract_id, customer,
        currency, timezone, period, term, and the window's bounds `start` and `end` (the month
        in the contract's zone, or its term N; a contract without term N is passed over,
        unless it is the one given). Ordered by customer, then contract id."""
        key = contract_key(contract_id)
        if key is not None and key not in self.contracts:
            raise UnknownContractError(f"no contract {key} in the export")
        chosen = [self.contracts[key]] if key is not None else list(self.contracts.values())
        found = []
        for contract in sorted(chosen, key=lambda c: (c.customer, str(c.contract_id))):
            if window.month is not None:
                start, end = month_bounds(*window.month, contract.zone)
            elif window.term in contract.terms:
                start, end = contract.terms[window.term]
            elif key is not None:
                raise InvalidInputError(f"contract {key} has no term {window.term}")
            else:
                continue
            found.append((contract, {
                "contract_id": contract.contract_id, "customer": contract.customer,
                "currency": contract.currency, "timezone": contract.zone.key,
                "period": window.period, "term": window.term, "start": start, "end": end,
            }))  # fmt: skip
        return found

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
        "median_response_seconds": _nearest_rank(used, 50),
        "p90_response_seconds": _nearest_rank(used, 90),
    }


def _nearest_rank(values: list[int], percent: int) -> int | None:
    """The nearest-rank percentile of sorted `values`: the value at rank ceil(p/100 * n)."""
    if not values:
        return None
    rank = -(-percent * len(values) // 100)
    return values[max(rank, 1) - 1]


def rederive(lines: Iterable[str]) -> Rederivation:
    """Fold an export (its lines, as read from the file) into statements and statistics.

    Reads nothing but `lines`. The export must hold the whole log (an export made with
    `--since` starts in the middle of histories and is refused, naming the line).
    """
    derivation = Rederivation()
    for event in read_export(lines):
        derivation.apply(event)
    return derivation
