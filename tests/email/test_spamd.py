"""The optional SpamAssassin check, against a real spamd (the Debian ``spamd`` package).

Skipped, with the reason, when spamd is not installed on the machine.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from intake.email.parse import parse_email
from intake.email.screen import screen
from intake.email.spamd import ask_spamd
from intake.settings import Settings, override_settings
from tests.support import free_port

SPAMD = shutil.which("spamd") or ("/usr/sbin/spamd" if Path("/usr/sbin/spamd").exists()
                                  else None)
pytestmark = [pytest.mark.slow, pytest.mark.timeout(120),
              pytest.mark.skipif(SPAMD is None, reason="spamd (Debian package) not installed")]

# GTUBE: the standard string every SpamAssassin scores as spam.
GTUBE = (b"From: a@example.org\r\nTo: enquiries@localhost\r\nSubject: offer\r\n"
         b"Message-ID: <gtube@example.org>\r\n\r\n"
         b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n")
EML = Path(__file__).resolve().parents[1] / "fixtures" / "eml"


@pytest.fixture(scope="module")
def spamd_port() -> Iterator[int]:
    port = free_port()
    command = [str(SPAMD), f"--listen=127.0.0.1:{port}", "--allowed-ips=127.0.0.1",
               "--max-children=1", "--syslog=stderr", "-x", "--local"]
    if os.geteuid() == 0:
        command.append("--username=nobody")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("spamd did not start listening within 90 s")
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_spamd_flags_gtube_and_passes_a_complaint(spamd_port: int) -> None:
    spam, score, threshold = ask_spamd(GTUBE, "127.0.0.1", spamd_port)
    assert spam and score >= threshold
    ham = ask_spamd((EML / "complaint_plain.eml").read_bytes(), "127.0.0.1", spamd_port)
    assert ham[0] is False


def test_screen_uses_spamd_when_configured(spamd_port: int, settings: Settings) -> None:
    with override_settings(spamd_host="127.0.0.1", spamd_port=spamd_port) as configured:
        verdict = screen(parse_email(GTUBE), "a@example.org", configured, raw=GTUBE)
    assert verdict is not None and verdict.disposition == "spam"
    assert verdict.reason.startswith("spamd score")

