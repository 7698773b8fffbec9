"""docs/events.md names every event class the domain can record."""

from __future__ import annotations

from pathlib import Path

import pytest
from eventsourcing.domain import CanMutateAggregate

from ledger.domain.alerts import AlertSubscriptions
from ledger.domain.contract import Contract
from ledger.domain.contract_watch import ContractWatch
from ledger.domain.credit_account import CreditAccount, CreditConsumption
from ledger.domain.releases import ReleaseCatalog
from ledger.domain.ticket import Ticket

CATALOGUE = (Path(__file__).parents[2] / "docs" / "events.md").read_text(encoding="utf-8")
AGGREGATES = [
    ReleaseCatalog, Contract, Ticket, CreditAccount, CreditConsumption, AlertSubscriptions,
    ContractWatch,
]  # fmt: skip


def event_names() -> list[str]:
    names = []
    for aggregate in AGGREGATES:
        for name, value in vars(aggregate).items():
            if isinstance(value, type) and issubclass(value, CanMutateAggregate):
                if name in {"Event", "Created"}:
                    continue
                names.append(f"{aggregate.__name__}.{name}")
    return sorted(names)


@pytest.mark.parametrize("name", event_names())
def test_every_event_is_in_the_catalogue(name: str) -> None:
    """Each event class appears in docs/events.md by its qualified name."""
    assert f"`{name}`" in CATALOGUE


def test_the_catalogue_names_no_event_that_does_not_exist() -> None:
    """Every event the page names is an event class (no stale entries)."""
    documented = {line.split("`")[1] for line in CATALOGUE.splitlines() if line.startswith("| `")}
    assert documented == set(event_names())
