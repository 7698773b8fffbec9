"""Placeholder: the sla_breaches read model is being written (see the issue on projections)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ledger.projections.base import Projection

if TYPE_CHECKING:
    from ledger.projections.db import Transaction


class SlaBreachProjection(Projection):
    """Placeholder."""

    name = "sla_breaches"
    follows = ()

    def ddl(self) -> list[str]:
        return []

    def tables(self) -> list[str]:
        return []

    def apply(self, tx: Transaction, events: list[tuple[int, Any]]) -> None:
        del tx, events  # placeholder: applies nothing yet
