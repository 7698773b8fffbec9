"""The release catalog: which product versions exist, and which release lines are supported.

The supported lines are the newest N GA minor lines (N from the terms: the current line and one
back). Every question is asked "as it stood at" an instant, using the business instants of the
publications and withdrawals, so a ticket's eligibility depends on when it was received.
"""

from __future__ import annotations

import re
import weakref
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import Aggregate

from ledger.domain.base import LedgerAggregate, clean_text, deterministic_id, instant
from ledger.domain.errors import (
    InvalidInputError,
    InvalidVersionError,
    ReleaseExistsError,
    UnknownReleaseError,
)

if TYPE_CHECKING:
    from datetime import datetime

_VERSION = re.compile(r"^(\d{1,4})\.(\d{1,4})(?:\.(\d{1,6}))?(?:-([0-9A-Za-z][0-9A-Za-z.]*))?$")


@dataclass(frozen=True, order=True)
class Version:
    """A product version: MAJOR.MINOR[.PATCH][-TAG]; a tag marks a pre-release."""

    major: int
    minor: int
    patch: int | None
    tag: str | None
    text: str

    @property
    def line(self) -> str:
        """The release line, e.g. `24.2` for 24.2.1."""
        return f"{self.major}.{self.minor}"

    @property
    def precedence(self) -> tuple[int, int, int, bool, str]:
        """A total order of versions: a pre-release (`1.0.0-rc1`) before its release (`1.0.0`),
        which dataclass ordering cannot compare (a tag against no tag)."""
        return (self.major, self.minor, -1 if self.patch is None else self.patch,
                self.tag is None, self.tag or "")  # fmt: skip

    @property
    def line_key(self) -> tuple[int, int]:
        """The line as numbers, for ordering lines."""
        return (self.major, self.minor)

    @property
    def tagged_prerelease(self) -> bool:
        """Whether the version text itself says pre-release (`-beta1`, `-rc2`...)."""
        return self.tag is not None


def parse_version(text: str, *, require_patch: bool = False) -> Version:
    """A version from text like `24.2.1`, `24.2` or `25.1.0-beta1`."""
    if type(text) is str:  # a Version is immutable: the same text may share one
        return _parse_text(text, require_patch)
    return _parse(text, require_patch)


def _parse(text: str, require_patch: bool) -> Version:
    cleaned = str(text).strip()
    match = _VERSION.match(cleaned)
    if not match or (require_patch and match.group(3) is None):
        shape = "MAJOR.MINOR.PATCH" if require_patch else "MAJOR.MINOR[.PATCH]"
        raise InvalidVersionError(
            f"{text!r} is not a version like 24.2.1; expected {shape} with an optional -TAG"
        )
    major, minor, patch, tag = match.groups()
    return Version(
        major=int(major),
        minor=int(minor),
        patch=int(patch) if patch is not None else None,
        tag=tag,
        text=cleaned,
    )


_parse_text = lru_cache(maxsize=1024)(_parse)


def line_key(line: str) -> tuple[int, int]:
    """`24.2` as (24, 2)."""
    major, minor = line.split(".")
    return (int(major), int(minor))


class ReleaseCatalog(LedgerAggregate):
    """Every published release, GA or pre-release, and every withdrawal."""

    ID = deterministic_id("release-catalog", "expecco")

    class Started(Aggregate.Created):
        """The catalog was created (once, before its first release)."""

        def apply(self, aggregate: Any) -> None:
            aggregate.releases = {}

    class ReleasePublished(Aggregate.Event):
        """A version became available (GA or pre-release) at `published_at`."""

        version: str
        line: str
        prerelease: bool
        published_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.releases[self.version] = {
                "line": self.line,
                "prerelease": self.prerelease,
                "published_at": self.published_at,
                "withdrawn_at": None,
                "withdrawal_reason": None,
            }

    class ReleaseWithdrawn(Aggregate.Event):
        """A version was withdrawn at `withdrawn_at`; it no longer counts from then on."""

        version: str
        reason: str
        withdrawn_at: datetime

        def apply(self, aggregate: Any) -> None:
            release = aggregate.releases[self.version]
            release["withdrawn_at"] = self.withdrawn_at
            release["withdrawal_reason"] = self.reason

    if TYPE_CHECKING:  # declared for mypy; eventsourcing would make annotations fields
        releases: dict[str, dict[str, Any]]

    @classmethod
    def start(cls) -> ReleaseCatalog:
        """The (empty) catalog."""
        return cls._create(cls.Started, id=cls.ID)

    def publish(self, version: str, *, prerelease: bool, at: datetime) -> None:
        """Publish `version`; a version with a pre-release tag is a pre-release in any case."""
        parsed = parse_version(version, require_patch=True)
        if parsed.text in self.releases:
            raise ReleaseExistsError(f"version {parsed.text} is already in the catalog")
        self.trigger_event(
            self.ReleasePublished,
            version=parsed.text,
            line=parsed.line,
            prerelease=bool(prerelease or parsed.tagged_prerelease),
            published_at=instant(at),
        )

    def withdraw(self, version: str, *, reason: str, at: datetime) -> None:
        """Withdraw a published version from `at` on."""
        parsed = parse_version(version, require_patch=True)
        release = self.releases.get(parsed.text)
        if release is None:
            raise UnknownReleaseError(f"version {parsed.text} is not in the catalog")
        if release["withdrawn_at"] is not None:
            raise ReleaseExistsError(
                f"version {parsed.text} was already withdrawn at "
                f"{release['withdrawn_at'].isoformat()}"
            )
        when = instant(at)
        if when < release["published_at"]:
            raise InvalidVersionError(
                f"version {parsed.text} cannot be withdrawn before it was published "
                f"({release['published_at'].isoformat()})"
            )
        reason_text = clean_text(reason, "reason")
        if not reason_text:
            raise InvalidInputError("reason: give a reason for withdrawing a release")
        self.trigger_event(
            self.ReleaseWithdrawn, version=parsed.text, reason=reason_text, withdrawn_at=when
        )

    # -- questions, as the catalog stood at an instant -----------------------------------

    def available_at(self, version: str, at: datetime) -> dict[str, Any] | None:
        """The release `version` if it was published by `at` and not withdrawn by then."""
        release = self.releases.get(version)
        if release is None or release["published_at"] > at:
            return None
        withdrawn = release["withdrawn_at"]
        if withdrawn is not None and withdrawn <= at:
            return None
        return release

    def supported_lines(self, at: datetime, count: int) -> list[str]:
        """The newest `count` release lines with a GA release available at `at`, newest first.

        Every ticket asks this, so it is answered by a binary search in the catalog's line
        timeline (see `_line_timeline`), not by a pass over every release ever published.
        """
        instants, lines = _line_timeline(self)
        index = bisect_right(instants, at) - 1
        return list(lines[index][:count]) if index >= 0 else []

    def listing(self) -> list[dict[str, Any]]:
        """Every release, newest version first."""
        rows = [{"version": v, **r} for v, r in self.releases.items()]
        rows.sort(key=lambda r: parse_version(r["version"]).precedence, reverse=True)
        return rows


# catalog object id -> (its version, change instants, GA lines available from each, newest
# first). An entry goes when its catalog object is collected, before its id can be reused.
_TIMELINES: dict[int, tuple[int, list[datetime], list[tuple[str, ...]]]] = {}


def _line_timeline(catalog: ReleaseCatalog) -> tuple[list[datetime], list[tuple[str, ...]]]:
    """The instants at which the set of GA lines with an available release changes, and the
    lines available from each one on; computed once per catalog object and version (its
    state changes only with its version)."""
    key = id(catalog)
    cached = _TIMELINES.get(key)
    if cached is not None and cached[0] == catalog.version:
        return cached[1], cached[2]
    changes: list[tuple[datetime, str, int]] = []
    for release in catalog.releases.values():
        if release["prerelease"]:
            continue
        changes.append((release["published_at"], release["line"], 1))
        if release["withdrawn_at"] is not None:
            changes.append((release["withdrawn_at"], release["line"], -1))
    changes.sort(key=lambda change: change[0])
    available: dict[str, int] = {}
    instants: list[datetime] = []
    lines: list[tuple[str, ...]] = []
    for position, (when, line, step) in enumerate(changes):
        available[line] = available.get(line, 0) + step
        if position + 1 < len(changes) and changes[position + 1][0] == when:
            continue  # the state from `when` on is the one after all of its changes
        instants.append(when)
        lines.append(
            tuple(sorted((x for x, n in available.items() if n > 0), key=line_key, reverse=True))
        )
    if cached is None:
        weakref.finalize(catalog, _TIMELINES.pop, key, None)
    _TIMELINES[key] = (catalog.version, instants, lines)
    return instants, lines
