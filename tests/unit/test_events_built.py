"""LedgerAggregate builds events without their constructor, and builds exactly what it would."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Aggregate

from ledger.domain.base import LedgerAggregate, new_event

WHEN = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)


class Sample(LedgerAggregate):
    """An aggregate of the shape ledger's have: created by a named event, no __init__."""

    class Made(Aggregate.Created):
        name: str
        amount: Decimal

        def apply(self, aggregate: Any) -> None:
            aggregate.name = self.name
            aggregate.amount = self.amount
            aggregate.history = [self.name]

    class Renamed(Aggregate.Event):
        name: str

        def apply(self, aggregate: Any) -> None:
            aggregate.name = self.name
            aggregate.history.append(self.name)

    class Checked(Aggregate.Event):
        """An event that checks its values when constructed."""

        amount: Decimal

        def __post_init__(self) -> None:
            if self.amount < 0:
                raise ValueError("negative")

        def apply(self, aggregate: Any) -> None:
            aggregate.amount = self.amount


def made(build: Any, aggregate_id: UUID) -> Sample:
    sample: Sample = build(Sample, Sample.Made, id=aggregate_id, name="a", amount=Decimal("1.50"))
    return sample


def test_an_aggregate_is_created_and_changed_as_the_library_does_it() -> None:
    aggregate_id = uuid4()
    ours = made(lambda cls, *a, **k: cls._create(*a, timestamp=WHEN, **k), aggregate_id)
    theirs = made(
        lambda cls, *a, **k: Aggregate._create.__func__(cls, *a, timestamp=WHEN, **k),  # type: ignore[attr-defined]
        aggregate_id,
    )
    ours.trigger_event(Sample.Renamed, name="b", timestamp=WHEN)
    Aggregate.trigger_event(theirs, Sample.Renamed, name="b", timestamp=WHEN)
    Aggregate.trigger_event(theirs, Sample.Checked, amount=Decimal(2), timestamp=WHEN)
    ours.trigger_event(Sample.Checked, amount=Decimal(2), timestamp=WHEN)
    assert vars(ours) == vars(theirs)
    ours_events, theirs_events = ours.collect_events(), theirs.collect_events()
    assert ours_events == theirs_events
    # In the same order of attributes: an event is stored in that order.
    assert [list(vars(e)) for e in ours_events] == [list(vars(e)) for e in theirs_events]
    assert (ours.id, ours.version, ours.created_on, ours.history) == (
        aggregate_id,
        3,
        WHEN,
        ["a", "b"],
    )


def test_values_that_are_not_the_events_fields_are_refused_as_the_library_refuses_them() -> None:
    values = {"originator_id": uuid4(), "originator_version": 2, "timestamp": WHEN}
    with pytest.raises(TypeError, match="name"):
        new_event(Sample.Renamed, dict(values))  # a field missing
    with pytest.raises(TypeError, match="colour"):
        new_event(Sample.Renamed, dict(values, name="b", colour="red"))  # one too many
    with pytest.raises(TypeError, match="non-UUID originator_id"):
        new_event(Sample.Renamed, dict(values, name="b", originator_id="not-a-uuid"))
    with pytest.raises(ValueError, match="negative"):  # its own __post_init__ still runs
        new_event(Sample.Checked, dict(values, amount=Decimal(-1)))
    sample = made(lambda cls, *a, **k: cls._create(*a, **k), uuid4())
    with pytest.raises(TypeError, match=r"^Can't construct event .*Renamed.*title"):
        sample.trigger_event(Sample.Renamed, title="b")
    with pytest.raises(TypeError, match=r"^Unable to construct 'Sample.Made' event: .*colour"):
        Sample._create(Sample.Made, id=uuid4(), name="a", amount=Decimal(1), colour="red")
    assert (sample.version, sample.name, len(sample.pending_events)) == (1, "a", 1)


@dataclass(frozen=True)
class Stamped(Aggregate.Event):
    """An event whose constructor fills in a field by itself."""

    name: str
    source: str = field(init=False, default="api")

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "source", f"api:{self.name}")


class Labelled(Aggregate.Event):
    """An event with a field the constructor fills in from a default factory."""

    name: str
    labels: list[str] = field(init=False, default_factory=list)


def test_an_event_whose_constructor_does_more_than_set_its_fields_is_constructed() -> None:
    values = {"originator_id": uuid4(), "originator_version": 2, "timestamp": WHEN, "name": "b"}
    stamped = new_event(Stamped, dict(values))
    assert vars(stamped)["source"] == "api:b"
    labelled = new_event(Labelled, dict(values))
    assert vars(labelled) == vars(Labelled(**values))
    assert labelled.labels == []


def test_an_aggregate_given_no_uuid_is_refused_as_the_library_refuses_it() -> None:
    with pytest.raises(TypeError, match="not a UUID or str"):
        Sample._create(Sample.Made, id=42, name="a", amount=Decimal(1))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="non-UUID originator_id"):
        Sample._create(Sample.Made, id="sample-1", name="a", amount=Decimal(1))  # type: ignore[arg-type]
