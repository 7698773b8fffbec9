"""Alert subscriptions (the registry aggregate) and what a message says: subjects, signatures,
Slack payloads, the SMTP URL."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from ledger.alerts.channels import (
    SmtpServer,
    signature,
    slack_payload,
    subject,
    verify_signature,
)
from ledger.domain.alerts import (
    AlertSubscriptions,
    InvalidAlertTargetError,
    SubscriptionRemovedError,
    UnknownAlertKindError,
    UnknownSubscriptionError,
    alert_target,
)
from ledger.errors import ConfigurationError
from tests.unit.aggregate_case import aggregate_case, event, fold, given, refused

AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ONE = UUID("00000000-0000-4000-8000-000000000001")


def add(registry: AlertSubscriptions, **changes: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "subscription_id": ONE, "kinds": ["breach"], "channel": "email",
        "target": "ops@vendor.example", "secret_ref": None, "tier": None, "customer": None,
        "audience": "admin", "actor": "ann", "at": AT,
    }  # fmt: skip
    return registry.subscribe(**(options | changes))


def test_a_subscription_is_added_with_its_kinds_in_catalogue_order() -> None:
    """Kinds are checked, lower-cased, kept once each and ordered as the catalogue lists them."""
    case = aggregate_case(
        given=given(AlertSubscriptions.start),
        when=lambda r: add(r, kinds=["Breach", "warning_50", "breach"], tier="Premium"),
        then=[event(AlertSubscriptions.SubscriptionAdded, kinds=["warning_50", "breach"],
                    tier="premium", quiet_hours=False, subscribed_at=AT)],
    )  # fmt: skip
    assert case.result["removed_at"] is None
    assert [s["id"] for s in case.aggregate.listing()] == [ONE]


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"kinds": []}, UnknownAlertKindError),
        ({"kinds": ["breach", "later"]}, UnknownAlertKindError),
        ({"channel": "pager"}, InvalidAlertTargetError),
        ({"tier": "gold tier!"}, InvalidAlertTargetError),
        ({"audience": "customer"}, InvalidAlertTargetError),
        ({"customer": "Acme\x00"}, Exception),
    ],
    ids=["no-kind", "unknown-kind", "unknown-channel", "bad-tier", "unknown-audience",
         "control-character"],
)  # fmt: skip
def test_a_bad_subscription_records_nothing(changes: dict[str, Any], error: type) -> None:
    """Each bad part is refused with its own error."""
    registry = AlertSubscriptions.start()
    registry.collect_events()
    with pytest.raises(error):
        add(registry, **changes)
    assert registry.collect_events() == []


def test_a_removed_subscription_cannot_be_removed_again_and_an_unknown_one_is_not_found() -> None:
    """Removal is recorded once; the second is refused, as is an id never added."""
    history = given(AlertSubscriptions.start, add, lambda r: r.remove(ONE, actor="bo", at=AT))
    aggregate_case(
        given=history, when=lambda r: r.remove(ONE, actor="bo", at=AT),
        then=refused(SubscriptionRemovedError),
    )  # fmt: skip
    aggregate_case(
        given=history,
        when=lambda r: r.remove(UUID(int=2), actor="bo", at=AT),
        then=refused(UnknownSubscriptionError),
    )
    folded = fold(history)
    assert folded.listing() == []
    assert folded.listing(include_removed=True)[0]["removed_by"] == "bo"


@pytest.mark.parametrize(
    ("channel", "target"),
    [("webhook", "ftp://x.example/"), ("webhook", "https://u:p@x.example/"),
     ("slack", "not a url"), ("email", "nobody")],
    ids=["not-http", "credentials", "slack-not-url", "bad-address"],
)  # fmt: skip
def test_targets_must_be_http_urls_or_addresses(channel: str, target: str) -> None:
    """Only http(s) URLs without credentials, or e-mail addresses."""
    with pytest.raises(InvalidAlertTargetError):
        alert_target(channel, target)


def test_a_subject_says_what_and_whom() -> None:
    """`[BREACH] ACME-17 Premium sev 1, Acme Automotive`."""
    body = {"kind": "breach", "ticket_key": "ACME-17", "tier": "premium", "severity": 1,
            "customer": "Acme Automotive"}  # fmt: skip
    assert subject(body) == "[BREACH] ACME-17 Premium sev 1, Acme Automotive"
    assert subject({"kind": "lapsed", "customer": "Acme", "tier": "basic"}) == (
        "[LAPSED] Basic, Acme"
    )


def test_a_signature_is_hmac_sha256_of_timestamp_dot_body_and_checks_only_fresh_and_exact() -> None:
    """The README's recipe gives the same digest; a changed body, another secret or an old
    timestamp fails."""
    body, secret, now = b'{"id": "x"}', "whsec_abc", int(time.time())
    expected = hmac.new(secret.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    assert signature(secret, now, body) == expected
    header = f"t={now},v1={expected}"
    assert verify_signature(secret, header, body)
    assert not verify_signature(secret, header, body + b" ")
    assert not verify_signature("whsec_other", header, body)
    old = now - 3600
    assert not verify_signature(secret, f"t={old},v1={signature(secret, old, body)}", body)
    assert not verify_signature(secret, "v1=abc", body)


def test_a_slack_payload_has_text_and_blocks() -> None:
    """Incoming-webhook shape: `text` for notifications, a header and fields as blocks."""
    payload = slack_payload({"id": "m", "kind": "warning_75", "ticket_key": "K-1",
                             "customer": "Acme", "tier": "premium", "severity": 2})  # fmt: skip
    assert payload["text"] == "[WARNING 75%] K-1 Premium sev 2, Acme"
    assert [b["type"] for b in payload["blocks"]] == ["header", "section"]
    assert {"type": "mrkdwn", "text": "*ticket_key*\nK-1"} in payload["blocks"][1]["fields"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example", SmtpServer("mail.example", 25, "none", None, None)),
        ("smtp://u%40x:p%3Aw@mail.example:587", SmtpServer("mail.example", 587, "starttls",
                                                           "u@x", "p:w")),
        ("smtp://mail.example:2525?starttls=1", SmtpServer("mail.example", 2525, "starttls",
                                                            None, None)),
        ("smtps://u:p@mail.example", SmtpServer("mail.example", 465, "ssl", "u", "p")),
    ],
    ids=["plain", "submission-login", "starttls-option", "implicit-tls"],
)  # fmt: skip
def test_the_smtp_url_names_host_port_tls_and_login(url: str, expected: SmtpServer) -> None:
    """STARTTLS on 587 or when asked, implicit TLS for smtps, the login URL-decoded."""
    assert SmtpServer.parse(url) == expected


def test_an_smtp_url_of_another_scheme_is_a_configuration_error() -> None:
    """`http://...` is not a mail server."""
    with pytest.raises(ConfigurationError):
        SmtpServer.parse("http://mail.example")
