"""The terms and response deadlines (`ledger terms show`, `ledger sla deadline` without a
calendar file: the contract calendar of the terms)."""

from typing import Annotated, Any

from fastapi import Query
from fastapi.responses import JSONResponse

from ledger.domain.terms import Tier, parse_severity
from ledger.presenters import deadline_view, explain_deadline
from ledger.terms import DEFAULT_VERSION, load_terms, terms_as_dict
from ledger.web.auth import EVERYONE, require
from ledger.web.errors import NO_CONTROL_CHARACTERS
from ledger.web.inputs import instant, instant_query, line_query
from ledger.web.routing import answer, api_router, documented
from ledger.web.schemas import TIERS, Deadline

router = api_router("terms")

TermsVersion = Annotated[str, line_query("Terms version.")]


@router.get(
    "/terms",
    dependencies=[require(*EVERYONE)],
    responses=documented(dict[str, Any], "Every figure of the terms, decimals exact"),
    summary="The terms",
)
def show_terms(version: TermsVersion = DEFAULT_VERSION) -> JSONResponse:
    """The published support terms, as the ledger reads them."""
    return answer(terms_as_dict(load_terms(version)))


@router.get(
    "/sla/deadline",
    dependencies=[require(*EVERYONE)],
    responses=documented(Deadline, "The deadline and how it was counted"),
    summary="A response deadline",
)
def deadline(
    tier: Annotated[
        str,
        Query(
            description="premium, advanced or basic (any case).",
            max_length=200,
            pattern=NO_CONTROL_CHARACTERS,
            json_schema_extra={"enum": TIERS},
        ),
    ],
    severity: Annotated[
        str,
        Query(
            description="1, 2 or 3.",
            max_length=200,
            pattern=NO_CONTROL_CHARACTERS,
            json_schema_extra={"enum": ["1", "2", "3"]},
        ),
    ],
    received: Annotated[str, instant_query("The instant the request was received.")],
    terms_version: TermsVersion = DEFAULT_VERSION,
) -> JSONResponse:
    """When a response is due under the contract calendar of the terms, and why: the windows
    counted and the holidays skipped."""
    loaded = load_terms(terms_version)
    tier_terms = loaded.tier(Tier.parse(tier))
    level = parse_severity(severity)
    received_at = instant(received, "received")
    return answer(deadline_view(explain_deadline(loaded, tier_terms, level, received_at)))
