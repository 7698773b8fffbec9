"""Load the versioned support terms shipped with the package into frozen dataclasses.

Each `<version>.toml` beside this module is one published version of the terms. The loader is
declarative: the dataclasses of `ledger.domain.terms` are the schema (each field's type, bounds,
key, meaning and unit), so a new figure is a field there and a key in the file. Loading validates
every key and names the offending one (`tiers.premium.response_hours.1: ...`) so a malformed
file never half-loads. Floats in the file are read as exact decimals.
"""

from __future__ import annotations

import tomllib
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from ledger.domain.errors import InvalidTermsError, UnknownTermsVersionError
from ledger.domain.terms import Terms
from ledger.terms.schema import NO_FIGURE, Problem, SchemaReader, describe_keys, plain

DEFAULT_VERSION = "expecco-2025-02"

__all__ = [
    "DEFAULT_VERSION",
    "Problem",
    "available_versions",
    "check_terms_file",
    "describe_keys",
    "load_terms",
    "load_terms_file",
    "parse_terms",
    "terms_as_dict",
]


def available_versions() -> list[str]:
    """The versions of the terms that ship with the package, oldest first."""
    # The package is installed as files: its folder, not importlib.resources (slow to load).
    folder = Path(__file__).parent
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


@cache
def load_terms(version: str = DEFAULT_VERSION) -> Terms:
    """The terms of `version` (cached: a published terms file never changes)."""
    if version not in available_versions():
        raise UnknownTermsVersionError(
            f"no terms version {version!r}; available: {', '.join(available_versions())}"
        )
    text = (Path(__file__).parent / f"{version}.toml").read_text(encoding="utf-8")
    terms = parse_terms(text, source=f"{version}.toml")
    if terms.version != version:
        raise InvalidTermsError(
            f"{version}.toml: terms.version is {terms.version!r}, expected {version!r}"
        )
    return terms


def terms_as_dict(terms: Terms) -> dict[str, Any]:
    """The terms as plain JSON data (decimals as strings, windows as HH:MM pairs)."""
    data: dict[str, Any] = plain(type(terms), NO_FIGURE, terms)
    return data


def load_terms_file(path: str | Path) -> Terms:
    """Terms read from a file outside the package (for checking a draft of new terms)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidTermsError(f"{file}: cannot read the terms file ({exc.strerror})") from None
    return parse_terms(text, source=str(file))


def parse_terms(text: str, *, source: str = "terms", shape: type[Terms] = Terms) -> Terms:
    """Terms parsed from TOML text, every key validated (`shape`: Terms or a subclass)."""
    terms, problems = read_terms(text, shape)
    if terms is None:
        raise InvalidTermsError(f"{source}: {problems[0]}")
    return terms


def read_terms(text: str, shape: type[Terms] = Terms) -> tuple[Terms | None, list[Problem]]:
    """Terms parsed from TOML text, or None with every problem found."""
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        return None, [Problem("", f"not valid TOML: {exc}")]
    reader = SchemaReader()
    terms = reader.read(shape, data)
    return (terms, []) if isinstance(terms, shape) else (None, reader.problems)


def check_terms_file(path: str | Path) -> list[Problem]:
    """Everything wrong with a terms file about to be published (empty when it may ship).

    Beyond what loading checks, its name must be its version (`<version>.toml`), and a version
    that already ships must have the shipped figures: a published file is never edited.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        return [Problem("", f"cannot read the terms file ({exc.strerror})")]
    except UnicodeDecodeError:
        return [Problem("", "not valid TOML: the file is not UTF-8 text")]
    terms, problems = read_terms(text)
    if terms is None:
        return problems
    if file.name != f"{terms.version}.toml":
        problems.append(
            Problem(
                "terms.version",
                f"is {terms.version!r} but the file is named {file.name!r}; "
                f"name it {terms.version}.toml",
            )
        )
    if terms.version in available_versions() and terms != load_terms(terms.version):
        problems.append(
            Problem(
                "terms.version",
                f"{terms.version} is published with other figures; new terms need a new version",
            )
        )
    return problems
