"""The API's documentation page, `/docs`, served whole by `ledger serve`: Swagger UI's script,
stylesheet and icon come from the package (`static/swagger-ui/`, vendored from the npm package
`swagger-ui-dist`), so the page renders on a machine without internet access.

FastAPI's own `/docs` would load them from a CDN, and its `/redoc` too; both are switched off
in `ledger.web.app` and this router takes `/docs` instead.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, Response  # noqa: TC002 - FastAPI reads the annotations

from ledger.web import assets
from ledger.web.auth import public

SWAGGER_UI_VERSION = "5.35.0"
ASSETS_PATH = "/static/swagger-ui"
DOCS_PATH = "/docs"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"

_KINDS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}


ASSETS = assets.load("static/swagger-ui", _KINDS)

router = APIRouter(include_in_schema=False)


def asset_url(name: str) -> str:
    """The URL of one of Swagger UI's files, versioned by its content."""
    return f"{ASSETS_PATH}/{name}?v={ASSETS[name][2]}"


@router.get(DOCS_PATH, dependencies=[public()])
def docs() -> HTMLResponse:
    """Swagger UI on the OpenAPI document, every file from this server."""
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="ledger API",
        swagger_js_url=asset_url("swagger-ui-bundle.js"),
        swagger_css_url=asset_url("swagger-ui.css"),
        swagger_favicon_url=asset_url("favicon-32x32.png"),
        oauth2_redirect_url=OAUTH2_REDIRECT_PATH,
        # No badge from Swagger's online validator: the page asks no other host for anything.
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get(OAUTH2_REDIRECT_PATH, dependencies=[public()])
def oauth2_redirect() -> HTMLResponse:
    """Swagger UI's OAuth2 redirect page (part of the UI; the API itself uses bearer tokens)."""
    return get_swagger_ui_oauth2_redirect_html()


@router.get(f"{ASSETS_PATH}/{{name}}", dependencies=[public()])
def asset(name: str) -> Response:
    """One of Swagger UI's files."""
    return assets.answer(ASSETS, name)
