"""Schemathesis against the OpenAPI document: no server errors, only documented answers.

Every operation gets a few generated requests (valid and invalid data, a fixed seed so that
a run is repeatable), sent with a token of a role the operation allows, on a seeded SQLite
store: paths name the seeded contracts and ticket, so that requests reach the ledger's rules
and not only its 404s. A second run sends schema-valid data only and accepts no refusal as
malformed: the document is as strict as the validation.
"""

from __future__ import annotations

import shutil
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance  # type: ignore[attr-defined]
from schemathesis.core.parameters import ParameterLocation
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
)

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
    # `parametrize` runs each test on a clone of its schema, which shares the schema's config.
    if all(case.operation.schema.config is not s.config for s in (schema, positive)) or not SEEDED:
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


# Checks that do not apply here: the hook authorizes every call (the role matrix and missing or
# bad tokens are tests/web/test_roles.py's), the document is at least as strict as the server
# (it names tiers and timezones in lower case and the server reads any case: data the document
# calls invalid may be accepted), and acceptance of valid data is the positive run's below.
EXCLUDED = [
    positive_data_acceptance,
    negative_data_rejection,
    missing_required_header,
    ignored_auth,
]


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
    case.call_and_validate(excluded_checks=EXCLUDED)


# Rules between two values that an OpenAPI document cannot state (a header against a body
# field, one query parameter against another): the server names them in its 400.
ACROSS_VALUES = (
    "key and Idempotency-Key differ",  # the header and the body's `key`: one, or the same
    "required here (or `key` in the body)",  # the header or the body's `key`: one of them
    "give period=YYYY-MM or term=N",  # the credit statement: one of the two
    "ask for format=json",  # `check` lists differences, which a CSV cannot hold
    "cannot read a view that is not caught up",  # `check` against `catch_up=false`
    "is not after the purchase",  # a package's expiry against the purchase's `at`
    "the log can only be read up to now",  # a replay's `as_of` against the clock
    "give exactly one of --webhook, --email or --slack",  # an alert's one channel
    "goes with --webhook only",  # a secret against the channel
    # values the server hands out or the world decides, whose shape alone the document states:
    "is not a cursor of the board",  # `after`: the `next` of a page of the board
    "in the list",  # `after`: the `next` of a page of the contract list
    "does not resolve",  # a webhook's host, as the DNS answers
    "is a private, loopback or reserved address",  # a webhook's or Slack URL's host, as its
    # address is (`https://4:480` names 0.0.0.4), refused unless LEDGER_ALERTS_ALLOW_PRIVATE
)
# A name that fits several customers is, like an id naming nothing, a fact of the records.
AMBIGUOUS = "ambiguous_contract"


@positive.parametrize()
@settings(
    max_examples=10,
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
    malformed (400); it is answered 2xx, or refused by what is recorded (409, or 404 `unknown_*`
    when a well-formed id or key names nothing recorded) or by the terms (422)."""
    assert SEEDED is seeded
    response = case.call()
    status = response.status_code
    if status == 404:  # a record the request names (a valid id) is not recorded: not its shape
        assert response.json()["error"]["code"].startswith("unknown_"), response.text
        return
    if status == 400 and any(rule in response.text for rule in ACROSS_VALUES):
        return
    if status == 400 and response.json()["error"]["code"] == AMBIGUOUS:
        return
    assert status < 400 or status in {409, 422}, (
        f"{case.operation.method.upper()} {case.formatted_path} {case.query or ''} "
        f"{case.body!r} -> {response.status_code} {response.text}"
    )
