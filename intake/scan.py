"""Attachment malware scanning with ClamAV's ``clamd``, when it is configured.

Off unless ``clamd_socket`` or ``clamd_host`` is set. Each attachment's bytes are streamed to
clamd with its ``INSTREAM`` command (clamd(8): a 4-byte big-endian length before each chunk,
a zero length to end). The answer decides where the bytes go (intake/cases/attachments.py):

- ``clean``: the normal attachment store;
- ``infected``: the quarantine folder only, and the case is flagged ``infected_attachment``;
- ``unscanned``: clamd refused the stream as too large (``StreamMaxLength``), so nobody can
  say it is safe: quarantined too, and the case is flagged ``unscanned_attachment``.

clamd down or failing while configured is ours, not the sender's: :class:`TransientError`,
so the message is retried later and nothing is stored unscanned. Logs name the message id,
the attachment's hash prefix and the signature; never the file name or its contents.
"""

from __future__ import annotations

import logging
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from intake.cases.audit import SYSTEM, audit
from intake.cases.models import Case, Message
from intake.errors import TransientError
from intake.settings import Settings

log = logging.getLogger(__name__)

CLEAN = "clean"
INFECTED = "infected"
UNSCANNED = "unscanned"
QUARANTINE_STATUSES = frozenset({INFECTED, UNSCANNED})
CASE_FLAGS = {INFECTED: "infected_attachment", UNSCANNED: "unscanned_attachment"}

CHUNK_BYTES = 64 * 1024
_SIZE_LIMIT = "size limit exceeded"


class ClamdError(Exception):
    """clamd could not be reached, or gave an answer that is not a scan result."""


@dataclass(frozen=True)
class ScanResult:
    status: str  # CLEAN, INFECTED or UNSCANNED
    signature: str | None = None  # e.g. "Eicar-Test-Signature" when infected


class ClamdClient:
    """A small clamd client over a local socket or TCP (one connection per command)."""

    def __init__(self, *, socket_path: Path | None = None, host: str | None = None,
                 port: int = 3310, timeout: float = 60.0) -> None:
        if socket_path is None and host is None:
            raise ValueError("clamd needs a socket path or a host")
        self.socket_path, self.host, self.port, self.timeout = socket_path, host, port, timeout

    @property
    def address(self) -> str:
        """Where clamd is expected, for logs and errors."""
        return str(self.socket_path) if self.socket_path else f"{self.host}:{self.port}"

    def _connect(self) -> socket.socket:
        try:
            if self.socket_path is not None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.timeout)
                sock.connect(str(self.socket_path))
                return sock
            assert self.host is not None
            return socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            raise ClamdError(f"cannot connect to clamd at {self.address}: "
                             f"{type(exc).__name__}") from None

    def ping(self) -> bool:
        """True when clamd answers PONG (a health check that scans nothing)."""
        try:
            with self._connect() as sock:
                sock.sendall(b"zPING\0")
                return _read_reply(sock) == "PONG"
        except (ClamdError, OSError):
            return False

    def scan_bytes(self, data: bytes) -> ScanResult:
        """Scan ``data`` with INSTREAM; raise ClamdError when there is no usable answer."""
        with self._connect() as sock:
            try:
                sock.sendall(b"zINSTREAM\0")
                for start in range(0, len(data), CHUNK_BYTES):
                    chunk = data[start:start + CHUNK_BYTES]
                    sock.sendall(struct.pack("!L", len(chunk)) + chunk)
                sock.sendall(struct.pack("!L", 0))
            except OSError:
                pass  # clamd closes early when the stream is over its limit: read why
            try:
                reply = _read_reply(sock)
            except OSError as exc:
                raise ClamdError(f"no answer from clamd at {self.address}: "
                                 f"{type(exc).__name__}") from None
        return parse_reply(reply)


def _read_reply(sock: socket.socket) -> str:
    """One NUL-terminated reply (the ``z`` command prefix asks clamd for NUL endings)."""
    buffer = b""
    while not buffer.endswith(b"\0"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        buffer += chunk
    return buffer.rstrip(b"\0").decode("utf-8", "replace").strip()


def parse_reply(reply: str) -> ScanResult:
    """Read ``stream: OK``, ``stream: <signature> FOUND`` or a size-limit ``ERROR``."""
    if reply.endswith(" ERROR") and _SIZE_LIMIT in reply:
        return ScanResult(UNSCANNED)
    body = reply.split(": ", 1)[1] if ": " in reply else reply
    if body == "OK":
        return ScanResult(CLEAN)
    if body.endswith(" FOUND"):
        return ScanResult(INFECTED, body.removesuffix(" FOUND"))
    raise ClamdError(f"unexpected clamd reply: {reply[:120]!r}")


def scanner_for(settings: Settings) -> ClamdClient | None:
    """The configured clamd, or None when scanning is off."""
    if settings.clamd_socket is None and settings.clamd_host is None:
        return None
    return ClamdClient(socket_path=settings.clamd_socket, host=settings.clamd_host,
                       port=settings.clamd_port, timeout=settings.clamd_timeout_seconds)


def scan_attachment(data: bytes, sha256: str, message_id: int | None,
                    settings: Settings) -> str | None:
    """The attachment's scan status, None when scanning is off.

    Raises TransientError (the message is retried) when clamd is configured but fails.
    """
    client = scanner_for(settings)
    if client is None:
        return None
    try:
        result = client.scan_bytes(data)
    except ClamdError as exc:
        log.error("message %s: attachment scan failed, will retry: %s", message_id, exc)
        raise TransientError(f"clamd unavailable at {client.address}") from None
    if result.status != CLEAN:
        log.warning("message %s: attachment %s %s%s", message_id, sha256[:12], result.status,
                    f" ({result.signature})" if result.signature else "")
    return result.status


def flag_case(session: Session, case: Case, message: Message) -> None:
    """Flag the case for each quarantined attachment of ``message``, with an audit entry."""
    statuses = {a.scan_status for a in message.attachments} & QUARANTINE_STATUSES
    new = sorted(CASE_FLAGS[s] for s in statuses if CASE_FLAGS[s] not in (case.flags or []))
    if not new:
        return
    case.flags = sorted({*(case.flags or []), *new})
    for flag in new:
        audit(session, SYSTEM, flag, case.reference, message_id=message.id)
    log.warning("case %s flagged %s", case.reference, ", ".join(new))
