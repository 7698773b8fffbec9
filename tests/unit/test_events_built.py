"""Ledger's aggregates build their events with the events' own constructors, as the library does."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Aggregate

from ledger.domain.base import LedgerAggregate

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


def made(aggregate_id: UUID, **extra: Any) -> Sample:
    return Sample._create(
        Sample.Made, id=aggregate_id, name="a", amount=Decimal("1.50"), timestamp=WHEN, **extra
    )


def test_every_event_equals_the_one_its_constructor_builds_from_its_values() -> None:
    """An event triggered on a ledger aggregate is its constructor's, in its fields' order
    (the order it is stored in), and the aggregate is the state those events give."""
    aggregate_id = uuid4()
    sample = made(aggregate_id)
    sample.trigger_event(Sample.Renamed, name="b", timestamp=WHEN)
    sample.trigger_event(Sample.Checked, amount=Decimal(2), timestamp=WHEN)
    events = sample.collect_events()
    for event in events:
        rebuilt = type(event)(**vars(event))
        assert rebuilt == event
        assert list(vars(rebuilt)) == list(vars(event))
    replayed: Any = None
    for event in events:
        replayed = event.mutate(replayed)
    assert vars(replayed) == vars(sample)
    assert (sample.id, sample.version, sample.created_on, sample.history) == (
        aggregate_id,
        3,
        WHEN,
        ["a", "b"],
    )


def test_values_that_are_not_the_events_fields_are_refused_with_the_librarys_errors() -> None:
    """A missing field, one too many, an event's own check: refused, nothing pending."""
    sample = made(uuid4())
    with pytest.raises(TypeError, match=r"^Can't construct event .*Renamed.*title"):
        sample.trigger_event(Sample.Renamed, title="b")
    with pytest.raises(TypeError, match=r"Can't construct event .*Renamed.*name"):
        sample.trigger_event(Sample.Renamed)
    with pytest.raises(ValueError, match="negative"):
        sample.trigger_event(Sample.Checked, amount=Decimal(-1))
    with pytest.raises(TypeError, match=r"^Unable to construct 'Sample.Made' event: .*colour"):
        made(uuid4(), colour="red")
    assert (sample.version, sample.name, len(sample.pending_events)) == (1, "a", 1)


@dataclass(frozen=True)
class Stamped(Aggregate.Event):
    """An event whose constructor fills in a field by itself."""

    name: str
    source: str = field(init=False, default="api")

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "source", f"api:{self.name}")

    def apply(self, aggregate: Any) -> None:
        aggregate.source = self.source


class Labelled(Aggregate.Event):
    """An event with a field the constructor fills in from a default factory."""

    name: str
    labels: list[str] = field(init=False, default_factory=list)

    def apply(self, aggregate: Any) -> None:
        aggregate.labels = self.labels


def test_an_event_whose_constructor_does_more_than_set_its_fields_keeps_what_it_did() -> None:
    """Fields filled in by the constructor are there, as the constructor fills them."""
    sample = made(uuid4())
    sample.trigger_event(Stamped, name="b", timestamp=WHEN)
    sample.trigger_event(Labelled, name="b", timestamp=WHEN)
    stamped, labelled = sample.pending_events[1:]
    assert vars(stamped)["source"] == "api:b"
    assert sample.source == "api:b"  # type: ignore[attr-defined]
    assert labelled.labels == []
    assert vars(labelled) == vars(
        Labelled(**{k: v for k, v in vars(labelled).items() if k != "labels"})
    )


def test_an_aggregate_given_no_uuid_is_refused_as_the_library_refuses_it() -> None:
    """An id that is neither a UUID nor a string, or a string, is refused."""
    with pytest.raises(TypeError, match="not a UUID or str"):
        Sample._create(Sample.Made, id=42, name="a", amount=Decimal(1))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="non-UUID originator_id"):
        Sample._create(Sample.Made, id="sample-1", name="a", amount=Decimal(1))  # type: ignore[arg-type]
