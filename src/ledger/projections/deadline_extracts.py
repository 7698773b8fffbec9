"""What the deadlines fold reads of each event it follows: an extract of plain values.

As `sla_extracts` does for the SLA view: `extract(event)` turns a followed domain event into a
small named tuple of text, numbers and microseconds (ids as text, instants as microseconds
since the epoch, a contract's watch id and a term's end as the text the rows key on, a
clock's warnings as (share, instant) pairs of those not reached), so the fold
(`deadlines`) reads nothing else and a large rebuild makes them in a process of its own
(`projections/reader.py`). Every extract starts with `key` (its aggregate's id as text) and
`recorded_at` (the event's recording time).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple
from uuid import UUID

from ledger.domain.calendar import to_us
from ledger.domain.contract import Contract
from ledger.domain.contract_watch import ContractWatch
from ledger.domain.credit_account import POINTS, CreditAccount
from ledger.domain.ticket import Ticket
from ledger.projections.db import us

if TYPE_CHECKING:
    from collections.abc import Callable


class Term(NamedTuple):
    """A contract signed, renewed or reinstated: its latest term ends at `ends_at`."""

    key: str
    recorded_at: int
    watch: str  # the contract's watch (`term_ending` rows are keyed on it)
    ends_at: int
    ends: str  # the term's end as the `term_ending` row's detail


class Ended(NamedTuple):
    """A contract lapsed or terminated."""

    key: str
    recorded_at: int
    watch: str


class Told(NamedTuple):
    """A contract's watch told of a lot expiring (`lots_expiring`) or its term ending."""

    key: str
    recorded_at: int
    kind: str  # lots_expiring or term_ending: the row it settles
    detail: str


class AccountOpened(NamedTuple):
    key: str
    recorded_at: int
    contract: str


class AgreementEnded(NamedTuple):
    key: str
    recorded_at: int
    ended_at: int


class TermScheduled(NamedTuple):
    key: str
    recorded_at: int
    term_number: str
    starts_at: int


class Lot(NamedTuple):
    """A lot granted or bought: it expires at `expires_at` (if ever), counted from
    `available_from`; `granted_term` is the term number a term's grant settles, `notice_from`
    the instant a lot of points can be told of from (None: sessions, never told of)."""

    key: str
    recorded_at: int
    lot_id: str
    expires_at: int | None
    available_from: int
    granted_term: str | None
    notice_from: int | None


class LotExpired(NamedTuple):
    key: str
    recorded_at: int
    lot_id: str
    points: bool


class TicketOpened(NamedTuple):
    """A ticket opened: its clock's deadline and the warnings not reached, (share, instant)."""

    key: str
    recorded_at: int
    contract: str
    due_at: int | None
    warnings: tuple[tuple[str, int], ...]


class Clock(NamedTuple):
    """A ticket's clock held, resumed, re-rated or recalculated: its instants now."""

    key: str
    recorded_at: int
    due_at: int | None
    warnings: tuple[tuple[str, int], ...]


class Responded(NamedTuple):
    key: str
    recorded_at: int


class Breached(NamedTuple):
    key: str
    recorded_at: int


class WarningReached(NamedTuple):
    key: str
    recorded_at: int
    share: str


Extract = (
    Term | Ended | Told | AccountOpened | AgreementEnded | TermScheduled | Lot | LotExpired
    | TicketOpened | Clock | Responded | Breached | WarningReached
)  # fmt: skip
TICKET_EXTRACTS = (TicketOpened, Clock, Responded, Breached, WarningReached)
ACCOUNT_EXTRACTS = (AccountOpened, AgreementEnded, TermScheduled, Lot, LotExpired)


@lru_cache(maxsize=64)  # a handful of shares (0.5, 0.75), formatted for every clock's rows
def share_key(value: Any) -> str:
    """A warning share as a stable key: `0.5`, `0.75`."""
    return f"{value.normalize():f}" if hasattr(value, "normalize") else str(value)


@lru_cache(maxsize=4096)  # contracts' watches, named again at every lot that expires
def watch_of(contract: str) -> str:
    """The id (text) of a contract's watch."""
    return str(ContractWatch.create_id(UUID(contract)))


def _warnings(warnings: list[dict[str, Any]]) -> tuple[tuple[str, int], ...]:
    return tuple(
        (share_key(w["share"]), to_us(w["at"]))
        for w in warnings
        if w["at"] is not None and not w["reached"]
    )


def _term(event: Any, key: str, recorded: int) -> Term:
    return Term(key, recorded, watch_of(key), to_us(event.ends_at), event.ends_at.isoformat())


def _ended(event: Any, key: str, recorded: int) -> Ended:
    del event
    return Ended(key, recorded, watch_of(key))


def _lots_told(event: Any, key: str, recorded: int) -> Told:
    return Told(key, recorded, "lots_expiring", event.lot_id)


def _term_told(event: Any, key: str, recorded: int) -> Told:
    return Told(key, recorded, "term_ending", event.ends_at.isoformat())


def _opened(event: Any, key: str, recorded: int) -> AccountOpened:
    return AccountOpened(key, recorded, str(event.contract_id))


def _agreement_ended(event: Any, key: str, recorded: int) -> AgreementEnded:
    return AgreementEnded(key, recorded, to_us(event.ended_at))


def _scheduled(event: Any, key: str, recorded: int) -> TermScheduled:
    return TermScheduled(key, recorded, str(event.term_number), to_us(event.starts_at))


def _granted(event: Any, key: str, recorded: int) -> Lot:
    term = str(event.term_number) if event.reason == "term" else None
    notice = to_us(event.granted_at) if type(event) is CreditAccount.PointsGranted else None
    return Lot(
        key, recorded, event.lot_id, us(event.expires_at), to_us(event.available_from), term,
        notice,
    )  # fmt: skip


def _purchased(event: Any, key: str, recorded: int) -> Lot:
    bought = to_us(event.purchased_at)
    return Lot(key, recorded, event.lot_id, us(event.expires_at), bought, None, bought)


def _expired(event: Any, key: str, recorded: int) -> LotExpired:
    return LotExpired(key, recorded, event.lot_id, event.unit == POINTS)


def _ticket_opened(event: Any, key: str, recorded: int) -> TicketOpened:
    return TicketOpened(
        key, recorded, str(event.contract_id), us(event.due_at), _warnings(event.warnings)
    )


def _clock(event: Any, key: str, recorded: int) -> Clock:
    return Clock(key, recorded, us(event.due_at), _warnings(event.warnings))


def _responded(event: Any, key: str, recorded: int) -> Responded:
    del event
    return Responded(key, recorded)


def _breached(event: Any, key: str, recorded: int) -> Breached:
    del event
    return Breached(key, recorded)


def _warning(event: Any, key: str, recorded: int) -> WarningReached:
    return WarningReached(key, recorded, share_key(event.share))


_EXTRACTORS: dict[type, Callable[[Any, str, int], Extract]] = {
    Contract.Signed: _term,
    Contract.Renewed: _term,
    Contract.Reinstated: _term,
    Contract.Lapsed: _ended,
    Contract.Terminated: _ended,
    CreditAccount.Opened: _opened,
    CreditAccount.TermScheduled: _scheduled,
    CreditAccount.PointsGranted: _granted,
    CreditAccount.SessionsGranted: _granted,
    CreditAccount.PackagePurchased: _purchased,
    CreditAccount.LotExpired: _expired,
    CreditAccount.AgreementEnded: _agreement_ended,
    Ticket.Opened: _ticket_opened,
    Ticket.Held: _clock,
    Ticket.Resumed: _clock,
    Ticket.SeverityChanged: _clock,
    Ticket.DeadlineRecalculated: _clock,
    Ticket.WarningReached: _warning,
    Ticket.ResponseDeadlineBreached: _breached,
    Ticket.FirstResponseRecorded: _responded,
    ContractWatch.LotsExpiring: _lots_told,
    ContractWatch.TermEnding: _term_told,
}
FOLLOWS = tuple(_EXTRACTORS)  # the events the view follows: those it has an extract of


def extract(event: Any) -> Extract:
    """The extract of a followed event (KeyError for an event the view does not follow)."""
    return _EXTRACTORS[type(event)](event, str(event.originator_id), to_us(event.timestamp))
