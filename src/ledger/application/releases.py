"""Use cases of the release catalog: publish and withdraw releases."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ledger.application.loads import catalog_to_write
from ledger.domain.releases import parse_version
from ledger.logs import get_logger

if TYPE_CHECKING:
    from datetime import datetime

    from ledger.application.uow import UnitOfWork, UnitsOfWork

log = get_logger("ledger.application")


def publish_release(
    work: UnitsOfWork, version: str, *, prerelease: bool, at: datetime
) -> dict[str, Any]:
    """Publish a product release."""
    text = parse_version(version, require_patch=True).text

    def attempt(uow: UnitOfWork) -> dict[str, Any]:
        catalog = catalog_to_write(uow)
        catalog.publish(text, prerelease=prerelease, at=at)
        uow.commit(catalog)
        return {"version": text, **catalog.releases[text]}

    result = work.run("publish_release", attempt)
    log.info("release_published", version=result["version"], prerelease=result["prerelease"])
    return result


def withdraw_release(
    work: UnitsOfWork, version: str, *, reason: str, at: datetime
) -> dict[str, Any]:
    """Withdraw a published release."""

    def attempt(uow: UnitOfWork) -> dict[str, Any]:
        catalog = catalog_to_write(uow)
        catalog.withdraw(version, reason=reason, at=at)
        uow.commit(catalog)
        text = parse_version(version).text
        return {"version": text, **catalog.releases[text]}

    result = work.run("withdraw_release", attempt)
    log.info("release_withdrawn", version=result["version"])
    return result
