"""What every value object of the domain shares: its plain form, and snapshots written in it.

Aggregates keep their state in frozen dataclasses and enums. Their plain form (dicts of the
fields, enums as their values) is the shape the state had before it was typed, so a snapshot
is written in that shape, old and new snapshots alike, and loaded through the aggregate's
`upcast_v1_v2`, which builds the value objects again. An aggregate whose state changed shape
since (the credit account's version 3) tells the plain shapes apart there, and its later
upcasts leave a state of today's shape as it is.
"""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Any, Self, cast

from eventsourcing.domain import Snapshot


def plain(value: Any) -> Any:
    """`value` with value objects as dicts of their fields and enums as their values."""
    if isinstance(value, Value):
        return value.as_dict()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k) if isinstance(k, int) else k: plain(v) for k, v in value.items()}
    return value


class Value:
    """A frozen dataclass of the domain's state, given as a dict the way it was kept before."""

    __slots__ = ()

    def as_dict(self) -> dict[str, Any]:
        """The fields by name, values plain (see `plain`), in the order they are declared."""
        return {f.name: plain(getattr(self, f.name)) for f in dataclasses.fields(cast("Any", self))}

    def but(self, **changes: Any) -> Self:
        """The same value but for `changes` (`dataclasses.replace`, without its checks)."""
        names = self.__match_args__  # type: ignore[attr-defined]  # the dataclass's fields
        return type(self)(*[changes[n] if n in changes else getattr(self, n) for n in names])

    def __copy__(self) -> Self:
        """The value itself: it never changes, so a copy of an aggregate may share it."""
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        """The value itself: it never changes, so a copy of an aggregate may share it."""
        return self

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """The value object of `as_dict`'s dict (fields given as they are)."""
        return cls(**data)


class PlainSnapshot(Snapshot):
    """The library's snapshot, with the state in its plain form (see the module's docstring)."""

    @classmethod
    def take(cls, aggregate: Any) -> Self:
        """A snapshot of `aggregate`, its state written plain and loaded by its upcast."""
        taken = super().take(aggregate)
        state = {name: plain(value) for name, value in taken.state.items()}
        state.pop("class_version", None)  # the plain form is the shape of version 1
        return dataclasses.replace(taken, state=state)
