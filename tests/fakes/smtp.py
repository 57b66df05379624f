"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives, for tests of email delivery.

    sink = SmtpSink().start()           # or use the `smtp_sink` fixture
    settings = make_settings(..., smtp={"host": sink.host, "port": sink.port})
    message = await sink.wait_for("a@example.com")
    sink.stop()
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd hook name
        if self.sink.refuse_with:
            return self.sink.refuse_with
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.sink.lock:
            self.sink.messages.append(message)
        return "250 OK"


class SmtpSink:
    """Starts on a random loopback port in aiosmtpd's own thread; `messages` collects every accepted email."""

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = _free_port()
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()
        self.refuse_with = ""  # e.g. "451 try later": DATA is answered with this instead of accepted
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port)

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if address in str(m.get("To", ""))]

    async def wait_for(
        self, address: str, count: int = 1, within: float = 5.0, match: Callable[[EmailMessage], bool] | None = None
    ) -> EmailMessage:
        """The `count`-th email to `address` (waiting for it); polls, since the server runs in another thread."""
        async with asyncio.timeout(within):
            while True:
                found = [m for m in self.to(address) if match is None or match(m)]
                if len(found) >= count:
                    return found[count - 1]
                await asyncio.sleep(0.01)


def body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    try:
        yield sink
    finally:
        sink.stop()
