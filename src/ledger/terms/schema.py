"""Read and write terms by their declared shape: the fields, types and figures of the dataclasses.

A field's type says what its key may hold (`str`, `bool`, `int`, `Decimal`, an enum, a tuple of
those, a `Mapping` keyed by an enum or by bounded numbers, another dataclass, or the weekly
windows of a calendar), the `Bounds` in its `Annotated` type say which numbers, and its
`figure` metadata says where the key sits, what it means and its unit. Every key is required
unless its field has a default (the value that terms written before the figure existed meant),
and a key no field declares is refused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from functools import cache
from types import MappingProxyType
from typing import Annotated, Any, get_args, get_origin, get_type_hints

from ledger.domain.calendar import format_clock, parse_weekly
from ledger.domain.errors import InvalidCalendarError
from ledger.domain.terms import FIGURE, WEEKDAY_NAMES, Bounds, Figure, WeeklyWindows

__all__ = ["Problem", "SchemaReader", "describe_keys", "plain", "shape_fields"]

NO_FIGURE = Figure("")


@dataclasses.dataclass(frozen=True)
class Problem:
    """One thing wrong with a terms file: the key it concerns and what is wrong with it."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}" if self.key else self.message

    def as_dict(self) -> dict[str, str]:
        """The problem as plain JSON data."""
        return {"key": self.key, "message": self.message}


class _Failed:
    """The result of reading a value that had a problem (already recorded)."""


FAILED = _Failed()


@dataclasses.dataclass(frozen=True)
class ShapeField:
    """One field of a terms dataclass with its resolved type and its figure."""

    name: str
    hint: Any
    figure: Figure
    optional: bool

    @property
    def key(self) -> str:
        """The key of the field in a terms file."""
        return self.figure.key or self.name


@cache
def shape_fields(shape: type) -> tuple[ShapeField, ...]:
    """The fields of a terms dataclass, in declaration order, with their types resolved."""
    hints = get_type_hints(shape, include_extras=True)
    return tuple(
        ShapeField(
            f.name,
            hints[f.name],
            f.metadata.get(FIGURE, NO_FIGURE),
            optional=f.default is not dataclasses.MISSING
            or f.default_factory is not dataclasses.MISSING,
        )
        for f in dataclasses.fields(shape)
    )


def unwrap(hint: Any) -> tuple[Any, Bounds | None]:
    """The type under an `Annotated` hint and its `Bounds`, if any."""
    if get_origin(hint) is Annotated:
        base, *extras = get_args(hint)
        return base, next((e for e in extras if isinstance(e, Bounds)), None)
    return hint, None


def join(path: str, key: object) -> str:
    """The dotted path of `key` inside `path` (`path` itself for no key)."""
    if key == "":
        return path
    return f"{path}.{key}" if path else str(key)


def shown(value: Any) -> str:
    """A value as the file wrote it, for a message (decimals without their class)."""
    if isinstance(value, list):
        return "[" + ", ".join(shown(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return str(value)
    return repr(value)


def toml_type(value: Any) -> str:
    """The kind of a TOML value, for a message."""
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


def is_enum(hint: Any) -> bool:
    """Whether `hint` is an enum class."""
    return isinstance(hint, type) and issubclass(hint, Enum)


def expected(base: Any, bounds: Bounds | None) -> str:
    """What a scalar of this type and bounds is called in a message (`an integer >= 1`)."""
    if is_enum(base):
        return "one of " + ", ".join(str(m.value) for m in base)
    default = {str: "non-empty string", bool: "true or false", int: "integer", Decimal: "number"}
    noun = (bounds.noun if bounds else "") or default[base]
    if base is bool:
        return noun
    text = f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"
    if bounds is None:
        return text
    if bounds.values:
        return f"{text} ({', '.join(str(v) for v in bounds.values)})"
    if bounds.minimum is not None and bounds.maximum is not None:
        return f"{text} between {bounds.minimum} and {bounds.maximum}"
    if bounds.minimum is not None:
        return f"{text} >= {bounds.minimum}"
    if bounds.maximum is not None:
        return f"{text} <= {bounds.maximum}"
    return text


def expected_list(base: Any, bounds: Bounds | None) -> str:
    """What a list of scalars of this type is called in a message (`a list of strings`)."""
    if bounds and bounds.plural:
        return bounds.plural
    default = {str: "strings", bool: "booleans", int: "integers", Decimal: "numbers"}
    return "a list of " + ((bounds.noun + "s") if bounds and bounds.noun else default[base])


def scalar(base: Any, bounds: Bounds | None, value: Any) -> Any:
    """`value` read as a scalar of type `base` within `bounds`, or FAILED."""
    if is_enum(base):
        return next((m for m in base if m.value == value), FAILED)
    if base is str:
        return value if isinstance(value, str) and value.strip() else FAILED
    if base is bool:
        return value if isinstance(value, bool) else FAILED
    if isinstance(value, bool):
        return FAILED
    if base is int and isinstance(value, int):
        number: int | Decimal = value
    elif base is Decimal and isinstance(value, int | Decimal):
        number = Decimal(value)
    else:
        return FAILED
    return number if bounds is None or bounds.admits(number) else FAILED


SCALARS = (str, bool, int, Decimal)


class SchemaReader:
    """Reads one terms document by a declared shape, collecting a problem per offending key."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def fail(self, key: str, message: str) -> _Failed:
        """Record a problem with `key`; the value is not read (FAILED)."""
        self.problems.append(Problem(key, message))
        return FAILED

    def flag(self, key: str, message: str) -> bool:
        """Record a problem with `key` and answer False: what holds it cannot be built."""
        self.fail(key, message)
        return False

    def read(self, shape: type, data: Any) -> Any:
        """A `shape` read from the whole document, or FAILED (see `problems`)."""
        return self.value(shape, NO_FIGURE, data, "", None)

    def value(self, hint: Any, figure: Figure, data: Any, path: str, parent_key: object) -> Any:
        """The value at `path`, read by its type hint and figure."""
        if figure.choices is not None:
            if isinstance(data, str) and data in figure.choices:
                return figure.choices[data]
            return self.fail(
                path, f"expected one of {', '.join(figure.choices)}, got {shown(data)}"
            )
        base, bounds = unwrap(hint)
        if base == WeeklyWindows:
            return self.weekly(data, path)
        if base in SCALARS or is_enum(base):
            result = scalar(base, bounds, data)
            if result is FAILED:
                return self.fail(path, f"expected {expected(base, bounds)}, got {shown(data)}")
            return result
        if dataclasses.is_dataclass(base) and isinstance(base, type):
            return self.table(base, data, path, parent_key)
        origin = get_origin(base)
        if origin is tuple:
            return self.sequence(base, data, path)
        if origin is Mapping:
            return self.mapping(base, figure, data, path)
        message = f"{path}: terms fields cannot be of type {base!r}"
        raise TypeError(message)

    def weekly(self, data: Any, path: str) -> Any:
        """Weekly windows, validated as a calendar validates them."""
        try:
            return parse_weekly(data, where=path)
        except InvalidCalendarError as exc:
            where, _, problem = exc.message.partition(": ")
            return self.fail(where, problem) if problem else self.fail(path, exc.message)

    def sequence(self, hint: Any, data: Any, path: str) -> Any:
        """A tuple of scalars, from a TOML array."""
        item, *_ = get_args(hint)
        base, bounds = unwrap(item)
        items = [scalar(base, bounds, v) for v in data] if isinstance(data, list) else [FAILED]
        if any(v is FAILED for v in items):
            return self.fail(path, f"expected {expected_list(base, bounds)}, got {shown(data)}")
        return tuple(items)

    def mapping(self, hint: Any, figure: Figure, data: Any, path: str) -> Any:
        """A read-only mapping whose keys are every member of an enum or every allowed number."""
        key_hint, value_hint = get_args(hint)
        allowed, noun = mapping_keys(key_hint)
        if not isinstance(data, dict):
            return self.fail(path, f"expected a table, got {toml_type(data)}")
        ok = True
        for text in data:
            if text not in allowed:
                names = ", ".join(allowed)
                ok = self.flag(join(path, text), f"unknown {noun}; expected one of {names}")
        result: dict[object, Any] = {}
        for text, key in allowed.items():
            here = join(path, text)
            if text not in data:
                ok = self.flag(here, "missing")
                continue
            read = self.value(value_hint, NO_FIGURE, data[text], here, key)
            if read is FAILED:
                ok = False
            result[key] = read
        if not ok:
            return FAILED
        order = figure.order
        if order is not None:
            result = dict(sorted(result.items(), key=lambda item: order(item[1])))
        return MappingProxyType(result)

    def table(self, shape: type, data: Any, path: str, parent_key: object) -> Any:
        """A dataclass from a table: every field's key required, no other key allowed."""
        if not isinstance(data, dict):
            return self.fail(path, f"expected a table, got {toml_type(data)}")
        fields = shape_fields(shape)
        tables = {f.figure.table for f in fields if f.figure.table}
        known = {f.key for f in fields if not f.figure.table and not f.figure.from_parent_key}
        ok = self.unknown(data, known | tables, path)
        containers: dict[str, Any] = {"": data}
        for name in sorted(tables):
            here = join(path, name)
            if name not in data:
                ok = self.flag(here, "missing")
            elif not isinstance(data[name], dict):
                ok = self.flag(here, f"expected a table, got {toml_type(data[name])}")
            else:
                containers[name] = data[name]
                keys = {f.key for f in fields if f.figure.table == name}
                ok = self.unknown(data[name], keys, here) and ok
        values: dict[str, Any] = {}
        for f in fields:
            if f.figure.from_parent_key:
                values[f.name] = parent_key
                continue
            if f.figure.table not in containers:
                continue
            here = join(join(path, f.figure.table), f.key)
            container = containers[f.figure.table]
            if f.key not in container:
                if not f.optional:  # a field with a default: what terms without the key meant
                    ok = self.flag(here, "missing")
                continue
            read = self.value(f.hint, f.figure, container[f.key], here, None)
            if read is not FAILED and f.figure.convert is not None:
                read = f.figure.convert(read)
            if read is not FAILED and f.figure.check is not None:
                problem = f.figure.check(read, values)
                if problem:
                    read = self.fail(here, problem)
            if read is FAILED:
                ok = False
            else:
                values[f.name] = read
        return shape(**values) if ok else FAILED

    def unknown(self, data: dict[str, Any], known: set[str], path: str) -> bool:
        """Record every key of `data` that is not in `known`; whether there was none."""
        extra = sorted(set(data) - known)
        for key in extra:
            self.fail(join(path, key), "unknown key")
        return not extra


def mapping_keys(hint: Any) -> tuple[dict[str, object], str]:
    """The keys a mapping of this key type must have (as the file writes them), and their name."""
    base, bounds = unwrap(hint)
    if is_enum(base):
        return {str(m.value): m for m in base}, base.__name__.lower()
    if bounds is not None and bounds.values:
        return {str(v): v for v in bounds.values}, bounds.noun or "key"
    message = f"a terms mapping needs enum keys or keys with Bounds(values=...), not {hint!r}"
    raise TypeError(message)


def plain(hint: Any, figure: Figure, value: Any) -> Any:
    """A value of the terms as plain JSON data, keyed as in the file (tables flattened)."""
    if figure.choices is not None:
        return next(word for word, meant in figure.choices.items() if meant == value)
    base, _ = unwrap(hint)
    if base == WeeklyWindows:
        return {
            name: [[format_clock(s), format_clock(e)] for s, e in day]
            for name, day in zip(WEEKDAY_NAMES, value, strict=True)
            if day
        }
    if dataclasses.is_dataclass(base) and isinstance(base, type):
        shape: type = type(value)  # a subclass may add figures
        return {
            f.key: plain(f.hint, f.figure, getattr(value, f.name))
            for f in shape_fields(shape)
            if not f.figure.from_parent_key
        }
    origin = get_origin(base)
    if origin is tuple:
        item, *_ = get_args(base)
        return [plain(item, NO_FIGURE, v) for v in value]
    if origin is Mapping:
        _, item = get_args(base)
        return {
            str(k.value if isinstance(k, Enum) else k): plain(item, NO_FIGURE, v)
            for k, v in value.items()
        }
    if isinstance(value, Enum):
        return value.value
    return str(value) if isinstance(value, Decimal) else value


def describe_keys(shape: type, path: str = "") -> list[tuple[str, str, str]]:
    """Every key a terms file of `shape` holds: (dotted key, unit, meaning), tables expanded."""
    rows: list[tuple[str, str, str]] = []
    for f in shape_fields(shape):
        if f.figure.from_parent_key:
            continue
        here = join(join(path, f.figure.table), f.key)
        base, _ = unwrap(f.hint)
        if dataclasses.is_dataclass(base) and isinstance(base, type):
            rows.extend(describe_keys(base, here))
            continue
        if get_origin(base) is Mapping:
            key_hint, value_hint = get_args(base)
            item, _ = unwrap(value_hint)
            if dataclasses.is_dataclass(item) and isinstance(item, type):
                _, noun = mapping_keys(key_hint)
                rows.extend(describe_keys(item, f"{here}.<{noun}>"))
                continue
        rows.append((here, f.figure.unit, f.figure.doc))
    return rows
