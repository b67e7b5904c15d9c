"""An optional second opinion from SpamAssassin's ``spamd`` (the Debian ``spamd`` package).

Speaks the SPAMC/1.5 protocol's ``CHECK`` command over TCP. The check fails open: when
spamd is down the mail is treated as unscreened (and a warning logged), because holding
every complaint hostage to an optional filter would lose more than it saves.
"""

from __future__ import annotations

import logging
import re
import socket

from intake.settings import Settings

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10.0
_SPAM_LINE = re.compile(rb"^Spam:\s*(True|False|Yes|No)\s*;\s*(-?[\d.]+)\s*/\s*(-?[\d.]+)",
                        re.I | re.M)


class SpamdError(Exception):
    """spamd did not give a readable verdict."""


def ask_spamd(raw: bytes, host: str, port: int, *, timeout: float = TIMEOUT_SECONDS
              ) -> tuple[bool, float, float]:
    """(is spam, score, threshold) from spamd's CHECK command."""
    request = (b"CHECK SPAMC/1.5\r\nContent-length: " + str(len(raw)).encode()
               + b"\r\n\r\n" + raw)
    with socket.create_connection((host, port), timeout=timeout) as conn:
        conn.sendall(request)
        conn.shutdown(socket.SHUT_WR)
        reply = b"".join(iter(lambda: conn.recv(65536), b""))
    if not reply.startswith(b"SPAMD/"):
        raise SpamdError("not a spamd reply")
    status = reply.split(b"\r\n", 1)[0].split()
    if len(status) < 2 or status[1] != b"0":
        raise SpamdError(f"spamd status {b' '.join(status[1:3]).decode('ascii', 'replace')}")
    match = _SPAM_LINE.search(reply)
    if not match:
        raise SpamdError("no Spam: line in the reply")
    verdict = match.group(1).lower() in (b"true", b"yes")
    return verdict, float(match.group(2)), float(match.group(3))


def check_spam(raw: bytes, settings: Settings) -> str | None:
    """A reason when spamd calls the mail spam; None when it does not or cannot say."""
    if not settings.spamd_host:
        return None
    try:
        spam, score, threshold = ask_spamd(raw, settings.spamd_host, settings.spamd_port)
    except (OSError, SpamdError, ValueError) as exc:
        log.warning("spamd check skipped: %s", type(exc).__name__)
        return None
    return f"spamd score {score:g} >= {threshold:g}" if spam else None
