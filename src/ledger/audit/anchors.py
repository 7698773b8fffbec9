"""Anchors: the chain's digest, signed, kept outside the database, and the log checked against them.

An anchor is one JSON object (one line of a JSON-lines file, or the body POSTed to a URL):

    {"position": 1200, "hash": "3f5a...", "at": "2026-12-04T20:15:00.000000Z",
     "signature": "<HMAC-SHA256 in hex>"}

`position` and `hash` are the chain's head (`ledger audit digest`), `at` the instant it was
taken, and `signature` the HMAC-SHA256 of `ledger-anchor-v1\\n{position}\\n{hash}\\n{at}` under
`LEDGER_ANCHOR_KEY`, a key that never enters the database: whoever rewrites the log and the
chain table to match cannot forge an anchor, and cannot make the log agree with the anchors
taken before the rewrite. `ledger audit anchor --to FILE|URL` takes one;
`LEDGER_ANCHOR_TO` + `LEDGER_ANCHOR_EVERY_MINUTES` make the scheduler take one every N minutes.

`check_anchors` recomputes the chain from the log once and compares it with every anchor: an
anchor whose signature does not check is `anchor_forged`; one whose hash differs from the
link recomputed at its position (or whose position the log no longer has) is
`anchor_contradicted`. The first, in the file's order, is named.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ledger.audit.chain import (
    HASH_HEX_LENGTH,
    HEX_DIGITS,
    Problem,
    Verification,
    chain_behind,
    heads,
    id_text,
)
from ledger.audit.snapshots import SNAPSHOT_MISMATCH
from ledger.domain.errors import InvalidInputError, LedgerError
from ledger.errors import ConfigurationError
from ledger.hashchain import GENESIS, links_of, stored
from ledger.settings import ANCHOR_EVERY, ANCHOR_KEY, ANCHOR_TO

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ledger.application import SupportLedger
    from ledger.projections.db import ViewDatabase

KEY_MIN_LENGTH = 32
MAX_EVERY_MINUTES = 7 * 24 * 60
POST_TIMEOUT_SECONDS = 10.0
WALK_BATCH = 5000

ANCHOR_FORGED = "anchor_forged"
ANCHOR_CONTRADICTED = "anchor_contradicted"


class AnchorNotDeliveredError(LedgerError):
    """An anchor could not be written to its file or POSTed to its URL."""

    code = "anchor_not_delivered"
    kind = "refused"


# -- settings ----------------------------------------------------------------------------------


def anchor_key(env: Mapping[str, str] | None = None) -> bytes:
    """The key anchors are signed with (`LEDGER_ANCHOR_KEY`), refused when unset or short."""
    key = ((os.environ if env is None else env).get(ANCHOR_KEY) or "").strip()
    if not key:
        raise ConfigurationError(
            f"{ANCHOR_KEY} is not set: anchors are signed with a key kept outside the database "
            "(at least 32 characters, e.g. `python -c 'import secrets; "
            "print(secrets.token_hex(32))'`), and checked with the same key"
        )
    if len(key) < KEY_MIN_LENGTH:
        raise ConfigurationError(
            f"{ANCHOR_KEY} is {len(key)} characters long; use at least {KEY_MIN_LENGTH}"
        )
    return key.encode("utf-8")


@dataclass(frozen=True)
class AnchorPlan:
    """Where the scheduler sends an anchor, every how many minutes, signed with which key."""

    to: str
    every_minutes: int
    key: bytes


def anchor_plan(env: Mapping[str, str] | None = None) -> AnchorPlan | None:
    """The scheduler's anchoring from `LEDGER_ANCHOR_TO` and `LEDGER_ANCHOR_EVERY_MINUTES`
    (None when `LEDGER_ANCHOR_TO` is unset or empty; a ConfigurationError when the other is
    missing or malformed, or the key is)."""
    source = os.environ if env is None else env
    to = (source.get(ANCHOR_TO) or "").strip()
    every = (source.get(ANCHOR_EVERY) or "").strip()
    if not to:
        return None
    if not every:
        raise ConfigurationError(f"{ANCHOR_TO} is set but {ANCHOR_EVERY} is not: how often?")
    if not every.isascii() or not every.isdigit() or not 1 <= int(every) <= MAX_EVERY_MINUTES:
        raise ConfigurationError(
            f"{ANCHOR_EVERY} must be a whole number of minutes from 1 to {MAX_EVERY_MINUTES}, "
            f"got {every!r}"
        )
    target(to)
    return AnchorPlan(to, int(every), anchor_key(source))


# -- anchors -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Anchor:
    """A signed digest: the chain's position and hash at an instant."""

    position: int
    hash: str
    at: str
    signature: str

    def as_dict(self) -> dict[str, Any]:
        """The anchor as its JSON object."""
        return {
            "position": self.position,
            "hash": self.hash,
            "at": self.at,
            "signature": self.signature,
        }

    def line(self) -> str:
        """The anchor as one JSON line."""
        return json.dumps(self.as_dict(), separators=(",", ":"))


def signature(key: bytes, position: int, hash_hex: str, at: str) -> str:
    """The HMAC-SHA256 (hex) an anchor carries."""
    message = f"ledger-anchor-v1\n{position}\n{hash_hex}\n{at}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def sign(key: bytes, position: int, hash_hex: str, at: datetime) -> Anchor:
    """An anchor of the digest `position:hash_hex` taken at `at`."""
    text = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return Anchor(position, hash_hex, text, signature(key, position, hash_hex, text))


def take_anchor(app: SupportLedger, db: ViewDatabase, key: bytes, *, at: datetime) -> Anchor:
    """The chain's head, signed; refused while the log goes on past the chain's head."""
    refusal = chain_behind(app, db)
    if refusal is not None:
        raise refusal
    head, _ = heads(app, db)
    return sign(key, head.position, head.hash, at)


def target(to: str) -> str:
    """`to` checked: an http(s) URL, or a file whose folder exists."""
    if to.startswith(("http://", "https://")):
        return to
    if "://" in to:
        raise InvalidInputError(
            f"--to {to!r}: anchors go to a file or to an http:// or https:// URL", field="to"
        )
    folder = Path(to).expanduser().parent
    if not folder.is_dir():
        raise InvalidInputError(
            f"--to {to!r}: the folder {str(folder)!r} does not exist", field="to"
        )
    if Path(to).expanduser().is_dir():
        raise InvalidInputError(f"--to {to!r} is a folder; name a file", field="to")
    return to


def deliver(anchor: Anchor, to: str) -> None:
    """Append the anchor to the file `to` (JSON lines, flushed to disk) or POST it to the URL."""
    target(to)
    if to.startswith(("http://", "https://")):
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked to be http(s)
            to,
            data=anchor.line().encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=POST_TIMEOUT_SECONDS) as answer:  # noqa: S310
                status = int(answer.status)
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (urllib.error.URLError, OSError) as exc:
            raise AnchorNotDeliveredError(
                f"the anchor at position {anchor.position} could not be POSTed to {to}: {exc}"
            ) from None
        if not 200 <= status < 300:
            raise AnchorNotDeliveredError(
                f"the anchor at position {anchor.position} was refused by {to}: HTTP {status}"
            )
        return
    try:
        with Path(to).expanduser().open("a", encoding="utf-8") as file:
            file.write(anchor.line() + "\n")
            file.flush()
            os.fsync(file.fileno())
    except OSError as exc:
        raise AnchorNotDeliveredError(
            f"the anchor at position {anchor.position} could not be appended to {to}: "
            f"{exc.strerror or exc}"
        ) from None


def read_anchors(path: str) -> list[Anchor]:
    """The anchors of a JSON-lines file, in its order (blank lines skipped)."""
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInputError(f"--anchors {path!r}: no such file", field="anchors") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"--anchors {path!r}: {exc}", field="anchors") from None
    anchors = [
        _anchor(path, number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip()
    ]
    if not anchors:
        raise InvalidInputError(f"--anchors {path!r} holds no anchor", field="anchors")
    return anchors


def _anchor(path: str, number: int, line: str) -> Anchor:
    where = f"--anchors {path!r} line {number}"
    try:
        data = json.loads(line)
    except ValueError:
        raise InvalidInputError(f"{where}: not JSON", field="anchors") from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"{where}: not a JSON object", field="anchors")
    position, hash_hex = data.get("position"), data.get("hash")
    at, sig = data.get("at"), data.get("signature")
    if not isinstance(position, int) or isinstance(position, bool) or position < 0:
        raise InvalidInputError(f"{where}: position must be a whole number >= 0", field="anchors")
    if not (
        isinstance(hash_hex, str)
        and len(hash_hex) == HASH_HEX_LENGTH
        and set(hash_hex) <= HEX_DIGITS
    ):
        raise InvalidInputError(
            f"{where}: hash must be {HASH_HEX_LENGTH} lowercase hexadecimal digits",
            field="anchors",
        )
    if not isinstance(at, str) or not isinstance(sig, str):
        raise InvalidInputError(f"{where}: at and signature must be strings", field="anchors")
    return Anchor(position, hash_hex, at, sig)


# -- checking ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnchorCheck:
    """How many anchors were checked, and the first (in the file's order) the log contradicts."""

    checked: int
    problem: Problem | None


def check_anchors(
    app: SupportLedger, db: ViewDatabase, anchors: list[Anchor], key: bytes
) -> AnchorCheck:
    """Every anchor's signature under `key`, and its hash against the link recomputed from
    the log at its position (one walk over the log)."""
    problems: dict[int, Problem] = {}
    for index, anchor in enumerate(anchors):
        expected = signature(key, anchor.position, anchor.hash, anchor.at)
        if not hmac.compare_digest(expected, anchor.signature.lower()):
            problems[index] = Problem(
                ANCHOR_FORGED,
                anchor.position,
                None,
                None,
                None,
                f"anchor {index + 1} (position {anchor.position}, taken {anchor.at}): its "
                f"signature does not check under {ANCHOR_KEY}: the anchor was altered or "
                "signed with another key",
            )
    wanted = {a.position for i, a in enumerate(anchors) if i not in problems}
    found = _links_at(app, db, wanted)
    for index, anchor in enumerate(anchors):
        if index in problems:
            continue
        event = found.get(anchor.position)
        if event is None:
            problems[index] = _contradicted(index, anchor, None, "the log has no event there")
        elif event[0] != anchor.hash:
            problems[index] = _contradicted(index, anchor, event, "")
    first = min(problems) if problems else None
    return AnchorCheck(len(anchors), None if first is None else problems[first])


def _contradicted(
    index: int, anchor: Anchor, event: tuple[str, str, int, str] | None, why: str
) -> Problem:
    head = f"anchor {index + 1} (position {anchor.position}, taken {anchor.at})"
    if event is None:
        return Problem(
            ANCHOR_CONTRADICTED,
            anchor.position,
            None,
            None,
            None,
            f"{head}: {why}: events up to this position were deleted since the anchor was "
            "taken (or the anchor belongs to another ledger)",
        )
    _, oid, version, topic = event
    return Problem(
        ANCHOR_CONTRADICTED,
        anchor.position,
        oid,
        version,
        topic,
        f"{head}: the chain recomputed from the log up to aggregate {oid} version {version} "
        f"({topic}) does not match the anchor: this event or an earlier one was changed, "
        "deleted or inserted after the anchor was taken",
    )


def _links_at(
    app: SupportLedger, db: ViewDatabase, positions: set[int]
) -> dict[int, tuple[str, str, int, str]]:
    """The link recomputed from the log at each of `positions` that the log has, with the
    event there (position 0: the genesis link)."""
    found: dict[int, tuple[str, str, int, str]] = {}
    if 0 in positions:
        found[0] = (GENESIS.hex(), "", 0, "")
    last = max(positions, default=0)
    _, log_head = heads(app, db)
    previous, position = GENESIS, 0
    while position < min(last, log_head):
        batch = app.recorder.select_notifications(
            start=position + 1, limit=WALK_BATCH, stop=log_head
        )
        if not batch:
            break
        events = [stored(n) for n in batch]
        links = links_of(previous, events)
        for event, link in zip(events, links, strict=True):
            if event[0] in positions:
                found[event[0]] = (link.hex(), id_text(event[1]), int(event[2]), str(event[3]))
        previous, position = links[-1], int(batch[-1].id)
    return found


def with_anchors(verified: Verification, check: AnchorCheck) -> Verification:
    """The verification with the anchors' check added (the chain's own problem, if any, stays
    the first named)."""
    first = verified.problem
    if first is None or first.kind == SNAPSHOT_MISMATCH:
        first = check.problem or first
    return replace(
        verified, problem=first, anchors_checked=check.checked, anchor_problem=check.problem
    )
