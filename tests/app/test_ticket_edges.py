"""Ticket commands at the edges: declined requests and tickets opened without a key."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ledger.application import SupportLedger
from ledger.domain.errors import TicketDeclinedError
from tests.scenario import World, at, build_world, recorded

if TYPE_CHECKING:
    from collections.abc import Callable


@pytest.fixture
def app() -> SupportLedger:
    return SupportLedger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


@pytest.fixture
def world(app: SupportLedger) -> World:
    return build_world(app)


@pytest.mark.parametrize(
    "command",
    [
        lambda app: app.hold_ticket("D-1", at=at(3, 3, 10)),
        lambda app: app.resume_ticket("D-1", at=at(3, 3, 10)),
        lambda app: app.change_severity("D-1", severity=2, at=at(3, 3, 10)),
        lambda app: app.record_first_response("D-1", at=at(3, 3, 10)),
    ],
    ids=["hold", "resume", "severity", "respond"],
)
def test_a_declined_request_takes_no_clock_command(
    app: SupportLedger, world: World, command: Callable[[SupportLedger], object]
) -> None:
    """Each is refused as `ticket_declined`, naming why, and records nothing."""
    app.open_ticket(
        contract_id=world.premium, reporter="stranger@else.example", version="24.2.1",
        platform="linux", severity=1, key="D-1", at=at(3, 3, 9),
    )  # fmt: skip
    before = recorded(app)
    with pytest.raises(TicketDeclinedError) as refused:
        command(app)
    assert "not_a_named_contact" in refused.value.message
    assert recorded(app) == before


def test_a_ticket_opened_without_a_key_is_found_by_the_key_it_was_given(
    app: SupportLedger, world: World
) -> None:
    opening = app.open_ticket(
        contract_id=world.premium, reporter="ops@acme.example", version="24.2.1",
        platform="linux", severity=1, at=at(3, 3, 9),
    )  # fmt: skip
    ticket = app.get_ticket(opening.ticket_id)
    assert ticket.external_key.startswith("t-")
    assert app.get_ticket(ticket.external_key).id == opening.ticket_id
