"""The release catalog (`ledger releases ...`)."""

from __future__ import annotations

import click
from rich.table import Table

from ledger.cli.support import Runtime, at_option, done, emit, json_option, pass_runtime, resolve_at
from ledger.display import time_text
from ledger.render import console, fmt
from ledger.terms import load_terms


@click.group()
def releases() -> None:
    """The release catalog: which versions exist and which lines are supported."""


@releases.command("publish")
@click.argument("version")
@click.option("--beta", is_flag=True, help="A beta / pre-GA release (a -TAG implies it).")
@at_option("When the release was published (default: now).")
@json_option
@pass_runtime
def releases_publish(
    runtime: Runtime, *, version: str, beta: bool, at_text: str | None, as_json: bool
) -> None:
    """Publish VERSION (MAJOR.MINOR.PATCH, optional -TAG)."""
    release = runtime.ledger.publish_release(version, prerelease=beta, at=resolve_at(at_text))
    kind = "pre-release" if release["prerelease"] else "GA"
    done(release, as_json, f"published {release['version']} ({kind})")


@releases.command("withdraw")
@click.argument("version")
@click.option("--reason", required=True, help="Why the release is withdrawn.")
@at_option()
@json_option
@pass_runtime
def releases_withdraw(
    runtime: Runtime, *, version: str, reason: str, at_text: str | None, as_json: bool
) -> None:
    """Withdraw VERSION: it no longer counts from --at on."""
    release = runtime.ledger.withdraw_release(version, reason=reason, at=resolve_at(at_text))
    done(release, as_json, f"withdrew {release['version']}")


@releases.command("list")
@at_option("The instant to list the supported lines for (default: now).")
@json_option
@pass_runtime
def releases_list(runtime: Runtime, *, at_text: str | None, as_json: bool) -> None:
    """Every release and the lines supported at --at."""
    from ledger.presenters import catalog_view  # noqa: PLC0415 - not needed at start-up

    at = resolve_at(at_text)
    data = catalog_view(
        runtime.ledger.get_catalog(), at, load_terms().eligibility.supported_release_lines
    )

    def render() -> None:
        lines = ", ".join(f"{x}.x" for x in data["supported_lines"]) or "none"
        console.print(f"supported lines at {time_text(at)}: {lines}")
        table = Table("version", "line", "kind", "published", "withdrawn")
        for r in data["releases"]:
            table.add_row(
                r["version"],
                r["line"],
                "pre-release" if r["prerelease"] else "GA",
                fmt(r["published_at"]),
                fmt(r["withdrawn_at"]),
            )
        console.print(table)

    emit(data, as_json, render)
