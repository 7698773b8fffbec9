"""The hash chain's arithmetic: the link of each stored notification, from the one before it.

    link(0) = 32 zero bytes (genesis)
    link(k) = SHA-256(link(k-1) || enc(n_k))

where n_k is the k-th stored notification. `enc(n)` is a fixed 28-byte header followed by three
byte strings whose lengths the header gives, so no two notifications encode alike:

    notification id        8 bytes, signed big-endian (the position in the log)
    originator version     8 bytes, signed big-endian
    len(originator id)     4 bytes, unsigned big-endian
    len(topic)             4 bytes, unsigned big-endian
    len(state)             4 bytes, unsigned big-endian
    originator id          the UUID's 16 bytes in RFC 4122 (network) order
                           (an id that is not a UUID: its text in UTF-8)
    topic                  UTF-8
    state                  the stored bytes exactly as stored

Pure: it reads no table and imports nothing of ledger, so the projection that keeps the chain
(`ledger.projections.audit_chain`) and its verification (`ledger.audit.chain`) both build on it.
"""

from __future__ import annotations

import hashlib
import struct
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

if TYPE_CHECKING:
    from collections.abc import Iterable

GENESIS = bytes(32)
_HEADER = struct.Struct(">qqIII")
_sha256 = hashlib.sha256

# A stored event as read: (position, originator id as stored, version, topic, state).
Stored = tuple[int, Any, int, str, bytes]


class StoredNotification(Protocol):
    """A notification of the log as the recorder gives it (the fields the chain links)."""

    @property
    def id(self) -> int: ...
    @property
    def originator_id(self) -> Any: ...
    @property
    def originator_version(self) -> int: ...
    @property
    def topic(self) -> str: ...
    @property
    def state(self) -> bytes: ...


def stored(notification: StoredNotification) -> Stored:
    """A notification as the fields the chain links."""
    n = notification
    return (n.id, n.originator_id, n.originator_version, n.topic, n.state)


def links_of(previous: bytes, events: Iterable[Stored]) -> list[bytes]:
    """The links of consecutive stored events after `previous`, in order."""
    links: list[bytes] = []
    append = links.append
    names: dict[str, bytes] = {}
    pack = _HEADER.pack
    sha256 = _sha256
    for event in events:
        position, originator_id, version, topic, state = event
        try:
            origin = originator_id.bytes if type(originator_id) is UUID else _origin(originator_id)
            name = names.get(topic)
            if name is None:
                name = names[topic] = topic.encode()
            header = pack(position, version, len(origin), len(name), len(state))
            previous = sha256(b"".join((previous, header, origin, name, state))).digest()
        except (AttributeError, TypeError, ValueError, struct.error):
            previous = _odd_link(previous, event)
        append(previous)
    return links


def link_of(previous: bytes, event: Stored) -> bytes:
    """The link after `previous` for one stored event (see the module docstring)."""
    return links_of(previous, [event])[0]


def _origin(value: Any) -> bytes:
    """An originator id's bytes: a UUID's 16 (SQLite stores them as 32 hex digits)."""
    if isinstance(value, UUID):
        return value.bytes
    if isinstance(value, str):
        try:
            return UUID(value).bytes
        except ValueError:
            return value.encode()
    return bytes(value or b"")


def _odd_link(previous: bytes, event: Stored) -> bytes:
    """The link of an event whose columns were given values of other types behind the
    library's back (text for bytes, NULL, ...): encoded as near as they go, so that the
    link differs from the one chained and verification names the event."""
    position, originator_id, version, topic, state = event

    def number(value: Any) -> int:
        try:
            return int(value)
        except (TypeError, ValueError):
            return -1

    def raw(value: Any) -> bytes:
        if isinstance(value, str):
            return value.encode()
        return b"" if value is None else bytes(value)

    origin = _origin(originator_id)
    name, body = raw(topic), raw(state)
    header = _HEADER.pack(number(position), number(version), len(origin), len(name), len(body))
    return _sha256(b"".join((previous, header, origin, name, body))).digest()
