"""Read models built from the notification log, and the runner that keeps them current."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ledger.projections.contracts import ContractDirectoryProjection
from ledger.projections.credit_usage import CreditUsageProjection
from ledger.projections.deadlines import DeadlinesProjection
from ledger.projections.runner import UnknownProjectionError
from ledger.projections.sla_breaches import SlaBreachProjection

if TYPE_CHECKING:
    from ledger.projections.base import Projection

# Every projection by its permanent name, in the order `run` starts them. The audit chain is
# not one of them: the recorders link each event in the transaction that records it.
PROJECTIONS: dict[str, type[Projection]] = {
    p.name: p
    for p in (
        SlaBreachProjection,
        CreditUsageProjection,
        DeadlinesProjection,
        ContractDirectoryProjection,
    )
}


def projections_named(names: list[str] | tuple[str, ...] | None) -> list[type[Projection]]:
    """The projections called `names` (all of them when none are given)."""
    if not names:
        return list(PROJECTIONS.values())
    unknown = [n for n in names if n not in PROJECTIONS]
    if unknown:
        raise UnknownProjectionError(
            f"no projection {unknown[0]!r}; known: {', '.join(PROJECTIONS)}"
        )
    return [PROJECTIONS[n] for n in names]
