"""Test helpers shared across packages: free loopback ports and a capture SMTP relay."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Captured:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.raw, policy=policy.default)  # type: ignore[return-value]


@dataclass
class CaptureHandler:
    """A relay that keeps what it is given, or refuses with a chosen reply."""

    received: list[Captured] = field(default_factory=list)
    refuse_with: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse_with:
            return self.refuse_with
        with self.lock:
            self.received.append(Captured(envelope.mail_from, list(envelope.rcpt_tos),
                                          envelope.original_content or b""))
        return "250 2.0.0 Queued"

    def to(self, address: str) -> list[EmailMessage]:
        """The mails delivered to one address, parsed."""
        with self.lock:
            return [c.message for c in self.received if address in c.rcpt_tos]


@contextmanager
def capture_relay() -> Iterator[tuple[CaptureHandler, int]]:
    """A real SMTP server on loopback standing in for the outbound relay."""
    handler = CaptureHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()
