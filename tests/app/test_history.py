"""The history of a ticket and of a contract: each event, the state after it, the clock."""

from __future__ import annotations

import pytest

from ledger.application import SupportLedger
from ledger.domain.errors import UnknownTicketError
from ledger.presenters import contract_history, ticket_history
from tests.scenario import World, at, build_world

HOUR = 3600


@pytest.fixture
def app() -> SupportLedger:
    return SupportLedger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


@pytest.fixture
def world(app: SupportLedger) -> World:
    return build_world(app)


def open_premium(
    app: SupportLedger, world: World, key: str, *, severity: int = 2, day: int = 3, hour: int = 9
) -> None:
    app.open_ticket(
        contract_id=world.premium, reporter="ops@acme.example", version="24.2.1",
        platform="linux", severity=severity, key=key, at=at(3, day, hour),
    )  # fmt: skip


def stretches(step: dict[str, object]) -> list[tuple[str, str, bool]]:
    clock = step["clock"]
    assert isinstance(clock, dict)
    return [
        (c["from"].strftime("%d %H:%M"), c["to"].strftime("%d %H:%M"), c["to_come"])
        for c in clock["counted"]
    ]


def test_a_ticket_history_shows_the_clock_after_every_event(
    app: SupportLedger, world: World
) -> None:
    """Premium severity 2 (12 business hours, Mon-Fri 08-18 Berlin): received Monday 09:00,
    held 10:00, resumed Tuesday 09:00: 11 hours left then, due Wednesday 10:00."""
    open_premium(app, world, "H-1")
    app.hold_ticket("H-1", at=at(3, 3, 10))
    app.resume_ticket("H-1", at=at(3, 4, 9))
    app.record_first_response("H-1", at=at(3, 4, 12))
    steps = ticket_history(app, "H-1")
    assert [s["event"]["type"] for s in steps] == [
        "Ticket.Opened",
        "Ticket.Held",
        "Ticket.Resumed",
        "Ticket.FirstResponseRecorded",
    ]
    assert [s["at"] for s in steps] == [at(3, 3, 9), at(3, 3, 10), at(3, 4, 9), at(3, 4, 12)]
    opened, held, resumed, responded = (s["clock"] for s in steps)
    assert (opened["state"], opened["used_seconds"], opened["left_seconds"]) == (
        "running",
        0,
        12 * HOUR,
    )
    assert opened["due_at"] == at(3, 4, 11)
    assert (held["state"], held["used_seconds"], held["left_seconds"]) == (
        "paused",
        HOUR,
        11 * HOUR,
    )
    assert held["due_at"] is None
    assert (resumed["state"], resumed["used_seconds"], resumed["due_at"]) == (
        "running",
        HOUR,
        at(3, 5, 10),
    )
    # UTC stretches: Monday 08-09 used; Tuesday 08-17 and Wednesday 07-09 (Berlin 09-18, 08-10)
    assert stretches(steps[2]) == [
        ("03 08:00", "03 09:00", False),
        ("04 08:00", "04 17:00", True),
        ("05 07:00", "05 09:00", True),
    ]
    assert (responded["state"], responded["used_seconds"], responded["left_seconds"]) == (
        "stopped",
        4 * HOUR,
        None,
    )
    assert steps[3]["ticket"]["outcome"] == "met"


def test_an_appointment_booked_later_counts_only_from_its_booking(
    app: SupportLedger, world: World
) -> None:
    """A Saturday appointment moves the deadline of the running clock from the booking on;
    the history before the booking shows the deadline without it."""
    open_premium(app, world, "H-2", severity=3, day=7, hour=16)  # 24 h: Friday -> Wednesday 10:00
    app.book_appointment(
        world.premium, starts_at=at(3, 8, 10), ends_at=at(3, 8, 14), at=at(3, 7, 17)
    )
    steps = ticket_history(app, "H-2")
    assert [s["event"]["type"] for s in steps] == ["Ticket.Opened", "Ticket.DeadlineRecalculated"]
    before, after = steps[0]["clock"], steps[1]["clock"]
    assert before["due_at"] == at(3, 12, 10)
    assert not any(c["appointment"] for c in before["counted"])
    assert after["due_at"] == at(3, 11, 16)  # four hours on Saturday
    assert [c["seconds"] for c in after["counted"] if c["appointment"]] == [4 * HOUR]


def test_a_declined_request_has_no_clock(app: SupportLedger, world: World) -> None:
    app.open_ticket(
        contract_id=world.premium, reporter="stranger@else.example", version="24.2.1",
        platform="linux", severity=1, key="H-3", at=at(3, 3, 9),
    )  # fmt: skip
    (step,) = ticket_history(app, "H-3")
    assert step["clock"] is None
    assert step["ticket"]["reason"] == "not_a_named_contact"


def test_a_contract_history_shows_the_contract_after_every_event(
    app: SupportLedger, world: World
) -> None:
    app.terminate_contract(world.basic, reason="insolvency", at=at(6, 2))
    steps = contract_history(app, world.basic)
    assert [s["event"]["type"] for s in steps] == [
        "Contract.Signed",
        "Contract.ContactAdded",
        "Contract.Terminated",
    ]
    assert [s["contract"]["status"] for s in steps] == ["active", "active", "terminated"]
    assert [len(s["contract"]["named_contacts"]) for s in steps] == [0, 1, 1]
    assert steps[2]["at"] == at(6, 2)


def test_the_history_of_an_unknown_ticket_is_refused(app: SupportLedger) -> None:
    with pytest.raises(UnknownTicketError):
        ticket_history(app, "NOPE-1")
