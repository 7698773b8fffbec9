"""The event log as JSON lines: written in log order, read back with every line checked.

One line per event, in the order of the notification log:

    {"position": 42, "recorded_at": "2026-03-02T10:15:00.123456Z",
     "aggregate": "6f1c...", "type": "Ticket.Opened",
     "topic": "ledger.domain.ticket:Ticket.Opened", "version": 1, "payload": {...}}

- `position`: the event's notification id (its place in the log; ids increase, with gaps
  where a transaction was rolled back);
- `recorded_at`: the library's timestamp, when the event was recorded (not a business instant);
- `aggregate`, `version`: the originator id and version;
- `type`: the stable short name, `<Aggregate>.<Event>` as in docs/events.md; `topic`: the
  event class's full topic, for tools that load the classes;
- `payload`: the event's own fields (the library's originator id, version, timestamp and
  topic are not repeated), as every JSON output of the ledger writes them: decimals as exact
  strings (`"12.5"`), instants in UTC with `Z`, ids as strings, lists and objects as they are.

The export reads the log in pages up to the head it found when it began (a stable end, even
while writers keep recording), so memory stays constant whatever the size of the log.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import CanMutateAggregate
from eventsourcing.utils import get_topic

from ledger.domain.alerts import AlertSubscriptions
from ledger.domain.contract import Contract
from ledger.domain.contract_watch import ContractWatch
from ledger.domain.credit_account import CreditAccount, CreditConsumption
from ledger.domain.errors import InvalidInputError
from ledger.domain.releases import ReleaseCatalog
from ledger.domain.ticket import Ticket
from ledger.parsing import format_instant
from ledger.serialize import format_decimal, jsonable

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import TextIO

    from ledger.application import SupportLedger

AGGREGATES = (
    ReleaseCatalog, Contract, Ticket, CreditAccount, CreditConsumption, AlertSubscriptions,
    ContractWatch,
)  # fmt: skip
_WHOLE = re.compile(r"[+-]?[0-9]+")
KEYS = ("position", "recorded_at", "aggregate", "type", "version", "payload")
# The library's own fields of every event; the line carries them outside the payload.
_META = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic"})


def _event_types() -> dict[str, str]:
    """Every event the domain can record: short name (`Ticket.Opened`) -> topic."""
    found: dict[str, str] = {}
    for aggregate in AGGREGATES:
        for name, value in vars(aggregate).items():
            if (
                isinstance(value, type)
                and issubclass(value, CanMutateAggregate)
                and name not in {"Event", "Created"}
            ):
                found[f"{aggregate.__name__}.{name}"] = get_topic(value)
    return found


EVENT_TYPES = _event_types()


@dataclass(frozen=True, slots=True)
class ExportedEvent:
    """One line of an export, checked: where it sits in the file and in the log, and its data."""

    line: int
    position: int
    recorded_at: datetime
    aggregate: UUID
    type: str
    version: int
    payload: dict[str, Any]


# -- writing -------------------------------------------------------------------------------------


def parse_since(value: str | int | None, name: str = "since") -> int:
    """A log position to export after: a whole number, 0 or more (None: from the start)."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidInputError(f"{name}: expected a log position (0 or more), got {value!r}")
    if isinstance(value, str):
        text = value.strip()
        if not _WHOLE.fullmatch(text):
            raise InvalidInputError(
                f"{name}: {value!r} is not a log position; expected a whole number, 0 or more"
            )
        value = int(text)
    if value < 0:
        raise InvalidInputError(f"{name}: a log position is 0 or more, got {value}")
    return value


def event_line(position: int, event: Any) -> dict[str, Any]:
    """The JSON object written for one event at `position` of the log."""
    kind = type(event)
    names = _FIELDS.get(kind)
    if names is None:
        every = (
            [f.name for f in dataclasses.fields(event)]
            if dataclasses.is_dataclass(event)
            else list(vars(event))
        )
        names = _FIELDS[kind] = tuple(n for n in every if n not in _META)
    return {
        "position": position,
        "recorded_at": format_instant(event.timestamp),
        "aggregate": str(event.originator_id),
        "type": kind.__qualname__,
        "topic": get_topic(kind),
        "version": event.originator_version,
        "payload": {name: _plain(getattr(event, name)) for name in names},
    }


_FIELDS: dict[type, tuple[str, ...]] = {}


def _plain(value: Any) -> Any:
    """`jsonable(value)`, with the types events hold turned directly (the export's hot path)."""
    kind = type(value)
    if value is None or kind is str or kind is int or kind is bool:
        return value
    if kind is Decimal:
        return format_decimal(value)
    if kind is datetime:
        return format_instant(value)
    if kind is UUID:
        return str(value)
    if kind is list:
        return [_plain(v) for v in value]
    if kind is dict:
        return {str(_plain(k)): _plain(v) for k, v in value.items()}
    return jsonable(value)


def open_output(path: str, name: str = "--output") -> TextIO:
    """The file at `path` opened for writing the export; a path that cannot be written (a
    missing folder, a directory, no permission) is an InvalidInputError naming it."""
    target = Path(path)
    try:
        return target.open("w", encoding="utf-8")
    except OSError as exc:
        reason = (
            f"the folder {str(target.parent)!r} does not exist"
            if not target.parent.is_dir()
            else (exc.strerror or str(exc)).lower()
        )
        raise InvalidInputError(f"{name}: cannot write {path!r}: {reason}") from None


def export_events(
    app: SupportLedger, out: TextIO, *, since: int = 0, batch_size: int = 5000
) -> int:
    """Write every event after position `since` to `out`, one JSON line each, in log order.

    The log is read in pages of `batch_size` up to its head as it was when the export began.
    Returns the number of lines written.
    """
    start = parse_since(since)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInputError(f"batch_size: expected 1 or more, got {batch_size!r}")
    head = int(app.recorder.max_notification_id() or 0)
    written = 0
    position = start
    while position < head:
        page = app.recorder.select_notifications(start=position + 1, limit=batch_size, stop=head)
        if not page:
            break
        out.writelines(
            json.dumps(
                event_line(n.id, app.mapper.to_domain_event(n)),
                ensure_ascii=False,
                separators=(",", ":"),
            )
            + "\n"
            for n in page
        )
        written += len(page)
        position = page[-1].id
    return written


# -- reading -------------------------------------------------------------------------------------


def read_export(lines: Iterable[str]) -> Iterator[ExportedEvent]:
    """The events of an export, each line checked as it is read.

    A line must be a JSON object with the keys `position`, `recorded_at`, `aggregate`, `type`,
    `version` and `payload` (`topic` may be present, and must then match the type); positions
    must increase, the type must be an event the ledger knows, and an aggregate's versions must
    follow each other (no event of it missing). Blank lines are skipped. Anything else raises
    InvalidInputError naming the line.
    """
    last_position: int | None = None
    versions: dict[UUID, tuple[int, int]] = {}  # aggregate -> (version, line)
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        event = _parse_line(number, text)
        if last_position is not None and event.position <= last_position:
            raise _bad(
                number,
                f"position {event.position} does not come after position {last_position}: "
                "positions must increase",
            )
        seen = versions.get(event.aggregate)
        if seen is not None and event.version != seen[0] + 1:
            raise _bad(
                number,
                f"aggregate {event.aggregate} is at version {event.version} after version "
                f"{seen[0]} (line {seen[1]}): "
                + ("events are missing" if event.version > seen[0] else "versions must increase"),
            )
        versions[event.aggregate] = (event.version, number)
        last_position = event.position
        yield event


def _bad(number: int, problem: str) -> InvalidInputError:
    return InvalidInputError(f"line {number}: {problem}", line=number)


def _parse_line(number: int, text: str) -> ExportedEvent:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _bad(number, f"not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise _bad(number, f"expected a JSON object, got {type(data).__name__}")
    missing = [key for key in KEYS if key not in data]
    if missing:
        raise _bad(number, f"missing key{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    position = data["position"]
    if isinstance(position, bool) or not isinstance(position, int) or position < 1:
        raise _bad(number, f"position: expected a whole number, 1 or more, got {position!r}")
    kind = data["type"]
    if not isinstance(kind, str) or kind not in EVENT_TYPES:
        raise _bad(number, f"type: {kind!r} is not an event the ledger records")
    topic = data.get("topic")
    if topic is not None and topic != EVENT_TYPES[kind]:
        raise _bad(number, f"topic: {topic!r} is not the topic of {kind} ({EVENT_TYPES[kind]})")
    version = data["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _bad(number, f"version: expected a whole number, 1 or more, got {version!r}")
    payload = data["payload"]
    if not isinstance(payload, dict):
        raise _bad(number, f"payload: expected a JSON object, got {type(payload).__name__}")
    return ExportedEvent(
        line=number,
        position=position,
        recorded_at=_instant(number, data["recorded_at"]),
        aggregate=_uuid(number, data["aggregate"]),
        type=kind,
        version=version,
        payload=payload,
    )


def _instant(number: int, value: Any) -> datetime:
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.utcoffset() is None:
        raise _bad(number, f"recorded_at: {value!r} is not an ISO 8601 instant with an offset")
    return parsed.astimezone(UTC)


def _uuid(number: int, value: Any) -> UUID:
    if isinstance(value, str):
        try:
            return UUID(value)
        except ValueError:
            pass
    raise _bad(number, f"aggregate: {value!r} is not an id (a UUID)")
