"""Given these events, when this command, then these events or this error (Commanded's
`aggregate_case`), for every aggregate test.

`given(start, *commands)` records the history of an aggregate: created by `start()`, changed
by each command. `aggregate_case(given=..., when=..., then=...)` folds that history into a new
aggregate (as a store would load it), runs the command, and checks what it recorded: the
expected events (`event(Kind, field=value, ...)`, only the fields named are compared), or the
expected error (`refused(ErrorClass, message=...)`), in which case nothing may be recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ledger.domain.errors import LedgerError

A = TypeVar("A")


@dataclass(frozen=True)
class Expected:
    """An event expected: its class, and the fields whose values matter to the case."""

    kind: type
    fields: dict[str, Any] = field(default_factory=dict)


def event(kind: type, **fields: Any) -> Expected:
    """An expected event of class `kind` with these field values (others are not compared)."""
    return Expected(kind, fields)


@dataclass(frozen=True)
class Refused:
    """An error expected: its class, and its message when the case names one."""

    error: type[LedgerError]
    message: str | None = None


def refused(error: type[LedgerError], message: str | None = None) -> Refused:
    """The command is refused with `error` (and this message, if given); nothing is recorded."""
    return Refused(error, message)


@dataclass
class Case(Generic[A]):
    """What a case left: the aggregate, the events the command recorded, what it returned, or
    the error it raised."""

    aggregate: A
    events: list[Any]
    result: Any = None
    error: LedgerError | None = None


def given(start: Callable[[], A], *commands: Callable[[A], object]) -> list[Any]:
    """The events of an aggregate created by `start()` and changed by each of `commands`."""
    aggregate = start()
    for command in commands:
        command(aggregate)
    return list(aggregate.collect_events())  # type: ignore[attr-defined]


def fold(events: Sequence[Any]) -> Any:
    """The aggregate the events make, folded as the store folds them."""
    aggregate = None
    for each in events:
        aggregate = each.mutate(aggregate)
    return aggregate


def aggregate_case(
    *,
    given: Sequence[Any],
    when: Callable[[Any], object],
    then: Sequence[Expected] | Refused,
) -> Case[Any]:
    """Fold `given`, run `when` on the aggregate, and check it recorded `then`.

    With no events given, `when` creates the aggregate (it is given None and returns it).
    """
    aggregate = fold(given) if given else None
    if isinstance(then, Refused):
        with pytest.raises(then.error) as raised:
            when(aggregate)
        if then.message is not None:
            assert raised.value.message == then.message
        if aggregate is not None:
            assert aggregate.collect_events() == [], "a refused command records nothing"
        return Case(aggregate, [], error=raised.value)
    result = when(aggregate)
    if aggregate is None:
        aggregate = result
    recorded = list(aggregate.collect_events())
    assert [type(e) for e in recorded] == [expected.kind for expected in then]
    for each, expected in zip(recorded, then, strict=True):
        assert {name: getattr(each, name) for name in expected.fields} == expected.fields
    return Case(aggregate, recorded, result=result)
