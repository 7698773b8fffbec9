"""The application layer: the use cases by area, run in explicit units of work.

- `uow`: the unit of work (what a use case loads, decides on and saves; one commit; retries).
- `contracts`, `tickets`, `credits`, `releases`: the use cases of each area.
- `facts`: what the scheduler records when an instant comes.
- `queries`: aggregates now, at a version, as of an instant.
- `clocks`: a contract's open clocks, through the `UnansweredTickets` interface a read model
  implements.
- `library`: every override of the eventsourcing library's Application.
- `ledger`: SupportLedger, the persistence set-up and a facade of one or two lines per use case.
"""

from ledger.application.clocks import UnansweredTickets
from ledger.application.facts import LATE_AFTER_SECONDS, DueFact, FactOutcome
from ledger.application.ledger import SupportLedger
from ledger.application.tickets import TicketOpening
from ledger.application.uow import UnitOfWork, UnitsOfWork
from ledger.store import LedgerApplication, snapshot_due

__all__ = [
    "LATE_AFTER_SECONDS",
    "DueFact",
    "FactOutcome",
    "LedgerApplication",
    "SupportLedger",
    "TicketOpening",
    "UnansweredTickets",
    "UnitOfWork",
    "UnitsOfWork",
    "snapshot_due",
]
