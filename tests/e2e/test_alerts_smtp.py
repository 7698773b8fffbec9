"""Alert e-mail through a real SMTP server (aiosmtpd) that offers STARTTLS and requires a login
over TLS: the certificate is verified, the login works, a wrong password is a failed attempt
that does not show the password."""

from __future__ import annotations

import ssl
import subprocess
import threading
from email import message_from_bytes
from email.policy import default
from typing import TYPE_CHECKING, Any

import pytest

from ledger.alerts.channels import AlertSettings, DeliveryFailedError, send_email
from tests.e2e.cli import free_port

if TYPE_CHECKING:
    from collections.abc import Iterator
    from email.message import Message
    from pathlib import Path

USER, PASSWORD = "alerts", "s3cret:pass@word"
BODY = {"id": "0f0e0d0c-0000-4000-8000-000000000001", "kind": "breach", "ticket_key": "ACME-17",
        "tier": "premium", "severity": 1, "customer": "Acme Automotive"}  # fmt: skip


class TlsMailbox:
    """A mail server on 127.0.0.1 with STARTTLS (a self-signed certificate) and a login."""

    def __init__(self, folder: Path) -> None:
        self.cert, key = folder / "cert.pem", folder / "key.pem"
        subprocess.run(
            ["/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
             "-keyout", str(key), "-out", str(self.cert)],
            check=True, capture_output=True,
        )  # fmt: skip
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(self.cert, key)
        self.mails: list[Message] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        with self.lock:
            self.mails.append(message_from_bytes(envelope.content, policy=default))
        return "250 OK"

    def start(self) -> int:
        from aiosmtpd.controller import Controller  # noqa: PLC0415 - only for these tests
        from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: PLC0415 - same

        def authenticate(*args: Any) -> AuthResult:
            data = args[-1]
            ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
                USER.encode(), PASSWORD.encode(),
            )  # fmt: skip
            return AuthResult(success=ok)

        port = free_port()
        self.controller = Controller(
            self, hostname="127.0.0.1", port=port, tls_context=self.context,
            require_starttls=True, authenticator=authenticate, auth_require_tls=True,
        )  # fmt: skip
        self.controller.start()
        return port


@pytest.fixture
def mailbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TlsMailbox, int]]:
    box = TlsMailbox(tmp_path)
    port = box.start()
    monkeypatch.setenv("SSL_CERT_FILE", str(box.cert))  # trust the test's own certificate
    yield box, port
    box.controller.stop()


def test_mail_goes_over_starttls_with_a_login(mailbox: tuple[TlsMailbox, int]) -> None:
    """Plain text plus HTML, the subject saying what and whom, the delivery id in a header."""
    box, port = mailbox
    quoted = "s3cret%3Apass%40word"
    settings = AlertSettings(smtp_url=f"smtp://{USER}:{quoted}@127.0.0.1:{port}?starttls=1")

    assert send_email(settings, "ops@vendor.example", BODY) == 250

    [mail] = box.mails
    assert mail["Subject"] == "[BREACH] ACME-17 Premium sev 1, Acme Automotive"
    assert mail["Ledger-Delivery"] == BODY["id"]
    assert mail.get_body(("plain",)) is not None
    assert mail.get_body(("html",)) is not None


def test_a_wrong_password_or_no_tls_is_a_failed_attempt_naming_no_secret(
    mailbox: tuple[TlsMailbox, int],
) -> None:
    """The server refuses; the error says so without the password; nothing is delivered."""
    box, port = mailbox
    wrong = AlertSettings(smtp_url=f"smtp://{USER}:wrong-password@127.0.0.1:{port}?starttls=1")
    with pytest.raises(DeliveryFailedError) as refused:
        send_email(wrong, "ops@vendor.example", BODY)
    assert "wrong-password" not in str(refused.value)
    plain = AlertSettings(smtp_url=f"smtp://{USER}:x@127.0.0.1:{port}")  # no STARTTLS asked
    with pytest.raises(DeliveryFailedError):
        send_email(plain, "ops@vendor.example", BODY)
    assert box.mails == []
