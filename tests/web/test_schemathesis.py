"""Schemathesis against the OpenAPI document: no server errors, only documented answers.

Every operation gets a few generated requests (valid and invalid data, a fixed seed so that
a run is repeatable), sent with a token of a role the operation allows, on a seeded SQLite
store: paths name the seeded contracts and ticket, so that requests reach the ledger's rules
and not only its 404s.
"""

from __future__ import annotations

import shutil
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import schemathesis
from schemathesis import GenerationMode
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import positive_data_acceptance  # type: ignore[attr-defined]
from schemathesis.core.parameters import ParameterLocation
from schemathesis.python.asgi import shutdown_lifespans

from ledger.application import SupportLedger
from ledger.settings import Settings, parse_database_url
from ledger.web.app import create_app
from tests.scenario import at, build_world
from tests.web.conftest import issue_tokens
from tests.web.test_roles import declared

if TYPE_CHECKING:
    from collections.abc import Iterator

    from schemathesis import Case


# The document does not depend on the store, so the schema is loaded when the module is; the
# store the application opens (at its first request) is seeded by the fixture before that.
FOLDER = Path(tempfile.mkdtemp(prefix="ledger-schemathesis-"))
STORE = parse_database_url(f"sqlite:///{FOLDER / 'ledger.db'}")
APP = create_app(Settings(database=STORE))
schema = schemathesis.openapi.from_dict(APP.openapi())
schema.app = APP
schema.location = "/openapi.json"
# The same document, generating schema-valid requests only (and no parameter it does not name)
positive = schemathesis.openapi.from_dict(APP.openapi())
positive.app = APP
positive.location = "/openapi.json"
positive.config.generation.update(modes=[GenerationMode.POSITIVE], allow_extra_parameters=False)


@pytest.fixture(scope="module")
def seeded() -> Iterator[dict[str, Any]]:
    """The store with releases, contracts, a ticket and a token per role."""
    ledger = SupportLedger(settings=STORE)
    try:
        world = build_world(ledger)
        spare = ledger.sign_contract(
            customer="Spare", tier="advanced", licenses=1, license_kind="commercial",
            list_price=Decimal(9000), start=at(1, 1).date(), at=at(1, 2),
        )  # fmt: skip
        ledger.open_ticket(
            contract_id=world.premium, reporter="ops@acme.example", version="24.2.1",
            platform="linux", severity=1, at=at(3, 3, 9), key="ACME-1",
        )  # fmt: skip
    finally:
        ledger.close()
    SEEDED.update(
        tokens=issue_tokens(STORE), roles=declared(), contract=str(world.premium), spare=str(spare)
    )
    yield SEEDED
    SEEDED.clear()
    try:
        shutdown_lifespans()
    finally:
        shutil.rmtree(FOLDER, ignore_errors=True)


DESTRUCTIVE = ("/terminate", "/lapse", "/tier", "/renew", "/reinstate")
SEEDED: dict[str, Any] = {}  # filled by the `seeded` fixture


@schemathesis.hook
def before_call(_context: Any, case: Case, _kwargs: dict[str, Any]) -> None:
    """Point the case at the seeded records and authorize it as a role the operation allows.

    Made in this hook so that schemathesis validates the request as sent: a case generated to
    break a path parameter keeps its broken value.
    """
    if case.operation.schema not in (schema, positive) or not SEEDED:
        return
    path = case.operation.path
    parameters = case.path_parameters
    if parameters and not (case.meta and case.meta.is_negative_at(ParameterLocation.PATH)):
        if "contract_id" in parameters:
            parameters["contract_id"] = SEEDED[
                "spare" if path.endswith(DESTRUCTIVE) else "contract"
            ]
        if "reference" in parameters:
            parameters["reference"] = "ACME-1"
        if "aggregate_id" in parameters:
            parameters["aggregate_id"] = SEEDED["contract"]
    roles = SEEDED["roles"][case.operation.method.upper(), path.removeprefix("/api/v1")]
    role = "admin" if "admin" in roles else min(roles)
    if case.headers is None:
        case.headers = {}
    case.headers["Authorization"] = f"Bearer {SEEDED['tokens'][role]}"


@schema.parametrize()
@settings(
    max_examples=10,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_the_api_answers_every_generated_request_as_documented(
    case: Case, seeded: dict[str, Any]
) -> None:
    """No 5xx; every status, header and body is one the OpenAPI document describes.

    Not checked: that every schema-valid request is accepted. The document types values
    broadly (a version is a string) and the ledger's own rules refuse some of them with their
    codes (400 `invalid_version` for an empty one), which are documented answers.
    """
    assert SEEDED is seeded
    case.call_and_validate(excluded_checks=[positive_data_acceptance])


# Path parameters no seeded record stands for: a schema-valid value may name nothing (404).
UNSEEDED = ("{version}", "{token_id}", "{email}")


@positive.parametrize()
@settings(
    max_examples=15,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_a_schema_valid_request_is_refused_only_by_the_terms_or_the_records(
    case: Case, seeded: dict[str, Any]
) -> None:
    """The document is as strict as the validation: a request it allows is never refused as
    malformed (400); it is answered 2xx, or refused by what is recorded (409) or by the terms
    (422), or, for a path naming a record no seeded one stands for, 404."""
    assert SEEDED is seeded
    response = case.call()
    allowed = {409, 422} | ({404} if any(p in case.operation.path for p in UNSEEDED) else set())
    assert response.status_code < 400 or response.status_code in allowed, (
        f"{case.operation.method.upper()} {case.formatted_path} {case.query or ''} "
        f"{case.body!r} -> {response.status_code} {response.text}"
    )
