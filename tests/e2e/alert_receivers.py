"""Local receivers for alert tests: an HTTP webhook receiver and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable
    from email.message import Message


@dataclass
class Received:
    """One request the receiver got, and what it answered."""

    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1: answers `failing` requests with 500, then 200.

    `hold` makes the receiver stop before answering a request (after recording it) until
    `release` is set: the test can kill the sender between its send and its acknowledgement.
    """

    failing: int = 0
    hold: threading.Event | None = None
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> str:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver.lock:
                    status = 500 if receiver.failing > 0 else 200
                    receiver.failing -= 1 if receiver.failing > 0 else 0
                    receiver.received.append(Received(dict(self.headers), body, status))
                if receiver.hold is not None and receiver.hold.is_set():
                    receiver.hold.clear()
                    receiver.holding.set()
                    receiver.release.wait(30)
                self.send_response(status)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def acknowledged(self) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.status == 200]

    def all(self) -> list[Received]:
        with self.lock:
            return list(self.received)


class Mailbox:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 keeping every mail it accepts."""

    def __init__(self) -> None:
        self.mails: list[Message] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        with self.lock:
            self.mails.append(message_from_bytes(envelope.content, policy=default))
        return "250 OK"

    def start(self) -> int:
        from aiosmtpd.controller import Controller  # noqa: PLC0415 - only for these tests

        from tests.e2e.cli import free_port  # noqa: PLC0415 - same

        port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=port)
        self.controller.start()
        return port

    def stop(self) -> None:
        self.controller.stop()

    def received(self) -> list[Message]:
        with self.lock:
            return list(self.mails)


def wait_for(condition: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
    """Wait until `condition()` holds (fail after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what or 'a condition'}")
        time.sleep(0.05)
