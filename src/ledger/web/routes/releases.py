"""Releases: publish, withdraw, list (`ledger releases ...`)."""

from typing import Annotated

from fastapi import Path
from fastapi.responses import JSONResponse

from ledger.presenters import catalog_view
from ledger.terms import load_terms
from ledger.web.auth import ADMIN, AGENT, READERS, require
from ledger.web.inputs import RELEASE_VERSION, at_or_now, instant_query
from ledger.web.routing import COMMAND_ERRORS, answer, api_router, created, documented
from ledger.web.schemas import Catalog, PublishRelease, Release, WithdrawRelease
from ledger.web.services import Svc, now

router = api_router("releases")


@router.post(
    "/releases",
    status_code=201,
    dependencies=[require(ADMIN)],
    responses=documented(Release, "The release published", status=201, errors=COMMAND_ERRORS),
    summary="Publish a release",
)
def publish_release(body: PublishRelease, services: Svc) -> JSONResponse:
    """Publish a version (GA, or a pre-release with `beta` or a -TAG).

    A version is its own key: publishing it again is 409 `release_exists`.
    """
    at = at_or_now(body.at, now())
    release = services.ledger.publish_release(body.version, prerelease=body.beta, at=at)
    return created(release, recorded=True)


@router.post(
    "/releases/{version}/withdraw",
    dependencies=[require(ADMIN)],
    responses=documented(Release, "The release withdrawn", errors=COMMAND_ERRORS),
    summary="Withdraw a release",
)
def withdraw_release(
    version: Annotated[
        str,
        Path(
            description="MAJOR.MINOR.PATCH with an optional -TAG.",
            json_schema_extra={"pattern": RELEASE_VERSION},
        ),
    ],
    body: WithdrawRelease,
    services: Svc,
) -> JSONResponse:
    """Withdraw a release: it no longer counts from `at` on."""
    at = at_or_now(body.at, now())
    return answer(services.ledger.withdraw_release(version, reason=body.reason, at=at))


@router.get(
    "/releases",
    dependencies=[require(AGENT, *READERS)],
    responses=documented(Catalog, "Every release and the supported lines"),
    summary="List releases",
)
def list_releases(
    services: Svc,
    at: Annotated[
        str | None, instant_query("Supported lines at this instant (default now).")
    ] = None,
) -> JSONResponse:
    """Every release, newest first, and the release lines supported at `at`."""
    when = at_or_now(at, now())
    lines = load_terms().eligibility.supported_release_lines
    return answer(catalog_view(services.ledger.get_catalog(), when, lines))
