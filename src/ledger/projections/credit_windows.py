"""What a credit statement is asked for (a month or a term) and the kinds of fee it lists.

Shared by the credit-usage view (`ledger.projections.credit_usage`) and its check against the
events (`ledger.projections.credit_reconcile`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING
from uuid import UUID

from ledger.domain.calendar import to_us
from ledger.domain.contract import local_midnight
from ledger.domain.errors import InvalidInputError

if TYPE_CHECKING:
    from datetime import datetime

# Fee kinds, by the event that assessed the fee.
INITIAL = "initial"
RENEWAL = "renewal"
REINSTATEMENT = "reinstatement"
UPGRADE = "upgrade"

_PERIOD = re.compile(r"(\d{4})-(\d{2})")


@dataclass(frozen=True)
class StatementRequest:
    """What a statement is asked for: a month (`YYYY-MM`) or a term number."""

    period: str | None
    term: int | None
    month: tuple[int, int] | None


def statement_request(period: str | None, term: int | None) -> StatementRequest:
    """Check that exactly one of period and term is given, and that it is well formed."""
    if (period is None) == (term is None):
        raise InvalidInputError("give either a period (YYYY-MM) or a term number, not both")
    if period is not None:
        match = _PERIOD.fullmatch(str(period).strip())
        month = (int(match.group(1)), int(match.group(2))) if match else None
        if month is None or not 1 <= month[1] <= 12 or month[0] < 1:
            raise InvalidInputError(f"period: {period!r} is not a month; expected YYYY-MM")
        return StatementRequest(f"{month[0]:04d}-{month[1]:02d}", None, month)
    if isinstance(term, bool) or not isinstance(term, int) or term < 1:
        raise InvalidInputError(f"term: expected a term number (1 or more), got {term!r}")
    return StatementRequest(None, term, None)


def month_window(year: int, month: int, timezone: str) -> tuple[datetime, datetime]:
    """The calendar month in `timezone`: [local midnight of the 1st, of the next month's 1st)."""
    following = (year + 1, 1) if month == 12 else (year, month + 1)
    try:
        return (
            local_midnight(date(year, month, 1), timezone),
            local_midnight(date(*following, 1), timezone),
        )
    except (ValueError, OverflowError):
        raise InvalidInputError(f"period: {year:04d}-{month:02d} is out of range") from None


def month_us(request: StatementRequest, timezone: str) -> tuple[int, int]:
    """The month of a request in `timezone`, as integer microseconds."""
    if request.month is None:  # pragma: no cover - a term request has no month
        msg = "not a month"
        raise ValueError(msg)
    start, end = month_window(*request.month, timezone)
    return to_us(start), to_us(end)


def contract_key(contract_id: UUID | str | None) -> str | None:
    """A contract id as the view stores it (None for none); anything else is refused."""
    if contract_id is None:
        return None
    if isinstance(contract_id, UUID):
        return str(contract_id)
    try:
        return str(UUID(str(contract_id).strip()))
    except ValueError:
        raise InvalidInputError(f"contract: {contract_id!r} is not an id (a UUID)") from None
