"""How a message goes out: signed webhooks, Slack incoming webhooks, e-mail over SMTP.

A webhook's body is the message's JSON; the header `Ledger-Signature: t=<unix seconds>,v1=<hex>`
carries HMAC-SHA256 of `<t>.<body>` under the subscription's secret (as the payment webhooks
do), and `Ledger-Delivery` the message's stable id. Any 2xx acknowledges; anything else, a
timeout (5 s) or a refused connection is an attempt that failed.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import os
import smtplib
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from ledger.domain.alerts import InvalidAlertTargetError
from ledger.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Mapping

TIMEOUT_SECONDS = 5.0
SIGNATURE_HEADER = "Ledger-Signature"
DELIVERY_HEADER = "Ledger-Delivery"
ALLOW_PRIVATE = "LEDGER_ALERTS_ALLOW_PRIVATE"
TITLES = {
    "warning_50": "WARNING 50%",
    "warning_75": "WARNING 75%",
    "breach": "BREACH",
    "breach_waived": "BREACH WAIVED",
    "ticket_declined": "DECLINED",
    "lapsed": "LAPSED",
    "balance_low": "LOW BALANCE",
    "lots_expiring": "POINTS EXPIRING",
    "term_ending": "TERM ENDING",
    "test": "TEST",
}


class DeliveryFailedError(Exception):
    """An attempt that did not acknowledge (the text says why; it never holds a secret)."""


@dataclass(frozen=True)
class AlertSettings:
    """The alert worker's settings, from the environment."""

    public_url: str = "http://localhost:8000"
    smtp_url: str | None = None
    smtp_from: str = "ledger@localhost"
    allow_private: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AlertSettings:
        """The settings from `LEDGER_PUBLIC_URL`, `LEDGER_SMTP_URL`, `LEDGER_SMTP_FROM` and
        `LEDGER_ALERTS_ALLOW_PRIVATE`."""
        source = os.environ if env is None else env
        return cls(
            public_url=source.get("LEDGER_PUBLIC_URL", cls.public_url).rstrip("/"),
            smtp_url=source.get("LEDGER_SMTP_URL") or None,
            smtp_from=source.get("LEDGER_SMTP_FROM", cls.smtp_from),
            allow_private=source.get(ALLOW_PRIVATE, "") in {"1", "true", "yes"},
        )


# -- where a URL may point ------------------------------------------------------------------------


def check_public(url: str, *, allow_private: bool, name: str = "--webhook") -> None:
    """Refuse a URL whose host is (or resolves to) a private, loopback, link-local or reserved
    address, unless the operator allows them; a host that does not resolve is refused too."""
    host = urlsplit(url).hostname or ""
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError):
        raise InvalidAlertTargetError(f"{name}: the host {host!r} does not resolve") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global or address.is_multicast:
            raise InvalidAlertTargetError(
                f"{name}: {host!r} is a private, loopback or reserved address "
                f"({address}); set {ALLOW_PRIVATE}=1 to allow such targets"
            )


# -- what a message says --------------------------------------------------------------------------


def with_link(payload: dict[str, Any], settings: AlertSettings) -> dict[str, Any]:
    """The message's body with a link to the ticket (or the contract) in the API."""
    body = dict(payload)
    if body.get("ticket_key"):
        body["link"] = f"{settings.public_url}/api/v1/tickets/{body['ticket_key']}"
    elif body.get("contract_id"):
        body["link"] = f"{settings.public_url}/api/v1/contracts/{body['contract_id']}"
    return body


def subject(body: dict[str, Any]) -> str:
    """`[BREACH] ACME-17 Premium sev 1, Acme Automotive`: what and whom."""
    title = TITLES.get(str(body.get("kind")), str(body.get("kind")).upper())
    parts = []
    if body.get("ticket_key"):
        parts.append(str(body["ticket_key"]))
    if body.get("tier"):
        parts.append(str(body["tier"]).capitalize())
    if body.get("severity") is not None:
        parts.append(f"sev {body['severity']}")
    what = " ".join(parts)
    customer = str(body.get("customer") or "")
    return f"[{title}] {what}, {customer}" if what and customer else f"[{title}] {what or customer}"


def _lines(body: dict[str, Any]) -> list[tuple[str, str]]:
    keys = ("kind", "ticket_key", "customer", "tier", "severity", "due_at", "occurred_at",
            "recorded_at", "business_seconds_left", "business_seconds_over", "reason",
            "threshold", "available", "lot_id", "points", "expires_at", "term_number",
            "ends_at", "link", "id")  # fmt: skip
    return [(k, str(body[k])) for k in keys if body.get(k) is not None]


def plain_text(body: dict[str, Any]) -> str:
    """The message for people, as plain text."""
    return subject(body) + "\n\n" + "\n".join(f"{k}: {v}" for k, v in _lines(body)) + "\n"


def html_text(body: dict[str, Any]) -> str:
    """The message for people, as HTML."""
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in _lines(body))
    return f"<html><body><h1>{escape(subject(body))}</h1><table>{rows}</table></body></html>"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 of `timestamp.body` under `secret`, hex."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify_signature(secret: str, header: str, body: bytes, *, tolerance: float = 300) -> bool:
    """Whether a `Ledger-Signature` header signs `body` under `secret`, made recently."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), fields.get("v1", ""))


# -- sending --------------------------------------------------------------------------------------


_connections = threading.local()


def _connection(url: str) -> tuple[http.client.HTTPConnection, str, bool]:
    """This thread's kept-alive connection to the URL's host, the request target, and
    whether the connection was used before (a stale one is opened again once)."""
    parts = urlsplit(url)
    held: dict[tuple[str, str, int | None], http.client.HTTPConnection]
    held = _connections.__dict__.setdefault("held", {})
    key = (parts.scheme, parts.hostname or "", parts.port)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    found = held.get(key)
    if found is not None:
        return found, target, True
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    made = kind(parts.hostname or "", parts.port, timeout=TIMEOUT_SECONDS)
    held[key] = made
    return made, target, False


def _forget(url: str) -> None:
    parts = urlsplit(url)
    held = _connections.__dict__.get("held", {})
    found = held.pop((parts.scheme, parts.hostname or "", parts.port), None)
    if found is not None:
        found.close()


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST `body`; the status when 2xx, else DeliveryFailedError. Connections are kept alive
    per thread and host; a kept one the receiver closed meanwhile is opened again once."""
    sent = {"Content-Type": "application/json", "User-Agent": "ledger-alerts", **headers}
    for _ in range(2):
        conn, target, reused = _connection(url)
        try:
            conn.request("POST", target, body=body, headers=sent)
            answer = conn.getresponse()
            answer.read()
            status = int(answer.status)
            if answer.will_close:
                _forget(url)
            break
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
            _forget(url)
            if not reused:
                raise DeliveryFailedError(f"could not reach the receiver: {exc}") from None
        except (http.client.HTTPException, TimeoutError, OSError) as exc:
            _forget(url)
            raise DeliveryFailedError(f"could not reach the receiver: {exc}") from None
    else:  # pragma: no cover - the second attempt opens a new connection, which never loops
        raise DeliveryFailedError("could not reach the receiver")
    if not 200 <= status < 300:
        raise DeliveryFailedError(f"the receiver answered {status}")
    return status


def send_webhook(url: str, secret: str | None, body: dict[str, Any]) -> int:
    """POST the signed JSON body; the receiver's status (2xx) or DeliveryFailedError."""
    if not secret:
        raise DeliveryFailedError("the subscription's secret is missing")
    data = json.dumps(body, sort_keys=True).encode()
    stamp = int(time.time())
    headers = {
        SIGNATURE_HEADER: f"t={stamp},v1={signature(secret, stamp, data)}",
        DELIVERY_HEADER: str(body["id"]),
    }
    return _post(url, data, headers)


def slack_payload(body: dict[str, Any]) -> dict[str, Any]:
    """A Slack incoming-webhook payload: text (for notifications) and blocks."""
    fields = [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in _lines(body)[:10]]
    return {
        "text": subject(body),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": subject(body)[:150]}},
            {"type": "section", "fields": fields},
        ],
    }


def send_slack(url: str | None, body: dict[str, Any]) -> int:
    """POST a Slack-compatible payload to the incoming-webhook URL."""
    if not url:
        raise DeliveryFailedError("the subscription's Slack URL is missing")
    data = json.dumps(slack_payload(body)).encode()
    return _post(url, data, {DELIVERY_HEADER: str(body["id"])})


@dataclass(frozen=True)
class SmtpServer:
    """Where mail goes: host, port, TLS mode and login, from `LEDGER_SMTP_URL`."""

    host: str
    port: int
    tls: str  # none | starttls | ssl
    user: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> SmtpServer:
        """`smtp://[user:pass@]host[:port][?starttls=1]` or `smtps://...` (implicit TLS)."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigurationError("LEDGER_SMTP_URL must be smtp://host[:port] or smtps://...")
        query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
        tls = "ssl" if parts.scheme == "smtps" else "none"
        if query.get("starttls", "").lower() in {"1", "true", "yes"} or parts.port == 587:
            tls = "starttls"
        default_port = 465 if tls == "ssl" else 25
        return cls(
            host=parts.hostname,
            port=parts.port or default_port,
            tls=tls,
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


def send_email(settings: AlertSettings, address: str, body: dict[str, Any]) -> int:
    """Send the message as plain text plus HTML; 250 when the server accepted it."""
    if not settings.smtp_url:
        raise DeliveryFailedError("LEDGER_SMTP_URL is not set; no e-mail can be sent")
    server = SmtpServer.parse(settings.smtp_url)
    mail = EmailMessage()
    mail["Subject"] = subject(body)
    mail["From"] = settings.smtp_from
    mail["To"] = address
    mail["Message-ID"] = f"<{body['id']}@ledger>"
    mail[DELIVERY_HEADER] = str(body["id"])
    mail.set_content(plain_text(body))
    mail.add_alternative(html_text(body), subtype="html")
    # The server's certificate is verified (the system's CAs, or SSL_CERT_FILE).
    context = ssl.create_default_context()
    try:
        if server.tls == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                server.host, server.port, timeout=TIMEOUT_SECONDS, context=context
            )
        else:
            client = smtplib.SMTP(server.host, server.port, timeout=TIMEOUT_SECONDS)
        with client:
            if server.tls == "starttls":
                client.starttls(context=context)
            if server.user:
                client.login(server.user, server.password or "")
            client.send_message(mail)
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryFailedError(f"the mail server refused: {type(exc).__name__}") from None
    return 250
