"""Builds the application as the commands, the API, the scheduler and the demo run it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ledger.application import SupportLedger
from ledger.projections.contracts import ContractsInView
from ledger.projections.deadlines import UnansweredInView

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from ledger.settings import DatabaseSettings

# The scheduler keeps the aggregates it records facts on in its unit of work's copies, bounded
# in bytes (`LEDGER_COPIES_MB`); the library's aggregate cache, bounded by count only, would
# hold a second copy of each (docs/decisions.md, "The scheduler's memory").
SCHEDULER_ENV = {"AGGREGATE_CACHE_MAXSIZE": ""}


def open_ledger(
    settings: DatabaseSettings,
    env: dict[str, str] | None = None,
    *,
    recording_clock: Callable[[], datetime] | None = None,
) -> SupportLedger:
    """SupportLedger on the store of `settings`, finding open clocks in the deadlines view
    and contracts by name in the contract directory; `recording_clock` stamps recording time
    (the demo's clock; default: the wall clock)."""
    viewed = settings.backend in ("sqlite", "postgresql")
    unanswered = UnansweredInView(settings) if viewed else None
    named = ContractsInView(settings) if viewed else None
    try:
        return SupportLedger(
            env,
            settings=settings,
            unanswered=unanswered,
            contracts_view=named,
            recording_clock=recording_clock,
        )
    except BaseException:
        if unanswered is not None:
            unanswered.close()
        if named is not None:
            named.close()
        raise


def open_reader(settings: DatabaseSettings) -> SupportLedger:
    """SupportLedger that only reads the log of a standby (`LEDGER_READ_DATABASE_URL`): it
    creates no tables and is never given a command; `audit replay`, the look-aheads and the
    pages and API reads of one contract or ticket read the aggregates with it. A contract's
    open clocks and contracts by name come from the standby's deadlines view and contract
    directory, then its log after them, as on the primary."""
    unanswered = UnansweredInView(settings)
    named = ContractsInView(settings)
    try:
        return SupportLedger(
            {"CREATE_TABLE": "n"}, settings=settings, unanswered=unanswered, contracts_view=named
        )
    except BaseException:
        unanswered.close()
        named.close()
        raise
