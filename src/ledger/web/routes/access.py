"""Tokens: create (the secret is shown once), list, revoke; and who the caller is."""

from typing import Annotated

from fastapi import Path
from fastapi.responses import JSONResponse

from ledger.web.auth import ADMIN, EVERYONE, READERS, Caller, require
from ledger.web.routing import COMMAND_ERRORS, answer, api_router, created, documented
from ledger.web.schemas import CreateToken, IssuedToken, Token, WhoAmI
from ledger.web.services import Svc, now
from ledger.web.tokens import create_token, list_tokens, revoke_token

router = api_router("access")


@router.post(
    "/tokens",
    status_code=201,
    dependencies=[require(ADMIN)],
    responses=documented(
        IssuedToken, "The token, with its secret (shown once)", status=201, errors=COMMAND_ERRORS
    ),
    summary="Create a token",
)
def create(body: CreateToken, services: Svc, caller: Caller) -> JSONResponse:
    """A new token for a role; `token` is its secret, shown only in this answer."""
    at = now()
    with services.views.lease() as db:
        issued = create_token(
            db, name=body.name, role=body.role, at=at, expires_in_days=body.expires_in_days,
            created_by=f"token:{caller.token_id}",
        )  # fmt: skip
    return created({**issued.token.as_dict(at), "token": issued.text}, recorded=True)


@router.get(
    "/tokens",
    dependencies=[require(*READERS)],
    responses=documented(list[Token], "Every token, oldest first (no secrets)"),
    summary="List tokens",
)
def list_all(services: Svc) -> JSONResponse:
    """Every token with its role and state (active, expired, revoked); never a secret."""
    at = now()
    with services.views.lease() as db:
        return answer([t.as_dict(at) for t in list_tokens(db)])


@router.post(
    "/tokens/{token_id}/revoke",
    dependencies=[require(ADMIN)],
    responses=documented(Token, "The token, revoked", errors=COMMAND_ERRORS),
    summary="Revoke a token",
)
def revoke(
    token_id: Annotated[str, Path(max_length=64, description="The token's id.")], services: Svc
) -> JSONResponse:
    """Revoke a token: every request with it is refused from now on (revoking again keeps
    the first revocation)."""
    at = now()
    with services.views.lease() as db:
        return answer(revoke_token(db, token_id, at=at).as_dict(at))


@router.get(
    "/whoami",
    dependencies=[require(*EVERYONE)],
    responses=documented(WhoAmI, "The caller's token"),
    summary="Who am I",
)
def whoami(caller: Caller) -> JSONResponse:
    """The token the request was made with: its id, name, role and expiry."""
    return answer(
        {"token_id": caller.token_id, "name": caller.name, "role": caller.role,
         "expires_at": caller.expires_at}
    )  # fmt: skip
